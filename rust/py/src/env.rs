//! Build and machine facts for `prime-fast env`.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The sandbox features this machine offers, each probed for real.
#[pyfunction]
pub fn sandbox_features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let features = py.detach(prime_fast_core::sandbox::detect_features);
    let d = PyDict::new(py);
    for (k, v) in features.as_pairs() {
        d.set_item(k, v)?;
    }
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sandbox_features, m)?)?;
    Ok(())
}
