"""Loading models and tokenizers, and the teacher-forced log-prob forward every model shares (policy,
implicit PRM, reference; trainer and eval alike): hidden states through the fused LM head, no logits."""

from __future__ import annotations

import logging
from typing import Any, Literal, overload

import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.batch import Batch

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(path: str) -> Any:
    """The tokenizer saved with a model directory.

    A tokenizer saved as the generic fast class (a ``tokenizer.json`` built in code, like the demo's)
    is loaded as exactly that: ``AutoTokenizer`` would pick the model type's class (e.g. Qwen2's) and
    replace the saved pre-tokenizer, changing how text is split.
    """
    import json
    from pathlib import Path

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cls_name = ""
    tc = Path(path) / "tokenizer_config.json"
    if tc.is_file():
        cls_name = str(json.loads(tc.read_text(encoding="utf-8")).get("tokenizer_class", ""))
    loader = PreTrainedTokenizerFast if cls_name in _GENERIC_TOKENIZERS else AutoTokenizer
    try:
        tok = loader.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a tokenizer from {path!r}: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def check_same_tokenizer(a: Any, b: Any, what: str) -> None:
    """PRIME needs token-aligned log-probs: the PRM must share the policy tokenizer (docs/ALGORITHM.md 14.14)."""
    if a.get_vocab() != b.get_vocab() or a.eos_token_id != b.eos_token_id:
        raise ConfigError(
            f"{what}: its tokenizer differs from the policy tokenizer (vocabulary or EOS); the implicit PRM "
            "must share the policy tokenizer so that its log-probs align with the policy's tokens"
        )


def load_causal_lm(path: str, dtype: str, *, trainable: bool, gradient_checkpointing: bool = False) -> Any:
    """An HF causal LM in train mode (dropout off: eval mode is used for every forward)."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=_DTYPES[dtype])
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a causal LM from {path!r}: {e}") from None
    model.eval()  # no dropout in RL forwards
    if not trainable:
        model.requires_grad_(False)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    return model


@overload
def response_logprobs(
    model: Any, batch: Batch, *, temperature: float = ..., return_entropy: Literal[False] = ...
) -> torch.Tensor: ...


@overload
def response_logprobs(
    model: Any, batch: Batch, *, temperature: float = ..., return_entropy: Literal[True]
) -> tuple[torch.Tensor, torch.Tensor]: ...


def response_logprobs(
    model: Any, batch: Batch, *, temperature: float = 1.0, return_entropy: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forced log-probs of the response tokens, ``(N, T)`` float32 (and entropy if asked).

    The decoder's hidden states at positions ``P-1 .. P+T-2`` go through the fused LM head +
    log-softmax + gather (:func:`prime_fast.ops.linear_token_logprobs`): no ``N x T x V`` logits.
    Masked positions get label -100 (logp 0, no gradient).
    """
    dev = next(model.parameters()).device
    labels = torch.where(batch.response_mask.bool(), batch.responses, torch.full_like(batch.responses, -100))
    args = (batch.input_ids.to(dev), batch.attention_mask.to(dev), batch.position_ids.to(dev), labels.to(dev))
    # An FSDP2-wrapped model carries this computation as a registered forward method, so that its
    # root parameters (embeddings, final norm, LM head) are gathered around it (FSDPContext in trainer/context.py registers it).
    fsdp_forward = getattr(model, "prime_fast_logprobs", None)
    if fsdp_forward is not None:
        return fsdp_forward(*args, batch.prompt_len, temperature, return_entropy)
    return logprobs_forward(model, *args, batch.prompt_len, temperature, return_entropy)


def logprobs_forward(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    labels: torch.Tensor,
    prompt_len: int,
    temperature: float = 1.0,
    return_entropy: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The body of :func:`response_logprobs` on device tensors (``labels`` -100 where masked)."""
    from prime_fast.ops import linear_token_logprobs

    t = labels.shape[1]
    out = model.get_decoder()(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    )
    hidden = out.last_hidden_state[:, prompt_len - 1 : prompt_len + t - 1]
    weight = model.get_output_embeddings().weight
    return linear_token_logprobs(
        hidden, weight, labels, temperature=temperature, return_entropy=return_entropy
    )


@torch.no_grad()
def batched_logprobs(
    model: Any, batch: Batch, micro_batch_size: int, *, temperature: float = 1.0
) -> torch.Tensor:
    """:func:`response_logprobs` without gradients, in micro-batches; results on the CPU."""
    return torch.cat(
        [
            response_logprobs(model, batch.rows(slice(s, s + micro_batch_size)), temperature=temperature)
            .float()
            .cpu()
            for s in range(0, batch.size, micro_batch_size)
        ]
    )
