"""The LM head fused with the log-prob: ``logp = log_softmax(hidden @ weight.T / T)[label]`` without
ever materialising the ``N x V`` logits.

Forward (``_linear_fwd_kernel``): a 2-D grid ``(cdiv(N, BLOCK_M), cdiv(V, SPLIT_V))`` with the
token-block index fastest, so programs running together share one vocab split and reuse its weight
rows from L2 (verl's layout). Each program walks its split in ``BLOCK_N`` column tiles; per tile a
``tl.dot`` K-loop over ``H`` accumulates float32 logits, scaled by ``1/T``, columns past ``V`` set to
``-inf``, then an online update of the row statistics ``(m, s, sz)`` and a pick of the label logit.
Per-split partials (``4 x n_splits x N`` float32, about 2.4 MB at N = 32k, V = 152k) are merged by
``_linear_merge_kernel`` into ``logp``, ``entropy`` and ``lse``.

Backward: per vocab chunk of ``chunk`` columns, ``_linear_dz_kernel`` recomputes the logits tile
(same ``tl.dot`` loop) and writes ``dz = (g (1[v = y] - p) - g_H p (z - lse + H)) / T`` in the input
dtype into a ``N x chunk`` buffer; cuBLAS then adds ``dz @ W_chunk`` into a float32 ``d_hidden``
accumulator and writes ``d_weight[chunk] = dz.T @ hidden`` (one GEMM with float32 accumulation per
slice). Extra memory: the dz chunk (capped at ``DZ_BUDGET_BYTES``) plus the float32 ``d_hidden``.
FLOPs: 2NHV forward, 8NHV forward + backward (logits recomputed).

Specialisation: the token count ``N`` changes every batch and is not specialised; ``H``, ``V`` and
the chunk geometry keep Triton's divisibility-by-16 specialisation (aligned, vectorised tile loads).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from prime_fast.kernels._utils import autotune_enabled, dot_in_fp32, interpreting

#: Upper bound on the size of one backward ``dz`` chunk (bytes), for both layouts (see :func:`impl`).
#: On an H100 at N=32k, H=3584, V=152064 the grouped layout with 512 MiB chunks measured 1249 MiB of
#: extra memory (231.7 ms fwd+bwd); 256 MiB chunks bring it under the 1 GiB target (predicted ~1 GiB,
#: about 6 ms more traffic on the float32 d_hidden accumulator).
DZ_BUDGET_BYTES = 256 * 1024 * 1024

#: Row blocks per program group of the swizzled order (``GROUP_M``; 0 = the v1 order).
GROUP_M_GPU = 8


def impl() -> str:
    """The launch layout, from ``PRIME_FAST_LINEAR_IMPL``: ``grouped`` (default) or ``v1``.

    ``grouped``: GEMM-swizzled program order in the forward and ``dz`` kernels (``GROUP_M`` row
    blocks share L2 with a run of vocabulary blocks).
    ``v1``: the first layout (row blocks fastest, one vocabulary block at a time),
    kept selectable as a fallback. Both compute the same values with the same arithmetic.
    """
    import os

    name = os.environ.get("PRIME_FAST_LINEAR_IMPL", "grouped")
    if name not in ("grouped", "v1"):
        from prime_fast.errors import ConfigError

        raise ConfigError(f"PRIME_FAST_LINEAR_IMPL must be 'grouped' or 'v1', got {name!r}")
    return name


@triton.jit
def _logits_tile(
    h_ptr,
    w_ptr,
    rows,
    cols,
    row_ok,
    col_ok,
    H,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_F32: tl.constexpr,
    IEEE: tl.constexpr,
):
    """float32 ``hidden[rows] @ weight[cols].T`` for one ``BLOCK_M x BLOCK_N`` tile."""
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    ks = tl.arange(0, BLOCK_K).to(tl.int64)
    for k0 in range(0, H, BLOCK_K):
        k = k0 + ks
        k_ok = k < H
        h = tl.load(h_ptr + rows[:, None] * H + k[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
        w = tl.load(w_ptr + cols[:, None] * H + k[None, :], mask=col_ok[:, None] & k_ok[None, :], other=0.0)
        if DOT_F32:
            h = h.to(tl.float32)
            w = w.to(tl.float32)
        if IEEE:
            acc += tl.dot(h, tl.trans(w), input_precision="ieee")
        else:
            acc += tl.dot(h, tl.trans(w))
    return acc


@triton.jit
def _tile_ids(pid, num_m, num_n, GROUP_M: tl.constexpr):
    """``(row block, column block)`` of program ``pid`` on a ``num_m x num_n`` grid.

    ``GROUP_M = 0``: row blocks fastest (programs running together share one column block).
    ``GROUP_M > 0``: the usual GEMM swizzle; programs running together cover ``GROUP_M`` row blocks
    times a run of column blocks, so both their hidden rows and their weight rows stay in L2.
    """
    if GROUP_M == 0:
        pid_m = pid % num_m
        pid_n = pid // num_m
    else:
        width = GROUP_M * num_n
        first_m = (pid // width) * GROUP_M
        size = tl.minimum(num_m - first_m, GROUP_M)
        pid_m = first_m + (pid % width) % size
        pid_n = (pid % width) // size
    return pid_m, pid_n


@triton.jit(do_not_specialize=["N", "ignore_index"])
def _linear_fwd_kernel(
    h_ptr,
    w_ptr,
    labels_ptr,
    part_ptr,
    N,
    V,
    H,
    inv_temp,
    ignore_index,
    SPLIT_V: tl.constexpr,
    NEED_ENT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_F32: tl.constexpr,
    IEEE: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # No .to() on these: an int argument equal to 1 is specialised to a constexpr by Triton.
    n_splits = tl.cdiv(V, SPLIT_V)
    num_m = tl.cdiv(N, BLOCK_M)
    pid_m, split = _tile_ids(tl.program_id(0).to(tl.int64), num_m, n_splits, GROUP_M)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    row_ok = rows < N
    labels = tl.load(labels_ptr + rows, mask=row_ok, other=ignore_index).to(tl.int64)
    m = tl.full([BLOCK_M], float("-inf"), tl.float32)
    s = tl.zeros([BLOCK_M], tl.float32)
    sz = tl.zeros([BLOCK_M], tl.float32)
    zy = tl.zeros([BLOCK_M], tl.float32)
    v_start = split * SPLIT_V
    for n0 in range(0, SPLIT_V, BLOCK_N):
        cols = v_start + n0 + tl.arange(0, BLOCK_N).to(tl.int64)
        col_ok = cols < V
        z = _logits_tile(
            h_ptr, w_ptr, rows, cols, row_ok, col_ok, H, BLOCK_M, BLOCK_N, BLOCK_K, DOT_F32, IEEE
        )
        z = tl.where(col_ok[None, :], z * inv_temp, float("-inf"))
        zy += tl.sum(tl.where(cols[None, :] == labels[:, None], z, 0.0), 1)
        m_new = tl.maximum(m, tl.max(z, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp(m - m_safe)
        e = tl.exp(z - m_safe[:, None])
        if NEED_ENT:
            zs = tl.where(e > 0.0, z - m_safe[:, None], 0.0)
            carry = (tl.where(s > 0.0, m, m_safe) - m_safe) * s
            sz = alpha * (sz + carry) + tl.sum(e * zs, 1)
        s = s * alpha + tl.sum(e, 1)
        m = m_new
    # Partials laid out as [4, n_splits, N]: m, s, sz, z_label.
    out = part_ptr + split * N + rows
    stride = N.to(tl.int64) * n_splits
    tl.store(out, m, mask=row_ok)
    tl.store(out + stride, s, mask=row_ok)
    tl.store(out + 2 * stride, sz, mask=row_ok)
    tl.store(out + 3 * stride, zy, mask=row_ok)


@triton.jit(do_not_specialize=["N", "n_splits", "ignore_index"])
def _linear_merge_kernel(
    part_ptr,
    labels_ptr,
    logp_ptr,
    ent_ptr,
    lse_ptr,
    N,
    n_splits,
    ignore_index,
    NEED_ENT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    row_ok = rows < N
    stride = n_splits * N
    m = tl.full([BLOCK], float("-inf"), tl.float32)
    for i in range(0, n_splits):
        m = tl.maximum(m, tl.load(part_ptr + i * N + rows, mask=row_ok, other=0.0))
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    s = tl.zeros([BLOCK], tl.float32)
    sz = tl.zeros([BLOCK], tl.float32)
    zy = tl.zeros([BLOCK], tl.float32)
    for i in range(0, n_splits):
        mi = tl.load(part_ptr + i * N + rows, mask=row_ok, other=0.0)
        si = tl.load(part_ptr + stride + i * N + rows, mask=row_ok, other=0.0)
        # A split's statistics are relative to its own max mi; move them to m.
        mi_safe = tl.where(si > 0.0, mi, m_safe)
        scale = tl.exp(mi_safe - m_safe)
        s += si * scale
        if NEED_ENT:
            szi = tl.load(part_ptr + 2 * stride + i * N + rows, mask=row_ok, other=0.0)
            sz += scale * (szi + (mi_safe - m_safe) * si)
        zy += tl.load(part_ptr + 3 * stride + i * N + rows, mask=row_ok, other=0.0)
    labels = tl.load(labels_ptr + rows, mask=row_ok, other=ignore_index).to(tl.int64)
    keep = labels != ignore_index
    s = tl.where(row_ok, s, 1.0)  # rows past N: keep the arithmetic finite
    log_s = tl.log(s)
    lse = m_safe + log_s
    tl.store(logp_ptr + rows, tl.where(keep, (zy - m_safe) - log_s, 0.0), mask=row_ok)
    tl.store(lse_ptr + rows, lse, mask=row_ok)
    if NEED_ENT:
        tl.store(ent_ptr + rows, tl.where(keep, log_s - sz / s, 0.0), mask=row_ok)
    else:
        tl.store(ent_ptr + rows, tl.zeros([BLOCK], tl.float32), mask=row_ok)


@triton.jit(do_not_specialize=["N", "ignore_index"])
def _linear_dz_kernel(
    h_ptr,
    w_ptr,
    labels_ptr,
    lse_ptr,
    ent_ptr,
    glogp_ptr,
    gent_ptr,
    dz_ptr,
    N,
    V,
    H,
    c0,
    chunk,
    inv_temp,
    ignore_index,
    HAS_GENT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    DOT_F32: tl.constexpr,
    IEEE: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    num_m = tl.cdiv(N, BLOCK_M)
    num_n = tl.cdiv(chunk, BLOCK_N)  # chunk may be a constexpr (a last chunk of width 1)
    pid_m, pid_n = _tile_ids(tl.program_id(0).to(tl.int64), num_m, num_n, GROUP_M)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M).to(tl.int64)
    local = pid_n * BLOCK_N + tl.arange(0, BLOCK_N).to(tl.int64)
    cols = c0 + local
    row_ok = rows < N
    col_ok = (local < chunk) & (cols < V)
    z = _logits_tile(h_ptr, w_ptr, rows, cols, row_ok, col_ok, H, BLOCK_M, BLOCK_N, BLOCK_K, DOT_F32, IEEE)
    z = z * inv_temp
    labels = tl.load(labels_ptr + rows, mask=row_ok, other=ignore_index).to(tl.int64)
    keep = row_ok & (labels != ignore_index)
    lse = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)
    g = tl.where(keep, tl.load(glogp_ptr + rows, mask=row_ok, other=0.0).to(tl.float32), 0.0)
    logq = z - lse[:, None]
    p = tl.where(col_ok[None, :], tl.exp(logq), 0.0)
    d = tl.where(cols[None, :] == labels[:, None], g[:, None], 0.0) - g[:, None] * p
    if HAS_GENT:
        gh = tl.where(keep, tl.load(gent_ptr + rows, mask=row_ok, other=0.0).to(tl.float32), 0.0)
        h = tl.load(ent_ptr + rows, mask=row_ok, other=0.0)
        d -= gh[:, None] * p * tl.where(p > 0.0, logq + h[:, None], 0.0)
    d = d * inv_temp
    out = dz_ptr + rows[:, None] * chunk + local[None, :]
    tl.store(out, d.to(dz_ptr.dtype.element_ty), mask=row_ok[:, None] & (local < chunk)[None, :])


SPLIT_V_GPU = 1024


def _config(dtype: torch.dtype) -> dict[str, int]:
    """Fixed tiles: the interpreter's, or the GPU defaults used when autotuning is bypassed."""
    group_m = GROUP_M_GPU if impl() == "grouped" else 0
    if interpreting():
        return {
            "BLOCK_M": 16,
            "BLOCK_N": 16,
            "BLOCK_K": 16,
            "SPLIT_V": 32,
            "GROUP_M": 2 if group_m else 0,
            "num_warps": 1,
            "num_stages": 1,
        }
    if dtype == torch.float32:
        return {
            "BLOCK_M": 64,
            "BLOCK_N": 64,
            "BLOCK_K": 32,
            "SPLIT_V": SPLIT_V_GPU,
            "GROUP_M": group_m,
            "num_warps": 4,
            "num_stages": 3,
        }
    return {
        "BLOCK_M": 128,
        "BLOCK_N": 128,
        "BLOCK_K": 64,
        "SPLIT_V": SPLIT_V_GPU,
        "GROUP_M": group_m,
        "num_warps": 8,
        "num_stages": 3,
    }


def _gemm_configs(fp32: bool) -> list[triton.Config]:
    # (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages); configs that do not fit are pruned by Triton.
    if fp32:
        tiles = [(64, 64, 32, 4, 3), (128, 64, 32, 8, 3)]
    else:
        tiles = [(128, 128, 64, 8, 3), (128, 256, 64, 8, 3), (64, 128, 64, 4, 4)]
    return [
        triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=st)
        for m, n, k, w, st in tiles
    ]


_TUNED: dict[tuple[str, bool], object] = {}


def _tuned(name: str, dtype: torch.dtype):
    key = (name, dtype == torch.float32)
    if key not in _TUNED:
        kernel = _linear_fwd_kernel if name == "fwd" else _linear_dz_kernel
        flag = "NEED_ENT" if name == "fwd" else "HAS_GENT"
        _TUNED[key] = triton.autotune(configs=_gemm_configs(key[1]), key=["H", "V", flag])(kernel)
    return _TUNED[key]


def _use_tuned(config: dict[str, int] | None) -> bool:
    return config is None and not interpreting() and autotune_enabled()


def linear_logprob_fwd(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    ignore_index: int,
    need_entropy: bool,
    *,
    config: dict[str, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``hidden (N, H)``, ``weight (V, H)`` (contiguous, same dtype) -> float32 ``(logp, entropy, lse)``."""
    n, h_dim = hidden.shape
    v = weight.shape[0]
    cfg = dict(_config(hidden.dtype), **(config or {}))
    logp = torch.empty(n, dtype=torch.float32, device=hidden.device)
    ent = torch.empty_like(logp)
    lse = torch.empty_like(logp)
    if n == 0:
        return logp, ent, lse
    n_splits = triton.cdiv(v, cfg["SPLIT_V"])
    part = torch.empty((4, n_splits, n), dtype=torch.float32, device=hidden.device)
    dot_f32 = dot_in_fp32(hidden.dtype)
    ieee = hidden.dtype == torch.float32
    args = (hidden, weight, labels, part, n, v, h_dim, 1.0 / temperature, ignore_index)
    flags = {
        "SPLIT_V": cfg["SPLIT_V"],
        "NEED_ENT": bool(need_entropy),
        "DOT_F32": dot_f32,
        "IEEE": ieee,
        "GROUP_M": cfg["GROUP_M"],
    }
    if _use_tuned(config):
        _tuned("fwd", hidden.dtype)[lambda meta: (triton.cdiv(n, meta["BLOCK_M"]) * n_splits,)](
            *args, **flags
        )
    else:
        _linear_fwd_kernel[(triton.cdiv(n, cfg["BLOCK_M"]) * n_splits,)](
            *args,
            **flags,
            BLOCK_M=cfg["BLOCK_M"],
            BLOCK_N=cfg["BLOCK_N"],
            BLOCK_K=cfg["BLOCK_K"],
            num_warps=cfg["num_warps"],
            num_stages=cfg["num_stages"],
        )
    block = 16 if interpreting() else 256
    _linear_merge_kernel[(triton.cdiv(n, block),)](
        part, labels, logp, ent, lse, n, n_splits, ignore_index, NEED_ENT=bool(need_entropy), BLOCK=block
    )
    return logp, ent, lse


_MM_MODE: dict[str, str] = {}


def _acc_addmm(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)


def _acc_mm(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    acc += torch.mm(a, b, out_dtype=torch.float32)


def _acc_cast(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    acc += (a @ b).float()


_ACC_MODES = {"addmm": _acc_addmm, "mm": _acc_mm, "cast": _acc_cast}


def _pick_acc_mode(device: torch.device, dtype: torch.dtype) -> str:
    """The first float32-accumulating GEMM form this torch build supports *and* computes correctly
    (probed once per device and dtype on small matrices against a float32 GEMM)."""
    key = f"{device}-{dtype}"
    if key in _MM_MODE:
        return _MM_MODE[key]
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(64, 48, device=device, generator=gen).to(dtype)
    b = torch.randn(48, 32, device=device, generator=gen).to(dtype)
    base = torch.randn(64, 32, device=device, generator=gen)
    expected = base + a.float() @ b.float()
    chosen = "cast"
    for name in ("addmm", "mm"):
        acc = base.clone()
        try:
            _ACC_MODES[name](acc, a, b)
        except (TypeError, RuntimeError, NotImplementedError):
            continue
        if torch.allclose(acc, expected, rtol=1e-4, atol=1e-3):
            chosen = name
            break
    _MM_MODE[key] = chosen
    return chosen


def _mm_acc_fp32(acc: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``acc += a @ b`` with float32 accumulation for low-precision ``a``, ``b`` (``acc`` float32)."""
    if a.dtype == torch.float32:
        acc.addmm_(a, b)
    elif not a.is_cuda:
        acc.addmm_(a.float(), b.float())
    else:
        _ACC_MODES[_pick_acc_mode(a.device, a.dtype)](acc, a, b)


def _mm_to(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    """``out[...] = a @ b`` (one GEMM, float32 accumulation inside), written in ``out``'s dtype."""
    if not a.is_cuda and a.dtype != torch.float32:
        out.copy_(a.float() @ b.float())
    else:
        torch.mm(a, b, out=out)


def linear_logprob_bwd(
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
    *,
    config: dict[str, int] | None = None,
    chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d_hidden, d_weight)`` in the input dtype (empty tensors for the ones not needed)."""
    n, h_dim = hidden.shape
    v = weight.shape[0]
    cfg = dict(_config(hidden.dtype), **(config or {}))
    d_weight = torch.empty_like(weight) if need_d_weight else weight.new_empty(0)
    dh_acc = torch.zeros((n, h_dim), dtype=torch.float32, device=hidden.device) if need_d_hidden else None
    if chunk is None:
        per_col = max(1, n * hidden.element_size())
        align = 256 if _use_tuned(config) else cfg["BLOCK_N"]
        budget = DZ_BUDGET_BYTES
        chunk = max(align, (budget // per_col) // align * align)
        if interpreting():
            chunk = 2 * cfg["BLOCK_N"]
    chunk = min(chunk, v)
    dz = torch.empty((n, chunk), dtype=hidden.dtype, device=hidden.device)
    dot_f32 = dot_in_fp32(hidden.dtype)
    ieee = hidden.dtype == torch.float32
    has_gent = g_ent is not None
    for c0 in range(0, v, chunk):
        width = min(chunk, v - c0)
        dz_c = (
            dz[:, :width]
            if width == chunk
            else torch.empty((n, width), dtype=hidden.dtype, device=hidden.device)
        )
        if n > 0:
            args = (
                hidden,
                weight,
                labels,
                lse,
                ent,
                g_logp,
                g_ent if has_gent else g_logp,
                dz_c,
                n,
                v,
                h_dim,
                c0,
                width,
                1.0 / temperature,
                ignore_index,
            )
            flags = {"HAS_GENT": has_gent, "DOT_F32": dot_f32, "IEEE": ieee, "GROUP_M": cfg["GROUP_M"]}
            if _use_tuned(config):
                _tuned("dz", hidden.dtype)[
                    lambda meta, w_=width: (
                        triton.cdiv(n, meta["BLOCK_M"]) * triton.cdiv(w_, meta["BLOCK_N"]),
                    )
                ](*args, **flags)
            else:
                _linear_dz_kernel[(triton.cdiv(n, cfg["BLOCK_M"]) * triton.cdiv(width, cfg["BLOCK_N"]),)](
                    *args,
                    **flags,
                    BLOCK_M=cfg["BLOCK_M"],
                    BLOCK_N=cfg["BLOCK_N"],
                    BLOCK_K=cfg["BLOCK_K"],
                    num_warps=cfg["num_warps"],
                    num_stages=cfg["num_stages"],
                )
        w_c = weight[c0 : c0 + width]
        if dh_acc is not None:
            _mm_acc_fp32(dh_acc, dz_c, w_c)
        if need_d_weight:
            _mm_to(dz_c.T, hidden, d_weight[c0 : c0 + width])
    d_hidden = dh_acc.to(hidden.dtype) if dh_acc is not None else hidden.new_empty(0)
    return d_hidden, d_weight
