import os, sys
import pytest
import yaml
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

# Under pytest-xdist (`-n 3`, what `make test` runs) several test processes share the machine's cores. Each gets its
# share of threads, at least one: OpenMP code oversubscribed (two processes x two threads on two cores) runs several
# times slower, so a chapter's `torch.set_num_threads(2)` is capped to the share here. Nothing changes when tests run
# alone.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch
    share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ["OMP_NUM_THREADS"] = str(share)          # for the processes the tests start (CLIs, torchrun, kernels)
    _set_num_threads = torch.set_num_threads
    torch.set_num_threads = lambda n: _set_num_threads(min(int(n), share))
    torch.set_num_threads(share)


# The longest tests first. `make test` runs `--dist loadgroup --no-loadscope-reorder`: no test here is in a group, so
# xdist hands the tests out one at a time in this order, each worker holding two or three ahead, so the long chapters
# start early and the short tests fill the end (in file order a two-minute chapter could start last and run alone on
# one core while the other idles: 549 s against 445 s). The docs site is built by one test early on (one worker builds
# while the others run chapters); the page checks, unlisted, come last and find it built (two workers reaching them
# first meant one waited out the other's build: 29 s). Seconds from `make test --durations` on 2 cores of the slower
# machine (an AVX2 EPYC; the Xeon takes about half): a rough guide, no more (a test not listed counts 0 and keeps its
# place).
LONGEST = {"tests/test_lab.py": 110, "tests/test_notebooks.py::test_notebook[11_inference_demo]": 165,
           "tests/test_notebooks.py::test_notebook[08_serving_latency]": 130,
           "tests/test_notebooks.py::test_notebook[07_long_context]": 120, "tests/test_docs.py::test_site_builds": 30,
           "tests/test_notebooks.py::test_notebook[06_train]": 110, "tests/test_notebooks.py::test_notebook[10_lora_finetune]": 95,
           "tests/test_notebooks.py::test_notebook[08a_quantization]": 85,
           "tests/test_train.py::test_sigkill_at_random_moments_then_resume_is_exact": 75,
           "tests/test_notebooks.py::test_notebook[05b_checkpoints]": 70,
           "tests/test_notebooks.py::test_notebook[06a_command_line]": 70, "tests/test_notebooks.py::test_notebook[05_gpt]": 55,
           "tests/test_notebooks.py::test_notebook[01_tokenizer]": 45, "tests/test_notebooks.py::test_notebook[12_server]": 38,
           "tests/test_train.py::test_command_lines": 38, "tests/test_notebooks.py::test_notebook[02_dataloader]": 24,
           "tests/test_notebooks.py::test_notebook[01_bpe]": 10}
WHOLE = ("tests/test_lab.py",)     # ranked as one: its fixture (a JupyterLab server) serves the whole module


def pytest_collection_modifyitems(config, items):
    key = lambda item: LONGEST.get(item.nodeid.split("::")[0] if item.nodeid.startswith(WHOLE) else item.nodeid, 0)
    items.sort(key=key, reverse=True)          # stable: the rest keep their order


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """A folder of the module's own holding the tiny model of the training tests (tiny.yaml: 2 layers x 2 heads x 32) and
    its corpus (small.txt: the first 100k characters of Tiny Shakespeare); with the TrainConfig fields that name them."""
    d = tmp_path_factory.mktemp("tiny")
    (d / "tiny.yaml").write_text(yaml.safe_dump(dict(preset="baby_gpt_cpu", n_layer=2, n_head=2, n_embd=32)))
    (d / "small.txt").write_text((ROOT / "data" / "tinyshakespeare.txt").read_text()[:100_000])
    return d, dict(model=str(d / "tiny.yaml"), data=str(d / "small.txt"))
