//! Errors of the core crate. Wrong answers and timeouts are *results*, not errors: these
//! variants are for bad input and for infrastructure failures.

use thiserror::Error;

/// Every error the core crate returns. The Python bindings map each variant to one
/// exception class of `prime_fast.errors`.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A caller passed an argument of the wrong form (maps to `UnsupportedInputError`).
    #[error("{0}")]
    UnsupportedInput(String),
    /// A configuration value is invalid (maps to `ConfigError`).
    #[error("{0}")]
    Config(String),
    /// A verifier failed for a reason other than the answer (maps to `VerifierError`).
    #[error("{0}")]
    Verifier(String),
    /// The sandbox could not be set up or could not give the isolation asked for
    /// (maps to `SandboxError`).
    #[error("{0}")]
    Sandbox(String),
}
