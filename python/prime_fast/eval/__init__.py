"""``prime-fast eval``: the paper's benchmark table for any checkpoint (docs/EVAL.md).

- :func:`evaluate` (:mod:`prime_fast.eval.api`): benchmarks -> greedy pass@1, avg@n, pass@k, maj@k and
  PRM best-of-k, with ``results.json``, ``samples.jsonl``, a markdown table and a chart;
- :func:`evaluate_prm_steps` (:mod:`prime_fast.eval.steps`): ProcessBench-style step-level evaluation
  of an implicit PRM;
- modules: ``data`` (benchmark formats), ``templates``, ``engine`` (a checkpoint's generation engine),
  ``generate`` (cached generation), ``training`` (the trainer's benchmark evaluator),
  ``answers`` (answer groups), ``metrics``, ``prm`` (implicit PRM scores), ``report``; responses are verified by :mod:`prime_fast.verify.batch`.

Importing this package does not import torch; the names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prime_fast.eval.api import EvalResult, evaluate
    from prime_fast.eval.steps import evaluate_prm_steps

__all__ = ["EvalResult", "evaluate", "evaluate_prm_steps"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "EvalResult"):
        from prime_fast.eval import api

        return getattr(api, name)
    if name == "evaluate_prm_steps":
        from prime_fast.eval.steps import evaluate_prm_steps

        return evaluate_prm_steps
    raise AttributeError(f"module 'prime_fast.eval' has no attribute {name!r}")
