"""The exception hierarchy of prime-fast (defined in Rust, so Rust and Python raise the same classes).

- :class:`PrimeFastError`: the root.
- :class:`ConfigError` (also ``ValueError``): an invalid configuration key or value.
- :class:`UnsupportedInputError` (also ``ValueError``): an argument of the wrong type, shape, dtype,
  device or length, raised before any work starts.
- :class:`VerifierError`: a verifier failed for a reason other than the answer.
- :class:`SandboxError` (a ``VerifierError``, also ``RuntimeError``): the sandbox could not be set up,
  or the isolation asked for is not available.

Wrong answers, unparseable answers and timeouts are results (verdicts), never exceptions.
"""

from prime_fast._native import (
    ConfigError,
    PrimeFastError,
    SandboxError,
    UnsupportedInputError,
    VerifierError,
)

__all__ = ["ConfigError", "PrimeFastError", "SandboxError", "UnsupportedInputError", "VerifierError"]
