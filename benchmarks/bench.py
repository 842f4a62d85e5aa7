"""`make bench`: the expected numbers, measured side by side on this machine, written to reports/bench.md.

Also the docs page nbs/expected_numbers.ipynb (the same report).

1. Training: nanoGPT's CPU recipe (the peer in ../shared/peers/nanogpt, run as its README runs it) against
   `aic-gpt-train` with no options (the default run of `make train`: Muon), and with `--optimizer adamw`, in interleaved rounds
   (the order rotates). Each is timed as the user waits for it: the whole process, start-up included. For ours, the
   time to nanoGPT's validation loss (1.8857) is the process start-up plus the run's elapsed time at the first
   evaluation at or below it (evaluations every 100 steps, as in the default run); for nanoGPT it is its whole run (the
   loss is defined by its 2000th step). Skipped with a message where ../shared/peers/ is missing.
2. Decoding SmolLM2-135M at batch 1 against transformers' `generate` (benchmarks/decode_vs_hf.py), where it exists, at one
   thread and at one thread per core.
3. The optimizer table (benchmarks/optimizers.py, about an hour: run on its own) is included from reports/optimizers.md.

    python benchmarks/bench.py [--rounds 3] [--iters 2000] [--skip-train] [--skip-decode]

`--skip-train` keeps the training section of the last report (saying when it was measured), to remeasure decoding alone.
"""
import argparse, csv, os, platform, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / 'reports' / 'bench.md'   # the docs page (nbs/expected_numbers.ipynb) shows this one
PEER = ROOT.parent / 'shared' / 'peers' / 'nanogpt' / 'run_cpu_recipe.sh'
NANOGPT_VAL = 1.8857


def machine():
    name = next((l.split(':', 1)[1].strip() for l in Path('/proc/cpuinfo').read_text().splitlines() if l.startswith('model name')),
                platform.processor()) if Path('/proc/cpuinfo').exists() else platform.processor()
    import torch
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}"


def run_nanogpt(iters):
    t = time.perf_counter()
    p = subprocess.run(['bash', str(PEER), sys.executable, str(iters)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode: raise RuntimeError(f"nanoGPT's recipe failed:\n{p.stderr[-2000:]}")
    vals = [(int(s), float(v)) for s, v in re.findall(r"step (\d+): train loss [\d.]+, val loss ([\d.]+)", p.stdout)]
    ms = [float(m) for m in re.findall(r"iter \d+: loss [\d.]+, time ([\d.]+)ms", p.stdout)][5:]
    return dict(wall=wall, val=vals[-1][1], to_target=wall, ms_step=statistics.median(ms) if ms else float('nan'))


def run_ours(iters, *extra):
    out = Path(tempfile.mkdtemp(prefix='aic_bench_'))
    exe = Path(sys.executable).with_name('aic-gpt-train')
    t = time.perf_counter()
    p = subprocess.run([str(exe), '--max-iters', str(iters), '--out-dir', str(out), *extra, '--set', 'progress=False,tensorboard=False'],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode: raise RuntimeError(f"aic-gpt-train failed:\n{p.stderr[-2000:]}")
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    evals = [r for r in rows if r['val_loss']]
    run_s = float(rows[-1]['elapsed_s'])
    hit = next((r for r in evals if float(r['val_loss']) <= NANOGPT_VAL), None)
    steps = [(int(a['step']), float(a['elapsed_s'])) for a in rows]
    ms = 1000 * (steps[-1][1] - steps[0][1]) / max(1, steps[-1][0] - steps[0][0])
    return dict(wall=wall, val=float(evals[-1]['val_loss']), ms_step=ms,
                to_target=(wall - run_s) + float(hit['elapsed_s']) if hit else None, step_hit=int(hit['step']) if hit else None)


def training(rounds, iters):
    if not PEER.exists():
        return f"nanoGPT's recipe was not run: {PEER} is missing (the peers live beside the repository on the project's machines).\n"
    cases = {'nanoGPT (peer)': lambda: run_nanogpt(iters), 'aic-gpt-train (default)': lambda: run_ours(iters),
             'aic-gpt-train --optimizer adamw': lambda: run_ours(iters, '--optimizer', 'adamw')}
    res = {k: [] for k in cases}
    names = list(cases)
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:            # rotate the order each round
            res[k].append(cases[k]()); print(k, res[k][-1], flush=True)
    ref = statistics.median(x['to_target'] for x in res['nanoGPT (peer)'])
    lines = [f"{rounds} interleaved rounds of {iters} steps; medians (all rounds in brackets).", '',
             '| run | val loss | ms/step | whole run (s) | time to val 1.8857 (s) | speed-up to nanoGPT\'s loss |', '|---|---|---|---|---|---|']
    for k, xs in res.items():
        med = lambda f: statistics.median(f(x) for x in xs)
        hits = [x['to_target'] for x in xs if x['to_target']]
        tt = statistics.median(hits) if len(hits) == len(xs) else None
        all_ = lambda f, fmt: ', '.join(format(f(x), fmt) for x in xs)
        lines.append(f"| {k} | {med(lambda x: x['val']):.4f} ({all_(lambda x: x['val'], '.4f')}) | {med(lambda x: x['ms_step']):.1f} | "
                     f"{med(lambda x: x['wall']):.0f} ({all_(lambda x: x['wall'], '.0f')}) | "
                     + (f"{tt:.0f} | {ref / tt:.2f}x |" if tt else "not reached in every round | - |"))
    return '\n'.join(lines) + '\n'


DECODE_ROUNDS = 5   # with 3, one path of eight moved by 15% between runs (float32 at one thread: 0.92x, then 1.08x)

def decoding():
    "decode_vs_hf.py at one thread and at one thread per core: at batch 1 the second thread speeds the products, not the rest."
    script = ROOT / 'benchmarks' / 'decode_vs_hf.py'
    if not script.exists(): return "benchmarks/decode_vs_hf.py is missing.\n"
    out = [f"Greedy, 64 new tokens after a one-line chat prompt, {DECODE_ROUNDS} interleaved rounds, medians. `x_vs_hf`: against "
           "`transformers`' float32 `generate`; `x_same_dtype`: against `transformers` in the path's own dtype (float32, "
           "bfloat16). bfloat16-fast is the bfloat16 model with each product computed as W x (chapter 08a); int4-fast and "
           "int8 are held to bits per byte within 0.5% of float32 there.\n"]
    for threads in sorted({1, os.cpu_count() or 1}):
        p = subprocess.run([sys.executable, str(script), '--threads', str(threads), '--rounds', str(DECODE_ROUNDS)],
                           capture_output=True, text=True)
        out.append(f"{threads} thread{'s' if threads > 1 else ''}:\n\n"
                   + (f"```\n{p.stdout.strip()}\n```" if p.returncode == 0 else f"decode_vs_hf.py failed:\n```\n{p.stderr[-1500:]}\n```") + '\n')
    return '\n'.join(out)


KEPT = r"\(kept from the report of (\d{4}-\d\d-\d\d \d\d:\d\d UTC|an earlier run): this run had --skip-train\)"

def kept_training(report):
    """With --skip-train: the training section of the existing report, saying when it was measured (the first report
    that measured it, through any number of --skip-train runs), or a note that it was skipped."""
    old = report.read_text() if report.exists() else ''
    body, when = re.search(r"## Training: [^\n]*\n\n(.*?)\n(?=## )", old, re.S), re.search(r"make bench` on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", old)
    if not body or 'skipped: --skip-train' in body.group(1): return "(skipped: --skip-train)\n"
    kept = re.findall(KEPT, body.group(1))
    measured = kept[0] if kept else when.group(1) if when else 'an earlier run'
    return re.sub(r"\s*" + KEPT, '', body.group(1)).rstrip() + f"\n\n(kept from the report of {measured}: this run had --skip-train)\n"


def write_page(report, nb=ROOT / 'nbs' / 'expected_numbers.ipynb'):
    "The docs page: the report (without its title) into the notebook's cell `benchreport`."
    import nbformat
    page = nbformat.read(nb, as_version=4)
    cell = next(c for c in page.cells if c.get('id') == 'benchreport')
    cell.source = report.split('\n', 1)[1].strip()
    nbformat.write(page, nb)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=3); ap.add_argument('--iters', type=int, default=2000)
    ap.add_argument('--skip-train', action='store_true'); ap.add_argument('--skip-decode', action='store_true')
    ap.add_argument('--out', default=str(REPORT), help='where the report goes (the docs page shows it only from the default place)')
    a = ap.parse_args()
    started = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    parts = [f"# Expected numbers\n\nMeasured by `make bench` on {started}: {machine()}. Ratios are against a peer measured in the same "
             "run on the same machine; absolute times move with the machine and with whatever else runs on it, so read the "
             "ratios. Bands: a run is in line when its loss is within 0.02 of the figure here and its ratio within 15%.\n"]
    parts.append("## Training: the default run against nanoGPT's CPU recipe\n\n"
                 + (kept_training(Path(a.out)) if a.skip_train else training(a.rounds, a.iters)))
    parts.append("## Decoding SmolLM2-135M-Instruct at batch 1\n\n" + ("(skipped: --skip-decode)\n" if a.skip_decode else decoding()))
    opt = ROOT / 'reports' / 'optimizers.md'
    parts.append("## Optimizers on the default recipe\n\n" + (opt.read_text() if opt.exists() else
                 "Not measured yet: `python benchmarks/optimizers.py` (about an hour on 2 cores).\n"))
    parts.append("## On a GPU\n\n| figure | target | measured |\n|---|---|---|\n"
                 "| baby GPT (6x6x384, context 256) to val 1.47 on one H100 | <= 60 s (nanoGPT: about 3 min on an A100) | not yet measured |\n"
                 "| `papermill nbs/06_train.ipynb out.ipynb -p model tinyllama` | runs | not yet measured |\n\n"
                 "On a machine with a GPU, `tools/gpu_check.sh run` measures both (its header says how to bring the packages).\n")
    Path(a.out).parent.mkdir(exist_ok=True)
    Path(a.out).write_text('\n'.join(parts))
    if Path(a.out).resolve() == REPORT.resolve(): write_page('\n'.join(parts))
    else: print(f"(nbs/expected_numbers.ipynb is left as it was: it shows {REPORT.relative_to(ROOT)}, and this report went to {a.out})")
    print(Path(a.out).read_text())
