"""PRIME's implicit process rewards: ``q = beta * (log pi_prm - log pi_ref)`` on valid tokens."""

from __future__ import annotations

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops._common import check_float
from prime_fast.ops.logprobs import linear_token_logprobs

GRANULARITIES = ("token", "whole")


def _check_mask(mask: object, shape: torch.Size, device: torch.device) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise UnsupportedInputError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != shape:
        raise UnsupportedInputError(f"mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    if mask.device != device:
        raise UnsupportedInputError(f"mask is on {mask.device} but logp is on {device}")
    if mask.dtype.is_complex:
        raise UnsupportedInputError(f"mask must be bool, integer or float, got {mask.dtype}")
    return mask


def implicit_process_rewards(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float = 1.0,
    granularity: str = "token",
) -> torch.Tensor:
    """Implicit process reward per token (docs/ALGORITHM.md 6.1-6.2), float32.

    ``q[i, t] = beta * (logp[i, t] - ref_logp[i, t])`` where ``mask`` is set, 0 elsewhere. PRIME's
    code stores raw ``q`` (``beta=1``) in the scores; the paper's ``r_t`` uses ``beta = beta_train``.

    Args:
        logp: ``(B, T)`` or ``(N,)`` log-probs of the PRM (gradient flows through these).
        ref_logp: same shape, log-probs of the PRM reference (treated as a constant).
        mask: same shape, 1/True on valid response tokens.
        beta: scale of the reward.
        granularity: ``"token"`` (every valid token) or ``"whole"`` (the row sum at the last valid
            token, zeros elsewhere; needs 2-D inputs).
    """
    check_float("logp", logp, (1, 2))
    check_float("ref_logp", ref_logp, (1, 2))
    if ref_logp.shape != logp.shape:
        raise UnsupportedInputError(
            f"ref_logp must have the shape of logp {tuple(logp.shape)}, got {tuple(ref_logp.shape)}"
        )
    if ref_logp.device != logp.device:
        raise UnsupportedInputError(f"ref_logp is on {ref_logp.device} but logp is on {logp.device}")
    _check_mask(mask, logp.shape, logp.device)
    if granularity not in GRANULARITIES:
        raise UnsupportedInputError(
            f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
        )
    if granularity == "whole" and logp.dim() != 2:
        raise UnsupportedInputError("granularity='whole' needs (B, T) inputs")
    dt = torch.float64 if logp.dtype == torch.float64 else torch.float32
    m = mask.to(dt)
    q = float(beta) * (logp.to(dt) - ref_logp.detach().to(dt)) * m
    if granularity == "token":
        return q
    total = q.sum(-1, keepdim=True)
    pos = torch.arange(mask.shape[-1], device=mask.device)
    last = torch.where(mask.bool(), pos, torch.full_like(pos, -1)).amax(-1, keepdim=True)
    return torch.where(pos == last, total, torch.zeros_like(q))


def prm_implicit_rewards(
    prm_hidden: torch.Tensor,
    prm_weight: torch.Tensor,
    ref_hidden: torch.Tensor,
    ref_weight: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float = 1.0,
    granularity: str = "token",
    temperature: float = 1.0,
) -> torch.Tensor:
    """The fused PRM path: ``q`` straight from the final hidden states of the PRM and its reference.

    Both LM heads run through :func:`linear_token_logprobs` (no ``N x V`` logits); the reference
    side runs without autograd. Differentiable in ``prm_hidden`` and ``prm_weight``.

    Args:
        prm_hidden: ``(B, T, H)`` PRM hidden states at the positions predicting ``labels``.
        prm_weight: ``(V, H)`` PRM LM-head weight.
        ref_hidden: ``(B, T, H_ref)`` reference hidden states; ``ref_weight``: ``(V, H_ref)``.
        labels: ``(B, T)`` response token ids; masked positions may hold any id in range or -100.
        mask: ``(B, T)`` valid response tokens.
    """
    check_float("prm_hidden", prm_hidden, (2, 3))
    _check_mask(mask, prm_hidden.shape[:-1], prm_hidden.device)
    ignore = -100
    lab = torch.where(mask.bool(), labels, torch.full_like(labels, ignore))
    logp = linear_token_logprobs(prm_hidden, prm_weight, lab, temperature=temperature, ignore_index=ignore)
    with torch.no_grad():
        ref = linear_token_logprobs(ref_hidden, ref_weight, lab, temperature=temperature, ignore_index=ignore)
    return implicit_process_rewards(logp, ref, mask, beta=beta, granularity=granularity)
