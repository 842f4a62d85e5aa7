"""The optimizer table: AdamW, Lion, Muon and Sophia on the default recipe (chapter 06's `train` with its defaults:
nanoGPT's CPU recipe on Tiny Shakespeare characters), each at a few learning rates.

For every run: the final validation loss, the first evaluated step at which the validation loss reaches nanoGPT's
published figure for its CPU recipe (1.8857 on these machines) and the wall time to that step (the run's own elapsed
time, evaluations included), and the time per step. Evaluations every 100 steps (--eval) on 50 fixed batches per split.
Runs are sequential, each with a fixed thread count; the table goes to reports/optimizers.md (and .json).

    python benchmarks/optimizers.py [--iters 2000 --threads 1 --only muon,adamw]
"""
import argparse, csv, json, re, time
from pathlib import Path

from aic_gpt.train import train

ROOT = Path(__file__).resolve().parent.parent
NANOGPT_VAL = 1.8857
# (name, optimizer, overrides): learning rates around each optimizer's usual ratio to AdamW's
RUNS = [('AdamW lr 1e-3 (nanoGPT)', 'adamw', dict(learning_rate=1e-3, min_lr=1e-4)),
        ('AdamW lr 2e-3', 'adamw', dict(learning_rate=2e-3, min_lr=2e-4)),
        ('Lion lr 6.7e-4, wd 0.3', 'lion', dict(learning_rate=2e-3 / 3, min_lr=2e-4 / 3, weight_decay=0.3)),
        ('Lion lr 2e-4, wd 1.0', 'lion', dict(learning_rate=2e-4, min_lr=2e-5, weight_decay=1.0)),
        ('Muon 0.02 + AdamW 2e-3 (default)', 'muon', dict(muon_lr=0.02, learning_rate=2e-3, min_lr=2e-4)),
        ('Muon 0.05 + AdamW 2e-3', 'muon', dict(muon_lr=0.05, learning_rate=2e-3, min_lr=2e-4)),
        ('Sophia lr 5e-4', 'sophia', dict(learning_rate=5e-4, min_lr=5e-5)),
        ('Sophia lr 1e-3', 'sophia', dict(learning_rate=1e-3, min_lr=1e-4))]
QUICK = ['AdamW lr 2e-3', 'Lion lr 6.7e-4, wd 0.3', 'Muon 0.02 + AdamW 2e-3 (default)', 'Muon 0.05 + AdamW 2e-3', 'Sophia lr 5e-4']


def summary(name, opt, kw, out, wall=None):
    "The figures of a finished run in `out` (its metrics.csv and train.log)."
    rows = list(csv.DictReader(open(out / 'metrics.csv')))
    evals = [row for row in rows if row['val_loss']]
    hit = next((row for row in evals if float(row['val_loss']) <= NANOGPT_VAL), None)
    last = rows[-1]
    return dict(name=name, optimizer=opt, **kw, val=float(evals[-1]['val_loss']), steps=int(last['step']),
                wall_s=wall or float(last['elapsed_s']), ms_per_step=1000 * float(last['elapsed_s']) / int(last['step']),
                step_to_nanogpt=int(hit['step']) if hit else None, s_to_nanogpt=float(hit['elapsed_s']) if hit else None)


def one(name, opt, kw, iters, threads, out, a_eval=100, reuse=False):
    done = out / 'metrics.csv'
    if reuse and done.exists() and list(csv.DictReader(open(done)))[-1]['step'] == str(iters):
        return summary(name, opt, kw, out)
    t0 = time.perf_counter()
    train(optimizer=opt, max_iters=iters, eval_interval=a_eval, eval_iters=50, out_dir=str(out), overwrite=True, progress=False,
          sample_tokens=0, num_threads=threads, tensorboard=False, **kw)
    return summary(name, opt, kw, out, time.perf_counter() - t0)


def speeds(res, rounds=5, steps=30, threads=1):
    "ms per training step of each run's optimizer on the default model, measured interleaved (medians of `rounds`)."
    import statistics, numpy as np, torch
    import torch.nn.functional as F
    from aic_gpt.core import read_text
    from aic_gpt.data import get_batch
    from aic_gpt.model import GPT, GPTConfig
    from aic_gpt.optim import make_optimizer, Sophia
    from aic_gpt.train import TrainConfig
    torch.set_num_threads(threads)
    ids = np.frombuffer(read_text('tinyshakespeare.txt').encode()[:200_000], dtype=np.uint8).astype(np.int64) % 65
    rng, runs = np.random.default_rng(0), {}
    for r in res:
        torch.manual_seed(0)
        m = GPT(GPTConfig.from_preset('baby_gpt_cpu'))
        kw = {k: r[k] for k in ('learning_rate', 'min_lr', 'weight_decay', 'muon_lr') if k in r}
        runs[r['name']] = (m, make_optimizer(m, TrainConfig(optimizer=r['optimizer'], **kw), torch.device('cpu')), [])
    def step(m, opt, i):
        x, y = (torch.as_tensor(t) for t in get_batch(ids, 12, 64, rng))
        loss = F.cross_entropy(m(x).view(-1, 65), y.view(-1)); loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); opt.zero_grad(set_to_none=True)
        if isinstance(opt, Sophia) and i % opt.k == 0: opt.estimate_hessian(m, x)
    for m, opt, _ in runs.values(): [step(m, opt, i) for i in range(10)]          # warm-up
    for k in range(rounds):
        for m, opt, ts in runs.values():
            t = time.perf_counter(); [step(m, opt, i) for i in range(steps)]; ts.append(1000 * (time.perf_counter() - t) / steps)
    for r in res: r['ms_step_quiet'] = statistics.median(runs[r['name']][2])
    return res


def table(res):
    base = next((r for r in res if r['name'] == 'AdamW lr 2e-3'), None)
    lines = ['| run | final val loss | steps to val <= 1.8857 | ms per step (interleaved) | time to 1.8857 (s) | vs AdamW |',
             '|---|---|---|---|---|---|']
    for r in res:
        ms, hit = r.get('ms_step_quiet'), r['step_to_nanogpt']
        t = hit * ms / 1000 if (hit and ms) else None
        tb = base['step_to_nanogpt'] * base['ms_step_quiet'] / 1000 if base and base.get('ms_step_quiet') else None
        lines.append(f"| {r['name']} | {r['val']:.4f} | {hit or 'not reached'} | " + (f"{ms:.1f}" if ms else '-') + ' | '
                     + (f"{t:.0f}" if t else '-') + ' | ' + (f"{tb / t:.2f}x" if (t and tb) else '-') + ' |')
    return '\n'.join(lines)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--iters', type=int, default=2000)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--eval', type=int, default=100, help='steps between evaluations')
    ap.add_argument('--reuse', action='store_true', help='take finished runs from their folders instead of training again')
    ap.add_argument('--rounds', type=int, default=5, help='interleaved rounds of the per-step timing')
    ap.add_argument('--only', default='', help='comma-separated optimizers to run (default: all)')
    ap.add_argument('--quick', action='store_true', help='one or two rates per optimizer: ' + '; '.join(QUICK))
    ap.add_argument('--out', default=str(ROOT / 'reports' / 'optimizers'))
    a = ap.parse_args()
    res, out = [], Path(a.out)
    for name, opt, kw in RUNS:
        if (a.only and opt not in a.only.split(',')) or (a.quick and name not in QUICK): continue
        slug = re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')
        res.append(one(name, opt, kw, a.iters, a.threads, Path('/tmp') / f'aic_opt_{slug}', a.eval, a.reuse))
        print(json.dumps(res[-1]), flush=True)
        out.parent.mkdir(exist_ok=True)
        out.with_suffix('.json').write_text(json.dumps(res, indent=1))
        out.with_suffix('.md').write_text(f"{len(res)} runs of {a.iters} steps, {a.threads} thread(s) each, evaluated every {a.eval} steps\n\n" + table(res) + '\n')
    speeds(res, a.rounds, threads=a.threads)
    note = (f"{len(res)} runs of {a.iters} steps on the default recipe (chapter 06's `train`, evaluated every {a.eval} steps on 50 "
            f"fixed batches per split). Losses and steps do not depend on the machine's load; the time per step does, so it is "
            f"measured apart: each optimizer's training step (forward, backward, clipping, update; Sophia's estimate every 10 "
            f"steps) on the default model, {a.rounds} interleaved rounds of 30 steps, {a.threads} thread(s), medians. Time to "
            f"nanoGPT's loss = steps x ms per step (training compute only).")
    out.with_suffix('.md').write_text(note + '\n\n' + table(res) + '\n')
    out.with_suffix('.json').write_text(json.dumps(res, indent=1))
    print(out.with_suffix('.md').read_text())
