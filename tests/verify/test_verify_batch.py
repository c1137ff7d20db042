"""The one batch scorer (prime_fast.verify.batch): one native call per kind, per-row fallback, failures
isolated to their row, the same verdicts as the single-row verifiers."""

from __future__ import annotations

import json
import logging

import pytest

from prime_fast.verify import batch, score
from prime_fast.verify import code as code_module

DOUBLE = {"inputs": ["2\n", "5\n"], "outputs": ["4\n", "10\n"]}


def test_scores_by_ability_in_one_call_per_kind(caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = code_module.verify_code_batch

    def spy(programs, tests, **kw):  # the real pooled verifier, counting its calls
        calls.append(len(programs))
        return real(programs, tests, **kw)

    monkeypatch.setattr(code_module, "verify_code_batch", spy)
    texts = [
        "1+2=3.\\boxed{3}",
        "\\boxed{4}",
        "so \\boxed{-2}",
        "\\boxed{7}",
        "\\boxed{5}",
        "```python\nimport time\ntime.sleep(0.3)\nprint(int(input()) * 2)\n```",
        "```python\nprint(int(input()) + 2)\n```",  # right on the first test only
        "print(1)",
        "\\boxed{3}",
    ]
    golds = ["3", "3", "-2", ["6", "7"], "5", DOUBLE, json.dumps(DOUBLE), {"inputs": 3}, None]
    abilities = ["math", "math", "MATH", "math", "poetry", "code", "coding", "code", "math"]
    with caplog.at_level(logging.WARNING, logger="prime_fast.verify.batch"):
        scores, seconds = batch.score_batch(texts, golds, abilities, error_score=0.25)
    # Row 4: unknown ability; row 7: malformed tests; row 8: no reference (each scores error_score).
    assert scores == [1.0, 0.0, 1.0, 1.0, 0.25, 1.0, 0.5, 0.25, 0.25]
    assert "unknown ability 'poetry'" in caplog.text
    assert "malformed code tests" in caplog.text
    assert calls == [3]  # every code row of the batch in one pooled call
    assert seconds >= 0.3  # covers the code run (its first program sleeps 0.3 s per test)
    rows = batch.score_rows(texts, golds, abilities, error_score=0.25)
    assert [v.correct for v in rows] == [True, False, True, True, False, True, False, False, False]
    assert rows[4].status == "error" and "poetry" in (rows[4].error or "")
    assert rows[7].status == "invalid_input" and rows[8].error == "no reference answer"
    assert rows[0].extracted == "3" and rows[6].status == "wrong_answer"


def test_agrees_with_the_single_row_scorer() -> None:
    texts = [f"the answer is \\boxed{{{a}}}" for a in ("1/2", "0.5", "\\frac{2}{4}", "3", "x+1", "1+x")]
    golds = ["0.5", "1/2", "0.5", "4", "x+1", "x+1"]
    got, _ = batch.score_batch(texts, golds, ["math"] * len(texts))
    assert got == [score(t, g, "math") for t, g in zip(texts, golds)] == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_a_failing_batch_falls_back_to_rows(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    import prime_fast.verify.math as verify_math

    real = verify_math.verify_math_batch

    def flaky(responses, golds, **kw):
        if len(responses) > 1:
            raise RuntimeError("batch broke")
        return real(responses, golds, **kw)

    monkeypatch.setattr(verify_math, "verify_math_batch", flaky)
    with caplog.at_level(logging.WARNING, logger="prime_fast.verify.batch"):
        got, _ = batch.score_batch(["\\boxed{2}", "\\boxed{3}"], ["2", "2"], ["math", "math"])
    assert got == [1.0, 0.0]
    assert "batch math verification failed (RuntimeError: batch broke); scoring row by row" in caplog.text


def test_rows_must_align() -> None:
    with pytest.raises(ValueError, match="one entry per row, got 2, 1 and 2"):
        batch.score_rows(["a", "b"], ["1"], ["math", "math"])


def test_majority_rewards_follow_the_groups_majority_cluster() -> None:
    texts = [
        r"so \boxed{1/2}",
        r"\boxed{0.5}",
        r"\boxed{3}",
        "no answer here",  # group 1: 1/2 wins (two equivalent forms)
        r"\boxed{7}",
        r"\boxed{8}",
        r"\boxed{8}",
        r"\boxed{7}",  # group 2: a tie goes to the cluster seen first (7)
    ]
    rewards, _ = batch.majority_rewards(texts, 4)
    assert rewards == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="divide the 8 texts"):
        batch.majority_rewards(texts, 3)
