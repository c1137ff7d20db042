"""Loading models and tokenizers, and the teacher-forced log-prob forward every model shares (policy,
implicit PRM, reference; trainer and eval alike): hidden states through the fused LM head, no logits."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any, Literal, overload

import torch

from prime_fast.errors import ConfigError
from prime_fast.runtime.batch import Batch

log = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}


_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")
#: Files of which a model folder needs one to hold a tokenizer (fast, BPE, SentencePiece, WordPiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt")


def _check_tokenizer_files(path: str) -> None:
    """A local folder without any tokenizer file is an error: ``AutoTokenizer`` would build an empty
    tokenizer of the config's model type (a vocabulary of 1) without a word."""
    from pathlib import Path

    folder = Path(path)
    if folder.is_dir() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ConfigError(
            f"{path} has no tokenizer files ({', '.join(TOKENIZER_FILES)}): save the tokenizer with the model "
            "(tokenizer.save_pretrained(path)) or load the tokenizer from the folder it was saved with"
        )


def load_tokenizer(path: str) -> Any:
    """The tokenizer saved with a model directory (a :class:`ConfigError` when it has none).

    A tokenizer saved as the generic fast class (a ``tokenizer.json`` built in code, like the demo's)
    is loaded as exactly that: ``AutoTokenizer`` would pick the model type's class (e.g. Qwen2's) and
    replace the saved pre-tokenizer, changing how text is split.
    """
    import json
    from pathlib import Path

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    _check_tokenizer_files(path)
    cls_name = ""
    tc = Path(path) / "tokenizer_config.json"
    if tc.is_file():
        cls_name = str(json.loads(tc.read_text(encoding="utf-8")).get("tokenizer_class", ""))
    loader = PreTrainedTokenizerFast if cls_name in _GENERIC_TOKENIZERS else AutoTokenizer
    try:
        tok = loader.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load a tokenizer from {path!r}: {e}") from None
    if len(tok) <= 1:
        raise ConfigError(f"the tokenizer of {path!r} has {len(tok)} token(s): not a usable tokenizer")
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
        enable_activation_checkpointing(model)
        model.config.use_cache = False
    return model


def enable_activation_checkpointing(model: Any, kwargs: dict[str, Any] | None = None) -> None:
    """Recompute activations in the backward: ``activation_checkpointing_enable`` where transformers
    has it (the old name, ``gradient_checkpointing_enable``, warns there), else the old name."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


@contextlib.contextmanager
def peft_wrapping() -> Iterator[None]:
    """Around peft's ``get_peft_model`` / ``PeftModel.from_pretrained``: peft (0.21) reads
    ``model.is_gradient_checkpointing``, which transformers 5 deprecates with a FutureWarning on every
    read; the value peft gets is right and the warning is not the user's to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


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

    hidden = _response_hidden_states(
        model, input_ids, attention_mask, position_ids, prompt_len, labels.shape[1]
    )
    weight = model.get_output_embeddings().weight
    return linear_token_logprobs(
        hidden, weight, labels, temperature=temperature, return_entropy=return_entropy
    )


def _response_hidden_states(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
    prompt_len: int,
    t: int,
) -> torch.Tensor:
    """The decoder's last hidden states at positions ``P-1 .. P+T-2`` (those that predict the response)."""
    out = model.get_decoder()(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
    )
    return out.last_hidden_state[:, prompt_len - 1 : prompt_len + t - 1]


def response_hidden(model: Any, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(hidden, lm_head_weight, labels)`` of the response tokens: the inputs of the LM head that
    :func:`logprobs_forward` feeds to ``linear_token_logprobs`` (for fused LM-head losses such as
    :func:`prime_fast.ops.linear_policy_loss`); ``labels`` are -100 where masked."""
    dev = next(model.parameters()).device
    labels = torch.where(batch.response_mask.bool(), batch.responses, torch.full_like(batch.responses, -100))
    hidden = _response_hidden_states(
        model,
        batch.input_ids.to(dev),
        batch.attention_mask.to(dev),
        batch.position_ids.to(dev),
        batch.prompt_len,
        labels.shape[1],
    )
    return hidden, model.get_output_embeddings().weight, labels.to(dev)


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
