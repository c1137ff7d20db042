"""The first reward adapters (``trl_reward``, verl's ``compute_score``), now in prime_fast.integrations."""

from __future__ import annotations

import pytest

from prime_fast.errors import UnsupportedInputError
from prime_fast.integrations.rows import completion_text
from prime_fast.integrations.trl_rewards import trl_reward
from prime_fast.integrations.verl import compute_score as verl_compute_score


def test_trl_strings_and_messages() -> None:
    completions = [
        "so \\boxed{4}",
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The answer is 5"}],
        "\\boxed{\\frac{1}{2}}",
        "\\boxed{7}",
    ]
    out = trl_reward(completions, ground_truth=["4", "6", "0.5", ""], prompts=["p"] * 4)
    assert out == [1.0, 0.0, 1.0, None]


def test_trl_gold_column_names_and_lists() -> None:
    assert trl_reward(["\\boxed{3}"], solution=["3"]) == [1.0]
    assert trl_reward(["\\boxed{3}"], answer=[["2", "3"]]) == [1.0]
    assert trl_reward(["\\boxed{3}"], answer=["2"], ability=["math"]) == [0.0]


def test_trl_bad_arguments() -> None:
    with pytest.raises(UnsupportedInputError, match="no reference column"):
        trl_reward(["\\boxed{3}"])
    with pytest.raises(UnsupportedInputError, match="one entry per completion"):
        trl_reward(["\\boxed{3}", "x"], ground_truth=["3"])
    with pytest.raises(UnsupportedInputError, match="completions must be a list"):
        trl_reward("\\boxed{3}", ground_truth=["3"])  # type: ignore[arg-type]
    with pytest.raises(UnsupportedInputError, match="chat messages"):
        completion_text(42)
    with pytest.raises(UnsupportedInputError, match="unknown ability"):
        trl_reward(["1"], ground_truth=["1"], ability="poetry")


def test_verl_compute_score() -> None:
    assert verl_compute_score("numina_olympiads", "thus \\boxed{12}", "12") == 1.0
    assert verl_compute_score("numina_olympiads", "thus \\boxed{13}", "12") == 0.0
    assert verl_compute_score("numina_synthetic_math", "\\boxed{x}", "") == 0.0
    assert verl_compute_score("anything", "\\boxed{2}", "2", extra_info={"ability": "math"}) == 1.0
