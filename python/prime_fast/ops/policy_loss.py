"""``linear_policy_loss``: hidden states -> PPO-clip policy loss (+ entropy bonus, + KL penalty) with the
LM head fused and the gradients of ``hidden`` and ``weight`` made in the forward.

The loss is a sum of per-token terms times weights that depend on the mask only
(:func:`prime_fast.ops._policy_terms.aggregation_weights`), and each term's derivative in its token's
log-prob and entropy needs nothing but that token's values. So, chunk by chunk over tokens, the
forward computes the logits (GEMM 1), the log-softmax statistics, ``logp`` and the entropy, the
per-token gradient, the gradient of the logits in place, then ``d_hidden`` (GEMM 2) and adds to
``d_weight`` (GEMM 3). Nothing of size ``N x V`` is kept and no logit is recomputed: the backward
only scales the stored gradients by the incoming one. Loss and metrics are
:func:`prime_fast.algos.ppo_clip_loss` evaluated on the chunked ``logp``/entropy (the same code as
the unfused path), plus the KL term.

``d_weight`` is returned by autograd as the gradient of the ``weight`` input, so it lands in the
parameter's ``.grad`` (or in FSDP2's unsharded parameter, whose post-backward hook reduce-scatters it)
exactly like the gradient of an ``nn.Linear`` would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, overload

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops import _policy_terms as terms
from prime_fast.ops._common import (
    check_float,
    check_label_range,
    check_labels,
    check_temperature,
    select_backend,
)
from prime_fast.ops._torch_path import CHUNK_BYTES
from prime_fast.ops.ppo import aggregate as _aggregate
from prime_fast.ops.ppo import ppo_clip_loss

#: Row budget of one chunk on the Triton path: its float32 logits (the low-precision copy of the
#: logit gradient adds half of it for bfloat16/float16).
TRITON_CHUNK_BYTES = 512 * 1024 * 1024

GradFn = Callable[[slice, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def _torch_chunk(
    bufs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    labels: torch.Tensor,
    valid: torch.Tensor,
    grad_fn: GradFn,
    rows: slice,
    opts: terms.PolicyLossOptions,
    need_dz: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One chunk on the torch path: ``bufs[0]`` holds the scaled logits ``z``; returns ``(logp,
    entropy, dz)`` with ``dz`` (the gradient w.r.t. the unscaled logits) in ``bufs[0]``.

    ``dz = (g (onehot - p) - g_H p (log p + H)) / T``, made in the three chunk buffers by in-place
    passes (no allocation of the chunk's size: fresh pages cost as much as the arithmetic on a CPU).
    """
    z, logq, tmp = bufs
    torch.log_softmax(z, -1, out=logq)
    safe = torch.where(valid, labels, torch.zeros_like(labels)).long().unsqueeze(-1)
    zero = torch.zeros(logq.shape[0], dtype=logq.dtype, device=logq.device)
    logp = torch.where(valid, logq.gather(-1, safe).squeeze(-1), zero)
    p = torch.exp(logq, out=z)
    ent = zero
    if opts.compute_entropy:
        ent = torch.where(valid, -torch.mul(p, logq, out=tmp).sum(-1), zero)
    if not need_dz:
        return logp, ent, None
    g, g_ent = grad_fn(rows, logp, ent)
    inv_t = 1.0 / opts.temperature
    g = torch.where(valid, g, zero) * inv_t
    if g_ent is None:
        dz = p.mul_(-g.unsqueeze(-1))
    else:
        gh = torch.where(valid, g_ent, zero) * inv_t
        # -(g + gh (log p + H)) = log p * (-gh) - (g + gh H): two passes over logq, one over p.
        logq.mul_(-gh.unsqueeze(-1)).sub_((g + gh * ent).unsqueeze(-1))
        dz = p.mul_(logq)
    return logp, ent, dz.scatter_add_(-1, safe, g.unsqueeze(-1))


def _torch_path(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    grad_fn: GradFn,
    opts: terms.PolicyLossOptions,
    need_dh: bool,
    need_dw: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The chunked torch path: GEMMs in float32 (float64 for float64 inputs) on upcast operands,
    three chunk buffers of ``CHUNK_BYTES`` reused by every chunk."""
    n, v = hidden.shape[0], weight.shape[0]
    dt = torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32
    w = weight.to(dt)
    logp = torch.empty(n, dtype=dt, device=hidden.device)
    ent = torch.empty_like(logp)
    d_hidden = torch.empty_like(hidden) if need_dh else None
    dw_acc: torch.Tensor | None = None
    step = max(1, min(n, CHUNK_BYTES // (v * torch.finfo(dt).bits // 8)))
    full = [torch.empty((step, v), dtype=dt, device=hidden.device) for _ in range(3)]
    for s in range(0, n, step):
        e = min(n, s + step)
        bufs = (full[0][: e - s], full[1][: e - s], full[2][: e - s])
        h = hidden[s:e].to(dt)
        torch.mm(h, w.T, out=bufs[0])
        if opts.temperature != 1.0:
            bufs[0].div_(opts.temperature)
        lab = labels[s:e]
        valid = lab != opts.ignore_index
        lp, en, dz = _torch_chunk(bufs, lab, valid, grad_fn, slice(s, e), opts, need_dh or need_dw)
        logp[s:e], ent[s:e] = lp, en
        if dz is None:
            continue
        if d_hidden is not None:
            if d_hidden.dtype == dt:
                torch.mm(dz, w, out=d_hidden[s:e])
            else:
                d_hidden[s:e] = dz @ w
        if need_dw:
            dw_acc = dz.T @ h if dw_acc is None else dw_acc.addmm_(dz.T, h)
    if need_dw and dw_acc is None:  # no rows
        dw_acc = torch.zeros(weight.shape, dtype=dt, device=weight.device)
    d_weight = None if dw_acc is None else dw_acc.to(weight.dtype)
    return logp, ent, d_hidden, d_weight


def _triton_path(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    grad_fn: GradFn,
    opts: terms.PolicyLossOptions,
    need_dh: bool,
    need_dw: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The GPU path: cuBLAS GEMMs with float32 logits, Triton row kernels for statistics and ``dz``."""
    from prime_fast.kernels import policy_loss as kern

    n, v = hidden.shape[0], weight.shape[0]
    logp = torch.empty(n, dtype=torch.float32, device=hidden.device)
    ent = torch.empty_like(logp)
    d_hidden = torch.empty_like(hidden) if need_dh else None
    dw_acc = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_dw else None
    step = kern.rows_per_chunk(v, TRITON_CHUNK_BYTES)
    for s in range(0, n, step):
        e = min(n, s + step)
        h = hidden[s:e]
        z = kern.logits_fp32(h, weight)
        lab = labels[s:e]
        lp, en, lse = kern.chunk_stats(z, lab, opts.temperature, opts.ignore_index, opts.compute_entropy)
        logp[s:e], ent[s:e] = lp, en
        if not (need_dh or need_dw):
            continue
        g, g_ent = grad_fn(slice(s, e), lp, en)
        dz = kern.chunk_logit_grads(
            z, lab, lse, en, g, g_ent, opts.temperature, opts.ignore_index, hidden.dtype
        )
        del z
        if d_hidden is not None:
            torch.mm(dz, weight, out=d_hidden[s:e])
        if dw_acc is not None:
            kern.accumulate_weight_grad(dw_acc, dz, h)
    d_weight = None if dw_acc is None else dw_acc.to(weight.dtype)
    return logp, ent, d_hidden, d_weight


def metric_names(opts: terms.PolicyLossOptions) -> list[str]:
    """The metric keys, in the order the unfused loss returns them (``kl`` last, with a reference)."""
    names = ["entropy"] if opts.compute_entropy else []
    names += ["pg_loss", "pg_clipfrac", "pg_clipfrac_lower", "ppo_kl", "approx_kl"]
    return names + (["kl"] if opts.has_ref else [])


def loss_and_metrics(
    logp: torch.Tensor,
    entropy: torch.Tensor | None,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None,
    opts: terms.PolicyLossOptions,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss and metrics from ``(B, T)`` log-probs: :func:`ppo_clip_loss` plus ``kl_coef * KL``.

    Differentiable in ``logp`` and ``entropy`` (the reference uses it with autograd; the fused op
    calls it on detached values for the loss value and metrics only).
    """

    loss, metrics = ppo_clip_loss(
        logp,
        old_logp,
        advantages,
        mask,
        clip_ratio=opts.clip_low,
        clip_ratio_low=opts.clip_low,
        clip_ratio_high=opts.clip_high,
        dual_clip=opts.dual_clip,
        aggregation=opts.aggregation,
        entropy=entropy if opts.compute_entropy else None,
        entropy_coef=opts.entropy_coef,
    )
    if ref_logp is not None:
        kl = _aggregate(
            terms.kl_value(
                logp,
                ref_logp.to(logp.dtype),
                opts.kl_type,
                old_logp.to(logp.dtype) if opts.kl_ratio_weighted else None,
            ),
            mask.bool(),
            opts.aggregation,
        )
        if opts.kl_coef != 0.0:
            loss = loss + opts.kl_coef * kl
        metrics["kl"] = kl.detach()
    return loss, metrics


class _LinearPolicyLoss(torch.autograd.Function):
    """Forward: loss, metrics and the stored input gradients; backward: those gradients scaled."""

    @staticmethod
    def forward(ctx: Any, hidden, weight, labels, old_logp, advantages, mask, ref_logp, opts):  # type: ignore[override]
        b, t = labels.shape
        need_dh, need_dw = bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])
        dt = torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32
        old = None if old_logp is None else old_logp.to(dt)
        adv = advantages.to(dt)
        ref = None if ref_logp is None else ref_logp.to(dt)
        m = mask.bool()
        weights = terms.aggregation_weights(m, opts.aggregation, dt).reshape(-1)
        old_f, adv_f = (None if old is None else old.reshape(-1)), adv.reshape(-1)
        ref_f = None if ref is None else ref.reshape(-1)

        def grad_fn(rows: slice, lp: torch.Tensor, _ent: torch.Tensor):
            r = None if ref_f is None else ref_f[rows].to(lp.dtype)
            o = lp if old_f is None else old_f[rows].to(lp.dtype)  # on-policy: ratio 1
            return terms.token_grads(lp, o, adv_f[rows].to(lp.dtype), weights[rows].to(lp.dtype), r, opts)

        h2 = hidden.reshape(-1, hidden.shape[-1]).contiguous()
        path = _triton_path if select_backend(hidden) == "triton" else _torch_path
        lab = labels.reshape(-1).contiguous()
        logp, ent, dh, dw = path(h2, weight.contiguous(), lab, grad_fn, opts, need_dh, need_dw)
        logp, ent = logp.to(dt).view(b, t), ent.to(dt).view(b, t)
        loss, metrics = loss_and_metrics(logp, ent, logp if old is None else old, adv, m, ref, opts)
        ctx.d_hidden = None if dh is None else dh.view(hidden.shape)
        ctx.d_weight = dw
        values = torch.stack([metrics[k].to(loss.dtype) for k in metric_names(opts)])
        ctx.mark_non_differentiable(values, logp, ent)
        return loss, values, logp, ent

    @staticmethod
    def backward(ctx: Any, g_loss: torch.Tensor, *_g_outputs: torch.Tensor):  # type: ignore[override]
        dh, dw = ctx.d_hidden, ctx.d_weight
        ctx.d_hidden = ctx.d_weight = None  # a second backward has nothing left to give
        # A Python float keeps the scale exact for low-precision gradients (the kernels multiply in
        # float32); the stored gradients are ours, so they are scaled in place.
        g = float(g_loss)
        if g != 1.0:
            for grad in (dh, dw):
                if grad is not None:
                    grad.mul_(g)
        return dh, dw, None, None, None, None, None, None


def _check_inputs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    ref_logp: torch.Tensor | None,
) -> None:
    check_float("hidden", hidden, (3,))
    check_float("weight", weight, (2,))
    if weight.shape[1] != hidden.shape[-1] or weight.shape[0] == 0 or hidden.shape[-1] == 0:
        raise UnsupportedInputError(
            f"weight must be a non-empty (V, H) matrix with H = hidden.shape[-1] = {hidden.shape[-1]}, "
            f"got {tuple(weight.shape)}"
        )
    if weight.dtype != hidden.dtype or weight.device != hidden.device:
        raise UnsupportedInputError(
            f"hidden and weight must share dtype and device, got {hidden.dtype} on {hidden.device} "
            f"and {weight.dtype} on {weight.device}"
        )
    bt = hidden.shape[:-1]
    check_labels("labels", labels, bt, hidden.device)
    named = [("old_logp", old_logp), ("advantages", advantages), ("mask", mask), ("ref_logp", ref_logp)]
    for name, x in named:
        if x is None:
            continue
        if not isinstance(x, torch.Tensor):
            raise UnsupportedInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.shape != bt or x.device != hidden.device:
            raise UnsupportedInputError(
                f"{name} must have shape {tuple(bt)} (hidden's leading dimensions) on {hidden.device}, "
                f"got {tuple(x.shape)} on {x.device}"
            )
        if name != "mask" and not x.dtype.is_floating_point:
            raise UnsupportedInputError(f"{name} must be a floating tensor, got {x.dtype}")


@overload
def linear_policy_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_ratio: float = ...,
    clip_ratio_low: float | None = ...,
    clip_ratio_high: float | None = ...,
    dual_clip: float | None = ...,
    aggregation: str = ...,
    entropy_coef: float = ...,
    temperature: float = ...,
    ref_logp: torch.Tensor | None = ...,
    kl_coef: float = ...,
    kl_type: str = ...,
    kl_ratio_weighted: bool = ...,
    compute_entropy: bool = ...,
    ignore_index: int = ...,
    return_token_values: Literal[False] = ...,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


@overload
def linear_policy_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_ratio: float = ...,
    clip_ratio_low: float | None = ...,
    clip_ratio_high: float | None = ...,
    dual_clip: float | None = ...,
    aggregation: str = ...,
    entropy_coef: float = ...,
    temperature: float = ...,
    ref_logp: torch.Tensor | None = ...,
    kl_coef: float = ...,
    kl_type: str = ...,
    kl_ratio_weighted: bool = ...,
    compute_entropy: bool = ...,
    ignore_index: int = ...,
    return_token_values: Literal[True],
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]: ...


def linear_policy_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_ratio: float = 0.2,
    clip_ratio_low: float | None = None,
    clip_ratio_high: float | None = None,
    dual_clip: float | None = None,
    aggregation: str = "token-mean",
    entropy_coef: float = 0.0,
    temperature: float = 1.0,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    kl_type: str = "k3",
    kl_ratio_weighted: bool = False,
    compute_entropy: bool = True,
    ignore_index: int = -100,
    return_token_values: bool = False,
) -> (
    tuple[torch.Tensor, dict[str, torch.Tensor]]
    | tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor]
):
    """PPO-clip policy loss straight from hidden states, LM head fused, gradients made in the forward.

    Equal to ``algos.ppo_clip_loss(logp, old_logp, advantages, mask, ..., entropy=entropy,
    entropy_coef=entropy_coef)`` with ``logp, entropy = ops.linear_token_logprobs(hidden, weight,
    labels, temperature=temperature, return_entropy=True)``, plus ``kl_coef * aggregate(KL(logp,
    ref_logp))`` when ``ref_logp`` is given; never holds ``N x V`` logits and runs three GEMMs
    (the unfused pair runs four: its backward recomputes the logits).

    Args:
        hidden: ``(B, T, H)`` final hidden states (float32/bfloat16/float16; float64 on the torch path).
        weight: ``(V, H)`` LM-head weight, same dtype and device.
        labels: ``(B, T)`` token ids in ``[0, V)`` or ``ignore_index`` (logp 0, no gradient).
        old_logp, advantages: ``(B, T)`` per-token old log-probs and advantages (detached).
            ``old_logp=None`` is the on-policy case ``old_logp = logp.detach()`` (ratio 1 on every token:
            the plain policy gradient, as TRL's GRPO with one iteration per generation).
        mask: ``(B, T)`` valid tokens (bool or 0/1).
        clip_ratio, clip_ratio_low, clip_ratio_high, dual_clip, aggregation, entropy_coef:
            as :func:`prime_fast.algos.ppo_clip_loss`.
        temperature: divides the logits (the rollout's temperature).
        ref_logp: ``(B, T)`` reference log-probs for the KL penalty (its value is reported as
            ``metrics["kl"]`` whenever given).
        kl_coef: weight of the KL penalty (needs ``ref_logp``).
        kl_type: ``k1``, ``k2`` or ``k3`` (see :data:`prime_fast.ops._policy_terms.KL_TYPES`).
        kl_ratio_weighted: multiply each token's KL by its importance ratio ``exp(logp - old_logp)``
            (DeepSeek-V3.2's unbiased KL gradient; TRL's ``use_bias_correction_kl``); the ratio stays
            differentiable, so it changes the gradient even on-policy, where its value is 1.
        compute_entropy: compute the entropy (its metric and bonus); False skips one pass per chunk.
        ignore_index: label of skipped positions.
        return_token_values: also return the detached ``(B, T)`` log-probs and entropies the loss was
            made of (0 at ``ignore_index`` labels; the entropies mean something only with
            ``compute_entropy``), at no cost: the forward has them anyway (for callers' own metrics).

    Returns:
        ``(loss, metrics)``: the scalar loss (float32; float64 for float64 inputs) and the detached
        metrics of ``ppo_clip_loss`` (``entropy`` first if computed), plus ``kl`` with ``ref_logp``;
        ``(loss, metrics, logp, entropy)`` with ``return_token_values``.

    Raises:
        UnsupportedInputError: a wrong type, shape, dtype, device, label or keyword.
        ConfigError: an invalid ``PRIME_FAST_KERNELS`` value.
    """
    _check_inputs(hidden, weight, labels, old_logp, advantages, mask, ref_logp)
    opts = terms.check_options(
        clip_ratio=clip_ratio,
        clip_ratio_low=clip_ratio_low,
        clip_ratio_high=clip_ratio_high,
        dual_clip=dual_clip,
        aggregation=aggregation,
        entropy_coef=entropy_coef,
        kl_coef=kl_coef,
        kl_type=kl_type,
        kl_ratio_weighted=kl_ratio_weighted,
        temperature=check_temperature(temperature),
        ignore_index=ignore_index,
        compute_entropy=compute_entropy,
        has_ref=ref_logp is not None,
    )
    select_backend(hidden)  # validates PRIME_FAST_KERNELS and the dtype before any work
    check_label_range(labels, weight.shape[0], opts.ignore_index)
    loss, values, logp, entropy = _LinearPolicyLoss.apply(
        hidden,
        weight,
        labels,
        None if old_logp is None else old_logp.detach(),
        advantages.detach(),
        mask,
        None if ref_logp is None else ref_logp.detach(),
        opts,
    )
    metrics = dict(zip(metric_names(opts), values.unbind(0), strict=True))
    if return_token_values:
        return loss, metrics, logp, entropy
    return loss, metrics
