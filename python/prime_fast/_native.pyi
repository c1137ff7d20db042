"""Type stubs of the native extension ``prime_fast._native`` (checked by ``mypy.stubtest``)."""

from collections.abc import Callable
from typing import Any

__all__ = [
    "ConfigError",
    "PrimeFastError",
    "SandboxError",
    "UnsupportedInputError",
    "VerifierError",
    "__version__",
    "build_profile",
    "code_default_python",
    "code_isolation",
    "math_extract_answer",
    "math_group_equivalent",
    "math_normalize",
    "math_policy_keys",
    "math_verify",
    "sandbox_features",
    "verify_code",
    "verify_math_batch",
]

__version__: str
build_profile: str

class PrimeFastError(Exception): ...
class ConfigError(PrimeFastError, ValueError): ...
class UnsupportedInputError(PrimeFastError, ValueError): ...
class VerifierError(PrimeFastError): ...
class SandboxError(VerifierError, RuntimeError): ...

def sandbox_features() -> dict[str, str]:
    """Probe, for real, which isolation features this machine offers (namespaces, seccomp,
    Landlock, cgroup memory/pids controllers) and the best isolation level they allow."""

# --- math verifier (rust/py/src/math.rs) ---

_MathVerdict = tuple[bool, str, str | None, str | None, str | None, str]

def math_extract_answer(text: str, policy: dict[str, object] | None = None) -> str | None:
    """The final answer in a response, or None."""

def math_normalize(answer: str, policy: dict[str, object] | None = None) -> str | None:
    """The normalised answer, or None when a rule rejects it."""

def math_verify(
    response: str, gold: str, *, extract: bool = True, policy: dict[str, object] | None = None
) -> _MathVerdict:
    """(correct, status, extracted, normalized_pred, normalized_gold, reason) for one pair."""

def verify_math_batch(
    responses: list[str] | tuple[str, ...],
    golds: list[str] | tuple[str, ...],
    *,
    extract: bool = True,
    policy: dict[str, object] | None = None,
    num_threads: int | None = None,
) -> list[_MathVerdict]:
    """Verdict tuples for many pairs, computed on a thread pool with the GIL released."""

def math_policy_keys() -> list[str]:
    """Every policy switch and budget name."""

def math_group_equivalent(
    answers: list[str] | tuple[str, ...], *, extract: bool = True, policy: dict[str, object] | None = None
) -> list[int]:
    """Cluster ids (equal iff the answers are equal; -1: no readable answer), GIL released."""

# --- code verifier (rust/py/src/code.rs) ---

def verify_code(
    programs: list[str],
    tests: list[str],
    *,
    time: float,
    memory: int,
    output: int,
    processes: int,
    isolation: str,
    mode: str,
    scratch: int,
    python: str | None = None,
    num_workers: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> list[dict[str, Any]]:
    """Run programs against their tests (JSON text each) in the sandbox; one result dict per
    program, or ``{"status": "invalid_input", "reason": ...}`` for unreadable tests."""

def code_isolation(isolation: str = "auto") -> str:
    """The isolation level a run would use; raises SandboxError when unavailable here."""

def code_default_python() -> str | None:
    """The interpreter the sandbox runs by default."""
