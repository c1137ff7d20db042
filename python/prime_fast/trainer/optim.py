"""AdamW, the per-RL-step learning-rate schedules of the policy and the PRM, and the mini/micro-batch
gradient-accumulation loop both updates share."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


def make_optimizer(
    model: Any, *, lr: float, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)


def make_scheduler(
    opt: torch.optim.Optimizer, *, schedule: str, warmup_ratio: float, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A schedule stepped once per RL step: linear warmup then ``constant``/``cosine``/``linear`` decay."""
    total = max(1, total_steps)
    warm = round(warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if schedule == "constant":
            return 1.0
        frac = min(1.0, (step - warm) / max(1, total - warm))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * frac))
        return 1.0 - frac

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def accumulate_steps(
    model: Any,
    optimizer: torch.optim.Optimizer,
    order: torch.Tensor,
    *,
    mini: int,
    micro: int,
    grad_clip: float,
    micro_loss: Callable[[torch.Tensor], torch.Tensor],
) -> list[float]:
    """One optimizer step per mini-batch of ``order`` with gradients accumulated over micro-batches.

    ``order`` holds row indices; each consecutive block of ``mini`` is one mini-batch, split into
    micro-batches of ``micro`` rows. ``micro_loss(rows)`` returns a micro-batch's loss; its backward
    is scaled by ``1 / micro-batches in the mini-batch``. The gradients are norm-clipped to
    ``grad_clip`` before each step. The model is in train mode inside and eval mode after (no
    dropout in any forward either way). Returns the grad norms before clipping, one per step.
    """
    norms: list[float] = []
    model.train()
    for s in range(0, len(order), mini):
        idx = order[s : s + mini]
        accum = -(-len(idx) // micro)
        optimizer.zero_grad(set_to_none=True)
        for ms in range(0, len(idx), micro):
            (micro_loss(idx[ms : ms + micro]) / accum).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)))
        optimizer.step()
    model.eval()
    return norms
