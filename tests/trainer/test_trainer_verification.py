"""Verification by ability: batch math path, per-row fallback, failures isolated to their row."""

from __future__ import annotations

import logging

from prime_fast.trainer.verification import Verifier, score_all


def test_scores_by_ability_and_isolates_bad_rows(caplog) -> None:
    texts = ["1+2=3.\\boxed{3}", "\\boxed{4}", "so \\boxed{-2}", "\\boxed{7}", "\\boxed{5}"]
    golds = ["3", "3", "-2", ["6", "7"], "5"]
    abilities = ["math", "math", "MATH", "math", "poetry"]
    with caplog.at_level(logging.WARNING, logger="prime_fast.trainer.verification"):
        scores, seconds = score_all(texts, golds, abilities, error_score=0.0)
    assert scores == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert "verifier failed on one row (UnsupportedInputError" in caplog.text
    assert seconds >= 0.0


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
