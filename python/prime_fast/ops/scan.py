"""Reverse affine scan ``x_t = b_t + a_t * x_{t+1}`` (``x_T = 0``) per row: discounted returns, GAE.

On CUDA (or the interpreter under ``PRIME_FAST_KERNELS=triton``) one Triton launch runs the scan
with ``tl.associative_scan``; on the torch path a log-depth (Hillis-Steele) scan of ``ceil(log2 T)``
vectorised steps replaces the Python loop over ``T`` that RL frameworks use. Always float32
(float64 for float64 inputs on the torch path); no autograd (advantages are computed without grad).
"""

from __future__ import annotations

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops._common import check_float, select_backend


def _torch_scan(b: torch.Tensor, a: torch.Tensor | None, gamma: float) -> torch.Tensor:
    t_len = b.shape[-1]
    bb = b.clone()
    aa = torch.full_like(bb, gamma) if a is None else a.to(bb.dtype).clone()
    shift = 1
    while shift < t_len:
        # Compose each position with the block starting ``shift`` later (zero beyond the row end).
        nb = bb.clone()
        na = torch.zeros_like(aa)
        nb[..., : t_len - shift] += aa[..., : t_len - shift] * bb[..., shift:]
        na[..., : t_len - shift] = aa[..., : t_len - shift] * aa[..., shift:]
        bb, aa = nb, na
        shift *= 2
    return bb


def reverse_affine_scan(b: torch.Tensor, gamma: float = 1.0, a: torch.Tensor | None = None) -> torch.Tensor:
    """``x[..., t] = b[..., t] + a[..., t] * x[..., t+1]``, with ``a = gamma`` everywhere if not given.

    Args:
        b: ``(B, T)`` or ``(T,)`` values.
        gamma: the constant decay when ``a`` is None (a run-time kernel argument).
        a: optional per-position decay of ``b``'s shape (e.g. ``gamma * mask[t+1]`` for resets).

    Returns:
        ``x`` in float32 (float64 for float64 ``b`` on the torch path), ``b``'s shape.
    """
    check_float("b", b, (1, 2))
    if a is not None:
        check_float("a", a, (1, 2))
        if a.shape != b.shape or a.device != b.device:
            raise UnsupportedInputError(
                f"a must match b's shape {tuple(b.shape)} and device {b.device}, got {tuple(a.shape)} on {a.device}"
            )
    gamma = float(gamma)
    dt = torch.float64 if b.dtype == torch.float64 else torch.float32
    b2 = b.reshape(-1, b.shape[-1]).to(dt)
    a2 = None if a is None else a.reshape(-1, a.shape[-1]).to(dt)
    if b2.numel() == 0:
        return b2.reshape(b.shape).clone()
    if select_backend(b2) == "triton":
        from prime_fast.kernels import advantage_scan

        x = advantage_scan.reverse_affine_scan(
            b2.contiguous(), gamma, None if a2 is None else a2.contiguous()
        )
    else:
        x = _torch_scan(b2, a2, gamma)
    return x.reshape(b.shape)
