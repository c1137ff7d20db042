//! Math answer verification: extraction, normalisation, parsing and comparison, all bounded.
//!
//! * [`extract`]: find the answer in a response (boxes, "final answer is", ...).
//! * [`normalize`]: the named, table-driven rewrite rules.
//! * [`parse`]: the answer AST (exact big-rational literals, relations, intervals, sets, ...).
//! * [`eval`] and [`compare`]: bounded evaluation and comparison by type.
//! * [`canon`]: the structural canonical form (equal forms need no evaluation).
//! * [`ratfn`]: exact rational-function forms in several variables (exact decisions).
//! * [`policy`]: the named policy switches and budgets.
//!
//! Every call returns a [`Verdict`]; nothing panics across the API (a caught panic becomes a
//! verdict with a reason) and every call ends within the wall-clock budget plus a small constant.

pub mod canon;
pub mod clock;
pub mod compare;
pub mod eval;
pub mod extract;
pub mod group;
pub mod normalize;
pub mod parse;
pub mod policy;
pub mod ratfn;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

pub use group::group_equivalent;
pub use policy::{
    Budget, Config, ConfigValue, DecimalComma, Extractor, PercentPolicy, Policy, RelationInterval,
};

use eval::{Ctx, EvalError};
use parse::{Answer, ParseError};

/// Outcome class of one verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The answer is equivalent to the reference.
    Correct,
    /// The answer was read and is not equivalent.
    Incorrect,
    /// No answer could be found or read in the response.
    Unparseable,
    /// The reference itself could not be read.
    GoldUnparseable,
    /// A budget (time, size, steps) ran out.
    Timeout,
}

impl Status {
    /// Lower-case name (`"correct"`, `"gold_unparseable"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Correct => "correct",
            Status::Incorrect => "incorrect",
            Status::Unparseable => "unparseable",
            Status::GoldUnparseable => "gold_unparseable",
            Status::Timeout => "timeout",
        }
    }
}

/// The result of verifying one (response, gold) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Outcome class.
    pub status: Status,
    /// The answer extracted from the response (or the prediction as given).
    pub extracted: Option<String>,
    /// The normalised prediction.
    pub normalized_pred: Option<String>,
    /// The normalised reference.
    pub normalized_gold: Option<String>,
    /// Why (short, human-readable).
    pub reason: String,
}

impl Verdict {
    /// Whether the status is `Correct`.
    pub fn correct(&self) -> bool {
        self.status == Status::Correct
    }

    fn new(status: Status, reason: impl Into<String>) -> Self {
        Self {
            status,
            extracted: None,
            normalized_pred: None,
            normalized_gold: None,
            reason: reason.into(),
        }
    }
}

/// Extract the answer from a response with the default configuration.
pub fn extract_answer(text: &str) -> Option<String> {
    extract_answer_with(text, &Config::default())
}

/// Extract the answer from a response.
pub fn extract_answer_with(text: &str, cfg: &Config) -> Option<String> {
    let text = tail_slice(text, cfg.budget.max_response_bytes);
    extract::extract(text, &cfg.extract_order, cfg.join_boxes).map(|x| x.0)
}

/// The last `max` bytes of `s` at a char boundary.
fn tail_slice(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Verify a full response against a reference answer (extracts the answer first).
pub fn verify(response: &str, gold: &str, cfg: &Config) -> Verdict {
    guarded(|| verify_inner(response, gold, cfg, true))
}

/// Compare an already-extracted answer with a reference answer.
pub fn verify_answer(pred: &str, gold: &str, cfg: &Config) -> Verdict {
    guarded(|| verify_inner(pred, gold, cfg, false))
}

/// Run `f`, turning a panic into `fallback`.
fn guarded_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

fn guarded(f: impl FnOnce() -> Verdict) -> Verdict {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Verdict::new(
                Status::Unparseable,
                format!("internal error (caught panic): {msg}"),
            )
        }
    }
}

fn space_key(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Pull the answer out of a string that is a full solution (`...\boxed{5}...`).
fn gold_answer(gold: &str, cfg: &Config) -> String {
    if gold.contains("\\boxed") || gold.contains("\\fbox") {
        if let Some(a) = extract::run_extractor(Extractor::Boxed, gold, cfg.join_boxes) {
            return a;
        }
    }
    gold.to_string()
}

fn verify_inner(response: &str, gold: &str, cfg: &Config, do_extract: bool) -> Verdict {
    let budget = &cfg.budget;
    // The deadline is checked every few evaluation steps, so a check can land a little late: aim
    // 5% early so that the whole call stays inside `timeout_ms` (of this thread's CPU time: clock.rs).
    let deadline = clock::Deadline::after_ms(budget.timeout_ms * 0.95);
    let policy = &cfg.policy;

    // Reference.
    if gold.len() > budget.max_answer_bytes.max(1) * 4 {
        return Verdict::new(
            Status::GoldUnparseable,
            "reference longer than 4 * max_answer_bytes",
        );
    }
    let gold_raw = gold_answer(gold, cfg);
    if gold_raw.len() > budget.max_answer_bytes {
        return Verdict::new(
            Status::GoldUnparseable,
            format!(
                "reference longer than max_answer_bytes={}",
                budget.max_answer_bytes
            ),
        );
    }
    let mut ng = match normalize::normalize(&gold_raw, policy) {
        Ok(s) if !s.trim().is_empty() => s,
        Ok(_) => return Verdict::new(Status::GoldUnparseable, "empty reference"),
        Err(e) => return Verdict::new(Status::GoldUnparseable, format!("reference: {e}")),
    };

    // Prediction.
    let (pred, next_extractor) = if do_extract {
        let text = tail_slice(response, budget.max_response_bytes);
        match extract::extract_from(text, &cfg.extract_order, cfg.join_boxes, 0) {
            Some((a, _, k)) => (a, k + 1),
            None => {
                let mut v = Verdict::new(Status::Unparseable, "no answer found in the response");
                v.normalized_gold = Some(ng);
                return v;
            }
        }
    } else if response.len() <= budget.max_answer_bytes {
        // A bare answer may still carry its box.
        (gold_answer(response, cfg), usize::MAX)
    } else {
        (response.to_string(), usize::MAX)
    };
    let mut v = Verdict::new(Status::Unparseable, "");
    v.normalized_gold = Some(ng.clone());
    if pred.len() > budget.max_answer_bytes {
        v.reason = format!(
            "answer longer than max_answer_bytes={}",
            budget.max_answer_bytes
        );
        v.extracted = Some(pred.chars().take(64).collect::<String>() + "...");
        return v;
    }
    v.extracted = Some(pred.clone());
    let np = match normalize::normalize(&pred, policy) {
        Ok(s) if !s.trim().is_empty() => Ok(s),
        Ok(_) => Err("empty answer".to_string()),
        Err(e) => Err(format!("answer: {e}")),
    };
    if let Ok(np) = &np {
        v.normalized_pred = Some(np.clone());
        if space_key(np) == space_key(&ng) {
            v.status = Status::Correct;
            v.reason = "normalised forms are identical".into();
            return v;
        }
    }

    let mut gold_ans = parse::parse_answer(&ng, policy, budget);
    if looks_like_solution(&gold_raw) {
        // A worked solution as the reference: extract its answer as from a response.
        if let Some((n, a)) = reextract(&gold_raw, &gold_raw, cfg, 0) {
            ng = n;
            gold_ans = Ok(a);
            v.normalized_gold = Some(ng.clone());
        }
    }
    let gold_ans = match gold_ans {
        Ok(a) => a,
        Err(ParseError::Syntax(m)) | Err(ParseError::Budget(m)) => {
            v.status = Status::GoldUnparseable;
            v.reason = format!("reference: {m}");
            return v;
        }
    };
    let mut pred_ans = match &np {
        Ok(np) => parse::parse_answer(np, policy, budget).map_err(|e| match e {
            ParseError::Syntax(m) | ParseError::Budget(m) => format!("answer: {m}"),
        }),
        Err(m) => Err(m.clone()),
    };
    // The first extractor found something unreadable (or prose against a non-text reference):
    // try the next extractors in order.
    let unusable = |a: &Result<Answer, String>| match a {
        Err(_) => true,
        Ok(Answer::Text(_)) => !matches!(gold_ans, Answer::Text(_)),
        Ok(_) => false,
    };
    // (A rule that rejected the answer, such as a digit outside its base, is final.)
    if do_extract && np.is_ok() && unusable(&pred_ans) {
        let text = tail_slice(response, budget.max_response_bytes);
        if let Some((n, a)) = reextract(text, &pred, cfg, next_extractor) {
            v.normalized_pred = Some(n.clone());
            if space_key(&n) == space_key(&ng) {
                v.status = Status::Correct;
                v.reason = "normalised forms are identical".into();
                return v;
            }
            pred_ans = Ok(a);
        }
    }
    let pred_ans = match pred_ans {
        Ok(a) => a,
        Err(m) => {
            v.reason = m;
            return v;
        }
    };
    // The deadline is checked inside evaluation (every 32 steps), not after the linear phases:
    // a cheap pair preempted by the OS must not turn into a spurious timeout.
    let mut cmp = compare::Cmp {
        policy,
        ctx: Ctx {
            budget,
            deadline,
            steps: 0,
            vars: Vec::new(),
        },
    };
    match cmp.answers(&pred_ans, &gold_ans) {
        Ok(true) => {
            v.status = Status::Correct;
            v.reason = "equivalent".into();
        }
        Ok(false) => {
            v.status = Status::Incorrect;
            v.reason = "not equivalent".into();
        }
        Err(EvalError::Timeout) => {
            v.status = Status::Timeout;
            v.reason = format!(
                "deadline of {} ms passed while comparing",
                budget.timeout_ms
            );
        }
        Err(EvalError::Budget(m)) => {
            v.status = Status::Timeout;
            v.reason = format!("budget exceeded: {m}");
        }
        Err(EvalError::Domain(m)) => {
            v.status = Status::Incorrect;
            v.reason = format!("not comparable: {m}");
        }
    }
    v
}

/// A reference that is a worked solution rather than an answer: math delimiters and several
/// words of prose.
fn looks_like_solution(gold: &str) -> bool {
    gold.len() > 24
        && (gold.contains('$') || gold.contains("\\(") || gold.contains("\\["))
        && gold
            .split_whitespace()
            .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphabetic()))
            .count()
            >= 3
}

/// The first answer found by `cfg.extract_order[skip..]` in `text` that differs from `seen`,
/// normalises, and parses into something other than prose.
fn reextract(text: &str, seen: &str, cfg: &Config, skip: usize) -> Option<(String, Answer)> {
    let mut k = skip;
    while k < cfg.extract_order.len() {
        let (a, _, idx) = extract::extract_from(text, &cfg.extract_order, cfg.join_boxes, k)?;
        k = idx + 1;
        if a == seen || a.len() > cfg.budget.max_answer_bytes {
            continue;
        }
        let Ok(n) = normalize::normalize(&a, &cfg.policy) else {
            continue;
        };
        match parse::parse_answer(&n, &cfg.policy, &cfg.budget) {
            Ok(Answer::Text(_)) | Err(_) => continue,
            Ok(ans) => return Some((n, ans)),
        }
    }
    None
}

/// Pools by thread count, with the pid that built each.
type PoolMap = HashMap<usize, (u32, Arc<rayon::ThreadPool>)>;

/// Thread pools by size, rebuilt after a fork (threads do not survive `fork`).
fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<PoolMap>> = OnceLock::new();
    let pid = std::process::id();
    let map = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut guard = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((p, pool)) = guard.get(&threads) {
        if *p == pid {
            return Some(pool.clone());
        }
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("pf-math-{i}"))
        // Recursion is bounded by `max_depth`; a roomy stack keeps raised budgets safe too.
        .stack_size(16 << 20)
        .build()
        .ok()?;
    let built = Arc::new(built);
    if let Some((_, old)) = guard.insert(threads, (pid, built.clone())) {
        // A pool inherited through fork has no threads; never drop it (its drop would wait).
        std::mem::forget(old);
    }
    Some(built)
}

/// Verify many pairs in parallel on `threads` threads (0 = all cores). `extract` picks
/// [`verify`] (full responses) or [`verify_answer`] (bare answers).
pub fn verify_batch(
    responses: &[String],
    golds: &[String],
    cfg: &Config,
    extract: bool,
    threads: usize,
) -> Vec<Verdict> {
    use rayon::prelude::*;
    let n = responses.len().min(golds.len());
    let one = |i: usize| {
        if extract {
            verify(&responses[i], &golds[i], cfg)
        } else {
            verify_answer(&responses[i], &golds[i], cfg)
        }
    };
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    if threads <= 1 || n <= 1 {
        return (0..n).map(one).collect();
    }
    match pool(threads) {
        Some(p) => p.install(|| (0..n).into_par_iter().map(one).collect()),
        None => (0..n).map(one).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(p: &str, g: &str) -> Status {
        verify_answer(p, g, &Config::default()).status
    }

    #[test]
    fn basics() {
        assert_eq!(eq("\\frac{1}{2}", "0.5"), Status::Correct);
        assert_eq!(eq("9999", "10{,}000"), Status::Incorrect);
        assert_eq!(eq("x = 3", "3"), Status::Correct);
        assert_eq!(eq("2\\sqrt{2}", "\\sqrt{8}"), Status::Correct);
        assert_eq!(eq("", "3"), Status::Unparseable);
        assert_eq!(eq("3", ""), Status::GoldUnparseable);
        assert_eq!(
            verify("so \\boxed{42}", "42", &Config::default()).status,
            Status::Correct
        );
    }
}
