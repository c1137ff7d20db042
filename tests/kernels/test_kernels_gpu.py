"""GPU parity tests at real sizes (marker ``gpu``; run with ``TRITON_INTERPRET=0 pytest -m gpu``).

Vocabularies of Qwen2 (151936) and Qwen2.5 (152064, 152064 mod 1024 = 512: the verl padding bug),
bf16/fp16/fp32, uniform and peaked logits, temperature != 1, ignored labels, NaN-poisoned
allocations; values and gradients against the float64 reference, with the float32 torch result as
the baseline of the "no worse than plain torch" rule.
"""

from __future__ import annotations

import pytest
import torch

from prime_fast import ops
from prime_fast.ops import reference
from prime_fast.testing import RESOLUTION, assert_close, logit_grad_atol, make_labels, make_logits

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("poison")]

DTYPES = [
    pytest.param(torch.bfloat16, id="bf16"),
    pytest.param(torch.float16, id="fp16"),
    pytest.param(torch.float32, id="fp32"),
]
VOCABS = [pytest.param(151936, id="V151936"), pytest.param(152064, id="V152064")]


@pytest.mark.parametrize("vocab", VOCABS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["uniform", "peaked"])
def test_token_logprobs_gpu(cuda, vocab, dtype, kind):
    n = 1024
    gen = torch.Generator().manual_seed(vocab % 97)
    x = make_logits((n, vocab), dtype, kind, generator=gen).to(cuda).requires_grad_(True)
    lab = make_labels((n,), vocab, generator=gen).to(cuda)
    logp, ent = ops.token_logprobs(x, lab, temperature=0.7, return_entropy=True)
    g, gh = torch.randn(n, device=cuda, dtype=torch.float64), torch.randn(n, device=cuda, dtype=torch.float64)
    (dx,) = torch.autograd.grad((logp * g.float()).sum() + (ent * gh.float()).sum(), x)
    xb = x.detach().clone().requires_grad_(True)
    bl, be = reference.token_logprobs(xb, lab, temperature=0.7, return_entropy=True)
    (bdx,) = torch.autograd.grad((bl * g.float()).sum() + (be * gh.float()).sum(), xb)
    del xb
    x64 = x.detach().double().requires_grad_(True)
    rl, re = reference.token_logprobs(x64, lab, temperature=0.7, return_entropy=True)
    (rdx,) = torch.autograd.grad((rl * g).sum() + (re * gh).sum(), x64)
    assert_close(logp, rl, torch.float32, reduce_dim=vocab, baseline=bl, name="logp")
    assert_close(ent, re, torch.float32, reduce_dim=vocab, baseline=be, name="entropy")
    zmax = float(x.detach().abs().max()) / 0.7
    assert_close(
        dx, rdx, dtype, atol=logit_grad_atol(rdx, zmax), baseline=bdx, name="d_logits"
    )


def test_token_logprobs_gpu_32k_rows(cuda):
    """N = 32768 x V = 152064 bf16 (10 GB of logits): forward checked chunk by chunk."""
    n, vocab = 32768, 152064
    gen = torch.Generator(device=cuda).manual_seed(0)
    x = torch.randn((n, vocab), device=cuda, dtype=torch.bfloat16, generator=gen)
    lab = torch.randint(0, vocab, (n,), device=cuda, generator=gen)
    logp = ops.token_logprobs(x, lab)
    for s in range(0, n, 2048):
        rl = reference.token_logprobs(x[s : s + 2048].double(), lab[s : s + 2048])
        assert_close(logp[s : s + 2048], rl, torch.float32, reduce_dim=vocab, name=f"logp[{s}:]")


@pytest.mark.parametrize("vocab", VOCABS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n", "hidden"), [pytest.param(1000, 896, id="N1000-H896"), pytest.param(2048, 3584, id="N2048-H3584")]
)
def test_linear_token_logprobs_gpu(cuda, vocab, dtype, n, hidden):
    if dtype == torch.float32 and hidden > 1024:
        pytest.skip("fp32 at H=3584 adds minutes of IEEE-fp32 tl.dot for no new coverage")
    gen = torch.Generator(device=cuda).manual_seed(n)
    h = (torch.randn((n, hidden), device=cuda, generator=gen)).to(dtype).requires_grad_(True)
    w = (
        (torch.randn((vocab, hidden), device=cuda, generator=gen) / hidden**0.5)
        .to(dtype)
        .requires_grad_(True)
    )
    lab = torch.randint(0, vocab, (n,), device=cuda, generator=gen)
    lab[::7] = -100
    logp, ent = ops.linear_token_logprobs(h, w, lab, temperature=1.3, return_entropy=True)
    g = torch.randn(n, device=cuda, dtype=torch.float64)
    gh = torch.randn(n, device=cuda, dtype=torch.float64)
    dh, dw = torch.autograd.grad((logp * g.float()).sum() + (ent * gh.float()).sum(), (h, w))
    h64 = h.detach().double().requires_grad_(True)
    w64 = w.detach().double().requires_grad_(True)
    rl, re = reference.linear_token_logprobs(h64, w64, lab, temperature=1.3, return_entropy=True)
    rdh, rdw = torch.autograd.grad((rl * g).sum() + (re * gh).sum(), (h64, w64))
    red = hidden * 64  # fp32 accumulation over H; the softmax adds a few ulps
    assert_close(logp, rl, torch.float32, reduce_dim=red, name="logp")
    assert_close(ent, re, torch.float32, reduce_dim=red, name="entropy")
    assert_close(dh, rdh, dtype, atol=RESOLUTION[dtype] * float(rdh.abs().max()), name="d_hidden")
    assert_close(dw, rdw, dtype, atol=RESOLUTION[dtype] * float(rdw.abs().max()), name="d_weight")


def test_implicit_rewards_fused_gpu(cuda):
    b, t, hidden, vocab = 4, 256, 896, 152064
    gen = torch.Generator(device=cuda).manual_seed(3)
    mk = lambda *s: torch.randn(s, device=cuda, generator=gen).to(torch.bfloat16)  # noqa: E731
    ph, rh = mk(b, t, hidden).requires_grad_(True), mk(b, t, hidden)
    pw, rw = (mk(vocab, hidden) / 30).requires_grad_(True), mk(vocab, hidden) / 30
    lab = torch.randint(0, vocab, (b, t), device=cuda, generator=gen)
    mask = torch.arange(t, device=cuda)[None, :] < torch.tensor([[256], [100], [1], [37]], device=cuda)
    q = ops.prm_implicit_rewards(ph, pw, rh, rw, lab, mask, beta=0.05)
    lp = reference.linear_token_logprobs(ph.detach().double(), pw.detach().double(), lab)
    rl = reference.linear_token_logprobs(rh.double(), rw.double(), lab)
    rq = reference.implicit_process_rewards(lp, rl, mask, beta=0.05)
    assert_close(q, rq, torch.float32, reduce_dim=hidden * 64)


@pytest.mark.parametrize(("b", "t"), [(256, 4096), (8, 32768), (1, 1)])
def test_scan_gpu(cuda, b, t):
    gen = torch.Generator(device=cuda).manual_seed(t)
    r = torch.randn(b, t, device=cuda, generator=gen)
    x = ops.reverse_affine_scan(r, 0.99)
    ref = reference.discounted_returns(r.double().cpu(), 0.99) if t <= 4096 else None
    if ref is not None:
        assert_close(x.cpu(), ref, torch.float32, reduce_dim=t)
    else:
        # Long rows: compare against the torch log-depth scan in float64.
        from prime_fast.ops.scan import _torch_scan

        assert_close(x, _torch_scan(r.double(), None, 0.99), torch.float32, reduce_dim=t)


def test_compile_inductor_gpu(cuda):
    """Under Inductor on CUDA, the custom ops stay single nodes (fullgraph) and match eager."""

    def f(x, lab):
        lp, e = ops.token_logprobs(x, lab, temperature=0.9, return_entropy=True)
        return (lp + 0.1 * e).sum()

    x = torch.randn(64, 151936, device=cuda, dtype=torch.bfloat16, requires_grad=True)
    lab = torch.randint(0, 151936, (64,), device=cuda)
    out = torch.compile(f, fullgraph=True)(x, lab)
    out.backward()
    g = x.grad.clone()
    x.grad = None
    ref = f(x, lab)
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, x.grad)


def test_advantages_cuda_match_cpu(cuda):
    """The estimators on CUDA (Triton scan) give the CPU (torch scan) result."""
    from prime_fast import algos

    gen = torch.Generator().manual_seed(4)
    b, t, k = 64, 700, 4
    lengths = torch.randint(1, t + 1, (b,), generator=gen)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    acc = torch.randint(0, 2, (b,), generator=gen).float()
    scores = torch.randn(b, t, generator=gen)
    values = torch.randn(b, t, generator=gen)
    cpu = algos.prime_advantages(acc, mask, k, process_rewards=scores, gamma_process=0.95)
    gpu = algos.prime_advantages(
        acc.to(cuda), mask.to(cuda), k, process_rewards=scores.to(cuda), gamma_process=0.95
    )
    for c, g in zip(cpu, gpu):
        assert_close(g.cpu(), c, torch.float32, reduce_dim=t)
    cpu = algos.gae_advantages(scores, values, mask, gamma=0.99, lam=0.95)
    gpu = algos.gae_advantages(scores.to(cuda), values.to(cuda), mask.to(cuda), gamma=0.99, lam=0.95)
    for c, g in zip(cpu, gpu):
        assert_close(g.cpu(), c, torch.float32, reduce_dim=t)
