"""The docs site: every notebook renders to a page that headless Chromium opens, with a title, no Python
traceback, and no link to a page that does not exist. Skips, saying why, where no Chromium is installed."""
import functools, http.server, os, re, shutil, subprocess, sys, tempfile, threading
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
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


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
    "The page of notebook `nb`: `01_tokenizer.html` (smalldocs) or nbdev's `output-file`, `tokenizer.html` (Quarto)."
    from docs import output_file
    proc = ROOT / "_proc" / nb.name
    names = [f"{nb.stem}.html"] + ([output_file(proc)] if proc.exists() else [])
    return next((n for n in names if (docs / n).exists() and "http-equiv=\"refresh\"" not in (docs / n).read_text()), names[-1])


@pytest.fixture(scope="module")
def site():
    if not chromium():
        pytest.skip("no Chromium installed (`apt-get install chromium`): the docs pages were not checked in a browser")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"building the docs failed:\n{r.stdout}\n{r.stderr}"
    docs = ROOT / "_docs"
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(docs))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield docs, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_page(site, nb):
    docs, base = site
    name = page_name(docs, nb)
    assert (docs / name).exists(), f"no page {name} for {nb.name} in {docs}"
    url = base + name
    p = Page(); p.feed(chrome(url, "--dump-dom"))
    assert p.title.strip(), f"{name} has no <title>"
    text = "".join(p.text)
    assert not TRACEBACK.search(text), f"{name} shows a Python traceback: {TRACEBACK.search(text).group(0)!r}"
    broken = []
    for href in p.links:
        target = urlparse(urljoin(url, href))
        if target.netloc != urlparse(base).netloc or target.scheme not in ("http", "https"): continue
        path = unquote(target.path).lstrip("/")
        f = docs / path
        if f.is_dir(): f = f / "index.html"
        if not f.exists(): broken.append(href)
    assert not broken, f"{name} links to pages that do not exist: {sorted(set(broken))}"
    shots = os.environ.get("DOCS_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        chrome(url, f"--screenshot={Path(shots).resolve() / (nb.stem + '.png')}", "--window-size=1280,2000")
