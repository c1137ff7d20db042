"""Peak resident memory of one PRIME step: three full models vs LoRA on one base vs self-PRM.

Each setup runs in a fresh subprocess on a random fp32 model of Qwen2.5-0.5B's shape (hidden 896,
14 heads, 2 KV heads, intermediate 4864, vocab 151936, tied embeddings; ``--layers`` of its 24) and
does one PRIME step on the CPU: old log-probs of the policy, reference log-probs, the implicit PRM's
forward + BCE update (``PRMTrainer.step``), the PPO update of the policy (``Actor.update``), with
AdamW states. The child reports the peak resident set of the step (``VmHWM`` of /proc/self/status,
reset through /proc/self/clear_refs once the models are built) minus its ``VmHWM`` after the
imports, i.e. what the models, gradients, optimizer states and activations add; building's own peak
(``build_peak_mib``) is reported beside it. Children
run with a fixed glibc mmap threshold (``--mmap-threshold``) so that freed tensors leave the
resident set at once and the peak is reproducible.

Setups:
    full   policy, PRM and reference as three full models; two AdamW over all their weights.
    lora   one frozen base, ``policy`` and ``prm`` LoRA adapters, reference = adapters off.
    self   one frozen base, a ``policy`` adapter only; the PRM is the policy itself
           (q = beta * (log pi_theta - log pi_ref), SPRO-style): no PRM forward or update.
    lora-gc  ``lora`` with ``model.gradient_checkpointing`` (adapter-aware recomputation).

With ``--world N`` every setup runs as ``N`` ``torchrun`` ranks (gloo) under FSDP2, the way the
trainer does (``FSDPContext.prepare_model``: each model, or LoRA's one shared base, sharded per decoder
layer and at the root); each rank takes its ``1/N`` share of the batch and the table reports the
largest rank's peak.

Memory is linear in the layer count, so the full setup, too large for a shared 23 GiB box at 24
layers (about 19 GiB), is measured at ``--fit-layers`` depths and extrapolated; the LoRA setups are
also measured at the full depth, which checks the fit.

    python -m benches.bench_lora --json benches/cpu/lora.json
    python -m benches.bench_lora --world 2 --json benches/cpu/lora-fsdp2.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from benches._io import save_json

SETUPS = ("full", "lora", "self", "lora-gc")
SHAPE = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 4096,
}
FULL_LAYERS = 24


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _batch(args: argparse.Namespace, vocab: int) -> Any:
    import torch

    from prime_fast.runtime.batch import build_batch

    g = torch.Generator().manual_seed(0)
    rows = args.prompts * args.k
    prompts = [torch.randint(2, vocab, (args.prompt_len,), generator=g).tolist() for _ in range(args.prompts)]
    responses = [torch.randint(2, vocab, (args.new_tokens,), generator=g).tolist() for _ in range(rows)]
    return build_batch([prompts[i // args.k] for i in range(rows)], responses, pad_token_id=0, eos_token_id=1)


def _models(setup: str, layers: int, rank: int) -> tuple[Any, Any, Any]:
    """``(policy, prm, ref)`` for a setup (``prm`` None for self-PRM)."""
    import copy

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from prime_fast.runtime.lora import build_lora_views
    from prime_fast.runtime.settings import LoraSettings

    torch.manual_seed(0)
    base = Qwen2ForCausalLM(Qwen2Config(num_hidden_layers=layers, **SHAPE)).float().eval()  # type: ignore[arg-type]
    if setup == "full":
        prm, ref = copy.deepcopy(base), copy.deepcopy(base)
        ref.requires_grad_(False)
        return base, prm, ref
    lora = LoraSettings(rank=rank, alpha=2.0 * rank)
    gc = setup == "lora-gc"
    return build_lora_views(base, lora, with_prm=setup != "self", with_ref=True, gradient_checkpointing=gc)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One setup, one step, in this process; returns its measurements."""
    import torch

    from prime_fast.runtime.models import batched_logprobs
    from prime_fast.trainer.actor import Actor
    from prime_fast.trainer.config import AlgoConfig, OptimConfig, PRMConfig
    from prime_fast.trainer.optim import make_optimizer, make_scheduler
    from prime_fast.trainer.prm import PRMTrainer

    torch.set_num_threads(args.threads)
    base_kib = _status_kib("VmHWM")
    t0 = time.perf_counter()
    policy, prm, ref = _models(args.child, args.layers, args.rank)
    batch = _batch(args, SHAPE["vocab_size"])
    ctx = None
    if "WORLD_SIZE" in os.environ:  # one torchrun rank: shard like the trainer, take this rank's rows
        from prime_fast.trainer.context import FSDPContext
        from prime_fast.trainer.distributed import init_distributed

        ctx = FSDPContext(init_distributed("gloo"))
        policy = ctx.prepare_model(policy, trainable=True)
        prm = ctx.prepare_model(prm, trainable=True) if prm is not None else None
        ref = ctx.prepare_model(ref, trainable=False)
        start, stop = ctx.share(args.prompts)
        batch = batch.rows(slice(start * args.k, stop * args.k))
    t_build = time.perf_counter() - t0
    build_kib = _status_kib("VmHWM")
    # The step's own peak from here: building holds a full copy of the weights before FSDP2 shards
    # them (the trainer loads that way too), a transient that a sharded steady state never returns to.
    Path("/proc/self/clear_refs").write_text("5")
    rows, micro = batch.size, args.micro
    acc = torch.tensor([float(i % 2) for i in range(rows)])

    def sched(o: Any) -> Any:
        return make_scheduler(o, schedule="constant", warmup_ratio=0.0, total_steps=1)

    t0 = time.perf_counter()
    old = cast(torch.Tensor, batched_logprobs(policy, batch, micro))
    ref_logp = cast(torch.Tensor, batched_logprobs(ref, batch, micro))
    if prm is not None:
        p_opt = make_optimizer(prm, lr=1e-6)
        cfg = PRMConfig(mini_batch_size=rows, micro_batch_size=micro)
        scores, _ = PRMTrainer(prm, ref, cfg, args.k, p_opt, sched(p_opt)).step(batch, acc, ref_logp)
    else:  # self-PRM: the policy's own implicit reward, no PRM model and no PRM update
        scores = 0.05 * (old - ref_logp) * batch.response_mask
    a_opt = make_optimizer(policy, lr=1e-6)
    o_cfg = OptimConfig(mini_batch_size=rows, micro_batch_size=micro, shuffle=False)
    actor = Actor(policy, o_cfg, AlgoConfig(), a_opt, sched(a_opt))
    adv = (scores + acc[:, None]) * batch.response_mask
    actor.update(batch, old, adv, torch.Generator().manual_seed(0))
    t_step = time.perf_counter() - t0
    n_train = sum(
        p.numel() for o in (policy, prm) if o is not None for p in o.parameters() if p.requires_grad
    )
    rank = 0
    if ctx is not None:  # (a sharded parameter's numel() is its global size)
        rank = ctx.rank
        ctx.close()
    return {
        "setup": args.child,
        "layers": args.layers,
        "rank": rank,
        "peak_mib": (_status_kib("VmHWM") - base_kib) / 1024,
        "build_peak_mib": (build_kib - base_kib) / 1024,
        "imports_mib": base_kib / 1024,
        "trainable_params": n_train,
        "build_s": t_build,
        "step_s": t_step,
    }


def run_child(args: argparse.Namespace, setup: str, layers: int) -> dict[str, Any]:
    launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.world}"]
    cmd = [
        sys.executable,
        *(launch if args.world > 1 else []),
        "-m",
        "benches.bench_lora",
        "--child",
        setup,
        "--layers",
        str(layers),
        *("--rank", str(args.rank), "--prompts", str(args.prompts), "--k", str(args.k)),
        *("--prompt-len", str(args.prompt_len), "--new-tokens", str(args.new_tokens)),
        *("--micro", str(args.micro), "--threads", str(args.threads)),
    ]
    env = dict(os.environ)
    if args.mmap_threshold:
        # A fixed glibc mmap threshold: every tensor above it is its own mapping, returned on free,
        # so the high-water mark follows the live tensors instead of the heap's history (with
        # glibc's dynamic threshold, repeated runs of one setup differed by over 1 GiB).
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
    with tempfile.TemporaryDirectory() as result:
        out = subprocess.run([*cmd, "--result", result], capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"{setup} @ {layers} layers failed:\n{out.stderr[-3000:]}")
        ranks = [json.loads(f.read_text()) for f in sorted(Path(result).glob("rank*.json"))]
    worst = max(ranks, key=lambda r: r["peak_mib"])  # the rank that needs the most memory
    return dict(worst, ranks=len(ranks), peak_mib_per_rank=[r["peak_mib"] for r in ranks])


def trainable_at(setup: str, args: argparse.Namespace) -> int:
    """Trainable parameters of a setup at ``--layers`` depth, counted on the meta device."""
    import torch

    with torch.device("meta"):
        policy, prm, _ = _models(setup, args.layers, args.rank)
    return sum(p.numel() for o in (policy, prm) if o is not None for p in o.parameters() if p.requires_grad)


def fit(points: list[dict[str, Any]], layers: int) -> float:
    """Linear extrapolation of peak MiB in the layer count through the two measured depths."""
    (a, pa), (b, pb) = sorted((p["layers"], p["peak_mib"]) for p in points)[:2]
    return pa + (pb - pa) * (layers - a) / (b - a)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=SETUPS, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)  # the child's output directory
    ap.add_argument("--layers", type=int, default=FULL_LAYERS)
    ap.add_argument("--fit-layers", type=int, nargs=2, default=(1, 4), help="depths measured for the fit")
    ap.add_argument("--setups", nargs="*", choices=SETUPS, default=list(SETUPS))
    ap.add_argument(
        "--direct", nargs="*", default=["lora", "self", "lora-gc"], help="setups also measured at --layers"
    )
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--world", type=int, default=1, help="torchrun ranks (FSDP2); the largest rank's peak")
    ap.add_argument(
        "--mmap-threshold",
        type=int,
        default=128 * 1024,
        help="MALLOC_MMAP_THRESHOLD_ of the children in bytes (0: glibc's dynamic default)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.child:
        res = child(args)
        Path(args.result, f"rank{res['rank']}.json").write_text(json.dumps(res), encoding="utf-8")
        return 0
    if args.world < 1 or args.prompts % args.world:
        ap.error(f"--world: expected >= 1 and dividing --prompts ({args.prompts}), got {args.world}")

    setups = [s for s in SETUPS if s in args.setups]
    points: dict[str, list[dict[str, Any]]] = {s: [] for s in setups}
    for setup in setups:
        for layers in args.fit_layers:
            points[setup].append(run_child(args, setup, layers))
            print(
                f"  measured {setup:5s} @ {layers:2d} layers: {points[setup][-1]['peak_mib']:8.0f} MiB",
                flush=True,
            )
    direct = {}
    for setup in [s for s in args.direct if s in setups]:
        direct[setup] = run_child(args, setup, args.layers)
        print(
            f"  measured {setup:5s} @ {args.layers} layers: {direct[setup]['peak_mib']:8.0f} MiB", flush=True
        )
    fitted = {s: fit(points[s], args.layers) for s in setups}
    full = fitted["full"]
    print(
        f"\nOne PRIME step, random Qwen2.5-0.5B shape ({args.layers} layers), fp32, CPU, "
        f"{args.prompts} prompts x K={args.k} x {args.new_tokens} new tokens (prompt {args.prompt_len}), "
        f"LoRA rank {args.rank} on all linear layers"
        + (f"; {args.world} FSDP2 ranks, peak of the largest rank" if args.world > 1 else "")
    )
    print(
        f"{'setup':8s} {'peak MiB (fit)':>15s} {'measured':>10s} {'x full':>8s} {'trainable':>12s} {'step s':>8s}"
    )
    table = []
    for s in setups:
        d = direct.get(s)
        best = d["peak_mib"] if d else fitted[s]
        row = {
            "setup": s,
            "peak_mib_fit": fitted[s],
            "peak_mib_measured": d["peak_mib"] if d else None,
            "ratio_to_full": best / full,
            "trainable_params": d["trainable_params"] if d else trainable_at(s, args),
            "step_s": d["step_s"] if d else None,
        }
        table.append(row)
        meas = f"{d['peak_mib']:10.0f}" if d else f"{'-':>10s}"
        step = f"{d['step_s']:8.1f}" if d else f"{'-':>8s}"
        print(
            f"{s:8s} {fitted[s]:15.0f} {meas} {row['ratio_to_full']:8.3f} {row['trainable_params']:12d} {step}"
        )
    if args.json:
        info = {
            "machine": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        }
        blob = {
            "args": {k: v for k, v in vars(args).items() if k != "json"},
            "env": info,
            "points": points,
            "direct": direct,
            "table": table,
        }
        save_json(args.json, blob)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
