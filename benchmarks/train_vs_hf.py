"""Training speed of aic_gpt's GPT against transformers' GPT2LMHeadModel on nanoGPT's CPU recipe shape.

4 layers x 4 heads x 128, context 64, batch 12, vocabulary 65 (Tiny Shakespeare characters), dropout 0, fp32. Both
models train on the same batches (`aic_gpt.data.get_batch` with a seeded rng), with the same loss (cross-entropy on
the logits), the same optimizer (fused AdamW, lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on matrices only:
`aic_gpt.optim.param_groups`) and the same gradient clipping (1.0). The models run interleaved: every round trains each
one for `--steps` steps, in a rotating order, after `--warmup` untimed steps each; the figures are medians over rounds.

Two cases, both against the same transformers runs:
  (a) like for like: aic_gpt with biases (GPT-2 always has them), loaded from the transformers model with
      `aic_gpt.checkpoint.from_hf`, so both start from the same weights and their losses must stay together;
  (b) the recipe: aic_gpt with bias=False (nanoGPT's setting), its own initialisation.

    python benchmarks/train_vs_hf.py [--threads 2 --rounds 5 --steps 20 --warmup 10 --profile]
"""
import argparse, os, platform, statistics, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import GPT2Config, GPT2LMHeadModel

import aic_gpt
from aic_gpt.checkpoint import from_hf
from aic_gpt.core import read_text
from aic_gpt.data import get_batch, train_val_split
from aic_gpt.model import GPT, GPTConfig
from aic_gpt.tokenizer import CharTokenizer
from aic_gpt.optim import param_groups

ROOT = Path(__file__).resolve().parent.parent
SHAPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, vocab_size=65)
TARGET = 1.3


def cpu_name():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def hf_model(seed):
    torch.manual_seed(seed)
    hc = GPT2Config(n_layer=SHAPE['n_layer'], n_head=SHAPE['n_head'], n_embd=SHAPE['n_embd'], n_positions=SHAPE['block_size'],
                    vocab_size=SHAPE['vocab_size'], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                    tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return GPT2LMHeadModel(hc).train()


class Runner:
    "One model, its optimizer and its own position in the shared stream of batches."
    def __init__(self, name, model, logits_fn, batches):
        self.name, self.model, self.logits_fn, self.batches, self.i = name, model, logits_fn, batches, 0
        self.opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3, betas=(0.9, 0.99), fused=True)
        self.losses, self.chunks = [], []                          # per step; (seconds, steps) per timed chunk

    def step(self):
        x, y = self.batches[self.i]; self.i += 1                   # (B, T), (B, T)
        logits = self.logits_fn(self.model, x)                     # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()

    def run(self, steps, timed=True):
        t = time.perf_counter()
        losses = [self.step() for _ in range(steps)]
        dt = time.perf_counter() - t
        self.losses += [l.item() for l in losses]
        if timed: self.chunks.append((dt, steps))

    def stats(self):
        tps = [n * SHAPE['batch_size'] * SHAPE['block_size'] / s for s, n in self.chunks]
        ms = [1000 * s / n for s, n in self.chunks]
        return dict(tps=statistics.median(tps), tps_min=min(tps), tps_max=max(tps), ms=statistics.median(ms), tps_all=tps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    ap.add_argument('--rounds', type=int, default=5, help='timed rounds, each model once per round (default 5)')
    ap.add_argument('--steps', type=int, default=20, help='optimizer steps per model per round (default 20)')
    ap.add_argument('--warmup', type=int, default=10, help='untimed steps per model first (default 10)')
    ap.add_argument('--seed', type=int, default=1337)
    ap.add_argument('--profile', action='store_true', help='also print a torch.profiler table of a few steps of each model')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()

    text = read_text(ROOT / 'data' / 'tinyshakespeare.txt')
    tok = CharTokenizer(text)
    assert tok.vocab_size == SHAPE['vocab_size'], tok.vocab_size
    train_ids, _ = train_val_split(np.asarray(tok.encode(text), dtype=np.uint16), 0.1)
    rng = np.random.default_rng(a.seed)
    n = a.warmup + a.rounds * a.steps + (20 if a.profile else 0)
    batches = [get_batch(train_ids, SHAPE['batch_size'], SHAPE['block_size'], rng) for _ in range(n)]   # the same for all

    hf = hf_model(a.seed)
    aic_bias = from_hf(hf).train()                                 # (a) the same weights as the transformers model
    torch.manual_seed(a.seed)
    aic_nobias = GPT(GPTConfig.from_preset('baby_gpt_cpu', vocab_size=SHAPE['vocab_size'], dropout=0.0, bias=False)).train()
    assert aic_bias.config.dropout == 0 and aic_bias.config.bias and aic_bias.config.tie_weights
    with torch.no_grad():                                          # the copy is exact before training starts
        x0 = batches[0][0]
        d0 = (aic_bias(x0) - hf(input_ids=x0, use_cache=False).logits).abs().max().item()
    runners = [Runner('aic_gpt bias=True', aic_bias, lambda m, x: m(x), batches),
               Runner('aic_gpt bias=False', aic_nobias, lambda m, x: m(x), batches),
               Runner('transformers GPT-2', hf, lambda m, x: m(input_ids=x, use_cache=False).logits, batches)]
    params = {r.name: sum(p.numel() for p in r.model.parameters()) for r in runners}
    assert params['aic_gpt bias=True'] == params['transformers GPT-2'], params

    print(f"aic_gpt {aic_gpt.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"python {platform.python_version()}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs; torch threads {torch.get_num_threads()}")
    print(f"shape: {SHAPE['n_layer']} layers x {SHAPE['n_head']} heads x {SHAPE['n_embd']}, context {SHAPE['block_size']}, "
          f"batch {SHAPE['batch_size']}, vocab {SHAPE['vocab_size']}, fp32, dropout 0; transformers attention "
          f"{hf.config._attn_implementation!r}")
    print(f"parameters: " + ', '.join(f"{k} {v:,}" for k, v in params.items()))
    print(f"{a.warmup} warm-up steps each, then {a.rounds} rounds x {a.steps} steps each, interleaved; same {n} batches; "
          f"max |logits difference| of the copied model before training {d0:.1e}")

    for r in runners: r.run(a.warmup, timed=False)
    for k in range(a.rounds):
        for r in runners[k % 3:] + runners[:k % 3]: r.run(a.steps)

    st = {r.name: r.stats() for r in runners}
    print(f"\n{'model':<20} {'tokens/s (median)':>18} {'min .. max':>18} {'ms/step':>8} {'final loss':>11}")
    for r in runners:
        s = st[r.name]
        print(f"{r.name:<20} {s['tps']:>18,.0f} {s['tps_min']:>8,.0f} .. {s['tps_max']:<8,.0f} {s['ms']:>8.1f} "
              f"{statistics.mean(r.losses[-a.steps:]):>11.4f}")
    la, lh = np.array(runners[0].losses), np.array(runners[2].losses)
    print(f"(a) and transformers train the same function: max |loss difference| over {len(la)} steps "
          f"{np.abs(la - lh).max():.2e}")
    hf_s = st['transformers GPT-2']
    ok = True
    for case, name in (('(a) like for like, both with biases', 'aic_gpt bias=True'), ('(b) the recipe, aic_gpt bias=False', 'aic_gpt bias=False')):
        ratio = st[name]['tps'] / hf_s['tps']
        per_round = [x / y for x, y in zip(st[name]['tps_all'], hf_s['tps_all'])]
        ok &= ratio >= TARGET
        print(f"{case}: aic_gpt / transformers = {ratio:.2f}x tokens/s (per round {min(per_round):.2f}x .. "
              f"{max(per_round):.2f}x; {st[name]['ms']:.1f} vs {hf_s['ms']:.1f} ms/step); target {TARGET}x "
              f"{'met' if ratio >= TARGET else 'NOT met'}")
    print(f"target {TARGET}x: {'met in both cases' if ok else 'NOT met in every case'}")

    if a.profile:
        from torch.profiler import profile, ProfilerActivity
        for r in (runners[0], runners[2]):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(10): r.step()
            print(f"\n{r.name}: 10 steps, by self CPU time")
            print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=15))


if __name__ == '__main__':
    main()
