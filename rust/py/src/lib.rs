//! `prime_fast._native`: PyO3 bindings of `prime-fast-core`.
//!
//! Each domain registers its own functions and classes: `errors`, `env`, `math`, `code`.

use pyo3::prelude::*;

mod code;
mod env;
mod errors;
mod math;

/// `"release"` or `"debug"`: the Cargo profile this module was built with.
const BUILD_PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("build_profile", BUILD_PROFILE)?;
    errors::register(m)?;
    env::register(m)?;
    math::register(m)?;
    code::register(m)?;
    Ok(())
}
