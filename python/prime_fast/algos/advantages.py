"""Advantage estimators: PRIME's RLOO (code and paper forms), RLOO, GRPO, REINFORCE, GAE.

Conventions (docs/ALGORITHM.md section 7):

- ``outcome_rewards``: ``(B,)`` verifier scores (``acc``), placed at each row's last valid token.
- ``process_rewards``: ``(B, T)`` implicit process rewards (raw ``q`` or ``beta * q``), used where
  ``mask`` is set.
- ``mask``: ``(B, T)`` valid response tokens; rows come in contiguous groups of ``n_samples``.
- Every estimator returns ``(advantages, returns)``, float32 ``(B, T)``, zero outside ``mask``,
  computed without autograd. Discounted sums are one reverse scan (:func:`discounted_returns`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from prime_fast.algos._utils import as_float, as_mask, check_groups, last_token_mask, masked_mean
from prime_fast.algos.core import discounted_returns, masked_whiten, normalize_process_rewards
from prime_fast.algos.estimator import Discounts
from prime_fast.errors import UnsupportedInputError

SumReduce = Callable[[torch.Tensor], torch.Tensor]
"""Sums a tensor over every data-parallel rank (the whitening statistics of the whole batch)."""

PRIME_FORMS = ("code", "paper")


def _outcome(outcome_rewards: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    acc = as_float("outcome_rewards", outcome_rewards, 1)
    if acc.shape[0] != mask.shape[0]:
        raise UnsupportedInputError(
            f"outcome_rewards must have one value per row ({mask.shape[0]}), got {acc.shape[0]}"
        )
    return acc, last_token_mask(mask)


def _process(process_rewards: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor | None:
    if process_rewards is None:
        return None
    r = as_float("process_rewards", process_rewards, 2)
    if r.shape != mask.shape:
        raise UnsupportedInputError(
            f"process_rewards must have the mask's shape {tuple(mask.shape)}, got {tuple(r.shape)}"
        )
    return r


def _check_mask(mask: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        raise UnsupportedInputError("mask must be a (B, T) tensor")
    return mask.bool()


def _rloo_transform(r: torch.Tensor, src_mask: torch.Tensor, k: int, form: str) -> torch.Tensor:
    """Leave-one-out on one reward source (zero outside ``src_mask``).

    ``code`` (PRIME ``compute_rloo_returns``): ``r' = (K r - sum_j mu_j) / (K - 1)``;
    ``paper`` (Eq. 5): ``r' = r - (sum_j mu_j - mu_i) / (K - 1)``; ``mu_j`` = row j's masked mean.
    With ``K = 1`` there is no baseline and ``r`` is returned masked.
    """
    r = torch.where(src_mask, r, torch.zeros_like(r))
    if k == 1:
        return r
    b = r.shape[0]
    mu = masked_mean(r, src_mask, dim=-1)  # (B,)
    group_sum = mu.view(b // k, k).sum(-1, keepdim=True).expand(b // k, k).reshape(b, 1)
    if form == "code":
        out = (k * r - group_sum) / (k - 1)
    else:
        out = r - (group_sum - mu.unsqueeze(-1)) / (k - 1)
    return torch.where(src_mask, out, torch.zeros_like(out))


def _finish(
    returns: torch.Tensor, mask: torch.Tensor, whiten: bool, all_reduce: SumReduce | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    adv = masked_whiten(returns, mask, all_reduce=all_reduce) if whiten else returns
    zero = torch.zeros_like(adv)
    return torch.where(mask, adv, zero), torch.where(mask, returns, zero)


@torch.no_grad()
def prime_advantages(
    outcome_rewards: torch.Tensor | None,
    mask: torch.Tensor,
    n_samples: int,
    *,
    process_rewards: torch.Tensor | None = None,
    gamma_process: float = 1.0,
    gamma_outcome: float = 1.0,
    form: str = "code",
    process_norm: str = "none",
    whiten: bool = True,
    discounts: Discounts | None = None,
    all_reduce: SumReduce | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PRIME's RLOO advantage on outcome and process rewards (docs/ALGORITHM.md 7.1).

    Per source (process: every valid token, discount ``gamma_process``; outcome: the last valid
    token, discount ``gamma_outcome``): zero outside the source mask, leave-one-out within each
    contiguous group of ``n_samples`` (``form="code"`` exactly as the authors' ``compute_rloo_returns``,
    ``form="paper"`` the paper's Eq. 5), discounted return over the whole padded row; the sources
    are summed (1:1) and whitened over all valid tokens of the batch.

    Args:
        outcome_rewards: ``(B,)`` verifier scores, or None for process rewards only.
        mask: ``(B, T)`` valid response tokens.
        n_samples: K, responses per prompt (contiguous rows); K = 1 disables the baseline.
        process_rewards: ``(B, T)`` implicit process rewards, or None (plain RLOO).
        process_norm: ``"none"`` or ``"batch_norm"`` (:func:`normalize_process_rewards`) applied to
            the process rewards first.
        whiten: apply :func:`masked_whiten` (PRIME always does).
        discounts: when given, replaces ``gamma_process`` and ``gamma_outcome`` (the
            :class:`~prime_fast.algos.estimator.AdvantageEstimator` call form).
        all_reduce: sums a tensor over the data-parallel ranks, so that whitening uses every rank's
            valid tokens (each estimator takes it).

    Returns:
        ``(advantages, returns)``, float32 ``(B, T)``, zero outside ``mask``.
    """
    if discounts is not None:
        gamma_process, gamma_outcome = discounts.process, discounts.outcome
    if form not in PRIME_FORMS:
        raise UnsupportedInputError(f"form must be one of {', '.join(PRIME_FORMS)}, got {form!r}")
    m = _check_mask(mask)
    k = check_groups(m.shape[0], n_samples)
    if outcome_rewards is None and process_rewards is None:
        raise UnsupportedInputError("prime_advantages needs outcome_rewards, process_rewards or both")
    returns = torch.zeros(m.shape, dtype=torch.float32, device=m.device)
    proc = _process(process_rewards, m)
    if proc is not None:
        returns = returns.to(proc.dtype)
        if process_norm != "none":
            proc = normalize_process_rewards(proc, m, process_norm)
        returns = returns + discounted_returns(_rloo_transform(proc, m, k, form), gamma_process)
    if outcome_rewards is not None:
        acc, last = _outcome(outcome_rewards, m)
        placed = torch.where(last, acc.unsqueeze(-1).to(returns.dtype), torch.zeros_like(returns))
        returns = returns + discounted_returns(_rloo_transform(placed, last, k, form), gamma_outcome)
    return _finish(returns, m, whiten, all_reduce)


@torch.no_grad()
def rloo_advantages(
    outcome_rewards: torch.Tensor,
    mask: torch.Tensor,
    n_samples: int,
    *,
    process_rewards: torch.Tensor | None = None,
    gamma: float = 1.0,
    whiten: bool = False,
    discounts: Discounts | None = None,
    all_reduce: SumReduce | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RLOO (paper Eq. 5; Table 4 "RLOO"): ``A_t = sum_{s>=t} gamma^{s-t} (r_s - LOO mean of the
    other rows' mean process reward) + r_o - mean_{j != i} r_o(j)``.

    Without ``process_rewards`` it is the classic outcome RLOO broadcast to every valid token.
    ``discounts.process`` (when given) replaces ``gamma``; the outcome term is not discounted.
    """
    gamma = discounts.process if discounts is not None else gamma
    m = _check_mask(mask)
    k = check_groups(m.shape[0], n_samples)
    acc, _ = _outcome(outcome_rewards, m)
    b = m.shape[0]
    if k > 1:
        gs = acc.view(b // k, k).sum(-1, keepdim=True).expand(b // k, k).reshape(b)
        out_adv = acc - (gs - acc) / (k - 1)
    else:
        out_adv = acc
    returns = torch.where(m, out_adv.unsqueeze(-1), torch.zeros(m.shape, dtype=acc.dtype, device=m.device))
    proc = _process(process_rewards, m)
    if proc is not None:
        returns = returns + discounted_returns(_rloo_transform(proc, m, k, "paper"), gamma)
    return _finish(returns, m, whiten, all_reduce)


@torch.no_grad()
def grpo_advantages(
    outcome_rewards: torch.Tensor,
    mask: torch.Tensor,
    n_samples: int,
    *,
    process_rewards: torch.Tensor | None = None,
    gamma: float = 1.0,
    eps: float = 1e-6,
    whiten: bool = False,
    discounts: Discounts | None = None,
    all_reduce: SumReduce | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO (paper Eq. 7): group-normalised outcome plus discounted group-normalised process rewards.

    ``(r_o(i) - mean_j r_o(j)) / (std_j r_o(j) + eps)`` broadcast to valid tokens, plus
    ``sum_{s>=t} gamma^{s-t} (r_s - mean_j c_j) / (std_j c_j + eps)`` with ``c_j`` row j's mean
    process reward. ``std`` is unbiased (``torch.std``); a group of one gets mean 0, std 1 (verl).
    ``discounts.process`` (when given) replaces ``gamma``.
    """
    gamma = discounts.process if discounts is not None else gamma
    m = _check_mask(mask)
    k = check_groups(m.shape[0], n_samples)
    acc, _ = _outcome(outcome_rewards, m)
    b = m.shape[0]

    def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if k == 1:
            return torch.zeros_like(x), torch.ones_like(x)
        g = x.view(b // k, k)
        mean = g.mean(-1, keepdim=True).expand(b // k, k).reshape(b)
        std = g.std(-1, keepdim=True).expand(b // k, k).reshape(b)
        return mean, std

    mean, std = _stats(acc)
    out_adv = (acc - mean) / (std + eps)
    returns = torch.where(m, out_adv.unsqueeze(-1), torch.zeros(m.shape, dtype=acc.dtype, device=m.device))
    proc = _process(process_rewards, m)
    if proc is not None:
        c = masked_mean(proc, m, dim=-1)
        cm, cs = _stats(c)
        norm = (proc - cm.unsqueeze(-1)) / (cs.unsqueeze(-1) + eps)
        returns = returns + discounted_returns(torch.where(m, norm, torch.zeros_like(norm)), gamma)
    return _finish(returns, m, whiten, all_reduce)


@torch.no_grad()
def reinforce_advantages(
    outcome_rewards: torch.Tensor,
    mask: torch.Tensor,
    n_samples: int = 1,
    *,
    process_rewards: torch.Tensor | None = None,
    gamma: float = 1.0,
    whiten: bool = False,
    discounts: Discounts | None = None,
    all_reduce: SumReduce | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """REINFORCE (paper Eq. 8): ``A_t = r_o + sum_{s>=t} gamma^{s-t} r_s``, no baseline.

    ``n_samples`` is accepted for a uniform estimator signature and only checked;
    ``discounts.process`` (when given) replaces ``gamma``.
    """
    gamma = discounts.process if discounts is not None else gamma
    m = _check_mask(mask)
    check_groups(m.shape[0], n_samples)
    acc, _ = _outcome(outcome_rewards, m)
    returns = torch.where(m, acc.unsqueeze(-1), torch.zeros(m.shape, dtype=acc.dtype, device=m.device))
    proc = _process(process_rewards, m)
    if proc is not None:
        returns = returns + discounted_returns(torch.where(m, proc, torch.zeros_like(proc)), gamma)
    return _finish(returns, m, whiten, all_reduce)


@torch.no_grad()
def gae_advantages(
    token_rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    *,
    gamma: float = 1.0,
    lam: float = 1.0,
    whiten: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE with verl's skip masking (``compute_gae_advantage_return``), as two reverse scans.

    At masked positions the next value and the running advantage pass through unchanged
    (multi-turn observation tokens). ``returns = advantages + values`` (before whitening);
    ``advantages`` are whitened over valid tokens when ``whiten``. Both zero outside ``mask``.
    """
    r = as_float("token_rewards", token_rewards, 2)
    v = as_float("values", values, 2)
    if v.shape != r.shape:
        raise UnsupportedInputError(
            f"values must have token_rewards' shape {tuple(r.shape)}, got {tuple(v.shape)}"
        )
    m = as_mask(mask, r.shape, r.device)
    mf = m.to(r.dtype)
    # nextvalue_t = last valid value strictly after t: nv_t = m_{t+1} V_{t+1} + (1 - m_{t+1}) nv_{t+1}.
    b_nv = torch.zeros_like(r)
    a_nv = torch.zeros_like(r)
    b_nv[:, :-1] = mf[:, 1:] * v[:, 1:]
    a_nv[:, :-1] = 1.0 - mf[:, 1:]
    nextv = discounted_returns_affine(b_nv, a_nv)
    delta = r + gamma * nextv - v
    # A_t = m_t delta_t + (m_t gamma lam + 1 - m_t) A_{t+1}.
    adv = discounted_returns_affine(mf * delta, mf * (gamma * lam) + (1.0 - mf))
    returns = adv + v
    if whiten:
        adv = masked_whiten(adv, m)
    zero = torch.zeros_like(adv)
    return torch.where(m, adv, zero), torch.where(m, returns, zero)


def discounted_returns_affine(b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``x_t = b_t + a_t x_{t+1}`` per row (the general scan behind GAE)."""
    from prime_fast.ops import reverse_affine_scan

    return reverse_affine_scan(b, 1.0, a)
