//! Judging programs against tests inside the sandbox.
//!
//! * Test styles: stdin/stdout (PRIME/APPS `{"inputs", "outputs"}`), call-based (`fn_name`,
//!   LeetCode `class Solution`), assert-based (HumanEval `test` + `entry_point`, or a list of
//!   assert statements).
//! * [`compare`]: the output comparison cascade; [`json`]: exact-number JSON; both read numbers
//!   as exact decimals (`decimal.rs`, re-exported as `compare::Decimal`). Dependencies point
//!   one way: `compare -> json -> decimal` (and `compare -> decimal`).
//! * Anti-hack: a per-test random nonce printed by the harness after the test completed
//!   (an early `exit(0)` leaves no nonce: not a pass); call results are serialised inside the
//!   sandbox from exact builtin types only and compared here; assert-style candidates return
//!   plain copies, so an always-true `__eq__` cannot satisfy an assert.
//! * [`verify_batch`]: the worker pool (one zygote per worker, CPU tokens released by tests
//!   that sleep), per-test or per-program mode, PRIME's partial-credit score.

pub mod compare;
mod decimal;
pub mod json;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::sandbox::spawn::CgroupPlan;
use crate::sandbox::{
    detect_features, resolve_isolation, Isolation, RawOutcome, SandboxConfig, SandboxFeatures,
    TestRequest, Zygote,
};
use crate::CoreError;
use json::Json;

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
    fn validate(&self) -> Result<(), CoreError> {
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

/// One test's tests, parsed from the ground truth.
#[derive(Debug, Clone)]
pub enum Suite {
    /// stdin -> expected stdout.
    Stdin(Vec<(String, String)>),
    /// Call `fn_name(*args)`, compare with the expected JSON value.
    Call {
        /// Function or `Solution` method name.
        fn_name: String,
        /// (args, expected) per test.
        cases: Vec<(Vec<Json>, Json)>,
    },
    /// Assert-based: each test is code run after the program.
    Assert {
        /// The function under test (guarded against `__eq__` hacks), when the tests name it.
        entry_point: Option<String>,
        /// Otherwise, the names called in the first assert, in order (`set`, `f` for
        /// `assert set(f(a)) == ...`): the first one the program defines is the entry point; if
        /// it defines none, the asserts run as they are.
        entry_candidates: Vec<String>,
        /// (code, whether to call `check(entry_point)` after it).
        tests: Vec<(String, bool)>,
    },
}

impl Suite {
    /// Number of tests.
    pub fn len(&self) -> usize {
        match self {
            Suite::Stdin(c) => c.len(),
            Suite::Call { cases, .. } => cases.len(),
            Suite::Assert { tests, .. } => tests.len(),
        }
    }

    /// Whether there are no tests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parse a ground truth (JSON text).
    pub fn parse(text: &str) -> Result<Suite, String> {
        let v = json::parse(text).map_err(|e| format!("tests are not valid JSON: {e}"))?;
        let Json::Obj(m) = v else {
            return Err("tests must be a JSON object".into());
        };
        let text_of = |v: &Json, what: &str| -> Result<String, String> {
            match v {
                Json::Str(s) => Ok(s.clone()),
                Json::Arr(a) => a
                    .iter()
                    .map(|x| match x {
                        Json::Str(s) => Ok(s.clone()),
                        _ => Err(format!("{what} must be a string or a list of strings")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.join("\n")),
                _ => Err(format!("{what} must be a string or a list of strings")),
            }
        };
        if let (Some(Json::Arr(ins)), Some(Json::Arr(outs))) = (m.get("inputs"), m.get("outputs")) {
            if ins.len() != outs.len() {
                return Err(format!(
                    "'inputs' has {} entries but 'outputs' has {}",
                    ins.len(),
                    outs.len()
                ));
            }
            if ins.is_empty() {
                return Err("'inputs' is empty".into());
            }
            if let Some(Json::Str(f)) = m
                .get("fn_name")
                .filter(|f| !matches!(f, Json::Str(s) if s.is_empty()))
            {
                let mut cases = Vec::new();
                for (i, o) in ins.iter().zip(outs) {
                    let args = match i {
                        Json::Arr(a) => a.clone(),
                        Json::Str(s) => s
                            .lines()
                            .filter(|l| !l.trim().is_empty())
                            .map(json::parse)
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| format!("call-based input is not JSON lines: {e}"))?,
                        other => vec![other.clone()],
                    };
                    cases.push((args, o.clone()));
                }
                return Ok(Suite::Call {
                    fn_name: f.clone(),
                    cases,
                });
            }
            let mut cases = Vec::new();
            for (i, o) in ins.iter().zip(outs) {
                cases.push((text_of(i, "each input")?, text_of(o, "each output")?));
            }
            return Ok(Suite::Stdin(cases));
        }
        let entry = match m.get("entry_point") {
            Some(Json::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        if let Some(Json::Str(t)) = m.get("test") {
            let Some(e) = entry else {
                return Err("assert-based tests with 'test' need an 'entry_point'".into());
            };
            return Ok(Suite::Assert {
                entry_point: Some(e),
                entry_candidates: Vec::new(),
                tests: vec![(t.clone(), true)],
            });
        }
        let list = m.get("test_list").or(m.get("asserts"));
        if let Some(Json::Arr(a)) = list {
            let setup = match m.get("test_setup_code") {
                Some(Json::Str(s)) => format!("{s}\n"),
                _ => String::new(),
            };
            let tests = a
                .iter()
                .map(|x| match x {
                    Json::Str(s) => Ok((format!("{setup}{s}"), false)),
                    _ => Err("each assert must be a string".to_string()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if tests.is_empty() {
                return Err("the assert list is empty".into());
            }
            let entry_candidates = match entry {
                Some(_) => Vec::new(),
                None => tests
                    .first()
                    .map(|(t, _)| called_names(t))
                    .unwrap_or_default(),
            };
            return Ok(Suite::Assert {
                entry_point: entry,
                entry_candidates,
                tests,
            });
        }
        Err(
            "unsupported tests: expected {\"inputs\", \"outputs\"[, \"fn_name\"]}, \
             {\"test\", \"entry_point\"} or {\"test_list\": [asserts]}"
                .into(),
        )
    }
}

/// Names called in the last `assert` line of a test, in order of appearance: identifiers right
/// before `(` that are not attributes (`math.isclose`) or keywords. At most 16.
fn called_names(test: &str) -> Vec<String> {
    let Some(line) = test
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("assert"))
    else {
        return Vec::new();
    };
    let b = line.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < 16 {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let st = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &line[st..i];
            let attr = st > 0 && b[st - 1] == b'.';
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            let keyword = matches!(
                name,
                "assert" | "not" | "and" | "or" | "in" | "is" | "lambda" | "if" | "else" | "for"
            );
            if b.get(j) == Some(&b'(') && !attr && !keyword && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        } else if b[i] == b'"' || b[i] == b'\'' {
            // Skip string literals (a call inside a string is not a call).
            let q = b[i];
            i += 1;
            while i < b.len() && b[i] != q {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    out
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

fn tail(b: &[u8], n: usize) -> String {
    let start = b.len().saturating_sub(n);
    String::from_utf8_lossy(&b[start..]).into_owned()
}

fn nonce() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom into a local buffer.
    let r = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if r != b.len() as isize {
        // Fall back to time and address entropy (never expected on Linux >= 3.17).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let addr = &t as *const u128 as usize as u128;
        b.copy_from_slice(&(t ^ (addr << 64)).to_le_bytes());
    }
    let mut s = String::from("PFN");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Find the harness line `\n<nonce> <tag> <payload>`; returns (program stdout, tag, payload).
fn split_sentinel<'a>(stdout: &'a str, nonce: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let key = format!("\n{nonce} ");
    let pos = stdout.rfind(&key)?;
    let line = stdout[pos + key.len()..].trim_end_matches('\n');
    let (tag, payload) = line.split_once(' ').unwrap_or((line, ""));
    Some((&stdout[..pos], tag, payload))
}

/// The bytes of one request to the zygote: `"<n>\n"`, `n` bytes of JSON (`{"jobs": [...]}`),
/// then the programs' sources. Each job names its source's region (`"src": [offset, length]`,
/// offsets from the end of the JSON): the zygote never parses or holds a source; only the test
/// children read and compile it, under their deadline and rlimits.
#[derive(Default)]
struct RequestBuf {
    sources: Vec<u8>,
}

impl RequestBuf {
    /// Append a program's source; returns its region.
    fn add_source(&mut self, program: &str) -> (usize, usize) {
        let at = self.sources.len();
        self.sources.extend_from_slice(program.as_bytes());
        (at, program.len())
    }

    /// The request: length line, JSON, sources.
    fn finish(self, json: &str) -> Vec<u8> {
        let mut out = format!("{}\n", json.len()).into_bytes();
        out.reserve(json.len() + self.sources.len());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(&self.sources);
        out
    }
}

fn job_head(kind: &str, src: (usize, usize), nonce: &str, limits: &Limits) -> String {
    let mut s = String::from("{\"kind\":");
    json::write_str(kind, &mut s);
    s.push_str(&format!(",\"src\":[{},{}]", src.0, src.1));
    s.push_str(",\"nonce\":");
    json::write_str(nonce, &mut s);
    s.push_str(&format!(
        ",\"cpu\":{},\"time\":{}",
        limits.time.ceil() as u64 + 1,
        limits.time
    ));
    s
}

fn suite_extra(suite: &Suite, s: &mut String) {
    match suite {
        Suite::Call { fn_name, .. } => {
            s.push_str(",\"fn_name\":");
            json::write_str(fn_name, s);
        }
        Suite::Assert {
            entry_point: Some(e),
            ..
        } => {
            s.push_str(",\"entry_point\":");
            json::write_str(e, s);
        }
        Suite::Assert {
            entry_point: None,
            entry_candidates,
            ..
        } if !entry_candidates.is_empty() => {
            let names = entry_candidates.iter().cloned().map(Json::Str).collect();
            s.push_str(",\"entry_candidates\":");
            json::write(&Json::Arr(names), s);
        }
        _ => {}
    }
}

fn test_obj(suite: &Suite, i: usize, with_stdin: bool) -> String {
    let mut s = String::from("{");
    match suite {
        Suite::Stdin(c) => {
            if with_stdin {
                s.push_str("\"stdin\":");
                json::write_str(&c[i].0, &mut s);
            }
        }
        Suite::Call { cases, .. } => {
            s.push_str("\"args\":");
            json::write(&Json::Arr(cases[i].0.clone()), &mut s);
        }
        Suite::Assert { tests, .. } => {
            s.push_str("\"test\":");
            json::write_str(&tests[i].0, &mut s);
            s.push_str(if tests[i].1 {
                ",\"check\":true"
            } else {
                ",\"check\":false"
            });
        }
    }
    s.push('}');
    s
}

fn kind_of(suite: &Suite) -> &'static str {
    match suite {
        Suite::Stdin(_) => "stdin",
        Suite::Call { .. } => "call",
        Suite::Assert { .. } => "assert",
    }
}

/// Classify one per-test outcome.
fn judge(raw: &RawOutcome, nonce: &str, suite: &Suite, i: usize) -> TestResult {
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

fn finish(tests: Vec<TestResult>, isolation: Isolation) -> ProgramResult {
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

/// The machine's sandbox features, probed once per process.
pub fn features() -> &'static SandboxFeatures {
    static F: OnceLock<SandboxFeatures> = OnceLock::new();
    F.get_or_init(detect_features)
}

/// The default interpreter run inside the sandbox.
pub fn default_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PRIME_FAST_SANDBOX_PYTHON") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Resolve the isolation level a run with these limits would use.
pub fn isolation_for(limits: &Limits) -> Result<Isolation, CoreError> {
    resolve_isolation(&limits.isolation, features())
}

/// Extra worker threads (beyond `num_workers`) for requests that sleep or block.
const EXTRA_SLEEPERS: usize = 16;

/// A counting semaphore of CPU tokens.
struct Tokens {
    free: Mutex<usize>,
    cv: Condvar,
    /// Requests running now whose token was released early (they sleep or block): each lets
    /// one extra worker thread (and its sandbox) take work.
    idle: AtomicUsize,
    /// Wakes the extra worker threads when `idle` grows.
    idle_cv: Condvar,
}

impl Tokens {
    fn acquire(&self) {
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *g == 0 {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        *g -= 1;
    }
    fn release(&self) {
        let mut g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        *g += 1;
        self.cv.notify_one();
    }
}

/// One program to verify.
pub struct Item {
    /// Program source.
    pub program: String,
    /// Its tests.
    pub suite: Suite,
}

struct Worker {
    cfg: SandboxConfig,
    zygote: Option<Zygote>,
}

impl Worker {
    fn zygote(&mut self) -> Result<&mut Zygote, String> {
        if !self.zygote.as_ref().is_some_and(|z| z.alive()) {
            self.zygote = None;
            self.zygote = Some(Zygote::start(&self.cfg).map_err(|e| e.to_string())?);
        }
        self.zygote.as_mut().ok_or_else(|| "no sandbox".to_string())
    }

    fn run(
        &mut self,
        job: &[u8],
        stdins: Vec<&[u8]>,
        deadline: Duration,
        test_time: Duration,
        tokens: &Tokens,
    ) -> Vec<RawOutcome> {
        tokens.acquire();
        let mut released = false;
        let n = stdins.len();
        let out = match self.zygote() {
            Ok(z) => {
                let req = TestRequest {
                    job,
                    stdins,
                    deadline,
                    test_time,
                };
                let mut rel = || {
                    tokens.idle.fetch_add(1, Ordering::SeqCst);
                    tokens.release();
                    tokens.idle_cv.notify_all();
                    released = true;
                };
                z.run(&req, Some(&mut rel))
            }
            Err(e) => (0..n)
                .map(|_| RawOutcome {
                    sandbox_failure: Some(e.clone()),
                    ..RawOutcome::default()
                })
                .collect(),
        };
        if released {
            tokens.idle.fetch_sub(1, Ordering::SeqCst);
        } else {
            tokens.release();
        }
        out
    }
}

/// Per-test mode: for each (program, range of its tests), one forked child per test; all in
/// one request to the worker's zygote (fewer round trips between supervisor and sandbox).
fn run_tests_group(
    w: &mut Worker,
    group: &[(&Item, std::ops::Range<usize>)],
    limits: &Limits,
    tokens: &Tokens,
) -> Vec<Vec<TestResult>> {
    let mut buf = RequestBuf::default();
    let mut req = String::from("{\"jobs\":[");
    let mut nonces = Vec::with_capacity(group.len());
    let mut stdins: Vec<&[u8]> = Vec::new();
    for (g, (item, range)) in group.iter().enumerate() {
        let n = nonce();
        if g > 0 {
            req.push(',');
        }
        let src = buf.add_source(&item.program);
        req.push_str(&job_head(kind_of(&item.suite), src, &n, limits));
        suite_extra(&item.suite, &mut req);
        req.push_str(&format!(",\"deadline\":{},\"tests\":[", limits.time + 0.05));
        for (k, i) in range.clone().enumerate() {
            if k > 0 {
                req.push(',');
            }
            req.push_str(&test_obj(&item.suite, i, false));
            stdins.push(match &item.suite {
                Suite::Stdin(c) => c[i].0.as_bytes(),
                _ => b"".as_slice(),
            });
        }
        req.push_str("]}");
        nonces.push(n);
    }
    req.push_str("]}");
    let raws = w.run(
        &buf.finish(&req),
        stdins,
        Duration::from_secs_f64(limits.time + 0.05),
        Duration::from_secs_f64(limits.time + 0.05),
        tokens,
    );
    let mut it = raws.iter();
    group
        .iter()
        .zip(&nonces)
        .map(|((item, range), n)| {
            range
                .clone()
                .map(|i| match it.next() {
                    Some(raw) => judge(raw, n, &item.suite, i),
                    None => judge(
                        &RawOutcome {
                            sandbox_failure: Some("no result".into()),
                            ..RawOutcome::default()
                        },
                        n,
                        &item.suite,
                        i,
                    ),
                })
                .collect()
        })
        .collect()
}

/// Per-program mode: all tests in one child. Returns the tests that passed there (`None`
/// for the others, which the caller re-runs one child per test).
fn run_program(
    w: &mut Worker,
    item: &Item,
    limits: &Limits,
    tokens: &Tokens,
) -> Vec<Option<TestResult>> {
    let n = nonce();
    let count = item.suite.len();
    let mut buf = RequestBuf::default();
    let src = buf.add_source(&item.program);
    let mut job = job_head(kind_of(&item.suite), src, &n, limits);
    suite_extra(&item.suite, &mut job);
    let total = limits.time * count as f64 + 0.1;
    let once = limits.mode == Mode::PerProgramOnce;
    job.push_str(&format!(
        ",\"mode\":\"program\",\"once\":{once},\"deadline\":{total},\"tests\":["
    ));
    for i in 0..count {
        if i > 0 {
            job.push(',');
        }
        job.push_str(&test_obj(&item.suite, i, true));
    }
    job.push_str("]}");
    let job = format!("{{\"jobs\":[{job}]}}");
    let raws = w.run(
        &buf.finish(&job),
        vec![b"".as_slice()],
        Duration::from_secs_f64(total),
        Duration::from_secs_f64(limits.time),
        tokens,
    );
    let mut results: Vec<Option<TestResult>> = vec![None; count];
    let Some(raw) = raws.first() else {
        return results;
    };
    if raw.sandbox_failure.is_some() || raw.stdout_overflow {
        return results;
    }
    let stdout = String::from_utf8_lossy(&raw.stdout);
    if !raw.timed_out && matches!(split_sentinel(&stdout, &n), Some((_, "compile", _))) {
        // The program does not compile: every test would report the same compile error.
        return (0..count)
            .map(|i| Some(judge(raw, &n, &item.suite, i)))
            .collect();
    }
    let key = format!("\n{n} rec ");
    for chunk in stdout.split(&key).skip(1) {
        let line = chunk.split('\n').next().unwrap_or("");
        let Ok(Json::Arr(rec)) = json::parse(line) else {
            break;
        };
        let (
            Some(Json::Num(i)),
            Some(Json::Str(tag)),
            Some(Json::Str(payload)),
            Some(Json::Str(text)),
        ) = (rec.first(), rec.get(1), rec.get(2), rec.get(3))
        else {
            break;
        };
        let Ok(i) = i.parse::<usize>() else { break };
        if i >= count {
            break;
        }
        if tag == "timeout" {
            // The test ran past its own time limit in the shared child (the child stops
            // there): the verdict is known, so it is not re-run (one time limit per such test).
            results[i] = Some(TestResult {
                status: Status::Timeout,
                signal: None,
                exit_code: None,
                detail: "time limit (per-program run)".into(),
                stdout_tail: tail(text.as_bytes(), 1024),
                stderr_tail: String::new(),
                wall_time: limits.time,
                cpu_time: 0.0,
                peak_memory: raw.peak_memory,
            });
            if once {
                continue; // the shared child went on with the next test
            }
            break;
        }
        let first_alone = i == 0 && (tag == "exc" || tag == "wrong");
        if once || (first_alone && !raw.timed_out && !raw.oom_killed) {
            // The first test ran first in a fresh child, as it would alone, and the child
            // stopped there (its stderr is this test's): the verdict stands without a re-run.
            // In per_program_once mode every verdict of the shared child stands, with the
            // test's own stderr from its record.
            let stderr = match rec.get(4) {
                Some(Json::Str(e)) if once => e.as_bytes().to_vec(),
                _ => raw.stderr_tail.clone(),
            };
            let share = if once { count as f64 } else { 1.0 };
            let alone = RawOutcome {
                stdout: format!("{text}\n{n} {tag} {payload}\n").into_bytes(),
                stderr_tail: stderr,
                exit_code: Some(if tag == "exc" { 1 } else { 0 }),
                cpu_time: raw.cpu_time / share,
                peak_memory: raw.peak_memory,
                wall_time: raw.wall_time / share,
                stdout_overflow: tag == "olimit",
                ..RawOutcome::default()
            };
            results[i] = Some(judge(&alone, &n, &item.suite, i));
            if once {
                continue;
            }
            break;
        }
        if tag != "ok" {
            break;
        }
        let ok = match &item.suite {
            Suite::Stdin(c) => compare::stdout_matches(text, &c[i].1).is_some(),
            Suite::Call { cases, .. } => json::parse(payload)
                .map(|v| compare::call_result_matches(&v, &cases[i].1))
                .unwrap_or(false),
            Suite::Assert { .. } => true,
        };
        if !ok {
            // A wrong answer is re-run in its own child (it may come from state left by an
            // earlier test); the shared child went on, so later tests that passed are kept.
            continue;
        }
        results[i] = Some(TestResult {
            status: Status::Passed,
            signal: None,
            exit_code: Some(0),
            detail: String::new(),
            stdout_tail: tail(text.as_bytes(), 1024),
            stderr_tail: String::new(),
            wall_time: raw.wall_time / count as f64,
            cpu_time: raw.cpu_time / count as f64,
            peak_memory: raw.peak_memory,
        });
    }
    results
}

/// Verify a batch. `progress(done, total)` is called from the calling thread about every
/// 100 ms and at the end; returning `false` cancels the batch (remaining tests are not
/// started and the call returns [`CoreError::Verifier`]).
pub fn verify_batch(
    items: &[Item],
    limits: &Limits,
    num_workers: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<ProgramResult>, CoreError> {
    limits.validate()?;
    let feats = features();
    let isolation = resolve_isolation(&limits.isolation, feats)?;
    let python = match &limits.python {
        Some(p) => p.clone(),
        None => default_python().ok_or_else(|| {
            CoreError::Sandbox(
                "no system python3 found for the sandbox; set limits.python or PRIME_FAST_SANDBOX_PYTHON".into(),
            )
        })?,
    };
    let num_workers = num_workers.max(1);
    let plan = CgroupPlan::from_features(feats);
    let idle_release = plan.v1_cpuacct.is_some() || plan.v2.is_some();
    // Sleeping requests give their CPU token back; each lets one extra thread (and sandbox,
    // started on first use) take work. A few sleeping rows of a fast batch overlap, so the
    // extra threads are not capped at num_workers (2 workers, 10 sleeping rows in a second of
    // work: with 2 extra threads the third sleeper held a CPU token until it ended).
    let n_threads = if idle_release {
        num_workers + EXTRA_SLEEPERS.max(num_workers)
    } else {
        num_workers
    };
    let base = SandboxConfig {
        isolation,
        ipc_uts: feats.ipc_ns && feats.uts_ns,
        seccomp: isolation == Isolation::Strict || feats.seccomp,
        python,
        memory_bytes: limits.memory,
        processes: limits.processes,
        scratch_bytes: limits.scratch,
        output_bytes: limits.output,
        slot: 0,
        cgroups: plan,
    };
    // Start the first sandbox here so setup problems surface as a SandboxError.
    let first = Zygote::start(&base)?;
    let total_tests: usize = items.iter().map(|it| it.suite.len()).sum();
    const CHUNK: usize = crate::sandbox::spawn::MAX_CHILDREN_PER_REQUEST;
    // Work units (one request each).
    let units: Vec<Vec<(usize, usize, usize)>> = match limits.mode {
        // One program (up to CHUNK tests) per request: a test that sleeps must not hold up
        // other programs queued behind it in the same sandbox.
        Mode::PerTest => items
            .iter()
            .enumerate()
            .flat_map(|(p, it)| {
                (0..it.suite.len())
                    .step_by(CHUNK)
                    .map(move |a| vec![(p, a, (a + CHUNK).min(it.suite.len()))])
            })
            .collect(),
        Mode::PerProgram | Mode::PerProgramOnce => (0..items.len())
            .map(|p| vec![(p, usize::MAX, usize::MAX)])
            .collect(),
    };
    let slots: Vec<Mutex<Option<TestResult>>> =
        (0..total_tests).map(|_| Mutex::new(None)).collect();
    let offsets: Vec<usize> = items
        .iter()
        .scan(0, |acc, it| {
            let o = *acc;
            *acc += it.suite.len();
            Some(o)
        })
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let tokens = Tokens {
        free: Mutex::new(num_workers),
        cv: Condvar::new(),
        idle: AtomicUsize::new(0),
        idle_cv: Condvar::new(),
    };
    let finished = AtomicUsize::new(0);
    let mut first = Some(first);
    let threads = n_threads.min(units.len()).max(1);
    std::thread::scope(|s| {
        for slot in 0..threads {
            let mut cfg = base.clone();
            cfg.slot = slot as u32;
            let z = if slot == 0 { first.take() } else { None };
            let (units, items, slots, offsets, next, done, cancel, tokens, finished) = (
                &units, items, &slots, &offsets, &next, &done, &cancel, &tokens, &finished,
            );
            s.spawn(move || {
                let mut w = Worker { cfg, zygote: z };
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    // Threads beyond num_workers only work while requests sleep (see Tokens::idle),
                    // so CPU-bound batches do not start extra sandboxes.
                    if slot >= num_workers
                        && tokens.idle.load(Ordering::SeqCst) <= slot - num_workers
                    {
                        if next.load(Ordering::Relaxed) >= units.len() {
                            break;
                        }
                        let g = tokens.free.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = tokens.idle_cv.wait_timeout(g, Duration::from_millis(20));
                        continue;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(unit) = units.get(k) else { break };
                    if unit.first().is_some_and(|u| u.1 != usize::MAX) {
                        let group: Vec<(&Item, std::ops::Range<usize>)> =
                            unit.iter().map(|&(p, a, b)| (&items[p], a..b)).collect();
                        let rs = run_tests_group(&mut w, &group, limits, tokens);
                        for (&(p, a, b), r) in unit.iter().zip(rs) {
                            for (k, r) in r.into_iter().enumerate() {
                                *slots[offsets[p] + a + k]
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner()) = Some(r);
                            }
                            done.fetch_add(b - a, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let Some(&(p, _, _)) = unit.first() else {
                        continue;
                    };
                    let item = &items[p];
                    let mut partial = run_program(&mut w, item, limits, tokens);
                    // Per-test fallback for every test without a verdict from the shared
                    // child: the runs of missing tests go together in requests of up to CHUNK.
                    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
                    let mut i = 0;
                    while i < partial.len() {
                        if partial[i].is_some() {
                            i += 1;
                            continue;
                        }
                        let mut j = i;
                        while j < partial.len() && partial[j].is_none() && j - i < CHUNK {
                            j += 1;
                        }
                        ranges.push(i..j);
                        i = j;
                    }
                    let mut start = 0;
                    while start < ranges.len() {
                        let mut end = start;
                        let mut size = 0;
                        while end < ranges.len() && size + ranges[end].len() <= CHUNK {
                            size += ranges[end].len();
                            end += 1;
                        }
                        let group: Vec<(&Item, std::ops::Range<usize>)> = ranges[start..end]
                            .iter()
                            .map(|r| (item, r.clone()))
                            .collect();
                        let rs = run_tests_group(&mut w, &group, limits, tokens);
                        for (r, res) in ranges[start..end].iter().zip(rs) {
                            for (k, t) in res.into_iter().enumerate() {
                                partial[r.start + k] = Some(t);
                            }
                        }
                        start = end;
                    }
                    let results: Vec<TestResult> = partial.into_iter().flatten().collect();
                    for (i, r) in results.into_iter().enumerate() {
                        *slots[offsets[p] + i]
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = Some(r);
                    }
                    done.fetch_add(item.suite.len(), Ordering::Relaxed);
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        loop {
            let all_done = finished.load(Ordering::Acquire) == threads;
            if !progress(done.load(Ordering::Relaxed), total_tests) {
                cancel.store(true, Ordering::Relaxed);
            }
            if all_done {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(CoreError::Verifier("verification cancelled".into()));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut flat = slots.into_iter();
    for it in items {
        let mut tests = Vec::with_capacity(it.suite.len());
        for _ in 0..it.suite.len() {
            let r = flat
                .next()
                .and_then(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
                .ok_or_else(|| CoreError::Verifier("a test produced no result".into()))?;
            tests.push(r);
        }
        out.push(finish(tests, isolation));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suites() {
        let s = Suite::parse(r#"{"inputs": ["1 2\n"], "outputs": ["3\n"]}"#).unwrap();
        assert!(matches!(s, Suite::Stdin(ref c) if c.len() == 1));
        let s = Suite::parse(r#"{"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}"#).unwrap();
        assert!(matches!(s, Suite::Call { ref fn_name, .. } if fn_name == "add"));
        let s = Suite::parse(r#"{"inputs": ["[1]\n2"], "outputs": [3], "fn_name": "f"}"#).unwrap();
        assert!(matches!(s, Suite::Call { ref cases, .. } if cases[0].0.len() == 2));
        let s = Suite::parse(r#"{"test": "def check(c): assert c(1) == 2", "entry_point": "f"}"#)
            .unwrap();
        assert!(
            matches!(s, Suite::Assert { ref entry_point, .. } if entry_point.as_deref() == Some("f"))
        );
        let s =
            Suite::parse(r#"{"test_list": ["assert sq(2) == 4", "assert sq(3) == 9"]}"#).unwrap();
        assert!(
            matches!(s, Suite::Assert { ref entry_point, ref entry_candidates, ref tests } if entry_point.is_none() && entry_candidates == &["sq"] && tests.len() == 2)
        );
        assert!(Suite::parse(r#"{"inputs": ["1"], "outputs": []}"#).is_err());
        assert!(Suite::parse("[1]").is_err());
        assert!(Suite::parse("{").is_err());
        assert!(Suite::parse(r#"{"foo": 1}"#).is_err());
    }

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
        assert_eq!(called_names("assert foo(1) == 2"), ["foo"]);
        assert_eq!(called_names("assert (foo(1) == 2)"), ["foo"]);
        assert_eq!(
            called_names("assert set(f(a)) == set([1, 2])"),
            ["set", "f"]
        );
        assert_eq!(called_names("assert math.isclose(f(x), 0.5)"), ["f"]);
        assert_eq!(
            called_names("assert sorted(g(x)) == [1] and 'h(2)' != k(3)"),
            ["sorted", "g", "k"]
        );
    }
}
