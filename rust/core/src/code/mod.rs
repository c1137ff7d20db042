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
//!
//! Modules, by concern (each imports only those below it in this list):
//! `pool` (the batch: threads, work units, results) -> `runs` (a program's tests on one worker:
//! per-test groups, per-program runs and their re-runs) -> `worker` (a thread's zygote, CPU
//! tokens) and `request` (the bytes sent to the zygote) and `judge` (raw outcome -> status,
//! scores) -> `types` (limits, statuses, results, items) -> `suite` (the ground-truth styles)
//! -> `compare` -> `json` -> `decimal`.

pub mod compare;
mod decimal;
pub mod json;
mod judge;
mod pool;
mod request;
mod runs;
mod suite;
mod types;
mod worker;

pub use pool::{default_python, features, isolation_for, verify_batch};
pub use suite::Suite;
pub use types::{Item, Limits, Mode, ProgramResult, Status, TestResult};
