"""Advantage estimators against small examples worked out by hand (see the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from prime_fast import algos
from prime_fast.errors import ConfigError, UnsupportedInputError
from prime_fast.ops import reference

# Two rows, one group (K = 2), T = 3. Row 0 has 2 valid tokens, row 1 has 3.
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
ACC = torch.tensor([1.0, 0.0])
# 9.0 lies outside the mask and must be ignored.
PROC = torch.tensor([[0.2, 0.4, 9.0], [0.1, 0.1, 0.4]])


def test_prime_code_form_by_hand():
    # Process source: mu = (0.3, 0.2), S = 0.5, r' = (2 r - 0.5) / 1 on valid tokens:
    #   row 0: [-0.1, 0.3, 0] -> returns [0.2, 0.3, 0]; row 1: [-0.3, -0.3, 0.3] -> [-0.3, 0.0, 0.3].
    # Outcome source at the last valid token: r' = 2 acc - 1 = (+1 at t=1, -1 at t=2):
    #   returns row 0: [1, 1, 0]; row 1: [-1, -1, -1].
    adv, ret = algos.prime_advantages(ACC, MASK, 2, process_rewards=PROC, whiten=False)
    expected = torch.tensor([[1.2, 1.3, 0.0], [-1.3, -1.0, -0.7]])
    torch.testing.assert_close(ret, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)


def test_prime_paper_form_by_hand():
    # Eq. 5: r' = r - (S - mu_i)/(K-1): row 0: r - 0.2 = [0.0, 0.2]; row 1: r - 0.3 = [-0.2, -0.2, 0.1].
    adv, _ = algos.prime_advantages(ACC, MASK, 2, process_rewards=PROC, form="paper", whiten=False)
    expected = torch.tensor([[1.2, 1.2, 0.0], [-1.3, -1.1, -0.9]])
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)


def test_prime_gamma_process_by_hand():
    # gamma = 0.5 on the process source, outcome gamma 1:
    #   row 0: r' [-0.1, 0.3] -> [-0.1 + 0.15, 0.3] = [0.05, 0.3]
    #   row 1: r' [-0.3, -0.3, 0.3] -> [-0.375, -0.15, 0.3]
    _, ret = algos.prime_advantages(ACC, MASK, 2, process_rewards=PROC, gamma_process=0.5, whiten=False)
    expected = torch.tensor([[1.05, 1.3, 0.0], [-1.375, -1.15, -0.7]])
    torch.testing.assert_close(ret, expected, rtol=0, atol=1e-6)


def test_prime_whitening_over_valid_tokens():
    adv, _ = algos.prime_advantages(ACC, MASK, 2, process_rewards=PROC)
    vals = torch.tensor([1.2, 1.3, -1.3, -1.0, -0.7], dtype=torch.float64)
    mean = vals.mean()
    std = math.sqrt(float(((vals - mean) ** 2).sum()) / 4 + 1e-8)
    expected = (torch.tensor([[1.2, 1.3, 0.0], [-1.3, -1.0, -0.7]], dtype=torch.float64) - mean) / std
    expected[0, 2] = 0.0
    torch.testing.assert_close(adv.double(), expected, rtol=0, atol=1e-6)
    assert adv[MASK].mean().abs() < 1e-6


def test_prime_matches_authors_loop_on_random_batch():
    """The authors' per-group Python loop (compute_rloo_returns), re-typed, vs the vectorised version."""
    torch.manual_seed(0)
    for k in (2, 3, 4, 16):
        b, t = 2 * k, 9
        lengths = torch.randint(1, t + 1, (b,))
        mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
        acc = torch.randint(0, 2, (b,)).float()
        scores = torch.randn(b, t, dtype=torch.float64)
        gam_p, gam_o = 0.9, 0.95
        total = torch.zeros(b, t, dtype=torch.float64)
        for src, gamma in (("rm", gam_p), ("gt", gam_o)):
            if src == "rm":
                rmask, r = mask.clone(), scores.clone()
            else:
                rmask = torch.zeros(b, t, dtype=torch.bool)
                rmask[torch.arange(b), lengths - 1] = True
                r = torch.zeros(b, t, dtype=torch.float64)
                r[torch.arange(b), lengths - 1] = acc.double()
            r[~rmask] = 0
            for s in range(0, b, k):
                means = torch.cat(
                    [r[p : p + 1][rmask[p : p + 1]].mean(0, keepdim=True) for p in range(s, s + k)]
                )
                base = means.sum() / (k - 1)
                sl = r[s : s + k]
                sl[rmask[s : s + k]] = sl[rmask[s : s + k]] * (k / (k - 1)) - base
            total += reference.discounted_returns(r, gamma)
        _, ret = algos.prime_advantages(
            acc.double(),
            mask,
            k,
            process_rewards=scores,
            gamma_process=gam_p,
            gamma_outcome=gam_o,
            whiten=False,
        )
        torch.testing.assert_close(
            ret, torch.where(mask, total, torch.zeros_like(total)), rtol=1e-10, atol=1e-10
        )


def test_prime_single_token_and_empty_rows():
    mask = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    acc = torch.tensor([1.0, 1.0, 0.0, 0.0])
    proc = torch.randn(4, 3)
    adv, ret = algos.prime_advantages(acc, mask, 2, process_rewards=proc)
    assert torch.isfinite(adv).all() and torch.isfinite(ret).all()
    assert (adv[~mask] == 0).all() and (ret[~mask] == 0).all()


def test_prime_batch_norm():
    scores = torch.tensor([[1.0, -3.0, 0.0], [2.0, 0.0, 5.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    # Reverse cumsums of the masked scores: row 0 [-2, -3, 0], row 1 [2, 0, 0] -> max |.| = 3.
    out = algos.normalize_process_rewards(scores, mask, "batch_norm")
    expected = torch.tensor([[1.0, -3.0, 0.0], [2.0, 0.0, 0.0]]) / (3.0 + 1e-6)
    torch.testing.assert_close(out, expected)
    with pytest.raises(UnsupportedInputError, match="batch_norm"):
        algos.normalize_process_rewards(scores, mask, "layer_norm")


def test_rloo_outcome_only_and_with_process():
    mask = torch.ones(3, 2, dtype=torch.bool)
    acc = torch.tensor([1.0, 0.0, 0.5])
    adv, _ = algos.rloo_advantages(acc, mask, 3)
    # acc_i - mean of the other two: 1 - 0.25, 0 - 0.75, 0.5 - 0.5.
    torch.testing.assert_close(adv, torch.tensor([[0.75, 0.75], [-0.75, -0.75], [0.0, 0.0]]))
    proc = torch.tensor([[1.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    # mu = (1, 1, 0); r' = r - (2 - mu_i)/2 = r - (0.5, 0.5, 1).
    # row 0: [0.5, 0.5] -> returns [1, 0.5]; row 1: [-0.5, 1.5] -> [1, 1.5]; row 2: [-1, -1] -> [-2, -1]
    adv2, _ = algos.rloo_advantages(acc, mask, 3, process_rewards=proc)
    torch.testing.assert_close(adv2, torch.tensor([[1.75, 1.25], [0.25, 0.75], [-2.0, -1.0]]))


def test_grpo_by_hand():
    mask = torch.ones(3, 2, dtype=torch.bool)
    acc = torch.tensor([1.0, 0.0, 0.5])  # mean 0.5, unbiased std 0.5
    adv, _ = algos.grpo_advantages(acc, mask, 3, eps=0.0)
    torch.testing.assert_close(adv, torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 0.0]]))
    proc = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    # c = (1, 0, 1): mean 2/3, std sqrt(1/3); process term per token (r - 2/3)/sqrt(1/3), then summed from t.
    s = math.sqrt(1 / 3)
    pn = (proc - 2 / 3) / s
    expected = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 0.0]]) + torch.stack(
        [pn[:, 0] + pn[:, 1], pn[:, 1]], -1
    )
    adv2, _ = algos.grpo_advantages(acc, mask, 3, process_rewards=proc, eps=0.0)
    torch.testing.assert_close(adv2, expected)
    # A group of one: mean 0, std 1.
    adv3, _ = algos.grpo_advantages(torch.tensor([0.7]), torch.ones(1, 2, dtype=torch.bool), 1, eps=0.0)
    torch.testing.assert_close(adv3, torch.full((1, 2), 0.7))


def test_reinforce_by_hand():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    acc = torch.tensor([1.0, 0.0])
    proc = torch.tensor([[0.1, 0.2, 0.3], [1.0, -1.0, 7.0]])
    adv, _ = algos.reinforce_advantages(acc, mask, process_rewards=proc, gamma=0.5)
    # row 0: 1 + [0.1 + 0.5*(0.2 + 0.5*0.3), 0.2 + 0.15, 0.3]; row 1: [1 - 0.5, -1, 0]
    expected = torch.tensor([[1.275, 1.35, 1.3], [0.5, -1.0, 0.0]])
    torch.testing.assert_close(adv, expected)
    adv0, _ = algos.reinforce_advantages(acc, mask)
    torch.testing.assert_close(adv0, torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))


def test_gae_skip_masking_by_hand():
    # t=2: delta = 1 - 0.2 = 0.8 -> A2 = 0.8, nextvalue 0.2.
    # t=1 (masked): passes A = 0.8 and nextvalue 0.2 through.
    # t=0: delta = 0.9*0.2 - 0.5 = -0.32; A0 = -0.32 + 0.9*0.8*0.8 = 0.256.
    r = torch.tensor([[0.0, 0.0, 1.0]])
    v = torch.tensor([[0.5, 9.0, 0.2]])
    m = torch.tensor([[1, 0, 1]], dtype=torch.bool)
    adv, ret = algos.gae_advantages(r, v, m, gamma=0.9, lam=0.8, whiten=False)
    torch.testing.assert_close(adv, torch.tensor([[0.256, 0.0, 0.8]]))
    torch.testing.assert_close(ret, torch.tensor([[0.756, 0.0, 1.0]]))


def test_gae_matches_verl_loop_random():
    torch.manual_seed(1)
    b, t = 4, 17
    r, v = torch.randn(b, t, dtype=torch.float64), torch.randn(b, t, dtype=torch.float64)
    m = torch.rand(b, t) > 0.3
    gamma, lam = 0.97, 0.9
    mf = m.double()
    nextv = torch.zeros(b, dtype=torch.float64)
    last = torch.zeros(b, dtype=torch.float64)
    out = []
    for i in reversed(range(t)):
        delta = r[:, i] + gamma * nextv - v[:, i]
        new = delta + gamma * lam * last
        nextv = v[:, i] * mf[:, i] + (1 - mf[:, i]) * nextv
        last = new * mf[:, i] + (1 - mf[:, i]) * last
        out.append(last)
    ref = torch.stack(out[::-1], -1)
    adv, ret = algos.gae_advantages(r, v, m, gamma=gamma, lam=lam, whiten=False)
    torch.testing.assert_close(adv, torch.where(m, ref, torch.zeros_like(ref)))
    torch.testing.assert_close(ret, torch.where(m, ref + v, torch.zeros_like(ref)))
    adv_w, _ = algos.gae_advantages(r, v, m, gamma=gamma, lam=lam)
    torch.testing.assert_close(adv_w, torch.where(m, algos.masked_whiten(ref, m), torch.zeros_like(ref)))


def test_masked_whiten_by_hand_and_errors():
    vals = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    out = algos.masked_whiten(vals, mask)
    expected = (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / math.sqrt(5 / 3 + 1e-8)
    torch.testing.assert_close(out[mask], expected)
    out2 = algos.masked_whiten(vals, mask, shift_mean=False)
    torch.testing.assert_close(out2[mask], expected + 2.5)
    # One valid entry: the variance denominator is clamped to 1 (no error); that entry whitens to 0.
    one = torch.tensor([[True, False, False], [False, False, False]])
    torch.testing.assert_close(algos.masked_whiten(vals, one)[one], torch.zeros(1))
    # Float64 accumulation: a float32 input whose mean is far from 0 keeps its small spread.
    big = torch.tensor([[1e7 + 1.0, 1e7 - 1.0, 1e7 + 3.0]], dtype=torch.float32)
    ref = (big.double() - big.double().mean()) / big.double().std()
    torch.testing.assert_close(algos.masked_whiten(big, torch.ones_like(big, dtype=torch.bool)), ref.float())


def test_discounted_returns_vs_loop():
    torch.manual_seed(2)
    r = torch.randn(5, 37, dtype=torch.float64)
    m = torch.rand(5, 37) > 0.2
    torch.testing.assert_close(algos.discounted_returns(r, 0.9), reference.discounted_returns(r, 0.9))
    torch.testing.assert_close(
        algos.discounted_returns(r, 0.8, m, reset=True), reference.discounted_returns(r, 0.8, m, reset=True)
    )


def test_group_errors():
    with pytest.raises(UnsupportedInputError, match="multiple of n_samples"):
        algos.prime_advantages(torch.zeros(3), torch.ones(3, 2), 2)
    with pytest.raises(UnsupportedInputError, match="n_samples"):
        algos.rloo_advantages(torch.zeros(2), torch.ones(2, 2), 0)
    with pytest.raises(UnsupportedInputError, match="form"):
        algos.prime_advantages(torch.zeros(2), torch.ones(2, 2), 2, form="eq5")


def test_registries():
    assert set(algos.ADVANTAGE_ESTIMATORS.names()) == {"prime", "rloo", "grpo", "reinforce", "gae"}
    assert algos.get_advantage_estimator("prime") is algos.prime_advantages
    assert algos.get_policy_loss("ppo_clip") is algos.ppo_clip_loss
    assert algos.get_prm_loss("ce") is algos.prm_bce_loss
    with pytest.raises(ConfigError, match="valid names: gae, grpo, prime, reinforce, rloo"):
        algos.get_advantage_estimator("ppo")
    with pytest.raises(ConfigError, match="already registered"):
        algos.register_advantage_estimator("rloo", algos.rloo_advantages)
    reg = algos.Registry("thing")
    reg.register("a", len)
    assert "a" in reg and reg["a"] is len and len(reg) == 1
    with pytest.raises(ConfigError, match="valid names: a"):
        reg.get("b")


def test_estimators_same_on_triton_scan(monkeypatch):
    """With PRIME_FAST_KERNELS=triton the returns come from the Triton scan (interpreter here)."""
    import os

    if os.environ.get("TRITON_INTERPRET", "0") != "1":
        pytest.skip("the Triton scan on CPU tensors needs TRITON_INTERPRET=1 (set by tests/conftest.py)")
    torch.manual_seed(5)
    b, t, k = 8, 70, 4
    lengths = torch.randint(1, t + 1, (b,))
    mask = torch.arange(t)[None, :] < lengths[:, None]
    acc = torch.randint(0, 2, (b,)).float()
    scores = torch.randn(b, t)
    values = torch.randn(b, t)
    monkeypatch.setenv("PRIME_FAST_KERNELS", "torch")
    ref = algos.prime_advantages(acc, mask, k, process_rewards=scores, gamma_process=0.9)
    ref_gae = algos.gae_advantages(scores, values, mask, gamma=0.99, lam=0.9)
    monkeypatch.setenv("PRIME_FAST_KERNELS", "triton")
    out = algos.prime_advantages(acc, mask, k, process_rewards=scores, gamma_process=0.9)
    out_gae = algos.gae_advantages(scores, values, mask, gamma=0.99, lam=0.9)
    for o, r in (*zip(out, ref), *zip(out_gae, ref_gae)):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k", [2, 3, 8, 16])
def test_rloo_grpo_vs_loops(k):
    """Outcome-only RLOO and GRPO against per-group loops for K = 2..16."""
    gen = torch.Generator().manual_seed(k)
    b, t = 2 * k, 5
    acc = torch.rand(b, generator=gen, dtype=torch.float64)
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[0, 3:] = False
    rloo = torch.empty(b, dtype=torch.float64)
    grpo = torch.empty(b, dtype=torch.float64)
    for s in range(0, b, k):
        g = acc[s : s + k]
        for j in range(k):
            others = torch.cat([g[:j], g[j + 1 :]])
            rloo[s + j] = g[j] - others.mean()
        grpo[s : s + k] = (g - g.mean()) / (g.std() + 1e-6)
    adv, _ = algos.rloo_advantages(acc, mask, k)
    torch.testing.assert_close(
        adv, torch.where(mask, rloo[:, None].expand(b, t), torch.zeros(b, t, dtype=torch.float64))
    )
    adv, _ = algos.grpo_advantages(acc, mask, k)
    torch.testing.assert_close(
        adv, torch.where(mask, grpo[:, None].expand(b, t), torch.zeros(b, t, dtype=torch.float64))
    )
