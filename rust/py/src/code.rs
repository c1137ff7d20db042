//! Bindings of `prime_fast_core::code`: the sandboxed code verifier.

use std::path::PathBuf;

use prime_fast_core::code::{self, Item, Limits, Mode, ProgramResult, Suite};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{config_error, to_pyerr, unsupported_input};

fn result_dict<'py>(py: Python<'py>, r: &ProgramResult) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("status", r.status.as_str())?;
    d.set_item("score", r.score)?;
    d.set_item("strict_score", r.strict_score)?;
    d.set_item("passed", r.passed)?;
    d.set_item("total", r.tests.len())?;
    d.set_item("isolation", r.isolation)?;
    d.set_item(
        "wall_time",
        r.tests.iter().map(|t| t.wall_time).sum::<f64>(),
    )?;
    d.set_item("cpu_time", r.tests.iter().map(|t| t.cpu_time).sum::<f64>())?;
    d.set_item(
        "peak_memory",
        r.tests.iter().map(|t| t.peak_memory).max().unwrap_or(0),
    )?;
    let tests = PyList::empty(py);
    for t in &r.tests {
        let td = PyDict::new(py);
        td.set_item("status", t.status.as_str())?;
        td.set_item("signal", t.signal)?;
        td.set_item("exit_code", t.exit_code)?;
        td.set_item("detail", &t.detail)?;
        td.set_item("stdout_tail", &t.stdout_tail)?;
        td.set_item("stderr_tail", &t.stderr_tail)?;
        td.set_item("wall_time", t.wall_time)?;
        td.set_item("cpu_time", t.cpu_time)?;
        td.set_item("peak_memory", t.peak_memory)?;
        tests.append(td)?;
    }
    d.set_item("tests", tests)?;
    Ok(d)
}

/// Run programs against their tests in the sandbox (see `prime_fast.verify.code`).
///
/// `tests[i]` is the JSON text of program i's tests. An entry whose tests cannot be parsed
/// yields `{"status": "invalid_input", "reason": ...}` in its place.
#[pyfunction]
#[pyo3(signature = (programs, tests, *, time, memory, output, processes, isolation, mode, scratch, python=None, num_workers=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn verify_code<'py>(
    py: Python<'py>,
    programs: Vec<String>,
    tests: Vec<String>,
    time: f64,
    memory: u64,
    output: usize,
    processes: u64,
    isolation: String,
    mode: String,
    scratch: u64,
    python: Option<PathBuf>,
    num_workers: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    if programs.len() != tests.len() {
        return Err(unsupported_input(
            py,
            format!(
                "programs and tests must have the same length, got {} and {}",
                programs.len(),
                tests.len()
            ),
        ));
    }
    let mode = match mode.as_str() {
        "per_test" => Mode::PerTest,
        "per_program" => Mode::PerProgram,
        "per_program_once" => Mode::PerProgramOnce,
        other => {
            return Err(config_error(
                py,
                format!(
                    "mode must be 'per_test', 'per_program' or 'per_program_once', got {other:?}"
                ),
            ))
        }
    };
    if num_workers == Some(0) {
        return Err(config_error(py, "num_workers must be a positive integer"));
    }
    let limits = Limits {
        time,
        memory,
        output,
        processes,
        isolation,
        mode,
        scratch,
        python,
    };
    let workers =
        num_workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut items = Vec::new();
    let mut slots: Vec<Result<usize, String>> = Vec::with_capacity(programs.len());
    for (p, t) in programs.into_iter().zip(&tests) {
        match Suite::parse(t) {
            Ok(suite) => {
                slots.push(Ok(items.len()));
                items.push(Item { program: p, suite });
            }
            Err(e) => slots.push(Err(e)),
        }
    }
    let results = if items.is_empty() {
        Vec::new()
    } else {
        let progress = progress.map(|p| p.unbind());
        let mut stored: Option<PyErr> = None;
        let res = py.detach(|| {
            let mut cb = |done: usize, total: usize| -> bool {
                Python::attach(|py| {
                    if let Some(p) = &progress {
                        if let Err(e) = p.bind(py).call1((done, total)) {
                            stored = Some(e);
                            return false;
                        }
                    }
                    if let Err(e) = py.check_signals() {
                        stored = Some(e);
                        return false;
                    }
                    true
                })
            };
            code::verify_batch(&items, &limits, workers, &mut cb)
        });
        if let Some(e) = stored {
            return Err(e);
        }
        res.map_err(|e| to_pyerr(py, e))?
    };
    let out = PyList::empty(py);
    for s in slots {
        match s {
            Ok(i) => out.append(result_dict(py, &results[i])?)?,
            Err(reason) => {
                let d = PyDict::new(py);
                d.set_item("status", "invalid_input")?;
                d.set_item("reason", reason)?;
                out.append(d)?;
            }
        }
    }
    Ok(out)
}

/// The isolation level a run would use for `isolation` ("strict", "namespaces", "rlimits"
/// or "auto"); raises `SandboxError` when the level is not available here.
#[pyfunction]
#[pyo3(signature = (isolation="auto"))]
fn code_isolation(py: Python<'_>, isolation: &str) -> PyResult<&'static str> {
    let limits = Limits {
        isolation: isolation.to_string(),
        ..Limits::default()
    };
    let level = py.detach(|| code::isolation_for(&limits));
    level.map(|l| l.as_str()).map_err(|e| to_pyerr(py, e))
}

/// The interpreter the sandbox runs by default (`None` when no system python3 is found).
#[pyfunction]
fn code_default_python() -> Option<String> {
    code::default_python().map(|p| p.to_string_lossy().into_owned())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(verify_code, m)?)?;
    m.add_function(wrap_pyfunction!(code_isolation, m)?)?;
    m.add_function(wrap_pyfunction!(code_default_python, m)?)?;
    Ok(())
}
