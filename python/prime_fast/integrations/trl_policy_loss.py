"""TRL 1.16's GRPO policy loss through :func:`prime_fast.ops.linear_policy_loss` (LM head fused, gradients made
in the forward, no ``N x V`` logits kept).

:class:`~prime_fast.integrations.trl_logprobs.FusedLogProbsMixin` overrides ``GRPOTrainer._compute_loss`` with
:func:`grpo_policy_loss` where the op stands in for TRL's loss exactly, and calls TRL's own ``_compute_loss``
everywhere else (:func:`unsupported_setting` names the reason). The mapping, per token with
``r = exp(logp - old_logp)`` (``old_logp = logp.detach()`` when TRL keeps no old log-probs: one iteration per
generation, the op's ``old_logp=None``):

- TRL's ``-min(r A, clip(r, 1 - epsilon_low, 1 + epsilon_high) A)`` is the op's PPO-clip
  ``max(-A r, -A clip(r))``; TRL's two-sided clipping ``delta`` (``r`` capped at ``delta`` in the first term)
  equals the op's ``dual_clip = delta`` when ``delta > 1 + epsilon_high``;
- ``beta * k3`` (``exp(ref - logp) - (ref - logp) - 1``) is the op's ``kl_coef = beta``, ``kl_type="k3"``, times
  ``r`` (differentiable) with TRL's default ``use_bias_correction_kl``: the op's ``kl_ratio_weighted``;
- each loss type's normalisation is one of the op's aggregations times a scalar :func:`loss_scale`:
  ``grpo`` = ``seq-mean-token-mean`` x (rows with a token / B) / accumulation, ``luspo`` =
  ``seq-mean-token-sum`` x the same, ``bnpo`` = ``token-mean`` / accumulation, ``dr_grpo`` = ``token-mean``
  x tokens / (B x max_completion_length) / accumulation, ``dapo`` = ``token-mean`` x tokens / TRL's
  ``num_items_in_batch`` normaliser;
- the static entropy bonus (``entropy_coef``: a token mean of the entropy, scaled for accumulation only) is
  the op's ``entropy_coef`` divided by that scalar, for the ``token-mean`` loss types.

The op clamps the log-ratio to +-20 against overflow (TRL does not): the only difference, on tokens whose
probability moved by a factor over e^20 since the rollout. Advantages may be TRL's ``(B,)`` or ``(B, T)``.
Logged metrics are TRL's, with TRL's formulas (``entropy``, ``kl``, ``clip_ratio/low_mean``,
``clip_ratio/low_min``, ``clip_ratio/high_mean``, ``clip_ratio/high_max``, ``clip_ratio/region_mean``,
``policy_loss`` and ``entropy_coef`` with the entropy bonus), from the per-token log-probs and entropies the op
returns.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["LOSS_AGGREGATION", "grpo_policy_loss", "loss_scale", "unsupported_setting"]

#: TRL ``loss_type`` -> the aggregation of :mod:`prime_fast.ops.ppo` that its normalisation is a multiple of.
LOSS_AGGREGATION = {
    "grpo": "seq-mean-token-mean",
    "luspo": "seq-mean-token-sum",
    "bnpo": "token-mean",
    "dr_grpo": "token-mean",
    "dapo": "token-mean",
}


def unsupported_setting(trainer: Any) -> str | None:
    """Why the fused op cannot reproduce ``trainer``'s GRPO loss exactly, or None when it can."""
    args = trainer.args
    loss_type = trainer.loss_type
    if loss_type not in LOSS_AGGREGATION:
        return f"loss_type={loss_type!r} (fused: {', '.join(LOSS_AGGREGATION)})"
    delta = getattr(args, "delta", None)
    checks = (
        (trainer.importance_sampling_level != "token", "importance_sampling_level='sequence'"),
        (trainer.top_entropy_quantile < 1.0, "top_entropy_quantile < 1 (entropy masking)"),
        (trainer.off_policy_mask_threshold is not None, "off_policy_mask_threshold"),
        (
            trainer.use_vllm and trainer.vllm_importance_sampling_correction,
            "vLLM importance-sampling correction",
        ),
        (delta is not None and not delta > 1.0 + trainer.epsilon_high, "delta <= 1 + epsilon_high"),
        (trainer.use_adaptive_entropy, "use_adaptive_entropy"),
        (
            trainer._entropy_bonus_enabled and LOSS_AGGREGATION[loss_type] != "token-mean",
            f"entropy_coef with loss_type={loss_type!r} (its entropy bonus is not a multiple of its mean)",
        ),
        (getattr(args, "use_liger_kernel", False), "use_liger_kernel"),
        (getattr(args, "cast_lm_head_to_fp32", False), "cast_lm_head_to_fp32"),
        (trainer.aux_loss_enabled, "a MoE auxiliary loss"),
    )
    return next((why for hit, why in checks if hit), None)


def loss_scale(trainer: Any, mask: torch.Tensor, inputs: dict[str, Any], training: bool) -> torch.Tensor:
    """``TRL's loss / aggregate(per-token loss)`` for ``trainer.loss_type`` (module docstring), a 0-d tensor."""
    m = mask.float()
    accum = float(trainer.current_gradient_accumulation_steps) if training else 1.0
    loss_type = trainer.loss_type
    if loss_type in ("grpo", "luspo"):
        return (m.sum(-1) > 0).float().sum() / m.shape[0] / accum
    if loss_type == "bnpo":
        return m.new_tensor(1.0 / accum)
    if loss_type == "dr_grpo":
        return m.sum() / (m.shape[0] * trainer.max_completion_length) / accum
    normaliser = inputs["num_items_in_batch"].clamp(min=1.0) / trainer.accelerator.num_processes  # dapo
    if training:
        normaliser = (
            normaliser * trainer.current_gradient_accumulation_steps / trainer.args.steps_per_generation
        )
    return m.sum() / normaliser.to(m.device)


def grpo_policy_loss(
    trainer: Any, hidden: torch.Tensor, weight: torch.Tensor, inputs: dict[str, Any]
) -> torch.Tensor:
    """TRL's ``_compute_loss`` value (and gradients) from the completion positions' ``(B, T, H)`` hidden states
    and the LM head ``weight``; logs TRL's metrics. Call only where :func:`unsupported_setting` is None."""
    from prime_fast.ops import linear_policy_loss

    dev = weight.device
    ids, completion_mask = inputs["completion_ids"].to(dev), inputs["completion_mask"].to(dev)
    mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"].to(dev)
    labels = ids.masked_fill(completion_mask == 0, -100)
    adv = inputs["advantages"].to(dev)
    adv = adv.unsqueeze(1) if adv.dim() == 1 else adv
    old = inputs.get("old_per_token_logps")
    ref = inputs["ref_per_token_logps"].to(dev) if trainer.beta != 0.0 else None
    training = bool(trainer.model.training)
    scale = loss_scale(trainer, mask, inputs, training)
    bonus = _entropy_bonus(trainer, scale, training)
    delta = getattr(trainer.args, "delta", None)
    loss, metrics, logp, ent = linear_policy_loss(
        hidden.to(dev),
        weight,
        labels,
        None if old is None else old.to(dev),
        adv.expand(mask.shape).float(),
        mask,
        clip_ratio_low=trainer.epsilon_low,
        clip_ratio_high=trainer.epsilon_high,
        dual_clip=delta,
        aggregation=LOSS_AGGREGATION[trainer.loss_type],
        entropy_coef=bonus,
        temperature=float(trainer.temperature),
        ref_logp=ref,
        kl_coef=float(trainer.beta),
        kl_type="k3",
        kl_ratio_weighted=_bias_corrected_kl(trainer),
        return_token_values=True,
    )
    mode = "train" if training else "eval"
    if trainer._entropy_bonus_enabled:
        policy = metrics["pg_loss"] + (trainer.beta * metrics["kl"] if ref is not None else 0.0)
        per_step = (
            scale
            if trainer.loss_type == "dapo" or not training
            else scale * trainer.current_gradient_accumulation_steps
        )
        trainer._metrics[mode]["policy_loss"].append(
            trainer.accelerator.gather(policy * per_step).nanmean().item()
        )
        if training and trainer.accelerator.sync_gradients:
            trainer._metrics[mode]["entropy_coef"].append(trainer.entropy_coef)
    old_logp = logp if old is None else old.to(dev)
    _log_metrics(trainer, mode, mask, logp, ent, old_logp, adv, ref, delta, _bias_corrected_kl(trainer))
    return loss * scale


def _bias_corrected_kl(trainer: Any) -> bool:
    """TRL's ``use_bias_correction_kl`` (the KL term times the importance ratio; default True in TRL 1.16)."""
    return bool(getattr(trainer.args, "use_bias_correction_kl", False))


def _entropy_bonus(trainer: Any, scale: torch.Tensor, training: bool) -> float:
    """The op's ``entropy_coef``: TRL's ``entropy_coef x token mean / accumulation``, divided by ``scale``."""
    if not trainer._entropy_bonus_enabled:
        return 0.0
    s = float(scale)
    accum = float(trainer.current_gradient_accumulation_steps) if training else 1.0
    return float(trainer.entropy_coef) / (accum * s) if s > 0.0 else 0.0


def _log_metrics(
    trainer: Any,
    mode: str,
    mask: torch.Tensor,
    logp: torch.Tensor,
    ent: torch.Tensor,
    old: torch.Tensor,
    adv: torch.Tensor,
    ref: torch.Tensor | None,
    delta: float | None,
    bias_corrected_kl: bool,
) -> None:
    """TRL 1.16's loss metrics, same names and formulas, from the op's per-token values."""
    from trl.trainer.utils import nanmax, nanmin

    acc = trainer.accelerator
    log = trainer._metrics[mode]

    def token_mean(x: torch.Tensor) -> float:  # over every process's valid tokens
        totals = acc.reduce(torch.stack([(x * mask).sum(), mask.sum().float()]), reduction="sum")
        return float(totals[0] / totals[1].clamp(min=1.0))

    def row_means(x: torch.Tensor) -> torch.Tensor:  # NaN for a row with no valid token, as in TRL
        return acc.gather((x * mask).sum(-1) / mask.sum(-1))

    ratio = torch.exp(logp - old)
    if ref is not None:
        kl = torch.exp(ref - logp) - (ref - logp) - 1
        log["kl"].append(token_mean(kl * ratio if bias_corrected_kl else kl))
    log["entropy"].append(token_mean(ent))
    if delta is not None:
        ratio = ratio.clamp(max=delta)
    low = ((ratio < 1 - trainer.epsilon_low) & (adv < 0)).float()
    high = ((ratio > 1 + trainer.epsilon_high) & (adv > 0)).float()
    log["clip_ratio/low_mean"].append(token_mean(low))
    log["clip_ratio/high_mean"].append(token_mean(high))
    log["clip_ratio/region_mean"].append(token_mean(torch.maximum(low, high)))
    log["clip_ratio/low_min"].append(nanmin(row_means(low)).item())
    log["clip_ratio/high_max"].append(nanmax(row_means(high)).item())
