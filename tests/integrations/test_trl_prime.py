"""``PrimeGRPOTrainer``: on one fixed batch its PRM loss, PRM update and advantages equal ``prime_fast.algos``'s,
computed here independently (the models' own logits); clear errors; a short run inside TRL's training loop."""

from __future__ import annotations

import copy
import re
import tempfile
import warnings
from typing import Any

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")
torch = pytest.importorskip("torch")

from _trl_setup import assert_prm_metrics_logged, demo_dataset, grpo_config, tiny_model  # noqa: E402

from prime_fast import algos  # noqa: E402
from prime_fast.errors import ConfigError  # noqa: E402
from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward  # noqa: E402

K = 4


def _trainer(prime: PrimeConfig | None = None, **overrides: Any) -> Any:
    model, tok = tiny_model(seed=0)
    prm, _ = tiny_model(seed=7)  # a PRM that differs from the reference, so q is not 0
    return PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(tempfile.mkdtemp(), **{"num_generations": K, **overrides}),
        train_dataset=demo_dataset(8),
        processing_class=tok,
        prm_model=prm,
        prime=prime or PrimeConfig(lr=1e-3),
    )


def _batch(vocab: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3)
    b, p, t = 2 * K, 5, 11
    prompt_ids = torch.randint(5, vocab, (b, p), generator=g)
    prompt_mask = torch.ones_like(prompt_ids)
    prompt_mask[:K, :2] = 0  # left-padded prompts of the first group
    completion_ids = torch.randint(5, vocab, (b, t), generator=g)
    lengths = torch.tensor([11, 7, 3, 9, 1, 11, 6, 8])
    completion_mask = (torch.arange(t)[None] < lengths[:, None]).long()
    outcome = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    return prompt_ids, prompt_mask, completion_ids, completion_mask, outcome


def _logps(model: Any, ids: torch.Tensor, attn: torch.Tensor, t: int) -> torch.Tensor:
    """Reference log-probs from the model's full logits (an independent path from the trainer's fused op)."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, -t - 1 : -1].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, -t:, None]).squeeze(-1)
    return lp * attn[:, -t:]


def _prime_by_hand(
    prime: PrimeConfig, q: torch.Tensor, mask: torch.Tensor, outcome: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, algos.PrimeRewards]:
    """``(q, PRM loss, PRIME's rewards)`` from scores ``q`` taken by hand, through ``prime_fast.algos``."""
    q = torch.where(mask, q, torch.zeros_like(q))
    loss = algos.prm_bce_loss(q, mask, outcome, beta=prime.beta_train)
    want = algos.prime_rewards(
        outcome,
        mask,
        K,
        scores=q.detach(),
        credit=prime.credit,
        norm=prime.norm,
        form=prime.form,
        gamma_process=prime.gamma_process,
    )
    return q, loss, want


def _assert_step_equals_hand(
    adv: torch.Tensor,
    metrics: dict[str, float],
    q: torch.Tensor,
    loss: torch.Tensor,
    want: algos.PrimeRewards,
    outcome: torch.Tensor,
    mask: torch.Tensor,
) -> None:
    """``prime_step``'s advantages and PRM metrics equal the ones computed by hand (1e-5)."""
    torch.testing.assert_close(adv, want.advantages, atol=1e-5, rtol=0)
    assert abs(metrics["prm/loss"] - float(loss.detach())) <= 1e-5
    assert abs(metrics["prm/process_reward_mean"] - want.metrics["prm/process_reward_mean"]) <= 1e-5
    assert metrics["prm/acc_before"] == pytest.approx(
        float(algos.prm_pairwise_accuracy(q.detach(), outcome, K, mask))
    )


@pytest.mark.parametrize(
    "prime",
    [PrimeConfig(lr=1e-3), PrimeConfig(lr=1e-3, credit="min", norm="none", form="paper", gamma_process=0.9)],
    ids=["paper-defaults", "min-form"],
)
def test_fixed_batch_equals_prime_fast_algos(prime: PrimeConfig) -> None:
    tr = _trainer(prime)
    prompt_ids, prompt_mask, completion_ids, completion_mask, outcome = _batch(tr.model.config.vocab_size)
    ids = torch.cat([prompt_ids, completion_ids], 1)
    attn = torch.cat([prompt_mask, completion_mask], 1)
    t = completion_ids.size(1)
    mask = completion_mask.bool()

    prm = copy.deepcopy(tr.prm_model)
    prm_start = {n: p.detach().clone() for n, p in prm.named_parameters()}
    prm.__dict__.pop("forward", None)
    q = _logps(prm, ids, attn, t) - _logps(tr.prm_ref_model, ids, attn, t).detach()
    q, loss, want = _prime_by_hand(prime, q, mask, outcome)
    opt = torch.optim.AdamW([p for p in prm.parameters() if p.requires_grad], lr=prime.lr, weight_decay=0.0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in prm.parameters() if p.grad is not None], prime.grad_clip)
    opt.step()

    adv, metrics = tr.prime_step(prompt_ids, prompt_mask, completion_ids, completion_mask, outcome)
    assert adv.shape == (2 * K, t)
    _assert_step_equals_hand(adv, metrics, q, loss, want, outcome, mask)
    # the PRM's update: the same clipped gradients (Adam's first step, lr * g / (|g| + eps), would turn
    # rounding differences of near-zero gradient entries into differences of +-lr, so gradients are compared)
    for (name, a), b in zip(tr.prm_model.named_parameters(), prm.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)
        assert not torch.equal(a.detach(), prm_start[name]), name  # and the step was taken
    assert bool((adv[~mask] == 0).all())


def test_group_spanning_rows_use_the_whole_batch() -> None:
    """A process's rows are a slice of the whole batch; its advantages are that slice of the whole batch's."""
    tr = _trainer(PrimeConfig(update=False))
    prompt_ids, prompt_mask, completion_ids, completion_mask, outcome = _batch(tr.model.config.vocab_size)
    full, _ = tr.prime_step(prompt_ids, prompt_mask, completion_ids, completion_mask, outcome)
    # as process 1 of 2 would see it (rows 4..7) without gathering: the leave-one-out would see only its rows
    alone = algos.prime_rewards(
        outcome[K:], completion_mask[K:].bool(), K, scores=torch.zeros(K, 11)
    ).advantages
    assert not torch.allclose(full[K:], alone)


def test_settings_it_cannot_honour() -> None:
    with pytest.raises(ConfigError, match="vespo"):
        _trainer(loss_type="vespo")
    with pytest.raises(ConfigError, match="off_policy_mask_threshold"):
        _trainer(off_policy_mask_threshold=0.5)
    args = grpo_config(tempfile.mkdtemp(), num_generations=K)
    args.use_liger_loss = True  # the Liger GRPO loss of TRL < 1.0, still refused if set
    model, tok = tiny_model()
    with pytest.raises(ConfigError, match="Liger"):
        PrimeGRPOTrainer(
            model=model,
            reward_funcs=[math_reward],
            args=args,
            train_dataset=demo_dataset(8),
            processing_class=tok,
        )
    tr = _trainer()
    prompt_ids, prompt_mask, completion_ids, completion_mask, outcome = _batch(tr.model.config.vocab_size)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        tr.prime_step(prompt_ids, prompt_mask, completion_ids, completion_mask, outcome * 2)


def test_short_run_logs_prm_metrics(tmp_path: Any) -> None:
    model, tok = tiny_model()
    tr = PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(str(tmp_path), max_steps=2),
        train_dataset=demo_dataset(16),
        processing_class=tok,
        prime=PrimeConfig(lr=1e-3),
    )
    prm_before = [p.detach().clone() for p in tr.prm_model.parameters()]
    tr.train()
    assert_prm_metrics_logged(tr, steps=2)
    assert any(not torch.equal(a, b) for a, b in zip(prm_before, tr.prm_model.parameters()))


def test_two_processes_equal_one(tmp_path: Any) -> None:
    """2 real processes (gloo), a prompt's group split across them: each rank's advantages are its rows of the
    one-process result, and the PRM's averaged gradients and loss equal the one-process ones. Then one real
    training step with the full-weight policy in DDP through the mixin's fused log-probs and policy loss: the
    ranks, which trained on different rows, hold equal weights (DDP averaged the gradients)."""
    import _prime_dist_child as dist_child

    ranks = dist_child.launch(tmp_path)
    one = dist_child.run(dist_child.trainer(), slice(0, dist_child.ROWS))
    half = dist_child.ROWS // 2
    for r, res in enumerate(ranks):
        torch.testing.assert_close(res["adv"], one["adv"][r * half : (r + 1) * half], atol=1e-5, rtol=0)
        assert abs(res["metrics"]["prm/loss"] - one["metrics"]["prm/loss"]) <= 1e-5
        assert res["metrics"]["prm/acc_before"] == pytest.approx(one["metrics"]["prm/acc_before"])
        for name, g in one["grads"].items():
            torch.testing.assert_close(res["grads"][name], g, atol=1e-6, rtol=1e-4, msg=name)
        train = res["train"]
        assert train["ddp"] == "DistributedDataParallel" and train["loss_path"] == "prime_fast"
        assert train["moved"] > 1e-4
    a, b = ranks[0]["train"]["weights"], ranks[1]["train"]["weights"]
    assert set(a) == set(b) and len(a) > 5
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0, msg=name)


def test_lora_prm_trains_only_its_adapter() -> None:
    """A PEFT LoRA model as the PRM: its adapter learns, the base it wraps stays as it was."""
    peft = pytest.importorskip("peft")
    prm_base, _ = tiny_model(seed=7)
    lora = peft.get_peft_model(
        prm_base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    model, tok = tiny_model(seed=0)
    tr = PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(tempfile.mkdtemp(), num_generations=K),
        train_dataset=demo_dataset(8),
        processing_class=tok,
        prm_model=lora,
        prime=PrimeConfig(lr=1e-2),
    )
    before = {n: p.detach().clone() for n, p in tr.prm_model.named_parameters()}
    tr.prime_step(*_batch(tr.model.config.vocab_size))
    changed = {n for n, p in tr.prm_model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and all("lora_" in n for n in changed)


# -- checkpoints: the PRM saved with TRL's checkpoint and restored on resume ---------------------------------------


def resume_trainer(
    out: Any, max_steps: int, prime: PrimeConfig, save_only_model: bool = False, **kwargs: Any
) -> Any:
    """A fresh trainer (the policy built as in every run) that saves a checkpoint every 2 steps."""
    model, tok = tiny_model(seed=0)
    args = grpo_config(
        str(out), max_steps=max_steps, save_strategy="steps", save_steps=2, save_only_model=save_only_model
    )
    return PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=args,
        train_dataset=demo_dataset(16),
        processing_class=tok,
        prime=prime,
        **kwargs,
    )


def prm_snapshot(tr: Any) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """Copies of the live PRM's parameters and of its AdamW state, both by parameter name (read from the
    trainer's ``prm_model`` and ``prm_optimizer`` directly)."""
    named = list(tr.prm_model.named_parameters())
    names = {id(p): n for n, p in named}
    weights = {n: p.detach().clone() for n, p in named}
    opt = tr.prm_optimizer
    state = {
        names[id(p)]: {k: v.clone() for k, v in opt.state[p].items()}
        for group in opt.param_groups
        for p in group["params"]
        if p in opt.state
    }
    return weights, state


def file_snapshot(tr: Any, folder: Any) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """The same from the checkpoint's own ``prime_prm.pt`` (optimizer entries named through ``tr``'s AdamW
    parameter order, which is the order it saves them in)."""
    saved = torch.load(folder / "prime_prm.pt", map_location="cpu", weights_only=True)
    names = {id(p): n for n, p in tr.prm_model.named_parameters()}
    order = [names[id(p)] for group in tr.prm_optimizer.param_groups for p in group["params"]]
    weights = {n: saved["weights"][n] for n in names.values()}
    return weights, {order[i]: s for i, s in saved["optimizer"]["state"].items()}


def assert_bitwise(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, dict):
            assert_bitwise(x, y)
        else:
            assert x.dtype == y.dtype and torch.equal(x, y), name


def our_warnings(run: Any) -> list[str]:
    """The PRM's UserWarnings while ``run()`` runs (TRL's own FutureWarnings are not ours to test)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning) and "PRM" in str(w.message)]


class RecordPRM:
    """A TRL callback: the live PRM's :func:`prm_snapshot` when training begins (after a resume's restore,
    before any step) as ``saved["begin"]``, and right after each checkpoint is written (by step)."""

    def __init__(self, trainer: Any) -> None:
        from transformers import TrainerCallback

        record: dict[Any, Any] = {}

        class _Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                record["begin"] = prm_snapshot(trainer)

            def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                record[state.global_step] = prm_snapshot(trainer)

        self.saved = record
        trainer.add_callback(_Callback())


def check_resume(tmp_path: Any, prime: PrimeConfig, **kwargs: Any) -> Any:
    """2 steps with a checkpoint at step 2 (the PRM recorded there from the live trainer and from the file); a
    fresh trainer resumed there holds those PRM weights and AdamW state bitwise when training begins, and its
    3rd step trains the PRM on from them. Returns the resumed trainer."""
    tr = resume_trainer(tmp_path / "run", 2, prime, **kwargs)
    record = RecordPRM(tr)
    tr.train()
    ckpt = tmp_path / "run" / "checkpoint-2"
    weights, state = record.saved[2]
    assert all(int(s["step"]) == 2 for s in state.values()) and len(state) == len(weights)
    f_weights, f_state = file_snapshot(tr, ckpt)
    assert_bitwise(f_weights, weights)
    assert_bitwise(f_state, state)

    fresh = resume_trainer(tmp_path / "again", 3, prime, **kwargs)
    start, _ = prm_snapshot(fresh)
    assert any(not torch.equal(start[n], w) for n, w in weights.items())  # the PRM has something to restore
    resumed = RecordPRM(fresh)
    fresh.train(resume_from_checkpoint=str(ckpt))
    got_weights, got_state = resumed.saved["begin"]
    assert_bitwise(got_weights, weights)
    assert_bitwise(got_state, state)
    assert fresh.state.global_step == 3  # one more step, from the restored PRM
    after, after_state = prm_snapshot(fresh)
    assert any(not torch.equal(after[n], w) for n, w in weights.items())  # it trains on
    assert all(int(s["step"]) == 3 for s in after_state.values())
    assert any(not torch.equal(after_state[n]["exp_avg"], s["exp_avg"]) for n, s in state.items())
    return fresh


def test_resume_restores_the_prm(tmp_path: Any) -> None:
    check_resume(tmp_path, PrimeConfig(lr=1e-3))


def test_resume_without_prm_state_warns(tmp_path: Any) -> None:
    """A checkpoint without ``prime_prm.pt`` (an older version's): a warning naming it, the PRM as built."""
    tr = resume_trainer(tmp_path / "run", 2, PrimeConfig(lr=1e-3))
    tr.train()
    ckpt = tmp_path / "run" / "checkpoint-2"
    (ckpt / "prime_prm.pt").unlink()
    fresh = resume_trainer(tmp_path / "again", 3, PrimeConfig(lr=1e-3))
    start, _ = prm_snapshot(fresh)
    resumed = RecordPRM(fresh)
    ours = our_warnings(lambda: fresh.train(resume_from_checkpoint=str(ckpt)))
    assert len(ours) == 1 and f"the checkpoint {ckpt} has no PRM state (prime_prm.pt" in ours[0]
    weights, state = resumed.saved["begin"]
    assert_bitwise(weights, start)
    assert state == {}  # a fresh AdamW


def test_save_only_model_keeps_the_prm_weights_without_adamw(tmp_path: Any) -> None:
    """``save_only_model=True`` (TRL saves no optimizer): the PRM's weights only; resuming from it restores
    them with a warning that the PRM's AdamW starts afresh."""
    tr = resume_trainer(tmp_path / "run", 2, PrimeConfig(lr=1e-3), save_only_model=True)
    record = RecordPRM(tr)
    tr.train()
    ckpt = tmp_path / "run" / "checkpoint-2"
    assert not (ckpt / "optimizer.pt").exists()
    saved = torch.load(ckpt / "prime_prm.pt", weights_only=True)
    assert saved["optimizer"] is None
    weights, _ = record.saved[2]
    assert_bitwise({n: saved["weights"][n] for n in weights}, weights)

    fresh = resume_trainer(tmp_path / "again", 3, PrimeConfig(lr=1e-3))
    resumed = RecordPRM(fresh)
    ours = our_warnings(lambda: fresh.train(resume_from_checkpoint=str(ckpt)))
    assert len(ours) == 1 and "without its AdamW state" in ours[0] and str(ckpt) in ours[0]
    got, state = resumed.saved["begin"]
    assert_bitwise(got, weights)
    assert state == {}


def test_resume_with_another_prm_is_refused(tmp_path: Any) -> None:
    """A checkpoint of a full-model PRM resumed with a LoRA PRM, and a saved tensor of another shape: a
    ``ConfigError`` naming the checkpoint file and the tensor."""
    peft = pytest.importorskip("peft")
    tr = resume_trainer(tmp_path / "run", 2, PrimeConfig(lr=1e-3))
    tr.train()
    ckpt = tmp_path / "run" / "checkpoint-2"
    lora = peft.get_peft_model(tiny_model(seed=0)[0], peft.LoraConfig(r=4, target_modules=["q_proj"]))
    other = resume_trainer(tmp_path / "lora", 3, PrimeConfig(lr=1e-3), prm_model=lora)
    first = next(iter(lora.state_dict()))
    with pytest.raises(
        ConfigError, match=re.escape(f"{ckpt}/prime_prm.pt: the saved PRM has no tensor '{first}'")
    ):
        other.train(resume_from_checkpoint=str(ckpt))

    saved = torch.load(ckpt / "prime_prm.pt", weights_only=True)
    name = "model.layers.0.mlp.up_proj.weight"
    saved["weights"][name] = saved["weights"][name][:-1]
    torch.save(saved, ckpt / "prime_prm.pt")
    fresh = resume_trainer(tmp_path / "again", 3, PrimeConfig(lr=1e-3))
    with pytest.raises(
        ConfigError, match=re.escape(f"prime_prm.pt: PRM tensor '{name}' was saved with shape")
    ):
        fresh.train(resume_from_checkpoint=str(ckpt))
