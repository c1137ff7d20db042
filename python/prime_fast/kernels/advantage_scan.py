"""Reverse affine scan ``x_t = b_t + a_t x_{t+1}`` (``x_T = 0``) per row in one launch.

One program per row walks the row from its end in blocks of ``BLOCK_T``, loading each block in
reversed order, and runs ``tl.associative_scan`` over the pairs ``(a, b)`` with the affine
combine ``(a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2)``; the value at the block's lowest ``t`` is
carried into the next block. ``a`` is either a tensor or the constant ``gamma`` (a run-time
argument). Covers discounted returns (PRIME, no reset), REINFORCE++ resets
(``a_t = gamma m_{t+1}``) and both scans of GAE with skip masking. float32 throughout.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from prime_fast.kernels._utils import interpreting


@triton.jit
def _affine_combine(a1, b1, a2, b2):
    return a1 * a2, a2 * b1 + b2


@triton.jit(do_not_specialize=["T"])
def _reverse_scan_kernel(
    b_ptr,
    a_ptr,
    x_ptr,
    T,
    gamma,
    HAS_A: tl.constexpr,
    BLOCK_T: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = row * T
    idx = tl.arange(0, BLOCK_T).to(tl.int64)
    carry = tl.zeros([], tl.float32)
    for start in range(0, T, BLOCK_T):
        t = T - 1 - start - idx  # processing order: decreasing t
        valid = t >= 0
        b = tl.load(b_ptr + base + t, mask=valid, other=0.0).to(tl.float32)
        if HAS_A:
            a = tl.load(a_ptr + base + t, mask=valid, other=1.0).to(tl.float32)
        else:
            a = tl.where(valid, gamma, 1.0).to(tl.float32)
        # a_t multiplies x_{t+1}, the element processed just before t.
        acc_a, acc_b = tl.associative_scan((a, b), 0, _affine_combine)
        x = acc_a * carry + acc_b
        tl.store(x_ptr + base + t, x, mask=valid)
        carry = tl.sum(tl.where(idx == BLOCK_T - 1, x, 0.0), 0)


def reverse_affine_scan(
    b: torch.Tensor, gamma: float, a: torch.Tensor | None = None, *, block_t: int | None = None
) -> torch.Tensor:
    """``b`` (and ``a``): contiguous float32 ``(B, T)``; returns float32 ``x`` of the same shape."""
    rows, t_len = b.shape
    x = torch.empty((rows, t_len), dtype=torch.float32, device=b.device)
    if rows == 0 or t_len == 0:
        return x
    if block_t is None:
        block_t = 64 if interpreting() else min(2048, max(16, triton.next_power_of_2(t_len)))
    _reverse_scan_kernel[(rows,)](
        b,
        a if a is not None else b,
        x,
        t_len,
        float(gamma),
        HAS_A=a is not None,
        BLOCK_T=block_t,
        num_warps=1 if interpreting() else 4,
    )
    return x
