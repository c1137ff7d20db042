"""GPU pieces of the fused policy loss (``prime_fast.ops.linear_policy_loss``), one token chunk at a time.

Per chunk of rows: the logits ``hidden_c @ weight.T`` in float32 (cuBLAS, float32 output for every
input dtype), then the row kernels of :mod:`prime_fast.kernels.logprob`: the forward kernel for
``(logp, entropy, lse)`` (an online log-sum-exp over the row), and, once the per-token gradients
are known, the backward kernel writing ``dz = (g (1[v = y] - p) - g_H p (log p + H)) / T``: in place
over the float32 logits for float32 inputs, into a chunk buffer of the input dtype otherwise (the
operand of the two cuBLAS GEMMs that follow). The in-place launch is safe because each program
reads its tile of logits before writing the same tile, and no other program touches it; it uses a
fixed block (autotuning would rerun the kernel on its own output).

No new Triton kernel is needed: the three GEMMs are cuBLAS's, and the two row kernels are the
existing, tested ones.
"""

from __future__ import annotations

import torch
import triton

from prime_fast.kernels import logprob
from prime_fast.kernels._utils import interpreting
from prime_fast.kernels.linear_logprob import _mm_acc_fp32

#: Rows per chunk under Triton's interpreter (small, so tests cross chunk boundaries).
INTERPRET_ROWS = 8


def rows_per_chunk(vocab: int, budget_bytes: int) -> int:
    """Rows whose float32 logits fit ``budget_bytes`` (a multiple of 64 on GPUs for GEMM tiles)."""
    if interpreting():
        return INTERPRET_ROWS
    rows = max(1, budget_bytes // (4 * vocab))
    return rows if rows < 64 else rows // 64 * 64


def logits_fp32(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``hidden @ weight.T`` with float32 output (float32 accumulation for every input dtype)."""
    if hidden.dtype == torch.float32:
        return hidden @ weight.T
    out = torch.zeros((hidden.shape[0], weight.shape[0]), dtype=torch.float32, device=hidden.device)
    _mm_acc_fp32(out, hidden, weight.T)
    return out


def chunk_stats(
    z: torch.Tensor, labels: torch.Tensor, temperature: float, ignore_index: int, need_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 ``(logp, entropy, lse)`` of the chunk's logits ``z`` (``(n, V)``, float32)."""
    return logprob.logprob_fwd(z, labels, temperature, ignore_index, need_entropy)


def _block(vocab: int) -> int:
    if interpreting():
        return 32
    return min(4096, triton.next_power_of_2(vocab))


def chunk_logit_grads(
    z: torch.Tensor,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    temperature: float,
    ignore_index: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The loss's gradient w.r.t. the chunk's (unscaled) logits, in ``dtype`` (over ``z`` if float32)."""
    n, v = z.shape
    out = z if dtype == torch.float32 else torch.empty((n, v), dtype=dtype, device=z.device)
    if n == 0:
        return out
    has_gent = g_ent is not None
    g = g_logp.float().contiguous()
    ge = g_ent.float().contiguous() if g_ent is not None else g
    bv = _block(v)
    logprob._logprob_bwd_kernel[(n, triton.cdiv(v, bv))](
        z,
        z.stride(0),
        out,
        out.stride(0),
        labels,
        lse,
        ent,
        g,
        ge,
        v,
        1.0 / temperature,
        ignore_index,
        HAS_GENT=has_gent,
        BLOCK_V=bv,
        num_warps=1 if interpreting() else (8 if bv >= 4096 else 4),
    )
    return out


def accumulate_weight_grad(acc: torch.Tensor, dz: torch.Tensor, hidden: torch.Tensor) -> None:
    """``acc += dz.T @ hidden`` with float32 accumulation (``acc`` float32)."""
    _mm_acc_fp32(acc, dz.T, hidden)
