"""What the trainer asks of the code that runs it: its model and data paths, and in-training benchmark evaluation.

The trainer owns these interfaces and imports neither implementation: ``prime-fast train`` passes the
embedded demo's :func:`prime_fast.demo.assets.prepare_demo` and the eval command's
:func:`prime_fast.eval.training.evaluate_in_training`; any callable of the same form works.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from prime_fast.errors import ConfigError
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


def given_assets(cfg: TrainConfig, run_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The config's own model and data (the default ``prepare`` of :func:`prime_fast.trainer.loop.train`): ``(policy_path,
    train_files, val_files)``. The embedded demo's assets are built by :func:`prime_fast.demo.assets.prepare_demo`,
    which ``prime-fast train`` passes instead."""
    if cfg.model.path == "demo" or not cfg.data.train_files:
        raise ConfigError(
            "model.path = 'demo' or an empty data.train_files asks for the embedded demo's assets, which "
            "this call was not given: run `prime-fast train`, call prime_fast.demo.assets.train(...), or pass "
            "prepare=prime_fast.demo.assets.prepare_demo (else set model.path and data.train_files)"
        )
    return cfg.model.path, cfg.data.train_files, cfg.data.val_files


def eval_options(cfg: TrainConfig) -> dict[str, Any]:
    """The ``options`` a :class:`BenchmarkEvaluator` receives, from the ``[eval]`` section (and the data,
    rollout and verify settings it shares with training)."""
    e = cfg.eval
    return {
        "benches": list(e.benches),
        "n": e.n,
        "temperature": e.temperature,
        "top_p": e.top_p,
        "max_tokens": e.max_tokens or cfg.rollout.max_tokens,
        "seed": cfg.trainer.seed,
        "ks": e.ks,
        "template": e.template,
        "system_prompt": cfg.data.system_prompt,
        "max_prompt_length": cfg.data.max_prompt_length,
        "error_score": cfg.verify.error_score,
    }


__all__ = ["AssetPreparer", "BenchmarkEvaluator", "eval_options", "given_assets"]
