"""AdamW and the per-RL-step learning-rate schedules of the policy and the PRM."""

from __future__ import annotations

import math
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
