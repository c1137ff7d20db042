"""Benchmark of ``prime-fast eval``'s own cost (everything but generation).

Part A, scoring: 500 problems x 16 responses (8,000 math responses with ``\\boxed{}`` answers, about
half right, answers in a few equivalent forms) go through the evaluation's scoring stage: batched
verification, answer grouping for maj@k, and the metrics (pass@k, avg@n, maj@k). Target: < 2 s on 2
cores.

Part B, overhead: ``evaluate`` on the demo's SFT model (HF backend, CPU) with the time spent inside
``backend.generate`` measured by a wrapper; overhead = wall time of ``evaluate`` - generation time
(loading and encoding the benchmark, decoding, verification, grouping, metrics, writing
results.json, samples.jsonl and, in the ``chart_*`` runs, the PNG; ``chart_first`` includes
matplotlib's import, ``chart_warm`` is a second call in the same process, as the trainer's periodic
evaluation would be). Target: < 10% of the generation time. The demo's 200 held-out prompts, 8 samples
and greedy, 32 tokens (the demo preset's ``rollout.max_tokens``).

    python -m benches.bench_eval --json benches/cpu/eval.json
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benches._harness import env_info
from benches._io import save_json

FORMS = [
    lambda v: str(v),
    lambda v: f"{v}.0",
    lambda v: f"\\frac{{{2 * v}}}{{2}}",
    lambda v: f"{v}" if v >= 0 else f"-{abs(v)}",
]


def synthetic_responses(problems: int, n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``problems * n`` responses (row-major) and one gold per problem."""
    rng = random.Random(seed)
    texts, golds = [], []
    for _ in range(problems):
        gold = rng.randint(-50, 500)
        golds.append(str(gold))
        wrong = [gold + d for d in rng.sample([-3, -2, -1, 1, 2, 7, 10], 3)]
        for _ in range(n):
            v = gold if rng.random() < 0.5 else rng.choice(wrong)
            body = " ".join(f"step {i}: {rng.randint(1, 99)} + {rng.randint(1, 99)}." for i in range(8))
            texts.append(f"{body}\nSo the answer is $\\boxed{{{rng.choice(FORMS)(v)}}}$.")
    return texts, golds


def score_stage(texts: list[str], golds: list[str], n: int, ks: tuple[int, ...]) -> dict[str, float]:
    """What ``evaluate`` does after generation for one benchmark, minus the file writing."""
    from prime_fast.eval import metrics as M
    from prime_fast.eval.answers import group_answers
    from prime_fast.verify.batch import score_rows

    p = len(golds)
    verdicts = score_rows(texts, [golds[i // n] for i in range(len(texts))], ["math"] * len(texts))
    keys = [
        [verdicts[i * n + j].normalized or verdicts[i * n + j].extracted for j in range(n)] for i in range(p)
    ]
    groups = group_answers(keys)
    correct = [[verdicts[i * n + j].correct for j in range(n)] for i in range(p)]
    out = {f"avg@{n}": M.avg_at_n(correct)}
    for k in ks:
        out[f"pass@{k}"] = M.mean_pass_at_k(correct, k)
        out[f"maj@{k}"] = M.maj_at_k(correct, groups, k)
    return out


#: The k of pass@k and maj@k when ``--k`` is not given: those of them that are at most ``--n``.
DEFAULT_KS = (1, 4, 16)


def resolve_ks(n: int, requested: str | None) -> tuple[int, ...]:
    """``--k`` as a tuple: the default follows ``--n``; an explicit k above ``--n`` is an error."""
    if requested is None:
        return tuple(k for k in DEFAULT_KS if k <= n)
    try:
        ks = tuple(int(x) for x in requested.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--k expects comma-separated integers like 1,4,16, got {requested!r}") from None
    for k in ks:
        if not 1 <= k <= n:
            raise ValueError(
                f"--k {k} is above --n {n} (pass@k needs k <= n samples)" if k > n else f"--k {k} < 1"
            )
    return ks


def part_a(problems: int, n: int, repeats: int, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, Any]:
    texts, golds = synthetic_responses(problems, n)
    score_stage(texts[: n * 4], golds[:4], n, ks)  # warm-up (native library, first calls)
    times = []
    res: dict[str, float] = {}
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = score_stage(texts, golds, n, ks)
        times.append(time.perf_counter() - t0)
    return {
        "responses": len(texts),
        "s_p50": statistics.median(times),
        "s_min": min(times),
        "s_max": max(times),
        "metrics": res,
    }


class TimedBackend:
    """The real backend, with the seconds spent inside ``generate`` added up."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0

    def generate(self, prompt_ids: Any, sampling: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.generate(prompt_ids, sampling)
        finally:
            self.seconds += time.perf_counter() - t0

    def sync_weights(self, named: Any) -> None:
        self.inner.sync_weights(named)

    def sleep(self) -> None:
        self.inner.sleep()

    def wake_up(self) -> None:
        self.inner.wake_up()


def part_b(prompts: int, n: int, max_tokens: int, sft_steps: int) -> dict[str, Any]:
    from prime_fast.demo.model import build_sft_checkpoint
    from prime_fast.demo.task import make_rows, write_jsonl
    from prime_fast.eval.api import evaluate
    from prime_fast.runtime.models import load_causal_lm, load_tokenizer
    from prime_fast.runtime.rollout.hf import HFRolloutBackend

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        ckpt = Path(d) / "sft"
        build_sft_checkpoint(
            ckpt,
            seed=0,
            train_rows=make_rows(2000, 0, "sft"),
            steps=sft_steps,
            batch_size=32,
            hidden_size=64,
            num_layers=1,
        )
        bench = write_jsonl(make_rows(prompts, 0, "val"), Path(d) / "val.jsonl")
        tok = load_tokenizer(str(ckpt))
        lm = load_causal_lm(str(ckpt), "float32", trainable=False)
        for label, charts in (("no_chart", False), ("chart_first", True), ("chart_warm", True)):
            backend = TimedBackend(
                HFRolloutBackend(lm, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
            )
            t0 = time.perf_counter()
            res = evaluate(
                None,
                {"demo": str(bench)},
                Path(d) / f"out_{label}",
                backend=backend,
                tokenizer=tok,
                n=n,
                temperature=1.0,
                max_tokens=max_tokens,
                ks=(1, 4, n),
                progress=False,
                charts=charts,
            )
            wall = time.perf_counter() - t0
            gen = backend.seconds
            out[label] = {
                "wall_s": wall,
                "generate_s": gen,
                "overhead_s": wall - gen,
                "overhead_pct": 100 * (wall - gen) / gen,
                "verify_s": res.timing["verify"],
                "samples": len(res.samples),
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--k", default=None, help="k of pass@k and maj@k (default: those of 1,4,16 up to --n)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--demo-prompts", type=int, default=200)
    ap.add_argument("--demo-n", type=int, default=8)
    ap.add_argument("--demo-max-tokens", type=int, default=32)
    ap.add_argument("--sft-steps", type=int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    try:
        ks = resolve_ks(args.n, args.k)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    a = part_a(args.problems, args.n, args.repeats, ks)
    b = part_b(args.demo_prompts, args.demo_n, args.demo_max_tokens, args.sft_steps)
    env = env_info()
    print(f"# bench_eval  ({platform.node()}, {env['gpu']}, torch {env['torch']}, git {env['git_sha']})")
    print(f"{'case':<46} {'value':>10}  target")
    print(f"{'A scoring ' + str(a['responses']) + ' math responses, p50 s':<46} {a['s_p50']:>10.3f}  < 2 s")
    print(f"{'A   (min / max s)':<46} {a['s_min']:>5.3f}/{a['s_max']:.3f}")
    for key, r in b.items():
        print(f"{'B ' + key + ': generation s':<46} {r['generate_s']:>10.2f}")
        print(
            f"{'B ' + key + ': overhead s (% of generation)':<46} {r['overhead_s']:>10.3f}  "
            f"({r['overhead_pct']:.1f}% ; target < 10%)"
        )
    if args.json:
        save_json(args.json, {"env": env, "scoring": a, "overhead": b, "args": vars(args)})


if __name__ == "__main__":
    main()
