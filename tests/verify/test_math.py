"""End-to-end checks of the math verifier through the Python API (Rust core underneath)."""

from __future__ import annotations

import pytest
from prime_fast.errors import UnsupportedInputError
from prime_fast.verify import extract_answer, math_equal, score, verify_math, verify_math_batch
from prime_fast.verify.math import Status, Verdict, policy_keys, score_math


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5"),
        ("\\boxed{10{,}000}", "10000"),
        ("The final answer is $\\dfrac{3}{4}$. I hope it is correct.", "\\frac34"),
        ("Answer: 7 3/4", "\\frac{31}{4}"),
        ("\\boxed{x = 3}", "3"),
        ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}"),
        ("\\boxed{(1, 2]}", "\\left(1,2\\right]"),
        ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}"),
        ("\\boxed{1011_2}", "11"),
    ],
)
def test_correct(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert isinstance(v, Verdict)
    assert v.status is Status.CORRECT, v
    assert v.correct and v.score == 1.0


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("\\boxed{9999}", "10{,}000"),
        ("\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}"),
        ("\\boxed{[1, 2]}", "(1, 2]"),
        ("\\boxed{(2, 1)}", "(1, 2)"),
        ("\\boxed{1021_3}", "1022_3"),
    ],
)
def test_incorrect(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert v.status is Status.INCORRECT, v
    assert v.score == 0.0


def test_statuses_and_score() -> None:
    assert verify_math("no number here at all, friend", "3").status is Status.UNPARSEABLE
    assert verify_math("\\boxed{3}", "").status is Status.GOLD_UNPARSEABLE
    assert score_math("\\boxed{3}", "") is None
    assert score_math("\\boxed{3}", ["4", "3"]) == 1.0
    assert score_math("\\boxed{5}", ["4", "3"]) == 0.0
    assert score("\\boxed{5}", "5", "math") == 1.0
    v = verify_math("\\boxed{10^{10^{10^{10}}}}", "5")
    assert v.status is Status.TIMEOUT and "budget" in v.reason
    assert Status.CORRECT == "correct"


def test_extract_and_equal() -> None:
    assert extract_answer("blah \\boxed{\\frac{a}{b}} done") == "\\frac{a}{b}"
    assert extract_answer("nothing to see, move along please") is None
    assert math_equal("10%", "0.1")
    assert math_equal("10", "10\\%")
    assert not math_equal("10", "10\\%", percent="strict")
    assert not math_equal("10", "0.1")
    assert math_equal("2/4", "1/2")
    assert not math_equal("2/4", "1/2", unreduced_fractions=False)
    assert "percent" in policy_keys()


def test_batch_matches_single() -> None:
    responses = [f"\\boxed{{{i}/{i + 1}}}" for i in range(50)]
    golds = [f"\\frac{{{i}}}{{{i + 1}}}" if i % 3 else "0.5" for i in range(50)]
    batch = verify_math_batch(responses, golds, num_threads=2)
    single = [verify_math(r, g) for r, g in zip(responses, golds)]
    assert batch == single
    # Rows with i % 3 != 0 match exactly; the others compare i/(i+1) with 1/2, never equal there.
    assert sum(v.correct for v in batch) == 33


def test_bad_arguments() -> None:
    with pytest.raises(UnsupportedInputError, match="responses and golds must have the same length"):
        verify_math_batch(["1"], ["1", "2"])
    with pytest.raises(UnsupportedInputError, match=r"golds\[1\] must be a str"):
        verify_math_batch(["1", "2"], ["1", 2])  # type: ignore[list-item]
    with pytest.raises(UnsupportedInputError, match="unknown math policy key"):
        math_equal("1", "1", nonsense=True)
    with pytest.raises(UnsupportedInputError, match="response must be a str"):
        verify_math(3, "3")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedInputError, match="num_threads"):
        verify_math_batch(["1"], ["1"], num_threads=0)
