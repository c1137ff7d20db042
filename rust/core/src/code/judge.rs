//! Judging: one test's raw outcome (exit status, signal, output, the harness's nonce line)
//! becomes a status, compared with the suite's expected output; a program's tests become its
//! status and PRIME's partial-credit score.

use super::compare;
use super::json;
use super::suite::Suite;
use super::types::{ProgramResult, Status, TestResult};
use crate::sandbox::{Isolation, RawOutcome};

/// The last `n` bytes of `b` as text (invalid UTF-8 replaced).
pub(super) fn tail(b: &[u8], n: usize) -> String {
    let start = b.len().saturating_sub(n);
    String::from_utf8_lossy(&b[start..]).into_owned()
}

/// Find the harness line `\n<nonce> <tag> <payload>`; returns (program stdout, tag, payload).
pub(super) fn split_sentinel<'a>(
    stdout: &'a str,
    nonce: &str,
) -> Option<(&'a str, &'a str, &'a str)> {
    let key = format!("\n{nonce} ");
    let pos = stdout.rfind(&key)?;
    let line = stdout[pos + key.len()..].trim_end_matches('\n');
    let (tag, payload) = line.split_once(' ').unwrap_or((line, ""));
    Some((&stdout[..pos], tag, payload))
}

/// Classify one per-test outcome.
pub(super) fn judge(raw: &RawOutcome, nonce: &str, suite: &Suite, i: usize) -> TestResult {
    let stdout = String::from_utf8_lossy(&raw.stdout);
    let mut r = TestResult {
        status: Status::RuntimeError,
        signal: raw.signal,
        exit_code: raw.exit_code,
        detail: String::new(),
        stdout_tail: String::new(),
        stderr_tail: tail(&raw.stderr_tail, 1024),
        wall_time: raw.wall_time,
        cpu_time: raw.cpu_time,
        peak_memory: raw.peak_memory,
    };
    let sentinel = split_sentinel(&stdout, nonce);
    r.stdout_tail = tail(sentinel.map_or(stdout.as_bytes(), |s| s.0.as_bytes()), 1024);
    let stderr = String::from_utf8_lossy(&raw.stderr_tail);
    if raw.stdout_overflow || raw.stderr_overflow {
        r.status = Status::OutputLimit;
        return r;
    }
    if raw.timed_out || raw.signal == Some(libc::SIGXCPU) {
        r.status = Status::Timeout;
        return r;
    }
    if let Some(f) = &raw.sandbox_failure {
        r.status = Status::SandboxError;
        r.detail = f.clone();
        return r;
    }
    if raw.oom_killed {
        r.status = Status::MemoryLimit;
        return r;
    }
    match sentinel {
        Some((_, "compile", _)) => r.status = Status::CompileError,
        Some((_, "exc", ty)) => {
            r.detail = ty.to_string();
            r.status = if ty == "MemoryError" {
                Status::MemoryLimit
            } else {
                Status::RuntimeError
            };
        }
        Some((_, "wrong", msg)) => {
            r.status = Status::WrongAnswer;
            r.detail = msg.to_string();
        }
        Some((prog_out, "ok", payload)) if raw.exit_code == Some(0) => {
            r.status = match suite {
                Suite::Stdin(c) => {
                    if compare::stdout_matches(prog_out, &c[i].1).is_some() {
                        Status::Passed
                    } else {
                        Status::WrongAnswer
                    }
                }
                Suite::Call { cases, .. } => match json::parse(payload) {
                    Ok(v) if compare::call_result_matches(&v, &cases[i].1) => Status::Passed,
                    Ok(_) => Status::WrongAnswer,
                    Err(e) => {
                        r.detail = format!("unreadable result: {e}");
                        Status::WrongAnswer
                    }
                },
                Suite::Assert { .. } => Status::Passed,
            };
        }
        _ => {
            if stderr.contains("MemoryError") {
                r.status = Status::MemoryLimit;
            } else if raw.signal == Some(libc::SIGXFSZ) {
                r.status = Status::OutputLimit;
                r.detail = "file size limit".into();
            } else if let Some(sig) = raw.signal {
                r.detail = format!("killed by signal {sig}");
            } else {
                r.detail = format!(
                    "exited with status {} before the tests finished",
                    raw.exit_code.unwrap_or(-1)
                );
            }
        }
    }
    r
}

pub(super) fn finish(tests: Vec<TestResult>, isolation: Isolation) -> ProgramResult {
    let n = tests.len();
    let passed = tests.iter().filter(|t| t.status == Status::Passed).count();
    let first = n.min(10);
    let passed_first = tests[..first]
        .iter()
        .filter(|t| t.status == Status::Passed)
        .count();
    let all = n > 0 && passed == n;
    let status = tests
        .iter()
        .find(|t| t.status != Status::Passed)
        .map_or(Status::Passed, |t| t.status);
    ProgramResult {
        status,
        passed,
        score: if all {
            1.0
        } else if first == 0 {
            0.0
        } else {
            passed_first as f64 / first as f64
        },
        strict_score: if all { 1.0 } else { 0.0 },
        tests,
        isolation: isolation.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_prime() {
        let t = |s: Status| TestResult {
            status: s,
            signal: None,
            exit_code: None,
            detail: String::new(),
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            wall_time: 0.0,
            cpu_time: 0.0,
            peak_memory: 0,
        };
        let all = finish(vec![t(Status::Passed); 12], Isolation::Strict);
        assert_eq!(
            (all.score, all.strict_score, all.status),
            (1.0, 1.0, Status::Passed)
        );
        let mut v = vec![t(Status::Passed); 12];
        v[11] = t(Status::WrongAnswer);
        let r = finish(v, Isolation::Strict);
        assert_eq!(
            (r.score, r.strict_score, r.status),
            (1.0 * 10.0 / 10.0, 0.0, Status::WrongAnswer)
        );
        let mut v = vec![t(Status::Passed); 4];
        v[1] = t(Status::Timeout);
        let r = finish(v, Isolation::Strict);
        assert_eq!((r.score, r.status), (0.75, Status::Timeout));
    }

    #[test]
    fn sentinel_split() {
        let (o, t, p) = split_sentinel("hello\nPFNab ok [1]\n", "PFNab").unwrap();
        assert_eq!((o, t, p), ("hello", "ok", "[1]"));
        assert!(split_sentinel("hello\n", "PFNab").is_none());
    }
}
