"""Settings of the runtime layer (the vLLM engine, LoRA adapters) and the checks every config section uses.

The trainer's schema (:mod:`prime_fast.trainer.schema`) nests these sections as ``[vllm]`` and
``[model.lora]``; the eval command builds them from its own options. Every check raises
:class:`~prime_fast.errors.ConfigError` naming the key, what is expected and what was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prime_fast.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16")
MODEL_DTYPES = (*DTYPES, "float64")
"""``model.dtype`` also takes float64 (CPU comparisons that must not depend on reduction order; no vLLM)."""


def check(cond: bool, key: str, msg: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}, got {value!r}")


def choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    check(value in choices, key, f"expected one of {', '.join(choices)}", value)


def positive(key: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    check(ok, key, "expected a number " + (">= 0" if allow_zero else "> 0"), value)


LORA_ALL_LINEAR = "all-linear"


@dataclass(frozen=True, slots=True)
class LoraSettings:
    """LoRA adapters on one shared frozen base (the ``[model.lora]`` table; ``runtime/lora.py``).

    With ``rank > 0`` the policy and the implicit PRM are two adapters on one copy of the base
    weights, and the PRM reference is that base with the adapters switched off.

    Args:
        rank: adapter rank r (0: LoRA off, every model is a full copy).
        alpha: LoRA alpha; the update is scaled by ``alpha / rank``.
        dropout: dropout on the adapters' input in train-mode forwards.
        target_modules: leaf names of the linear layers that get adapters (e.g. ``q_proj``,
            ``v_proj``), or ``all-linear`` (every linear layer but the LM head). Names the model does
            not have are a ConfigError listing the model's own linear layers.
    """

    rank: int = 0
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = (LORA_ALL_LINEAR,)

    def __post_init__(self) -> None:
        positive("model.lora.rank", self.rank, allow_zero=True)
        positive("model.lora.alpha", self.alpha)
        check(0 <= self.dropout < 1, "model.lora.dropout", "expected in [0, 1)", self.dropout)
        t = self.target_modules
        check(
            bool(t) and all(isinstance(x, str) and x.replace("_", "").replace("-", "").isalnum() for x in t),
            "model.lora.target_modules",
            f"expected linear-layer names such as q_proj, v_proj, or {LORA_ALL_LINEAR!r}",
            t,
        )
        check(
            LORA_ALL_LINEAR not in t or len(t) == 1,
            "model.lora.target_modules",
            f"expected {LORA_ALL_LINEAR!r} alone or a list of layer names",
            t,
        )

    @property
    def enabled(self) -> bool:
        """Whether LoRA is on (``rank > 0``)."""
        return self.rank > 0


@dataclass(frozen=True, slots=True)
class VLLMSection:
    """The vLLM rollout engine (``rollout.backend = "vllm"``; see docs/SCALE.md): what
    ``runtime/rollout/vllm.py``'s ``VLLMRollout`` reads.

    Args:
        tensor_parallel_size: GPUs per engine; under torchrun consecutive ranks form one group.
        gpu_memory_utilization: fraction of GPU memory vLLM may take (weights + KV cache).
        max_model_len: longest prompt + response (0: ``data.max_prompt_length + rollout.max_tokens``).
        dtype: ``auto``, ``bfloat16``, ``float16`` or ``float32``.
        enforce_eager: no CUDA graphs (faster start, what the PRIME authors used).
        sleep_mode: ``auto`` (on with CUDA), ``true`` or ``false``: free weights and KV cache between phases.
        sleep_level: 1 keeps a host copy of the weights while asleep; 2 drops them (valid only when
            every generation round follows a weight sync, e.g. no accuracy filter).
        enable_prefix_caching: share the prompt's KV blocks between its K samples.
        logprobs_mode: ``processed_logprobs`` or ``raw_logprobs``.
        max_num_seqs: most sequences per scheduler step (0: vLLM's default).
    """

    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.5
    max_model_len: int = 0
    dtype: str = "auto"
    enforce_eager: bool = True
    sleep_mode: str = "auto"
    sleep_level: int = 1
    enable_prefix_caching: bool = True
    logprobs_mode: str = "processed_logprobs"
    max_num_seqs: int = 0

    def __post_init__(self) -> None:
        positive("vllm.tensor_parallel_size", self.tensor_parallel_size)
        check(
            0 < self.gpu_memory_utilization <= 1,
            "vllm.gpu_memory_utilization",
            "expected in (0, 1]",
            self.gpu_memory_utilization,
        )
        check(
            self.max_model_len == 0 or self.max_model_len >= 2,
            "vllm.max_model_len",
            "expected 0 or >= 2",
            self.max_model_len,
        )
        choice("vllm.dtype", self.dtype, ("auto", *DTYPES))
        choice("vllm.sleep_mode", self.sleep_mode, ("auto", "true", "false"))
        choice("vllm.sleep_level", str(self.sleep_level), ("1", "2"))
        choice("vllm.logprobs_mode", self.logprobs_mode, ("processed_logprobs", "raw_logprobs"))
        positive("vllm.max_num_seqs", self.max_num_seqs, allow_zero=True)
