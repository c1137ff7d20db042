//! The time budget of one comparison, measured on the calling thread's CPU clock.
//!
//! A verdict must not depend on how busy the machine is: on a loaded machine a thread waits for a
//! core, and a wall-clock deadline would turn cheap pairs into spurious timeouts (seen on a 2-core
//! machine at load 8: `\sec^2(y)` vs `\tan^2(y)+1` timed out). The budget is therefore CPU time spent
//! by this thread (`CLOCK_THREAD_CPUTIME_ID`); a thread that is descheduled spends none of it. A
//! wall-clock backstop of [`WALL_FACTOR`] times the budget still ends a call that is starved of CPU for
//! that long, so no call waits without bound.

use std::time::{Duration, Instant};

/// The wall-clock backstop, as a multiple of the CPU budget.
pub const WALL_FACTOR: u32 = 50;

/// The CPU time this thread has used so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// When a comparison must stop: after `budget` of this thread's CPU time, or `WALL_FACTOR` times that
/// in wall-clock time, whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    cpu_end: Duration,
    wall_end: Instant,
}

impl Deadline {
    /// A deadline `ms` milliseconds of this thread's CPU time from now (negative: now).
    pub fn after_ms(ms: f64) -> Self {
        let budget = Duration::from_secs_f64(ms.max(0.0) / 1000.0);
        Deadline {
            cpu_end: thread_cpu_time() + budget,
            wall_end: Instant::now() + budget * WALL_FACTOR,
        }
    }

    /// Whether the budget is spent (on the CPU clock of the thread that calls this).
    pub fn passed(&self) -> bool {
        thread_cpu_time() >= self.cpu_end || Instant::now() >= self.wall_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleeping_thread_spends_no_budget() {
        let d = Deadline::after_ms(20.0);
        std::thread::sleep(Duration::from_millis(60));
        assert!(!d.passed(), "sleeping used CPU budget");
    }

    #[test]
    fn work_spends_the_budget() {
        let d = Deadline::after_ms(5.0);
        let mut x = 0u64;
        let start = Instant::now();
        while !d.passed() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the budget never ran out"
            );
        }
        assert!(thread_cpu_time() > Duration::ZERO && x != 1);
    }

    #[test]
    fn the_wall_backstop_ends_a_starved_call() {
        let d = Deadline::after_ms(0.1);
        std::thread::sleep(Duration::from_millis(10)); // 100x the budget of wall time, no CPU
        assert!(d.passed());
    }
}
