"""Whitening, returns and process-reward normalisation (docs/ALGORITHM.md sections 6.3 and 7)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from prime_fast.algos._utils import as_float, as_mask
from prime_fast.errors import UnsupportedInputError
from prime_fast.ops import reverse_affine_scan

PROCESS_NORMS = ("none", "batch_norm")


def masked_whiten(
    values: torch.Tensor,
    mask: torch.Tensor,
    *,
    shift_mean: bool = True,
    eps: float = 1e-8,
    all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Whiten ``values`` with the mean and unbiased variance of its entries where ``mask`` is set.

    verl's ``masked_whiten``: ``(values - mean) * rsqrt(var + eps)`` with Bessel's correction,
    applied to every entry (the caller masks the result); ``shift_mean=False`` adds the mean back.
    The sums are accumulated in float64 (the result has ``values``' dtype); with fewer than two
    valid entries the variance denominator ``count - 1`` is clamped to 1 (no error).

    Args:
        all_reduce: sums a tensor over every data-parallel rank (in place or not; its return value
            is used). With it the statistics are those of all ranks' valid entries together: the
            same result as whitening the unsplit batch in one process.
    """
    if not isinstance(values, torch.Tensor):
        raise UnsupportedInputError(f"values must be a torch.Tensor, got {type(values).__name__}")
    reduce = all_reduce or (lambda t: t)
    m = as_mask(mask, values.shape, values.device).to(torch.float64)
    x = values.to(torch.float64)
    stats = reduce(torch.stack([m.sum(), (x * m).sum()]))
    count, mean = stats[0], stats[1] / stats[0].clamp_min(1.0)
    sq = reduce(((x - mean) ** 2 * m).sum())
    var = sq / (count - 1).clamp_min(1.0)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out.to(values.dtype)


def discounted_returns(
    rewards: torch.Tensor, gamma: float = 1.0, mask: torch.Tensor | None = None, *, reset: bool = False
) -> torch.Tensor:
    """``G_t = r_t + gamma * G_{t+1}`` over each row of ``(B, T)`` rewards, in one scan.

    Args:
        rewards: ``(B, T)`` per-token rewards (float32 result; float64 kept).
        gamma: discount.
        mask: ``(B, T)`` valid tokens; used only with ``reset``.
        reset: zero the running return outside the mask (verl REINFORCE++:
            ``G_t = r_t + gamma * m_{t+1} * G_{t+1}``); without it (PRIME) the return runs over the
            whole padded row.

    Runs the Triton scan on CUDA (or the interpreter when ``PRIME_FAST_KERNELS=triton``) and a
    log-depth torch scan on the CPU.
    """
    r = as_float("rewards", rewards, 2)
    if not reset:
        return reverse_affine_scan(r, gamma)
    if mask is None:
        raise UnsupportedInputError("discounted_returns(reset=True) needs a mask")
    m = as_mask(mask, r.shape, r.device).to(r.dtype)
    a = torch.zeros_like(r)
    a[:, :-1] = gamma * m[:, 1:]
    return reverse_affine_scan(r, gamma, a)


def normalize_process_rewards(
    scores: torch.Tensor,
    mask: torch.Tensor,
    method: str = "batch_norm",
    *,
    all_reduce_max: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """PRIME's ``prime_norm`` (docs/ALGORITHM.md 6.3) over the rows given (one data-parallel rank).

    ``batch_norm``: ``scores / (max |reverse_cumsum(scores)| + 1e-6)`` with scores zeroed outside the
    mask; ``none``: the masked scores unchanged. ``all_reduce_max`` (a max over every rank) takes
    the peak over the whole batch instead of these rows (the same result as one process).
    """
    if method not in PROCESS_NORMS:
        raise UnsupportedInputError(
            f"process-reward normalisation must be one of {', '.join(PROCESS_NORMS)}, got {method!r}"
        )
    s = as_float("scores", scores, 2)
    m = as_mask(mask, s.shape, s.device)
    s = torch.where(m, s, torch.zeros_like(s))
    if method == "none":
        return s
    ret = reverse_affine_scan(s, 1.0)
    peak = ret.abs().max() if ret.numel() else torch.zeros((), dtype=s.dtype, device=s.device)
    if all_reduce_max is not None:
        peak = all_reduce_max(peak.detach().clone())
    return s / (peak + 1e-6)
