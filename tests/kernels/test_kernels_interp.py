"""Kernel launch wrappers in Triton's interpreter on tiny shapes (TRITON_INTERPRET=1 from conftest).

These call ``prime_fast.kernels`` directly, with block sizes chosen so that every tail, split and
chunk path runs: vocab sizes not multiples of the block, the verl padding regression (peaked
logits, a half-empty last block), ``-inf`` logits, fully ignored batches, several vocab splits and
backward chunks. Values are compared with the float64 reference.
"""

from __future__ import annotations

import pytest
import torch

from prime_fast.ops import reference
from prime_fast.testing import assert_close, make_labels, make_logits

pytestmark = pytest.mark.usefixtures("poison")


@pytest.fixture(autouse=True)
def _interp():
    from prime_fast.kernels._utils import interpreting

    if not interpreting():
        pytest.skip("these tests run the kernels on CPU tensors and need TRITON_INTERPRET=1")


@pytest.mark.parametrize("block_v", [16, 64])
@pytest.mark.parametrize("vocab", [1, 17, 48, 100])
@pytest.mark.parametrize("kind", ["uniform", "peaked"])
def test_logprob_fwd_blocks(block_v, vocab, kind):
    from prime_fast.kernels import logprob

    gen = torch.Generator().manual_seed(vocab * block_v)
    x = make_logits((5, vocab), torch.float32, kind, generator=gen)
    lab = make_labels((5,), vocab, generator=gen)
    logp, ent, lse = logprob.logprob_fwd(x, lab, 1.3, -100, True, block_v=block_v)
    rl, re = reference.token_logprobs(x.double(), lab, temperature=1.3, return_entropy=True)
    assert_close(logp, rl, torch.float32, reduce_dim=vocab)
    assert_close(ent, re, torch.float32, reduce_dim=vocab)
    keep = lab != -100
    assert_close(lse[keep], torch.logsumexp(x.double() / 1.3, -1)[keep], torch.float32, reduce_dim=vocab)


def test_padding_regression_no_phantom_mass():
    """verl #2656: a half-empty last block loaded as 0 adds exp(0 - max) mass. With one logit +3 and
    the rest -15, 48 columns in blocks of 32 would give a visible error."""
    from prime_fast.kernels import logprob

    x = torch.full((4, 48), -15.0)
    x[:, 7] = 3.0
    lab = torch.tensor([7, 7, 0, 47])
    logp, _, _ = logprob.logprob_fwd(x, lab, 1.0, -100, False, block_v=32)
    ref = reference.token_logprobs(x.double(), lab)
    assert_close(logp, ref, torch.float32, reduce_dim=48)
    assert float(logp[0]) <= 0.0 and abs(float(logp[0])) < 1e-6


def test_logprob_neg_inf_logits():
    """Vocab entries masked by the caller with -inf contribute nothing and produce no NaN."""
    from prime_fast.kernels import logprob

    x = torch.randn(3, 40)
    x[:, 20:] = float("-inf")
    x[1, :32] = float("-inf")  # an entire first block is -inf
    x[1, 35] = 0.5
    lab = torch.tensor([3, 35, 19])
    logp, ent, lse = logprob.logprob_fwd(x, lab, 1.0, -100, True, block_v=16)
    rl = reference.token_logprobs(x.double(), lab)
    assert torch.isfinite(logp).all() and torch.isfinite(ent).all()
    assert_close(logp, rl, torch.float32, reduce_dim=40)
    g = torch.ones(3)
    d = logprob.logprob_bwd(x, lab, lse, ent, g, g, 1.0, -100, block_v=16)
    assert torch.isfinite(d).all()
    assert (d[0, 20:] == 0).all()


def test_logprob_all_ignored_and_empty():
    from prime_fast.kernels import logprob

    x = torch.randn(3, 10)
    lab = torch.full((3,), -100)
    logp, ent, _ = logprob.logprob_fwd(x, lab, 1.0, -100, True)
    assert (logp == 0).all() and (ent == 0).all()
    d = logprob.logprob_bwd(x, lab, torch.zeros(3), torch.zeros(3), torch.ones(3), torch.ones(3), 1.0, -100)
    assert (d == 0).all()
    e = logprob.logprob_fwd(torch.randn(0, 10), torch.zeros(0, dtype=torch.long), 1.0, -100, True)
    assert all(t.shape == (0,) for t in e)


def test_logprob_strided_rows():
    """Rows of a wider buffer (stride(0) > V) are read in place."""
    from prime_fast.kernels import logprob

    buf = torch.randn(4, 64)
    x = buf[:, :37]
    lab = torch.tensor([0, 36, 5, 12])
    logp, _, _ = logprob.logprob_fwd(x, lab, 0.8, -100, False, block_v=16)
    assert_close(
        logp, reference.token_logprobs(x.double(), lab, temperature=0.8), torch.float32, reduce_dim=37
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_many_splits_and_chunks(dtype):
    from prime_fast.kernels import linear_logprob

    gen = torch.Generator().manual_seed(1)
    n, h, v = 21, 20, 75  # H not a multiple of BLOCK_K, V not a multiple of SPLIT_V or BLOCK_N
    hid = torch.randn(n, h, generator=gen).to(dtype)
    w = (torch.randn(v, h, generator=gen) / 3).to(dtype)
    lab = make_labels((n,), v, generator=gen)
    cfg = {"SPLIT_V": 32, "BLOCK_N": 16}
    logp, ent, lse = linear_logprob.linear_logprob_fwd(hid, w, lab, 0.9, -100, True, config=cfg)
    h64 = hid.double().requires_grad_(True)
    w64 = w.double().requires_grad_(True)
    rl, re = reference.linear_token_logprobs(h64, w64, lab, temperature=0.9, return_entropy=True)
    assert_close(logp, rl, torch.float32, reduce_dim=h * v)
    assert_close(ent, re, torch.float32, reduce_dim=h * v)
    g, gh = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
    for chunk in (16, 48, 80):
        dh, dw = linear_logprob.linear_logprob_bwd(
            hid, w, lab, lse, ent, g, gh, 0.9, -100, True, True, config=cfg, chunk=chunk
        )
        rdh, rdw = torch.autograd.grad(
            (rl * g.double()).sum() + (re * gh.double()).sum(), (h64, w64), retain_graph=True
        )
        tol = {"atol": 1.6e-2 * float(rdh.abs().max())} if dtype == torch.bfloat16 else {}
        assert_close(dh, rdh, dtype, reduce_dim=h * v, **tol)
        tol = {"atol": 1.6e-2 * float(rdw.abs().max())} if dtype == torch.bfloat16 else {}
        assert_close(dw, rdw, dtype, reduce_dim=h * v, **tol)
    # Only d_hidden requested.
    dh, dw = linear_logprob.linear_logprob_bwd(
        hid, w, lab, lse, ent, g, None, 0.9, -100, True, False, config=cfg
    )
    assert dw.numel() == 0 and dh.shape == hid.shape


@pytest.mark.parametrize("block_t", [16, 64])
@pytest.mark.parametrize("t_len", [1, 15, 16, 17, 100])
def test_scan_blocks(block_t, t_len):
    from prime_fast.kernels import advantage_scan

    gen = torch.Generator().manual_seed(t_len)
    b = torch.randn(3, t_len, generator=gen)
    x = advantage_scan.reverse_affine_scan(b, 0.9, block_t=block_t)
    assert_close(x, reference.discounted_returns(b.double(), 0.9), torch.float32, reduce_dim=t_len)
    a = torch.rand(3, t_len, generator=gen)
    x2 = advantage_scan.reverse_affine_scan(b, 0.0, a, block_t=block_t)
    ref = torch.zeros(3, t_len, dtype=torch.float64)
    nxt = torch.zeros(3, dtype=torch.float64)
    for i in reversed(range(t_len)):
        nxt = b[:, i].double() + a[:, i].double() * nxt
        ref[:, i] = nxt
    assert_close(x2, ref, torch.float32, reduce_dim=t_len)
