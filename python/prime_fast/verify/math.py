"""Math answer verification (Rust core): extraction, normalisation, exact and symbolic equivalence.

Every call is bounded (10 ms per pair by default) and never raises on a bad *answer*: wrong,
unreadable and over-budget answers are :class:`Verdict` results. Bad *arguments* (wrong types,
mismatched lengths, unknown policy keys) raise :class:`~prime_fast.errors.UnsupportedInputError`.

Policy switches and budgets are passed as keyword arguments (``percent="strict"``,
``unordered_lists=False``, ``timeout_ms=50``, ...); see ``docs/VERIFY_MATH.md`` for the full list
and defaults (:func:`policy_keys` lists the names).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prime_fast import _native
from prime_fast.errors import UnsupportedInputError

__all__ = [
    "Status",
    "Verdict",
    "cli_verify_chunk",
    "extract_answer",
    "group_equivalent",
    "majority_vote",
    "math_equal",
    "policy_keys",
    "score_math",
    "verify_math",
    "verify_math_batch",
]


class Status(str, enum.Enum):
    """Outcome class of a verification (compares equal to its lower-case string)."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNPARSEABLE = "unparseable"
    GOLD_UNPARSEABLE = "gold_unparseable"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Verdict:
    """The result of verifying one answer against one reference."""

    correct: bool
    status: Status
    extracted: str | None
    normalized_pred: str | None
    normalized_gold: str | None
    reason: str
    #: 1.0 when correct, 0.0 otherwise, ``None`` when the reference cannot be read.
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (status as a string, score included)."""
        return {
            "correct": self.correct,
            "status": self.status.value,
            "extracted": self.extracted,
            "normalized_pred": self.normalized_pred,
            "normalized_gold": self.normalized_gold,
            "reason": self.reason,
            "score": self.score,
        }


def _verdict(t: tuple[bool, str, str | None, str | None, str | None, str]) -> Verdict:
    status = Status(t[1])
    score = None if status is Status.GOLD_UNPARSEABLE else (1.0 if t[0] else 0.0)
    return Verdict(t[0], status, t[2], t[3], t[4], t[5], score)


def _policy(policy: Mapping[str, Any]) -> dict[str, Any] | None:
    return dict(policy) if policy else None


def policy_keys() -> list[str]:
    """Names of every policy switch and budget accepted as a keyword argument."""
    return list(_native.math_policy_keys())


def extract_answer(text: str, **policy: Any) -> str | None:
    """The final answer in a model response, or ``None`` when there is none.

    Priority (configurable with ``extract_order``): the last ``\\boxed{}``/``\\fbox{}`` (nearby boxes
    joined), "final answer is", "answer:"/"answer is", a short bare answer, then the right-most
    math span or number.
    """
    return _native.math_extract_answer(text, _policy(policy))


def normalize_answer(answer: str, **policy: Any) -> str | None:
    """The normalised form of an answer (``None`` when a rule rejects it)."""
    return _native.math_normalize(answer, _policy(policy))


def math_equal(pred: str, gold: str, **policy: Any) -> bool:
    """Whether an already-extracted answer equals the reference under the given policies."""
    return bool(_native.math_verify(pred, gold, extract=False, policy=_policy(policy))[0])


def verify_math(response: str, gold: str, *, extract: bool = True, **policy: Any) -> Verdict:
    """Verify a full response (or a bare answer with ``extract=False``) against a reference."""
    return _verdict(_native.math_verify(response, gold, extract=extract, policy=_policy(policy)))


def verify_math_batch(
    responses: Sequence[str],
    golds: Sequence[str],
    *,
    num_threads: int | None = None,
    extract: bool = True,
    **policy: Any,
) -> list[Verdict]:
    """Verify many pairs in parallel (all cores by default) with the GIL released."""
    responses = _as_list(responses, "responses")
    golds = _as_list(golds, "golds")
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)):
        raise UnsupportedInputError(
            f"verify_math_batch: num_threads must be an int or None, got {type(num_threads).__name__}"
        )
    out = _native.verify_math_batch(
        responses, golds, extract=extract, policy=_policy(policy), num_threads=num_threads
    )
    return [_verdict(t) for t in out]


def group_equivalent(answers: Sequence[str], *, extract: bool = True, **policy: Any) -> list[int]:
    """Cluster ids of ``answers``: two answers share an id iff they are equal under :func:`math_equal`.

    With ``extract=True`` (default) each item is a full response and its final answer is extracted
    first. Identical normal forms are grouped by hashing; a new form is compared (in Rust, with
    the GIL released) only with the representatives of clusters that could equal it. Ids are
    ``0, 1, 2, ...`` in order of first appearance; an item with no readable answer gets ``-1``.
    Equality is checked against each cluster's first member, in either direction (``math_equal``
    is not transitive in every corner, e.g. lenient percent: ``10%`` equals both ``10`` and
    ``0.1``).
    """
    items = _as_list(answers, "answers", "group_equivalent")
    return list(_native.math_group_equivalent(items, extract=extract, policy=_policy(policy)))


def majority_vote(responses: Sequence[str], **policy: Any) -> tuple[str | None, float]:
    """The majority answer of a group of responses and its share of the group.

    Returns ``(answer, share)``: the extracted answer of the first response in the largest
    cluster of :func:`group_equivalent` (ties go to the cluster that appeared first) and the
    cluster's size divided by ``len(responses)`` (responses with no readable answer count in the
    denominator, never in a cluster). ``(None, 0.0)`` when no response has a readable answer.
    For maj@k and TTRL-style label-free rewards (a response is rewarded when its answer is in
    the majority cluster).
    """
    items = _as_list(responses, "responses", "majority_vote")
    ids = group_equivalent(items, **policy)
    counts: dict[int, int] = {}
    for i in ids:
        if i >= 0:
            counts[i] = counts.get(i, 0) + 1
    if not counts:
        return None, 0.0
    best = max(counts, key=lambda c: (counts[c], -c))
    first = ids.index(best)
    return extract_answer(items[first], **policy), counts[best] / len(items)


def _as_list(values: Any, name: str, func: str = "verify_math_batch") -> list[Any]:
    if isinstance(values, list):
        return values
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise UnsupportedInputError(f"{func}: {name} must be a list of str, got {type(values).__name__}")
    return list(values)


def _gold_list(ground_truth: Any) -> list[str]:
    if isinstance(ground_truth, str):
        return [ground_truth]
    if isinstance(ground_truth, (int, float)) and not isinstance(ground_truth, bool):
        return [str(ground_truth)]
    if isinstance(ground_truth, (list, tuple)) and ground_truth:
        out = []
        for g in ground_truth:
            if isinstance(g, bool) or not isinstance(g, (str, int, float)):
                raise UnsupportedInputError(
                    f"score_math: ground_truth items must be str or numbers, got {type(g).__name__}"
                )
            out.append(str(g))
        return out
    raise UnsupportedInputError(
        "score_math: ground_truth must be a str, a number, or a non-empty list of acceptable answers, "
        f"got {type(ground_truth).__name__}"
    )


def score_math(response: str, ground_truth: Any, **policy: Any) -> float | None:
    """PRIME's math outcome reward: 1.0 if the response's answer matches any acceptable answer.

    Returns 0.0 for wrong, unreadable or over-budget answers, and ``None`` when no reference can
    be read (the row should then be dropped rather than scored).
    """
    if not isinstance(response, str):
        raise UnsupportedInputError(f"score_math: response must be a str, got {type(response).__name__}")
    golds = _gold_list(ground_truth)
    any_gold = False
    for g in golds:
        v = verify_math(response, g, **policy)
        if v.correct:
            return 1.0
        if v.status is not Status.GOLD_UNPARSEABLE:
            any_gold = True
    return 0.0 if any_gold else None


def cli_verify_chunk(
    records: Sequence[Any], num_workers: int | None = None, policy: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Verify one chunk of JSONL records for ``prime-fast verify math``.

    Each record is a dict with ``response`` (a full response) or ``pred`` (a bare answer), and
    ``gold``. A malformed record yields ``{"status": "invalid_input", "reason": ...}``. ``policy``:
    policy switches and budgets (keyword arguments of :func:`verify_math`).
    """
    policy = dict(policy or {})
    results: list[dict[str, Any] | None] = [None] * len(records)
    groups: dict[bool, tuple[list[int], list[str], list[str]]] = {True: ([], [], []), False: ([], [], [])}
    for i, rec in enumerate(records):
        reason = None
        if not isinstance(rec, dict):
            reason = f"record must be a JSON object, got {type(rec).__name__}"
        elif "gold" not in rec:
            reason = "record has no 'gold' field"
        elif "response" not in rec and "pred" not in rec:
            reason = "record has neither 'response' nor 'pred'"
        else:
            text = rec.get("response", rec.get("pred"))
            gold = rec["gold"]
            if isinstance(gold, (int, float)) and not isinstance(gold, bool):
                gold = str(gold)
            if not isinstance(text, str):
                reason = "'response'/'pred' must be a string"
            elif not isinstance(gold, str):
                reason = "'gold' must be a string or a number"
            else:
                idx, texts, gs = groups["response" in rec]
                idx.append(i)
                texts.append(text)
                gs.append(gold)
        if reason is not None:
            results[i] = {"status": "invalid_input", "reason": reason}
    for extract, (idx, texts, gs) in groups.items():
        if not idx:
            continue
        verdicts = verify_math_batch(texts, gs, num_threads=num_workers, extract=extract, **policy)
        for i, v in zip(idx, verdicts):
            results[i] = v.to_dict()
    return [r if r is not None else {"status": "invalid_input", "reason": "internal"} for r in results]
