"""PPO-clip policy loss (defined in :mod:`prime_fast.ops.ppo`, below the fused op that reproduces it) and the
implicit PRM's cross-entropy loss and accuracy (docs/ALGORITHM.md 6.4, 6.6, 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from prime_fast.algos._utils import as_float, as_mask, check_groups
from prime_fast.constants import PRM_BETA
from prime_fast.errors import UnsupportedInputError
from prime_fast.ops.ppo import AGGREGATIONS, ppo_clip_loss

DEFAULT_PRM_BETA = PRM_BETA
"""PRIME's ``beta_train`` (:data:`prime_fast.constants.PRM_BETA`)."""


def prm_bce_loss(
    process_scores: torch.Tensor,
    mask: torch.Tensor,
    outcome_rewards: torch.Tensor,
    *,
    beta: float = DEFAULT_PRM_BETA,
) -> torch.Tensor:
    """PRIME's PRM loss (``compute_ce_dpo_loss_rm``): ``BCE(sigmoid(beta * sum_t m q), acc)``, mean over rows.

    Args:
        process_scores: ``(B, T)`` raw ``q = logp_prm - logp_ref`` (with grad).
        mask: ``(B, T)`` valid tokens.
        outcome_rewards: ``(B,)`` labels in ``[0, 1]`` (fractional code scores act as soft labels).
        beta: ``beta_train`` (0.05 in PRIME).
    """
    q = process_scores
    if not isinstance(q, torch.Tensor) or q.dim() != 2:
        raise UnsupportedInputError("process_scores must be a (B, T) tensor")
    m = as_mask(mask, q.shape, q.device)
    acc = as_float("outcome_rewards", outcome_rewards, 1)
    if acc.shape[0] != q.shape[0]:
        raise UnsupportedInputError(f"outcome_rewards must have {q.shape[0]} values, got {acc.shape[0]}")
    if bool(((acc < 0) | (acc > 1)).any()):
        raise UnsupportedInputError("outcome_rewards must lie in [0, 1] to be BCE labels")
    qf = q if q.dtype == torch.float64 else q.float()
    z = beta * torch.where(m, qf, torch.zeros_like(qf)).sum(-1)
    return F.binary_cross_entropy_with_logits(z, acc.to(z.dtype))


@torch.no_grad()
def prm_pairwise_accuracy(
    scores: torch.Tensor, outcome_rewards: torch.Tensor, n_samples: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """PRIME's ``compute_dpo_accuracy``: how often the PRM orders pairs of a group like the verifier.

    Per group of ``n_samples`` contiguous rows: over all pairs ``i < j`` with ``d = acc_i - acc_j``,
    ``s = S_i - S_j`` (``S`` = row sum of masked ``scores``, or ``scores`` itself if 1-D),
    ``sum 1[(s > 0) == (d > 0)] |d| / sum |d|``, or 0.5 if all ``d`` are 0. Returns the mean over groups.
    """
    acc = as_float("outcome_rewards", outcome_rewards, 1)
    if scores.dim() == 2:
        m = (
            as_mask(mask, scores.shape, scores.device)
            if mask is not None
            else torch.ones_like(scores, dtype=torch.bool)
        )
        s_tot = torch.where(m, scores.float(), torch.zeros((), device=scores.device)).sum(-1)
    elif scores.dim() == 1:
        s_tot = scores.float()
    else:
        raise UnsupportedInputError(f"scores must be (B, T) or (B,), got shape {tuple(scores.shape)}")
    if s_tot.shape[0] != acc.shape[0]:
        raise UnsupportedInputError(f"outcome_rewards must have {s_tot.shape[0]} values, got {acc.shape[0]}")
    k = check_groups(acc.shape[0], n_samples)
    g = acc.shape[0] // k
    a = acc.float().view(g, k)
    s = s_tot.view(g, k)
    d = a.unsqueeze(-1) - a.unsqueeze(-2)
    ds = s.unsqueeze(-1) - s.unsqueeze(-2)
    upper = torch.triu(torch.ones(k, k, dtype=torch.bool, device=acc.device), diagonal=1)
    w = d.abs() * upper
    agree = ((ds > 0) == (d > 0)).float()
    num = (agree * w).sum((-1, -2))
    den = w.sum((-1, -2))
    per_group = torch.where(den > 0, num / den.clamp(min=1e-30), torch.full_like(den, 0.5))
    return per_group.mean()


__all__ = ["AGGREGATIONS", "DEFAULT_PRM_BETA", "ppo_clip_loss", "prm_bce_loss", "prm_pairwise_accuracy"]
