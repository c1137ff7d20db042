"""Policy switches, budgets, verdict fields, GIL release and fork safety of the math verifier."""

from __future__ import annotations

import multiprocessing
import threading
import warnings

import pytest

from prime_fast.errors import UnsupportedInputError
from prime_fast.verify.math import (
    Status,
    extract_answer,
    math_equal,
    normalize_answer,
    policy_keys,
    verify_math,
    verify_math_batch,
)


@pytest.mark.parametrize(
    ("pred", "gold", "policy", "want"),
    [
        ("10", "10\\%", {}, True),
        ("10", "10\\%", {"percent": "strict"}, False),
        ("0.1", "10\\%", {"percent": "strict"}, True),
        ("2, 1", "1, 2", {}, True),
        ("2, 1", "1, 2", {"unordered_lists": False}, False),
        ("5 cm", "5", {}, True),
        ("5 cm", "5", {"units": False}, False),
        ("0.333", "\\frac13", {}, True),
        ("0.333", "\\frac13", {"approx_decimals": False}, False),
        ("0.33", "\\frac13", {"min_sig_digits": 2}, True),
        ("x = 1 + 1 = 2", "2", {}, True),
        ("x + 1 = 1 + 1 + 1", "2", {"equation_chains": False}, False),
        ("3,5", "3.5", {"decimal_comma": True}, True),
        ("3,5", "3.5", {}, False),
        ("\\frac{2}{4}", "\\frac12", {"unreduced_fractions": False}, False),
        ("(1,2)", "1<x<2", {}, True),
        ("1<x<2", "(1,2)", {}, False),
        ("1<x<2", "(1,2)", {"relation_interval": "both"}, True),
        ("(1,2)", "1<x<2", {"relation_interval": "never"}, False),
        ("2\\frac{1}{2}", "2.5", {}, True),
        ("2\\frac{1}{2}", "1", {"mixed_numbers": False}, True),
        ("(c^d)^e", "c^{de}", {}, False),
        ("(c^d)^e", "c^{de}", {"strict_exponents": False}, True),
    ],
)
def test_policy_switches(pred: str, gold: str, policy: dict[str, object], want: bool) -> None:
    assert math_equal(pred, gold, **policy) is want


def test_policy_keys_and_errors() -> None:
    keys = policy_keys()
    for k in ("percent", "timeout_ms", "max_bits", "extract_order", "relation_interval"):
        assert k in keys
    with pytest.raises(UnsupportedInputError, match="percent"):
        math_equal("1", "1", percent="sometimes")
    with pytest.raises(UnsupportedInputError, match="must be a bool"):
        math_equal("1", "1", units="yes")
    with pytest.raises(UnsupportedInputError, match="unknown extractor"):
        extract_answer("x", extract_order=["boxed", "psychic"])
    with pytest.raises(UnsupportedInputError, match="positive number"):
        verify_math("1", "1", timeout_ms=-1)


def test_extract_order_and_boxes() -> None:
    text = "The answer is 4. Actually \\boxed{5} and \\boxed{6}."
    assert extract_answer(text) == "5, 6"
    assert extract_answer(text, join_boxes=False) == "6"
    assert extract_answer(text, extract_order=["answer"]) == "4"
    assert extract_answer("Final answer: 12") == "12"


def test_verdict_fields_and_budgets() -> None:
    v = verify_math("we get $\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}")
    assert v.extracted == "\\dfrac{1}{2}"
    assert v.normalized_pred == "\\frac{1}{2}" and v.normalized_gold == "\\frac{1}{2}"
    assert v.to_dict()["status"] == "correct" and v.to_dict()["score"] == 1.0
    v = verify_math("\\boxed{2^{100000}}", "3")
    assert v.status is Status.TIMEOUT and "max_bits" in v.reason
    v = verify_math("\\boxed{2^{100000}}", "3", max_bits=200_000)
    assert v.status is Status.INCORRECT
    v = verify_math("\\boxed{1021_2}", "5")
    assert v.status is Status.UNPARSEABLE and "base 2" in v.reason
    assert normalize_answer("10{,}000\\text{ cm}") == "10000"
    assert normalize_answer("1021_2") is None


def test_batch_releases_the_gil() -> None:
    n = 10_000
    responses = [f"\\boxed{{\\frac{{{i}}}{{{i + 1}}}}}" for i in range(n)]
    golds = [f"{i}/{i + 1}" for i in range(n)]
    ticks = 0
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks
        out = verify_math_batch(responses, golds, num_threads=1)
        during = ticks - before
    finally:
        done.set()
        t.join()
    assert all(v.correct for v in out)
    # With the GIL held for the whole batch the other thread could not run at all.
    assert during > 0


def _child(q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out = verify_math_batch(["\\boxed{1}", "\\boxed{2}"] * 50, ["1", "3"] * 50, num_threads=2)
    q.put(sum(v.correct for v in out))


def test_batch_pool_survives_fork() -> None:
    verify_math_batch(["1"] * 8, ["1"] * 8, num_threads=2)  # builds the pool in the parent
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    with warnings.catch_warnings():
        # Python >= 3.12 warns when forking a multi-threaded process: that is the point here.
        warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
        p.start()
    p.join(60)
    assert p.exitcode == 0, "child hung or crashed using the thread pool after fork"
    assert q.get(timeout=5) == 50
