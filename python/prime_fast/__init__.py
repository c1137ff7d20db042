"""prime-fast: fast, safe PRIME-style reinforcement learning for LLMs.

Submodules, imported on first use so that ``import prime_fast`` stays light:

- :mod:`prime_fast.verify`: math answer and sandboxed code verification (Rust; no torch needed).
- :mod:`prime_fast.ops`: fused per-token log-probs and implicit process rewards (Triton on CUDA).
- :mod:`prime_fast.algos`: advantage estimators, PPO and PRM losses.
- :mod:`prime_fast.trainer`: the PRIME training loop behind ``prime-fast train``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prime_fast import _native
from prime_fast.errors import (
    ConfigError,
    PrimeFastError,
    SandboxError,
    UnsupportedInputError,
    VerifierError,
)

__version__: str = _native.__version__

_LAZY_SUBMODULES = ("verify", "ops", "algos", "trainer", "kernels", "demo", "testing")

if TYPE_CHECKING:
    from prime_fast import algos, ops, trainer, verify

__all__ = [
    "ConfigError",
    "PrimeFastError",
    "SandboxError",
    "UnsupportedInputError",
    "VerifierError",
    "__version__",
    "algos",
    "ops",
    "trainer",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"prime_fast.{name}")
    raise AttributeError(f"module 'prime_fast' has no attribute {name!r}")
