"""``score(response, ground_truth, ability)``: PRIME's outcome reward, dispatched by ability."""

from __future__ import annotations

from typing import Any

from prime_fast.errors import UnsupportedInputError

MATH_ABILITIES = frozenset({"math"})
CODE_ABILITIES = frozenset({"code", "coding"})


def score(response: str, ground_truth: Any, ability: str = "math") -> float | None:
    """The outcome reward of one response.

    Args:
        response: the model's full response text.
        ground_truth: for math, the reference answer (a string, or a list of acceptable answers);
            for code, the tests (a dict or its JSON string: ``{"inputs": [...], "outputs": [...]}``,
            call-based with ``fn_name``, or assert-based).
        ability: ``"math"`` or ``"code"`` (``"coding"`` is accepted), as in Eurus-2-RL-Data.

    Returns:
        1.0 or 0.0 for math (``None`` when the reference itself cannot be parsed), and PRIME's
        partial credit for code (1.0 when every test passes, else the passing fraction of the
        first 10 tests).
    """
    if not isinstance(response, str):
        raise UnsupportedInputError(f"score: response must be a str, got {type(response).__name__}")
    if not isinstance(ability, str):
        raise UnsupportedInputError(f"score: ability must be a str, got {type(ability).__name__}")
    kind = ability.lower()
    if kind in MATH_ABILITIES:
        from prime_fast.verify.math import score_math

        return score_math(response, ground_truth)
    if kind in CODE_ABILITIES:
        from prime_fast.verify.code import score_code

        return score_code(response, ground_truth)
    raise UnsupportedInputError(
        f"score: unknown ability {ability!r}; expected one of {sorted(MATH_ABILITIES | CODE_ABILITIES)}"
    )
