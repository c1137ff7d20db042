"""Issue 24 kinds through the Python API: multi-letter symbol names, rearranged multi-variable
rational expressions, factorials / binomials / gamma, sign-normalised and branch-respecting
powers, logarithms with bases, and answers after phrases in other languages. Each kind has near
misses; every pair is checked in both orders."""

from __future__ import annotations

import pytest

from prime_fast.verify import math_equal, verify_math
from prime_fast.verify.math import Status

# A generous clock: the test machine is shared; the budgets stay the defaults.
SLOW_OK = {"timeout_ms": 2000}

EQUAL = [
    # multi-letter names (plain text and LaTeX spell one symbol)
    ("4*theta - theta", "3\\theta"),
    ("alpha^2 - beta^2", "(\\alpha-\\beta)(\\alpha+\\beta)"),
    ("k*x_0 + k*x_1", "k(x_1+x_0)"),
    ("tau/(2*pi)", "\\frac{\\tau}{2\\pi}"),
    ("α + β", "beta + alpha"),
    # rearranged rational expressions
    ("\\frac{1}{r_1} + \\frac{1}{r_2}", "(r_1 + r_2)/(r_1 r_2)"),
    ("(u^2 - v^2)/(u + v)", "u - v"),
    ("v_0 + g*t", "g t + v_0"),
    ("\\frac{x}{x+1} - \\frac{1}{x+1}", "\\frac{x-1}{x+1}"),
    # factorials, binomials, gamma
    ("7!", "5040"),
    ("binomial(8, 4)", "70"),
    ("{8 \\choose 4}", "70"),
    ("(n+3)!", "(n+3)(n+2)(n+1) n!"),
    ("factorial(j+1)/factorial(j-1)", "j*(j+1)"),
    ("binomial(r, 3)", "r(r-1)(r-2)/6"),
    ("\\binom{m}{2} + \\binom{m}{3}", "\\binom{m+1}{3}"),
    ("gamma(4)", "6"),
    # powers
    ("(q-p)^6", "(p-q)^6"),
    ("(a-b)^{12345678}", "(b-a)^{12345678}"),
    ("(q-p)^3", "-(p-q)^3"),
    ("\\sqrt[4]{x^3}", "x^{3/4}"),
    ("(t^k)^3", "t^{3k}"),
    # logarithms
    ("log(z, 5)", "\\log_5 z"),
    ("log(32, 2)", "5"),
    ("\\ln p + \\ln q", "\\ln q + \\ln p"),
    ("\\log_2 u - \\log_2 v", "-\\log_2 v + \\log_2 u"),
]

UNEQUAL = [
    ("4*theta - theta", "4\\theta"),
    ("alpha^2 - beta^2", "(\\alpha-\\beta)^2"),
    ("k*x_0 + k*x_1", "k x_0 x_1"),
    ("\\frac{1}{r_1} + \\frac{1}{r_2}", "1/(r_1 + r_2)"),
    ("(u^2 - v^2)/(u + v)", "u + v"),
    ("7!", "720"),
    ("binomial(8, 4)", "56"),
    ("(n+3)!", "(n+3)(n+2) n!"),
    ("binomial(r, 3)", "r(r-1)(r-2)/3"),
    ("\\binom{m}{2} + \\binom{m}{3}", "\\binom{m+1}{2}"),
    ("(q-p)^3", "(p-q)^3"),
    ("(q-p)^6", "(p+q)^6"),
    ("(t^k)^u", "t^{ku}"),
    ("log(z, 5)", "log(5, z)"),
    ("log(32, 2)", "6"),
    ("\\ln p + \\ln q", "\\ln p - \\ln q"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_both_orders(a: str, b: str) -> None:
    assert math_equal(a, b, **SLOW_OK)
    assert math_equal(b, a, **SLOW_OK)


@pytest.mark.parametrize(("a", "b"), UNEQUAL)
def test_unequal_both_orders(a: str, b: str) -> None:
    assert not math_equal(a, b, **SLOW_OK)
    assert not math_equal(b, a, **SLOW_OK)


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("经过计算，所以答案是 \\frac{2}{5}", "2/5"),
        ("答案：$x = 4$", "4"),
        ("La réponse est $\\frac{7}{2}$.", "3.5"),
        ("Die Antwort ist 42.", "42"),
        ("La respuesta es 15.", "15"),
        ("Ответ: 8", "8"),
        ("答えは 6 です。", "6"),
    ],
)
def test_answers_after_words_in_other_languages(response: str, gold: str) -> None:
    v = verify_math("Let us compute 2 + 3 = 5 first.\n" + response, gold, **SLOW_OK)
    assert v.status is Status.CORRECT, v


def test_budgets_on_the_new_paths() -> None:
    for pred, gold in [("factorial(10^9)", "5"), ("binomial(10^6, 5*10^5)", "3"), ("gamma(10^9)", "1")]:
        assert verify_math(pred, gold, extract=False).status is Status.TIMEOUT
    assert math_equal("(y-b)^{10^6}", "(b-y)^{1000000}")
