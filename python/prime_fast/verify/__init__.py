"""Verifiers for LLM outputs: math answers and sandboxed code, implemented in Rust.

Importing this package does not import torch. Names are resolved from their submodules on first use:

- math (:mod:`prime_fast.verify.math`): ``extract_answer``, ``math_equal``, ``verify_math``,
  ``verify_math_batch``, ``Verdict``, ``group_equivalent`` and ``majority_vote`` (maj@k, label-free
  rewards);
- code (:mod:`prime_fast.verify.code`): ``run_code``, ``verify_code_batch``, ``CodeResult``, ``Limits``;
- ``score(response, ground_truth, ability)``: PRIME's outcome reward, dispatched by ability;
- many rows at once (:mod:`prime_fast.verify.batch`): ``score_rows`` (one native batch call per kind,
  ``RowVerdict`` per row), ``score_batch`` (the rewards), ``majority_rewards`` (label-free);
- reward adapters for TRL, verl and OpenRLHF live above this package, in :mod:`prime_fast.integrations`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "extract_answer": "math",
    "group_equivalent": "math",
    "majority_vote": "math",
    "math_equal": "math",
    "verify_math": "math",
    "verify_math_batch": "math",
    "Verdict": "math",
    "run_code": "code",
    "verify_code_batch": "code",
    "CodeResult": "code",
    "Limits": "code",
    "score": "scoring",
    "RowVerdict": "batch",
    "majority_rewards": "batch",
    "score_batch": "batch",
    "score_rows": "batch",
}

if TYPE_CHECKING:
    from prime_fast.verify.batch import RowVerdict, majority_rewards, score_batch, score_rows
    from prime_fast.verify.code import CodeResult, Limits, run_code, verify_code_batch
    from prime_fast.verify.math import (
        Verdict,
        extract_answer,
        group_equivalent,
        majority_vote,
        math_equal,
        verify_math,
        verify_math_batch,
    )
    from prime_fast.verify.scoring import score

__all__ = [
    "CodeResult",
    "Limits",
    "RowVerdict",
    "Verdict",
    "extract_answer",
    "group_equivalent",
    "majority_rewards",
    "majority_vote",
    "math_equal",
    "run_code",
    "score",
    "score_batch",
    "score_rows",
    "verify_code_batch",
    "verify_math",
    "verify_math_batch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prime_fast.verify' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"prime_fast.verify.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
