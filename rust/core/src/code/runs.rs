//! Running a program's tests on a worker: per-test requests (one forked child per test, a
//! group of programs' test ranges per request) and per-program runs (all tests in one child,
//! its framed records read back), with the per-test re-runs of what the shared child left open.

use std::ops::Range;
use std::time::Duration;

use super::compare;
use super::json::{self, Json};
use super::judge::{judge, split_sentinel, tail};
use super::request::{job_head, kind_of, nonce, suite_extra, test_obj, RequestBuf};
use super::suite::Suite;
use super::types::{Item, Limits, Mode, Status, TestResult};
use super::worker::{Tokens, Worker};
use crate::sandbox::spawn::MAX_CHILDREN_PER_REQUEST;
use crate::sandbox::RawOutcome;

/// Most tests in one request.
pub(super) const CHUNK: usize = MAX_CHILDREN_PER_REQUEST;

/// Per-test mode: for each (program, range of its tests), one forked child per test; all in
/// one request to the worker's zygote (fewer round trips between supervisor and sandbox).
pub(super) fn run_tests_group(
    w: &mut Worker,
    group: &[(&Item, Range<usize>)],
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

/// Per-program modes: all tests of `item` in one child ([`run_program`]), then every test
/// without a verdict from it alone, in per-test requests of up to [`CHUNK`] tests.
pub(super) fn run_program_then_alone(
    w: &mut Worker,
    item: &Item,
    limits: &Limits,
    tokens: &Tokens,
) -> Vec<TestResult> {
    let mut partial = run_program(w, item, limits, tokens);
    let ranges = missing_ranges(&partial);
    let mut start = 0;
    while start < ranges.len() {
        let mut end = start;
        let mut size = 0;
        while end < ranges.len() && size + ranges[end].len() <= CHUNK {
            size += ranges[end].len();
            end += 1;
        }
        let group: Vec<(&Item, Range<usize>)> = ranges[start..end]
            .iter()
            .map(|r| (item, r.clone()))
            .collect();
        let rs = run_tests_group(w, &group, limits, tokens);
        for (r, res) in ranges[start..end].iter().zip(rs) {
            for (k, t) in res.into_iter().enumerate() {
                partial[r.start + k] = Some(t);
            }
        }
        start = end;
    }
    partial.into_iter().flatten().collect()
}

/// The runs of tests without a verdict, each at most [`CHUNK`] long.
fn missing_ranges(partial: &[Option<TestResult>]) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
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
    ranges
}
