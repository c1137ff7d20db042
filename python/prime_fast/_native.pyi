"""Type stubs of the native extension ``prime_fast._native`` (checked by ``mypy.stubtest``)."""

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

# --- code verifier (rust/py/src/code.rs) ---
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

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
