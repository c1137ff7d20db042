"""Plain-torch reference implementations: the semantics every kernel and fast path must match.

Everything here materialises full tensors (``N x V`` logits) and uses autograd for gradients, so it
is for tests, benchmarks' correctness checks and documentation, not production. All functions work
in float64 when given float64 inputs; low-precision inputs are upcast to float32 *before* anything
else (the logits upcast trap of docs/KERNELS.md section 5).

Conventions shared with the fast ops:

- ``logp[n] = z[n, y_n] - logsumexp(z[n])`` with ``z = logits / temperature`` (TRL's
  ``selective_log_softmax``), returned in float32 (float64 for float64 inputs).
- ``entropy[n] = -sum_v q_v log q_v`` with ``log q = log_softmax(z[n])`` (equal to
  ``logsumexp(z) - E_q[z]``, computed without that form's cancellation for large logits).
- Positions whose label equals ``ignore_index`` get ``logp = 0`` and ``entropy = 0`` and no gradient.
"""

from __future__ import annotations

from typing import Literal, overload

import torch


def _stat_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


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
    """Log-probability of ``labels`` under ``softmax(logits / temperature)`` (and the entropy).

    Args:
        logits: ``(..., V)`` scores.
        labels: ``(...)`` token ids; ``ignore_index`` marks positions to skip.
        temperature: divides the logits.
        return_entropy: also return the entropy of each position's distribution.
        ignore_index: label value of skipped positions (logp and entropy 0 there).
    """
    z = logits.to(_stat_dtype(logits)) / temperature
    valid = labels != ignore_index
    safe = torch.where(valid, labels, torch.zeros_like(labels)).long()
    lse = torch.logsumexp(z, dim=-1)
    logp = z.gather(-1, safe.unsqueeze(-1)).squeeze(-1) - lse
    logp = torch.where(valid, logp, torch.zeros_like(logp))
    if not return_entropy:
        return logp
    logq = torch.log_softmax(z, dim=-1)
    ent = -(torch.exp(logq) * logq).sum(-1)
    ent = torch.where(valid, ent, torch.zeros_like(ent))
    return logp, ent


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
    """:func:`token_logprobs` of ``hidden @ weight.T`` (the LM head), GEMM in float32/float64.

    Args:
        hidden: ``(..., H)`` final hidden states.
        weight: ``(V, H)`` LM-head weight.
        labels: ``(...)`` token ids.
    """
    dt = torch.float64 if torch.float64 in (hidden.dtype, weight.dtype) else torch.float32
    logits = hidden.to(dt) @ weight.to(dt).T
    return token_logprobs(
        logits, labels, temperature=temperature, return_entropy=return_entropy, ignore_index=ignore_index
    )


def implicit_process_rewards(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float = 1.0,
    granularity: str = "token",
) -> torch.Tensor:
    """PRIME's implicit process reward ``beta * (logp - ref_logp)`` on valid tokens (docs/ALGORITHM.md 6.1-6.2).

    ``granularity="token"``: the score of every valid token; ``"whole"``: the row sum, placed at the
    last valid token. Zero elsewhere. The gradient flows through ``logp`` only.
    """
    dt = _stat_dtype(logp)
    m = mask.to(dt)
    q = beta * (logp.to(dt) - ref_logp.detach().to(dt)) * m
    if granularity == "token":
        return q
    total = q.sum(-1, keepdim=True)
    pos = torch.arange(mask.shape[-1], device=mask.device)
    last = torch.where(mask.bool(), pos, torch.full_like(pos, -1)).amax(-1, keepdim=True)
    return torch.where(pos == last, total, torch.zeros_like(q))


def discounted_returns(
    rewards: torch.Tensor, gamma: float, mask: torch.Tensor | None = None, *, reset: bool = False
) -> torch.Tensor:
    """``G_t = r_t + gamma * G_{t+1}`` per row, a Python loop over T (the reference for the scan).

    With ``reset=True`` the running return is zeroed at masked positions after adding
    (verl's REINFORCE++ masking: ``G_t = r_t + gamma * m_{t+1} * G_{t+1}``).
    """
    dt = _stat_dtype(rewards)
    r = rewards.to(dt)
    out = torch.zeros_like(r)
    running = torch.zeros_like(r[..., 0])
    for t in reversed(range(r.shape[-1])):
        running = r[..., t] + gamma * running
        out[..., t] = running
        if reset and mask is not None:
            running = running * mask[..., t].to(dt)
    return out


def linear_policy_loss(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    old_logp: torch.Tensor,
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
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`prime_fast.ops.linear_policy_loss`'s semantics by plain autograd on full logits:
    ``algos.ppo_clip_loss`` of :func:`linear_token_logprobs` (with its entropy when
    ``compute_entropy``), plus ``kl_coef * aggregate(kl(logp, ref_logp))`` (``metrics["kl"]``)."""
    from prime_fast.ops._policy_terms import kl_value
    from prime_fast.ops.ppo import aggregate as _aggregate
    from prime_fast.ops.ppo import ppo_clip_loss

    logp, ent = linear_token_logprobs(
        hidden, weight, labels, temperature=temperature, return_entropy=True, ignore_index=ignore_index
    )
    loss, metrics = ppo_clip_loss(
        logp,
        old_logp,
        advantages,
        mask,
        clip_ratio=clip_ratio,
        clip_ratio_low=clip_ratio_low,
        clip_ratio_high=clip_ratio_high,
        dual_clip=dual_clip,
        aggregation=aggregation,
        entropy=ent if compute_entropy else None,
        entropy_coef=entropy_coef,
    )
    if ref_logp is not None:
        old = old_logp.detach().to(logp.dtype) if kl_ratio_weighted else None
        kl = _aggregate(kl_value(logp, ref_logp.to(logp.dtype), kl_type, old), mask.bool(), aggregation)
        loss = loss + kl_coef * kl
        metrics["kl"] = kl.detach()
    return loss, metrics
