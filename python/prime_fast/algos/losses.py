"""PPO-clip policy loss and the implicit PRM's cross-entropy loss and accuracy (docs/ALGORITHM.md 6.4, 6.6, 8)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from prime_fast.algos._utils import as_float, as_mask, check_groups, masked_mean
from prime_fast.constants import PRM_BETA
from prime_fast.errors import UnsupportedInputError

DEFAULT_PRM_BETA = PRM_BETA
"""PRIME's ``beta_train`` (:data:`prime_fast.constants.PRM_BETA`)."""

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def _aggregate(x: torch.Tensor, m: torch.Tensor, how: str) -> torch.Tensor:
    if how == "token-mean":
        return masked_mean(x, m)
    per_seq = (
        masked_mean(x, m, dim=-1)
        if how == "seq-mean-token-mean"
        else torch.where(m, x, torch.zeros_like(x)).sum(-1)
    )
    has = m.any(-1)
    return masked_mean(per_seq, has)


def ppo_clip_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_ratio: float = 0.2,
    clip_ratio_low: float | None = None,
    clip_ratio_high: float | None = None,
    dual_clip: float | None = None,
    aggregation: str = "token-mean",
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate (PRIME ``compute_policy_loss``), differentiable in ``logp``.

    ``ratio = exp(logp - old_logp)`` (log-ratio clamped to +-20 against overflow);
    ``L = max(-A ratio, -A clip(ratio, 1 - eps_low, 1 + eps_high))``; with ``dual_clip = c > 1`` the
    loss of negative-advantage tokens is capped at ``-A c`` (Dual-clip PPO). Aggregation:
    ``token-mean`` over all valid tokens (PRIME), or the mean over rows of each row's token mean or
    token sum. ``entropy`` (per token) is subtracted times ``entropy_coef``.

    Returns:
        ``(loss, metrics)`` with detached scalars ``pg_loss``, ``pg_clipfrac`` (fraction of valid
        tokens where clipping is active), ``pg_clipfrac_lower`` (dual clip active), ``ppo_kl``
        (``mean(old_logp - logp)``, PRIME's metric), ``approx_kl`` (k3: ``mean(ratio - 1 - log ratio)``)
        and ``entropy`` if given.
    """
    if aggregation not in AGGREGATIONS:
        raise UnsupportedInputError(
            f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}"
        )
    for name, t in (("logp", logp), ("old_logp", old_logp), ("advantages", advantages)):
        if not isinstance(t, torch.Tensor):
            raise UnsupportedInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.shape != logp.shape:
            raise UnsupportedInputError(
                f"{name} must have logp's shape {tuple(logp.shape)}, got {tuple(t.shape)}"
            )
    if logp.dim() != 2:
        raise UnsupportedInputError(f"logp must be (B, T), got shape {tuple(logp.shape)}")
    m = as_mask(mask, logp.shape, logp.device)
    lo = clip_ratio if clip_ratio_low is None else clip_ratio_low
    hi = clip_ratio if clip_ratio_high is None else clip_ratio_high
    if dual_clip is not None and not dual_clip > 1.0:
        raise UnsupportedInputError(f"dual_clip must be > 1.0, got {dual_clip}")
    lp = logp.float() if logp.dtype != torch.float64 else logp
    adv = advantages.detach().to(lp.dtype)
    log_ratio = torch.clamp(lp - old_logp.detach().to(lp.dtype), -20.0, 20.0)
    ratio = torch.exp(log_ratio)
    loss1 = -adv * ratio
    loss2 = -adv * torch.clamp(ratio, 1.0 - lo, 1.0 + hi)
    clipped = torch.maximum(loss1, loss2)
    per_token = clipped
    lower = torch.zeros_like(m)
    if dual_clip is not None:
        loss3 = -adv * dual_clip
        lower = (clipped > loss3) & (adv < 0)
        per_token = torch.where(adv < 0, torch.minimum(clipped, loss3), clipped)
    pg_loss = _aggregate(per_token, m, aggregation)
    loss = pg_loss
    metrics: dict[str, torch.Tensor] = {}
    if entropy is not None:
        ent = _aggregate(entropy.to(lp.dtype), m, aggregation)
        loss = loss - entropy_coef * ent
        metrics["entropy"] = ent.detach()
    with torch.no_grad():
        metrics["pg_loss"] = pg_loss.detach()
        metrics["pg_clipfrac"] = masked_mean((loss2 > loss1).to(lp.dtype), m)
        metrics["pg_clipfrac_lower"] = masked_mean(lower.to(lp.dtype), m)
        metrics["ppo_kl"] = masked_mean(-log_ratio, m)
        metrics["approx_kl"] = masked_mean(ratio - 1.0 - log_ratio, m)
    return loss, metrics


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
