"""``group_equivalent`` and ``majority_vote``: cluster ids agree with pairwise ``math_equal``."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from prime_fast.errors import UnsupportedInputError
from prime_fast.verify import group_equivalent, majority_vote, math_equal


def _forms(f: Fraction, r: random.Random) -> str:
    """One of several spellings of the rational ``f``."""
    n, d = f.numerator, f.denominator
    k = r.choice([1, 2, 3])
    forms = [f"\\frac{{{n * k}}}{{{d * k}}}", f"{n}/{d}", f"\\dfrac{{{n}}}{{{d}}}", f"x = {n}/{d}"]
    if d == 1:
        forms += [str(n), f"{n}.0", f"\\boxed{{{n}}}"]
    if 10**6 % d == 0:
        forms.append(str(float(f)))
    return r.choice(forms)


def test_groups_equal_spellings() -> None:
    ids = group_equivalent(
        ["\\boxed{1/2}", "so \\boxed{0.5}", "\\boxed{\\frac{2}{4}}", "\\boxed{3}", "\\boxed{x = 3}", ""]
    )
    assert ids == [0, 0, 0, 1, 1, -1]


@pytest.mark.parametrize("seed", range(4))
def test_ids_match_pairwise_math_equal(seed: int) -> None:
    r = random.Random(seed)
    values = [Fraction(r.randint(-6, 6), r.choice([1, 2, 4, 5])) for _ in range(8)]
    extras = ["(1, 2)", "(2, 1)", "\\{1, 2\\}", "x^2 + 2x + 1", "(x+1)^2", "\\sqrt{8}", "2\\sqrt2", "Monday"]
    answers = [_forms(r.choice(values), r) for _ in range(50)] + r.sample(extras, 6)
    r.shuffle(answers)
    ids = group_equivalent(answers, extract=False)
    assert all(i >= 0 for i in ids)
    for i, a in enumerate(answers):
        for j, b in enumerate(answers):
            eq = math_equal(a, b) or math_equal(b, a)
            assert (ids[i] == ids[j]) == eq, (a, b, ids[i], ids[j])


def test_ids_are_first_appearance_order() -> None:
    ids = group_equivalent(["7", "3", "7.0", "\\frac{6}{2}", "5"], extract=False)
    assert ids == [0, 1, 0, 1, 2]


def test_majority_vote() -> None:
    responses = ["\\boxed{1/2}", "so \\boxed{0.5}", "\\boxed{3}", "no answer here at all, sorry"]
    assert majority_vote(responses) == ("1/2", 0.5)
    # A tie goes to the cluster seen first.
    assert majority_vote(["\\boxed{3}", "\\boxed{4}", "\\boxed{4.0}", "\\boxed{3.0}"]) == ("3", 0.5)
    assert majority_vote(["no digits at all, none whatsoever"]) == (None, 0.0)
    assert majority_vote([]) == (None, 0.0)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedInputError, match="group_equivalent: answers"):
        group_equivalent("1, 2")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedInputError, match=r"answers\[1\] must be a str"):
        group_equivalent(["1", 2])  # type: ignore[list-item]
    with pytest.raises(UnsupportedInputError, match="majority_vote: responses"):
        majority_vote(None)  # type: ignore[arg-type]


def test_hostile_items_get_a_verdict() -> None:
    hostile = [
        "\\boxed{" + "{" * 50_000 + "1" + "}" * 50_000 + "}",
        "\x00\xff" * 1000,
        "a" * (1 << 20),
        "\\boxed{9^{9^{9}}}",
    ]
    ids = group_equivalent([*hostile, "\\boxed{1}"])
    assert len(ids) == 5 and ids[-1] >= 0
