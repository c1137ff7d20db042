"""Scoring responses with the Rust verifiers in batches, with the trainer's semantics.

Math: every (response, acceptable answer) pair goes through one ``verify_math_batch`` call; a row is
correct when any answer matches, scores ``error_score`` when no reference can be read (as
``prime_fast.verify.score`` returns None and the trainer's ``score_all`` then gives
``verify.error_score``). Code: one ``verify_code_batch`` call on the extracted programs; ``score``
is PRIME's partial credit, ``correct`` means every test passed; tests the verifier cannot read
score ``error_score``. A row whose verification raises is marked with its error and scores
``error_score``; the other rows are unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Verdict:
    """One response's verdict: ``score`` (the trainer's reward), ``correct`` (for the metrics),
    the extracted math answer and its normalised form, the verifier status and any error."""

    score: float
    correct: bool
    status: str
    extracted: str | None = None
    normalized: str | None = None
    error: str | None = None


def _golds(gt: Any) -> list[str]:
    if isinstance(gt, (list, tuple)):
        return [str(g) for g in gt]
    return [str(gt)]


def score_math(texts: Sequence[str], gts: Sequence[Any], *, error_score: float = 0.0) -> list[Verdict]:
    """Math verdicts of row-aligned responses and references (one native batch call)."""
    from prime_fast.verify import verify_math_batch

    rows: list[int] = []
    resp: list[str] = []
    gold: list[str] = []
    for i, (t, gt) in enumerate(zip(texts, gts, strict=True)):
        for g in _golds(gt):
            rows.append(i)
            resp.append(t)
            gold.append(g)
    by_row: list[list[Any]] = [[] for _ in texts]
    for i, v in zip(rows, verify_math_batch(resp, gold), strict=True):
        by_row[i].append(v)
    out = []
    for vs in by_row:
        hit = next((v for v in vs if v.correct), None)
        first = hit or vs[0]
        readable = any(v.score is not None for v in vs)
        score = 1.0 if hit else (0.0 if readable else error_score)
        out.append(Verdict(score, hit is not None, str(first.status), first.extracted, first.normalized_pred))
    return out


def score_code(texts: Sequence[str], gts: Sequence[Any], *, error_score: float = 0.0) -> list[Verdict]:
    """Code verdicts: PRIME's program extraction, then one sandboxed batch."""
    from prime_fast.verify.code import extract_code, verify_code_batch

    results = verify_code_batch([extract_code(t) for t in texts], list(gts))
    out = []
    for r in results:
        if r.status == "invalid_input":
            out.append(Verdict(error_score, False, "invalid_input", error=r.reason))
        else:
            out.append(Verdict(float(r.score), r.status == "passed", r.status))
    return out


def score_rows(
    texts: Sequence[str], gts: Sequence[Any], abilities: Sequence[str], *, error_score: float = 0.0
) -> list[Verdict]:
    """Verdicts of row-aligned responses, batched per ability; a failing batch is retried row by row."""
    out: list[Verdict | None] = [None] * len(texts)
    kinds = {"math": score_math, "code": score_code}
    for kind, fn in kinds.items():
        idx = [i for i, a in enumerate(abilities) if (a if a != "coding" else "code") == kind]
        if not idx:
            continue
        try:
            res = fn([texts[i] for i in idx], [gts[i] for i in idx], error_score=error_score)
            for i, v in zip(idx, res, strict=True):
                out[i] = v
        except Exception as e:
            log.warning(
                "batch %s verification failed (%s: %s); scoring row by row", kind, type(e).__name__, e
            )
            for i in idx:
                out[i] = _one(fn, texts[i], gts[i], error_score)
    for i, a in enumerate(abilities):
        if out[i] is None:
            out[i] = Verdict(
                error_score, False, "error", error=f"unknown ability {a!r} (expected math or code)"
            )
    return [v for v in out if v is not None]


def _one(fn: Any, text: str, gt: Any, error_score: float) -> Verdict:
    try:
        return fn([text], [gt], error_score=error_score)[0]
    except Exception as e:  # one row's problem
        return Verdict(error_score, False, "error", error=f"{type(e).__name__}: {e}")
