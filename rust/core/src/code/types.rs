//! The public types of a verification run: its limits and mode, the programs to verify, and
//! the per-test and per-program results with their statuses.

use std::path::PathBuf;

use super::suite::Suite;
use crate::CoreError;

/// How tests of one program are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One forked child per test (default; full isolation between tests).
    PerTest,
    /// All tests in one child, which goes on after a wrong answer; every test that did not pass
    /// there (apart from verdicts known to be the test's own) runs again in its own child.
    PerProgram,
    /// All tests in one child, which goes on after any failure; its verdicts stand. Only tests
    /// the child did not finish (it died, was killed or blocked its alarm) run again alone.
    PerProgramOnce,
}

/// Limits and options of a run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock limit per test, seconds.
    pub time: f64,
    /// Memory limit per test, bytes.
    pub memory: u64,
    /// stdout (and stderr) cap per test, bytes.
    pub output: usize,
    /// Processes/threads a test may have.
    pub processes: u64,
    /// Requested isolation: "strict", "namespaces", "rlimits" or "auto".
    pub isolation: String,
    /// Per-test or per-program.
    pub mode: Mode,
    /// Scratch tmpfs size, bytes.
    pub scratch: u64,
    /// Interpreter inside the sandbox (default: the system `python3`).
    pub python: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: 5.0,
            memory: 512 << 20,
            output: 16 << 20,
            processes: 32,
            isolation: "auto".into(),
            mode: Mode::PerTest,
            scratch: 64 << 20,
            python: None,
        }
    }
}

impl Limits {
    pub(super) fn validate(&self) -> Result<(), CoreError> {
        if !(self.time.is_finite() && self.time > 0.0 && self.time <= 3600.0) {
            return Err(CoreError::Config(format!(
                "limits.time must be a number of seconds in (0, 3600], got {}",
                self.time
            )));
        }
        if self.memory < (16 << 20) {
            return Err(CoreError::Config(
                "limits.memory must be at least 16 MiB".into(),
            ));
        }
        if self.output < 1024 {
            return Err(CoreError::Config(
                "limits.output must be at least 1 KiB".into(),
            ));
        }
        if self.processes < 1 || self.processes > 4096 {
            return Err(CoreError::Config(
                "limits.processes must be in [1, 4096]".into(),
            ));
        }
        Ok(())
    }
}

/// Status of one test or of a whole program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Correct output.
    Passed,
    /// Wrong output (or a failed assert).
    WrongAnswer,
    /// Crashed, raised, was killed by a signal, or exited before finishing.
    RuntimeError,
    /// Went past the wall-clock (or CPU) limit.
    Timeout,
    /// Went past the memory limit.
    MemoryLimit,
    /// Wrote more than the output cap.
    OutputLimit,
    /// The program does not compile.
    CompileError,
    /// The sandbox failed (not the program's fault).
    SandboxError,
}

impl Status {
    /// The status name used in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::WrongAnswer => "wrong_answer",
            Status::RuntimeError => "runtime_error",
            Status::Timeout => "timeout",
            Status::MemoryLimit => "memory_limit",
            Status::OutputLimit => "output_limit",
            Status::CompileError => "compile_error",
            Status::SandboxError => "sandbox_error",
        }
    }
}

/// Result of one test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// Outcome.
    pub status: Status,
    /// Signal that ended the program, for runtime errors.
    pub signal: Option<i32>,
    /// Exit status, when the program exited.
    pub exit_code: Option<i32>,
    /// Human-readable detail (exception type, sandbox failure, ...).
    pub detail: String,
    /// Last KiB of stdout.
    pub stdout_tail: String,
    /// Last KiB of stderr.
    pub stderr_tail: String,
    /// Wall seconds.
    pub wall_time: f64,
    /// CPU seconds.
    pub cpu_time: f64,
    /// Peak memory, bytes.
    pub peak_memory: u64,
}

/// Result of one program.
#[derive(Debug, Clone)]
pub struct ProgramResult {
    /// `passed` when every test passed, else the status of the first failing test.
    pub status: Status,
    /// Per test, in order.
    pub tests: Vec<TestResult>,
    /// Tests passed.
    pub passed: usize,
    /// PRIME's partial credit: 1.0 if all pass, else passing fraction of the first 10.
    pub score: f64,
    /// All-or-nothing.
    pub strict_score: f64,
    /// Isolation level in effect.
    pub isolation: &'static str,
}

/// One program to verify.
pub struct Item {
    /// Program source.
    pub program: String,
    /// Its tests.
    pub suite: Suite,
}
