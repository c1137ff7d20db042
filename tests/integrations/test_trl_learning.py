"""The learning claims of issue 23 on the embedded task (slow tier, minutes each on a 2-core CPU): from the demo's
SFT warm-start (held-out greedy accuracy 0.380), ``PrimeGRPOTrainer`` and plain ``GRPOTrainer`` with
``math_reward`` raise it in 40 steps.

Measured (2-core CPU VM, TRL 1.16, torch 2.13.0+cpu, one held-out evaluation of 200 problems at the end):
``PrimeGRPOTrainer`` +0.215, +0.085, +0.225, +0.320, +0.240 with seeds 0-4 (mean +0.217; issue 23's +0.15 is
reached on the mean and on 4 of 5 seeds);
``GRPOTrainer`` +0.270 (seed 0). The bounds keep margin below the least gain seen; one evaluation's noise is
about 0.035."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trl_prime_grpo.py"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("trl_prime_grpo", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trl_demo")  # the SFT warm-start is built once, shared by both runs


def test_prime_grpo_trainer_learns(run_dir: Path) -> None:
    res = _example().main(["--out", str(run_dir), "--steps", "40"])
    assert res["trainer"] == "PrimeGRPOTrainer"
    assert res["gain"] >= 0.05, res


def test_plain_grpo_with_math_reward_learns(run_dir: Path) -> None:
    res = _example().main(["--out", str(run_dir), "--steps", "40", "--baseline"])
    assert res["trainer"] == "GRPOTrainer"
    assert res["gain"] >= 0.05, res
