//! Running untrusted programs in Linux namespaces with limits.
//!
//! [`detect`] probes, for real, which isolation features this machine offers.

pub mod detect;

pub use detect::{detect_features, SandboxFeatures};
