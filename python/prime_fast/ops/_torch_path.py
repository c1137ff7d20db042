"""Chunked, memory-efficient PyTorch implementations (the CPU path and ``PRIME_FAST_KERNELS=torch``).

Rows are processed in chunks sized so that one chunk's float32 logits stay under ``CHUNK_BYTES``;
nothing of size ``N x V`` is ever allocated besides the caller's own logits and the gradient the
caller asked for. Statistics are float32 (float64 for float64 inputs). Forward returns
``(logp, entropy, lse)``; the backward recomputes ``p = exp(z - lse)`` per chunk.
"""

from __future__ import annotations

import torch

#: Upper bound on the float32 working set of one chunk (bytes).
CHUNK_BYTES = 64 * 1024 * 1024


def _rows_per_chunk(vocab: int, itemsize: int = 4) -> int:
    return max(1, CHUNK_BYTES // max(1, vocab * itemsize))


def _stats(z: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor, need_entropy: bool, owned: bool):
    # Everything relative to the row max: ``z - max`` is exact, so logp and the entropy keep full
    # float32 precision even when all logits are large (e.g. around -1000).
    zmax = z.amax(-1, keepdim=True)
    zmax = torch.where(torch.isfinite(zmax), zmax, torch.zeros_like(zmax))
    zs = z.sub_(zmax) if owned else z - zmax  # either way ``zs`` is a scratch buffer of ours from here
    safe = torch.where(valid, labels, torch.zeros_like(labels)).long()
    zy = zs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    zero = torch.zeros_like(zy)
    if need_entropy:
        e = torch.exp(zs)  # the chunk's one other buffer
        s = e.sum(-1)
        log_s = torch.log(s)
        # sum(e * zs) in place on zs; e == 0 where zs == -inf gives nan, whose term is 0
        ezs = zs.mul_(e).nan_to_num_(nan=0.0, neginf=0.0)
        ent = torch.where(valid, log_s - ezs.sum(-1) / s, zero)
    else:
        log_s = zs.exp_().sum(-1).log()
        ent = zero
    logp = torch.where(valid, zy - log_s, zero)
    return logp, ent, log_s + zmax.squeeze(-1)


def _scaled(x: torch.Tensor, dt: torch.dtype, temperature: float) -> torch.Tensor:
    z = x.to(dt)
    return z if temperature == 1.0 else z / temperature


def _dz(
    z: torch.Tensor,
    labels: torch.Tensor,
    valid: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    temperature: float,
) -> torch.Tensor:
    """d(loss)/d(logits) for a chunk: ``(g_lp (onehot - p) - g_H p (log p + H)) / T``, made in place
    in ``z`` (the chunk's scaled logits, a scratch buffer of the caller's), with one more buffer of the
    chunk's size when the entropy has a gradient (fresh pages cost as much as the arithmetic on a CPU,
    and each one is a chunk's worth of peak memory)."""
    zero = torch.zeros_like(lse)
    g = torch.where(valid, g_logp.to(z.dtype), zero)
    logq = z.sub_(lse.unsqueeze(-1))  # log p
    if g_ent is None:
        dz = logq.exp_().mul_(-g.unsqueeze(-1))
    else:
        gh = torch.where(valid, g_ent.to(z.dtype), zero)
        p = torch.exp(logq)
        # -p (g + gh (log p + H)); where p == 0 the term is 0 (log p may be -inf there).
        t = logq.add_(ent.unsqueeze(-1)).mul_(gh.unsqueeze(-1)).add_(g.unsqueeze(-1))
        dz = t.masked_fill_(p == 0, 0.0).mul_(p).neg_()
    safe = torch.where(valid, labels, torch.zeros_like(labels)).long().unsqueeze(-1)
    dz.scatter_add_(-1, safe, g.unsqueeze(-1))
    return dz if temperature == 1.0 else dz.div_(temperature)


def token_logprobs_fwd(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float, ignore_index: int, need_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``logits (N, V)``, ``labels (N,)`` -> ``(logp, entropy, lse)`` each ``(N,)``."""
    n, v = logits.shape
    dt = torch.float64 if logits.dtype == torch.float64 else torch.float32
    logp = torch.empty(n, dtype=dt, device=logits.device)
    ent = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    step = _rows_per_chunk(v, torch.finfo(dt).bits // 8)
    for s in range(0, n, step):
        e = min(n, s + step)
        z = _scaled(logits[s:e], dt, temperature)
        lab = labels[s:e]
        owned = z.data_ptr() != logits.data_ptr() + s * logits.stride(0) * logits.element_size()
        logp[s:e], ent[s:e], lse[s:e] = _stats(z, lab, lab != ignore_index, need_entropy, owned)
    return logp, ent, lse


def token_logprobs_bwd(
    logits: torch.Tensor,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    temperature: float,
    ignore_index: int,
) -> torch.Tensor:
    """Gradient w.r.t. ``logits`` (in the logits dtype), chunk by chunk."""
    n, v = logits.shape
    dt = lse.dtype
    out = torch.empty_like(logits)
    step = _rows_per_chunk(v, torch.finfo(dt).bits // 8)
    for s in range(0, n, step):
        e = min(n, s + step)
        z = _scaled(logits[s:e], dt, temperature)
        if z.data_ptr() == logits.data_ptr() + s * logits.stride(0) * logits.element_size():
            z = z.clone()  # the caller's logits: _dz works in place
        lab = labels[s:e]
        ge = None if g_ent is None else g_ent[s:e]
        out[s:e] = _dz(z, lab, lab != ignore_index, lse[s:e], ent[s:e], g_logp[s:e], ge, temperature)
    return out


def linear_token_logprobs_fwd(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    ignore_index: int,
    need_entropy: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``hidden (N, H)``, ``weight (V, H)`` -> ``(logp, entropy, lse)``; logits built per row chunk.

    The GEMM runs in float32 (float64 for float64 inputs) on upcast operands, so the CPU path holds
    one float32 copy of ``weight`` for low-precision inputs, never ``N x V``.
    """
    n = hidden.shape[0]
    v = weight.shape[0]
    dt = torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32
    w = weight.to(dt)
    logp = torch.empty(n, dtype=dt, device=hidden.device)
    ent = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    step = _rows_per_chunk(v, torch.finfo(dt).bits // 8)
    for s in range(0, n, step):
        e = min(n, s + step)
        z = _scaled(hidden[s:e].to(dt) @ w.T, dt, temperature)
        lab = labels[s:e]
        logp[s:e], ent[s:e], lse[s:e] = _stats(z, lab, lab != ignore_index, need_entropy, True)
    return logp, ent, lse


def linear_token_logprobs_bwd(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    temperature: float,
    ignore_index: int,
    need_d_hidden: bool,
    need_d_weight: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d_hidden, d_weight)`` by recomputing each chunk's logits; ``d_weight`` accumulated in fp32."""
    n = hidden.shape[0]
    v = weight.shape[0]
    dt = lse.dtype
    w = weight.to(dt)
    d_hidden = torch.empty_like(hidden) if need_d_hidden else hidden.new_empty(0)
    d_weight_acc = torch.zeros(weight.shape, dtype=dt, device=weight.device) if need_d_weight else None
    step = _rows_per_chunk(v, torch.finfo(dt).bits // 8)
    for s in range(0, n, step):
        e = min(n, s + step)
        h = hidden[s:e].to(dt)
        z = _scaled(h @ w.T, dt, temperature)
        lab = labels[s:e]
        ge = None if g_ent is None else g_ent[s:e]
        dz = _dz(z, lab, lab != ignore_index, lse[s:e], ent[s:e], g_logp[s:e], ge, temperature)
        if need_d_hidden:
            d_hidden[s:e] = dz @ w
        if d_weight_acc is not None:
            d_weight_acc.addmm_(dz.T, h)
    d_weight = d_weight_acc.to(weight.dtype) if d_weight_acc is not None else weight.new_empty(0)
    return d_hidden, d_weight
