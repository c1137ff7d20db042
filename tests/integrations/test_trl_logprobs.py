"""The fused log-prob mixin against TRL 1.16's own ``_get_per_token_logps_and_entropies``: values and gradients."""

from __future__ import annotations

import tempfile
from typing import Any

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")
torch = pytest.importorskip("torch")

from _trl_setup import demo_dataset, grpo_config, tiny_model  # noqa: E402

from prime_fast.errors import ConfigError  # noqa: E402
from prime_fast.integrations.trl import FusedLogProbGRPOTrainer, FusedLogProbsMixin, math_reward  # noqa: E402
from prime_fast.integrations.trl_logprobs import EAGER_MAX_ELEMENTS  # noqa: E402


def _trainer(mode: str, **overrides: Any) -> Any:
    class Trainer(FusedLogProbsMixin, trl.GRPOTrainer):
        fused_logprobs = mode

    model, tok = tiny_model(seed=3)
    return Trainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(tempfile.mkdtemp(), **overrides),
        train_dataset=demo_dataset(8),
        processing_class=tok,
    )


def _batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(2, vocab, (5, 21), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :6] = 0  # left padding of the prompt
    mask[1, -4:] = 0  # a completion that ended early
    mask[3, -9:] = 0
    return ids, mask


@pytest.mark.parametrize("mode", ["prime_fast", "eager"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logps_entropies_and_gradients_equal_trl(mode: str, temperature: float) -> None:
    tr = _trainer(mode, temperature=temperature)
    assert tr.temperature == temperature
    ids, mask = _batch(tr.model.config.vocab_size)
    params = [p for p in tr.model.parameters() if p.requires_grad]

    def run(fn: Any) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        logps, ents, aux = fn(tr.model, ids, mask, 9, batch_size=2, compute_entropy=True)
        assert aux is None
        loss = (logps * torch.linspace(-1, 1, logps.numel()).view_as(logps)).sum() + 0.3 * ents.sum()
        grads = torch.autograd.grad(loss, params)
        return logps.detach(), ents.detach(), list(grads)

    ours = run(tr._get_per_token_logps_and_entropies)
    theirs = run(lambda *a, **k: trl.GRPOTrainer._get_per_token_logps_and_entropies(tr, *a, **k))
    assert ours[0].shape == theirs[0].shape == (5, 9)
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours[1], theirs[1], atol=1e-5, rtol=0)
    assert bool((ours[0][mask[:, -9:] == 0] == 0).all())  # unscored positions are 0, as in TRL
    for a, b in zip(ours[2], theirs[2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_without_entropy_and_dispatch() -> None:
    tr = _trainer("prime_fast")
    ids, mask = _batch(tr.model.config.vocab_size)
    logps, ents, aux = tr._get_per_token_logps_and_entropies(tr.model, ids, mask, 9)
    assert ents is None and aux is None and logps.shape == (5, 9)
    assert tr._fused_logprobs_mode(torch.device("cpu"), 10) == "prime_fast"
    auto = _trainer("auto")
    assert auto._fused_logprobs_mode(torch.device("cpu"), EAGER_MAX_ELEMENTS) == "eager"
    assert auto._fused_logprobs_mode(torch.device("cpu"), EAGER_MAX_ELEMENTS + 1) == "prime_fast"
    assert auto._fused_logprobs_mode(torch.device("cuda"), 10) == "prime_fast"
    # TRL's own method, forced: the same numbers
    trl_mode = _trainer("trl")
    a = trl_mode._get_per_token_logps_and_entropies(trl_mode.model, ids, mask, 9)[0]
    b = trl.GRPOTrainer._get_per_token_logps_and_entropies(trl_mode, trl_mode.model, ids, mask, 9)[0]
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="fused_logprobs"):
        _trainer("fast")._fused_logprobs_mode(torch.device("cpu"))


def _length_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """A reward that varies within each group (the random tiny model never answers right)."""
    return [len(c[0]["content"]) / 12 for c in completions]


def test_grpo_trains_with_the_mixin(tmp_path: Any) -> None:
    model, tok = tiny_model()
    path = tmp_path / "policy"
    model.save_pretrained(path)  # from a path, so that TRL can build its reference model (beta > 0)
    tok.save_pretrained(path)
    tr = FusedLogProbGRPOTrainer(
        model=str(path),
        reward_funcs=[math_reward, _length_reward],
        args=grpo_config(str(tmp_path / "out"), max_steps=2, beta=0.04),
        train_dataset=demo_dataset(16),
        processing_class=tok,
    )
    tr.fused_logprobs = "prime_fast"
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.train()
    assert tr.state.global_step == 2
    assert any("entropy" in h for h in tr.state.log_history)
    assert any("kl" in h for h in tr.state.log_history)
    # the policy gradient (rewards that vary within groups) reaches the weights through prime-fast's op
    assert any(not torch.equal(before[n], p) for n, p in tr.model.named_parameters())
