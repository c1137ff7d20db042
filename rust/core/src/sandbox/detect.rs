//! Detection of the isolation features this machine offers.
//!
//! Every probe does the real thing in a short-lived forked child (unshare a namespace,
//! install a seccomp filter, create a Landlock ruleset) or on the filesystem (create and
//! remove a cgroup), rather than reading kernel configuration files.

use std::fs;
use std::path::{Path, PathBuf};

/// Which isolation features work on this machine, for this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFeatures {
    /// Whether this process runs as root (uid 0).
    pub root: bool,
    /// `unshare(CLONE_NEWUSER)` works.
    pub user_ns: bool,
    /// A new pid namespace can be created.
    pub pid_ns: bool,
    /// A new (empty) network namespace can be created.
    pub net_ns: bool,
    /// A new mount namespace can be created.
    pub mount_ns: bool,
    /// A new IPC namespace can be created.
    pub ipc_ns: bool,
    /// A new UTS namespace can be created.
    pub uts_ns: bool,
    /// A seccomp BPF filter can be installed (after `no_new_privs`).
    pub seccomp: bool,
    /// Landlock ABI version (0 when Landlock is unavailable).
    pub landlock_abi: u32,
    /// cgroup v1 hierarchy with a writable `memory` controller (its mount point).
    pub cgroup_v1_memory: Option<PathBuf>,
    /// cgroup v1 hierarchy with a writable `pids` controller (its mount point).
    pub cgroup_v1_pids: Option<PathBuf>,
    /// cgroup v2 mount where a child cgroup can be created and `memory` is delegated.
    pub cgroup_v2_memory: Option<PathBuf>,
    /// cgroup v2 mount where a child cgroup can be created and `pids` is delegated.
    pub cgroup_v2_pids: Option<PathBuf>,
}

impl SandboxFeatures {
    /// Whether a memory limit can be enforced through some cgroup hierarchy.
    pub fn cgroup_memory(&self) -> bool {
        self.cgroup_v1_memory.is_some() || self.cgroup_v2_memory.is_some()
    }

    /// Whether a process-count limit can be enforced through some cgroup hierarchy.
    pub fn cgroup_pids(&self) -> bool {
        self.cgroup_v1_pids.is_some() || self.cgroup_v2_pids.is_some()
    }

    /// The strongest isolation level these features allow: `"strict"` (user, pid, net and
    /// mount namespaces plus seccomp), `"namespaces"` (namespaces without seccomp) or
    /// `"rlimits"` (resource limits and process groups only).
    pub fn best_isolation(&self) -> &'static str {
        let ns = (self.user_ns || self.root) && self.pid_ns && self.net_ns && self.mount_ns;
        if ns && self.seccomp {
            "strict"
        } else if ns {
            "namespaces"
        } else {
            "rlimits"
        }
    }

    /// The features as `(name, value)` pairs, for reports.
    pub fn as_pairs(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| match p {
            Some(p) => p.display().to_string(),
            None => "no".to_string(),
        };
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        vec![
            ("root", yes(self.root)),
            ("user_ns", yes(self.user_ns)),
            ("pid_ns", yes(self.pid_ns)),
            ("net_ns", yes(self.net_ns)),
            ("mount_ns", yes(self.mount_ns)),
            ("ipc_ns", yes(self.ipc_ns)),
            ("uts_ns", yes(self.uts_ns)),
            ("seccomp", yes(self.seccomp)),
            (
                "landlock",
                if self.landlock_abi > 0 {
                    format!("abi {}", self.landlock_abi)
                } else {
                    "no".to_string()
                },
            ),
            ("cgroup_v1_memory", path(&self.cgroup_v1_memory)),
            ("cgroup_v1_pids", path(&self.cgroup_v1_pids)),
            ("cgroup_v2_memory", path(&self.cgroup_v2_memory)),
            ("cgroup_v2_pids", path(&self.cgroup_v2_pids)),
            ("best_isolation", self.best_isolation().to_string()),
        ]
    }
}

/// Probe every feature. Takes a few milliseconds (a handful of `fork`s).
pub fn detect_features() -> SandboxFeatures {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let user_ns = probe_in_child(|| unshare(libc::CLONE_NEWUSER));
    // Without root, other namespaces need a user namespace around them.
    let extra = if root { 0 } else { libc::CLONE_NEWUSER };
    let ns = |flag: libc::c_int| probe_in_child(move || unshare(flag | extra));
    let (v1_mem, v1_pids, v2_mem, v2_pids) = detect_cgroups();
    SandboxFeatures {
        root,
        user_ns,
        pid_ns: ns(libc::CLONE_NEWPID),
        net_ns: ns(libc::CLONE_NEWNET),
        mount_ns: ns(libc::CLONE_NEWNS),
        ipc_ns: ns(libc::CLONE_NEWIPC),
        uts_ns: ns(libc::CLONE_NEWUTS),
        seccomp: probe_in_child(install_allow_all_seccomp),
        landlock_abi: landlock_abi(),
        cgroup_v1_memory: v1_mem,
        cgroup_v1_pids: v1_pids,
        cgroup_v2_memory: v2_mem,
        cgroup_v2_pids: v2_pids,
    }
}

fn unshare(flags: libc::c_int) -> bool {
    // SAFETY: unshare only changes the calling (child) process's namespaces.
    unsafe { libc::unshare(flags) == 0 }
}

/// Run `probe` in a forked child and report whether it returned true. The child only makes
/// raw system calls and `_exit`s, so forking from a multi-threaded process is safe.
fn probe_in_child<F: FnOnce() -> bool>(probe: F) -> bool {
    // SAFETY: the child calls only async-signal-safe functions (raw syscalls, _exit).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return false;
    }
    if pid == 0 {
        let ok = probe();
        // SAFETY: _exit never returns and runs no destructors or atexit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: status points to a valid c_int; pid is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// Install a seccomp filter that allows everything: proof that filters can be installed.
fn install_allow_all_seccomp() -> bool {
    let mut filter = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with valid arguments; prog outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == 0
    }
}

/// The Landlock ABI version, or 0 where Landlock is unavailable.
fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: a null attribute pointer with size 0 and the VERSION flag only queries the ABI.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r > 0 {
        r as u32
    } else {
        0
    }
}

type CgroupPaths = (
    Option<PathBuf>,
    Option<PathBuf>,
    Option<PathBuf>,
    Option<PathBuf>,
);

/// Find cgroup mounts in `/proc/self/mountinfo` and check, by creating and removing a
/// probe cgroup, that a child cgroup can be made with the memory and pids controllers.
fn detect_cgroups() -> CgroupPaths {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return (None, None, None, None);
    };
    let (mut v1_mem, mut v1_pids, mut v2_mem, mut v2_pids) = (None, None, None, None);
    for line in mountinfo.lines() {
        // "... mount_point options - fstype source super_options"
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split(' ').nth(4).unwrap_or("");
        let mut right = right.split(' ');
        let fstype = right.next().unwrap_or("");
        let super_opts = right.nth(1).unwrap_or("");
        let path = Path::new(mount_point);
        match fstype {
            "cgroup" => {
                let opts: Vec<&str> = super_opts.split(',').collect();
                if opts.contains(&"memory") && v1_mem.is_none() && can_make_child(path) {
                    v1_mem = Some(path.to_path_buf());
                }
                if opts.contains(&"pids") && v1_pids.is_none() && can_make_child(path) {
                    v1_pids = Some(path.to_path_buf());
                }
            }
            "cgroup2" if v2_mem.is_none() && v2_pids.is_none() => {
                let controllers =
                    fs::read_to_string(path.join("cgroup.subtree_control")).unwrap_or_default();
                let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
                if (has("memory") || has("pids")) && can_make_child(path) {
                    if has("memory") {
                        v2_mem = Some(path.to_path_buf());
                    }
                    if has("pids") {
                        v2_pids = Some(path.to_path_buf());
                    }
                }
            }
            _ => {}
        }
    }
    (v1_mem, v1_pids, v2_mem, v2_pids)
}

fn can_make_child(root: &Path) -> bool {
    let probe = root.join(format!("prime-fast-probe-{}", std::process::id()));
    if fs::create_dir(&probe).is_err() {
        return false;
    }
    fs::remove_dir(&probe).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_consistent() {
        let f = detect_features();
        // A pid namespace without root needs a user namespace.
        if f.pid_ns && !f.root {
            assert!(f.user_ns);
        }
        let pairs = f.as_pairs();
        assert_eq!(pairs.last().map(|p| p.0), Some("best_isolation"));
        assert!(["strict", "namespaces", "rlimits"].contains(&f.best_isolation()));
    }

    #[test]
    fn failing_probe_reports_false() {
        assert!(!probe_in_child(|| false));
        assert!(probe_in_child(|| true));
    }
}
