"""``PrimeConfig(prm_adapter=True)``: the implicit PRM as a second LoRA adapter on the TRL policy's own
``PeftModel``. One base shared by the policy, the PRM and its reference (no copy); on one fixed batch the
trainer's advantages, PRM loss and PRM gradients equal ``prime_fast.algos`` on log-probs taken by hand with the
adapter on and every adapter off; each update moves only its own adapter; TRL's optimizer holds only the policy
adapter; a short real run; two DDP processes."""

from __future__ import annotations

import copy
import gc
import tempfile
from typing import Any

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")
peft = pytest.importorskip("peft", reason="peft is not installed (pip install 'prime-fast[trl]')")
torch = pytest.importorskip("torch")

from _trl_setup import assert_prm_metrics_logged, demo_dataset, grpo_config, tiny_model  # noqa: E402
from test_trl_prime import (  # noqa: E402
    K,
    RecordPRM,
    _assert_step_equals_hand,
    _batch,
    _logps,
    _prime_by_hand,
    assert_bitwise,
    check_resume,
    our_warnings,
    resume_trainer,
)
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from prime_fast.errors import ConfigError  # noqa: E402
from prime_fast.integrations.trl import PrimeConfig, PrimeGRPOTrainer, math_reward  # noqa: E402
from prime_fast.integrations.trl_prime import completion_logprobs  # noqa: E402
from prime_fast.integrations.trl_prm_adapter import PolicyAdapterPRM  # noqa: E402


def lora_config() -> Any:
    return peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], task_type="CAUSAL_LM"
    )


def _trainer(prime: PrimeConfig | None = None, built: tuple[Any, Any] | None = None, **overrides: Any) -> Any:
    model, tok = built if built is not None else tiny_model(seed=0)
    return PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(tempfile.mkdtemp(), **{"num_generations": K, **overrides}),
        train_dataset=demo_dataset(8),
        processing_class=tok,
        peft_config=lora_config(),
        prime=prime or PrimeConfig(lr=1e-3, prm_adapter=True),
    )


def _parts(tr: Any) -> dict[str, dict[str, torch.nn.Parameter]]:
    """The shared PeftModel's parameters by owner: ``base``, ``default`` (the policy adapter), ``prm``."""
    out: dict[str, dict[str, torch.nn.Parameter]] = {"base": {}, "default": {}, "prm": {}}
    for name, p in tr.model.named_parameters():
        owner = "prm" if ".prm." in name else "default" if ".default." in name else "base"
        out[owner][name] = p
    return out


def _perturb(params: dict[str, torch.nn.Parameter], seed: int) -> None:
    """Random LoRA ``B`` factors (peft starts them at 0), so the adapter changes the model's outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in params.items():
            if "lora_B" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def _snapshot(tr: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in tr.model.named_parameters()}


def _changed(tr: Any, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in tr.model.named_parameters() if not torch.equal(before[n], p.detach())}


class _Pointers(TorchDispatchMode):
    """The storage pointers of every tensor an op reads while the mode is on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        for a in [*args, *(kwargs or {}).values()]:
            for t in a if isinstance(a, (list, tuple)) else [a]:
                if isinstance(t, torch.Tensor) and t.device.type != "meta":
                    self.seen.add(t.untyped_storage().data_ptr())
        return func(*args, **(kwargs or {}))


def _count_causal_lms() -> int:
    gc.collect()
    """HF models alive (the PeftModel wrapper is not one)."""
    from transformers import PreTrainedModel

    kinds = (type(o) for o in gc.get_objects())  # type(), not isinstance: no __class__ lookups that warn
    return sum(1 for k in kinds if issubclass(k, PreTrainedModel))


def test_one_shared_base_and_no_copy() -> None:
    built = tiny_model(seed=0)
    before = _count_causal_lms()
    tr = _trainer(built=built)
    assert _count_causal_lms() == before  # the adapter PRM built no model (the copy-based PRM builds two)
    parts = _parts(tr)
    assert set(tr.model.peft_config) == {"default", "prm"}
    assert tr.prm_ref_model is None and tr.ref_model is None
    base_n = sum(p.numel() for p in parts["base"].values())
    adapter_n = sum(p.numel() for p in parts["prm"].values())
    assert adapter_n == sum(p.numel() for p in parts["default"].values()) > 0
    # every parameter the trainer holds, counted once: the base and two adapters, nothing else
    held = {id(p): p for m in (tr.model, tr.prm_model) for p in m.parameters()}
    assert sum(p.numel() for p in held.values()) == base_n + 2 * adapter_n
    assert [id(p) for p in tr.prm_model.parameters()] == [id(p) for p in parts["prm"].values()]

    _perturb(parts["default"], 1)
    _perturb(parts["prm"], 2)
    ids = torch.randint(5, tr.model.config.vocab_size, (2, 9))
    attn = torch.ones_like(ids)
    seen = {}
    for which in ("prm", "ref", "policy"):
        with _Pointers() as ptrs, torch.no_grad():
            if which == "policy":
                completion_logprobs(tr.model, ids, attn, 5)
            else:
                with tr._scoring(reference=which == "ref") as m:
                    completion_logprobs(m, ids, attn, 5)
        seen[which] = ptrs.seen
    base_ptrs = {p.untyped_storage().data_ptr() for p in parts["base"].values()}
    prm_ptrs = {p.untyped_storage().data_ptr() for p in parts["prm"].values()}
    policy_ptrs = {p.untyped_storage().data_ptr() for p in parts["default"].values()}
    for which in ("prm", "ref", "policy"):  # the same base tensors in all three forwards
        assert base_ptrs <= seen[which], which
    assert prm_ptrs <= seen["prm"] and not policy_ptrs & seen["prm"]
    assert policy_ptrs <= seen["policy"] and not prm_ptrs & seen["policy"]
    assert not (prm_ptrs | policy_ptrs) & seen["ref"]


@pytest.mark.parametrize(
    "prime",
    [
        PrimeConfig(lr=1e-3, prm_adapter=True),
        PrimeConfig(lr=1e-3, prm_adapter=True, credit="min", norm="none", form="paper", gamma_process=0.9),
    ],
    ids=["paper-defaults", "min-form"],
)
def test_fixed_batch_equals_prime_fast_algos(prime: PrimeConfig) -> None:
    tr = _trainer(prime)
    parts = _parts(tr)
    _perturb(parts["default"], 1)  # a policy adapter that would change the scores if it leaked in
    _perturb(parts["prm"], 2)
    prompt_ids, prompt_mask, completion_ids, completion_mask, outcome = _batch(tr.model.config.vocab_size)
    ids = torch.cat([prompt_ids, completion_ids], 1)
    attn = torch.cat([prompt_mask, completion_mask], 1)
    t = completion_ids.size(1)
    mask = completion_mask.bool()

    # by hand, on a copy of the PeftModel: the full logits with the "prm" adapter on, and with adapters off
    hand = copy.deepcopy(tr.model)
    hand.get_base_model().__dict__.pop(
        "forward", None
    )  # TRL's instance patch, whose closure holds the original
    hand.set_adapter("prm")
    with torch.no_grad(), hand.disable_adapter():
        ref = _logps(hand, ids, attn, t)
    q = _logps(hand, ids, attn, t) - ref
    q, loss, want = _prime_by_hand(prime, q, mask, outcome)
    loss.backward()
    hand_prm = {n: p for n, p in hand.named_parameters() if ".prm." in n}
    torch.nn.utils.clip_grad_norm_(list(hand_prm.values()), prime.grad_clip)

    adv, metrics = tr.prime_step(prompt_ids, prompt_mask, completion_ids, completion_mask, outcome)
    assert adv.shape == (2 * K, t)
    assert float(q.detach().abs().max()) > 1e-2  # the adapter PRM scores differ from its reference
    _assert_step_equals_hand(adv, metrics, q, loss, want, outcome, mask)
    got = dict(tr.prm_model.named_parameters())
    assert set(got) == set(hand_prm)
    for (
        name,
        b,
    ) in hand_prm.items():  # the same clipped gradients (see test_trl_prime.py on Adam's first step)
        a = got[name]
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4, msg=name)
    # the policy adapter is active again, and only it requires gradients
    assert tr.model.active_adapter == "default"
    assert all(p.requires_grad for p in parts["default"].values())
    assert not any(p.requires_grad for p in [*parts["prm"].values(), *parts["base"].values()])


def test_prm_update_moves_only_the_prm_adapter() -> None:
    tr = _trainer(PrimeConfig(lr=1e-2, prm_adapter=True))
    parts = _parts(tr)
    _perturb(parts["default"], 1)
    _perturb(parts["prm"], 2)  # B != 0, so lora_A gets gradients too
    before = _snapshot(tr)
    tr.prime_step(*_batch(tr.model.config.vocab_size))
    assert _changed(tr, before) == set(parts["prm"])  # every PRM adapter tensor moved, nothing else


def test_policy_optimizer_and_step_move_only_the_policy_adapter(tmp_path: Any) -> None:
    """TRL's optimizer holds the policy adapter only; a real training step (PRM frozen: update=False, with
    scores made non-zero so the advantages are) moves only the policy adapter."""
    model, tok = tiny_model(seed=0)
    tr = PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(str(tmp_path), max_steps=1, learning_rate=1e-2),
        train_dataset=demo_dataset(8),
        processing_class=tok,
        peft_config=lora_config(),
        prime=PrimeConfig(prm_adapter=True, update=False),
    )
    parts = _parts(tr)
    _perturb(parts["prm"], 2)
    before = _snapshot(tr)
    tr.train()
    held = {id(p) for group in tr.optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in parts["default"].values()}
    changed = _changed(tr, before)
    assert changed and changed <= set(parts["default"])
    assert any("lora_B" in n for n in changed)


def test_short_run_logs_prm_metrics(tmp_path: Any) -> None:
    model, tok = tiny_model()
    tr = PrimeGRPOTrainer(
        model=model,
        reward_funcs=[math_reward],
        args=grpo_config(str(tmp_path), max_steps=2),
        train_dataset=demo_dataset(16),
        processing_class=tok,
        peft_config=lora_config(),
        prime=PrimeConfig(lr=1e-2, prm_adapter=True),
    )
    parts = _parts(tr)
    before = _snapshot(tr)
    tr.train()
    assert_prm_metrics_logged(tr, steps=2)
    changed = _changed(tr, before)
    assert changed & set(parts["prm"]) and changed & set(parts["default"])
    assert not changed & set(parts["base"])
    assert tr.model.active_adapter == "default"


def test_errors() -> None:
    model, tok = tiny_model()
    with pytest.raises(ConfigError, match=r"prm_adapter=True needs a LoRA policy: pass peft_config"):
        PrimeGRPOTrainer(
            model=model,
            reward_funcs=[math_reward],
            args=grpo_config(tempfile.mkdtemp(), num_generations=K),
            train_dataset=demo_dataset(8),
            processing_class=tok,
            prime=PrimeConfig(prm_adapter=True),
        )
    prm, _ = tiny_model(seed=7)
    with pytest.raises(ConfigError, match="leave prm_model and prm_ref_model None"):
        PrimeGRPOTrainer(
            model=tiny_model()[0],
            reward_funcs=[math_reward],
            args=grpo_config(tempfile.mkdtemp(), num_generations=K),
            train_dataset=demo_dataset(8),
            processing_class=tok,
            peft_config=lora_config(),
            prm_model=prm,
            prime=PrimeConfig(prm_adapter=True),
        )
    tr = _trainer()
    with pytest.raises(ConfigError, match="already has an adapter named 'prm'"):
        PolicyAdapterPRM(tr.model, "prm")


def test_adapter_switch_is_restored_on_errors() -> None:
    tr = _trainer()
    parts = _parts(tr)
    for which in (tr.prm_adapter.adapter, None):
        with pytest.raises(RuntimeError, match="boom"), tr.prm_adapter.using(which):
            raise RuntimeError("boom")
        assert tr.model.active_adapter == "default"
        assert all(p.requires_grad for p in parts["default"].values())
        assert not any(p.requires_grad for p in [*parts["prm"].values(), *parts["base"].values()])


def test_two_processes_equal_one_and_train_under_ddp(tmp_path: Any) -> None:
    """2 real processes (gloo), the adapter PRM: each rank's advantages are its rows of the one-process result and
    the averaged PRM adapter gradients equal the one-process ones; then one real training step with the policy in
    DDP: TRL's optimizer holds the policy adapter only, PRM metrics are logged and both adapters stay equal across
    the ranks (the PRM's by its averaged gradients, the policy's by DDP)."""
    import _prime_dist_child as dist_child

    ranks = dist_child.launch(tmp_path, "adapter")
    one = dist_child.run(dist_child.trainer(adapter=True), slice(0, dist_child.ROWS))
    half = dist_child.ROWS // 2
    assert one["grads"] and all(".prm." in n for n in one["grads"])
    for r, res in enumerate(ranks):
        torch.testing.assert_close(res["adv"], one["adv"][r * half : (r + 1) * half], atol=1e-5, rtol=0)
        assert abs(res["metrics"]["prm/loss"] - one["metrics"]["prm/loss"]) <= 1e-5
        for name, g in one["grads"].items():
            torch.testing.assert_close(res["grads"][name], g, atol=1e-6, rtol=1e-4, msg=name)
        train = res["train"]
        assert train["ddp"] == "DistributedDataParallel"
        assert train["optimizer_holds"] and all(".default." in n for n in train["optimizer_holds"])
        assert len(train["logs"]) == 1 and "prm/grad_norm" in train["logs"][0]
    a, b = ranks[0]["train"]["weights"], ranks[1]["train"]["weights"]
    assert set(a) == set(b) and any(".prm." in n for n in a) and any(".default." in n for n in a)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0, msg=name)


def test_completion_logprobs_of_a_peft_model_with_an_adapted_head() -> None:
    """A PEFT PRM whose LM head carries a LoRA adapter (possible for ``prm_model``): the fused op would read only
    the head's base weight, so the model's own logits are used; equal to the full logits with the adapter."""
    import warnings

    model, _ = tiny_model(seed=7)
    with warnings.catch_warnings():  # peft warns that the tied head's adapter does not reach the embedding
        warnings.filterwarnings("ignore", message=".*tie_word_embeddings.*", category=UserWarning)
        lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "lm_head"])
        prm = peft.get_peft_model(model, lora)
    _perturb({n: p for n, p in prm.named_parameters() if "lora_B" in n}, 3)
    ids = torch.randint(5, model.config.vocab_size, (3, 10))
    attn = torch.ones_like(ids)
    attn[0, :2] = 0
    with torch.no_grad():
        got = completion_logprobs(prm, ids, attn, 6)
        with prm.disable_adapter():
            off = _logps(prm, ids, attn, 6)
        want = _logps(prm, ids, attn, 6)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert float((want - off).abs().max()) > 1e-2  # the head's adapter matters


def test_resume_restores_the_prm_adapter_and_its_optimizer(tmp_path: Any) -> None:
    """The adapter PRM's tensors and AdamW state are in the checkpoint's ``prime_prm.pt`` and come back bitwise
    on resume, after transformers has reloaded both adapters; the resumed run trains the PRM adapter on."""
    tr = check_resume(tmp_path, PrimeConfig(lr=1e-2, prm_adapter=True), peft_config=lora_config())
    parts = _parts(tr)  # the PRM's AdamW still holds the PeftModel's own PRM adapter tensors
    held = [p for group in tr.prm_optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in held] == [id(p) for p in parts["prm"].values()]
    assert tr.model.active_adapter == "default"


def test_resume_without_prm_state_warns_and_keeps_what_transformers_loaded(tmp_path: Any) -> None:
    """An adapter-PRM checkpoint without ``prime_prm.pt`` (an older version's): a warning naming the folder;
    the PRM adapter holds what transformers reloaded from the checkpoint's ``prm/`` adapter folder (the
    weights at the checkpoint), its AdamW starts afresh."""
    prime = PrimeConfig(lr=1e-2, prm_adapter=True)
    tr = resume_trainer(tmp_path / "run", 2, prime, peft_config=lora_config())
    record = RecordPRM(tr)
    tr.train()
    ckpt = tmp_path / "run" / "checkpoint-2"
    assert (ckpt / "prm" / "adapter_model.safetensors").is_file()
    (ckpt / "prime_prm.pt").unlink()
    fresh = resume_trainer(tmp_path / "again", 3, prime, peft_config=lora_config())
    resumed = RecordPRM(fresh)
    ours = our_warnings(lambda: fresh.train(resume_from_checkpoint=str(ckpt)))
    assert len(ours) == 1 and f"the checkpoint {ckpt} has no PRM state" in ours[0]
    weights, state = resumed.saved["begin"]
    assert_bitwise(weights, record.saved[2][0])
    assert state == {}
