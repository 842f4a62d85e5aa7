"""The docs site: every notebook renders to a page that headless Chromium opens, with a title, no Python
traceback, no link to a page that does not exist, and no TeX left as source in its text (every formula rendered by
the offline KaTeX, the table of contents too). At a phone's width (390 px) no chapter page scrolls sideways or cuts
content off at the right edge, and nothing is fetched from the network. Every character the pages show has a font.
Skips, saying why, where no Chromium is installed. `pytest -s` prints a table per page: formulas rendered, raw TeX
fragments, figures without a caption or alt text, the page's width at 390 px. `DOCS_SCREENSHOTS=dir` keeps the
screenshots of every page (the top of the page at 1280 x 2000 px and at 390 x 844 px)."""
import bisect, contextlib, functools, http.server, os, re, shutil, subprocess, sys, tempfile, threading, unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin, urlparse, unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Figures must say what they show (a caption or alt text): every chapter's figure cell has a `#| fig-cap:` (quoted YAML),
# and the check fails on any figure (an <img> in a cell's output) with neither.
REQUIRE_FIGURE_TEXT = True
PHONE = dict(width=390, height=844)   # a phone's viewport (CSS px)
STATS: dict[str, dict] = {}           # page -> what the checks counted, printed as a table at the end (pytest -s)
KATEX_ERRORS: dict[str, list] = {}    # page -> the formulas KaTeX could not render (tools/docs.py says so on stderr)
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


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
CODE_TAGS = {"pre", "code", "kbd", "samp", "textarea"}
MATHS = {"katex", "katex-display", "katex-mathml", "MathJax", "MathJax_Display", "mjx-chtml"}   # rendered maths

# TeX left as source in a page's text (outside code and rendered maths): delimiters, `$$`, `$...$` holding TeX, and
# TeX commands. A lone `$5`, `$5-$10` or `a\nb` in prose is not TeX.
TEX_WORDS = ("frac|dfrac|tfrac|sqrt|mathrm|mathbf|mathit|mathcal|mathbb|mathsf|mathtt|boldsymbol|operatorname|text|textrm|"
             "textbf|left|right|big|Big|bigl|bigr|begin|end|cdot|cdots|ldots|dots|times|div|pm|le|leq|ge|geq|ne|neq|"
             "approx|sim|simeq|equiv|propto|infty|partial|nabla|sum|prod|int|lim|log|ln|exp|max|min|argmax|argmin|sin|"
             "cos|tan|to|rightarrow|leftarrow|Rightarrow|mapsto|in|notin|subset|subseteq|cup|cap|forall|exists|hat|bar|"
             "tilde|vec|dot|overline|underline|quad|qquad|top|intercal|odot|otimes|oplus|lfloor|rfloor|lceil|rceil|"
             "langle|rangle|mid|displaystyle|tag|label|alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|"
             "vartheta|iota|kappa|lambda|mu|nu|xi|pi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|"
             "Lambda|Xi|Pi|Sigma|Phi|Psi|Omega|ell|mathop|underbrace|overbrace|binom|mathbin|lVert|rVert|lvert|rvert|"
             "Vert|vert|colon|cdotp|circ|star|ast|bullet|oint|iint|limits|nolimits|sup|inf|det|dim|ker|softmax")
RAW_TEX = re.compile(r"\\\((?:(?!\\\)).){0,400}\\\)|\\\[(?:(?!\\\]).){0,2000}\\\]|\$\$.{0,2000}?\$\$"  # a whole formula
                     r"|(?<![\w$\\])\$(?=\S)[^$\n]{0,200}?(?:\\[A-Za-z]+|[_^]\{?\w)[^$\n]{0,200}?(?<=\S)\$(?![\w$])"
                     rf"|\\[()\[\]]|\$\$|\\(?:{TEX_WORDS})(?![A-Za-z])", re.S)                 # a delimiter or a command


def raw_tex(text: str) -> list[str]:
    "The fragments of `text` (a page's prose) that are TeX source, each with a little context."
    return [text[max(0, m.start() - 25):m.end() + 25].replace("\n", " ") for m in RAW_TEX.finditer(text)]


class Page(HTMLParser):
    "Title, visible text and links of a rendered page; its prose (text outside code and maths), formulas and figures."
    def __init__(self):
        super().__init__()
        self.title, self.text, self.links, self.prose, self.formulas = "", [], [], [], 0
        self.glyphs = []        # the text drawn with the system's fonts: all but the maths (KaTeX brings its own fonts)
        self.images = []        # [alt text, caption of its <figure>, in a cell's output]
        self._stack = []        # (tag, what it switches on: a subset of _in's keys)
        self._in = dict(hidden=0, title=0, code=0, maths=0, output=0, caption=0)
        self._figures = []      # the image records of each open <figure>
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = set((a.get("class") or "").split())
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if "katex" in cls or tag == "mjx-container": self.formulas += 1
        if tag == "img":
            rec = [(a.get("alt") or a.get("aria-label") or "").strip(), "", self._in["output"] > 0]
            self.images.append(rec)
            if self._figures: self._figures[-1].append(rec)
        if tag in VOID: return
        on = {k for k, yes in (("hidden", tag in ("script", "style", "template")), ("title", tag == "title"),
                               ("code", tag in CODE_TAGS or tag == "svg"),
                               ("maths", tag in ("math", "mjx-container") or bool(cls & MATHS)),
                               ("output", any(c.startswith("cell-output") for c in cls)), ("caption", tag == "figcaption")) if yes}
        for k in on: self._in[k] += 1
        if tag == "figure": self._figures.append([])
        self._stack.append((tag, on))
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID: self.handle_endtag(tag)
    def handle_endtag(self, tag):
        if not any(t == tag for t, _ in self._stack): return
        while self._stack:
            t, on = self._stack.pop()
            for k in on: self._in[k] -= 1
            if t == "figure" and self._figures: self._figures.pop()
            if t == tag: break
    def handle_data(self, data):
        if self._in["hidden"]: return
        if self._in["title"]:
            self.title += data; return
        self.text.append(data)
        if self._in["caption"] and self._figures:
            for rec in self._figures[-1]: rec[1] += data
        if not self._in["maths"]: self.glyphs.append(data)
        if not (self._in["code"] or self._in["maths"]): self.prose.append(data)
    def unlabelled_figures(self) -> int:
        "How many images in cells' outputs have neither alt text nor a caption."
        return sum(1 for alt, cap, out in self.images if out and not (alt or cap.strip()))


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
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address): pass   # a browser that closes a page mid-download is fine
    srv = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally: srv.shutdown(); srv.server_close()


def dom(url: str, context=None, shot: Path | None = None) -> str:
    "The page's DOM once loaded, from a Playwright browser `context` (one browser for all pages) or else `chromium --dump-dom`."
    if context is None: return chrome(url, "--dump-dom")
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        if shot: page.screenshot(path=str(shot))
        return page.content()
    finally: page.close()


def page_report(docs: Path, base: str, name: str, context=None, shot: Path | None = None) -> tuple[list[str], dict]:
    "What is wrong with page `name` of the site in `docs` (served at `base`), as Chromium renders it; what it counted."
    if not (docs / name).exists(): return [f"no page {name} in {docs}"], {}
    url = base + name
    p = Page(); p.feed(dom(url, context, shot))
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
    tex = raw_tex("".join(p.prose))
    if tex: problems.append(f"{name} shows {len(tex)} TeX fragments as source, e.g. " + "; ".join(map(repr, tex[:5])))
    bare = p.unlabelled_figures()
    if bare and REQUIRE_FIGURE_TEXT:
        problems.append(f"{name} has {bare} figures with neither a caption nor alt text that says what they show")
    return problems, dict(formulas=p.formulas, raw_tex=len(tex), figures=sum(o for *_, o in p.images), bare=bare)


def page_problems(docs: Path, base: str, name: str, context=None) -> list[str]:
    "What is wrong with page `name` of the site in `docs` (served at `base`), as Chromium renders it."
    return page_report(docs, base, name, context)[0]


# Measured in the page at a phone's width: a sideways scrollbar on the page, content cut off at the right edge (wider
# than the window and in no box of its own that scrolls), KaTeX's stylesheet and fonts.
PHONE_JS = """async () => {
  await document.fonts.ready;
  const de = document.documentElement, W = de.clientWidth, cut = [];
  const scrolls = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.katex-mathml') || (el.closest('svg') && el.tagName.toLowerCase() !== 'svg')) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || r.right <= W + 1 || r.left >= W) continue;
    if (getComputedStyle(el).visibility === 'hidden' || scrolls(el)) continue;
    const p = el.parentElement, pr = p.getBoundingClientRect();
    if (p !== document.body && pr.right > W + 1 && !scrolls(p)) continue;       // name the outermost one only
    cut.push(name(el) + ' (' + Math.round(r.right) + ' px) ' + JSON.stringify((el.textContent || '').trim().slice(0, 40)));
  }
  const mathml = document.querySelector('.katex-mathml');
  return {scrollWidth: de.scrollWidth, clientWidth: W, cut,
          katexCss: !mathml || getComputedStyle(mathml).position === 'absolute',
          katexFonts: [...document.fonts].filter(f => f.family.includes('KaTeX')).map(f => f.family + ':' + f.status)};
}"""


def phone_problems(context, base: str, name: str, shot: Path | None = None) -> tuple[list[str], dict]:
    "What is wrong with page `name` at a phone's width (a Playwright browser context of that size); what it measured."
    page, fetched = context.new_page(), []
    host = urlparse(base).netloc
    def route(r):
        if urlparse(r.request.url).netloc not in ("", host) and not r.request.url.startswith("data:"):
            fetched.append(r.request.url); r.abort()
        else: r.continue_()
    page.route("**/*", route)
    try:
        page.goto(base + name, wait_until="load")
        m = page.evaluate(PHONE_JS)
        if shot: page.screenshot(path=str(shot))
    finally: page.close()
    problems = []
    if m["scrollWidth"] > m["clientWidth"]:
        problems.append(f"{name} is {m['scrollWidth']} px wide in a {m['clientWidth']} px window: the page scrolls sideways")
    if m["cut"]: problems.append(f"{name} cuts content off at the right edge at {m['clientWidth']} px: " + "; ".join(m["cut"][:6]))
    if not m["katexCss"]: problems.append(f"{name}: KaTeX's stylesheet is not applied (site_libs/katex/katex.min.css)")
    bad_fonts = [f for f in m["katexFonts"] if f.endswith(":error")]
    if bad_fonts: problems.append(f"{name}: KaTeX's fonts did not load: {bad_fonts}")
    if fetched: problems.append(f"{name} fetches from the network: {sorted(set(fetched))[:5]}")
    return problems, m


def font_coverage() -> Callable[[str], bool] | None:
    "Whether some installed font has a character (fontconfig, which Chromium uses on Linux); None without fc-list."
    if not shutil.which("fc-list"): return None
    r = subprocess.run(["fc-list", "--format", "%{charset}\\n"], capture_output=True, text=True)
    spans = set()
    for rng in r.stdout.split():
        a, _, b = rng.partition("-")
        with contextlib.suppress(ValueError): spans.add((int(a, 16), int(b or a, 16)))
    starts, ends = [], []                      # merged, sorted ranges
    for a, b in sorted(spans):
        if ends and a <= ends[-1] + 1: ends[-1] = max(ends[-1], b)
        else: starts.append(a); ends.append(b)
    def has(ch):
        i = bisect.bisect_right(starts, ord(ch)) - 1
        return i >= 0 and ord(ch) <= ends[i]
    return has


def build_once() -> str:
    """Build the docs into `_docs/` once per test run; returns the build's stderr. Under `make test` both workers may
    run docs checks: the second waits on a lock while the first builds, then reads the same pages (a build started
    beside another would delete them under it). The run's id (`PYTEST_XDIST_TESTRUNUID`) marks the build as this run's."""
    import fcntl, hashlib
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = Path(tempfile.gettempdir()) / f"aic_gpt-docs-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}"
    with open(f"{base}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                                  # released when the file closes
        stamp = Path(f"{base}.built")
        if run and stamp.exists() and (ROOT / "_docs").is_dir():
            done, _, err = stamp.read_text().partition("\n")
            if done == run: return err
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, f"building the docs failed:\n{r.stdout}\n{r.stderr}"
        stamp.write_text(f"{run}\n{r.stderr}")
        return r.stderr


@pytest.fixture(scope="module")
def site():
    if not chromium():
        pytest.skip("no Chromium installed (`apt-get install chromium`): the docs pages were not checked in a browser")
    for line in build_once().splitlines():
        if line.startswith("katex: "): KATEX_ERRORS.setdefault(line.split(": ")[1], []).append(line[len("katex: "):])
    docs = ROOT / "_docs"
    with serve(docs) as base: yield docs, base
    if STATS:   # shown with pytest -s
        print(f"\n{'page':<26}{'formulas':>9}{'raw TeX':>9}{'figures':>9}{'no text':>9}{'width@390':>11}")
        for page, st in sorted(STATS.items()):
            print(f"{page:<26}" + "".join(f"{st.get(k, '-'):>9}" for k in ("formulas", "raw_tex", "figures", "bare"))
                  + f"{st.get('width', '-'):>11}")


@pytest.fixture(scope="module")
def browser():
    "Playwright's handle on the installed headless Chromium (one browser for every page), or None without Playwright."
    if not chromium(): pytest.skip("no Chromium installed (`apt-get install chromium`): the docs pages were not checked in a browser")
    try: from playwright.sync_api import sync_playwright
    except ImportError: yield None; return
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try: yield b
        finally: b.close()


@pytest.fixture(scope="module")
def desktop(browser):
    "A desktop-sized page context (None without Playwright: the pages are read with `chromium --dump-dom` then)."
    if browser is None: yield None; return
    ctx = browser.new_context(viewport=dict(width=1280, height=2000))
    ctx.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda r: r.abort())   # offline, as readers may be
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def phone(browser):
    "A page context the size of a phone."
    if browser is None: pytest.skip("the phone-width check needs Playwright (`pip install playwright`, in the dev extras)")
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1)
    yield ctx
    ctx.close()


def test_site_builds(site):
    """The site builds with a page for every notebook. `make test` runs this early, on one worker, while the other goes
    on with the chapters; the page checks come last and find the site built (tests/conftest.py's order)."""
    docs, _ = site
    missing = [nb.name for nb in NOTEBOOKS if not (docs / page_name(docs, nb)).exists()]
    assert not missing, f"no page for {missing}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_page(site, desktop, nb):
    docs, base = site
    name = page_name(docs, nb)
    shots = os.environ.get("DOCS_SCREENSHOTS")
    shot = Path(shots).resolve() / f"{nb.stem}.png" if shots else None
    if shot: shot.parent.mkdir(parents=True, exist_ok=True)
    problems, stats = page_report(docs, base, name, desktop, shot)
    STATS.setdefault(name, {}).update(stats)
    problems += [f"KaTeX could not render {e}" for e in KATEX_ERRORS.get(name, [])]
    assert not problems, "\n".join(problems)
    if shot and desktop is None: chrome(base + name, f"--screenshot={shot}", "--window-size=1280,2000")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_phone_width(site, phone, nb, tmp_path):
    "At 390 px the page neither scrolls sideways nor cuts off maths, tables, code or figures; one screenshot per page."
    docs, base = site
    name = page_name(docs, nb)
    shots = os.environ.get("DOCS_SCREENSHOTS")
    shot = (Path(shots).resolve() if shots else tmp_path) / f"{nb.stem}-phone.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    problems, m = phone_problems(phone, base, name, shot)
    STATS.setdefault(name, {})["width"] = m["scrollWidth"]
    assert not problems, "\n".join(problems)


def test_fonts_cover_the_pages(site):
    "Every character the pages show (CJK, emoji, Hebrew, ... in the tokenizer chapter) has an installed font: no empty boxes."
    cover = font_coverage()
    if cover is None: pytest.skip("no fc-list (fontconfig): the fonts were not checked")
    docs, _ = site
    missing = {}
    for nb in NOTEBOOKS:
        p = Page(); p.feed((docs / page_name(docs, nb)).read_text(encoding="utf-8"))
        for ch in set("".join(p.glyphs)):
            if ord(ch) > 0x7e and not cover(ch) and unicodedata.category(ch)[0] not in "CZM" and ch not in "\ufe0f\ufe0e":
                missing.setdefault(ch, set()).add(nb.stem)
    assert not missing, ("no installed font has " + ", ".join(f"{c!r} (U+{ord(c):04X}, {sorted(p)[0]})" for c, p in sorted(missing.items())[:20])
                         + ": install fonts-noto-color-emoji and fonts-wqy-zenhei (or fonts-noto-cjk), as .ci/run does")


def test_checker_catches_bad_pages(desktop, tmp_path):
    "The checks above fail on a missing page, a page without a title, a traceback and a broken link."
    (tmp_path / "ok.html").write_text('<html><head><title>ok</title></head><body><a href="ok.html#x">self</a></body></html>')
    (tmp_path / "untitled.html").write_text("<html><body><p>hi</p></body></html>")
    (tmp_path / "tb.html").write_text("<html><head><title>t</title></head><body><pre>Traceback (most recent call last):\n"
                                      '  File "x.py", line 1\nValueError: boom</pre></body></html>')
    (tmp_path / "link.html").write_text('<html><head><title>l</title></head><body><a href="gone.html">x</a>'
                                        '<a href="https://example.org/">outside</a></body></html>')
    with serve(tmp_path) as base:
        assert page_problems(tmp_path, base, "ok.html", desktop) == []
        assert "no page" in page_problems(tmp_path, base, "missing.html", desktop)[0]
        assert "no <title>" in page_problems(tmp_path, base, "untitled.html", desktop)[0]
        assert "traceback" in page_problems(tmp_path, base, "tb.html", desktop)[0]
        assert page_problems(tmp_path, base, "link.html", desktop) == ["link.html links to pages that do not exist: ['gone.html']"]


def test_raw_tex_detector():
    "TeX left as source is found in prose; prices, escapes and plain text are not TeX."
    for tex in (r"The loss is \(\ln V\)", r"\[x^2\]", "$$x$$", r"so $\frac{a}{b}$ here", "a $x_i$ b", r"is \ln V",
                r"$\mathrm{softmax}(x)$", r"heading \sqrt{d}"):
        assert raw_tex(tex), tex
    for ok in ("costs $5", "$5-$10 and $20", "a\\nb", "C:\\Users", "100% of $3 is $3", "the $PATH variable", "5 $ each"):
        assert not raw_tex(ok), (ok, raw_tex(ok))


def test_checker_catches_raw_maths(desktop, tmp_path):
    "The maths check fails on a page showing TeX (in the text, a table or the table of contents), not on one that renders."
    sys.path.insert(0, str(ROOT / "tools"))
    import docs as docs_tool
    head = '<html><head><title>m</title><link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex@0.16.11/dist/katex.min.css"></head>'
    body = ('<body><nav id="TOC"><a href="#loss" id="toc-loss" class="nav-link">The loss is \\ln V</a></nav>'
            '<h2 class="anchored" data-anchor-id="loss">The loss is <span class="math inline">\\(\\ln V\\)</span></h2>'
            '<p>Price $5, code <code>\\(x\\) $$</code></p><pre>\\frac{a}{b}</pre>'
            '<table><tr><td><span class="math inline">\\(\\sqrt{d_k}\\)</span></td></tr></table>'
            '<p><span class="math display">\\[\\frac{QK^\\top}{\\sqrt{d}}\\]</span></p></body></html>')
    (tmp_path / "raw.html").write_text("<html><head><title>m</title></head>" + body)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "ok.html").write_text(head + body)
    assert docs_tool.render_maths(tmp_path / "r") == []
    ok = (tmp_path / "r" / "ok.html").read_text()
    assert "cdn.jsdelivr" not in ok and 'href="site_libs/katex/katex.min.css"' in ok
    assert (tmp_path / "r" / "site_libs" / "katex" / "fonts" / "KaTeX_Main-Regular.woff2").is_file()
    with serve(tmp_path) as base:
        problems, stats = page_report(tmp_path, base, "raw.html", desktop)
        assert len(problems) == 1 and "TeX fragments" in problems[0] and stats["formulas"] == 0, problems
        assert stats["raw_tex"] == 4, problems   # the TOC's \ln, the heading's, the table's and the display's formulas
        problems, stats = page_report(tmp_path, base, "r/ok.html", desktop)
        assert problems == [] and stats == dict(formulas=4, raw_tex=0, figures=0, bare=0), (problems, stats)


def test_checker_catches_narrow_problems(phone, tmp_path):
    "The phone check fails on a page wider than the window or content cut off, not on a wide table in its own scroll box."
    head = '<html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>n</title></head><body>'
    wide = '<table><tr>' + '<td>column&nbsp;number&nbsp;x</td>' * 12 + '</tr></table>'
    (tmp_path / "wide.html").write_text(head + wide + "</body></html>")
    (tmp_path / "clip.html").write_text(head + f'<div style="overflow-x: clip">{wide}</div></body></html>')
    (tmp_path / "ok.html").write_text(head + f'<div style="overflow-x: auto">{wide}</div><img alt="" src="x.png"></body></html>')
    (tmp_path / "net.html").write_text(head + '<img alt="x" src="https://example.org/x.png"></body></html>')
    with serve(tmp_path) as base:
        assert phone_problems(phone, base, "ok.html")[0] == []
        p = phone_problems(phone, base, "wide.html")[0]
        assert any("scrolls sideways" in x for x in p), p
        p = phone_problems(phone, base, "clip.html")[0]
        assert len(p) == 1 and "cuts content off" in p[0] and "table" in p[0], p
        assert phone_problems(phone, base, "net.html")[0] == ["net.html fetches from the network: ['https://example.org/x.png']"]


def test_figure_text_check():
    "Images in cells' outputs count as labelled with alt text or a figure caption, and as bare without either."
    p = Page()
    p.feed('<div class="cell-output cell-output-display"><img src="a.png"></div>'
           '<div class="cell-output"><img src="b.png" alt="Loss by step"></div>'
           '<div class="cell-output"><figure><img src="c.png"><figcaption>Loss <em>by</em> step</figcaption></figure></div>'
           '<div class="cell-output"><figure><img src="d.png" alt=" "><figcaption> </figcaption></figure></div>'
           '<p><img src="logo.png"></p>')
    assert (len(p.images), p.unlabelled_figures()) == (5, 2)
