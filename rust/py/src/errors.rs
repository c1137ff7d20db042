//! The exception hierarchy of `prime_fast.errors`, defined here and re-exported in Python.
//!
//! `ConfigError` and `UnsupportedInputError` also derive from `ValueError`, and `SandboxError`
//! from `RuntimeError`; `create_exception!` takes one base only, so the classes are made with
//! Python's `type()` at import time and kept for raising from Rust.

// Some constructors are used only by later domains; keep them available.
#![allow(dead_code)]

use prime_fast_core::CoreError;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The exception classes, created once per interpreter.
pub struct ErrorTypes {
    pub prime_fast_error: Py<PyType>,
    pub config_error: Py<PyType>,
    pub unsupported_input_error: Py<PyType>,
    pub verifier_error: Py<PyType>,
    pub sandbox_error: Py<PyType>,
}

static ERROR_TYPES: PyOnceLock<ErrorTypes> = PyOnceLock::new();

fn make_type(
    py: Python<'_>,
    name: &str,
    doc: &str,
    bases: Vec<Bound<'_, PyType>>,
) -> PyResult<Py<PyType>> {
    let dict = PyDict::new(py);
    dict.set_item("__module__", "prime_fast.errors")?;
    dict.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let ty = py
        .get_type::<PyType>()
        .call1((name, bases, dict))?
        .cast_into::<PyType>()?;
    Ok(ty.unbind())
}

impl ErrorTypes {
    fn create(py: Python<'_>) -> PyResult<Self> {
        let root = make_type(
            py,
            "PrimeFastError",
            "Root of every exception prime-fast raises.",
            vec![py.get_type::<PyException>()],
        )?;
        let rb = || root.bind(py).clone();
        let config_error = make_type(
            py,
            "ConfigError",
            "A configuration value or key is invalid; the message names it and the valid forms.",
            vec![rb(), py.get_type::<PyValueError>()],
        )?;
        let unsupported_input_error = make_type(
            py,
            "UnsupportedInputError",
            "An argument has the wrong type, shape, dtype, device or length; raised before any work.",
            vec![rb(), py.get_type::<PyValueError>()],
        )?;
        let verifier_error = make_type(
            py,
            "VerifierError",
            "A verifier failed for a reason other than the answer (wrong answers are results).",
            vec![rb()],
        )?;
        let sandbox_error = make_type(
            py,
            "SandboxError",
            "The sandbox could not be set up, or the isolation asked for is unavailable.",
            vec![
                verifier_error.bind(py).clone(),
                py.get_type::<PyRuntimeError>(),
            ],
        )?;
        Ok(Self {
            prime_fast_error: root,
            config_error,
            unsupported_input_error,
            verifier_error,
            sandbox_error,
        })
    }

    /// The classes for this interpreter, created on first use.
    pub fn get(py: Python<'_>) -> PyResult<&ErrorTypes> {
        ERROR_TYPES.get_or_try_init(py, || Self::create(py))
    }
}

fn new_err(py: Python<'_>, pick: fn(&ErrorTypes) -> &Py<PyType>, msg: String) -> PyErr {
    match ErrorTypes::get(py) {
        Ok(types) => PyErr::from_type(pick(types).bind(py).clone(), msg),
        Err(e) => e,
    }
}

/// `UnsupportedInputError(msg)`.
pub fn unsupported_input(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_err(py, |t| &t.unsupported_input_error, msg.into())
}

/// `ConfigError(msg)`.
pub fn config_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_err(py, |t| &t.config_error, msg.into())
}

/// `SandboxError(msg)`.
pub fn sandbox_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_err(py, |t| &t.sandbox_error, msg.into())
}

/// `VerifierError(msg)`.
pub fn verifier_error(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_err(py, |t| &t.verifier_error, msg.into())
}

/// The one conversion from core errors to Python exceptions.
pub fn to_pyerr(py: Python<'_>, err: CoreError) -> PyErr {
    match err {
        CoreError::UnsupportedInput(m) => unsupported_input(py, m),
        CoreError::Config(m) => config_error(py, m),
        CoreError::Verifier(m) => verifier_error(py, m),
        CoreError::Sandbox(m) => sandbox_error(py, m),
    }
}

/// Add the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let t = ErrorTypes::get(py)?;
    m.add("PrimeFastError", t.prime_fast_error.clone_ref(py))?;
    m.add("ConfigError", t.config_error.clone_ref(py))?;
    m.add(
        "UnsupportedInputError",
        t.unsupported_input_error.clone_ref(py),
    )?;
    m.add("VerifierError", t.verifier_error.clone_ref(py))?;
    m.add("SandboxError", t.sandbox_error.clone_ref(py))?;
    Ok(())
}
