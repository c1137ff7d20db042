"""What every trainer adapter does to score rows: read completions and references, one batched verifier call.

Trainers hand reward functions their completions as strings or chat message lists, and the references in
dataset columns of several shapes (a string, a list of acceptable answers, or Eurus-2-RL-Data's
``reward_model`` dict holding ``ground_truth``). :func:`score_texts` scores a whole batch with one call
into the Rust verifiers (:func:`prime_fast.verify.batch.score_rows`): math pairs on the native thread pool
under a per-item deadline, code programs on one pool of sandboxed workers. This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prime_fast.errors import UnsupportedInputError

__all__ = [
    "REFERENCE_COLUMNS",
    "TESTS_COLUMNS",
    "completion_text",
    "find_column",
    "kind_of",
    "per_row",
    "reference_of",
    "score_texts",
]

#: Columns read, in order, for a math reference when no column is named.
REFERENCE_COLUMNS = ("ground_truth", "solution", "answer", "gold", "reference", "reward_model")
#: Columns read, in order, for code tests when no column is named.
TESTS_COLUMNS = ("tests", "test_cases", "input_output", "ground_truth", "reward_model")

_MATH = frozenset({"math"})
_CODE = frozenset({"code", "coding"})


def completion_text(completion: Any, where: str = "completions") -> str:
    """The text of one completion: a string, a message dict, or the last assistant message of a list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict) and isinstance(completion.get("content"), str):
        return completion["content"]
    if isinstance(completion, Sequence) and completion:
        for m in reversed([m for m in completion if isinstance(m, dict)]):
            if m.get("role", "assistant") == "assistant" and isinstance(m.get("content"), str):
                return m["content"]
    raise UnsupportedInputError(
        f"{where}: each completion must be a str or a list of chat messages "
        f"({{'role': ..., 'content': str}}), got {type(completion).__name__}"
    )


def reference_of(value: Any) -> Any:
    """A row's reference: ``reward_model``-style dicts give their ``ground_truth``; others pass through."""
    if isinstance(value, dict) and "ground_truth" in value:
        return value["ground_truth"]
    return value


def per_row(value: Any, n: int, name: str) -> list[Any]:
    """``value`` as one entry per row: a list of length ``n`` as is, any other value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise UnsupportedInputError(f"{name} must have one entry per completion ({n}), got {len(value)}")
        return list(value)
    return [value] * n


def find_column(columns: dict[str, Any], name: str | None, candidates: Sequence[str], what: str) -> str:
    """The column to read: ``name`` when given (it must be present), else the first candidate present."""
    if name is not None:
        if name not in columns:
            raise UnsupportedInputError(
                f"{what}: the dataset has no column {name!r}; columns passed: {sorted(columns)}"
            )
        return name
    found = next((c for c in candidates if c in columns), None)
    if found is None:
        raise UnsupportedInputError(
            f"{what}: no reference column; pass one of {', '.join(candidates)} as a dataset column "
            f"(or name yours with the factory), got columns {sorted(columns)}"
        )
    return found


def kind_of(ability: Any, default: str) -> str:
    """``"math"``, ``"code"`` or ``""`` (another kind) for a row's ability (``None``: ``default``)."""
    if ability is None:
        return default
    a = str(ability).lower()
    return "math" if a in _MATH else "code" if a in _CODE else ""


def score_texts(
    texts: Sequence[str], references: Sequence[Any], kind: str, *, error_score: float | None = None
) -> list[float | None]:
    """Rewards of ``texts`` against ``references``, all of one ``kind`` (``math`` or ``code``), in one batch.

    A row the verifier cannot judge (unreadable reference, malformed tests) gets ``error_score``; None (the
    default) tells TRL the row is not this function's to score.
    """
    from prime_fast.verify.batch import score_rows

    if not texts:
        return []
    verdicts = score_rows(list(texts), list(references), [kind] * len(texts), error_score=0.0)
    return [error_score if v.error is not None else float(v.score) for v in verdicts]
