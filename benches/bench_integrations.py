"""Issue 23: the TRL log-prob mixin's head step against TRL's own, and math_reward against math-verify.

1. Log-prob head (``--logprobs``): one forward + backward of the per-token log-probs and entropies of
   ``N`` tokens under an LM head ``(V, H)``, from the last hidden state, by
   - ``eager``: the full ``(N, V)`` logits, ``log_softmax``, gather (TRL before its chunked head, and what a
     plain ``model(...).logits`` costs);
   - ``trl``: TRL 1.16's own path, its chunked LM head (``trl.kernels.ChunkedLogProbFunction``, what
     ``GRPOTrainer._get_per_token_logps_and_entropies`` runs with ``fused_lm_head=True``);
   - ``prime_fast``: :func:`prime_fast.ops.linear_token_logprobs` (what :class:`FusedLogProbsMixin` runs).
   Each (method, shape) runs in a fresh subprocess with ``MALLOC_MMAP_THRESHOLD_=131072``; memory is the
   step's peak resident set (``VmHWM`` reset through /proc/self/clear_refs once the inputs exist) minus the
   resident set before the step; time is the median of ``--reps`` steps. TRL's Liger option needs
   liger-kernel's Triton kernels (CUDA), so it has no CPU row.
2. Rewards (``--rewards``): 1,000 math completions of the embedded task scored by
   :data:`prime_fast.integrations.trl.math_reward` (one call) and by the same reward written with
   math-verify, TRL's documented choice (``parse`` the reference and the completion, ``verify``), in one run.

    python -m benches.bench_integrations --json benches/cpu/integrations.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benches._io import save_json

METHODS = ("eager", "trl", "prime_fast")
#: (name, tokens N, vocab V, hidden H): the embedded demo's head, and Qwen2.5-0.5B's at 1,024 tokens.
SHAPES = (("demo", 96, 32, 64), ("qwen2.5-0.5b", 1024, 151936, 896))


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _step(method: str, hidden: Any, weight: Any, labels: Any) -> None:
    import torch

    h = hidden.detach().requires_grad_(True)
    w = weight.detach().requires_grad_(True)
    if method == "eager":
        logp_all = torch.log_softmax(h @ w.T, -1)
        logp = logp_all.gather(-1, labels[:, None]).squeeze(-1)
        ent = -(logp_all.exp() * logp_all).sum(-1)
    elif method == "trl":
        from trl.kernels import ChunkedLogProbFunction

        logp, ent, *_ = ChunkedLogProbFunction.apply(
            h, w, None, labels, 1.0, 32768, None, 1.0, ("log_probs", "entropy")
        )
    else:
        from prime_fast.ops import linear_token_logprobs

        logp, ent = linear_token_logprobs(h, w, labels, return_entropy=True)
    (logp.sum() + 0.01 * ent.sum()).backward()


def child(method: str, n: int, v: int, hdim: int, reps: int) -> dict[str, Any]:
    """One (method, shape) in this process: ``{"peak_mib", "seconds"}``."""
    import torch

    torch.manual_seed(0)
    hidden = torch.randn(n, hdim) * 0.5
    weight = torch.randn(v, hdim) * 0.02
    labels = torch.randint(0, v, (n,))
    _step(method, hidden, weight, labels)  # warm-up (lazy imports, kernels)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        _step(method, hidden, weight, labels)
        times.append(time.perf_counter() - t0)
    return {"peak_mib": (_status_kib("VmHWM") - base) / 1024, "seconds": statistics.median(times)}


def run_logprobs(reps: int) -> list[dict[str, Any]]:
    rows = []
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    for name, n, v, hdim in SHAPES:
        for method in METHODS:
            cmd = [
                sys.executable,
                "-m",
                "benches.bench_integrations",
                "--child",
                method,
                str(n),
                str(v),
                str(hdim),
            ]
            cmd += ["--reps", str(reps if v < 10000 else 1)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"shape": name, "N": n, "V": v, "H": hdim, "method": method, **res})
            print(
                f"{name:13s} N={n:5d} V={v:6d} H={hdim:4d} {method:10s} peak {res['peak_mib']:8.1f} MiB"
                f"  {res['seconds'] * 1000:9.1f} ms",
                flush=True,
            )
    return rows


def _completions(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from prime_fast.demo.task import make_rows

    rng = random.Random(seed)
    texts, golds = [], []
    for r in make_rows(n, seed, "train"):
        gold = r["reward_model"]["ground_truth"]
        sol = r["extra_info"]["solution"]
        if rng.random() < 0.4:  # a wrong final answer
            sol = sol[: sol.rindex("{") + 1] + str(int(gold) + rng.choice((-2, -1, 1, 2))) + "}"
        texts.append(sol)
        golds.append(gold)
    return texts, golds


def math_verify_reward(completions: list[str], ground_truth: list[str], **kwargs: Any) -> list[float | None]:
    """The same reward written with math-verify, as TRL's docs write accuracy rewards."""
    from math_verify import parse, verify

    out: list[float | None] = []
    for c, g in zip(completions, ground_truth):
        gold = parse(g)
        if not gold:
            out.append(None)
            continue
        out.append(1.0 if verify(gold, parse(c)) else 0.0)
    return out


def run_rewards(n: int) -> dict[str, Any]:
    from prime_fast.integrations.trl import math_reward

    texts, golds = _completions(n)
    prompts = ["q"] * n
    t0 = time.perf_counter()
    ours = math_reward(prompts=prompts, completions=texts, ground_truth=golds)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = math_verify_reward(texts, golds)
    t_theirs = time.perf_counter() - t0
    agree = sum(a == b for a, b in zip(ours, theirs)) / n
    res = {
        "n": n,
        "math_reward_s": t_ours,
        "math_verify_s": t_theirs,
        "speedup": t_theirs / t_ours,
        "agreement": agree,
        "mean_reward": sum(x or 0.0 for x in ours) / n,
    }
    print(
        f"rewards: {n} completions, math_reward {t_ours * 1000:.1f} ms, math-verify {t_theirs * 1000:.1f} ms, "
        f"{res['speedup']:.0f}x, agreement {agree:.3f}",
        flush=True,
    )
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=4, metavar=("METHOD", "N", "V", "H"), help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--n-rewards", type=int, default=1000)
    p.add_argument("--only", choices=("logprobs", "rewards"), default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.child:
        method, n, v, h = a.child
        print(json.dumps(child(method, int(n), int(v), int(h), a.reps)))
        return
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    out: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    try:
        import trl

        out["trl"] = trl.__version__
    except ImportError:
        out["trl"] = None
    if a.only in (None, "rewards"):
        out["rewards"] = run_rewards(a.n_rewards)
    if a.only in (None, "logprobs"):
        out["logprobs"] = run_logprobs(a.reps)
    if a.json:
        save_json(a.json, out)


if __name__ == "__main__":
    main()
