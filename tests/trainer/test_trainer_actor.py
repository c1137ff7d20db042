"""The PPO actor moves log-probs in the direction of the advantages; micro-batching is exact."""

from __future__ import annotations

import copy

import pytest
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
    """``optim.fused_loss`` on vs off: the same loss metrics and the same parameter update (issue 25).

    In float64: the two paths sum the LM head's gradient in a different order, and in float32 that
    rounding (~1e-7 of a gradient's terms) shows as ~1e-5 of a small weight's step after cancellation
    (measured: 1.6e-5 of k_proj's largest step); in float64 the same order difference is ~1e-14."""
    batch = _batch()
    tiny_model.double()
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
        assert abs(mf[k] - mp[k]) <= 1e-10 * max(1.0, abs(mp[k])), (k, mf[k], mp[k])
    moved = 0.0
    for (name, a), (_, b), p0 in zip(tiny_model.named_parameters(), other.named_parameters(), before):
        step_f, step_p = a.detach() - p0, b.detach() - p0
        assert torch.allclose(step_f, step_p, rtol=1e-9, atol=1e-10 * float(step_p.abs().max())), name
        moved = max(moved, float(step_p.abs().max()))
    assert moved > 0


def test_on_policy_update_needs_no_old_logprobs(tiny_model) -> None:
    """``old_logp=None`` (exactly on-policy): each micro-batch's own log-probs, detached, are the old ones;
    the step equals the step with the old log-probs computed by a separate forward."""
    batch = _batch()
    other = copy.deepcopy(tiny_model)
    old = batched_logprobs(tiny_model, batch, 4)
    adv = torch.randn(batch.responses.shape, generator=torch.Generator().manual_seed(5)) * batch.response_mask
    before = [p.detach().clone() for p in tiny_model.parameters()]
    m_skip = _actor(tiny_model, sgd=True, shuffle=False, micro=2).update(
        batch, None, adv, torch.Generator().manual_seed(0)
    )
    m_full = _actor(other, sgd=True, shuffle=False, micro=2, fused_loss=False).update(
        batch, old, adv, torch.Generator().manual_seed(0)
    )
    assert m_skip["actor/pg_clipfrac"] == 0.0 and m_skip["actor/ppo_kl"] == 0.0
    for k in m_full:
        assert abs(m_skip[k] - m_full[k]) <= 1e-5 * max(1.0, abs(m_full[k])), (k, m_skip[k], m_full[k])
    moved = 0.0
    for (name, a), (_, b), p0 in zip(tiny_model.named_parameters(), other.named_parameters(), before):
        assert torch.allclose(a, b, atol=1e-6), name
        moved = max(moved, float((a.detach() - p0).abs().max()))
    assert moved > 0


def _sized_cfg(*over: str):
    """4 prompts x K = 4: one optimizer step of 16 responses unless ``over`` says otherwise."""
    from prime_fast.trainer.config import load_config

    base = ["data.train_batch_size=4", "rollout.n=4", "optim.mini_batch_size=16", "optim.micro_batch_size=4"]
    return load_config(None, [*base, "prm.mini_batch_size=16", "prm.micro_batch_size=4", *over])


def test_exactly_on_policy_needs_one_epoch_one_minibatch_and_no_reader() -> None:
    from prime_fast.trainer.sizes import exactly_on_policy

    cfg = _sized_cfg
    assert exactly_on_policy(cfg())
    assert not exactly_on_policy(cfg("optim.mini_batch_size=8"))  # two optimizer steps
    assert not exactly_on_policy(cfg("optim.ppo_epochs=2"))
    assert not exactly_on_policy(cfg("prm.ref_type=policy"))  # the PRM's reference reads them
    assert not exactly_on_policy(cfg("prm.mode=self"))
    assert exactly_on_policy(cfg("prm.ref_type=policy", "algo.process_rewards=false"))  # no PRM at all


def test_old_logprobs_in_round_only_when_every_generated_row_is_trained_on() -> None:
    from prime_fast.trainer.sizes import old_logprobs_in_round

    def cfg(*over: str):
        return _sized_cfg("optim.mini_batch_size=8", *over)  # two optimizer steps: not on-policy

    no_filter = ("algo.filter_accuracy=false", "algo.filter_truncated=false")
    assert old_logprobs_in_round(cfg(*no_filter))
    assert not old_logprobs_in_round(cfg())  # PRIME's accuracy filter drops groups
    assert not old_logprobs_in_round(cfg("algo.filter_accuracy=false", "algo.filter_truncated=true"))
    assert not old_logprobs_in_round(cfg(*no_filter, "data.oversample_factor=2"))  # surplus groups
    assert not old_logprobs_in_round(cfg(*no_filter, "verify.overlap=false"))  # nothing to overlap
    assert not old_logprobs_in_round(cfg(*no_filter, "optim.mini_batch_size=16"))  # exactly on-policy


@pytest.mark.parametrize("filtered", [True, False], ids=["filter", "no-filter"])
def test_old_logprobs_are_the_rollout_policys_on_the_trained_rows(tmp_path, tiny_overrides, filtered) -> None:
    """With a filter, rounds leave old log-probs to the step, which computes them for the kept rows only;
    without one, rounds compute them while verifying. Either way they are the rollout policy's."""
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.loop import Trainer

    over = [] if filtered else ["algo.filter_accuracy=false", "algo.filter_truncated=false"]
    cfg = load_config(None, [*tiny_overrides(str(tmp_path / "run"), steps=1), *over])
    tr = Trainer(cfg, tmp_path / "run", prepare=prepare_demo)
    tr.setup()
    assert tr.round_logprobs is not filtered
    timings: dict[str, float] = {}
    ro, _ = tr.collect(timings)
    assert all((s.old_logp is None) is filtered for s in ro)
    batch, old_logp, _, mask = tr.tensorize(ro, timings)
    assert timings["old_logprob"] > 0
    want = batched_logprobs(tr.policy, batch, 2, temperature=cfg.rollout.temperature)
    assert old_logp.shape == want.shape and (old_logp[~mask] == 0).all()
    assert torch.allclose(old_logp, want, atol=1e-5, rtol=0), float((old_logp - want).abs().max())
