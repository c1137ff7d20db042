"""The first reward adapters, kept as thin aliases of :mod:`prime_fast.integrations` (docs/INTEGRATIONS.md).

- :func:`trl_reward`: one TRL reward function for math and code rows together (by the ``ability`` column,
  default math), the reference read from the first present of ``ground_truth``, ``solution``, ``answer``,
  ``gold``, ``reference``, ``reward_model``; prefer :func:`prime_fast.integrations.trl.math_reward` and
  :func:`~prime_fast.integrations.trl.code_reward`.
- :func:`verl_compute_score`: :func:`prime_fast.integrations.verl.compute_score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prime_fast.errors import UnsupportedInputError
from prime_fast.integrations.rows import REFERENCE_COLUMNS, completion_text, find_column, kind_of, per_row
from prime_fast.integrations.trl_rewards import VerifierReward
from prime_fast.integrations.verl import compute_score as verl_compute_score

__all__ = ["GOLD_KEYS", "completion_text", "trl_reward", "verl_compute_score"]

GOLD_KEYS = REFERENCE_COLUMNS


def trl_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """TRL reward function: math rows 1.0/0.0 (None where the reference cannot be read), code rows PRIME's
    passing fraction; an ability other than math or code raises ``UnsupportedInputError``."""
    if isinstance(completions, str) or not isinstance(completions, Sequence):
        raise UnsupportedInputError(
            f"trl_reward: completions must be a list, got {type(completions).__name__}"
        )
    col = find_column(kwargs, None, REFERENCE_COLUMNS, "trl_reward")
    abilities = per_row(kwargs.get("ability", "math"), len(completions), "ability")
    for a in abilities:
        if not kind_of(a, "math"):
            raise UnsupportedInputError(f"trl_reward: unknown ability {a!r}; expected math, code or coding")
    math = VerifierReward("math", col)(completions=completions, **kwargs)
    if all(kind_of(a, "math") == "math" for a in abilities):
        return math
    code = VerifierReward("code", col)(completions=completions, **kwargs)
    return [m if kind_of(a, "math") == "math" else c for m, c, a in zip(math, code, abilities)]
