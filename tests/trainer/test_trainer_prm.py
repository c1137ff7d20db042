"""Implicit PRM: initial rewards are zero, update modes after/before, reference types, granularity."""

from __future__ import annotations

import copy

import pytest
import torch

from prime_fast.runtime.batch import build_batch
from prime_fast.runtime.models import batched_logprobs
from prime_fast.trainer.config import PRMConfig
from prime_fast.trainer.optim import make_optimizer, make_scheduler
from prime_fast.trainer.prm import PRMTrainer

K = 4


def _batch():
    g = torch.Generator().manual_seed(0)
    prompts, responses = [], []
    for i in range(8):
        p = [2, *torch.randint(5, 20, (3 + i % 3,), generator=g).tolist(), 3]
        r = torch.randint(5, 20, (2 + i % 5,), generator=g).tolist() + ([1] if i % 3 else [])
        prompts.append(p)
        responses.append(r)
    return build_batch(prompts, responses, pad_token_id=0, eos_token_id=1)


def _trainer(model, ref, **kw) -> PRMTrainer:
    cfg = PRMConfig(lr=1e-2, mini_batch_size=8, micro_batch_size=4, **kw)
    opt = make_optimizer(model, lr=cfg.lr)
    return PRMTrainer(
        model, ref, cfg, K, opt, make_scheduler(opt, schedule="constant", warmup_ratio=0, total_steps=1)
    )


ACC = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])


def test_after_mode_scores_come_from_the_pre_update_forward(tiny_model) -> None:
    batch = _batch()
    prm = tiny_model
    ref = copy.deepcopy(tiny_model).requires_grad_(False)
    tr = _trainer(prm, ref)
    ref_logp = tr.ref_logprobs(batch, old_logp=torch.zeros(batch.responses.shape))
    before = batched_logprobs(prm, batch, 8)
    scores, m = tr.step(batch, ACC, ref_logp)
    # PRM = reference at init: every process reward is exactly 0 (docs/ALGORITHM.md 1).
    assert torch.equal(scores, torch.zeros_like(scores))
    assert torch.allclose(before, ref_logp)
    # The update happened and moved the PRM towards the labels.
    after = batched_logprobs(prm, batch, 8)
    z = 0.05 * ((after - ref_logp) * batch.response_mask).sum(-1)
    assert not torch.allclose(after, before)
    assert m["prm/loss"] == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-5)
    assert float(z[ACC == 1].mean()) > float(z[ACC == 0].mean())
    # A second step scores with the updated PRM (before its own update): the scores are q of `after`.
    scores2, _ = tr.step(batch, ACC, ref_logp)
    q = (after - ref_logp) * batch.response_mask
    assert torch.allclose(scores2, q, atol=1e-5)


def test_before_mode_scores_with_the_updated_prm(tiny_model) -> None:
    batch = _batch()
    ref = copy.deepcopy(tiny_model).requires_grad_(False)
    tr = _trainer(tiny_model, ref, update="before")
    ref_logp = tr.ref_logprobs(batch, torch.zeros(batch.responses.shape))
    scores, m = tr.step(batch, ACC, ref_logp)
    after = batched_logprobs(tiny_model, batch, 8)
    assert torch.allclose(scores, (after - ref_logp) * batch.response_mask, atol=1e-6)
    assert scores.abs().sum() > 0
    assert "prm/acc_after" in m


def test_policy_reference_uses_old_logprobs(tiny_model) -> None:
    batch = _batch()
    tr = _trainer(tiny_model, None, ref_type="policy")
    old = torch.randn(batch.responses.shape) * batch.response_mask
    assert tr.ref_logprobs(batch, old) is old
    own = batched_logprobs(tiny_model, batch, 8)
    scores, _ = tr.step(batch, ACC, old)
    assert torch.allclose(scores, (own - old) * batch.response_mask, atol=1e-5)


def test_whole_granularity_puts_the_row_sum_on_the_last_token(tiny_model) -> None:
    batch = _batch()
    tr = _trainer(tiny_model, None, ref_type="policy", granularity="whole")
    old = torch.randn(batch.responses.shape) * batch.response_mask
    own = batched_logprobs(tiny_model, batch, 8)
    scores, _ = tr.step(batch, ACC, old)
    q = (own - old) * batch.response_mask
    last = batch.response_mask.sum(1) - 1
    for i in range(batch.size):
        assert scores[i, last[i]].item() == pytest.approx(q[i].sum().item(), abs=1e-4)
        others = torch.cat([scores[i, : last[i]], scores[i, last[i] + 1 :]])
        assert torch.equal(others, torch.zeros_like(others))
