"""``benches.error_kinds.classify``: hand-made responses of the demo task, one per verdict and kind."""

from __future__ import annotations

import pytest

from benches.error_kinds import classify

Q = "9-6-9-1=?"  # running values 3, -6, -7


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("9-6=3,3-9=-6,-6-1=-7.\\boxed{-7}", ("faithful", "")),
        # the habit slip (-6 copied as -5) silently corrected by the next result: right answer, wrong step
        ("9-6=3,3-9=-6,-5-1=-7.\\boxed{-7}", ("unfaithful", "habit")),
        ("9-6=3,3-9=-6,-5-1=-6.\\boxed{-6}", ("wrong", "habit")),
        ("9-6=3,1-9=-8,-8-1=-9.\\boxed{-9}", ("wrong", "copy")),
        ("9-6=3,3-9=-5,-5-1=-6.\\boxed{-6}", ("wrong", "arith")),
        ("9-6=3,3-9=-6.\\boxed{-6}", ("wrong", "format")),
    ],
)
def test_classify_hand_made_responses(response: str, expected: tuple[str, str]) -> None:
    assert classify(Q, response) == expected


def test_classify_names_a_malformed_question() -> None:
    with pytest.raises(ValueError, match="question must look like"):
        classify("what is 2+2", "4")
