"""Verification by ability: one batch call per kind (math, code), per-row fallback, failures isolated
to their row."""

from __future__ import annotations

import json
import logging

import pytest

from prime_fast.trainer import verification
from prime_fast.trainer.verification import Verifier, score_all

DOUBLE = {"inputs": ["2\n", "5\n"], "outputs": ["4\n", "10\n"]}


def test_scores_by_ability_and_isolates_bad_rows(caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = verification.verify_code_batch

    def spy(programs, tests, **kw):  # the real pooled verifier, counting its calls
        calls.append(len(programs))
        return real(programs, tests, **kw)

    monkeypatch.setattr(verification, "verify_code_batch", spy)
    texts = [
        "1+2=3.\\boxed{3}",
        "\\boxed{4}",
        "so \\boxed{-2}",
        "\\boxed{7}",
        "\\boxed{5}",
        "```python\nimport time\ntime.sleep(0.3)\nprint(int(input()) * 2)\n```",
        "```python\nprint(int(input()) + 2)\n```",  # right on the first test only
        "print(1)",
    ]
    golds = ["3", "3", "-2", ["6", "7"], "5", DOUBLE, json.dumps(DOUBLE), {"inputs": 3}]
    abilities = ["math", "math", "MATH", "math", "poetry", "code", "coding", "code"]
    with caplog.at_level(logging.WARNING, logger="prime_fast.trainer.verification"):
        scores, seconds = score_all(texts, golds, abilities, error_score=0.25)
    # Row 4: unknown ability; row 7: malformed tests (both score verify.error_score).
    assert scores == [1.0, 0.0, 1.0, 1.0, 0.25, 1.0, 0.5, 0.25]
    assert "verifier failed on one row (UnsupportedInputError" in caplog.text
    assert "malformed code tests" in caplog.text
    assert calls == [3]  # every code row of the round in one pooled call
    assert seconds >= 0.3  # covers the code run (its first program sleeps 0.3 s per test)


def test_background_and_inline_agree() -> None:
    texts = [f"\\boxed{{{i % 7}}}" for i in range(64)]
    golds = [str(i % 5) for i in range(64)]
    abilities = ["math"] * 64
    bg, inline = Verifier(overlap=True), Verifier(overlap=False)
    try:
        a = bg.submit(texts, golds, abilities).result()[0]
        b = inline.submit(texts, golds, abilities).result()[0]
    finally:
        bg.close()
        inline.close()
    assert a == b == [1.0 if i % 7 == i % 5 else 0.0 for i in range(64)]


def test_majority_rewards_follow_the_groups_majority_cluster() -> None:
    from prime_fast.trainer.verification import majority_rewards

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
    rewards, seconds = majority_rewards(texts, 4)
    assert rewards == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert seconds >= 0.0 and len(rewards) == len(texts)


def test_majority_reward_trains_without_references(tmp_path, tiny_overrides) -> None:
    import json

    from prime_fast.trainer.config import load_config
    from prime_fast.trainer.loop import train

    run = tmp_path / "run"
    train(load_config(None, [*tiny_overrides(str(run), steps=1), "verify.reward=majority"]), run)
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[1])
    assert 0.0 <= row["train/acc"] <= 1.0
