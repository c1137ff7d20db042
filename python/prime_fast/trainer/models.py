"""The models of one PRIME run, built from the config: policy, implicit PRM and PRM reference from the
same SFT weights (or LoRA adapters on one shared base)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prime_fast.runtime.models import check_same_tokenizer, load_causal_lm, load_tokenizer
from prime_fast.trainer.schema import TrainConfig


@dataclass
class Models:
    """The models of one PRIME run. ``prm``/``ref`` are None when not needed."""

    policy: Any
    tokenizer: Any
    prm: Any | None
    ref: Any | None


def build_models(cfg: TrainConfig, policy_path: str) -> Models:
    """Policy, PRM (if process rewards are on and ``prm.has_model``: ``separate``, or ``oracle`` with a
    learned PRM kept) and PRM reference (if ``prm.needs_ref``), all loaded from their paths (the PRM
    and reference default to the policy's SFT weights)."""
    tok = load_tokenizer(policy_path)
    if cfg.model.lora.enabled:  # one frozen base, adapters for the policy and the PRM (runtime/lora.py)
        from prime_fast.runtime.lora import build_lora_views

        policy, prm, ref = build_lora_views(
            load_causal_lm(policy_path, cfg.model.dtype, trainable=False),
            cfg.model.lora,
            with_prm=cfg.uses_prm and cfg.prm.has_model,
            with_ref=cfg.uses_prm and cfg.prm.needs_ref,
            base_path=policy_path,
            gradient_checkpointing=cfg.model.gradient_checkpointing,
        )
        return Models(policy=policy, tokenizer=tok, prm=prm, ref=ref)
    prm_path = cfg.model.prm_path or policy_path
    ref_path = cfg.model.ref_path or prm_path
    gc = cfg.model.gradient_checkpointing
    policy = load_causal_lm(policy_path, cfg.model.dtype, trainable=True, gradient_checkpointing=gc)
    prm = ref = None
    if cfg.uses_prm:
        if prm_path != policy_path:
            check_same_tokenizer(tok, load_tokenizer(prm_path), f"model.prm_path = {prm_path!r}")
        if cfg.prm.has_model:
            prm = load_causal_lm(prm_path, cfg.model.dtype, trainable=True, gradient_checkpointing=gc)
        if cfg.prm.needs_ref:
            if ref_path != policy_path:
                check_same_tokenizer(tok, load_tokenizer(ref_path), f"model.ref_path = {ref_path!r}")
            ref = load_causal_lm(ref_path, cfg.model.dtype, trainable=False)
    return Models(policy=policy, tokenizer=tok, prm=prm, ref=ref)
