"""Evaluation during training: the trainer's :class:`~prime_fast.trainer.hooks.BenchmarkEvaluator`
implemented with :func:`prime_fast.eval.evaluate` (``prime-fast train`` passes it; the trainer never
imports ``prime_fast.eval``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def evaluate_in_training(
    *, backend: Any, tokenizer: Any, out_dir: Path, options: Mapping[str, Any]
) -> dict[str, float]:
    """Evaluate ``options["benches"]`` on the trainer's live rollout engine, without progress bars or
    charts; the flat ``eval/<bench>/<metric>`` metrics."""
    from prime_fast.eval.api import evaluate

    opts = dict(options)
    benches = opts.pop("benches")
    res = evaluate(
        None,
        list(benches),
        out_dir,
        backend=backend,
        tokenizer=tokenizer,
        progress=False,
        charts=False,
        **opts,
    )
    return res.flat("eval")
