"""``PrimeGRPOTrainer``: PRIME (implicit PRM + dense per-token advantages) inside TRL's ``GRPOTrainer``.

Each generation step, after TRL has generated the completions and scored them with its reward functions:

1. the implicit PRM scores the completions, ``q_t = log pi_prm(y_t) - log pi_ref(y_t)`` (prime-fast's fused
   log-prob op on the last hidden state and the LM head);
2. the PRM is updated online on the outcome labels with PRIME's cross-entropy
   :func:`prime_fast.algos.prm_bce_loss` (``BCE(sigmoid(beta * sum_t q_t), outcome)``; its gradients are
   averaged over the processes, so every rank keeps the same PRM); the scores of that forward (before the
   step: prime-fast's ``prm.update = "after"``, the paper's default) are the process rewards;
3. :func:`prime_fast.algos.prime_rewards` turns the outcome rewards and ``q`` into PRIME's per-token advantages
   (credit form, ``batch_norm``, leave-one-out on both sources within each prompt's group, returns, whitening),
   on the whole generation batch: ``q`` and the masks are gathered from every process first, so a prompt's
   group may span ranks; each rank keeps its own rows;
4. TRL's loss trains the policy on those ``(B, T)`` advantages (it accepts per-token advantages), through
   ``ops.linear_policy_loss`` where that equals TRL's loss exactly (``FusedLogProbsMixin``).

The outcome reward of a row is TRL's weighted sum of its reward functions (``reward_weights``); it must lie in
``[0, 1]`` (the PRM's BCE labels), as verifier rewards do (:func:`~prime_fast.integrations.trl.math_reward`).
PRIME's advantages replace TRL's group normalisation (``scale_rewards`` and ``multi_objective_aggregation`` do
not apply). Settings whose loss takes one advantage per sequence (``loss_type="vespo"``, ``off_policy_mask_threshold``,
older TRL's ``use_liger_loss``) are refused with a ``ConfigError``.

The PRM is its own model (``prm_model``: a full model, or a PEFT LoRA model around a copy of the policy; default
a copy of the policy), or, when the policy is trained with LoRA (``peft_config=...``), a second LoRA adapter on
the policy's own ``PeftModel`` (``PrimeConfig(prm_adapter=True)``, :mod:`prime_fast.integrations.trl_prm_adapter`):
one set of base weights for the policy, the PRM (adapter ``"prm"``) and the PRM's reference (the base with every
adapter disabled); the PRM's AdamW holds the PRM adapter only, TRL's optimizer the policy adapter only.

Metrics, as prime-fast's trainer logs them: ``prm/loss``, ``prm/acc_before`` (pairwise accuracy of the scores
before the update), ``prm/grad_norm``, ``prm/lr``, ``prm/process_reward_mean``, ``adv/mean``.

Checkpoints: every TRL checkpoint folder also gets ``prime_prm.pt`` (main process): the PRM's weights (the PRM
model's state dict, or the PRM adapter's tensors only) and its AdamW state; ``train(resume_from_checkpoint=...)``
restores both after TRL has restored the policy (:mod:`prime_fast.integrations.trl_prm_checkpoint`; a checkpoint
without the file warns, a PRM of other tensor names or shapes is a ``ConfigError``).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from trl import GRPOTrainer

from prime_fast import algos
from prime_fast.errors import ConfigError
from prime_fast.integrations.trl_logprobs import FusedLogProbsMixin, fused_logprobs_backbone
from prime_fast.integrations.trl_prm_adapter import PRM, PolicyAdapterPRM, is_peft_model
from prime_fast.integrations.trl_prm_checkpoint import load_prm_state, save_prm_state

__all__ = ["PrimeConfig", "PrimeGRPOTrainer", "completion_logprobs"]


@dataclass
class PrimeConfig:
    """PRIME's settings in ``PrimeGRPOTrainer`` (defaults: the paper's, as in prime-fast's ``[prm]``/``[algo]``).

    Attributes:
        beta_train: beta of the implicit reward in the PRM's BCE loss.
        lr, weight_decay, grad_clip: the PRM's AdamW and grad-norm clipping.
        granularity: ``token`` (every valid token) or ``whole`` (the row's sum on its last token).
        credit: ``sum`` (PRIME) or ``min`` (PURE's min-form).
        norm: ``batch_norm`` (PRIME's ``prime_norm``) or ``none``.
        form: ``code`` (the authors' ``compute_rloo_returns``) or ``paper`` (Eq. 5).
        gamma_process, gamma_outcome: discounts of the two reward sources.
        update: whether the PRM learns online (False: it only scores, the offline-PRM ablation).
        prm_adapter: the PRM as a second LoRA adapter on the policy's own ``PeftModel`` (the policy trained
            with ``peft_config=...``): the policy adapter's ``LoraConfig``, peft's zero-``B`` initialisation
            (the PRM starts as the base model), the reference is the base with every adapter disabled; no copy
            of the model. ``prm_model`` and ``prm_ref_model`` must then be None.
        prm_adapter_name: the PRM adapter's name in the ``PeftModel``.
        prime_kwargs: other keywords of :func:`prime_fast.algos.prime_rewards`.
    """

    beta_train: float = algos.DEFAULT_PRM_BETA
    lr: float = 1e-6
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    granularity: str = "token"
    credit: str = "sum"
    norm: str = "batch_norm"
    form: str = "code"
    gamma_process: float = 1.0
    gamma_outcome: float = 1.0
    update: bool = True
    prm_adapter: bool = False
    prm_adapter_name: str = PRM
    prime_kwargs: dict[str, Any] = field(default_factory=dict)


def completion_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """``(B, logits_to_keep)`` float32 log-probs of the last ``logits_to_keep`` tokens under ``model`` (0 where
    the attention mask is 0), through :func:`prime_fast.ops.linear_token_logprobs`; differentiable."""
    from prime_fast.ops import linear_token_logprobs, token_logprobs

    labels = input_ids[:, -logits_to_keep:].masked_fill(attention_mask[:, -logits_to_keep:] == 0, -100)
    parts = None if _head_has_adapter(model) else fused_logprobs_backbone(model)
    if parts is None:  # a head the fused op does not cover (or a LoRA-adapted head): the model's own logits
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        logits = logits[:, -logits_to_keep - 1 : -1].float()
        return token_logprobs(logits, labels, temperature=temperature)
    backbone, weight = parts
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    hidden = hidden[:, -logits_to_keep - 1 : -1]
    w = weight if weight.dtype == hidden.dtype else weight.to(hidden.dtype)
    return linear_token_logprobs(hidden, w, labels.to(w.device), temperature=temperature)


def _head_has_adapter(model: Any) -> bool:
    """Whether the LM head is a peft tuner layer (its adapter is not in ``head.weight``, the fused op's input)."""
    if not is_peft_model(model):
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer

    return isinstance(model.get_base_model().get_output_embeddings(), BaseTunerLayer)


def _frozen_copy(model: Any, trainable: bool) -> Any:
    """A deep copy of ``model`` without TRL's instance-level forward patch (whose closure holds the original)."""
    m = copy.deepcopy(model)
    m.__dict__.pop("forward", None)
    for p in m.parameters():
        p.requires_grad_(trainable)
    return m.train(trainable)


class PrimeGRPOTrainer(FusedLogProbsMixin, GRPOTrainer):
    """TRL's ``GRPOTrainer`` trained on PRIME's per-token advantages (module docstring).

    Args:
        prm_model: the implicit PRM: a causal LM (its own model, e.g. the SFT checkpoint, or a PEFT LoRA model
            around a copy of it); None copies the policy as it is when the trainer is built (PRIME initialises
            the PRM from the SFT model).
        prm_ref_model: the PRM's frozen reference; None copies the policy at construction (the SFT model).
        prime: :class:`PrimeConfig`; ``prm_adapter=True`` puts the PRM on the policy's ``PeftModel`` instead.
        *args, **kwargs: ``GRPOTrainer``'s.

    Attributes:
        prm_model: the PRM (with ``prm_adapter``: the :class:`PolicyAdapterPRM`, whose ``parameters()`` are the
            PRM adapter's).
        prm_ref_model: its reference (None with ``prm_adapter``: the base with adapters disabled).
        prm_adapter: the :class:`PolicyAdapterPRM`, or None.
        prm_optimizer: the PRM's AdamW (None with ``update=False``).
    """

    def __init__(
        self,
        *args: Any,
        prm_model: Any = None,
        prm_ref_model: Any = None,
        prime: PrimeConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.prime = prime or PrimeConfig()
        self._check_settings()
        self.prm_adapter: PolicyAdapterPRM | None = None
        self.prm_model: Any = None
        self.prm_ref_model: Any = None
        if self.prime.prm_adapter:
            params = self._build_adapter_prm(prm_model, prm_ref_model)
        else:
            params = self._build_own_prm(prm_model, prm_ref_model)
        if self.prime.update and not params:
            raise ConfigError(
                "prm_model has no trainable parameters; pass PrimeConfig(update=False) to only score"
            )
        self._prm_params = params
        self.prm_optimizer = (
            torch.optim.AdamW(params, lr=self.prime.lr, weight_decay=self.prime.weight_decay)
            if self.prime.update
            else None
        )
        self._prime_rewards: torch.Tensor | None = None

    def _build_own_prm(self, prm_model: Any, prm_ref_model: Any) -> list[torch.nn.Parameter]:
        """The PRM and its reference as models of their own (copies of the policy when not given); returns the
        PRM's trainable parameters."""
        policy = self.accelerator.unwrap_model(self.model)
        policy = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
        device = self.accelerator.device
        self.prm_model = (prm_model if prm_model is not None else _frozen_copy(policy, True)).to(device)
        self.prm_ref_model = (prm_ref_model if prm_ref_model is not None else _frozen_copy(policy, False)).to(
            device
        )
        for p in self.prm_ref_model.parameters():
            p.requires_grad_(False)
        self.prm_ref_model.eval()
        return [p for p in self.prm_model.parameters() if p.requires_grad]

    def _build_adapter_prm(self, prm_model: Any, prm_ref_model: Any) -> list[torch.nn.Parameter]:
        """``PrimeConfig(prm_adapter=True)``: the PRM as a second adapter on the policy's ``PeftModel``; returns
        the adapter's parameters (they require gradients only while the PRM adapter is active)."""
        if prm_model is not None or prm_ref_model is not None:
            raise ConfigError(
                "PrimeGRPOTrainer: PrimeConfig(prm_adapter=True) puts the PRM on the policy's own PeftModel and "
                "uses the base with adapters disabled as its reference; leave prm_model and prm_ref_model None "
                "(or set prm_adapter=False to pass models of your own)"
            )
        policy = self.accelerator.unwrap_model(self.model)
        if not is_peft_model(policy):
            raise ConfigError(
                "PrimeConfig.prm_adapter=True needs a LoRA policy: pass peft_config=peft.LoraConfig(...) to "
                f"PrimeGRPOTrainer (or a peft.PeftModel as model); the policy is a {type(policy).__name__}. "
                "Without LoRA, leave prm_adapter=False (the PRM is then a copy of the policy or prm_model)"
            )
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            raise ConfigError(
                "PrimeConfig.prm_adapter=True is not supported under DeepSpeed or FSDP (the adapters are switched "
                "on the unsharded PeftModel); use DDP (plain accelerate/torchrun) or prm_adapter=False"
            )
        adapter = PolicyAdapterPRM(policy, self.prime.prm_adapter_name)
        if self.accelerator.num_processes > 1:
            adapter.broadcast_from_first_process()
        self.prm_adapter = self.prm_model = adapter
        self.prm_ref_model = None
        return list(adapter.parameters())

    def create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        """TRL's policy optimizer, built while the PRM adapter (if any) is frozen, so it never holds it."""
        adapter = getattr(self, "prm_adapter", None)
        if adapter is None:
            return super().create_optimizer(*args, **kwargs)
        flags = [(p, p.requires_grad) for p in adapter.parameters()]
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            return super().create_optimizer(*args, **kwargs)
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)

    @contextlib.contextmanager
    def _scoring(self, reference: bool) -> Iterator[Any]:
        """The model that gives the PRM's (or, ``reference``, its reference's) log-probs, for a block; with
        ``prm_adapter`` the shared ``PeftModel`` with the PRM adapter active (or every adapter disabled),
        the policy adapter restored after."""
        if self.prm_adapter is None:
            yield self.prm_ref_model if reference else self.prm_model
            return
        with self.prm_adapter.using(None if reference else self.prm_adapter.adapter) as model:
            yield model

    def _check_settings(self) -> None:
        args = self.args
        if self.loss_type == "vespo":
            raise ConfigError(
                "PrimeGRPOTrainer: loss_type='vespo' weighs whole sequences; PRIME's advantages are per token"
            )
        if getattr(args, "off_policy_mask_threshold", None) is not None:
            raise ConfigError(
                "PrimeGRPOTrainer: off_policy_mask_threshold masks sequences by the sign of one advantage per "
                "sequence; PRIME's advantages are per token (leave it None)"
            )
        if getattr(args, "use_liger_loss", False):  # TRL < 1.0's Liger GRPO loss (1.16 has none)
            raise ConfigError(
                "PrimeGRPOTrainer: Liger's GRPO loss takes one advantage per sequence, PRIME's are per token; "
                "set use_liger_loss=False"
            )
        if not self.prime.beta_train >= 0.0:
            raise ConfigError(f"PrimeConfig.beta_train must be >= 0, got {self.prime.beta_train}")

    # -- TRL hooks ---------------------------------------------------------------------------------------------

    def _prm_state_tensors(self) -> dict[str, torch.Tensor]:
        """The PRM's live tensors by name (sharing storage): the PRM model's ``state_dict()``, or with
        ``prm_adapter`` the PRM adapter's parameters only."""
        if self.prm_adapter is not None:
            return {name: p.detach() for name, p in self.prm_adapter.named_parameters()}
        return dict(self.prm_model.state_dict())

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """The PRM's weights and AdamW state in ``prime_prm.pt`` (main process; the weights only with
        ``save_only_model``; :mod:`prime_fast.integrations.trl_prm_checkpoint`), then TRL's checkpoint in the
        same folder: written first, the file is there when TRL pushes the folder to the Hub
        (``hub_strategy="checkpoint"``, an upload that starts inside TRL's save)."""
        if self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            os.makedirs(folder, exist_ok=True)
            optimizer = None if self.args.save_only_model else self.prm_optimizer
            save_prm_state(folder, self._prm_state_tensors(), optimizer)
        super()._save_checkpoint(model, trial)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """TRL's policy optimizer and scheduler, then the PRM's weights and AdamW state from the checkpoint.

        ``Trainer.train`` restores the policy's weights before this (in ``train`` for plain and PEFT models, in
        ``_prepare_for_training`` just before this call under DeepSpeed or FSDP); the PRM's weights are copied
        into its live tensors, so ``prm_optimizer`` keeps its parameter references. Every process reads the
        file (each holds the PRM), as each reads TRL's own checkpoint."""
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            load_prm_state(checkpoint, self._prm_state_tensors(), self.prm_optimizer)

    def _calculate_rewards(
        self, inputs: Any, prompts: Any, completions: Any, completion_ids_list: Any
    ) -> Any:
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        self._prime_rewards = torch.nan_to_num((rewards_per_func * weights).nansum(dim=1), nan=0.0)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        training = self.model is not None and self.model.training
        if training and self._prime_rewards is not None:
            adv, metrics = self.prime_step(
                out["prompt_ids"],
                out["prompt_mask"],
                out["completion_ids"],
                out["completion_mask"],
                self._prime_rewards,
            )
            out["advantages"] = adv
            for k, v in metrics.items():
                self._metrics["train"][k].append(v)
        self._prime_rewards = None
        return out

    # -- PRIME ---------------------------------------------------------------------------------------------------

    def prime_step(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        completion_ids: torch.Tensor,
        completion_mask: torch.Tensor,
        outcome_all: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """PRIME's step on this process's rows: PRM scores and update, then advantages over the whole batch.

        Args:
            prompt_ids, prompt_mask, completion_ids, completion_mask: this process's rows (TRL's tensors).
            outcome_all: ``(B_all,)`` outcome rewards of every process's rows, in process order (TRL's gathered
                rewards), groups of ``num_generations`` contiguous.

        Returns:
            ``((B, T) advantages of this process's rows, metrics)``.
        """
        input_ids = torch.cat([prompt_ids, completion_ids], 1)
        attention_mask = torch.cat([prompt_mask, completion_mask], 1)
        t = completion_ids.size(1)
        mask = completion_mask.bool()
        n_local = completion_ids.size(0)
        start = self.accelerator.process_index * n_local
        outcome_all = outcome_all.float().to(mask.device)
        outcome = outcome_all[start : start + n_local]
        if bool(((outcome_all < 0) | (outcome_all > 1)).any()):
            raise ConfigError(
                "PrimeGRPOTrainer: the outcome rewards (the weighted sum of the reward functions) must lie in "
                f"[0, 1] to be the PRM's labels, got values in [{float(outcome_all.min())}, {float(outcome_all.max())}]"
            )
        with torch.no_grad(), self._scoring(reference=True) as ref_model:
            ref_logp = completion_logprobs(ref_model, input_ids, attention_mask, t)
        q, metrics = self._prm_update(input_ids, attention_mask, t, ref_logp, mask, outcome)
        q_all, mask_all = self._gather_rows(q, mask)
        k = int(self.num_generations or 0)
        metrics["prm/acc_before"] = float(algos.prm_pairwise_accuracy(q_all, outcome_all, k, mask_all))
        p = self.prime
        res = algos.prime_rewards(
            outcome_all,
            mask_all,
            k,
            scores=q_all if p.granularity == "token" else _whole(q_all, mask_all),
            credit=p.credit,
            norm=p.norm,
            form=p.form,
            gamma_process=p.gamma_process,
            gamma_outcome=p.gamma_outcome,
            **p.prime_kwargs,
        )
        metrics.update(res.metrics)
        adv = res.advantages[start : start + n_local, :t].to(completion_ids.device)
        return adv, metrics

    def _prm_update(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        t: int,
        ref_logp: torch.Tensor,
        mask: torch.Tensor,
        outcome: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The PRM's forward with grad, its BCE loss and (when it learns) one optimizer step; returns the scores of
        that forward (``q`` before the step) and ``prm/loss`` (+ ``prm/grad_norm``, ``prm/lr``)."""
        # forward and backward in one scope: with prm_adapter, a checkpointed backward recomputes with the PRM
        # adapter active, and its parameters require gradients only in here
        with self._scoring(reference=False) as prm:
            return self._prm_forward_and_step(prm, input_ids, attention_mask, t, ref_logp, mask, outcome)

    def _prm_forward_and_step(
        self,
        prm: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        t: int,
        ref_logp: torch.Tensor,
        mask: torch.Tensor,
        outcome: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        opt = self.prm_optimizer
        grad = opt is not None
        with torch.set_grad_enabled(grad):
            logp = completion_logprobs(prm, input_ids, attention_mask, t)
            q = torch.where(mask, logp - ref_logp, torch.zeros_like(logp))
            loss = algos.prm_bce_loss(q, mask, outcome, beta=self.prime.beta_train)
        metrics = {"prm/loss": self._mean_over_processes(float(loss.detach()))}
        if opt is not None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            params = [p for p in self._prm_params if p.grad is not None]
            self._average_gradients(params)
            norm = torch.nn.utils.clip_grad_norm_(params, self.prime.grad_clip)
            opt.step()
            metrics["prm/grad_norm"] = float(norm)
            metrics["prm/lr"] = float(opt.param_groups[0]["lr"])
        return q.detach().float(), metrics

    def _average_gradients(self, params: Sequence[torch.Tensor]) -> None:
        world = self.accelerator.num_processes
        if world == 1:
            return
        import torch.distributed as dist

        for prm_param in params:
            assert prm_param.grad is not None
            dist.all_reduce(prm_param.grad, op=dist.ReduceOp.SUM)
            prm_param.grad.div_(world)

    def _mean_over_processes(self, value: float) -> float:
        if self.accelerator.num_processes == 1:
            return value
        t = torch.tensor([value], device=self.accelerator.device)
        return float(self.accelerator.gather(t).mean())

    def _gather_rows(self, q: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every process's ``(B, T)`` rows in process order, right-padded to the longest ``T``."""
        if self.accelerator.num_processes == 1:
            return q, mask
        q_pad = self.accelerator.pad_across_processes(q, dim=1, pad_index=0.0)
        m_pad = self.accelerator.pad_across_processes(mask.to(torch.uint8), dim=1, pad_index=0)
        return self.accelerator.gather(q_pad), self.accelerator.gather(m_pad).bool()


def _whole(q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``granularity="whole"``: each row's summed score on its last valid token."""
    from prime_fast.algos import last_token_mask

    last = last_token_mask(mask)
    return torch.where(last, (q * mask).sum(-1, keepdim=True), torch.zeros_like(q))
