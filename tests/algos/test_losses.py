"""PPO-clip, PRM BCE and PRM accuracy against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from prime_fast import algos
from prime_fast.errors import UnsupportedInputError


def _case():
    # ratios 1.5, 0.5, 1.0 against advantages 1, 1, -2 (eps = 0.2):
    #   t0: max(-1.5, -1.2) = -1.2 (clipped); t1: max(-0.5, -0.8) = -0.5; t2: max(2, 2) = 2.
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0]])).requires_grad_(True)
    old = torch.zeros(1, 3)
    adv = torch.tensor([[1.0, 1.0, -2.0]])
    return logp, old, adv


def test_ppo_token_mean_by_hand():
    logp, old, adv = _case()
    mask = torch.ones(1, 3, dtype=torch.bool)
    loss, metrics = algos.ppo_clip_loss(logp, old, adv, mask)
    assert math.isclose(float(loss.detach()), (-1.2 - 0.5 + 2.0) / 3, abs_tol=1e-6)
    assert math.isclose(float(metrics["pg_clipfrac"]), 1 / 3, abs_tol=1e-6)
    # ppo_kl = mean(old - new) = -mean(log ratio)
    assert math.isclose(float(metrics["ppo_kl"]), -(math.log(1.5) + math.log(0.5)) / 3, abs_tol=1e-6)
    k3 = [r - 1 - math.log(r) for r in (1.5, 0.5, 1.0)]
    assert math.isclose(float(metrics["approx_kl"]), sum(k3) / 3, abs_tol=1e-6)
    loss.backward()
    # Clipped token: zero gradient; others: d(-A ratio)/d logp / 3 = -A ratio / 3.
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.5 / 3, 2.0 / 3]]))


def test_ppo_mask_and_aggregations():
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.0, 1.0, 1.0]]))
    old = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, 1.0, -2.0], [3.0, 5.0, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    tm, _ = algos.ppo_clip_loss(logp, old, adv, mask)
    assert math.isclose(float(tm.detach()), (-1.2 - 0.5 + 2.0 - 3.0) / 4, abs_tol=1e-6)
    sm, _ = algos.ppo_clip_loss(logp, old, adv, mask, aggregation="seq-mean-token-mean")
    assert math.isclose(float(sm.detach()), ((-1.2 - 0.5 + 2.0) / 3 - 3.0) / 2, abs_tol=1e-6)
    ss, _ = algos.ppo_clip_loss(logp, old, adv, mask, aggregation="seq-mean-token-sum")
    assert math.isclose(float(ss.detach()), ((-1.2 - 0.5 + 2.0) - 3.0) / 2, abs_tol=1e-6)
    with pytest.raises(UnsupportedInputError, match="aggregation"):
        algos.ppo_clip_loss(logp, old, adv, mask, aggregation="sum")


def test_ppo_dual_clip_by_hand():
    # A = -2: ratio 2 -> max(4, 2.4) = 4 < 3*2 = 6, kept; ratio 4 -> max(8, 2.4) = 8 capped at 6.
    logp = torch.log(torch.tensor([[2.0, 4.0]])).requires_grad_(True)
    adv = torch.tensor([[-2.0, -2.0]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    loss, metrics = algos.ppo_clip_loss(logp, torch.zeros(1, 2), adv, mask, dual_clip=3.0)
    assert math.isclose(float(loss.detach()), (4.0 + 6.0) / 2, abs_tol=1e-6)
    assert math.isclose(float(metrics["pg_clipfrac_lower"]), 0.5, abs_tol=1e-6)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[2.0 * 2.0 / 2, 0.0]]))
    with pytest.raises(UnsupportedInputError, match="dual_clip"):
        algos.ppo_clip_loss(logp, torch.zeros(1, 2), adv, mask, dual_clip=0.5)


def test_ppo_entropy_bonus():
    logp, old, adv = _case()
    mask = torch.ones(1, 3, dtype=torch.bool)
    ent = torch.tensor([[1.0, 2.0, 3.0]])
    loss, metrics = algos.ppo_clip_loss(logp, old, adv, mask, entropy=ent, entropy_coef=0.1)
    assert math.isclose(float(loss.detach()), 0.1 - 0.1 * 2.0, abs_tol=1e-6)
    assert math.isclose(float(metrics["entropy"]), 2.0, abs_tol=1e-6)


def test_prm_bce_by_hand():
    q = torch.tensor([[1.0, 2.0], [-1.0, 5.0]], requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)
    acc = torch.tensor([1.0, 0.25])
    loss = algos.prm_bce_loss(q, mask, acc, beta=0.5)
    # z = 0.5 * (3, -1) = (1.5, -0.5)
    s = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(s(1.5)) + 0.25 * math.log(s(-0.5)) + 0.75 * math.log(1 - s(-0.5))) / 2
    assert math.isclose(float(loss.detach()), expected, rel_tol=1e-6)
    loss.backward()
    # d/dq = beta * (sigmoid(z) - acc) * m / B
    g = torch.tensor([[0.5 * (s(1.5) - 1.0) / 2] * 2, [0.5 * (s(-0.5) - 0.25) / 2, 0.0]])
    torch.testing.assert_close(q.grad, g)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(torch.tensor([1.5, -0.5]), acc))
    with pytest.raises(UnsupportedInputError, match=r"\[0, 1\]"):
        algos.prm_bce_loss(q, mask, torch.tensor([2.0, 0.0]))


def test_prm_pairwise_accuracy_by_hand():
    # Group 1: acc (1, 0, 0.5), S (2, -1, 3): pairs (0,1) agree w=1, (0,2) disagree w=.5, (1,2) agree w=.5 -> 0.75.
    # Group 2: equal accuracies -> 0.5.  Mean 0.625.
    acc = torch.tensor([1.0, 0.0, 0.5, 1.0, 1.0, 1.0])
    scores = torch.tensor([[2.0, 0.0], [-1.0, 0.0], [1.0, 2.0], [0.0, 0.0], [1.0, 0.0], [2.0, 9.0]])
    mask = torch.tensor([[1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 0]], dtype=torch.bool)
    out = algos.prm_pairwise_accuracy(scores, acc, 3, mask)
    assert math.isclose(float(out), 0.625, abs_tol=1e-6)
    out1d = algos.prm_pairwise_accuracy(torch.tensor([2.0, -1.0, 3.0]), acc[:3], 3)
    assert math.isclose(float(out1d), 0.75, abs_tol=1e-6)


@pytest.mark.parametrize("k", [2, 5, 16])
def test_prm_pairwise_accuracy_matches_authors_loop(k):
    """PRIME's compute_dpo_accuracy re-typed (per-group loop) vs the vectorised version."""
    gen = torch.Generator().manual_seed(k)
    groups = 3
    acc = torch.randint(0, 3, (groups * k,), generator=gen).float() / 2  # 0, 0.5, 1 (ties included)
    acc[:k] = 1.0  # one group with all-equal accuracies -> 0.5
    scores = torch.randn(groups * k, 6, generator=gen)
    mask = torch.rand(groups * k, 6, generator=gen) > 0.3
    out = []
    for s in range(0, groups * k, k):
        cur = (scores[s : s + k] * mask[s : s + k]).sum(1)
        upper = torch.triu(torch.ones(k, k, dtype=torch.bool), diagonal=1)
        d_acc = (acc[s : s + k].unsqueeze(1) - acc[s : s + k].unsqueeze(0))[upper]
        d_s = (cur.unsqueeze(1) - cur.unsqueeze(0))[upper]
        if d_acc.abs().sum() == 0:
            out.append(torch.tensor(0.5))
        else:
            out.append((((d_s > 0) == (d_acc > 0)).float() * d_acc.abs()).sum() / d_acc.abs().sum())
    expected = torch.stack(out).mean()
    got = algos.prm_pairwise_accuracy(scores, acc, k, mask)
    assert math.isclose(float(got), float(expected), abs_tol=1e-6)
