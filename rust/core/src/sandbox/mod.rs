//! Running untrusted programs in Linux namespaces with limits.
//!
//! * [`detect`] probes, for real, which isolation features this machine offers.
//! * [`seccomp`] builds and installs the system-call filter.
//! * [`spawn`] starts a *zygote*: a pre-initialised Python interpreter inside a fresh set of
//!   namespaces (user, pid, net, mount, ipc, uts), with a read-only view of the system, a
//!   size-capped tmpfs scratch, an unprivileged uid, rlimits, cgroup limits, `no_new_privs`
//!   and seccomp. The zygote forks one child per test; the supervisor ([`spawn::Zygote::run`])
//!   enforces the wall-clock deadline, reads the output with caps and makes sure nothing the
//!   test started survives it.
//!
//! See `docs/SANDBOX.md` for the design and what enforces what.

pub mod detect;
pub mod seccomp;
pub mod spawn;

pub use detect::{detect_features, SandboxFeatures};
pub use spawn::{RawOutcome, SandboxConfig, TestRequest, Zygote};

use crate::CoreError;

/// Isolation levels, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isolation {
    /// rlimits, a distinct unprivileged uid (when root), process-tree kill; no namespaces.
    Rlimits,
    /// user/pid/net/mount/ipc/uts namespaces, read-only root, tmpfs scratch; no seccomp.
    Namespaces,
    /// namespaces plus `no_new_privs` and the seccomp filter.
    Strict,
}

impl Isolation {
    /// The level's name as used in results and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Rlimits => "rlimits",
            Isolation::Namespaces => "namespaces",
            Isolation::Strict => "strict",
        }
    }
}

/// Resolve a requested level (`"strict"`, `"namespaces"`, `"rlimits"` or `"auto"`) against
/// what this machine offers. Asking for more than is available is an error (never a silent
/// downgrade); `"auto"` takes the strongest available level.
pub fn resolve_isolation(
    requested: &str,
    features: &SandboxFeatures,
) -> Result<Isolation, CoreError> {
    let best = match features.best_isolation() {
        "strict" => Isolation::Strict,
        "namespaces" => Isolation::Namespaces,
        _ => Isolation::Rlimits,
    };
    // Namespaced levels also need a user namespace (for the unprivileged uid inside).
    let best = if best > Isolation::Rlimits && !features.user_ns {
        Isolation::Rlimits
    } else {
        best
    };
    let want = match requested {
        "auto" => return Ok(best),
        "strict" => Isolation::Strict,
        "namespaces" => Isolation::Namespaces,
        "rlimits" => Isolation::Rlimits,
        other => {
            return Err(CoreError::Config(format!(
                "isolation must be one of 'strict', 'namespaces', 'rlimits', 'auto'; got {other:?}"
            )))
        }
    };
    if want > best {
        return Err(CoreError::Sandbox(format!(
            "isolation {:?} is not available on this machine (best available: {:?}; features: {})",
            want.as_str(),
            best.as_str(),
            features
                .as_pairs()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(want)
}
