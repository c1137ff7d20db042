"""``token_logprobs`` and ``linear_token_logprobs``: public API, custom-op registration, autograd.

Both ops are registered with :func:`torch.library.custom_op` (forward and backward as separate
ops, gradients through :func:`torch.library.register_autograd`, shapes through ``register_fake``),
so ``torch.compile`` treats them as single nodes without graph breaks. Each op implementation picks
its backend at run time (:func:`prime_fast.ops._common.select_backend`): Triton kernels for CUDA
tensors, the chunked torch path for CPU tensors, or whatever ``PRIME_FAST_KERNELS`` forces.

This module deliberately does not use ``from __future__ import annotations``: ``custom_op`` infers
the operator schema from the real annotation objects.
"""

from typing import Literal, Optional, overload

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops import _torch_path
from prime_fast.ops._common import (
    check_float,
    check_label_range,
    check_labels,
    check_temperature,
    select_backend,
)

_Tensor = torch.Tensor


# ---------------------------------------------------------------------------------------------
# token_logprobs (from logits)
# ---------------------------------------------------------------------------------------------


@torch.library.custom_op("prime_fast::token_logprobs_fwd", mutates_args=())
def _token_logprobs_fwd(
    logits: _Tensor, labels: _Tensor, temperature: float, ignore_index: int, need_entropy: bool
) -> tuple[_Tensor, _Tensor, _Tensor]:
    check_label_range(labels, logits.shape[1], ignore_index)
    if select_backend(logits) == "triton":
        from prime_fast.kernels import logprob

        return logprob.logprob_fwd(logits, labels, temperature, ignore_index, need_entropy)
    return _torch_path.token_logprobs_fwd(logits, labels, temperature, ignore_index, need_entropy)


@_token_logprobs_fwd.register_fake
def _(logits, labels, temperature, ignore_index, need_entropy):
    dt = torch.float64 if logits.dtype == torch.float64 else torch.float32
    n = logits.shape[0]
    return (logits.new_empty(n, dtype=dt), logits.new_empty(n, dtype=dt), logits.new_empty(n, dtype=dt))


@torch.library.custom_op("prime_fast::token_logprobs_bwd", mutates_args=())
def _token_logprobs_bwd(
    logits: _Tensor,
    labels: _Tensor,
    lse: _Tensor,
    entropy: _Tensor,
    grad_logp: _Tensor,
    grad_entropy: Optional[_Tensor],  # noqa: UP045 (custom_op schema inference)
    temperature: float,
    ignore_index: int,
) -> _Tensor:
    if select_backend(logits) == "triton":
        from prime_fast.kernels import logprob

        return logprob.logprob_bwd(
            logits, labels, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index
        )
    return _torch_path.token_logprobs_bwd(
        logits, labels, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index
    )


@_token_logprobs_bwd.register_fake
def _(logits, labels, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index):
    return torch.empty_like(logits)


def _tlp_setup_context(ctx, inputs, output):
    logits, labels, temperature, ignore_index, need_entropy = inputs
    _, entropy, lse = output
    ctx.save_for_backward(logits, labels, lse, entropy)
    ctx.temperature = temperature
    ctx.ignore_index = ignore_index
    ctx.need_entropy = need_entropy


def _tlp_backward(ctx, g_logp, g_ent, g_lse):
    logits, labels, lse, entropy = ctx.saved_tensors
    if g_logp is None:
        g_logp = torch.zeros_like(lse)
    ge = g_ent.contiguous() if (ctx.need_entropy and g_ent is not None) else None
    d = torch.ops.prime_fast.token_logprobs_bwd(
        logits, labels, lse, entropy, g_logp.contiguous(), ge, ctx.temperature, ctx.ignore_index
    )
    return d, None, None, None, None


_token_logprobs_fwd.register_autograd(_tlp_backward, setup_context=_tlp_setup_context)


def _check_ignore_index(ignore_index: object) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise UnsupportedInputError(f"ignore_index must be an int, got {ignore_index!r}")
    return ignore_index


@overload
def token_logprobs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: Literal[False] = ...,
    ignore_index: int = ...,
) -> torch.Tensor: ...


@overload
def token_logprobs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: Literal[True],
    ignore_index: int = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def token_logprobs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: bool = ...,
    ignore_index: int = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def token_logprobs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 1.0,
    return_entropy: bool = False,
    ignore_index: int = -100,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probability of ``labels`` under ``softmax(logits / temperature)``.

    Never materialises a second ``N x V`` tensor: the forward streams the logits once (online
    log-sum-exp in float32), the backward writes ``d logits`` once.

    Args:
        logits: ``(B, T, V)`` or ``(N, V)`` scores, float32/bfloat16/float16 (float64 on the torch
            path). The last dimension must be contiguous or it is copied.
        labels: ``(B, T)`` or ``(N,)`` int64/int32 token ids in ``[0, V)`` or ``ignore_index``.
        temperature: positive float dividing the logits (a run-time argument; no recompiles).
        return_entropy: also return the entropy of each position's distribution (differentiable).
        ignore_index: label of positions to skip: their logp and entropy are 0 with zero gradient.

    Returns:
        ``logp`` of the labels' shape in float32 (float64 for float64 logits), or ``(logp, entropy)``.

    Raises:
        UnsupportedInputError: wrong type, dtype, shape, device, temperature or label range.
        ConfigError: an invalid ``PRIME_FAST_KERNELS`` value.
    """
    check_float("logits", logits, (2, 3))
    vocab = logits.shape[-1]
    if vocab == 0:
        raise UnsupportedInputError("logits must have a non-empty vocabulary (last) dimension")
    check_labels("labels", labels, logits.shape[:-1], logits.device)
    t = check_temperature(temperature)
    ii = _check_ignore_index(ignore_index)
    select_backend(logits)  # validates PRIME_FAST_KERNELS and the dtype before any launch
    lg = logits.reshape(-1, vocab)
    if lg.stride(-1) != 1:
        lg = lg.contiguous()
    lab = labels.reshape(-1).contiguous()
    logp, ent, _ = torch.ops.prime_fast.token_logprobs_fwd(lg, lab, t, ii, bool(return_entropy))
    logp = logp.view(labels.shape)
    if return_entropy:
        return logp, ent.view(labels.shape)
    return logp


# ---------------------------------------------------------------------------------------------
# linear_token_logprobs (LM head fused)
# ---------------------------------------------------------------------------------------------


@torch.library.custom_op("prime_fast::linear_token_logprobs_fwd", mutates_args=())
def _linear_fwd(
    hidden: _Tensor,
    weight: _Tensor,
    labels: _Tensor,
    temperature: float,
    ignore_index: int,
    need_entropy: bool,
) -> tuple[_Tensor, _Tensor, _Tensor]:
    check_label_range(labels, weight.shape[0], ignore_index)
    if select_backend(hidden) == "triton":
        from prime_fast.kernels import linear_logprob

        return linear_logprob.linear_logprob_fwd(
            hidden, weight, labels, temperature, ignore_index, need_entropy
        )
    return _torch_path.linear_token_logprobs_fwd(
        hidden, weight, labels, temperature, ignore_index, need_entropy
    )


@_linear_fwd.register_fake
def _(hidden, weight, labels, temperature, ignore_index, need_entropy):
    dt = torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32
    n = hidden.shape[0]
    return (hidden.new_empty(n, dtype=dt), hidden.new_empty(n, dtype=dt), hidden.new_empty(n, dtype=dt))


@torch.library.custom_op("prime_fast::linear_token_logprobs_bwd", mutates_args=())
def _linear_bwd(
    hidden: _Tensor,
    weight: _Tensor,
    labels: _Tensor,
    lse: _Tensor,
    entropy: _Tensor,
    grad_logp: _Tensor,
    grad_entropy: Optional[_Tensor],  # noqa: UP045 (custom_op schema inference)
    temperature: float,
    ignore_index: int,
    need_d_hidden: bool,
    need_d_weight: bool,
) -> tuple[_Tensor, _Tensor]:
    if select_backend(hidden) == "triton":
        from prime_fast.kernels import linear_logprob

        return linear_logprob.linear_logprob_bwd(
            hidden,
            weight,
            labels,
            lse,
            entropy,
            grad_logp,
            grad_entropy,
            temperature,
            ignore_index,
            need_d_hidden,
            need_d_weight,
        )
    return _torch_path.linear_token_logprobs_bwd(
        hidden,
        weight,
        labels,
        lse,
        entropy,
        grad_logp,
        grad_entropy,
        temperature,
        ignore_index,
        need_d_hidden,
        need_d_weight,
    )


@_linear_bwd.register_fake
def _(hidden, weight, labels, lse, entropy, grad_logp, grad_entropy, temperature, ignore_index, ndh, ndw):
    dh = torch.empty_like(hidden) if ndh else hidden.new_empty(0)
    dw = torch.empty_like(weight) if ndw else weight.new_empty(0)
    return dh, dw


def _lin_setup_context(ctx, inputs, output):
    hidden, weight, labels, temperature, ignore_index, need_entropy = inputs
    _, entropy, lse = output
    ctx.save_for_backward(hidden, weight, labels, lse, entropy)
    ctx.temperature = temperature
    ctx.ignore_index = ignore_index
    ctx.need_entropy = need_entropy


def _lin_backward(ctx, g_logp, g_ent, g_lse):
    hidden, weight, labels, lse, entropy = ctx.saved_tensors
    ndh, ndw = bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])
    if not (ndh or ndw):
        return None, None, None, None, None, None
    if g_logp is None:
        g_logp = torch.zeros_like(lse)
    ge = g_ent.contiguous() if (ctx.need_entropy and g_ent is not None) else None
    dh, dw = torch.ops.prime_fast.linear_token_logprobs_bwd(
        hidden,
        weight,
        labels,
        lse,
        entropy,
        g_logp.contiguous(),
        ge,
        ctx.temperature,
        ctx.ignore_index,
        ndh,
        ndw,
    )
    return (dh if ndh else None), (dw if ndw else None), None, None, None, None


_linear_fwd.register_autograd(_lin_backward, setup_context=_lin_setup_context)


@overload
def linear_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: Literal[False] = ...,
    ignore_index: int = ...,
) -> torch.Tensor: ...


@overload
def linear_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: Literal[True],
    ignore_index: int = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def linear_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = ...,
    return_entropy: bool = ...,
    ignore_index: int = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def linear_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 1.0,
    return_entropy: bool = False,
    ignore_index: int = -100,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs of ``labels`` under the LM head ``softmax(hidden @ weight.T / temperature)``.

    The ``N x V`` logits are never materialised: the GEMM, the scaling by ``1/temperature`` and
    the online log-sum-exp run fused (Triton on CUDA; row chunks on the CPU path). Differentiable in
    ``hidden`` and ``weight`` with per-token upstream gradients (``reduction="none"``); ``d_weight``
    is accumulated in float32.

    Args:
        hidden: ``(B, T, H)`` or ``(N, H)`` hidden states (float32/bfloat16/float16).
        weight: ``(V, H)`` LM-head weight, same dtype and device as ``hidden``.
        labels: ``(B, T)`` or ``(N,)`` token ids in ``[0, V)`` or ``ignore_index``.
        temperature: positive float dividing the logits.
        return_entropy: also return each position's entropy (differentiable).
        ignore_index: label of skipped positions (logp and entropy 0, zero gradient).

    Returns:
        ``logp`` (float32) of the labels' shape, or ``(logp, entropy)``.

    Raises:
        UnsupportedInputError: wrong type, dtype, shape, device, temperature or label range.
    """
    check_float("hidden", hidden, (2, 3))
    check_float("weight", weight, (2,))
    if weight.shape[1] != hidden.shape[-1]:
        raise UnsupportedInputError(
            f"weight must have shape (V, H) with H = hidden.shape[-1] = {hidden.shape[-1]}, "
            f"got {tuple(weight.shape)}"
        )
    if weight.shape[0] == 0 or hidden.shape[-1] == 0:
        raise UnsupportedInputError(f"weight must be a non-empty (V, H) matrix, got {tuple(weight.shape)}")
    if weight.dtype != hidden.dtype:
        raise UnsupportedInputError(
            f"hidden and weight must have the same dtype, got {hidden.dtype} and {weight.dtype}"
        )
    if weight.device != hidden.device:
        raise UnsupportedInputError(f"hidden is on {hidden.device} but weight is on {weight.device}")
    check_labels("labels", labels, hidden.shape[:-1], hidden.device)
    t = check_temperature(temperature)
    ii = _check_ignore_index(ignore_index)
    select_backend(hidden)
    h = hidden.reshape(-1, hidden.shape[-1]).contiguous()
    w = weight.contiguous()
    lab = labels.reshape(-1).contiguous()
    logp, ent, _ = torch.ops.prime_fast.linear_token_logprobs_fwd(h, w, lab, t, ii, bool(return_entropy))
    logp = logp.view(labels.shape)
    if return_entropy:
        return logp, ent.view(labels.shape)
    return logp
