"""Build the docs site into `_docs/`.

With Quarto installed this is plain `nbdev-docs`. Without it (Quarto's installer downloads its binary, so it
can't be installed offline) nbdev still processes the notebooks into `_proc/` (the same step `nbdev-docs`
and `nbdev-proc-nbs` run, minus their Quarto install check) and `smalldocs` renders that `_quarto.yml`
project in pure Python.
"""
import os, shutil, subprocess, sys
from pathlib import Path


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
    add_redirects(cache, cfg.doc_path)
    return cfg.doc_path


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
