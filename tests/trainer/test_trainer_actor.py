"""The PPO actor moves log-probs in the direction of the advantages; micro-batching is exact."""

from __future__ import annotations

import copy

import torch

from prime_fast.runtime.batch import build_batch
from prime_fast.runtime.models import batched_logprobs, enable_activation_checkpointing
from prime_fast.trainer.actor import Actor, fused_loss_applies
from prime_fast.trainer.config import AlgoConfig, OptimConfig
from prime_fast.trainer.optim import make_optimizer, make_scheduler


def _batch():
    prompts = [[2, 7, 15, 3], [2, 9, 3], [2, 7, 15, 3], [2, 9, 3]]
    responses = [[5, 6, 7, 1], [8, 9, 1], [10, 11, 1], [12, 13, 14, 5, 1]]
    return build_batch(prompts, responses, pad_token_id=0, eos_token_id=1)


def _actor(model, sgd: bool = False, **kw) -> Actor:
    o = OptimConfig(lr=1e-2, weight_decay=0.0, mini_batch_size=4, micro_batch_size=kw.pop("micro", 4), **kw)
    # Adam's first step is ~lr * sign(grad), which amplifies rounding noise on near-zero gradients;
    # SGD keeps the comparison of two accumulation schemes exact up to float error.
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.5)
        if sgd
        else make_optimizer(model, lr=o.lr, weight_decay=0.0)
    )
    return Actor(
        model, o, AlgoConfig(), opt, make_scheduler(opt, schedule="constant", warmup_ratio=0, total_steps=1)
    )


def test_update_follows_the_advantage_sign(tiny_model) -> None:
    batch = _batch()
    old = batched_logprobs(tiny_model, batch, 4)
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0]).unsqueeze(1) * batch.response_mask
    m = _actor(tiny_model).update(batch, old, adv, torch.Generator().manual_seed(0))
    new = batched_logprobs(tiny_model, batch, 4)
    delta = ((new - old) * batch.response_mask).sum(1)
    assert (delta[[0, 2]] > 0).all() and (delta[[1, 3]] < 0).all(), delta
    assert abs(m["actor/ppo_kl"]) < 1e-5  # first mini-batch: new = old


def test_micro_batches_accumulate_to_the_full_batch_step(tiny_model) -> None:
    # Equal response lengths: the token-mean of two micro-batches, each divided by 2, equals the
    # token-mean over the whole mini-batch, so both runs take the same optimizer step.
    prompts = [[2, 7, 15, 3], [2, 9, 3], [2, 7, 15, 3], [2, 9, 3]]
    responses = [[5, 6, 7, 1], [8, 9, 10, 1], [10, 11, 12, 1], [12, 13, 14, 1]]
    batch = build_batch(prompts, responses, pad_token_id=0, eos_token_id=1)
    other = copy.deepcopy(tiny_model)
    old = batched_logprobs(tiny_model, batch, 4)
    adv = torch.randn(batch.responses.shape, generator=torch.Generator().manual_seed(1)) * batch.response_mask
    _actor(tiny_model, sgd=True, micro=4, shuffle=False).update(
        batch, old, adv, torch.Generator().manual_seed(0)
    )
    _actor(other, sgd=True, micro=2, shuffle=False).update(batch, old, adv, torch.Generator().manual_seed(0))
    for (name, a), (_, b) in zip(tiny_model.named_parameters(), other.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5), name
    start = batched_logprobs(tiny_model, batch, 4)
    assert not torch.allclose(start, old)  # the step did change the policy


def test_gradient_checkpointing_gives_the_same_step(tiny_model) -> None:
    batch = _batch()
    other = copy.deepcopy(tiny_model)
    enable_activation_checkpointing(other)
    other.config.use_cache = False
    old = batched_logprobs(tiny_model, batch, 4)
    adv = torch.randn(batch.responses.shape, generator=torch.Generator().manual_seed(2)) * batch.response_mask
    _actor(tiny_model, sgd=True, shuffle=False).update(batch, old, adv, torch.Generator().manual_seed(0))
    _actor(other, sgd=True, shuffle=False).update(batch, old, adv, torch.Generator().manual_seed(0))
    for (name, a), (_, b) in zip(tiny_model.named_parameters(), other.named_parameters()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_fused_loss_gives_the_unfused_step(tiny_model) -> None:
    """``optim.fused_loss`` on vs off: the same loss metrics and the same parameter update (issue 25)."""
    batch = _batch()
    other = copy.deepcopy(tiny_model)
    old = batched_logprobs(tiny_model, batch, 4)
    gen = torch.Generator().manual_seed(4)
    # old log-probs away from the current ones, so that clipping and the ratio matter
    old = old + 0.4 * torch.randn(old.shape, generator=gen) * batch.response_mask
    adv = torch.randn(batch.responses.shape, generator=gen) * batch.response_mask
    before = [p.detach().clone() for p in tiny_model.parameters()]
    fused = _actor(tiny_model, sgd=True, shuffle=False, micro=2, fused_loss=True)
    plain = _actor(other, sgd=True, shuffle=False, micro=2, fused_loss=False)
    assert fused_loss_applies(tiny_model, fused.algo)
    mf = fused.update(batch, old, adv, torch.Generator().manual_seed(0))
    mp = plain.update(batch, old, adv, torch.Generator().manual_seed(0))
    assert set(mf) == set(mp) and mf["actor/pg_clipfrac"] > 0
    for k in mf:
        assert abs(mf[k] - mp[k]) <= 1e-5 * max(1.0, abs(mp[k])), (k, mf[k], mp[k])
    moved = 0.0
    for (name, a), (_, b), p0 in zip(tiny_model.named_parameters(), other.named_parameters(), before):
        step_f, step_p = a.detach() - p0, b.detach() - p0
        assert torch.allclose(step_f, step_p, rtol=1e-4, atol=1e-5 * float(step_p.abs().max())), name
        moved = max(moved, float(step_p.abs().max()))
    assert moved > 0
