"""Step-level views of process rewards: step scores, first-error prediction, PRM quality metrics, and
the credit forms that turn process rewards into the rewards the advantage estimator sums.

A *step* is a contiguous span of response tokens (a line of a worked solution, say). ``step_ids``
gives each token's step index (``-1``: the token belongs to no step). These functions turn the
implicit PRM's per-token rewards ``q_t`` into per-step scores and measure how well those scores find
the first wrong step (ProcessBench, arXiv 2412.06559) or separate right from wrong responses (AUC).
"""

from __future__ import annotations

import math

import torch

from prime_fast.algos._utils import as_float, as_mask
from prime_fast.errors import UnsupportedInputError

STEP_REDUCTIONS = ("sum", "min")
PROCESS_CREDITS = ("sum", "min", "local", "step")
"""Credit forms (``algo.process_credit``), each defined by the process *return* a token receives from
rewards ``r`` (the estimator's leave-one-out baseline and whitening come after):

- ``sum`` (PRIME): ``R_t = sum_{u >= t} gamma^(u-t) r_u``, ``gamma = algo.gamma_process``;
- ``min`` (PURE, arXiv 2504.15275): the same sum over :func:`min_form_credit`'s reweighted rewards;
- ``local``: ``R_t = r_t``, each token its own reward (``sum`` with ``gamma = 0``);
- ``step``: ``R_t = sum of r over t's step`` (:func:`step_credit`: one credit per step, shared by its
  tokens and by no earlier step; needs step ids).
"""
UNDISCOUNTED_CREDITS = ("local", "step")
"""Credit forms whose returns are not sums over the future: the estimator gets ``gamma_process = 0``."""


def step_scores(
    q: torch.Tensor, step_ids: torch.Tensor, reduce: str = "sum"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step scores from per-token rewards.

    Args:
        q: ``(B, T)`` per-token rewards (e.g. ``beta * (log pi_prm - log pi_ref)``).
        step_ids: ``(B, T)`` integer step index of each token, ``-1`` for tokens in no step.
        reduce: ``"sum"`` (the step's score is the sum of its tokens' rewards) or ``"min"``.

    Returns:
        ``(scores, step_mask)``: float32 ``(B, S)`` with ``S = max step id + 1`` (at least 1), and a bool
        ``(B, S)`` mask of the steps that have at least one token. Scores of empty steps are 0.
    """
    if reduce not in STEP_REDUCTIONS:
        raise UnsupportedInputError(f"reduce must be one of {', '.join(STEP_REDUCTIONS)}, got {reduce!r}")
    qf = as_float("q", q, 2).float()
    if not isinstance(step_ids, torch.Tensor) or step_ids.shape != qf.shape:
        got = tuple(step_ids.shape) if isinstance(step_ids, torch.Tensor) else type(step_ids).__name__
        raise UnsupportedInputError(
            f"step_ids must be an integer tensor of shape {tuple(qf.shape)}, got {got}"
        )
    if step_ids.dtype.is_floating_point or step_ids.dtype == torch.bool:
        raise UnsupportedInputError(f"step_ids must hold integers, got {step_ids.dtype}")
    ids = step_ids.to(qf.device, torch.long)
    if bool((ids < -1).any()):
        raise UnsupportedInputError("step_ids must be >= -1 (-1 marks tokens in no step)")
    n_steps = max(int(ids.max()) + 1 if ids.numel() else 0, 1)
    valid = ids >= 0
    # Tokens in no step go to an extra column that is dropped afterwards.
    col = torch.where(valid, ids, torch.full_like(ids, n_steps))
    b = qf.shape[0]
    counts = torch.zeros(b, n_steps + 1, device=qf.device).scatter_add_(1, col, valid.float())
    if reduce == "sum":
        out = torch.zeros(b, n_steps + 1, device=qf.device).scatter_add_(1, col, torch.where(valid, qf, 0.0))
    else:
        out = torch.full((b, n_steps + 1), math.inf, device=qf.device)
        out = out.scatter_reduce(1, col, torch.where(valid, qf, math.inf), reduce="amin")
    mask = counts[:, :n_steps] > 0
    scores = torch.where(mask, out[:, :n_steps], torch.zeros_like(out[:, :n_steps]))
    return scores, mask


def predict_first_error(scores: torch.Tensor, step_mask: torch.Tensor, threshold: float) -> torch.Tensor:
    """The index of the first valid step scoring below ``threshold`` in each row, ``-1`` when none."""
    s = as_float("scores", scores, 2)
    m = as_mask(step_mask, s.shape, s.device)
    below = (s < threshold) & m
    idx = torch.arange(s.shape[1], device=s.device).expand_as(s)
    first = torch.where(below, idx, torch.full_like(idx, s.shape[1])).min(dim=1).values
    return torch.where(first == s.shape[1], torch.full_like(first, -1), first)


def first_error_f1(pred: torch.Tensor, label: torch.Tensor) -> dict[str, float]:
    """ProcessBench's score of first-error predictions (``-1``: no error).

    ``acc_error``: share of rows with an error (``label >= 0``) whose first error is found exactly;
    ``acc_correct``: share of error-free rows (``label == -1``) predicted error-free; ``f1``: their
    harmonic mean (0 when either is 0; NaN when a class is absent).
    """
    p = torch.as_tensor(pred).long().flatten()
    y = torch.as_tensor(label).long().flatten()
    if p.shape != y.shape:
        raise UnsupportedInputError(
            f"pred and label must have the same length, got {p.numel()} and {y.numel()}"
        )
    err, ok = y >= 0, y == -1
    n_err, n_ok = int(err.sum()), int(ok.sum())
    acc_err = int((p[err] == y[err]).sum()) / n_err if n_err else math.nan
    acc_ok = int((p[ok] == -1).sum()) / n_ok if n_ok else math.nan
    if math.isnan(acc_err) or math.isnan(acc_ok):
        f1 = math.nan
    elif acc_err == 0.0 or acc_ok == 0.0:
        f1 = 0.0
    else:
        f1 = 2 * acc_err * acc_ok / (acc_err + acc_ok)
    return {
        "acc_error": acc_err,
        "acc_correct": acc_ok,
        "f1": f1,
        "n_error": float(n_err),
        "n_correct": float(n_ok),
    }


def fit_threshold(scores: torch.Tensor, step_mask: torch.Tensor, label: torch.Tensor) -> float:
    """The threshold that maximises :func:`first_error_f1` on this split (fix it here, report elsewhere).

    Candidates are the midpoints between consecutive distinct observed step scores, plus one value
    below and one above them all; ties go to the smallest threshold.
    """
    s = as_float("scores", scores, 2)
    m = as_mask(step_mask, s.shape, s.device)
    vals = torch.unique(s[m].double())
    if vals.numel() == 0:
        return 0.0
    cands = torch.cat([vals[:1] - 1.0, (vals[1:] + vals[:-1]) / 2, vals[-1:] + 1.0]).tolist()
    best_t, best_f1 = cands[0], -1.0
    for t in cands:
        f1 = first_error_f1(predict_first_error(s, m, t), label)["f1"]
        f1 = -1.0 if math.isnan(f1) else f1
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return float(best_t)


def outcome_auc(scores: torch.Tensor, outcomes: torch.Tensor) -> float:
    """ROC AUC of per-response scores against 0/1 outcomes (ties count 1/2; NaN if one class is absent).

    Outcomes above 0.5 are positives (so pass rates in ``[0, 1]`` work too).
    """
    s = torch.as_tensor(scores).double().flatten()
    y = torch.as_tensor(outcomes).double().flatten() > 0.5
    if s.shape != y.shape:
        raise UnsupportedInputError(
            f"scores and outcomes must have the same length, got {s.numel()} and {y.numel()}"
        )
    pos, neg = s[y], s[~y]
    if pos.numel() == 0 or neg.numel() == 0:
        return math.nan
    # Mann-Whitney U with average ranks for ties.
    allv = torch.cat([pos, neg])
    order = torch.argsort(allv, stable=True)
    ranks = torch.empty_like(allv)
    sorted_v = allv[order]
    i, n = 0, allv.numel()
    while i < n:
        j = i
        while j + 1 < n and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[: pos.numel()].sum() - pos.numel() * (pos.numel() + 1) / 2
    return float(u / (pos.numel() * neg.numel()))


def min_form_credit(rewards: torch.Tensor, mask: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """PURE's min-form credit assignment (arXiv 2504.15275): ``r*_t = softmax_t(-r / T) * r_t``.

    Over each row's valid tokens the weights sum to 1, so ``sum_t r*_t`` tends to ``min_t r_t`` as
    ``T -> 0``: summing the transformed rewards into returns credits a response with its worst step
    instead of letting good steps pay for a bad one. Entries outside ``mask`` are 0.
    """
    if not temperature > 0:
        raise UnsupportedInputError(f"temperature must be > 0, got {temperature}")
    r = as_float("rewards", rewards, 2)
    m = as_mask(mask, r.shape, r.device)
    logits = torch.where(m, -r.double() / temperature, torch.full_like(r, -math.inf, dtype=torch.float64))
    w = torch.softmax(logits, dim=1)
    w = torch.nan_to_num(w, nan=0.0)  # rows with no valid token
    return torch.where(m, w * r.double(), torch.zeros_like(w)).to(r.dtype)


def step_credit(rewards: torch.Tensor, mask: torch.Tensor, step_ids: torch.Tensor) -> torch.Tensor:
    """Each valid token's reward replaced by the sum of the rewards of its step (its own reward when
    its step id is ``-1``); 0 outside ``mask``.

    With the estimator's ``gamma_process = 0`` a token's process return is its step's total reward: a
    step is judged as a whole (the per-token noise of a PRM averages within the step) and a wrong step
    costs no credit to the steps before it.

    Args:
        rewards: ``(B, T)`` process rewards.
        mask: ``(B, T)`` valid response tokens.
        step_ids: ``(B, T)`` integer step index of each token (``-1``: in no step), e.g. from a step
            labeller (the algos layer never sees text).
    """
    r = as_float("rewards", rewards, 2)
    m = as_mask(mask, r.shape, r.device)
    rm = torch.where(m, r, torch.zeros_like(r))
    if not isinstance(step_ids, torch.Tensor) or step_ids.shape != r.shape:
        got = tuple(step_ids.shape) if isinstance(step_ids, torch.Tensor) else type(step_ids).__name__
        raise UnsupportedInputError(
            f"step_ids must be an integer tensor of shape {tuple(r.shape)}, got {got}"
        )
    if step_ids.dtype.is_floating_point or step_ids.dtype == torch.bool:
        raise UnsupportedInputError(f"step_ids must hold integers, got {step_ids.dtype}")
    ids = step_ids.to(r.device, torch.long)
    in_step = (ids >= 0) & m
    n_steps = int(ids.max()) + 2 if ids.numel() else 1  # the last column collects tokens in no step
    col = torch.where(in_step, ids, torch.full_like(ids, n_steps - 1))
    sums = torch.zeros(r.shape[0], n_steps, dtype=r.dtype, device=r.device).scatter_add_(1, col, rm)
    return torch.where(in_step, sums.gather(1, col), rm)


def process_discount(credit: str, gamma_process: float) -> float:
    """The discount the estimator applies to the credited process rewards: ``gamma_process`` for the
    summed forms (``sum``, ``min``), 0 for :data:`UNDISCOUNTED_CREDITS`."""
    if credit not in PROCESS_CREDITS:
        raise UnsupportedInputError(f"credit must be one of {', '.join(PROCESS_CREDITS)}, got {credit!r}")
    return 0.0 if credit in UNDISCOUNTED_CREDITS else gamma_process


__all__ = [
    "PROCESS_CREDITS",
    "STEP_REDUCTIONS",
    "UNDISCOUNTED_CREDITS",
    "first_error_f1",
    "fit_threshold",
    "min_form_credit",
    "outcome_auc",
    "predict_first_error",
    "process_discount",
    "step_credit",
    "step_scores",
]
