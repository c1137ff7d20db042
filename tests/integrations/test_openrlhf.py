"""OpenRLHF's reward-function contract, exercised as OpenRLHF loads and calls the file (OpenRLHF itself needs CUDA
and DeepSpeed to install, so it is not imported): ``spec_from_file_location("reward_func", path)``, the module's
``reward_func(queries, prompts, labels)``, a dict of tensors back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import prime_fast.integrations.openrlhf as module  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FILES = [Path(module.__file__), ROOT / "examples" / "openrlhf_reward_func.py"]
TESTS = json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})
PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


def _load(path: Path) -> Any:
    """What OpenRLHF does with the ``--reward.remote_url`` file."""
    spec = importlib.util.spec_from_file_location("reward_func", str(path))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.reward_func


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_reward_file_as_openrlhf_loads_it(path: Path) -> None:
    reward_func = _load(path)
    prompts = ["<u>2+2=?<a>", "<u>1/2=?<a>", "<u>add<a>", "<u>add<a>", "<u>q<a>"]
    responses = ["2+2=4.\\boxed{4}<eos>", "\\boxed{0.6}", PROGRAM, "```python\nprint(0)\n```", "\\boxed{1}"]
    labels = ["4", "0.5", TESTS, TESTS, ""]
    out = reward_func([p + r for p, r in zip(prompts, responses)], prompts, labels)
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert out["rewards"].dtype == torch.float32 and out["rewards"].shape == (5,)
    assert out["rewards"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert torch.equal(out["scores"], out["rewards"])
    assert out["extra_logs"]["prime_fast/is_code"].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]


def test_one_sample_per_call_like_the_single_turn_executor() -> None:
    reward_func = _load(FILES[0])
    out = reward_func(["<u>q<a>\\boxed{7}"], ["<u>q<a>"], ["7"])
    assert out["rewards"].tolist() == [1.0]


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="one entry per sample"):
        module.reward_func(["a", "b"], ["a"], ["1", "2"])


def test_label_kind_and_response_text() -> None:
    assert module.label_kind(TESTS) == "code"
    assert module.label_kind({"test_list": ["assert f() == 1"]}) == "code"
    assert module.label_kind("{1, 2}") == "math"
    assert module.label_kind("3") == "math"
    assert module.response_text("PROMPT answer", "PROMPT ") == "answer"
    assert module.response_text("other", "PROMPT") == "other"
