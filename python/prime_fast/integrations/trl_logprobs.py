"""A ``GRPOTrainer`` mixin computing the per-token log-probs with :func:`prime_fast.ops.linear_token_logprobs`
and GRPO's policy loss with :func:`prime_fast.ops.linear_policy_loss`.

TRL 1.16's ``GRPOTrainer._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep,
batch_size=None, compute_entropy=False, compute_aux_loss=False, <multimodal inputs>) -> (logps, entropies,
aux_loss)`` runs the model with TRL's chunked LM head. :class:`FusedLogProbsMixin` overrides it with the same
signature and return: the backbone's last hidden state and the LM head's weight go to prime-fast's fused op
(Triton on CUDA: the ``N x V`` logits are never materialised, in the forward or the backward), entropy included
when asked. Positions TRL does not score (padding) get 0, as in TRL.

Dispatch (``fused_logprobs``, a class attribute, or the ``PRIME_FAST_TRL_LOGPROBS`` environment variable):
``"auto"`` (default) uses prime-fast's op on CUDA; on the CPU, TRL's eager helpers (full logits,
``selective_log_softmax`` and ``entropy_from_logits``) while a chunk's logits stay small
(``rows x logits_to_keep x V <= EAGER_MAX_ELEMENTS``, where they were the fastest), prime-fast's op above
(benches/RESULTS.md, "Issue 23": TRL's own chunked head was the slowest of the three on the CPU at every
shape measured). ``"prime_fast"``, ``"eager"`` and ``"trl"`` (TRL's own method) force one. TRL's own method
also handles what the op does not cover: multimodal inputs, MoE auxiliary losses, an LM head with a bias,
logit soft-capping or scaling.

The policy loss: the mixin also overrides ``GRPOTrainer._compute_loss(model, inputs)``; where
:func:`prime_fast.ops.linear_policy_loss` reproduces TRL's loss exactly (the mapping and what falls back:
:mod:`prime_fast.integrations.trl_policy_loss`), the backbone's hidden states and the head's weight go to that
op (loss, KL and entropy bonus in one pass, gradients made in the forward, no ``N x V`` logits kept), else
TRL's own ``_compute_loss`` runs. Dispatch (``fused_policy_loss`` or ``PRIME_FAST_TRL_POLICY_LOSS``):
``"auto"`` (default) follows the log-prob dispatch for the batch's ``B x completion length x V`` logits (the
fused loss where it would pick ``"prime_fast"``: on CUDA, and on the CPU above ``EAGER_MAX_ELEMENTS``; TRL's
loss where full logits are fastest or TRL's method is asked for); ``"prime_fast"`` forces it wherever it is
exact, ``"trl"`` never uses it. ``policy_loss_path`` and ``policy_loss_fallback`` record the last call's path
and, for TRL's, why.

Use: ``class MyTrainer(FusedLogProbsMixin, GRPOTrainer): ...`` (the mixin first), or
:class:`FusedLogProbGRPOTrainer`.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from prime_fast.errors import ConfigError

__all__ = [
    "DISPATCH",
    "EAGER_MAX_ELEMENTS",
    "LOSS_DISPATCH",
    "FusedLogProbsMixin",
    "fused_logprobs_backbone",
]

DISPATCH = ("auto", "prime_fast", "eager", "trl")
#: ``fused_policy_loss`` / ``PRIME_FAST_TRL_POLICY_LOSS`` values.
LOSS_DISPATCH = ("auto", "prime_fast", "trl")
#: On the CPU, ``auto`` computes full logits up to this many elements per chunk (64 MiB in float32).
EAGER_MAX_ELEMENTS = 1 << 24
_MULTIMODAL = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


def fused_logprobs_backbone(model: Any) -> tuple[Any, torch.Tensor] | None:
    """``(backbone, lm_head_weight)`` of a causal LM (PEFT-wrapped or not), or None when the op cannot stand in
    for its head (a bias, soft-capping or logit scaling)."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = lm.get_output_embeddings()
    if head is None or getattr(head, "bias", None) is not None:
        return None
    cfg = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    for key in (
        "final_logit_softcapping",
        "logit_scale",
        "output_multiplier",
        "lm_head_multiplier",
        "logits_scaling",
    ):
        if getattr(cfg, key, None) not in (None, 1.0):
            return None
    return lm.base_model, head.weight


class FusedLogProbsMixin:
    """Overrides ``GRPOTrainer._get_per_token_logps_and_entropies`` and ``_compute_loss`` with prime-fast's fused
    ops (module docstring)."""

    fused_logprobs: str = "auto"
    fused_policy_loss: str = "auto"
    #: The path the last ``_compute_loss`` took: ``"prime_fast"`` (the fused op) or ``"trl"`` (TRL's own).
    policy_loss_path: str | None = None
    #: Why the last ``_compute_loss`` ran TRL's own loss (None after the fused one).
    policy_loss_fallback: str | None = None

    def _fused_logprobs_mode(self, device: torch.device, elements: int = 0) -> str:
        """The path for one chunk of ``elements = rows x logits_to_keep x V`` logits on ``device``."""
        mode = os.environ.get("PRIME_FAST_TRL_LOGPROBS", self.fused_logprobs)
        if mode not in DISPATCH:
            raise ConfigError(
                f"fused_logprobs / PRIME_FAST_TRL_LOGPROBS must be one of {DISPATCH}, got {mode!r}"
            )
        if mode == "auto":
            if device.type != "cpu":
                return "prime_fast"
            return "eager" if elements <= EAGER_MAX_ELEMENTS else "prime_fast"
        return mode

    def _policy_loss_mode(self, device: torch.device, elements: int = 0) -> str:
        """``"prime_fast"`` or ``"trl"`` for a batch of ``elements = B x completion length x V`` logits."""
        mode = os.environ.get("PRIME_FAST_TRL_POLICY_LOSS", self.fused_policy_loss)
        if mode not in LOSS_DISPATCH:
            raise ConfigError(
                f"fused_policy_loss / PRIME_FAST_TRL_POLICY_LOSS must be one of {LOSS_DISPATCH}, got {mode!r}"
            )
        if mode == "auto":
            return "prime_fast" if self._fused_logprobs_mode(device, elements) == "prime_fast" else "trl"
        return mode

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        """TRL's GRPO loss through :func:`prime_fast.ops.linear_policy_loss` where it is exact, TRL's own
        ``_compute_loss`` elsewhere (:mod:`prime_fast.integrations.trl_policy_loss`)."""
        from prime_fast.integrations.trl_policy_loss import grpo_policy_loss, unsupported_setting

        parent: Any = super()
        parts = fused_logprobs_backbone(self.accelerator.unwrap_model(model))  # type: ignore[attr-defined]
        completion_ids = inputs["completion_ids"]
        vocab = parts[1].shape[0] if parts is not None else 0
        mode = self._policy_loss_mode(completion_ids.device, completion_ids.numel() * vocab)
        reason = None
        if mode == "trl":
            reason = f"dispatch ({self.fused_policy_loss!r} / PRIME_FAST_TRL_POLICY_LOSS; auto follows fused_logprobs)"
        elif parts is None:
            reason = "an LM head the op does not cover (bias, soft-capping or logit scaling)"
        elif any(inputs.get(k) is not None for k in _MULTIMODAL):
            reason = "multimodal inputs"
        else:
            reason = unsupported_setting(self)
        self.policy_loss_fallback = reason
        if reason is not None or parts is None:
            self.policy_loss_path = "trl"
            return parent._compute_loss(model, inputs)
        self.policy_loss_path = "prime_fast"
        backbone, weight = parts
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        hidden = self._completion_hidden(model, backbone, input_ids, attention_mask, completion_ids.size(1))
        return grpo_policy_loss(self, hidden, _head_weight(weight, hidden), inputs)

    def _completion_hidden(
        self,
        model: Any,
        backbone: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
    ) -> torch.Tensor:
        """The last hidden states that predict the last ``logits_to_keep`` tokens, ``(B, logits_to_keep, H)``.

        With gradients and a wrapped model (DDP), the wrapper's own forward runs, or it would never reduce
        the gradients across processes: the whole model, with logits for one position only, and the final
        hidden states from ``hidden_states[-1]`` (the last hidden state, after the final norm). Otherwise
        the backbone runs alone and no logits are made."""
        wrapped = model is not self.accelerator.unwrap_model(model)  # type: ignore[attr-defined]
        with self.accelerator.autocast():  # type: ignore[attr-defined]
            if wrapped and torch.is_grad_enabled():
                out = model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    use_cache=False,
                    logits_to_keep=1,
                    output_hidden_states=True,
                )
                hidden = out.hidden_states[-1]
            else:
                hidden = backbone(
                    input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                ).last_hidden_state
        return hidden[:, -logits_to_keep - 1 : -1]

    def _get_per_token_logps_and_entropies(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **multimodal: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """TRL's signature and return: ``(logps, entropies or None, aux_loss or None)``, each ``(B, logits_to_keep)``."""
        parent: Any = super()
        unwrapped = self.accelerator.unwrap_model(model)  # type: ignore[attr-defined]
        parts = fused_logprobs_backbone(unwrapped)
        rows = min(batch_size or input_ids.size(0), input_ids.size(0))
        elements = rows * logits_to_keep * (parts[1].shape[0] if parts is not None else 0)
        mode = self._fused_logprobs_mode(input_ids.device, elements)
        if (
            compute_aux_loss
            or any(multimodal.get(k) is not None for k in _MULTIMODAL)
            or parts is None
            or mode == "trl"
        ):
            return parent._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **multimodal,
            )
        backbone, weight = parts
        return self._fused_logps(
            model,
            backbone,
            weight,
            input_ids,
            attention_mask,
            logits_to_keep,
            batch_size,
            compute_entropy,
            mode == "eager",
        )

    def _fused_logps(
        self,
        model: Any,
        backbone: Any,
        weight: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None,
        compute_entropy: bool,
        eager: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, None]:
        from prime_fast.ops import linear_token_logprobs

        step = batch_size or input_ids.size(0)
        logps, ents = [], []
        temperature = float(getattr(self, "temperature", 1.0))
        for start in range(0, input_ids.size(0), step):
            ids = input_ids[start : start + step]
            mask = attention_mask[start : start + step]
            hidden = self._completion_hidden(model, backbone, ids, mask, logits_to_keep)
            labels = ids[:, -logits_to_keep:].masked_fill(mask[:, -logits_to_keep:] == 0, -100)
            w = _head_weight(weight, hidden)
            if eager:
                logp, ent = _eager_logps(
                    hidden.to(w.device), w, labels.to(w.device), temperature, compute_entropy
                )
            else:
                logp, ent = linear_token_logprobs(
                    hidden.to(w.device), w, labels.to(w.device), temperature=temperature, return_entropy=True
                )
            logps.append(logp)
            if compute_entropy:
                ents.append(ent)
        return torch.cat(logps), (torch.cat(ents) if compute_entropy else None), None


def _head_weight(weight: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The LM head's weight in the hidden states' dtype (a differentiable cast where they differ)."""
    return weight if weight.dtype == hidden.dtype else weight.to(hidden.dtype)


def _eager_logps(
    hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, temperature: float, entropy: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL's eager helpers on the full logits (0 where ``labels`` is -100)."""
    from trl.trainer.utils import entropy_from_logits, selective_log_softmax

    logits = (hidden @ weight.T).float() / temperature
    valid = labels != -100
    logp = selective_log_softmax(logits, labels.clamp(min=0)) * valid
    ent = entropy_from_logits(logits) * valid if entropy else logp.new_zeros(())
    return logp, ent


def __getattr__(name: str) -> Any:
    if (
        name == "FusedLogProbGRPOTrainer"
    ):  # built on first use, so that importing this module never imports TRL
        from trl import GRPOTrainer

        cls = type(
            "FusedLogProbGRPOTrainer",
            (FusedLogProbsMixin, GRPOTrainer),
            {"__doc__": "TRL's ``GRPOTrainer`` with :class:`FusedLogProbsMixin`.", "__module__": __name__},
        )
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
