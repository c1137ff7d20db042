"""implicit_process_rewards, the fused PRM path and reverse_affine_scan."""

from __future__ import annotations

import pytest
import torch

from prime_fast import ops
from prime_fast.errors import UnsupportedInputError
from prime_fast.ops import reference
from prime_fast.testing import assert_close

BACKENDS = [pytest.param("torch", id="torch"), pytest.param("triton", id="triton-interp")]


def test_implicit_rewards_by_hand():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -1.0, -3.0], [-0.25, -1.5, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    q = ops.implicit_process_rewards(logp, ref, mask, beta=0.5)
    torch.testing.assert_close(q, torch.tensor([[0.25, -0.5, 0.0], [-0.125, 0.5, 0.0]]))
    q.sum().backward()
    torch.testing.assert_close(logp.grad, 0.5 * mask.float())
    whole = ops.implicit_process_rewards(logp, ref, mask, granularity="whole")
    torch.testing.assert_close(whole, torch.tensor([[0.0, 0.0, -0.5], [0.0, 0.75, 0.0]]))
    torch.testing.assert_close(
        whole, reference.implicit_process_rewards(logp, ref, mask, granularity="whole")
    )


def test_implicit_rewards_errors():
    x = torch.zeros(2, 3)
    with pytest.raises(UnsupportedInputError, match="ref_logp must have the shape"):
        ops.implicit_process_rewards(x, torch.zeros(2, 2), torch.ones(2, 3))
    with pytest.raises(UnsupportedInputError, match="mask must have shape"):
        ops.implicit_process_rewards(x, x, torch.ones(3, 2))
    with pytest.raises(UnsupportedInputError, match="granularity"):
        ops.implicit_process_rewards(x, x, torch.ones(2, 3), granularity="step")


@pytest.mark.parametrize("backend", BACKENDS)
def test_prm_fused_path(backend, use_backend, poison):
    use_backend(backend)
    gen = torch.Generator().manual_seed(0)
    b, t, h, v = 2, 5, 16, 37
    ph = torch.randn(b, t, h, generator=gen, requires_grad=True)
    pw = (torch.randn(v, h, generator=gen) / 4).requires_grad_(True)
    rh = torch.randn(b, t, h, generator=gen)
    rw = torch.randn(v, h, generator=gen) / 4
    labels = torch.randint(0, v, (b, t), generator=gen)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    q = ops.prm_implicit_rewards(ph, pw, rh, rw, labels, mask, beta=0.05)
    ph64 = ph.detach().double().requires_grad_(True)
    pw64 = pw.detach().double().requires_grad_(True)
    lp = reference.linear_token_logprobs(ph64, pw64, labels)
    rl = reference.linear_token_logprobs(rh.double(), rw.double(), labels)
    rq = reference.implicit_process_rewards(lp, rl, mask, beta=0.05)
    assert_close(q, rq, torch.float32, reduce_dim=h * v)
    g = torch.randn(b, t, generator=gen, dtype=torch.float64)
    dph, dpw = torch.autograd.grad((q * g.float()).sum(), (ph, pw))
    rdph, rdpw = torch.autograd.grad((rq * g).sum(), (ph64, pw64))
    assert_close(dph, rdph, torch.float32, reduce_dim=h * v)
    assert_close(dpw, rdpw, torch.float32, reduce_dim=h * v)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("b", "t"), [(1, 1), (3, 7), (2, 130), (1, 1100)])
def test_reverse_affine_scan(backend, b, t, use_backend, poison):
    use_backend(backend)
    gen = torch.Generator().manual_seed(t)
    r = torch.randn(b, t, generator=gen, dtype=torch.float64)
    a = torch.rand(b, t, generator=gen, dtype=torch.float64)
    out = ops.reverse_affine_scan(r.float(), 0.93)
    assert_close(out, reference.discounted_returns(r.float().double(), 0.93), torch.float32, reduce_dim=t)
    # General per-position decay.
    ref = torch.zeros_like(r)
    nxt = torch.zeros(b, dtype=torch.float64)
    for i in reversed(range(t)):
        nxt = r[:, i] + a[:, i] * nxt
        ref[:, i] = nxt
    out2 = ops.reverse_affine_scan(r.float(), 1.0, a.float())
    assert_close(out2, ref, torch.float32, reduce_dim=t)


def test_reverse_scan_1d_and_errors(use_backend):
    use_backend("torch")
    r = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(ops.reverse_affine_scan(r, 0.5), torch.tensor([2.75, 3.5, 3.0]))
    with pytest.raises(UnsupportedInputError, match="a must match"):
        ops.reverse_affine_scan(r, 1.0, torch.ones(2))
