"""Answer forms of NuminaMath/OpenThoughts-style data (issue 12), each with near-miss negatives.

Full responses (extraction included) against references, default policies unless stated.
"""

from __future__ import annotations

import pytest

from prime_fast.verify import verify_math

PMATRIX = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"

EQUAL = [
    # math after a word, display math over lines
    ("Answer \\[ 7 \\]", "7"),
    ("Answer \\( 7 \\)", "7"),
    ("so we get $$ \n 7 \n $$", "7"),
    ("The answer is \\( \\frac{3}{4} \\).", "0.75"),
    # a worked solution as the reference
    ("so x = 5", "We solve: since $2x=10$, we get $x = \\boxed{5}$."),
    (
        "Final Answer: The final answer is $12$.",
        "First we note $3 \\cdot 4 = 12$, so the total is $12$ in all.",
    ),
    # several boxes joined by words
    ("\\boxed{(1,3)} and \\boxed{(5,3)}", "(1,3),(5,3)"),
    ("\\boxed{3} cats and \\boxed{4} dogs", "3,4"),
    ("$\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}$", "k = 45, n = 2"),
    # a final statement after the last box wins
    ("so \\boxed{255} dollars. Final Answer: The final answer is $10,455$.", "10455"),
    # prose after "final answer"
    ("Final Answer: The largest $n$ is 34.", "34"),
    # matrices in running text, labelled
    (f"The matrix is {PMATRIX.replace('pmatrix', 'bmatrix')}.", PMATRIX),
    (f"Thus $M = {PMATRIX}$.", PMATRIX),
    # labelled and multi-answers
    ("\\boxed{a = 12, b = 5}", "12, 5"),
    ("\\boxed{p=3,q=2;p=5,q=2}", "(3,2),(5,2)"),
    # multiple choice
    ("The answer is B. y = 17", "B"),
    ("\\boxed{B. y = 17}", "B"),
    # inline math spans joined by commas and a connective form one answer
    ("Thus the solutions are $x=1$ and $x=2$.", "1,2"),
    ("so $x=1$, $x=2$ or $x=3$", "1,2,3"),
    ("we have $a=3$, so the answer is $7$.", "7"),
    # glued digits in prose are not numbers; the last real number is
    ("the value is 42, not AZYUK2A", "42"),
]

DIFFERENT = [
    ("Answer \\[ 8 \\]", "7"),
    ("so x = 6", "We solve: since $2x=10$, we get $x = \\boxed{5}$."),
    ("\\boxed{(1,3)} and \\boxed{(5,4)}", "(1,3),(5,3)"),
    # boxes in separate sentences are not joined: the last one is the answer
    ("\\boxed{3}. Later we see that \\boxed{4}", "3,4"),
    ("\\boxed{1} no no no \\boxed{2}", "1,2"),
    (f"Thus $M = {PMATRIX}$.", PMATRIX.replace("4", "5")),
    ("\\boxed{p=3,q=2;p=5,q=2}", "(2,3),(2,5)"),
    ("The answer is B. y = 17", "C"),
    ("AZYUK2A", "2"),
    ("Thus the solutions are $x=1$ and $x=2$.", "2"),
    ("the values $1$, $2$", "1, 2"),
    # rounding an irrational value is not its value by default
    ("\\boxed{15.71}", "5\\pi"),
    ("\\boxed{1.41}", "\\sqrt2"),
]


@pytest.mark.parametrize(("response", "gold"), EQUAL)
def test_equal(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert v.correct, v


@pytest.mark.parametrize(("response", "gold"), DIFFERENT)
def test_near_miss(response: str, gold: str) -> None:
    v = verify_math(response, gold)
    assert not v.correct, v


def test_approximation_is_opt_in() -> None:
    assert verify_math("\\boxed{15.71}", "5\\pi", approx_irrational=True).correct
    assert not verify_math("\\boxed{15.70}", "5\\pi", approx_irrational=True).correct


def test_function_heads_policy() -> None:
    assert verify_math("\\boxed{y = 3x+1}", "g(x) = 3x+1").correct
    assert not verify_math("\\boxed{y = 3x+1}", "g(x) = 3x+1", function_heads=False).correct


def test_decimal_comma_policy() -> None:
    assert verify_math("\\boxed{3,25}", "3.25").correct
    assert not verify_math("\\boxed{3,25}", "3.25", decimal_comma="never").correct
    assert not verify_math("\\boxed{3,5}", "3.5").correct
    assert verify_math("\\boxed{3,5}", "3.5", decimal_comma="always").correct
