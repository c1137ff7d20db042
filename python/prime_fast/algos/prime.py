"""PRIME's whole reward path after the log-probs, as one function of tensors (docs/ALGORITHM.md 6-7).

From the implicit PRM's per-token scores (or the PRM's and the reference's log-probs) and the verifier's
outcome rewards to the advantages the policy loss takes:

1. ``q_t = log pi_prm(y_t) - log pi_ref(y_t)`` on response tokens (``granularity="whole"``: the row's sum
   on its last token), unless the scores are given;
2. the credit form (:data:`~prime_fast.algos.process.PROCESS_CREDITS`): ``sum`` (PRIME: returns sum the
   future process rewards, discount ``gamma_process``), ``min`` (PURE's min-form reweighting
   :func:`~prime_fast.algos.min_form_credit`, temperature in units of the scores' spread), ``local``
   (each token its own reward: the estimator's process discount is 0) or ``step`` (each token its
   step's summed reward, :func:`~prime_fast.algos.step_credit`, from explicit ``(B, T)`` step ids;
   process discount 0);
3. normalisation ``batch_norm`` (PRIME's ``prime_norm``) or ``none``;
4. the advantage estimator (``prime``: leave-one-out on outcome and on process rewards, discounted
   returns), then whitening over every valid token of the batch.

Every step that needs the whole batch takes ``all_reduce`` (a sum or max over the data-parallel ranks):
with it, ``R`` ranks holding contiguous whole prompt groups give what one process gives on the whole
batch (``norm_scope="rank"`` keeps PRIME's per-rank ``batch_norm`` peak, as the authors' code does).
prime-fast's own trainer calls this function; so do the trainer integrations (TRL, verl).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from prime_fast.algos._utils import as_mask
from prime_fast.algos.advantages import PRIME_FORMS
from prime_fast.algos.core import PROCESS_NORMS, normalize_process_rewards
from prime_fast.algos.estimator import AdvantageEstimator, Discounts
from prime_fast.algos.process import PROCESS_CREDITS, min_form_credit, process_discount, step_credit
from prime_fast.errors import UnsupportedInputError

AllReduce = Callable[[torch.Tensor, str], torch.Tensor]
"""``all_reduce(t, op)``: ``t`` summed (``op="sum"``) or maxed (``"max"``) over the data-parallel ranks."""

NORM_SCOPES = ("rank", "global")
GRANULARITIES = ("token", "whole")


@dataclass(frozen=True)
class PrimeRewards:
    """What :func:`prime_rewards` returns (all ``(B, T)`` float32, zero outside the mask).

    Attributes:
        advantages: what the policy loss takes (whitened when asked).
        returns: the estimator's returns before whitening.
        process_rewards: the process rewards the estimator received (after credit form and
            normalisation); None for outcome-only runs.
        scores: the raw implicit rewards ``q`` (before credit form and normalisation); None without a PRM.
        metrics: scalar summaries (``prm/process_reward_mean``, ``adv/mean``).
    """

    advantages: torch.Tensor
    returns: torch.Tensor
    process_rewards: torch.Tensor | None
    scores: torch.Tensor | None
    metrics: dict[str, float] = field(default_factory=dict)


def implicit_scores(
    prm_logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor, *, granularity: str = "token"
) -> torch.Tensor:
    """``q = log pi_prm - log pi_ref`` on valid tokens, float32 ``(B, T)`` (``"whole"``: the row's sum on
    its last valid token), without autograd."""
    if granularity not in GRANULARITIES:
        raise UnsupportedInputError(
            f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
        )
    from prime_fast.ops import implicit_process_rewards

    with torch.no_grad():
        q = implicit_process_rewards(
            prm_logp.detach().float(), ref_logp.float(), mask, granularity=granularity
        )
    return q.float()


def _local(t: torch.Tensor, op: str) -> torch.Tensor:
    return t


def credit_temperature(
    scores: torch.Tensor, mask: torch.Tensor, relative: float, all_reduce: AllReduce | None = None
) -> float:
    """The min-form temperature: ``relative`` times the standard deviation of the valid scores (over
    every rank with ``all_reduce``; floored at 1e-6 so constant scores keep a positive temperature)."""
    reduce = all_reduce or _local
    m = mask.bool()
    x = scores.double()[m]
    stats = reduce(torch.stack([x.new_tensor(float(x.numel())), x.sum(), (x * x).sum()]), "sum")
    n, s, ss = (float(v) for v in stats)
    spread = ((ss - s * s / n) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return relative * max(spread, 1e-6)


def process_credit(
    scores: torch.Tensor,
    mask: torch.Tensor,
    *,
    credit: str = "sum",
    credit_temperature_rel: float = 0.1,
    norm: str = "batch_norm",
    norm_scope: str = "rank",
    all_reduce: AllReduce | None = None,
    step_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Steps 2 and 3 of the module docstring: the credit form, then the normalisation (``step_ids``:
    ``(B, T)`` step index per token, ``-1`` outside steps; needed by ``credit="step"`` only)."""
    if credit not in PROCESS_CREDITS:
        raise UnsupportedInputError(f"credit must be one of {', '.join(PROCESS_CREDITS)}, got {credit!r}")
    if norm not in PROCESS_NORMS:
        raise UnsupportedInputError(f"norm must be one of {', '.join(PROCESS_NORMS)}, got {norm!r}")
    if norm_scope not in NORM_SCOPES:
        raise UnsupportedInputError(f"norm_scope must be one of {', '.join(NORM_SCOPES)}, got {norm_scope!r}")
    m = as_mask(mask, scores.shape, scores.device)
    if credit == "min":
        t = credit_temperature(scores, m, credit_temperature_rel, all_reduce)
        scores = min_form_credit(scores, m, temperature=t)
    elif credit == "step":
        if step_ids is None:
            raise UnsupportedInputError(
                "credit='step' needs step_ids, a (B, T) integer tensor of each token's step (-1: none)"
            )
        scores = step_credit(scores, m, step_ids)
    peak_max = None
    if norm_scope == "global" and all_reduce is not None:
        reduce = all_reduce

        def peak_max(t: torch.Tensor) -> torch.Tensor:
            return reduce(t, "max")

    return normalize_process_rewards(scores, m, norm, all_reduce_max=peak_max)


@torch.no_grad()
def prime_rewards(
    outcome_rewards: torch.Tensor,
    mask: torch.Tensor,
    n_samples: int,
    *,
    scores: torch.Tensor | None = None,
    prm_logp: torch.Tensor | None = None,
    ref_logp: torch.Tensor | None = None,
    granularity: str = "token",
    credit: str = "sum",
    credit_temperature_rel: float = 0.1,
    norm: str = "batch_norm",
    norm_scope: str = "rank",
    estimator: str | AdvantageEstimator = "prime",
    form: str = "code",
    gamma_process: float = 1.0,
    gamma_outcome: float = 1.0,
    whiten: bool = True,
    all_reduce: AllReduce | None = None,
    step_ids: torch.Tensor | None = None,
) -> PrimeRewards:
    """PRIME's advantages from outcome rewards and the implicit PRM (module docstring, steps 1-4).

    Args:
        outcome_rewards: ``(B,)`` verifier scores; rows come in contiguous groups of ``n_samples``.
        mask: ``(B, T)`` valid response tokens.
        n_samples: K, responses per prompt.
        scores: ``(B, T)`` implicit rewards ``q`` already computed (e.g. by a PRM update that scored
            the batch on its way); or give ``prm_logp`` and ``ref_logp``; or none of them for an
            outcome-only estimate (RLOO on the verifier's rewards).
        granularity: ``token`` or ``whole`` (used with ``prm_logp``/``ref_logp``).
        credit: ``sum`` (PRIME), ``min`` (PURE), ``local`` or ``step`` (module docstring, step 2);
            ``credit_temperature_rel``: the min-form temperature in units of the scores' standard
            deviation.
        norm: ``batch_norm`` (PRIME's ``prime_norm``) or ``none``; ``norm_scope``: the ``batch_norm``
            peak over this rank's rows (``rank``, as PRIME's authors) or every rank (``global``).
        estimator: a name in :data:`prime_fast.algos.ADVANTAGE_ESTIMATORS` or an estimator.
        form: ``code`` (the authors' ``compute_rloo_returns``) or ``paper`` (Eq. 5); ``prime`` only.
        gamma_process, gamma_outcome: discounts of the two reward sources (``gamma_process`` is
            unused by ``credit="local"`` and ``"step"``, whose process discount is 0).
        whiten: whiten the advantages over every valid token of the batch.
        all_reduce: ``all_reduce(t, op)`` over the data-parallel ranks (None: one process).
        step_ids: ``(B, T)`` integer step index of each response token (``-1``: in no step), for
            ``credit="step"``.

    Returns:
        :class:`PrimeRewards`.
    """
    m = as_mask(mask, mask.shape, mask.device)
    if scores is None and (prm_logp is None) != (ref_logp is None):
        raise UnsupportedInputError("give both prm_logp and ref_logp (or scores), not one of them")
    if scores is None and prm_logp is not None and ref_logp is not None:
        scores = implicit_scores(prm_logp, ref_logp, m, granularity=granularity)
    process = None
    metrics: dict[str, float] = {}
    if scores is not None:
        if scores.shape != m.shape:
            raise UnsupportedInputError(
                f"scores must have the mask's shape {tuple(m.shape)}, got {tuple(scores.shape)}"
            )
        metrics["prm/process_reward_mean"] = _masked_mean(scores, m, all_reduce)
        process = process_credit(
            scores,
            m,
            credit=credit,
            credit_temperature_rel=credit_temperature_rel,
            norm=norm,
            norm_scope=norm_scope,
            all_reduce=all_reduce,
            step_ids=step_ids,
        )
    est = _estimator(estimator)
    kwargs = {"form": form} if est is _prime_estimator() else {}
    if kwargs and form not in PRIME_FORMS:
        raise UnsupportedInputError(f"form must be one of {', '.join(PRIME_FORMS)}, got {form!r}")
    adv, ret = est(
        outcome_rewards,
        m,
        n_samples,
        process_rewards=process,
        discounts=Discounts(process=process_discount(credit, gamma_process), outcome=gamma_outcome),
        whiten=whiten,
        all_reduce=None if all_reduce is None else _sum_only(all_reduce),
        **kwargs,
    )
    metrics["adv/mean"] = _masked_mean(adv, m, all_reduce)
    return PrimeRewards(adv, ret, process, scores, metrics)


def _sum_only(all_reduce: AllReduce) -> Callable[[torch.Tensor], torch.Tensor]:
    def reduce(t: torch.Tensor) -> torch.Tensor:
        return all_reduce(t, "sum")

    return reduce


def _masked_mean(x: torch.Tensor, m: torch.Tensor, all_reduce: AllReduce | None) -> float:
    reduce = all_reduce or _local
    s = reduce(torch.stack([torch.where(m, x.double(), 0.0).sum(), m.double().sum()]), "sum")
    return float(s[0] / s[1].clamp_min(1.0))


def _estimator(estimator: str | AdvantageEstimator) -> AdvantageEstimator:
    if isinstance(estimator, str):
        from prime_fast.algos import get_advantage_estimator

        return get_advantage_estimator(estimator)
    return estimator


def _prime_estimator() -> AdvantageEstimator:
    from prime_fast.algos.advantages import prime_advantages

    return prime_advantages


__all__ = [
    "GRANULARITIES",
    "NORM_SCOPES",
    "AllReduce",
    "PrimeRewards",
    "credit_temperature",
    "implicit_scores",
    "prime_rewards",
    "process_credit",
]
