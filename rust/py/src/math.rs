//! Bindings of `prime_fast_core::math`: answer extraction, normalisation and verification.
//!
//! Inputs are copied into owned Rust values while the GIL is held; the work then runs with
//! the GIL released (`py.detach`), batches on a rayon pool.

use prime_fast_core::math::{self, Config, ConfigValue, Verdict};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::unsupported_input;

/// (correct, status, extracted, normalized_pred, normalized_gold, reason)
type VerdictTuple = (
    bool,
    &'static str,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn to_tuple(v: Verdict) -> VerdictTuple {
    (
        v.correct(),
        v.status.as_str(),
        v.extracted,
        v.normalized_pred,
        v.normalized_gold,
        v.reason,
    )
}

/// Build a [`Config`] from an optional `{name: value}` dict of policy switches and budgets.
fn config_from(py: Python<'_>, policy: Option<&Bound<'_, PyDict>>, func: &str) -> PyResult<Config> {
    let mut cfg = Config::default();
    let Some(d) = policy else { return Ok(cfg) };
    for (k, v) in d.iter() {
        let key: String = k
            .cast::<PyString>()
            .map_err(|_| {
                unsupported_input(
                    py,
                    format!("{func}: policy keys must be str, got {}", type_name(&k)),
                )
            })?
            .to_string();
        let value = if v.is_instance_of::<PyBool>() {
            ConfigValue::Bool(v.extract::<bool>()?)
        } else if v.is_instance_of::<PyInt>() {
            match v.extract::<i64>() {
                Ok(i) => ConfigValue::Int(i),
                Err(_) => {
                    return Err(unsupported_input(
                        py,
                        format!("{func}: policy {key:?} is out of range"),
                    ))
                }
            }
        } else if v.is_instance_of::<PyFloat>() {
            ConfigValue::Float(v.extract::<f64>()?)
        } else if v.is_instance_of::<PyString>() {
            ConfigValue::Str(v.extract::<String>()?)
        } else if let Ok(list) = v.cast::<PyList>() {
            // `extract_order=["boxed", "answer"]`
            let mut names = Vec::new();
            for item in list.iter() {
                names.push(item.extract::<String>().map_err(|_| {
                    unsupported_input(py, format!("{func}: policy {key:?} must be a list of str"))
                })?);
            }
            ConfigValue::Str(names.join(","))
        } else {
            return Err(unsupported_input(
                py,
                format!(
                    "{func}: policy {key:?} must be a bool, int, float or str, got {}",
                    type_name(&v)
                ),
            ));
        };
        cfg.set(&key, &value)
            .map_err(|m| unsupported_input(py, format!("{func}: {m}")))?;
    }
    Ok(cfg)
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn str_arg(py: Python<'_>, v: &Bound<'_, PyAny>, func: &str, arg: &str) -> PyResult<String> {
    match v.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => Err(unsupported_input(
            py,
            format!("{func}: {arg} must be a str, got {}", type_name(v)),
        )),
    }
}

fn str_seq(py: Python<'_>, v: &Bound<'_, PyAny>, func: &str, arg: &str) -> PyResult<Vec<String>> {
    if v.is_instance_of::<PyString>() {
        return Err(unsupported_input(
            py,
            format!("{func}: {arg} must be a list of str, got a single str"),
        ));
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = v.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = v.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(unsupported_input(
            py,
            format!("{func}: {arg} must be a list of str, got {}", type_name(v)),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.cast::<PyString>() {
            Ok(s) => out.push(s.to_str()?.to_owned()),
            Err(_) => {
                return Err(unsupported_input(
                    py,
                    format!("{func}: {arg}[{i}] must be a str, got {}", type_name(item)),
                ))
            }
        }
    }
    Ok(out)
}

/// Extract the final answer from a response (`None` when nothing answer-like is found).
#[pyfunction]
#[pyo3(signature = (text, policy=None))]
fn math_extract_answer(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    policy: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<String>> {
    let text = str_arg(py, text, "extract_answer", "text")?;
    let cfg = config_from(py, policy, "extract_answer")?;
    Ok(py.detach(|| math::extract_answer_with(&text, &cfg)))
}

/// Normalise an answer string (`None` when a rule rejects it, e.g. a digit invalid in its base).
#[pyfunction]
#[pyo3(signature = (answer, policy=None))]
fn math_normalize(
    py: Python<'_>,
    answer: &Bound<'_, PyAny>,
    policy: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<String>> {
    let answer = str_arg(py, answer, "normalize", "answer")?;
    let cfg = config_from(py, policy, "normalize")?;
    Ok(math::normalize::normalize(&answer, &cfg.policy).ok())
}

/// Verify one response (or bare answer with `extract=False`) against a reference.
#[pyfunction]
#[pyo3(signature = (response, gold, *, extract=true, policy=None))]
fn math_verify(
    py: Python<'_>,
    response: &Bound<'_, PyAny>,
    gold: &Bound<'_, PyAny>,
    extract: bool,
    policy: Option<&Bound<'_, PyDict>>,
) -> PyResult<VerdictTuple> {
    let response = str_arg(py, response, "verify_math", "response")?;
    let gold = str_arg(py, gold, "verify_math", "gold")?;
    let cfg = config_from(py, policy, "verify_math")?;
    let v = py.detach(|| {
        if extract {
            math::verify(&response, &gold, &cfg)
        } else {
            math::verify_answer(&response, &gold, &cfg)
        }
    });
    Ok(to_tuple(v))
}

/// Verify many pairs on `num_threads` threads (default: all cores) with the GIL released.
#[pyfunction]
#[pyo3(signature = (responses, golds, *, extract=true, policy=None, num_threads=None))]
fn verify_math_batch(
    py: Python<'_>,
    responses: &Bound<'_, PyAny>,
    golds: &Bound<'_, PyAny>,
    extract: bool,
    policy: Option<&Bound<'_, PyDict>>,
    num_threads: Option<i64>,
) -> PyResult<Vec<VerdictTuple>> {
    let responses = str_seq(py, responses, "verify_math_batch", "responses")?;
    let golds = str_seq(py, golds, "verify_math_batch", "golds")?;
    if responses.len() != golds.len() {
        return Err(unsupported_input(
            py,
            format!(
                "verify_math_batch: responses and golds must have the same length, got {} and {}",
                responses.len(),
                golds.len()
            ),
        ));
    }
    let threads = match num_threads {
        None => 0,
        Some(n) if (1..=1024).contains(&n) => n as usize,
        Some(n) => {
            return Err(unsupported_input(
                py,
                format!(
                    "verify_math_batch: num_threads must be an int in 1..=1024 or None, got {n}"
                ),
            ))
        }
    };
    let cfg = config_from(py, policy, "verify_math_batch")?;
    let out = py.detach(|| math::verify_batch(&responses, &golds, &cfg, extract, threads));
    Ok(out.into_iter().map(to_tuple).collect())
}

/// Cluster ids of answers (equal ids iff equal answers; `-1`: no readable answer), GIL released.
#[pyfunction]
#[pyo3(signature = (answers, *, extract=true, policy=None))]
fn math_group_equivalent(
    py: Python<'_>,
    answers: &Bound<'_, PyAny>,
    extract: bool,
    policy: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<i64>> {
    let answers = str_seq(py, answers, "group_equivalent", "answers")?;
    let cfg = config_from(py, policy, "group_equivalent")?;
    Ok(py.detach(|| math::group_equivalent(&answers, &cfg, extract)))
}

/// Every policy/budget key the verifier accepts.
#[pyfunction]
fn math_policy_keys() -> Vec<&'static str> {
    math::policy::CONFIG_KEYS.to_vec()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(math_extract_answer, m)?)?;
    m.add_function(wrap_pyfunction!(math_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(math_verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_math_batch, m)?)?;
    m.add_function(wrap_pyfunction!(math_policy_keys, m)?)?;
    m.add_function(wrap_pyfunction!(math_group_equivalent, m)?)?;
    Ok(())
}
