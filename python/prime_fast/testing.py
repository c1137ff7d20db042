"""Numerical comparison helpers shipped with the package (FlagGems-style tolerance table).

``assert_close(out, ref, dtype)`` compares a result against a (float64) reference with a tolerance
chosen by ``dtype``, the precision the result was produced in; failures report the max-abs and
RMS-relative errors, NaN/inf counts and the worst element.
"""

from __future__ import annotations

import torch

#: Relative resolution per dtype (FlagGems ``RESOLUTION``).
RESOLUTION: dict[torch.dtype, float] = {
    torch.bfloat16: 1.6e-2,
    torch.float16: 1e-3,
    torch.float32: 1.3e-6,
    torch.float64: 1e-12,
}


def error_stats(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """``(max_abs, rms_rel)`` of ``out - ref`` computed in float64."""
    o = out.detach().to(torch.float64)
    r = ref.detach().to(torch.float64)
    if o.numel() == 0:
        return 0.0, 0.0
    diff = o - r
    max_abs = float(diff.abs().max())
    rms_ref = float(r.pow(2).mean().sqrt())
    rms_rel = float(diff.pow(2).mean().sqrt()) / max(rms_ref, 1e-300)
    return max_abs, rms_rel


def assert_close(
    out: torch.Tensor,
    ref: torch.Tensor,
    dtype: torch.dtype,
    *,
    reduce_dim: int = 1,
    rtol: float | None = None,
    atol: float | None = None,
    baseline: torch.Tensor | None = None,
    factor: float = 2.0,
    name: str = "output",
) -> None:
    """Assert ``|out - ref| <= atol + rtol * |ref|`` elementwise.

    Args:
        out: the result under test (any float dtype; compared in float64).
        ref: the reference, ideally float64.
        dtype: the precision ``out`` was computed/stored in; picks ``rtol`` from :data:`RESOLUTION`.
        reduce_dim: length of the reduction behind each element; ``atol`` defaults to
            ``rtol * sqrt(reduce_dim)`` (rounding errors of a sum grow like its square root).
        rtol, atol: explicit overrides.
        baseline: the same quantity computed by plain torch in the working precision (e.g. float32);
            when given, ``factor`` times its max-abs error against ``ref`` is added to ``atol`` (the
            flash-attention / CCE rule: no worse than the low-precision reference plus a tolerance).
        name: used in the failure message.
    """
    if dtype not in RESOLUTION:
        raise ValueError(f"no tolerance for {dtype}; known: {list(RESOLUTION)}")
    if out.shape != ref.shape:
        raise AssertionError(f"{name}: shape {tuple(out.shape)} != reference {tuple(ref.shape)}")
    rt = RESOLUTION[dtype] if rtol is None else rtol
    at = rt * max(1, reduce_dim) ** 0.5 if atol is None else atol
    o = out.detach().to(torch.float64).cpu()
    r = ref.detach().to(torch.float64).cpu()
    if baseline is not None:
        b = baseline.detach().to(torch.float64).cpu()
        fin_b = torch.isfinite(r) & torch.isfinite(b)
        if bool(fin_b.any()):
            at += factor * float((b[fin_b] - r[fin_b]).abs().max())
    bad_o = int((~torch.isfinite(o)).sum())
    bad_r = ~torch.isfinite(r)
    same_nonfinite = bool(((~torch.isfinite(o)) == bad_r).all()) and bool(
        (o[bad_r] == r[bad_r]).all() if bad_r.any() else True
    )
    if bad_o and not same_nonfinite:
        raise AssertionError(f"{name}: {bad_o} non-finite values (NaN/inf) where the reference is finite")
    fin = torch.isfinite(r)
    o_f, r_f = o[fin], r[fin]
    tol = at + rt * r_f.abs()
    err = (o_f - r_f).abs()
    if bool((err > tol).any()):
        max_abs, rms_rel = error_stats(o_f, r_f)
        worst = int(torch.argmax(err - tol))
        raise AssertionError(
            f"{name} ({dtype}): {int((err > tol).sum())}/{err.numel()} elements out of tolerance "
            f"(rtol={rt:.3g}, atol={at:.3g}); max_abs={max_abs:.3g}, rms_rel={rms_rel:.3g}; "
            f"worst: got {float(o_f[worst]):.9g}, expected {float(r_f[worst]):.9g}"
        )


def make_logits(
    shape: tuple[int, ...],
    dtype: torch.dtype,
    kind: str = "uniform",
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Test logits of ``shape`` in ``dtype``.

    ``uniform``: N(0, 2^2); ``peaked``: one logit +3 per row, the rest about -15 (the distribution
    that exposed verl's vocab-padding bug); ``negative``: all logits near -1000 (normaliser underflow).
    """
    gen = generator
    if kind == "uniform":
        x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2.0
    elif kind == "peaked":
        x = torch.full(shape, -15.0, dtype=torch.float64)
        x += 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
        idx = torch.randint(0, shape[-1], shape[:-1], generator=gen)
        x.scatter_(-1, idx.unsqueeze(-1), 3.0)
    elif kind == "negative":
        x = -1000.0 + torch.randn(shape, generator=gen, dtype=torch.float64)
    else:
        raise ValueError(f"kind must be uniform, peaked or negative, got {kind!r}")
    return x.to(dtype)


def make_labels(
    shape: tuple[int, ...],
    vocab: int,
    *,
    ignore_frac: float = 0.2,
    ignore_index: int = -100,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random int64 labels in ``[0, vocab)`` with about ``ignore_frac`` of them set to ``ignore_index``."""
    lab = torch.randint(0, vocab, shape, generator=generator)
    drop = torch.rand(shape, generator=generator) < ignore_frac
    return torch.where(drop, torch.full_like(lab, ignore_index), lab)


def logit_grad_atol(ref_grad: torch.Tensor, zmax: float, *, safety: float = 4.0) -> float:
    """Absolute tolerance for gradients w.r.t. logits computed through float32 statistics.

    ``z - lse`` carries an absolute error of about ``eps32 * |z|``, so ``p = exp(z - lse)`` has a
    relative error of that size: ``safety * 1.3e-6 * max(1, zmax) * max|ref_grad|``. Rounding of
    the stored gradient to bf16/fp16 is relative per element and covered by ``rtol``.
    """
    return safety * RESOLUTION[torch.float32] * max(1.0, zmax) * float(ref_grad.detach().abs().max())
