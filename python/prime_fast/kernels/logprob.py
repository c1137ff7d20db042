"""Log-probs of chosen tokens (and entropy) from materialised logits: forward and backward kernels.

Forward, one program per row: an online log-sum-exp over vocab blocks of ``BLOCK_V`` in float32,
keeping per row ``m`` (running max), ``s = sum exp(z - m)`` and ``sz = sum exp(z - m) (z - m)``
(rescaled when ``m`` grows), with ``z = logits / temperature``. Columns past ``V`` load as ``-inf``
before the max and the sum (the verl padding bug). The label logit is one scalar load. Outputs:
``logp = (z_y - m) - log s``, ``entropy = log s - sz / s`` (shifted, so no cancellation for large logits)
and ``lse`` for the backward, all float32. Rows whose label is ``ignore_index`` are skipped.

Backward, a 2-D grid (row, vocab block): ``d logits = (g (1[v = y] - p) - g_H p (z - lse + H)) / T``,
written once in the logits' dtype; nothing else of size ``N x V`` is allocated.

``temperature`` and ``ignore_index`` are run-time arguments. ``V`` and the row stride keep Triton's
default integer specialisation (divisibility by 16), which only creates a variant per divisibility
class, not per value, and lets the loads vectorise; ``N`` is the grid, never an argument.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from prime_fast.kernels._utils import interpreting


@triton.jit(do_not_specialize=["ignore_index"])
def _logprob_fwd_kernel(
    logits_ptr,
    stride_row,
    labels_ptr,
    logp_ptr,
    ent_ptr,
    lse_ptr,
    V,
    inv_temp,
    ignore_index,
    NEED_ENT: tl.constexpr,
    BLOCK_V: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    label = tl.load(labels_ptr + row).to(tl.int64)
    if label == ignore_index:
        tl.store(logp_ptr + row, 0.0)
        tl.store(ent_ptr + row, 0.0)
        tl.store(lse_ptr + row, 0.0)
    else:
        base = logits_ptr + row * stride_row
        m = tl.full([], float("-inf"), tl.float32)
        s = tl.zeros([], tl.float32)
        sz = tl.zeros([], tl.float32)
        for start in range(0, V, BLOCK_V):
            offs = start + tl.arange(0, BLOCK_V).to(tl.int64)
            valid = offs < V
            z = tl.load(base + offs, mask=valid, other=float("-inf")).to(tl.float32) * inv_temp
            m_new = tl.maximum(m, tl.max(z, 0))
            # All-(-inf) so far (masked tail or -inf logits): shift by 0 to avoid -inf - -inf.
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
            alpha = tl.exp(m - m_safe)
            e = tl.exp(z - m_safe)
            if NEED_ENT:
                # Never form -inf * 0 (not even in an unselected branch): masked entries shift to 0.
                zs = tl.where(e > 0.0, z - m_safe, 0.0)
                ez = e * zs
                carry = (tl.where(s > 0.0, m, m_safe) - m_safe) * s
                sz = alpha * (sz + carry) + tl.sum(ez, 0)
            s = s * alpha + tl.sum(e, 0)
            m = m_new
        m_fin = tl.where(m == float("-inf"), 0.0, m)
        log_s = tl.log(s)
        lse = m_fin + log_s
        zy = tl.load(base + label).to(tl.float32) * inv_temp
        tl.store(logp_ptr + row, (zy - m_fin) - log_s)
        tl.store(lse_ptr + row, lse)
        if NEED_ENT:
            tl.store(ent_ptr + row, log_s - sz / s)
        else:
            tl.store(ent_ptr + row, 0.0)


@triton.jit(do_not_specialize=["ignore_index"])
def _logprob_bwd_kernel(
    logits_ptr,
    stride_row,
    dlogits_ptr,
    stride_out,
    labels_ptr,
    lse_ptr,
    ent_ptr,
    glogp_ptr,
    gent_ptr,
    V,
    inv_temp,
    ignore_index,
    HAS_GENT: tl.constexpr,
    BLOCK_V: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    pid_v = tl.program_id(1).to(tl.int64)
    offs = pid_v * BLOCK_V + tl.arange(0, BLOCK_V).to(tl.int64)
    valid = offs < V
    label = tl.load(labels_ptr + row).to(tl.int64)
    out = dlogits_ptr + row * stride_out + offs
    if label == ignore_index:
        tl.store(out, tl.zeros([BLOCK_V], tl.float32).to(dlogits_ptr.dtype.element_ty), mask=valid)
    else:
        z = tl.load(logits_ptr + row * stride_row + offs, mask=valid, other=float("-inf")).to(tl.float32)
        z = z * inv_temp
        lse = tl.load(lse_ptr + row)
        p = tl.exp(z - lse)
        logq = tl.where(p > 0.0, z - lse, 0.0)
        g = tl.load(glogp_ptr + row).to(tl.float32)
        d = tl.where(offs == label, g, 0.0) - g * p
        if HAS_GENT:
            gh = tl.load(gent_ptr + row).to(tl.float32)
            h = tl.load(ent_ptr + row)
            d -= gh * p * (logq + h)
        d = d * inv_temp
        tl.store(out, d.to(dlogits_ptr.dtype.element_ty), mask=valid)


# GPU launch configurations, autotuned once per (V, flags, dtypes); the interpreter and explicit
# ``block_v`` requests use the plain kernels with a fixed block.
_FWD_CONFIGS = [
    triton.Config({"BLOCK_V": bv}, num_warps=w)
    for bv, w in ((2048, 4), (4096, 8), (8192, 16))
]
_BWD_CONFIGS = [
    triton.Config({"BLOCK_V": bv}, num_warps=w) for bv, w in ((2048, 4), (4096, 8), (8192, 8))
]
_TUNED: dict[str, object] = {}


def _tuned(name: str):
    if name not in _TUNED:
        if name == "fwd":
            _TUNED[name] = triton.autotune(configs=_FWD_CONFIGS, key=["V", "NEED_ENT"])(_logprob_fwd_kernel)
        else:
            _TUNED[name] = triton.autotune(configs=_BWD_CONFIGS, key=["V", "HAS_GENT"])(_logprob_bwd_kernel)
    return _TUNED[name]


def _fixed_block(block_v: int | None) -> int | None:
    """The block to use without autotuning (interpreter or explicit request), else None."""
    if block_v is not None:
        return block_v
    return 32 if interpreting() else None


def logprob_fwd(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    ignore_index: int,
    need_entropy: bool,
    *,
    block_v: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``logits (N, V)`` with unit column stride, ``labels (N,)`` -> float32 ``(logp, entropy, lse)``."""
    n, v = logits.shape
    logp = torch.empty(n, dtype=torch.float32, device=logits.device)
    ent = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    if n == 0:
        return logp, ent, lse
    args = (logits, logits.stride(0), labels, logp, ent, lse, v, 1.0 / temperature, ignore_index)
    bv = _fixed_block(block_v)
    if bv is None:
        _tuned("fwd")[(n,)](*args, NEED_ENT=bool(need_entropy))
    else:
        _logprob_fwd_kernel[(n,)](
            *args, NEED_ENT=bool(need_entropy), BLOCK_V=bv, num_warps=1 if interpreting() else 4
        )
    return logp, ent, lse


def logprob_bwd(
    logits: torch.Tensor,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    temperature: float,
    ignore_index: int,
    *,
    block_v: int | None = None,
) -> torch.Tensor:
    """Gradient w.r.t. ``logits`` in the logits' dtype (contiguous ``(N, V)``)."""
    n, v = logits.shape
    dlogits = torch.empty((n, v), dtype=logits.dtype, device=logits.device)
    if n == 0:
        return dlogits
    has_gent = g_ent is not None
    args = (
        logits,
        logits.stride(0),
        dlogits,
        dlogits.stride(0),
        labels,
        lse,
        ent,
        g_logp,
        g_ent if has_gent else g_logp,
        v,
        1.0 / temperature,
        ignore_index,
    )
    bv = _fixed_block(block_v)
    if bv is None:
        _tuned("bwd")[lambda meta: (n, triton.cdiv(v, meta["BLOCK_V"]))](*args, HAS_GENT=has_gent)
    else:
        _logprob_bwd_kernel[(n, triton.cdiv(v, bv))](
            *args, HAS_GENT=has_gent, BLOCK_V=bv, num_warps=1 if interpreting() else 4
        )
    return dlogits
