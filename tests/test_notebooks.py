"""One pytest case per notebook: nbdev runs its cells in-process (IN_TEST=1), skipping `tst_flags` cells.

`NB_FLAGS="slow"` (or `make test-slow`) also runs the cells flagged `#| slow`.
"""
import os
from pathlib import Path

import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb

ROOT = Path(__file__).resolve().parent.parent
CFG = get_config(ROOT)
NOTEBOOKS = sorted(p for p in CFG.nbs_path.glob("*.ipynb") if not p.name.startswith(("_", ".")))
SKIP = CFG.tst_flags.split() if isinstance(CFG.tst_flags, str) else list(CFG.tst_flags)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    force = os.environ.get("NB_FLAGS", "").split()
    ok, secs = run_nb(nb, skip_flags=SKIP, force_flags=force, basepath=ROOT, cell_timeout=CFG.cell_timeout)
    assert ok, f"{nb.name} failed after {secs:.0f}s: its traceback is printed above"
