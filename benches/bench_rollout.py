"""Rollout engines: vLLM (in process) vs HF ``generate``, and the in-place weight sync.

Both sample the same prompts from the same tiny random Qwen2 (or a size given on the command line):
``P`` prompts x ``n`` samples x up to ``T`` new tokens at temperature 1. Reported: generated tokens
per second (median of ``--repeats`` calls after one warm-up) and the time of one full weight sync
(vLLM: ``VLLMRollout.sync_weights``; HF: the in-place parameter copy of ``HFRolloutBackend``).

    python benches/bench_rollout.py [--prompts 64 --n 4 --tokens 32 --hidden 128 --layers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benches._io import save_json


def _median_time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from prime_fast.runtime.rollout import SamplingConfig
    from prime_fast.runtime.rollout.hf import HFRolloutBackend
    from prime_fast.runtime.rollout.vllm import VLLMRollout
    from prime_fast.runtime.settings import VLLMSection

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benches._harness import env_info

    torch.manual_seed(0)
    heads = max(1, args.hidden // 64)
    cfg = Qwen2Config(
        vocab_size=1024,
        hidden_size=args.hidden,
        intermediate_size=2 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=args.prompt_len + args.tokens + 8,
        tie_word_embeddings=False,
        eos_token_id=1,
        bos_token_id=0,
        pad_token_id=0,
    )
    model = Qwen2ForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(1)
    prompts = torch.randint(2, cfg.vocab_size, (args.prompts, args.prompt_len), generator=g).tolist()
    sampling = SamplingConfig(n=args.n, temperature=1.0, max_tokens=args.tokens, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        engines = {
            "hf_generate": HFRolloutBackend(model, eos_token_id=1, pad_token_id=0),
            "vllm": VLLMRollout(
                tmp,
                VLLMSection(
                    gpu_memory_utilization=0.3,
                    dtype="float32",
                    max_model_len=args.prompt_len + args.tokens + 8,
                ),
            ),
        }
        named = [(k, v.detach().clone()) for k, v in model.named_parameters()]
        for name, eng in engines.items():
            sec, batch = _median_time(lambda eng=eng: eng.generate(prompts, sampling), args.repeats)
            toks = sum(len(r) for r in batch.response_ids)  # type: ignore[attr-defined]
            sync_s, _ = _median_time(lambda eng=eng: eng.sync_weights(named), args.repeats)
            rows.append(
                {
                    "engine": name,
                    "sequences": len(batch.response_ids),
                    "tokens": toks,  # type: ignore[attr-defined]
                    "gen_s": sec,
                    "tokens_per_s": toks / sec,
                    "sync_ms": sync_s * 1e3,
                }
            )
    env = env_info()
    print(
        f"# rollout engines  device={env.get('gpu')}  torch={env.get('torch', torch.__version__)}  "
        f"model: Qwen2 hidden={args.hidden} layers={args.layers} vocab=1024 fp32"
    )
    print(f"{'engine':<12} {'seqs':>6} {'tokens':>8} {'gen s':>8} {'tok/s':>10} {'sync ms':>9}")
    for r in rows:
        print(
            f"{r['engine']:<12} {r['sequences']:>6} {r['tokens']:>8} {r['gen_s']:>8.3f} "
            f"{r['tokens_per_s']:>10.0f} {r['sync_ms']:>9.1f}"
        )
    if args.json:
        save_json(args.json, {"env": env, "args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
