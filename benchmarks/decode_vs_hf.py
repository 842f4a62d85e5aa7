"""Decoding SmolLM2-135M-Instruct at batch 1: aic_gpt's paths against transformers' `generate` on the same weights.

Paths (chapter 08a, `aic_gpt.quant`): float32, bfloat16, bfloat16-fast (the same bfloat16 weights, each product
computed as W x by `matvec_linears`), int8 (chapter 08's int8 weights through the int8mm kernel in bfloat16),
int4-exact (the file's Q4_1 blocks through PyTorch's int4 kernel with float32 activations), int4-fast (the same in
bfloat16, the output head in int8), and transformers' LlamaForCausalLM made by `aic_gpt.checkpoint.to_hf` from
the same float32 weights (hf-float32, hf-bfloat16). Greedy, no stop token, after a one-line chat prompt. Every round
runs each path once in a rotating order (1 new token and `--tokens` new tokens, so the decode rate leaves the prompt
out); the figures are medians over rounds. Ratios are against hf-float32 (x_vs_hf) and against transformers in the
path's own dtype (x_same_dtype: float32 and the bfloat16 paths). The roofline fraction is the bytes one step
reads (weights and KV cache) times the decode rate over the measured read bandwidth.

    python benchmarks/decode_vs_hf.py [--rounds 3 --tokens 64 --threads 1 --exact-tokens 8 --bpb-windows 0
                                       --paths float32,bfloat16,bfloat16-fast,int8,int4-exact,int4-fast,hf-float32,hf-bfloat16]
"""
import argparse, time
import torch
import transformers

from aic_gpt.quant import DECODE_PATHS, decode_paths, decode_benchmark
from aic_gpt.serving import measure_bandwidth
from aic_gpt.tokenizer import get_tokenizer

ALL = ','.join(DECODE_PATHS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--rounds', type=int, default=3, help='interleaved rounds (median over them)')
    p.add_argument('--tokens', type=int, default=64, help='new tokens per timed generate')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads')
    p.add_argument('--exact-tokens', type=int, default=8, help='new tokens for int4-exact (its float32 kernel is slow)')
    p.add_argument('--paths', default=ALL, help=f'comma-separated, from {ALL}')
    p.add_argument('--bpb-windows', type=int, default=0, help='also bits per byte on held-out Tiny Shakespeare (windows of 256 tokens; 0: skip)')
    p.add_argument('--prompt', default='What is the capital of France?')
    a = p.parse_args(argv)
    for k in ('rounds', 'threads', 'exact_tokens'):
        if getattr(a, k) < 1: p.error(f"--{k.replace('_', '-')} must be >= 1")
    if a.tokens < 2: p.error('--tokens must be >= 2')
    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    tok = get_tokenizer('smollm2')
    ids = torch.tensor([tok.apply_chat_template([dict(role='user', content=a.prompt)])])
    paths = decode_paths([s.strip() for s in a.paths.split(',') if s.strip()])
    bpb = None
    if a.bpb_windows:
        from aic_gpt.core import read_text
        from aic_gpt.metrics import bits_per_byte
        text = read_text('tinyshakespeare.txt')
        val = text[int(len(text) * 0.9):][:8 * 256 * a.bpb_windows]
        bpb = {k: bits_per_byte(m, tok, val, block_size=256, batch_size=4, max_windows=a.bpb_windows)['bpb']
               for k, m in paths.items() if not k.startswith('hf-') and k != 'int4-exact'}   # int4-exact: float32's logits
    bw = max(measure_bandwidth(2**29).values())
    print(decode_benchmark(paths, ids, new_tokens=a.tokens, rounds=a.rounds, tokens={'int4-exact': a.exact_tokens},
                           bandwidth=bw, bpb=bpb))
    print(f"prompt {ids.shape[1]} tokens; {time.perf_counter() - t0:.0f} s in all; timings from a shared machine: "
          "compare the ratios, not the absolute figures")


if __name__ == '__main__':
    main()
