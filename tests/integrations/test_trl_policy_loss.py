"""The mixin's fused policy loss against TRL 1.16's own ``GRPOTrainer._compute_loss``: loss, gradients, metrics.

Each case builds a ``GRPOTrainer`` with the mixin (a tiny real Qwen2) and a fixed batch drawn from its own seed
(prompt left padding, ragged completions, one empty completion, old log-probs scattered around the current ones
so that clipping binds on both sides, reference log-probs, ``(B,)`` or ``(B, T)`` advantages); new allocations
are poisoned with NaN. The fused loss must equal TRL's (TRL's own log-probs: ``fused_logprobs = "trl"``) to
1e-5 in fp32, the gradient of every parameter to 1e-5 of its largest entry, and the logged metrics must match.
Settings the op cannot reproduce run TRL's own loss (``policy_loss_path == "trl"``, the reason recorded).
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")
torch = pytest.importorskip("torch")

from _trl_setup import demo_dataset, grpo_config, tiny_model  # noqa: E402

from prime_fast.errors import ConfigError  # noqa: E402
from prime_fast.integrations.trl import FusedLogProbGRPOTrainer, FusedLogProbsMixin, math_reward  # noqa: E402

RTOL = 1e-5
#: name -> (GRPOConfig overrides, advantages per token, old log-probs given, eval mode)
CASES: dict[str, tuple[dict[str, Any], bool, bool, bool]] = {
    "grpo": ({"loss_type": "grpo"}, False, True, False),
    "grpo-asym-kl-token-adv": (
        {"loss_type": "grpo", "epsilon_high": 0.28, "beta": 0.04, "num_iterations": 2},
        True,
        True,
        False,
    ),
    "grpo-delta-kl-unweighted": (
        {"loss_type": "grpo", "delta": 1.5, "beta": 0.02, "use_bias_correction_kl": False},
        True,
        True,
        False,
    ),
    "grpo-on-policy-kl": ({"loss_type": "grpo", "beta": 0.04, "temperature": 0.7}, False, False, False),
    "bnpo-kl-entropy": ({"loss_type": "bnpo", "beta": 0.04, "entropy_coef": 0.01}, False, True, False),
    "dr_grpo-temperature": (
        {"loss_type": "dr_grpo", "epsilon": 0.15, "epsilon_high": 0.3, "temperature": 0.7},
        True,
        True,
        False,
    ),
    "dapo-kl-entropy": (
        {"loss_type": "dapo", "beta": 0.02, "entropy_coef": 0.005, "num_iterations": 2},
        False,
        True,
        False,
    ),
    "dapo-eval": ({"loss_type": "dapo", "epsilon_high": 0.28}, True, True, True),
    "luspo-token": ({"loss_type": "luspo", "beta": 0.04}, True, True, False),
    "bnpo-eval-delta": ({"loss_type": "bnpo", "delta": 1.6, "entropy_coef": 0.01}, True, True, True),
}
#: name -> (GRPOConfig overrides, a word of the recorded reason)
FALLBACKS = {
    "cispo": ({"loss_type": "cispo"}, "loss_type"),
    "sequence-is": ({"importance_sampling_level": "sequence"}, "importance_sampling_level"),
    "entropy-mask": ({"top_entropy_quantile": 0.5}, "top_entropy_quantile"),
    "grpo-entropy-bonus": ({"loss_type": "grpo", "entropy_coef": 0.01}, "entropy_coef"),
    "delta-inside-band": ({"delta": 1.1, "epsilon_high": 0.2}, "delta"),
}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: Any) -> str:
    """The tiny policy saved once, so that TRL can build its reference model (beta > 0) from the path."""
    model, tok = tiny_model(seed=5)
    path = tmp_path_factory.mktemp("policy")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def _trainer(model_path: str, tmp_path: Any, **overrides: Any) -> Any:
    from transformers import AutoTokenizer

    class Trainer(FusedLogProbsMixin, trl.GRPOTrainer):
        fused_policy_loss = "prime_fast"

    tr = Trainer(
        model=model_path,
        reward_funcs=[math_reward],
        args=grpo_config(str(tmp_path), gradient_accumulation_steps=2, **overrides),
        train_dataset=demo_dataset(8),
        processing_class=AutoTokenizer.from_pretrained(model_path),
    )
    tr.current_gradient_accumulation_steps = 2  # set by the Trainer's loop in training
    return tr


def _batch(tr: Any, seed: int, per_token_adv: bool, with_old: bool) -> dict[str, Any]:
    """A generation batch as TRL's ``_generate_and_score_completions`` returns it, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    b, p, t, v = 8, 5, 10, tr.model.config.vocab_size
    prompt_ids = torch.randint(2, v, (b, p), generator=gen)
    prompt_mask = torch.ones_like(prompt_ids)
    prompt_mask[0, :2] = 0  # left padding
    completion_ids = torch.randint(2, v, (b, t), generator=gen)
    lengths = torch.randint(3, t + 1, (b,), generator=gen)
    lengths[2] = 0  # an empty completion
    completion_mask = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).long()
    with torch.no_grad():
        ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1)
        cur = trl.GRPOTrainer._get_per_token_logps_and_entropies(tr, tr.model, ids, mask, t)[0]
    adv = torch.randn((b, t) if per_token_adv else (b,), generator=gen)
    sign = adv.sign() if per_token_adv else adv.sign().unsqueeze(1)
    # 40% of the tokens pushed out of the clip band on the side where it binds, 30% far out on the other side
    # (ratios of 1.8-2.7 with negative advantages: where TRL's delta caps the ratio), the rest near ratio 1
    u = torch.rand(b, t, generator=gen)
    out = torch.empty(b, t).uniform_(0.3, 0.8, generator=gen) * sign
    other = -torch.empty(b, t).uniform_(0.6, 1.0, generator=gen) * sign
    near = 0.05 * torch.randn(b, t, generator=gen)
    old = cur - torch.where(u < 0.4, out, torch.where(u < 0.7, other, near))
    batch = {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": adv,
        "num_items_in_batch": completion_mask.sum() * 2,  # the generation batch: two such micro-batches
    }
    if with_old:
        batch["old_per_token_logps"] = old
    if tr.beta != 0.0:
        batch["ref_per_token_logps"] = cur + 0.3 * torch.randn(b, t, generator=gen)
    return batch


def _ids(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(input_ids, attention_mask, logits_to_keep)`` of a batch."""
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    return ids, mask, inputs["completion_ids"].size(1)


def _run(tr: Any, fn: Any, inputs: dict[str, Any]) -> tuple[torch.Tensor, list[Any], dict[str, list[float]]]:
    for log in tr._metrics.values():
        log.clear()
    params = [p for p in tr.model.parameters() if p.requires_grad]
    loss = fn(tr.model, inputs)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    mode = "train" if tr.model.training else "eval"
    return loss.detach(), list(grads), {k: list(v) for k, v in tr._metrics[mode].items()}


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1e-30))


@pytest.mark.parametrize("case", list(CASES))
def test_fused_loss_equals_trl(case: str, model_path: str, tmp_path: Any, poison: Any) -> None:
    overrides, per_token_adv, with_old, eval_mode = CASES[case]
    tr = _trainer(model_path, tmp_path, **overrides)
    tr.model.train(not eval_mode)
    inputs = _batch(tr, zlib.crc32(case.encode()), per_token_adv, with_old)

    ours = _run(tr, tr._compute_loss, inputs)
    assert tr.policy_loss_path == "prime_fast" and tr.policy_loss_fallback is None, tr.policy_loss_fallback
    tr.fused_logprobs = "trl"  # TRL's loss on TRL's own log-probs
    theirs = _run(tr, lambda m, x: trl.GRPOTrainer._compute_loss(tr, m, x), inputs)

    assert ours[0].dtype == theirs[0].dtype == torch.float32
    torch.testing.assert_close(ours[0], theirs[0], rtol=RTOL, atol=1e-7)
    n_grads = 0
    for a, b in zip(ours[1], theirs[1], strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert bool(torch.isfinite(a).all()) and _max_rel(a, b) <= RTOL, _max_rel(a, b)
            n_grads += 1
    assert n_grads > 0 and any(float(g.abs().max()) > 0 for g in ours[1] if g is not None)
    assert set(ours[2]) == set(theirs[2])
    for key, values in theirs[2].items():
        torch.testing.assert_close(torch.tensor(ours[2][key]), torch.tensor(values), rtol=RTOL, atol=1e-6)
    # the batch exercises what the case is about
    assert ("kl" in theirs[2]) == (tr.beta != 0.0)
    assert ("policy_loss" in theirs[2]) == ("entropy_coef" in overrides)
    region = theirs[2]["clip_ratio/region_mean"][0]
    assert region == 0.0 if not with_old else region > 0.1
    if "delta" in overrides:  # some tokens have their ratio capped by delta (the op's dual clip)
        ratio = torch.exp(
            tr._get_per_token_logps_and_entropies(tr.model, *_ids(inputs))[0] - inputs["old_per_token_logps"]
        )
        adv = inputs["advantages"] if per_token_adv else inputs["advantages"].unsqueeze(1)
        capped = (ratio > overrides["delta"]) & (adv < 0) & (inputs["completion_mask"] == 1)
        assert int(capped.sum()) >= 3


def test_fused_loss_follows_its_inputs(model_path: str, tmp_path: Any, poison: Any) -> None:
    """Other advantages or old log-probs give another loss (the comparison above is not vacuous)."""
    tr = _trainer(model_path, tmp_path, beta=0.04)
    inputs = _batch(tr, 1, True, True)
    base = tr._compute_loss(tr.model, inputs).item()
    for key in ("advantages", "old_per_token_logps", "ref_per_token_logps"):
        changed = dict(inputs, **{key: inputs[key] + 0.2 * torch.randn(inputs[key].shape)})
        assert tr._compute_loss(tr.model, changed).item() != base, key


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_unsupported_settings_run_trls_loss(case: str, model_path: str, tmp_path: Any) -> None:
    overrides, word = FALLBACKS[case]
    tr = _trainer(model_path, tmp_path, **overrides)
    tr.fused_logprobs = "trl"
    inputs = _batch(tr, 7, False, True)
    ours = _run(tr, tr._compute_loss, inputs)
    assert tr.policy_loss_path == "trl" and word in tr.policy_loss_fallback
    theirs = _run(tr, lambda m, x: trl.GRPOTrainer._compute_loss(tr, m, x), inputs)
    assert torch.equal(ours[0], theirs[0]) and ours[2] == theirs[2]
    for a, b in zip(ours[1], theirs[1], strict=True):
        assert (a is None and b is None) or torch.equal(a, b)


def test_dispatch(model_path: str, tmp_path: Any, monkeypatch: Any) -> None:
    tr = _trainer(model_path, tmp_path)
    inputs = _batch(tr, 3, False, True)
    tr.fused_policy_loss = "trl"
    tr._compute_loss(tr.model, inputs)
    assert tr.policy_loss_path == "trl" and "dispatch" in tr.policy_loss_fallback
    # auto follows the log-prob dispatch: a small batch on the CPU goes eager, so TRL's loss runs
    tr.fused_policy_loss = "auto"
    cpu = torch.device("cpu")
    assert tr._policy_loss_mode(cpu, 10) == "trl"
    assert tr._policy_loss_mode(cpu, 1 << 25) == "prime_fast"
    assert tr._policy_loss_mode(torch.device("cuda"), 10) == "prime_fast"
    tr.fused_logprobs = "prime_fast"
    assert tr._policy_loss_mode(cpu, 10) == "prime_fast"
    monkeypatch.setenv("PRIME_FAST_TRL_POLICY_LOSS", "trl")
    assert tr._policy_loss_mode(cpu, 10) == "trl"
    monkeypatch.setenv("PRIME_FAST_TRL_POLICY_LOSS", "fast")
    with pytest.raises(ConfigError, match="fused_policy_loss"):
        tr._policy_loss_mode(cpu, 10)


def _length_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """A reward in [0, 1) that varies within each group (the random tiny model never answers right)."""
    return [len(c[0]["content"]) / (len(c[0]["content"]) + 10) for c in completions]


def test_grpo_trains_with_the_fused_loss(model_path: str, tmp_path: Any) -> None:
    from transformers import AutoTokenizer

    tr = FusedLogProbGRPOTrainer(
        model=model_path,
        reward_funcs=[math_reward, _length_reward],
        args=grpo_config(str(tmp_path), max_steps=2, beta=0.04, num_iterations=2, loss_type="dapo"),
        train_dataset=demo_dataset(16),
        processing_class=AutoTokenizer.from_pretrained(model_path),
    )
    tr.fused_policy_loss = "prime_fast"
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.train()
    assert tr.state.global_step == 2
    assert tr.policy_loss_path == "prime_fast"
    for key in ("kl", "entropy", "clip_ratio/region_mean", "clip_ratio/high_max"):
        assert any(key in h for h in tr.state.log_history), key
    assert any(not torch.equal(before[n], p) for n, p in tr.model.named_parameters())


def test_prime_trainer_trains_with_the_fused_loss(tmp_path: Any) -> None:
    """``PrimeGRPOTrainer`` inherits the fused loss: its ``(B, T)`` advantages train the policy through it."""
    from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer

    model, tok = tiny_model()
    tr = PrimeGRPOTrainer(
        model=model,
        reward_funcs=[_length_reward],
        args=grpo_config(str(tmp_path), max_steps=2, num_iterations=2),
        train_dataset=demo_dataset(16),
        processing_class=tok,
        prime=PrimeConfig(lr=1e-3),
    )
    tr.fused_policy_loss = "prime_fast"
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.train()
    assert tr.state.global_step == 2 and tr.policy_loss_path == "prime_fast"
    assert any("adv/mean" in h for h in tr.state.log_history)
    assert any("clip_ratio/region_mean" in h for h in tr.state.log_history)
    assert any(not torch.equal(before[n], p) for n, p in tr.model.named_parameters())
