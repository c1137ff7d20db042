"""Whitening, returns and process-reward normalisation (docs/ALGORITHM.md sections 6.3 and 7)."""

from __future__ import annotations

import torch

from prime_fast.algos._utils import as_float, as_mask, masked_mean
from prime_fast.errors import UnsupportedInputError
from prime_fast.ops import reverse_affine_scan

PROCESS_NORMS = ("none", "batch_norm")


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """Whiten ``values`` with the mean and unbiased variance of its entries where ``mask`` is set.

    verl's ``masked_whiten``: ``(values - mean) * rsqrt(var + eps)`` with Bessel's correction,
    applied to every entry (the caller masks the result); ``shift_mean=False`` adds the mean back.

    Raises:
        UnsupportedInputError: fewer than two entries are set (the unbiased variance is undefined).
    """
    if not isinstance(values, torch.Tensor):
        raise UnsupportedInputError(f"values must be a torch.Tensor, got {type(values).__name__}")
    m = as_mask(mask, values.shape, values.device)
    count = int(m.sum())
    if count < 2:
        raise UnsupportedInputError(
            f"masked_whiten needs at least 2 valid entries for an unbiased variance, got {count}"
        )
    mean = masked_mean(values, m)
    centered = values - mean
    var = (torch.where(m, centered, torch.zeros_like(centered)) ** 2).sum() / (count - 1)
    out = centered * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out


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
    scores: torch.Tensor, mask: torch.Tensor, method: str = "batch_norm"
) -> torch.Tensor:
    """PRIME's ``prime_norm`` (docs/ALGORITHM.md 6.3) over the rows given (one data-parallel rank).

    ``batch_norm``: ``scores / (max |reverse_cumsum(scores)| + 1e-6)`` with scores zeroed outside the
    mask; ``none``: the masked scores unchanged.
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
    return s / (ret.abs().max() + 1e-6)
