"""Issue 25: one GRPO loss step (forward + backward of ``GRPOTrainer._compute_loss``) inside TRL 1.16, three ways.

- ``trl``: TRL's own log-probs (its chunked LM head) and its own loss;
- ``mixin_logprobs``: :class:`FusedLogProbsMixin`'s log-probs (``ops.linear_token_logprobs``) and TRL's loss
  (the mixin before issue 25's loss: ``fused_policy_loss = "trl"``);
- ``fused_loss``: the mixin's fused policy loss (``ops.linear_policy_loss``: log-probs, PPO-clip and entropy in
  one pass, gradients made in the forward).

A 1-layer Qwen2 with a moderate vocabulary (``--vocab``, ``--hidden``), a fixed batch (ragged completions, old
log-probs around the current ones, ``dapo`` loss, ``(B,)`` advantages). Each method runs in a fresh subprocess
(``MALLOC_MMAP_THRESHOLD_=131072``): peak = ``VmHWM`` of the steps (reset once the inputs exist) minus the
resident set before them; time = median of ``--reps`` steps after a warm-up; the loss value is kept so the
three can be compared. Indicative CPU numbers (2-core VM, shared).

    python -m benches.bench_trl_loss --json benches/cpu/trl-loss.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benches._io import save_json

METHODS = ("trl", "mixin_logprobs", "fused_loss")


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _trainer(method: str, vocab: int, hidden: int, positions: int) -> Any:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from prime_fast.demo.model import build_model
    from prime_fast.demo.task import make_rows
    from prime_fast.demo.tokenizer import build_tokenizer
    from prime_fast.integrations.trl import FusedLogProbsMixin, math_reward

    class Trainer(FusedLogProbsMixin, GRPOTrainer):
        fused_logprobs = "trl" if method == "trl" else "prime_fast"
        fused_policy_loss = "prime_fast" if method == "fused_loss" else "trl"

    model = build_model(
        vocab,
        seed=0,
        hidden_size=hidden,
        num_layers=1,
        num_heads=2,
        intermediate_size=hidden,
        max_positions=positions,
    )
    rows = [
        {"prompt": r["prompt"], "ground_truth": r["reward_model"]["ground_truth"]}
        for r in make_rows(8, 0, "train")
    ]
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(),
        use_cpu=True,
        per_device_train_batch_size=4,
        num_generations=4,
        num_iterations=2,
        report_to="none",
        save_strategy="no",
        bf16=False,
    )
    tr = Trainer(
        model=model,
        reward_funcs=[math_reward],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=build_tokenizer(),
    )
    tr.current_gradient_accumulation_steps = 1
    return tr


def _batch(tr: Any, b: int, p: int, t: int, vocab: int) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    prompt_ids = torch.randint(0, vocab, (b, p), generator=gen)
    completion_ids = torch.randint(0, vocab, (b, t), generator=gen)
    lengths = torch.randint(t // 4, t + 1, (b,), generator=gen)
    completion_mask = (torch.arange(t)[None] < lengths[:, None]).long()
    prompt_mask = torch.ones_like(prompt_ids)
    with torch.no_grad():
        ids = torch.cat([prompt_ids, completion_ids], 1)
        cur = tr._get_per_token_logps_and_entropies(
            tr.model, ids, torch.cat([prompt_mask, completion_mask], 1), t
        )[0]
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": torch.randn(b, generator=gen),
        "old_per_token_logps": cur + 0.2 * torch.randn(b, t, generator=gen),
        "num_items_in_batch": completion_mask.sum(),
    }


def child(method: str, vocab: int, hidden: int, b: int, p: int, t: int, reps: int) -> dict[str, Any]:
    """One method in this process: ``{"peak_mib", "seconds", "loss"}``."""
    import torch

    torch.manual_seed(0)
    tr = _trainer(method, vocab, hidden, p + t)
    inputs = _batch(tr, b, p, t, vocab)

    def step() -> float:
        tr.model.zero_grad(set_to_none=True)
        loss = tr._compute_loss(tr.model, inputs)
        loss.backward()
        return float(loss)

    value = step()  # warm-up
    assert tr.policy_loss_path == ("prime_fast" if method == "fused_loss" else "trl")
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {
        "peak_mib": (_status_kib("VmHWM") - base) / 1024,
        "seconds": statistics.median(times),
        "loss": value,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--completion", type=int, default=112)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    shape = (a.vocab, a.hidden, a.batch, a.prompt, a.completion)
    if a.child:
        import torch

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
        print(json.dumps(child(a.child, *shape, a.reps)))
        return
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    rows = []
    for method in METHODS:
        cmd = [sys.executable, "-m", "benches.bench_trl_loss", "--child", method, "--reps", str(a.reps)]
        cmd += ["--vocab", str(a.vocab), "--hidden", str(a.hidden), "--batch", str(a.batch)]
        cmd += ["--prompt", str(a.prompt), "--completion", str(a.completion)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"method": method, **res})
        print(
            f"{method:15s} peak {res['peak_mib']:8.1f} MiB  {res['seconds'] * 1000:8.1f} ms  loss {res['loss']:.7f}",
            flush=True,
        )
    if a.json:
        keys = ("vocab", "hidden", "batch", "prompt", "completion")
        save_json(a.json, {"shape": dict(zip(keys, shape, strict=True)), "rows": rows})


if __name__ == "__main__":
    main()
