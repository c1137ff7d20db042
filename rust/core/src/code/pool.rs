//! The worker pool of [`verify_batch`]: one thread and one sandbox per worker, `num_workers`
//! CPU tokens, extra threads for requests that sleep; and what the pool needs from the machine
//! (its sandbox features, the interpreter, the isolation level).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::judge::finish;
use super::runs::{run_program_then_alone, run_tests_group, CHUNK};
use super::types::{Item, Limits, Mode, ProgramResult, TestResult};
use super::worker::{Tokens, Worker};
use crate::sandbox::spawn::CgroupPlan;
use crate::sandbox::{
    detect_features, resolve_isolation, Isolation, SandboxConfig, SandboxFeatures, Zygote,
};
use crate::CoreError;

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

/// A batch's work units, one request each: `(program, first test, end)` per entry, or
/// `(program, usize::MAX, usize::MAX)` for a per-program run of the whole program.
fn work_units(items: &[Item], mode: Mode) -> Vec<Vec<(usize, usize, usize)>> {
    match mode {
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
    }
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
    let units = work_units(items, limits.mode);
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
    let tokens = Tokens::new(num_workers);
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
                let mut w = Worker::new(cfg, z);
                loop {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    // Threads beyond num_workers only work while requests sleep (see Tokens::idle),
                    // so CPU-bound batches do not start extra sandboxes.
                    if slot >= num_workers && tokens.sleeping() <= slot - num_workers {
                        if next.load(Ordering::Relaxed) >= units.len() {
                            break;
                        }
                        tokens.wait_for_sleepers(Duration::from_millis(20));
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
                    let results = run_program_then_alone(&mut w, item, limits, tokens);
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
