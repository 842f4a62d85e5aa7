"""Build the docs site into `_docs/`.

With Quarto installed this is plain `nbdev-docs`. Without it (Quarto's installer downloads its binary, so it
can't be installed offline) nbdev still processes the notebooks into `_proc/` (the same step `nbdev-docs`
and `nbdev-proc-nbs` run, minus their Quarto install check) and `smalldocs` renders that `_quarto.yml`
project in pure Python.

smalldocs writes maths as `\\(...\\)` and `\\[...\\]` for KaTeX's auto-render loaded from a CDN, so offline every formula
showed as TeX. Here the maths is rendered at build time instead: a pinned KaTeX (npm `katex`, version KATEX_VERSION below, installed
into `.cache/katex` on first use) turns every formula into HTML, its stylesheet and fonts are copied into
`_docs/site_libs/katex/`, and the CDN tags go. Headings with maths get the rendered maths in the table of contents
too. The pages need no JavaScript and no network to show formulas. The Quarto path keeps Quarto's own maths.
The theme's `@import` of a web font (Google Fonts) goes too: the site reads the same offline, in the theme's
fallback fonts, and fetches nothing from the network.
"""
import html, json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # the notebooks run here (nbdev's processing) import this checkout's aic_gpt
KATEX_VERSION = "0.19.1"
KATEX_CACHE = ROOT / ".cache" / "katex"


def build(force_smalldocs: bool = False) -> Path:
    "Render the site; return the output folder (`doc_path` from pyproject.toml)."
    from nbdev.config import get_config
    cfg = get_config()
    os.chdir(cfg.config_path)
    if shutil.which("quarto") and not force_smalldocs:
        subprocess.run(["nbdev-docs"], check=True)
        return cfg.doc_path
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    nbdev_sidebar.__wrapped__()
    cache = proc_nbs(cfg.nbs_path, n_workers=0)
    from smalldocs.site import build as smalldocs_build
    site = smalldocs_build(str(cache), quiet=True)
    for w in site.warnings: print(f"smalldocs: {w}", file=sys.stderr)
    out = cache / cfg.doc_path.name
    if not out.exists(): raise SystemExit(f"smalldocs wrote no site into {out}")
    shutil.rmtree(cfg.doc_path, ignore_errors=True)
    shutil.move(str(out), str(cfg.doc_path))
    for w in render_maths(cfg.doc_path): print(f"katex: {w}", file=sys.stderr)
    drop_remote_imports(cfg.doc_path)
    add_redirects(cache, cfg.doc_path)
    return cfg.doc_path


def katex_package(cache: Path = KATEX_CACHE) -> Path:
    "The pinned KaTeX's npm package folder, installed into `cache` with npm unless that version is already there."
    pkg = cache / "node_modules" / "katex"
    def version():
        try: return json.loads((pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError): return None
    if version() != KATEX_VERSION:
        npm = shutil.which("npm")
        if not npm or not shutil.which("node"):
            raise SystemExit(f"rendering the docs' maths offline needs Node.js and npm (for katex@{KATEX_VERSION}): "
                             "apt-get install nodejs npm, or see https://nodejs.org")
        cache.mkdir(parents=True, exist_ok=True)
        # --prefer-offline: npm's cached copy first. Without it npm asks the registry, and offline it waits out the
        # registry's timeouts (2 min 21 s on the workbook's machine) before it falls back to the same cache.
        r = subprocess.run([npm, "install", "--prefix", str(cache), "--prefer-offline", "--no-audit", "--no-fund", "--silent",
                            "--save-exact", f"katex@{KATEX_VERSION}"], capture_output=True, text=True)
        if r.returncode != 0 or version() != KATEX_VERSION:
            raise SystemExit(f"npm could not install katex@{KATEX_VERSION} into {cache}:\n{r.stdout}{r.stderr}")
    return pkg


# smalldocs' maths (smalldocs.markdown.math_renderer): the TeX, HTML-escaped, between Pandoc's delimiters, in a span
MATH = re.compile(r'<span class="math (inline|display)">\\[(\[](.*?)\\[)\]]</span>', re.S)
HEADING = re.compile(r'<h([1-6])\b[^>]*\bdata-anchor-id="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
TOC_LINK = re.compile(r'(<a href="#([^"]+)" id="toc-[^"]*"[^>]*>)(.*?)(</a>)', re.S)
CDN_TAG = re.compile(r'<link [^>]*href="(https://[^"]*/katex@[^"/]+/dist)/katex\.min\.css"[^>]*>'
                     r'|<script [^>]*src="https://[^"]*/katex@[^"/]+/dist/[^"]*"[^>]*>\s*</script>')


def toc_with_maths(page: str) -> str:
    "Give table-of-contents entries the heading's own HTML where the heading has maths (smalldocs puts the bare TeX there)."
    heads = {m.group(2): m.group(3) for m in HEADING.finditer(page) if 'class="math ' in m.group(3)}
    if not heads: return page
    def entry(m):
        h = heads.get(html.unescape(m.group(2)))
        if h is None: return m.group(0)
        return m.group(1) + re.sub(r"</?a\b[^>]*>", "", h) + m.group(4)   # no links inside the entry's link
    return TOC_LINK.sub(entry, page)


def render_maths(site: Path, cache: Path = KATEX_CACHE) -> list[str]:
    "Render every formula of the site's pages with KaTeX, in place; copy its CSS and fonts; return what failed."
    pages = {p: toc_with_maths(p.read_text(encoding="utf-8")) for p in sorted(site.rglob("*.html"))}
    formulas = {str(p): [[html.unescape(m.group(2)), m.group(1) == "display"] for m in MATH.finditer(t)]
                for p, t in pages.items()}
    formulas = {k: v for k, v in formulas.items() if v}
    if not formulas: return []
    pkg = katex_package(cache)
    r = subprocess.run(["node", str(Path(__file__).with_name("katex_render.js")), str(pkg)],
                       input=json.dumps(formulas), capture_output=True, text=True, encoding="utf-8")
    if r.returncode != 0: raise SystemExit(f"KaTeX failed:\n{r.stderr}")
    rendered, problems = json.loads(r.stdout), []
    dest = site / "site_libs" / "katex"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(pkg / "dist" / "fonts", dest / "fonts")
    shutil.copy2(pkg / "dist" / "katex.min.css", dest / "katex.min.css")
    for p, text in pages.items():
        out = iter(rendered.get(str(p), []))
        def one(m):
            res = next(out)
            if "html" in res: return f'<span class="math {m.group(1)}">{res["html"]}</span>'
            tex = " ".join(html.unescape(m.group(2)).split())
            problems.append(f"{p.relative_to(site)}: {tex}  ({res['error']})")
            return m.group(0)   # left as TeX: the browser check reports it
        text = MATH.sub(one, text) if str(p) in rendered else text
        css = os.path.relpath(dest / "katex.min.css", p.parent).replace(os.sep, "/")
        text = CDN_TAG.sub(lambda m: f'<link rel="stylesheet" href="{css}">' if m.group(1) else "", text)
        p.write_text(text, encoding="utf-8")
    return problems


REMOTE_IMPORT = re.compile(r"@import\s+url\(\s*[\"']?https?://[^)]*\)\s*;?")


def drop_remote_imports(site: Path):
    "Remove stylesheets' `@import`s of remote CSS (the Bootswatch theme's Google Fonts): the site works offline."
    for css in (site / "site_libs").rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        if REMOTE_IMPORT.search(text): css.write_text(REMOTE_IMPORT.sub("", text), encoding="utf-8")


def add_redirects(proc: Path, site: Path):
    "smalldocs names pages after their notebook; add Quarto's names (nbdev's `Docs:` links use them) as redirects."
    from nbdev.config import nbpath2html   # nbdev's page name for a notebook: 01_tokenizer.ipynb -> tokenizer.html
    for nb in proc.glob("*.ipynb"):
        name, page = nbpath2html(nb).name, f"{nb.stem}.html"
        if name != page and (site / page).exists() and not (site / name).exists():
            (site / name).write_text(f'<!doctype html><html><head><meta charset="utf-8"><title>{nb.stem}</title>'
                                     f'<meta http-equiv="refresh" content="0; url={page}"></head>'
                                     f'<body><a href="{page}">{page}</a></body></html>\n', encoding="utf-8")


if __name__ == "__main__":
    print(f"docs built in {build('--smalldocs' in sys.argv)}")
