"""token_logprobs / linear_token_logprobs vs the float64 reference, on every backend.

Each case draws fresh random inputs (uniform, peaked and very negative logits), poisons new
allocations with NaN, and compares values and gradients (random per-token upstream gradients for
logp and entropy) with ``ops.reference`` evaluated in float64 on the same (upcast) inputs.
"""

from __future__ import annotations

import zlib

import pytest
import torch

from prime_fast import ops
from prime_fast.errors import ConfigError, UnsupportedInputError
from prime_fast.ops import reference
from prime_fast.testing import RESOLUTION, assert_close, logit_grad_atol, make_labels, make_logits

BACKENDS = [pytest.param("torch", id="torch"), pytest.param("triton", id="triton-interp")]
DTYPES = [
    pytest.param(torch.float32, id="fp32"),
    pytest.param(torch.bfloat16, id="bf16"),
    pytest.param(torch.float16, id="fp16"),
]


def _stat(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _gatol(ref: torch.Tensor, dtype: torch.dtype) -> float:
    """LM-head gradient atol: the dtype's resolution relative to the largest gradient entry (dz is
    rounded to the input dtype before the cuBLAS GEMMs, as in every fused LM-head kernel)."""
    return RESOLUTION[dtype] * float(ref.abs().max())


def _check_token_logprobs(shape, dtype, kind, temperature, seed, *, full_mask_row=False):
    gen = torch.Generator().manual_seed(seed)
    vocab = shape[-1]
    logits = make_logits(shape, dtype, kind, generator=gen).requires_grad_(True)
    labels = make_labels(shape[:-1], vocab, generator=gen)
    zmax = float(logits.detach().abs().max()) / temperature
    if full_mask_row:
        labels.view(-1, labels.shape[-1])[0] = -100
    logp, ent = ops.token_logprobs(logits, labels, temperature=temperature, return_entropy=True)
    assert logp.dtype == _stat(dtype) and ent.dtype == _stat(dtype)
    x64 = logits.detach().double().requires_grad_(True)
    rlogp, rent = reference.token_logprobs(x64, labels, temperature=temperature, return_entropy=True)
    xb = logits.detach().clone().requires_grad_(True)
    blogp, bent = reference.token_logprobs(xb, labels, temperature=temperature, return_entropy=True)
    assert_close(logp, rlogp, _stat(dtype), reduce_dim=vocab, baseline=blogp, name="logp")
    assert_close(ent, rent, _stat(dtype), reduce_dim=vocab, baseline=bent, name="entropy")
    ignored = labels == -100
    assert (logp[ignored] == 0).all() and (ent[ignored] == 0).all()
    g_lp = torch.randn(labels.shape, generator=gen, dtype=torch.float64)
    g_h = torch.randn(labels.shape, generator=gen, dtype=torch.float64)
    (grad,) = torch.autograd.grad(
        (logp * g_lp.to(logp.dtype)).sum() + (ent * g_h.to(ent.dtype)).sum(), logits
    )
    (rgrad,) = torch.autograd.grad((rlogp * g_lp).sum() + (rent * g_h).sum(), x64, retain_graph=True)
    (bgrad,) = torch.autograd.grad(
        (blogp * g_lp.to(blogp.dtype)).sum() + (bent * g_h.to(bent.dtype)).sum(), xb, retain_graph=True
    )
    assert grad.dtype == dtype
    assert_close(grad, rgrad, dtype, atol=logit_grad_atol(rgrad, zmax), baseline=bgrad, name="d_logits")
    assert (grad[ignored] == 0).all()
    # logp alone (no entropy requested) and its gradient.
    logp2 = ops.token_logprobs(logits, labels, temperature=temperature)
    assert_close(logp2, rlogp, _stat(dtype), reduce_dim=vocab, baseline=blogp, name="logp (no entropy)")
    (grad2,) = torch.autograd.grad((logp2 * g_lp.to(logp2.dtype)).sum(), logits)
    (rgrad2,) = torch.autograd.grad((rlogp * g_lp).sum(), x64)
    (bgrad2,) = torch.autograd.grad((blogp * g_lp.to(blogp.dtype)).sum(), xb)
    assert_close(
        grad2, rgrad2, dtype, atol=logit_grad_atol(rgrad2, zmax), baseline=bgrad2, name="d_logits (logp)"
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["uniform", "peaked", "negative"])
@pytest.mark.parametrize(
    ("shape", "temperature"),
    [
        pytest.param((1, 7), 1.0, id="N1-V7"),
        pytest.param((2, 5, 37), 0.7, id="B2T5-V37-T0.7"),
        pytest.param((6, 131), 1.6, id="N6-V131-T1.6"),
    ],
)
def test_token_logprobs(backend, dtype, kind, shape, temperature, use_backend, poison):
    use_backend(backend)
    _check_token_logprobs(
        shape,
        dtype,
        kind,
        temperature,
        seed=zlib.crc32(repr((shape, kind, str(dtype), backend)).encode()) % 10_000,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_logprobs_fully_masked_row_and_single_token(backend, use_backend, poison):
    use_backend(backend)
    _check_token_logprobs((3, 4, 29), torch.float32, "uniform", 1.3, seed=5, full_mask_row=True)
    _check_token_logprobs((1, 1, 29), torch.float32, "peaked", 1.0, seed=6)


def test_token_logprobs_float64_torch_path(use_backend, poison):
    use_backend("torch")
    _check_token_logprobs((4, 3, 50), torch.float64, "uniform", 0.9, seed=7)


def _check_linear(n_shape, hidden_dim, vocab, dtype, temperature, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    h = (
        (torch.randn((*n_shape, hidden_dim), generator=gen, dtype=torch.float64) * scale)
        .to(dtype)
        .requires_grad_(True)
    )
    w = (torch.randn((vocab, hidden_dim), generator=gen, dtype=torch.float64) / hidden_dim**0.5).to(dtype)
    w.requires_grad_(True)
    labels = make_labels(n_shape, vocab, generator=gen)
    logp, ent = ops.linear_token_logprobs(h, w, labels, temperature=temperature, return_entropy=True)
    h64 = h.detach().double().requires_grad_(True)
    w64 = w.detach().double().requires_grad_(True)
    rlogp, rent = reference.linear_token_logprobs(
        h64, w64, labels, temperature=temperature, return_entropy=True
    )
    red = vocab * hidden_dim
    hb = h.detach().clone().requires_grad_(True)
    wb = w.detach().clone().requires_grad_(True)
    blogp, bent = reference.linear_token_logprobs(
        hb, wb, labels, temperature=temperature, return_entropy=True
    )
    assert_close(logp, rlogp, _stat(dtype), reduce_dim=red, baseline=blogp, name="logp")
    assert_close(ent, rent, _stat(dtype), reduce_dim=red, baseline=bent, name="entropy")
    g_lp = torch.randn(labels.shape, generator=gen, dtype=torch.float64)
    g_h = torch.randn(labels.shape, generator=gen, dtype=torch.float64)
    dh, dw = torch.autograd.grad((logp * g_lp.to(logp.dtype)).sum() + (ent * g_h.to(ent.dtype)).sum(), (h, w))
    rdh, rdw = torch.autograd.grad((rlogp * g_lp).sum() + (rent * g_h).sum(), (h64, w64))
    bdh, bdw = torch.autograd.grad(
        (blogp * g_lp.to(blogp.dtype)).sum() + (bent * g_h.to(bent.dtype)).sum(), (hb, wb)
    )
    assert dh.dtype == dtype and dw.dtype == dtype
    assert_close(dh, rdh, dtype, atol=_gatol(rdh, dtype), baseline=bdh, name="d_hidden")
    assert_close(dw, rdw, dtype, atol=_gatol(rdw, dtype), baseline=bdw, name="d_weight")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n_shape", "hidden_dim", "vocab", "temperature"),
    [
        pytest.param((1,), 16, 7, 1.0, id="N1-H16-V7"),
        pytest.param((2, 9), 24, 53, 0.8, id="B2T9-H24-V53"),
        pytest.param((33,), 40, 131, 1.5, id="N33-H40-V131"),
    ],
)
def test_linear_token_logprobs(backend, dtype, n_shape, hidden_dim, vocab, temperature, use_backend, poison):
    use_backend(backend)
    _check_linear(n_shape, hidden_dim, vocab, dtype, temperature, seed=vocab + hidden_dim)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_peaked_logits(backend, use_backend, poison):
    # Large hidden states make the softmax very peaked.
    use_backend(backend)
    _check_linear((5,), 32, 67, torch.float32, 1.0, seed=3, scale=20.0)


def test_linear_float64_torch_path(use_backend, poison):
    use_backend("torch")
    _check_linear((3, 4), 8, 19, torch.float64, 1.2, seed=11)


def test_linear_frozen_weight_no_weight_grad(use_backend):
    use_backend("torch")
    h = torch.randn(4, 8, requires_grad=True)
    w = torch.randn(11, 8)
    logp = ops.linear_token_logprobs(h, w, torch.randint(0, 11, (4,)))
    logp.sum().backward()
    assert h.grad is not None and w.grad is None


def test_torch_path_chunks_rows(monkeypatch, use_backend, poison):
    """A tiny chunk budget forces many chunks; results must not change."""
    from prime_fast.ops import _torch_path

    use_backend("torch")
    monkeypatch.setattr(_torch_path, "CHUNK_BYTES", 3 * 40 * 4)
    gen = torch.Generator().manual_seed(0)
    x = make_logits((10, 40), torch.float32, generator=gen).requires_grad_(True)
    lab = make_labels((10,), 40, generator=gen)
    logp, ent = ops.token_logprobs(x, lab, return_entropy=True)
    x64 = x.detach().double().requires_grad_(True)
    rl, re = reference.token_logprobs(x64, lab, return_entropy=True)
    assert_close(logp, rl, torch.float32, reduce_dim=40)
    assert_close(ent, re, torch.float32, reduce_dim=40)
    (g,) = torch.autograd.grad((logp + ent).sum(), x)
    (rg,) = torch.autograd.grad((rl + re).sum(), x64)
    assert_close(g, rg, torch.float32, reduce_dim=40)


def test_input_errors(use_backend, monkeypatch):
    use_backend("torch")
    x = torch.randn(3, 5)
    lab = torch.tensor([0, 1, 4])
    with pytest.raises(UnsupportedInputError, match="logits must be float32"):
        ops.token_logprobs(x.long(), lab)
    with pytest.raises(UnsupportedInputError, match="logits must have 2 or 3 dimensions"):
        ops.token_logprobs(x[0], lab)
    with pytest.raises(UnsupportedInputError, match=r"labels must have shape \(3,\)"):
        ops.token_logprobs(x, lab[:2])
    with pytest.raises(UnsupportedInputError, match="labels must be int64 or int32"):
        ops.token_logprobs(x, lab.float())
    with pytest.raises(UnsupportedInputError, match=r"\[0, 5\)"):
        ops.token_logprobs(x, torch.tensor([0, 5, 1]))
    with pytest.raises(UnsupportedInputError, match="temperature"):
        ops.token_logprobs(x, lab, temperature=0.0)
    with pytest.raises(UnsupportedInputError, match="labels is on meta"):
        ops.token_logprobs(x, lab.to("meta"))
    with pytest.raises(UnsupportedInputError, match="weight must have shape"):
        ops.linear_token_logprobs(torch.randn(3, 4), torch.randn(5, 3), lab)
    with pytest.raises(UnsupportedInputError, match="same dtype"):
        ops.linear_token_logprobs(torch.randn(3, 4), torch.randn(5, 4, dtype=torch.float64), lab)
    monkeypatch.setenv("PRIME_FAST_KERNELS", "cuda")
    with pytest.raises(ConfigError, match="expected one of torch, triton"):
        ops.token_logprobs(x, lab)
    monkeypatch.setenv("PRIME_FAST_KERNELS", "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the dtype check comes before any launch
    with pytest.raises(UnsupportedInputError, match="float64"):
        ops.token_logprobs(x.double(), lab)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        ops.token_logprobs(x, lab)


def test_torch_compile_fullgraph(use_backend):
    """Registered custom ops: no graph break under torch.compile(fullgraph=True)."""
    use_backend("torch")

    def f(x, h, w, lab):
        a, e = ops.token_logprobs(x, lab, temperature=0.9, return_entropy=True)
        b = ops.linear_token_logprobs(h, w, lab)
        return (a * 2 + e).sum() + b.sum()

    x = torch.randn(4, 13, requires_grad=True)
    h = torch.randn(4, 8, requires_grad=True)
    w = torch.randn(13, 8, requires_grad=True)
    lab = torch.randint(0, 13, (4,))
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    out = compiled(x, h, w, lab)
    out.backward()
    grads = (x.grad.clone(), h.grad.clone(), w.grad.clone())
    x.grad = h.grad = w.grad = None
    f(x, h, w, lab).backward()
    for g, e in zip(grads, (x.grad, h.grad, w.grad)):
        torch.testing.assert_close(g, e)


def test_custom_ops_opcheck(use_backend):
    use_backend("torch")
    x = torch.randn(3, 9, dtype=torch.float64)
    lab = torch.tensor([1, -100, 8])
    torch.library.opcheck(torch.ops.prime_fast.token_logprobs_fwd.default, (x, lab, 1.0, -100, True))
    h = torch.randn(3, 4, dtype=torch.float64)
    w = torch.randn(9, 4, dtype=torch.float64)
    torch.library.opcheck(
        torch.ops.prime_fast.linear_token_logprobs_fwd.default, (h, w, lab, 1.0, -100, False)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_int32_labels_and_custom_ignore_index(backend, use_backend, poison):
    use_backend(backend)
    gen = torch.Generator().manual_seed(9)
    x = make_logits((4, 6, 45), torch.float32, generator=gen)
    lab = make_labels((4, 6), 45, ignore_index=-1, generator=gen).to(torch.int32)
    logp, ent = ops.token_logprobs(x, lab, ignore_index=-1, return_entropy=True)
    rl, re = reference.token_logprobs(x.double(), lab, ignore_index=-1, return_entropy=True)
    assert_close(logp, rl, torch.float32, reduce_dim=45)
    assert_close(ent, re, torch.float32, reduce_dim=45)
    h = torch.randn(4, 6, 8, generator=gen)
    w = torch.randn(45, 8, generator=gen) / 3
    lp2 = ops.linear_token_logprobs(h, w, lab, ignore_index=-1)
    assert_close(
        lp2,
        reference.linear_token_logprobs(h.double(), w.double(), lab, ignore_index=-1),
        torch.float32,
        reduce_dim=45 * 8,
    )


@pytest.mark.parametrize("temperature", [1.0, 0.8])
def test_torch_path_leaves_logits_intact_and_handles_masked_vocab(temperature, use_backend, poison):
    """The CPU path works in place on its chunk buffers: the caller's logits are never written, and
    -inf logits (a masked vocabulary, e.g. after top-k) give what dropping those columns gives."""
    use_backend("torch")
    gen = torch.Generator().manual_seed(11)
    keep = 23
    x_kept = make_logits((9, keep), torch.float32, "peaked", generator=gen)
    lab_kept = make_labels((9,), keep, generator=gen)
    # Interleave 6 masked columns; labels point at the same kept tokens.
    cols = torch.randperm(keep + 6, generator=gen)
    kept_cols, masked_cols = cols[:keep].sort().values, cols[keep:]
    x = torch.empty(9, keep + 6)
    x[:, kept_cols] = x_kept
    x[:, masked_cols] = float("-inf")
    lab = torch.where(lab_kept >= 0, kept_cols[lab_kept.clamp(min=0)], lab_kept)
    x.requires_grad_(True)
    before = x.detach().clone()
    logp, ent = ops.token_logprobs(x, lab, temperature=temperature, return_entropy=True)
    g_lp, g_h = torch.randn(9, generator=gen), torch.randn(9, generator=gen)
    (grad,) = torch.autograd.grad((logp * g_lp).sum() + (ent * g_h).sum(), x)
    assert torch.equal(x.detach(), before)
    x64 = x_kept.double().requires_grad_(True)
    rl, re = reference.token_logprobs(x64, lab_kept, temperature=temperature, return_entropy=True)
    (rg,) = torch.autograd.grad((rl * g_lp.double()).sum() + (re * g_h.double()).sum(), x64)
    assert_close(logp, rl, torch.float32, reduce_dim=keep)
    assert_close(ent, re, torch.float32, reduce_dim=keep)
    assert torch.isfinite(grad).all() and (grad[:, masked_cols] == 0).all()
    assert_close(grad[:, kept_cols], rg, torch.float32, reduce_dim=keep)
