//! One worker thread's sandbox (its zygote, restarted when it died) and the CPU tokens the
//! workers share: a request holds a token while it runs, and gives it back early when it sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::sandbox::{RawOutcome, SandboxConfig, TestRequest, Zygote};

/// A counting semaphore of CPU tokens.
pub(super) struct Tokens {
    free: Mutex<usize>,
    cv: Condvar,
    /// Requests running now whose token was released early (they sleep or block): each lets
    /// one extra worker thread (and its sandbox) take work.
    idle: AtomicUsize,
    /// Wakes the extra worker threads when `idle` grows.
    idle_cv: Condvar,
}

impl Tokens {
    /// `free` tokens, no sleeping request.
    pub(super) fn new(free: usize) -> Tokens {
        Tokens {
            free: Mutex::new(free),
            cv: Condvar::new(),
            idle: AtomicUsize::new(0),
            idle_cv: Condvar::new(),
        }
    }
    /// Requests running now without their token (sleeping or blocked).
    pub(super) fn sleeping(&self) -> usize {
        self.idle.load(Ordering::SeqCst)
    }
    /// Wait until a request gives its token back early, at most `timeout`.
    pub(super) fn wait_for_sleepers(&self, timeout: Duration) {
        let g = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.idle_cv.wait_timeout(g, timeout);
    }
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

/// A worker thread's sandbox: its configuration and its zygote (started on first use).
pub(super) struct Worker {
    cfg: SandboxConfig,
    zygote: Option<Zygote>,
}

impl Worker {
    /// A worker with this configuration, and its zygote when already started.
    pub(super) fn new(cfg: SandboxConfig, zygote: Option<Zygote>) -> Worker {
        Worker { cfg, zygote }
    }

    fn zygote(&mut self) -> Result<&mut Zygote, String> {
        if !self.zygote.as_ref().is_some_and(|z| z.alive()) {
            self.zygote = None;
            self.zygote = Some(Zygote::start(&self.cfg).map_err(|e| e.to_string())?);
        }
        self.zygote.as_mut().ok_or_else(|| "no sandbox".to_string())
    }

    /// Run one request on this worker's zygote, holding a CPU token (given back early when
    /// the request sleeps); a sandbox that cannot start fails every child of the request.
    pub(super) fn run(
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
