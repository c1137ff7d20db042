"""Scoring many responses at once: one native batch call per kind, failures kept to their row.

The one batch scorer of prime-fast: the trainer's rewards, ``prime-fast eval``'s verdicts and the trainer
integrations' reward functions all come from :func:`score_rows`.

- Math rows: every (response, acceptable reference) pair goes through one ``verify_math_batch`` call (Rust,
  GIL released, parallel); a row is correct when any reference matches; a row whose reference cannot be
  read (``None``, or no reference parses) scores ``error_score``.
- Code rows (ability ``code`` or ``coding``): PRIME's program extraction, then one ``verify_code_batch``
  call (one pool of sandboxed workers); the score is PRIME's partial credit, ``correct`` means every test
  passed; tests the verifier cannot read score ``error_score``. A program that times out is not an error:
  it gets its tests' partial credit like any failure.
- A row of another ability scores ``error_score`` with the reason in ``error``. A batch call that raises
  is retried row by row, so one bad row never changes the others (unlike PRIME's whole-batch 0.5).

Abilities are matched case-insensitively. Importing this module does not import torch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prime_fast.verify.scoring import CODE_ABILITIES, MATH_ABILITIES

log = logging.getLogger(__name__)

__all__ = [
    "RowVerdict",
    "majority_rewards",
    "score_batch",
    "score_code_rows",
    "score_math_rows",
    "score_rows",
]


@dataclass(slots=True)
class RowVerdict:
    """One response's verdict: ``score`` (the reward), ``correct`` (every test passed / the answer
    matched), the verifier ``status``, the extracted math answer and its normalised form, and the
    reason when the row could not be verified (``error``)."""

    score: float
    correct: bool
    status: str
    extracted: str | None = None
    normalized: str | None = None
    error: str | None = None


def _references(gt: Any) -> list[str]:
    if gt is None:
        return []
    if isinstance(gt, (list, tuple)):
        return [str(g) for g in gt if g is not None]
    return [str(gt)]


def score_math_rows(
    texts: Sequence[str], ground_truths: Sequence[Any], *, error_score: float = 0.0
) -> list[RowVerdict]:
    """Math verdicts of row-aligned responses and references (a string or a list of acceptable ones)."""
    from prime_fast.verify.math import verify_math_batch

    rows: list[int] = []
    resp: list[str] = []
    gold: list[str] = []
    for i, (t, gt) in enumerate(zip(texts, ground_truths, strict=True)):
        for g in _references(gt):
            rows.append(i)
            resp.append(t)
            gold.append(g)
    by_row: list[list[Any]] = [[] for _ in texts]
    for i, v in zip(rows, verify_math_batch(resp, gold), strict=True):
        by_row[i].append(v)
    out = []
    for vs in by_row:
        if not vs:
            out.append(RowVerdict(error_score, False, "invalid_input", error="no reference answer"))
            continue
        hit = next((v for v in vs if v.correct), None)
        first = hit or vs[0]
        readable = any(v.score is not None for v in vs)
        score = 1.0 if hit else (0.0 if readable else error_score)
        verdict = RowVerdict(
            score, hit is not None, str(first.status), first.extracted, first.normalized_pred
        )
        if not readable:
            verdict.error = "the reference answer cannot be parsed"
        out.append(verdict)
    return out


def score_code_rows(
    texts: Sequence[str], ground_truths: Sequence[Any], *, error_score: float = 0.0
) -> list[RowVerdict]:
    """Code verdicts: PRIME's program extraction, then one sandboxed batch."""
    from prime_fast.verify.code import extract_code, verify_code_batch

    results = verify_code_batch([extract_code(t) for t in texts], list(ground_truths))
    out = []
    for r in results:
        if r.status == "invalid_input":
            log.warning("malformed code tests on one row: %s", r.reason)
            out.append(RowVerdict(error_score, False, "invalid_input", error=r.reason))
        else:
            out.append(RowVerdict(float(r.score), r.status == "passed", r.status))
    return out


def _kind(ability: Any) -> str:
    a = ability.lower() if isinstance(ability, str) else ""
    return "math" if a in MATH_ABILITIES else "code" if a in CODE_ABILITIES else ""


def score_rows(
    texts: Sequence[str],
    ground_truths: Sequence[Any],
    abilities: Sequence[str],
    *,
    error_score: float = 0.0,
) -> list[RowVerdict]:
    """Verdicts of row-aligned responses, references and abilities (module docstring), batched per kind."""
    if not len(texts) == len(ground_truths) == len(abilities):
        raise ValueError(
            "texts, ground_truths and abilities must have one entry per row, got "
            f"{len(texts)}, {len(ground_truths)} and {len(abilities)}"
        )
    out: list[RowVerdict | None] = [None] * len(texts)
    kinds = [_kind(a) for a in abilities]
    scorers: dict[str, Callable[..., list[RowVerdict]]] = {"math": score_math_rows, "code": score_code_rows}
    for kind, fn in scorers.items():
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        try:
            res = fn([texts[i] for i in idx], [ground_truths[i] for i in idx], error_score=error_score)
            for i, v in zip(idx, res, strict=True):
                out[i] = v
        except Exception as e:
            log.warning(
                "batch %s verification failed (%s: %s); scoring row by row", kind, type(e).__name__, e
            )
            for i in idx:
                out[i] = _one(fn, texts[i], ground_truths[i], error_score)
    for i, a in enumerate(abilities):
        if out[i] is None:
            log.warning("unknown ability %r on one row; scoring it %.2f", a, error_score)
            out[i] = RowVerdict(
                error_score, False, "error", error=f"unknown ability {a!r} (expected math, code or coding)"
            )
    return [v for v in out if v is not None]


def score_batch(
    texts: Sequence[str], ground_truths: Sequence[Any], abilities: Sequence[str], *, error_score: float = 0.0
) -> tuple[list[float], float]:
    """The rewards of :func:`score_rows` and the seconds it took."""
    t0 = time.perf_counter()
    scores = [v.score for v in score_rows(texts, ground_truths, abilities, error_score=error_score)]
    return scores, time.perf_counter() - t0


def _one(fn: Callable[..., list[RowVerdict]], text: str, gt: Any, error_score: float) -> RowVerdict:
    try:
        return fn([text], [gt], error_score=error_score)[0]
    except Exception as e:  # one row's problem
        log.warning("verifier failed on one row (%s: %s); scoring it %.2f", type(e).__name__, e, error_score)
        return RowVerdict(error_score, False, "error", error=f"{type(e).__name__}: {e}")


def majority_rewards(texts: Sequence[str], n_samples: int) -> tuple[list[float], float]:
    """Label-free rewards (TTRL, arXiv 2504.16084): within each contiguous group of ``n_samples``
    responses, 1 for a response whose answer is in the group's largest answer cluster
    (:func:`prime_fast.verify.group_equivalent`; ties: the cluster seen first), else 0; a response
    without a readable answer gets 0. Returns ``(rewards, seconds)``."""
    from prime_fast.verify.math import group_equivalent

    if n_samples < 1 or len(texts) % n_samples:
        raise ValueError(f"n_samples must be >= 1 and divide the {len(texts)} texts, got {n_samples}")
    t0 = time.perf_counter()
    out: list[float] = []
    for g in range(0, len(texts), n_samples):
        ids = group_equivalent(list(texts[g : g + n_samples]))
        sizes: dict[int, int] = {}
        for c in ids:
            if c >= 0:
                sizes[c] = sizes.get(c, 0) + 1
        best = max(sizes, key=lambda c: (sizes[c], -c)) if sizes else None
        out += [1.0 if best is not None and c == best else 0.0 for c in ids]
    return out, time.perf_counter() - t0
