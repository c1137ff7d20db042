"""Child program of test_fsdp.py: PRIME steps (PRM BCE update + RLOO advantages + PPO-clip) on a tiny
Qwen2, run by ``torchrun`` with FSDP2 on gloo, or as one plain process.

Usage: ``_fsdp_child.py OUT.json --steps N [--save-at S --ckpt DIR] [--resume DIR]``.
Rollouts are fixed (seeded per step), so one process and two must give the same numbers.
Rank 0 writes losses, advantages (the whole batch, gathered) and, at a save, the full weights.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))

from _scale_models import tiny_qwen2

from prime_fast.trainer import distributed as D

G, K, P, T = 4, 4, 6, 10  # prompt groups, samples per prompt, prompt length, response length
BETA = 0.05
N_MINI = 2  # optimizer mini-batches per step (PRM and policy)
NORM_SCOPE = "global"


def rollouts(step: int) -> dict[str, torch.Tensor]:
    """A fixed batch of G*K responses for ``step``: token ids, response mask, 0/1 outcomes."""
    g = torch.Generator().manual_seed(1000 + step)
    prompts = torch.randint(2, 256, (G, P), generator=g).repeat_interleave(K, 0)
    responses = torch.randint(2, 256, (G * K, T), generator=g)
    lengths = torch.randint(3, T + 1, (G * K,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    # group accuracies 1/4, 2/4, 3/4, 2/4 (all pass PRIME's [0.2, 0.8] filter)
    acc = torch.tensor([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1], dtype=torch.float32)
    return {"input_ids": torch.cat([prompts, responses * mask.long()], 1), "mask": mask, "acc": acc}


def response_logprobs(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=input_ids).logits[:, P - 1 : P + T - 1].float()
    return torch.log_softmax(logits, -1).gather(-1, input_ids[:, P:, None])[..., 0]


def rloo(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Leave-one-out over contiguous groups of K at masked positions, then undiscounted returns."""
    r = rewards * mask
    mu = r.sum(-1) / mask.sum(-1).clamp_min(1)
    group_sum = mu.view(-1, K).sum(-1).repeat_interleave(K)
    r = (K * r - group_sum[:, None]) / (K - 1) * mask
    return torch.flip(torch.cumsum(torch.flip(r, [-1]), -1), [-1])


def step_fn(ctx, policy, prm, ref, opt_pi, opt_prm, step: int) -> dict[str, object]:
    minis = D.minibatch_groups(G, N_MINI, ctx)
    groups = [g for mini in minis for g in mini]  # this rank's groups, in local row order
    rows = torch.tensor([g * K + k for g in groups for k in range(K)])
    full = rollouts(step)
    ids, m, acc = (full[k][rows] for k in ("input_ids", "mask", "acc"))
    per_mini = len(minis[0]) * K
    with torch.no_grad():
        old_logp = response_logprobs(policy, ids)
        ref_logp = response_logprobs(ref, ids)

    # PRM, "after" mode: per mini-batch, scores from the training forward, then the update.
    qs, prm_losses = [], []
    for j in range(N_MINI):
        sl = slice(j * per_mini, (j + 1) * per_mini)
        q = response_logprobs(prm, ids[sl]) - ref_logp[sl]
        z = BETA * (q * m[sl]).sum(-1)
        bce = F.binary_cross_entropy_with_logits(z, acc[sl], reduction="none")
        prm_loss = D.global_token_mean(bce, torch.ones_like(bce), ctx)
        opt_prm.zero_grad()
        prm_loss.backward()
        prm_gn = torch.nn.utils.clip_grad_norm_(prm.parameters(), 10.0)
        opt_prm.step()
        qs.append(q.detach())
        prm_losses.append(prm_loss.item())
    scores = D.process_reward_norm(torch.cat(qs), m, ctx, scope=NORM_SCOPE)

    # Advantages: RLOO on process and outcome rewards (groups are rank-local), whitened globally.
    last = (m.sum(-1).long() - 1).clamp_min(0)
    outcome = torch.zeros_like(m).scatter(1, last[:, None], acc[:, None])
    onehot = torch.zeros_like(m).scatter(1, last[:, None], 1.0)
    returns = rloo(scores, m) + rloo(outcome, onehot)
    adv = D.masked_whiten(returns, m, ctx) * m

    # PPO-clip, one optimizer step per mini-batch, token-mean over the global mini-batch.
    pg_losses = []
    for j in range(N_MINI):
        sl = slice(j * per_mini, (j + 1) * per_mini)
        logp = response_logprobs(policy, ids[sl])
        ratio = torch.exp(logp - old_logp[sl])
        pg = torch.maximum(-adv[sl] * ratio, -adv[sl] * ratio.clamp(0.8, 1.2))
        pg_loss = D.global_token_mean(pg, m[sl], ctx)
        opt_pi.zero_grad()
        pg_loss.backward()
        pi_gn = torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt_pi.step()
        pg_losses.append(pg_loss.item())

    metrics: dict[str, object] = {}
    for name, values in (("prm_loss", prm_losses), ("pg_loss", pg_losses)):
        metrics.update(D.reduce_metrics({f"{name}_{j}": v for j, v in enumerate(values)}, ctx))
    metrics.update(D.reduce_metrics({"scores_abs_sum": scores.abs().sum().item()}, ctx, op="sum"))
    metrics["prm_grad_norm"] = float(prm_gn.full_tensor() if hasattr(prm_gn, "full_tensor") else prm_gn)
    metrics["pi_grad_norm"] = float(pi_gn.full_tensor() if hasattr(pi_gn, "full_tensor") else pi_gn)
    # the whole batch's advantages, back in global row order
    parts = D.gather_objects((rows.tolist(), adv.tolist()), ctx)
    order = {r: a for idx, vals in parts for r, a in zip(idx, vals)}
    metrics["advantages"] = [order[r] for r in range(G * K)]
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--save-at", type=int, default=0)
    ap.add_argument("--ckpt", default=None)
    ap.add_argument("--resume", default=None)
    ap.add_argument("--norm-scope", default="global")
    args = ap.parse_args()
    global NORM_SCOPE
    NORM_SCOPE = args.norm_scope

    torch.use_deterministic_algorithms(True)
    ctx = D.init_distributed()
    models = {}
    for name in ("policy", "prm", "ref"):
        models[name] = D.shard_model(tiny_qwen2(0).train(), ctx)
    models["ref"].requires_grad_(False)
    opt_pi = torch.optim.AdamW(models["policy"].parameters(), lr=1e-3, weight_decay=0.01)
    opt_prm = torch.optim.AdamW(models["prm"].parameters(), lr=1e-3, weight_decay=0.0)
    optims = {"policy": opt_pi, "prm": opt_prm}
    result: dict[str, object] = {"world_size": ctx.world_size, "steps": []}
    start = 1
    if args.resume:
        extra = D.load_checkpoint(
            args.resume, {"policy": models["policy"], "prm": models["prm"]}, optims, {"step": 0}
        )
        start = int(extra["step"]) + 1
        result["resumed_step"] = int(extra["step"])
        if ctx.is_main:
            result["loaded_exp_avg"] = {
                k: v["exp_avg"].flatten()[:64].tolist()
                for k, v in _full_optim(models["policy"], opt_pi).items()
            }
        result["loaded_full"] = _full_weights(models["policy"], ctx, Path(args.out).with_suffix(".loaded.pt"))
    for step in range(start, args.steps + 1):
        metrics = step_fn(ctx, models["policy"], models["prm"], models["ref"], opt_pi, opt_prm, step)
        metrics["step"] = step
        result["steps"].append(metrics)  # type: ignore[union-attr]
        if step == args.save_at:
            D.save_checkpoint(
                args.ckpt, {"policy": models["policy"], "prm": models["prm"]}, optims, {"step": step}
            )
            result["saved_full"] = _full_weights(
                models["policy"], ctx, Path(args.out).with_suffix(".saved.pt")
            )
            full_opt = _full_optim(models["policy"], opt_pi)
            if ctx.is_main:
                result["saved_exp_avg"] = {
                    k: v["exp_avg"].flatten()[:64].tolist() for k, v in full_opt.items()
                }
    if ctx.is_main:
        Path(args.out).write_text(json.dumps(result))
    D.destroy_distributed()


def _full_weights(model: torch.nn.Module, ctx: D.DistContext, path: Path) -> str:
    full = dict(D.full_named_parameters(model))
    if ctx.is_main:
        torch.save({k: v.clone() for k, v in full.items()}, path)
    return str(path)


def _full_optim(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, dict[str, torch.Tensor]]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    sd = get_optimizer_state_dict(
        model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    return {k: v for k, v in sd.get("state", {}).items() if isinstance(v, dict) and "exp_avg" in v}


if __name__ == "__main__":
    main()
