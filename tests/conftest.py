import os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

# Under pytest-xdist (`-n 2`, what `make test` runs) two test processes share the machine's cores. Each gets its
# share of threads: OpenMP code oversubscribed (two processes x two threads on two cores) runs several times slower,
# so a chapter's `torch.set_num_threads(2)` is capped to the share here. Nothing changes when tests run alone.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch
    share = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ["OMP_NUM_THREADS"] = str(share)          # for the processes the tests start (CLIs, torchrun, kernels)
    _set_num_threads = torch.set_num_threads
    torch.set_num_threads = lambda n: _set_num_threads(min(int(n), share))
    torch.set_num_threads(share)
