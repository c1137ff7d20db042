"""TRL reward functions: TRL's contract, one batched verifier call, budgets, and a real ``GRPOTrainer``."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from prime_fast.errors import UnsupportedInputError
from prime_fast.integrations.trl import code_reward, make_code_reward, make_math_reward, math_reward
from prime_fast.verify.batch import score_rows

ADD_TESTS = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}
GOOD_PROGRAM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
HANG_MATH = "\\boxed{" + "9^{" * 40 + "9" + "}" * 40 + "}"


def test_math_reward_strings_and_conversations() -> None:
    completions = [
        "so the answer is \\boxed{4}",
        [{"role": "assistant", "content": "\\boxed{5}"}],
        "no answer",
        "\\boxed{0.5}",
    ]
    golds = ["4", "4", "4", "1/2"]
    out = math_reward(
        prompts=["p"] * 4, completions=completions, completion_ids=[[1]] * 4, ground_truth=golds
    )
    expected = [
        v.score for v in score_rows([*completions[:1], "\\boxed{5}", *completions[2:]], golds, ["math"] * 4)
    ]
    assert out == expected == [1.0, 0.0, 0.0, 1.0]


def test_rows_of_the_other_kind_are_none() -> None:
    rm = [{"ground_truth": "4"}, {"ground_truth": ADD_TESTS}]
    completions = ["\\boxed{4}", GOOD_PROGRAM]
    kwargs: dict[str, Any] = {"reward_model": rm, "ability": ["math", "code"], "trainer_state": None}
    assert math_reward(prompts=["a", "b"], completions=completions, **kwargs) == [1.0, None]
    assert code_reward(prompts=["a", "b"], completions=completions, **kwargs) == [None, 1.0]


def test_factories_name_columns_and_are_picklable() -> None:
    f = make_math_reward("answer", name="arith")
    g = pickle.loads(pickle.dumps(f))
    assert g.__name__ == "arith"
    assert g(completions=["\\boxed{3}", "\\boxed{2}"], answer=["3", ["2", "two"]]) == [1.0, 1.0]
    c = make_code_reward("cases")
    assert c(completions=[GOOD_PROGRAM, "print(0)"], cases=[json.dumps(ADD_TESTS), ADD_TESTS]) == [1.0, 0.0]


def test_unreadable_reference_is_none_or_error_score() -> None:
    assert math_reward(completions=["\\boxed{1}"], ground_truth=[None]) == [None]
    assert make_math_reward(error_score=0.0)(completions=["\\boxed{1}"], ground_truth=[None]) == [0.0]
    assert code_reward(completions=["print(1)"], tests=[{"nothing": 1}]) == [None]


def test_clear_errors() -> None:
    with pytest.raises(UnsupportedInputError, match="no reference column"):
        math_reward(completions=["\\boxed{3}"], prompt_id=[1])
    with pytest.raises(UnsupportedInputError, match="no column 'answer'"):
        make_math_reward("answer")(completions=["\\boxed{3}"], ground_truth=["3"])
    with pytest.raises(UnsupportedInputError, match="one entry per completion"):
        math_reward(completions=["\\boxed{3}", "x"], ground_truth=["3"])
    with pytest.raises(UnsupportedInputError, match="completions must be a list"):
        math_reward(completions="\\boxed{3}", ground_truth=["3"])
    with pytest.raises(UnsupportedInputError, match="kind must be"):
        make_math_reward().__class__("poetry")


def test_one_batched_native_call_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from prime_fast import _native

    calls: list[int] = []
    real = _native.verify_math_batch

    def counting(responses: list[str], golds: list[str], **kw: Any) -> Any:
        calls.append(len(responses))
        return real(responses, golds, **kw)

    monkeypatch.setattr(_native, "verify_math_batch", counting)
    n = 64
    out = math_reward(
        completions=[f"\\boxed{{{i}}}" for i in range(n)], ground_truth=[str(i % 2) for i in range(n)]
    )
    assert calls == [n]
    assert out == [1.0 if i in (0, 1) else 0.0 for i in range(n)]


def _returns(fn: Any, limit_s: float) -> Any:
    """``fn()``'s result, asserting it returned at all within a generous bound (a hang check)."""
    box: list[Any] = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), f"the reward call did not return within {limit_s} s"
    return box[0]


def test_completion_built_to_hang_returns() -> None:
    from prime_fast.verify import verify_math

    assert _returns(
        lambda: math_reward(completions=[HANG_MATH, "\\boxed{2}"], ground_truth=["1", "2"]), 60
    ) == [
        0.0,
        1.0,
    ]
    assert str(verify_math(HANG_MATH, "1").status) in ("timeout", "incorrect", "unparseable")
    loop = "```python\nwhile True:\n    pass\n```"
    tests = {"inputs": ["1 2\n"], "outputs": ["3\n"]}
    assert _returns(lambda: code_reward(completions=[loop, GOOD_PROGRAM], tests=[tests, ADD_TESTS]), 120) == [
        0.0,
        1.0,
    ]


@pytest.fixture
def trl() -> Any:
    return pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")


def test_math_reward_inside_grpo_trainer(trl: Any, tmp_path: Path) -> None:
    from _trl_setup import demo_dataset, grpo_config, tiny_model

    model, tok = tiny_model()
    seen: list[int] = []

    def spy(**kw: Any) -> list[float | None]:
        out = math_reward(**kw)
        seen.append(len(out))
        return out

    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[math_reward, spy],
        args=grpo_config(str(tmp_path)),
        train_dataset=demo_dataset(16),
        processing_class=tok,
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rewards/math_reward/mean" in h]
    assert len(logs) == 2 and seen == [4, 4]
    # conversational completions reach the function; a right answer scores 1 through TRL's own call
    state = trainer.state
    prompts = [[{"role": "user", "content": "2+2=?"}]] * 2
    completions = [
        [{"role": "assistant", "content": "2+2=4.\\boxed{4}"}],
        [{"role": "assistant", "content": "5"}],
    ]
    inputs = [{"prompt": p, "ground_truth": "4", "ability": "math"} for p in prompts]
    rewards = trainer._calculate_rewards(inputs, prompts, completions, [[1], [1]])
    assert rewards[:, 0].tolist() == [1.0, 0.0]
    assert state is trainer.state


_SAFETY_NET = pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="the hostile-completion test runs inside unshare --pid (needs root and unshare(1))",
)


@_SAFETY_NET
def test_hostile_code_completion_leaves_trainer_alive(trl: Any, tmp_path: Path) -> None:
    """A fork bomb and ``os.kill(-1, 9)`` scored inside a real ``GRPOTrainer`` (in a fresh pid namespace, so a
    sandbox escape could not harm the machine): the trainer scores them 0 and goes on training."""
    out = tmp_path / "report.json"
    child = Path(__file__).with_name("_hostile_trl_child.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            sys.executable,
            str(child),
            str(tmp_path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["rewards"] == [0.0, 0.0, 0.0, 1.0]
    assert report["trained_steps"] == 1  # written after train(): the trainer outlived its hostile rows
