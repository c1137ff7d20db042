"""Per-token pieces of the fused policy loss: aggregation weights, KL penalties and the closed-form
gradient of PPO-clip with respect to each token's log-prob.

Everything here works on ``(n,)`` or ``(B, T)`` vectors (never ``N x V``), so the fused op can make
each chunk's logit gradient in the forward. The gradients reproduce what autograd computes through
:func:`prime_fast.algos.ppo_clip_loss`, boundary cases included:

- ``torch.clamp`` passes the gradient where ``lo <= x <= hi`` (both ends inclusive);
- ``torch.maximum`` / ``torch.minimum`` split it equally between the two inputs on a tie;
- ``torch.where`` sends it to the branch that was selected.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops.ppo import AGGREGATIONS

#: KL penalties against reference log-probs (``d = logp - ref_logp``): ``k1`` = ``d``, ``k2`` =
#: ``d^2 / 2``, ``k3`` (the "low-variance" estimator) = ``exp(-d) + d - 1`` with ``-d`` clamped to +-20.
KL_TYPES = ("k1", "k2", "k3")

#: Log-ratio clamp of ``ppo_clip_loss`` (against overflow of ``exp``), reused by ``k3``.
LOG_RATIO_CLAMP = 20.0


@dataclass(frozen=True)
class PolicyLossOptions:
    """The loss's keywords, validated (see :func:`prime_fast.ops.linear_policy_loss`)."""

    clip_low: float
    clip_high: float
    dual_clip: float | None
    aggregation: str
    entropy_coef: float
    kl_coef: float
    kl_type: str
    temperature: float
    ignore_index: int
    compute_entropy: bool
    has_ref: bool
    kl_ratio_weighted: bool = False


def check_options(
    *,
    clip_ratio: float,
    clip_ratio_low: float | None,
    clip_ratio_high: float | None,
    dual_clip: float | None,
    aggregation: str,
    entropy_coef: float,
    kl_coef: float,
    kl_type: str,
    temperature: float,
    ignore_index: int,
    compute_entropy: bool,
    has_ref: bool,
    kl_ratio_weighted: bool = False,
) -> PolicyLossOptions:
    """Validate the keywords; :class:`UnsupportedInputError` naming the bad one."""
    if aggregation not in AGGREGATIONS:
        raise UnsupportedInputError(
            f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}"
        )
    if kl_type not in KL_TYPES:
        raise UnsupportedInputError(f"kl_type must be one of {', '.join(KL_TYPES)}, got {kl_type!r}")
    for name, value in (("clip_ratio", clip_ratio), ("entropy_coef", entropy_coef), ("kl_coef", kl_coef)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnsupportedInputError(f"{name} must be a float, got {value!r}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise UnsupportedInputError(f"dual_clip must be > 1.0, got {dual_clip}")
    if entropy_coef != 0.0 and not compute_entropy:
        raise UnsupportedInputError("entropy_coef must be 0 when compute_entropy is False")
    if kl_coef != 0.0 and not has_ref:
        raise UnsupportedInputError("kl_coef != 0 needs ref_logp (the reference policy's log-probs)")
    if not isinstance(kl_ratio_weighted, bool):
        raise UnsupportedInputError(f"kl_ratio_weighted must be a bool, got {kl_ratio_weighted!r}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise UnsupportedInputError(f"ignore_index must be an int, got {ignore_index!r}")
    return PolicyLossOptions(
        clip_low=float(clip_ratio if clip_ratio_low is None else clip_ratio_low),
        clip_high=float(clip_ratio if clip_ratio_high is None else clip_ratio_high),
        dual_clip=None if dual_clip is None else float(dual_clip),
        aggregation=aggregation,
        entropy_coef=float(entropy_coef),
        kl_coef=float(kl_coef),
        kl_type=kl_type,
        temperature=float(temperature),
        ignore_index=ignore_index,
        compute_entropy=bool(compute_entropy),
        has_ref=has_ref,
        kl_ratio_weighted=kl_ratio_weighted,
    )


def aggregation_weights(mask: torch.Tensor, aggregation: str, dtype: torch.dtype) -> torch.Tensor:
    """``(B, T)`` weights ``w`` with ``aggregate(x) = sum(w * x)`` for every per-token ``x``.

    They depend on the mask only (``token-mean``: ``m / sum(m)``; ``seq-mean-token-mean``:
    ``m / (count_b * rows)``; ``seq-mean-token-sum``: ``m / rows``, with ``rows`` the rows that have a
    valid token), which is what lets the fused op know every token's gradient before any logit exists.
    Empty selections give zero weights, as ``masked_mean`` gives 0 there.
    """
    m = mask.to(dtype)
    if aggregation == "token-mean":
        count = m.sum()
        return m / count if bool(count > 0) else torch.zeros_like(m)
    per_row = m.sum(-1, keepdim=True)
    rows = (per_row > 0).to(dtype).sum()
    if not bool(rows > 0):
        return torch.zeros_like(m)
    if aggregation == "seq-mean-token-mean":
        return m / per_row.clamp(min=1) / rows
    return m / rows


def _tie_weight(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The share of the gradient of ``maximum(a, b)`` that goes to ``a``: 1, 0.5 on a tie, else 0."""
    return torch.where(a > b, 1.0, torch.where(a == b, 0.5, 0.0)).to(a.dtype)


def _inside(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return ((x >= lo) & (x <= hi)).to(x.dtype)


def ppo_grad(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, opts: PolicyLossOptions
) -> torch.Tensor:
    """``d per_token / d logp`` of ``ppo_clip_loss``'s per-token loss (before aggregation)."""
    x = logp - old_logp
    log_ratio = x.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    lo, hi = 1.0 - opts.clip_low, 1.0 + opts.clip_high
    loss1 = -adv * ratio
    loss2 = -adv * ratio.clamp(lo, hi)
    to_1 = _tie_weight(loss1, loss2)
    d_ratio = -adv * (to_1 + (1.0 - to_1) * _inside(ratio, lo, hi))
    if opts.dual_clip is not None:
        clipped = torch.maximum(loss1, loss2)
        loss3 = -adv * opts.dual_clip
        # minimum(clipped, loss3): the share to ``clipped`` is the max-share of loss3 over it.
        d_ratio = d_ratio * torch.where(adv < 0, _tie_weight(loss3, clipped), 1.0)
    return d_ratio * ratio * _inside(x, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)


def _ratio(logp: torch.Tensor, old_logp: torch.Tensor) -> torch.Tensor:
    """``ppo_clip_loss``'s importance ratio ``exp(clamp(logp - old_logp, +-20))``."""
    return torch.exp((logp - old_logp).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))


def _kl(logp: torch.Tensor, ref_logp: torch.Tensor, kl_type: str) -> torch.Tensor:
    d = logp - ref_logp
    if kl_type == "k1":
        return d
    if kl_type == "k2":
        return 0.5 * d * d
    u = (-d).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return torch.exp(u) - u - 1.0


def _kl_grad(logp: torch.Tensor, ref_logp: torch.Tensor, kl_type: str) -> torch.Tensor:
    d = logp - ref_logp
    if kl_type == "k1":
        return torch.ones_like(d)
    if kl_type == "k2":
        return d
    u = (-d).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return -(torch.exp(u) - 1.0) * _inside(-d, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)


def kl_value(
    logp: torch.Tensor, ref_logp: torch.Tensor, kl_type: str, old_logp: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token KL penalty of ``logp`` against ``ref_logp`` (see :data:`KL_TYPES`); with ``old_logp``, times
    the importance ratio ``exp(logp - old_logp)`` (DeepSeek-V3.2's unbiased KL gradient, TRL's
    ``use_bias_correction_kl``)."""
    kl = _kl(logp, ref_logp, kl_type)
    return kl if old_logp is None else _ratio(logp, old_logp) * kl


def kl_grad(
    logp: torch.Tensor, ref_logp: torch.Tensor, kl_type: str, old_logp: torch.Tensor | None = None
) -> torch.Tensor:
    """``d kl_value / d logp`` (``old_logp`` held fixed)."""
    g = _kl_grad(logp, ref_logp, kl_type)
    if old_logp is None:
        return g
    x = logp - old_logp
    r = _ratio(logp, old_logp)
    return r * g + (r * _inside(x, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)) * _kl(logp, ref_logp, kl_type)


def token_grads(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    weights: torch.Tensor,
    ref_logp: torch.Tensor | None,
    opts: PolicyLossOptions,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(d loss / d logp, d loss / d entropy)`` per token for one chunk (None: no entropy term)."""
    g = weights * ppo_grad(logp, old_logp, adv, opts)
    if opts.kl_coef != 0.0 and ref_logp is not None:
        old = old_logp if opts.kl_ratio_weighted else None
        g = g + (opts.kl_coef * weights) * kl_grad(logp, ref_logp, opts.kl_type, old)
    g_ent = -opts.entropy_coef * weights if opts.entropy_coef != 0.0 else None
    return g, g_ent
