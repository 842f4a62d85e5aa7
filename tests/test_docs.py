"""The docs site: every notebook renders to a page that headless Chromium opens, with a title, no Python
traceback, and no link to a page that does not exist. Skips, saying why, where no Chromium is installed."""
import contextlib, functools, http.server, os, re, shutil, subprocess, sys, tempfile, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse, unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|-{20,}\s*\n?\s*\w+(Error|Exception)\s+Traceback")


def chromium():
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def chrome(url, *args, timeout=90):
    "Run headless Chromium on `url` with a throwaway profile; return its stdout."
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([chromium(), *CHROME_FLAGS, f"--user-data-dir={prof}", *args, url],
                           capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"chromium failed on {url}: {r.stderr[-2000:]}"
    return r.stdout


class Page(HTMLParser):
    "Title, visible text and links of a rendered page."
    def __init__(self):
        super().__init__()
        self.title, self.text, self.links, self._in, self._skip = "", [], [], None, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title": self._in = "title"
        if tag in ("script", "style"): self._skip += 1
        if tag == "a" and a.get("href"): self.links.append(a["href"])
    def handle_endtag(self, tag):
        if tag == "title": self._in = None
        if tag in ("script", "style"): self._skip = max(0, self._skip - 1)
    def handle_data(self, data):
        if self._in == "title": self.title += data
        elif not self._skip: self.text.append(data)


def page_name(docs: Path, nb: Path) -> str:
    "The page of notebook `nb`: `01_tokenizer.html` (smalldocs) or nbdev's name for it, `tokenizer.html` (Quarto)."
    from nbdev.config import nbpath2html
    for n in (f"{nb.stem}.html", nbpath2html(nb).name):
        if (docs / n).exists() and 'http-equiv="refresh"' not in (docs / n).read_text(): return n
    return f"{nb.stem}.html"


@contextlib.contextmanager
def serve(folder: Path):
    "Serve `folder` on a free port of 127.0.0.1; yield its base URL."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally: srv.shutdown(); srv.server_close()


def page_problems(docs: Path, base: str, name: str) -> list[str]:
    "What is wrong with page `name` of the site in `docs` (served at `base`), as Chromium renders it."
    if not (docs / name).exists(): return [f"no page {name} in {docs}"]
    url = base + name
    p = Page(); p.feed(chrome(url, "--dump-dom"))
    problems = [] if p.title.strip() else [f"{name} has no <title>"]
    tb = TRACEBACK.search("".join(p.text))
    if tb: problems.append(f"{name} shows a Python traceback: {tb.group(0)!r}")
    broken = set()
    for href in p.links:
        target = urlparse(urljoin(url, href))
        if target.netloc != urlparse(base).netloc or target.scheme not in ("http", "https"): continue
        f = docs / unquote(target.path).lstrip("/")
        if f.is_dir(): f = f / "index.html"
        if not f.exists(): broken.add(href)
    if broken: problems.append(f"{name} links to pages that do not exist: {sorted(broken)}")
    return problems


@pytest.fixture(scope="module")
def site():
    if not chromium():
        pytest.skip("no Chromium installed (`apt-get install chromium`): the docs pages were not checked in a browser")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"building the docs failed:\n{r.stdout}\n{r.stderr}"
    docs = ROOT / "_docs"
    with serve(docs) as base: yield docs, base


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_page(site, nb):
    docs, base = site
    name = page_name(docs, nb)
    problems = page_problems(docs, base, name)
    assert not problems, "\n".join(problems)
    shots = os.environ.get("DOCS_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        chrome(base + name, f"--screenshot={Path(shots).resolve() / (nb.stem + '.png')}", "--window-size=1280,2000")


def test_checker_catches_bad_pages(tmp_path):
    "The checks above fail on a missing page, a page without a title, a traceback and a broken link."
    if not chromium(): pytest.skip("no Chromium installed (`apt-get install chromium`)")
    (tmp_path / "ok.html").write_text('<html><head><title>ok</title></head><body><a href="ok.html#x">self</a></body></html>')
    (tmp_path / "untitled.html").write_text("<html><body><p>hi</p></body></html>")
    (tmp_path / "tb.html").write_text("<html><head><title>t</title></head><body><pre>Traceback (most recent call last):\n"
                                      '  File "x.py", line 1\nValueError: boom</pre></body></html>')
    (tmp_path / "link.html").write_text('<html><head><title>l</title></head><body><a href="gone.html">x</a>'
                                        '<a href="https://example.org/">outside</a></body></html>')
    with serve(tmp_path) as base:
        assert page_problems(tmp_path, base, "ok.html") == []
        assert "no page" in page_problems(tmp_path, base, "missing.html")[0]
        assert "no <title>" in page_problems(tmp_path, base, "untitled.html")[0]
        assert "traceback" in page_problems(tmp_path, base, "tb.html")[0]
        assert page_problems(tmp_path, base, "link.html") == ["link.html links to pages that do not exist: ['gone.html']"]
