//! prime-fast core: the pure-Rust half of prime-fast.
//!
//! * [`math`]: math answer verification (extraction, normalisation, parsing, comparison).
//! * [`sandbox`]: running untrusted programs in Linux namespaces with limits, and detecting
//!   which isolation features the machine offers.
//! * [`code`]: judging programs against tests inside the sandbox.
//!
//! Nothing here depends on Python; `rust/py` wraps it as `prime_fast._native`.

pub mod code;
pub mod error;
pub mod math;
pub mod sandbox;

pub use error::CoreError;

/// Version of the core crate (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
