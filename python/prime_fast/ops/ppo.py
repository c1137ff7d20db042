"""PPO's clipped surrogate on per-token log-probs (PRIME ``compute_policy_loss``): the loss
``algos.ppo_clip_loss`` is, and the semantics the fused LM-head policy loss (:mod:`prime_fast.ops.policy_loss`)
reproduces. It lives here, below ``algos``, so that the fused op needs nothing above ``ops``."""

from __future__ import annotations

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops.masked import as_mask, masked_mean

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum")


def aggregate(x: torch.Tensor, m: torch.Tensor, how: str) -> torch.Tensor:
    """``x`` reduced over the valid tokens ``m``: ``token-mean``, or the mean over rows (with a valid token)
    of each row's token mean (``seq-mean-token-mean``) or token sum (``seq-mean-token-sum``)."""
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
    pg_loss = aggregate(per_token, m, aggregation)
    loss = pg_loss
    metrics: dict[str, torch.Tensor] = {}
    if entropy is not None:
        ent = aggregate(entropy.to(lp.dtype), m, aggregation)
        loss = loss - entropy_coef * ent
        metrics["entropy"] = ent.detach()
    with torch.no_grad():
        metrics["pg_loss"] = pg_loss.detach()
        metrics["pg_clipfrac"] = masked_mean((loss2 > loss1).to(lp.dtype), m)
        metrics["pg_clipfrac_lower"] = masked_mean(lower.to(lp.dtype), m)
        metrics["ppo_kl"] = masked_mean(-log_ratio, m)
        metrics["approx_kl"] = masked_mean(ratio - 1.0 - log_ratio, m)
    return loss, metrics


__all__ = ["AGGREGATIONS", "aggregate", "ppo_clip_loss"]
