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
    return cfg.doc_path


if __name__ == "__main__":
    print(f"docs built in {build('--smalldocs' in sys.argv)}")
