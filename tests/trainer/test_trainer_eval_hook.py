"""The trainer's in-training evaluation (``[eval]``): metrics in metrics.jsonl, files per step, errors."""

from __future__ import annotations

import json

import pytest

from prime_fast.demo.assets import train
from prime_fast.demo.task import make_rows, write_jsonl
from prime_fast.errors import ConfigError
from prime_fast.eval.training import evaluate_in_training
from prime_fast.trainer.config import load_config


def test_eval_every_logs_benchmark_metrics(tmp_path, tiny_overrides) -> None:
    bench = write_jsonl(make_rows(4, 7, "val"), tmp_path / "arith.jsonl")
    run = tmp_path / "run"
    over = [*tiny_overrides(str(run), steps=2), "eval.every=2", f'eval.benches=["arith={bench}"]', "eval.n=2"]
    train(load_config(None, over), run, evaluator=evaluate_in_training)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert "eval/arith/greedy" not in rows[1]  # step 1: not an eval step
    last = rows[2]
    for key in ("eval/arith/greedy", "eval/arith/avg@2", "eval/arith/pass@1", "time/eval"):
        assert key in last, key
    assert 0.0 <= last["eval/arith/greedy"] <= 1.0
    samples = (run / "eval" / "step_2" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 4 * 3  # greedy + n = 2 samples per problem
    res = json.loads((run / "eval" / "step_2" / "results.json").read_text())
    assert "arith" in json.dumps(res)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        (["eval.every=1"], r"eval\.benches"),
        (['eval.benches=["noequals"]'], r"eval\.benches.*NAME=FILE"),
        (["eval.n=0"], r"eval\.n"),
    ],
)
def test_eval_config_errors(over, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, over)


def test_benches_without_an_evaluator_are_a_clear_error(tmp_path, tiny_overrides) -> None:
    # The trainer never imports the eval package: a library caller who sets eval.benches passes the evaluator.
    bench = write_jsonl(make_rows(2, 7, "val"), tmp_path / "arith.jsonl")
    over = [
        *tiny_overrides(str(tmp_path / "run"), steps=1),
        "eval.every=1",
        f'eval.benches=["arith={bench}"]',
    ]
    with pytest.raises(ConfigError, match="no evaluator was given"):
        train(load_config(None, over), tmp_path / "run")
