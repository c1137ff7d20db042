"""What the trainer asks of the code that runs it: its model and data paths, and in-training benchmark evaluation.

The trainer owns these interfaces and imports neither implementation: ``prime-fast train`` passes the
embedded demo's :func:`prime_fast.demo.assets.prepare_demo` and the eval command's
:func:`prime_fast.eval.training.evaluate_in_training`; any callable of the same form works.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from prime_fast.trainer.schema import TrainConfig


class AssetPreparer(Protocol):
    """``(policy_path, train_files, val_files)`` of a run, built in ``run_dir`` where needed (called on
    every rank; the main rank first, the others after a barrier)."""

    def __call__(self, cfg: TrainConfig, run_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]: ...


class BenchmarkEvaluator(Protocol):
    """Evaluates ``options["benches"]`` (``NAME=FILE`` entries) on the live rollout ``backend`` and writes
    its files under ``out_dir``; returns flat metrics ``eval/<bench>/<metric>``. ``options`` holds the
    ``[eval]`` settings: ``benches``, ``n``, ``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``ks``,
    ``template``, ``system_prompt``, ``max_prompt_length``, ``error_score``."""

    def __call__(
        self, *, backend: Any, tokenizer: Any, out_dir: Path, options: Mapping[str, Any]
    ) -> dict[str, float]: ...


__all__ = ["AssetPreparer", "BenchmarkEvaluator"]
