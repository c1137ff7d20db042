"""Reward adapters: a TRL reward function and a verl ``compute_score``, both on :func:`score`.

- :func:`trl_reward` follows TRL's reward-function contract
  (``reward_func(completions, **kwargs) -> list[float | None]``): completions are strings or
  chat message lists, and the reference comes from the dataset column passed as a keyword
  (``ground_truth``, ``solution``, ``answer``, ``gold`` or ``reference``, first found); the ability
  from ``ability`` (per row or one value; default ``"math"``).
- :func:`verl_compute_score` follows verl's ``compute_score(data_source, solution_str,
  ground_truth, extra_info=None)``: data sources of code datasets (apps, codecontests, codeforces,
  taco, ...) score as code, everything else as math.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prime_fast.errors import UnsupportedInputError
from prime_fast.verify.scoring import score

__all__ = ["GOLD_KEYS", "completion_text", "trl_reward", "verl_compute_score"]

GOLD_KEYS = ("ground_truth", "solution", "answer", "gold", "reference")
_CODE_SOURCES = ("apps", "codecontests", "codeforces", "taco", "code", "leetcode", "livecodebench")


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the content of the last assistant message."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict) and isinstance(completion.get("content"), str):
        return completion["content"]
    if isinstance(completion, Sequence) and completion:
        msgs = [m for m in completion if isinstance(m, dict)]
        for m in reversed(msgs):
            if m.get("role", "assistant") == "assistant" and isinstance(m.get("content"), str):
                return m["content"]
    raise UnsupportedInputError(
        "trl_reward: each completion must be a str or a list of chat messages "
        f"({{'role': ..., 'content': str}}), got {type(completion).__name__}"
    )


def _per_row(value: Any, n: int, name: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise UnsupportedInputError(
                f"trl_reward: {name} must have one entry per completion ({n}), got {len(value)}"
            )
        return list(value)
    return [value] * n


def trl_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """TRL reward function: PRIME's outcome reward of each completion against its reference.

    Returns 1.0/0.0 for math (``None`` where the reference cannot be read) and the passing
    fraction for code.
    """
    if isinstance(completions, str) or not isinstance(completions, Sequence):
        raise UnsupportedInputError(
            f"trl_reward: completions must be a list, got {type(completions).__name__}"
        )
    n = len(completions)
    key = next((k for k in GOLD_KEYS if k in kwargs), None)
    if key is None:
        raise UnsupportedInputError(
            f"trl_reward: no reference column; pass one of {', '.join(GOLD_KEYS)} as a keyword argument"
        )
    golds = kwargs[key]
    if not isinstance(golds, (list, tuple)) or len(golds) != n:
        raise UnsupportedInputError(
            f"trl_reward: {key} must be a list with one reference per completion ({n}), "
            f"got {type(golds).__name__}"
            + (f" of length {len(golds)}" if isinstance(golds, (list, tuple)) else "")
        )
    abilities = _per_row(kwargs.get("ability", "math"), n, "ability")
    return [score(completion_text(c), g, str(a or "math")) for c, g, a in zip(completions, golds, abilities)]


def verl_compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None
) -> float:
    """verl ``compute_score``: the outcome reward of one response (0.0 when the reference is unreadable).

    ``extra_info["ability"]`` (``"math"`` or ``"code"``) overrides the choice made from
    ``data_source``.
    """
    ability = None
    if isinstance(extra_info, dict):
        ability = extra_info.get("ability")
    if ability is None:
        src = str(data_source or "").lower()
        ability = "code" if any(s in src for s in _CODE_SOURCES) else "math"
    result = score(solution_str, ground_truth, str(ability))
    return 0.0 if result is None else float(result)
