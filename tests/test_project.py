"""What cannot live in a notebook: the package is what the notebooks export, the notebooks are clean, the
README follows the landing page, every chapter opens in Colab, the shipped data is intact."""
import filecmp, hashlib, json, re, shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]


def _tree(d: Path):
    return {p.relative_to(d): p for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    "A copy of the project's sources to run nbdev's commands on, so the checkout itself is never changed."
    d = tmp_path_factory.mktemp("proj")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists(): shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / "nbs", d / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_proc", ".quarto"))
    shutil.copytree(ROOT / "aic_gpt", d / "aic_gpt", ignore=shutil.ignore_patterns("__pycache__"))
    return d


def _run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout}\n{r.stderr}"


def test_package_is_exported_notebooks(scratch):
    "`aic_gpt/` must be exactly what `nbdev-export` makes of the notebooks (never edit it by hand)."
    _run([BIN / "nbdev-export"], scratch)
    before, after = _tree(ROOT / "aic_gpt"), _tree(scratch / "aic_gpt")
    assert sorted(map(str, after)) == sorted(map(str, before)), "nbdev-export adds or removes files in aic_gpt/: run `make export`"
    differ = [str(k) for k in before if not filecmp.cmp(before[k], after[k], shallow=False)]
    assert not differ, f"aic_gpt/ differs from the notebooks' export in {differ}: run `make export`"
    assert filecmp.cmp(ROOT / "pyproject.toml", scratch / "pyproject.toml", shallow=False), "nbdev-export rewrote pyproject.toml"


def test_notebooks_are_clean(scratch):
    "`nbdev-clean` must change nothing (cell tags such as papermill's `parameters` survive it)."
    _run([BIN / "nbdev-clean", "--fname", "nbs"], scratch)
    dirty = [p.name for p in NOTEBOOKS if (scratch / "nbs" / p.name).read_bytes() != p.read_bytes()]
    assert not dirty, f"nbdev-clean changes {dirty}: run `make clean-nbs`"


def test_clean_keeps_cell_tags(tmp_path):
    "The `parameters` tag papermill needs must survive `nbdev-clean` (pyproject's allowed_cell_metadata_keys)."
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    cell = {"cell_type": "code", "id": "x", "metadata": {"tags": ["parameters"], "scrolled": True},
            "source": "a = 1", "outputs": [], "execution_count": 3}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    clean_nb(nb, allowed_cell_metadata_keys=get_config(ROOT).allowed_cell_metadata_keys)
    assert nb["cells"][0]["metadata"] == {"tags": ["parameters"]}


def test_readme_follows_index():
    from readme import nb_to_markdown
    assert (ROOT / "README.md").read_text(encoding="utf-8") == nb_to_markdown(ROOT / "nbs" / "index.ipynb"), \
        "README.md is out of step with nbs/index.ipynb: run `make readme`"


def test_readme_links_resolve():
    "Every relative link of README.md names a file of the repository (GitHub shows the README at the root, not in nbs/)."
    links = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    local = [l.split("#")[0] for l in links if not re.match(r"[a-z]+:|#", l)]
    assert len(local) > 20, local                                          # the chapter table's links at least
    broken = [l for l in local if not (ROOT / l).exists()]
    assert not broken, f"README.md links to files that do not exist: {broken}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_in_colab(nb):
    "Kernelspec python3, a Colab badge pointing at this notebook, and a first code cell that installs the package."
    d = json.loads(nb.read_text(encoding="utf-8"))
    assert d["metadata"].get("kernelspec", {}).get("name") == "python3", f"{nb.name}: kernelspec must be python3"
    md = "".join("".join(c["source"]) for c in d["cells"] if c["cell_type"] == "markdown")
    assert f"colab.research.google.com/github/aic-gpt/aic_gpt/blob/main/nbs/{nb.name}" in md, f"{nb.name}: no Colab badge for this notebook"
    first = "".join(next(c for c in d["cells"] if c["cell_type"] == "code")["source"])
    assert "import aic_gpt" in first and "pip" in first and "install" in first, f"{nb.name}: first code cell must install the package when missing"


def test_every_chapter_is_in_the_sidebar():
    side = (ROOT / "nbs" / "sidebar.yml").read_text()
    missing = [p.name for p in NOTEBOOKS if p.name not in side]
    assert not missing, f"nbs/sidebar.yml does not list {missing}"


def test_shipped_corpus_is_intact():
    p = ROOT / "data" / "tinyshakespeare.txt"
    assert hashlib.sha256(p.read_bytes()).hexdigest() == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert "licen" in (ROOT / "data" / "README.md").read_text().lower()


@pytest.mark.parametrize("cfg", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_run_configs_load(cfg):
    "Every run config in configs/ is a valid TrainConfig whose model config builds."
    from aic_gpt.train import TrainConfig, model_config
    import torch
    c = TrainConfig.from_yaml(cfg)
    assert c.out_dir.startswith("out/"), f"{cfg.name}: runs write under out/ (git-ignored), got {c.out_dir}"
    m = model_config(c, 65, torch.device("cpu"))   # 'full' keeps the preset's shape; 'auto' on a CPU shrinks a big one
    assert m.block_size == c.block_size and m.vocab_size == 65


def test_make_train_runs_chapter_06():
    "The README's main command runs the training chapter through papermill, whose `parameters` cell it needs."
    mk = (ROOT / "Makefile").read_text()
    assert "papermill nbs/06_train.ipynb" in mk
    d = json.loads((ROOT / "nbs" / "06_train.ipynb").read_text(encoding="utf-8"))
    params = [c for c in d["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "chapter 06 needs exactly one cell tagged `parameters`"
    src = "".join(params[0]["source"])
    for name in ("model", "data", "tokenizer", "max_iters", "batch_size", "block_size", "learning_rate", "eval_interval",
                 "device", "precision", "compile", "seed", "out_dir", "resume"):
        assert f"{name} =" in src, f"the parameters cell does not set {name}"


def test_gpu_check_script():
    "tools/gpu_check.sh (the GPU figures, for a session lent a GPU) parses, and without a verb says how to use it."
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "tools/gpu_check.sh run [STEP ...]" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["bash", "-n", str(ROOT / "tools" / "gpu_check.sh")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
