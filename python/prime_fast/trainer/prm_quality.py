"""How good is the implicit PRM right now? Outcome and step-level metrics of a batch's process rewards.

Every step: pairwise accuracy (PRIME's ``compute_dpo_accuracy``) and the AUC of the summed reward
against the verifier's outcomes. Where the data source has a *step labeller* (a function giving the
step spans of a response and the index of its first wrong step, registered with
:func:`register_step_labeller`; the embedded demo registers one), also
ProcessBench's first-error F1: a step's score is the sum of ``q`` over its tokens, the predicted first
error is the first step scoring below a threshold, and the threshold is fitted on the first half of
the batch's prompt groups and reported on the second half (a split the threshold never saw).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from prime_fast import algos

StepLabeller = Callable[[str, str], tuple[list[tuple[int, int]], int | None]]
"""``labeller(question, response) -> (step character spans, index of the first wrong step or None)``."""

STEP_LABELLERS: dict[str, StepLabeller] = {}


def register_step_labeller(data_source: str, labeller: StepLabeller) -> None:
    """Give the rows of ``data_source`` step labels (first-error F1 in the PRM metrics); the embedded
    demo registers its own (``prime_fast.demo.assets.register``)."""
    STEP_LABELLERS[data_source] = labeller


def token_step_ids(
    tokenizer: Any, response_ids: Sequence[int], spans: Sequence[tuple[int, int]]
) -> list[int]:
    """The step index of each response token (``-1``: in no step, e.g. EOS), from character spans."""
    out, pos = [], 0
    for t in response_ids:
        piece = tokenizer.decode([int(t)], skip_special_tokens=True)
        if not piece:
            out.append(-1)
            continue
        out.append(next((i for i, (s, e) in enumerate(spans) if s <= pos < e), -1))
        pos += len(piece)
    return out


def step_labels(
    tokenizer: Any,
    questions: Sequence[str],
    texts: Sequence[str],
    response_ids: Sequence[Sequence[int]],
    data_sources: Sequence[str],
    width: int,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(step_ids (N, width), first_error (N,))`` where every row's source has a labeller, else None."""
    if not texts or any(src not in STEP_LABELLERS for src in data_sources):
        return None
    steps = torch.full((len(texts), width), -1, dtype=torch.long)
    first = torch.full((len(texts),), -1, dtype=torch.long)
    for i, (q, t, ids, src) in enumerate(zip(questions, texts, response_ids, data_sources)):
        spans, fe = STEP_LABELLERS[src](q, t)
        sid = token_step_ids(tokenizer, ids[:width], spans)
        steps[i, : len(sid)] = torch.tensor(sid, dtype=torch.long)
        first[i] = -1 if fe is None else fe
    return steps, first


def prm_quality(
    q: torch.Tensor,
    mask: torch.Tensor,
    acc: torch.Tensor,
    n_samples: int,
    labels: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """``prm/pairwise_acc``, ``prm/auc`` and, with step labels, ``prm/fe_f1`` (+ its two accuracies).

    Args:
        q: ``(N, T)`` implicit process rewards (before any normalisation).
        mask: ``(N, T)`` response tokens.
        acc: ``(N,)`` outcome rewards.
        n_samples: K (rows are contiguous groups of K).
        labels: from :func:`step_labels`.
    """
    m = mask.bool()
    total = torch.where(m, q.float(), 0.0).sum(1)
    out = {
        "prm/pairwise_acc": float(algos.prm_pairwise_accuracy(q, acc, n_samples, m)),
        "prm/auc": algos.outcome_auc(total, acc),
    }
    if labels is None:
        return out
    step_ids, first = labels
    scores, smask = algos.step_scores(torch.where(m, q.float(), 0.0), step_ids, "sum")
    half = (q.shape[0] // n_samples) // 2 * n_samples
    if half == 0:
        return out
    thr = algos.fit_threshold(scores[:half], smask[:half], first[:half])
    f = algos.first_error_f1(algos.predict_first_error(scores[half:], smask[half:], thr), first[half:])
    out.update(
        {"prm/fe_f1": f["f1"], "prm/fe_acc_error": f["acc_error"], "prm/fe_acc_correct": f["acc_correct"]}
    )
    return out


__all__ = [
    "STEP_LABELLERS",
    "StepLabeller",
    "prm_quality",
    "register_step_labeller",
    "step_labels",
    "token_step_ids",
]
