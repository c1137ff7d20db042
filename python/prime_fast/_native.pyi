"""Type stubs of the native extension ``prime_fast._native`` (checked by ``mypy.stubtest``)."""

__all__ = [
    "ConfigError",
    "PrimeFastError",
    "SandboxError",
    "UnsupportedInputError",
    "VerifierError",
    "__version__",
    "build_profile",
    "sandbox_features",
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

# --- code verifier (rust/py/src/code.rs) ---
