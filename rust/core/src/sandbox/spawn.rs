//! Start a sandboxed zygote and run tests in it.
//!
//! The zygote is a Python interpreter (`python3 -I -S -B`) that pre-imports the usual modules,
//! then waits on a `SOCK_SEQPACKET` socket for requests. Each request carries, by
//! `SCM_RIGHTS`, a memfd with the job (JSON), a memfd with the test's stdin and the write ends
//! of fresh stdout/stderr pipes. The zygote forks a child per request, waits for it (or for a
//! kill request from the supervisor), kills everything else left in the sandbox, reaps,
//! cleans the scratch and answers with the exit status and resource usage. The supervisor
//! here reads both pipes continuously with caps and enforces the wall-clock deadline; it
//! sees EOF on the pipes only once every process that could hold them is dead.
//!
//! Setup of the sandbox (in the child of a raw `clone`, async-signal-safe code only):
//! new user/pid/net/mount/ipc/uts namespaces; the supervisor writes the uid/gid maps
//! (`65534` inside = an unprivileged host uid per worker slot) and puts the child in the
//! worker's cgroups; the child bind-mounts `/` read-only, mounts a size-capped tmpfs scratch
//! on `/tmp`, a small tmpfs on `/dev/shm`, a fresh `/proc`, hides `/root`, `/home`, `/run`...
//! under empty read-only tmpfs, pivots into the new root, drops to uid 65534, sets rlimits,
//! `no_new_privs` and the seccomp filter, and executes the interpreter with a scrubbed
//! environment.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::seccomp;
use super::Isolation;
use crate::CoreError;

/// The zygote's Python source (runs inside the sandbox).
const ZYGOTE_SRC: &str = include_str!("zygote.py");

/// uid/gid of the sandboxed program inside its user namespace.
const INNER_ID: u32 = 65534;

/// Configuration of one sandbox worker.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Isolation level to set up (already resolved against the machine's features).
    pub isolation: Isolation,
    /// Whether the ipc / uts namespaces can be created (from detection).
    pub ipc_uts: bool,
    /// Whether seccomp can be installed (always true for `Strict`).
    pub seccomp: bool,
    /// The Python interpreter run inside the sandbox.
    pub python: PathBuf,
    /// Memory limit of one test in bytes (address space and cgroup).
    pub memory_bytes: u64,
    /// Processes/threads one test may have.
    pub processes: u64,
    /// Size cap of the tmpfs scratch in bytes (also the file-size rlimit).
    pub scratch_bytes: u64,
    /// Cap of stdout (and of stderr) in bytes.
    pub output_bytes: usize,
    /// Worker slot (selects the unprivileged host uid).
    pub slot: u32,
    /// Cgroup hierarchies to use (memory, pids, cpuacct), if writable.
    pub cgroups: CgroupPlan,
}

/// Where the worker cgroups go.
#[derive(Debug, Clone, Default)]
pub struct CgroupPlan {
    /// cgroup v1 memory mount.
    pub v1_memory: Option<PathBuf>,
    /// cgroup v1 pids mount.
    pub v1_pids: Option<PathBuf>,
    /// cgroup v1 cpuacct mount (for CPU-idle detection).
    pub v1_cpuacct: Option<PathBuf>,
    /// cgroup v1 cpu mount (fair share between workers, at most one CPU per worker).
    pub v1_cpu: Option<PathBuf>,
    /// cgroup v2 mount with memory and/or pids delegated.
    pub v2: Option<PathBuf>,
}

impl CgroupPlan {
    /// The plan for this machine from the detected features.
    pub fn from_features(f: &super::SandboxFeatures) -> CgroupPlan {
        let cpuacct = ["/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.join("cpuacct.usage").exists() && can_make_dir(p));
        CgroupPlan {
            v1_memory: f.cgroup_v1_memory.clone(),
            v1_pids: f.cgroup_v1_pids.clone(),
            v1_cpuacct: cpuacct,
            v1_cpu: Some(PathBuf::from("/sys/fs/cgroup/cpu"))
                .filter(|p| p.join("cpu.cfs_quota_us").exists() && can_make_dir(p)),
            v2: f.cgroup_v2_memory.clone().or(f.cgroup_v2_pids.clone()),
        }
    }
}

fn can_make_dir(root: &Path) -> bool {
    let p = root.join(format!("prime-fast-probe-{}", std::process::id()));
    fs::create_dir(&p).is_ok() && fs::remove_dir(&p).is_ok()
}

/// One request to the zygote.
pub struct TestRequest<'a> {
    /// The request read by the zygote's harness: `"<n>\n"`, `n` bytes of JSON job description,
    /// then the programs' sources (see `code::RequestBuf`).
    pub job: &'a [u8],
    /// One stdin per child to fork (per-program mode: one child).
    pub stdins: Vec<&'a [u8]>,
    /// Wall-clock limit of each child.
    pub deadline: Duration,
    /// Wall-clock limit of one test (per-program mode: `deadline` covers all tests); the
    /// CPU-idle check waits a quarter of it (at least 100 ms) before a request counts as sleeping.
    pub test_time: Duration,
}

/// What happened to one request, before judging.
#[derive(Debug, Clone, Default)]
pub struct RawOutcome {
    /// stdout, at most `output_bytes`.
    pub stdout: Vec<u8>,
    /// stdout went past the cap (the test was killed).
    pub stdout_overflow: bool,
    /// The last few KiB of stderr.
    pub stderr_tail: Vec<u8>,
    /// stderr went past the cap (the test was killed).
    pub stderr_overflow: bool,
    /// The wall-clock deadline passed (the test was killed).
    pub timed_out: bool,
    /// Exit status of the test's main process, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended the test's main process, if any.
    pub signal: Option<i32>,
    /// User + system CPU seconds of the test's main process (and its reaped children).
    pub cpu_time: f64,
    /// Peak resident memory of the test's main process, bytes.
    pub peak_memory: u64,
    /// Wall seconds from the request to the end of the drain.
    pub wall_time: f64,
    /// The cgroup OOM killer fired during the test.
    pub oom_killed: bool,
    /// The sandbox failed (zygote died or hung): the reason.
    pub sandbox_failure: Option<String>,
}

const STDERR_TAIL: usize = 8192;
static CGROUP_SEQ: AtomicU64 = AtomicU64::new(0);
static NEXT_SLOT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A worker's cgroups (removed on drop).
#[derive(Debug, Default)]
struct Cgroups {
    dirs: Vec<PathBuf>,
    memory: Option<PathBuf>,
    v2: bool,
    cpu: Option<PathBuf>,
}

impl Cgroups {
    fn create(plan: &CgroupPlan, memory_limit: u64, pids_limit: u64) -> Cgroups {
        let mut cg = Cgroups::default();
        let name = format!(
            "pf-{}-{:08x}-{}",
            std::process::id(),
            process_tag(),
            CGROUP_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mk = |root: &Path| -> Option<PathBuf> {
            let parent = root.join("prime-fast");
            let _ = fs::create_dir(&parent);
            sweep_stale_cgroups(&parent);
            let dir = parent.join(&name);
            fs::create_dir(&dir).ok().map(|_| dir)
        };
        if let Some(root) = &plan.v2 {
            let parent = root.join("prime-fast");
            let _ = fs::create_dir(&parent);
            let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory +pids");
            if let Some(dir) = mk(root) {
                let ok_mem = fs::write(dir.join("memory.max"), memory_limit.to_string()).is_ok();
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let _ = fs::write(dir.join("pids.max"), pids_limit.to_string());
                if ok_mem {
                    cg.memory = Some(dir.clone());
                }
                cg.v2 = true;
                cg.cpu = Some(dir.clone());
                cg.dirs.push(dir);
            }
        } else {
            if let Some(root) = &plan.v1_memory {
                if let Some(dir) = mk(root) {
                    if fs::write(dir.join("memory.limit_in_bytes"), memory_limit.to_string())
                        .is_ok()
                    {
                        let _ = fs::write(
                            dir.join("memory.memsw.limit_in_bytes"),
                            memory_limit.to_string(),
                        );
                        cg.memory = Some(dir.clone());
                    }
                    cg.dirs.push(dir);
                }
            }
            if let Some(root) = &plan.v1_pids {
                if let Some(dir) = mk(root) {
                    let _ = fs::write(dir.join("pids.max"), pids_limit.to_string());
                    cg.dirs.push(dir);
                }
            }
            if let Some(root) = &plan.v1_cpu {
                if let Some(dir) = mk(root) {
                    // Workers share the CPU fairly whatever their process count (a fork bomb
                    // cannot starve the others), and a test gets at most one CPU.
                    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                    let _ = fs::write(
                        root.join("prime-fast").join("cpu.shares"),
                        (2048 * cpus).to_string(),
                    );
                    let _ = fs::write(dir.join("cpu.cfs_quota_us"), "100000");
                    cg.dirs.push(dir);
                }
            }
            if let Some(root) = &plan.v1_cpuacct {
                if let Some(dir) = mk(root) {
                    cg.cpu = Some(dir.clone());
                    cg.dirs.push(dir);
                }
            }
        }
        cg
    }

    fn attach(&self, pid: libc::pid_t) -> Result<(), String> {
        for d in &self.dirs {
            fs::write(d.join("cgroup.procs"), pid.to_string())
                .map_err(|e| format!("cannot join cgroup {}: {e}", d.display()))?;
        }
        Ok(())
    }

    fn oom_file(&self) -> Option<PathBuf> {
        let d = self.memory.as_ref()?;
        Some(d.join(if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        }))
    }

    fn oom_kills(&self) -> u64 {
        let Some(d) = &self.memory else { return 0 };
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        fs::read_to_string(d.join(file))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
            })
            .unwrap_or(0)
    }

    /// CPU time of everything in the worker, nanoseconds.
    fn cpu_ns(&self) -> Option<u64> {
        let d = self.cpu.as_ref()?;
        if self.v2 {
            let s = fs::read_to_string(d.join("cpu.stat")).ok()?;
            s.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us * 1000)
        } else {
            fs::read_to_string(d.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse()
                .ok()
        }
    }

    fn kill_all(&self) {
        for d in &self.dirs {
            if self.v2 {
                let _ = fs::write(d.join("cgroup.kill"), "1");
            }
            if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs
                    .lines()
                    .filter_map(|l| l.trim().parse::<libc::pid_t>().ok())
                {
                    // SAFETY: plain kill of a pid listed in our own cgroup.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Remove the empty cgroups that verifying processes which are gone left under `parent` (one
/// that was SIGKILLed never ran its `Drop`). Once per directory and process. Only directories
/// named `pf-<pid>-...` whose pid no longer exists are touched, and `rmdir` of a cgroup fails
/// while any process is in it, so nothing in use is removed.
fn sweep_stale_cgroups(parent: &Path) {
    static SWEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    {
        let mut done = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        if done.iter().any(|d| d == parent) {
            return;
        }
        done.push(parent.to_path_buf());
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("pf-"))
            .and_then(|n| n.split('-').next())
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the pid exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0 && last_errno() == libc::ESRCH;
        // A process in another pid namespace may reuse the number: only old directories go.
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(60));
        if gone && old {
            let _ = fs::remove_dir(e.path());
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for d in &self.dirs {
            for _ in 0..50 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                self.kill_all();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// A running sandboxed interpreter for one worker slot.
pub struct Zygote {
    pid: libc::pid_t,
    sock: RawFd,
    alive: bool,
    cgroups: Cgroups,
    host_scratch: Option<PathBuf>,
    cfg: SandboxConfig,
}

fn cstr(s: &str) -> Result<CString, CoreError> {
    CString::new(s).map_err(|_| CoreError::Sandbox(format!("path contains a NUL byte: {s:?}")))
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A random number fixed for this process: makes cgroup names and sandbox uids unique even
/// across processes that share a pid (in different pid namespaces).
fn process_tag() -> u32 {
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *TAG.get_or_init(|| {
        let mut b = [0u8; 4];
        // SAFETY: getrandom into a local buffer.
        let r = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
        if r == 4 {
            u32::from_ne_bytes(b)
        } else {
            std::process::id().wrapping_mul(2_654_435_761)
        }
    })
}

/// The unprivileged host uid (and gid) of a worker slot: unique per process and slot, owned
/// by no file, so `RLIMIT_NPROC` counts only this sandbox's processes.
fn host_uid(slot: u32) -> u32 {
    2_000_000_000 + (process_tag() % 100_000) * 4096 + (slot % 4096)
}

/// Steps of the child's setup, reported (as their index) through the error pipe on failure.
const STEP_NAMES: &[&str] = &[
    "sync with supervisor",
    "make mounts private",
    "bind the root read-only",
    "set the root read-only",
    "mount the scratch tmpfs",
    "mount /dev/shm",
    "mount /proc",
    "hide host directories",
    "pivot_root",
    "drop to the unprivileged uid",
    "set rlimits",
    "install seccomp",
    "set up file descriptors",
    "execute the interpreter",
    "change to the scratch directory",
    "set no_new_privs",
];

/// Index of a setup step in [`STEP_NAMES`].
type Step = u8;
const STEP_SYNC: Step = 0;
const STEP_PRIVATE: Step = 1;
const STEP_BIND_ROOT: Step = 2;
const STEP_ROOT_READ_ONLY: Step = 3;
const STEP_SCRATCH: Step = 4;
const STEP_SHM: Step = 5;
const STEP_PROC: Step = 6;
const STEP_HIDE: Step = 7;
const STEP_PIVOT_ROOT: Step = 8;
const STEP_DROP_UID: Step = 9;
const STEP_RLIMITS: Step = 10;
const STEP_SECCOMP: Step = 11;
const STEP_FDS: Step = 12;
const STEP_EXEC: Step = 13;
const STEP_CHDIR: Step = 14;
const STEP_NO_NEW_PRIVS: Step = 15;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Address space and cgroup memory of the zygote's interpreter, on top of a test's limit.
const ZYGOTE_OVERHEAD: u64 = 96 << 20;

/// Who starts a sandbox, and as whom its programs run.
struct Identity {
    /// Namespaced isolation (`strict` or `namespaces`).
    ns: bool,
    /// The supervisor runs as root.
    root: bool,
    /// The supervisor's effective uid and gid.
    euid: u32,
    egid: u32,
    /// The sandbox's unprivileged host uid (and gid).
    uid: u32,
}

impl Identity {
    /// The identity of a new sandbox. A process-wide slot counter (not the batch's worker
    /// index) picks the host uid: concurrent batches in one process never share a uid
    /// (RLIMIT_NPROC accounting, kill(-1) at the rlimits level).
    fn for_new_sandbox(cfg: &SandboxConfig) -> Identity {
        // SAFETY: geteuid/getegid have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Identity {
            ns: cfg.isolation >= Isolation::Namespaces,
            root: euid == 0,
            euid,
            egid,
            uid: host_uid(NEXT_SLOT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    /// Whether the child switches to another uid (in its namespace, or as root on the host).
    fn drops_uid(&self) -> bool {
        self.ns || self.root
    }

    /// The uid/gid the programs run as, seen from inside.
    fn inner_id(&self) -> u32 {
        if self.ns {
            INNER_ID
        } else {
            self.uid
        }
    }
}

/// The rlimits level's scratch: a fresh host directory (mode 0700, owned by the sandbox's uid
/// when root).
fn make_host_scratch(who: &Identity) -> Result<PathBuf, CoreError> {
    let dir = std::env::temp_dir().join(format!(
        "prime-fast-scratch-{}-{:08x}-{}",
        std::process::id(),
        process_tag(),
        CGROUP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).map_err(|e| CoreError::Sandbox(format!("scratch: {e}")))?;
    if who.root {
        let c = cstr(&dir.to_string_lossy())?;
        // SAFETY: valid C string.
        unsafe { libc::chown(c.as_ptr(), who.uid, who.uid) };
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
    Ok(dir)
}

/// Everything the child needs, built before `clone`: after it the child runs only
/// async-signal-safe code (raw system calls on this memory), so it must not allocate.
struct ChildPlan {
    ns: bool,
    ipc_uts: bool,
    root: bool,
    drop_uid: bool,
    inner: u32,
    nproc: u64,
    fsize: u64,
    use_seccomp: bool,
    debug_stderr: bool,
    python: CString,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    new_root: CString,
    slash: CString,
    dot: CString,
    tmpfs: CString,
    proc_s: CString,
    scratch_target: CString,
    shm_target: CString,
    proc_target: CString,
    scratch_opts: CString,
    shm_opts: CString,
    hide_opts: CString,
    hide: Vec<CString>,
    scratch: CString,
    filter: Vec<libc::sock_filter>,
}

impl ChildPlan {
    fn new(
        cfg: &SandboxConfig,
        who: &Identity,
        cgroups: &Cgroups,
        scratch: &str,
    ) -> Result<ChildPlan, CoreError> {
        let argv_s: Vec<CString> = ["python3", "-I", "-S", "-B", "-c", ZYGOTE_SRC]
            .iter()
            .map(|s| cstr(s))
            .collect::<Result<_, _>>()?;
        let env_s = Self::environment(cfg, who, cgroups, scratch)?;
        Ok(ChildPlan {
            ns: who.ns,
            ipc_uts: cfg.ipc_uts,
            root: who.root,
            drop_uid: who.drops_uid(),
            inner: who.inner_id(),
            nproc: cfg.processes + 2,
            fsize: cfg.scratch_bytes.max(1 << 20),
            use_seccomp: cfg.seccomp,
            debug_stderr: std::env::var_os("PRIME_FAST_SANDBOX_DEBUG").is_some(),
            python: cstr(&cfg.python.to_string_lossy())?,
            argv: null_terminated(&argv_s),
            _argv: argv_s,
            envp: null_terminated(&env_s),
            _env: env_s,
            new_root: cstr("/tmp")?,
            slash: cstr("/")?,
            dot: cstr(".")?,
            tmpfs: cstr("tmpfs")?,
            proc_s: cstr("proc")?,
            scratch_target: cstr("/tmp/tmp")?,
            shm_target: cstr("/tmp/dev/shm")?,
            proc_target: cstr("/tmp/proc")?,
            scratch_opts: cstr(&format!(
                "size={},nr_inodes=16384,mode=1777",
                cfg.scratch_bytes.max(1 << 20)
            ))?,
            shm_opts: cstr("size=16m,nr_inodes=1024,mode=1777")?,
            hide_opts: cstr("size=16k,nr_inodes=16,mode=755")?,
            hide: Self::hidden_dirs(cfg)?,
            scratch: cstr(scratch)?,
            filter: seccomp::build_filter(),
        })
    }

    /// The interpreter's scrubbed environment.
    fn environment(
        cfg: &SandboxConfig,
        who: &Identity,
        cgroups: &Cgroups,
        scratch: &str,
    ) -> Result<Vec<CString>, CoreError> {
        // The child's address space limit: the test's limit plus the interpreter's own mappings.
        let as_bytes = cfg.memory_bytes.saturating_add(ZYGOTE_OVERHEAD);
        let kill_all = who.ns || who.root;
        [
            "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
            format!("HOME={scratch}"),
            format!("TMPDIR={scratch}"),
            "LANG=C.UTF-8".to_string(),
            "LC_ALL=C.UTF-8".to_string(),
            "PYTHONIOENCODING=utf-8".to_string(),
            "PYTHONHASHSEED=0".to_string(),
            "OMP_NUM_THREADS=1".to_string(),
            "OPENBLAS_NUM_THREADS=1".to_string(),
            "MKL_NUM_THREADS=1".to_string(),
            format!("PF_SCRATCH={scratch}"),
            format!("PF_KILL_ALL={}", u8::from(kill_all)),
            format!("PF_PID1={}", u8::from(who.ns)),
            format!("PF_AS_BYTES={as_bytes}"),
            format!("PF_OUTPUT_BYTES={}", cfg.output_bytes),
            format!(
                "PF_OOM_FILE={}",
                cgroups
                    .oom_file()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        ]
        .iter()
        .map(|s| cstr(s))
        .collect()
    }

    /// Host directories hidden under empty read-only tmpfs (paths under the new root), except
    /// one that holds the interpreter.
    fn hidden_dirs(cfg: &SandboxConfig) -> Result<Vec<CString>, CoreError> {
        [
            "/root", "/home", "/run", "/var/tmp", "/mnt", "/media", "/srv", "/work",
        ]
        .iter()
        .filter(|d| Path::new(d).is_dir() && !cfg.python.starts_with(d))
        .map(|d| cstr(&format!("/tmp{d}")))
        .collect()
    }

    /// The child after `clone`: set up, then `execve` the interpreter; on failure report the
    /// step and errno through the error pipe and exit.
    ///
    /// # Safety
    /// Call only in the child of a `clone` without `CLONE_VM`, with `ch` open: it runs only
    /// async-signal-safe system calls on memory prepared before the `clone`.
    unsafe fn run_in_child(&self, ch: &Channels) -> ! {
        // SAFETY: raw system calls on our own fds and on prepared data (see the function's
        // safety section).
        unsafe {
            libc::close(ch.sync[1]);
            libc::close(ch.sv[0]);
            libc::close(ch.errp[0]);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if let Err(step) = self.set_up_in_child(ch) {
                report_step_failure(ch.errp[1], step);
            }
            libc::execve(self.python.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
            // fd 4 is the error pipe now (close-on-exec: closed by a successful execve).
            report_step_failure(4, STEP_EXEC);
        }
    }

    /// Every setup step in order; the first that fails is returned (errno still set).
    unsafe fn set_up_in_child(&self, ch: &Channels) -> Result<(), Step> {
        // SAFETY: as for run_in_child.
        unsafe {
            Self::wait_for_go(ch)?;
            if self.ns {
                self.build_root()?;
            }
            self.enter_scratch()?;
            self.drop_to_inner_uid()?;
            self.set_rlimits()?;
            self.confine()?;
            self.arrange_fds(ch)
        }
    }

    /// Block until the supervisor has written the id maps and placed us in the cgroups.
    unsafe fn wait_for_go(ch: &Channels) -> Result<(), Step> {
        let mut b = 0u8;
        // SAFETY: reading one byte from our pipe end into a local.
        let n = unsafe { libc::read(ch.sync[0], (&mut b as *mut u8).cast(), 1) };
        check(n == 1 && b == b'g', STEP_SYNC)
    }

    /// The new root: private mounts, `/` bound read-only and nosuid, the scratch and
    /// `/dev/shm` tmpfs, a fresh `/proc`, host directories hidden; then `pivot_root` into it.
    unsafe fn build_root(&self) -> Result<(), Step> {
        let null = std::ptr::null::<libc::c_char>();
        let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
        // SAFETY: mount system calls with valid C strings prepared before clone.
        unsafe {
            let private = libc::mount(
                null,
                self.slash.as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            );
            check(private == 0, STEP_PRIVATE)?;
            let bind = libc::mount(
                self.slash.as_ptr(),
                self.new_root.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            );
            check(bind == 0, STEP_BIND_ROOT)?;
            self.make_root_read_only()?;
            check(
                self.mount_tmpfs(&self.scratch_target, nosuid_nodev, &self.scratch_opts),
                STEP_SCRATCH,
            )?;
            check(
                self.mount_tmpfs(&self.shm_target, nosuid_nodev, &self.shm_opts),
                STEP_SHM,
            )?;
            self.mount_proc()?;
            for h in &self.hide {
                check(
                    self.mount_tmpfs(h, nosuid_nodev | libc::MS_RDONLY, &self.hide_opts),
                    STEP_HIDE,
                )?;
            }
            let pivot = libc::chdir(self.new_root.as_ptr()) == 0
                && libc::syscall(libc::SYS_pivot_root, self.dot.as_ptr(), self.dot.as_ptr()) == 0
                && libc::umount2(self.dot.as_ptr(), libc::MNT_DETACH) == 0;
            check(pivot, STEP_PIVOT_ROOT)?;
            if self.ipc_uts {
                let hostname = b"sandbox";
                libc::sethostname(hostname.as_ptr().cast(), hostname.len());
            }
        }
        Ok(())
    }

    /// The whole new root read-only and nosuid (`mount_setattr(AT_RECURSIVE)`).
    unsafe fn make_root_read_only(&self) -> Result<(), Step> {
        let attr = MountAttr {
            attr_set: 0x1 | 0x2, // MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: mount_setattr with a valid path and a live attribute struct.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                self.new_root.as_ptr(),
                0x8000u32, // AT_RECURSIVE
                &attr as *const MountAttr,
                size_of::<MountAttr>(),
            )
        };
        check(r == 0, STEP_ROOT_READ_ONLY)
    }

    /// Mount a tmpfs with these flags and options; whether it worked.
    unsafe fn mount_tmpfs(&self, target: &CString, flags: libc::c_ulong, opts: &CString) -> bool {
        // SAFETY: mount with valid C strings prepared before clone.
        unsafe {
            libc::mount(
                self.tmpfs.as_ptr(),
                target.as_ptr(),
                self.tmpfs.as_ptr(),
                flags,
                opts.as_ptr().cast(),
            ) == 0
        }
    }

    /// A fresh `/proc` of the new pid namespace, or else an empty read-only tmpfs there.
    unsafe fn mount_proc(&self) -> Result<(), Step> {
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        // SAFETY: mount with valid C strings prepared before clone.
        let proc_ok = unsafe {
            libc::mount(
                self.proc_s.as_ptr(),
                self.proc_target.as_ptr(),
                self.proc_s.as_ptr(),
                flags | libc::MS_NOEXEC,
                std::ptr::null(),
            ) == 0
        };
        // SAFETY: as above.
        let ok = proc_ok
            || unsafe {
                self.mount_tmpfs(&self.proc_target, flags | libc::MS_RDONLY, &self.hide_opts)
            };
        check(ok, STEP_PROC)
    }

    /// Work in the scratch directory; at the rlimits level, lead a new process group.
    unsafe fn enter_scratch(&self) -> Result<(), Step> {
        // SAFETY: chdir with a valid C string; setpgid on ourselves.
        unsafe {
            check(libc::chdir(self.scratch.as_ptr()) == 0, STEP_CHDIR)?;
            if !self.ns {
                libc::setpgid(0, 0);
            }
        }
        Ok(())
    }

    /// Drop supplementary groups (as root) and switch to the unprivileged uid/gid.
    unsafe fn drop_to_inner_uid(&self) -> Result<(), Step> {
        if !self.drop_uid {
            return Ok(());
        }
        // Raw system calls: glibc's wrappers broadcast credential changes to the parent's other
        // threads, which do not exist in this child (deadlock).
        // SAFETY: credential system calls with plain integer arguments.
        unsafe {
            if self.root {
                libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>());
            }
            let id = self.inner;
            check(
                libc::syscall(libc::SYS_setresgid, id, id, id) == 0
                    && libc::syscall(libc::SYS_setresuid, id, id, id) == 0,
                STEP_DROP_UID,
            )
        }
    }

    /// No core files, 256 fds, files up to the scratch size, and (with its own uid) a cap on
    /// processes.
    unsafe fn set_rlimits(&self) -> Result<(), Step> {
        let lim = |res: libc::__rlimit_resource_t, v: u64| {
            let r = libc::rlimit {
                rlim_cur: v,
                rlim_max: v,
            };
            // SAFETY: setrlimit with a live struct.
            unsafe { libc::setrlimit(res, &r) == 0 }
        };
        check(
            lim(libc::RLIMIT_CORE, 0)
                && lim(libc::RLIMIT_NOFILE, 256)
                && lim(libc::RLIMIT_FSIZE, self.fsize)
                && (!self.drop_uid || lim(libc::RLIMIT_NPROC, self.nproc)),
            STEP_RLIMITS,
        )
    }

    /// `no_new_privs`, then the seccomp filter when asked for.
    unsafe fn confine(&self) -> Result<(), Step> {
        // SAFETY: prctl with integer arguments; installing a filter built before clone.
        unsafe {
            check(
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0,
                STEP_NO_NEW_PRIVS,
            )?;
            check(
                !self.use_seccomp || seccomp::install(&self.filter),
                STEP_SECCOMP,
            )
        }
    }

    /// fds 0, 1, 2 -> /dev/null (stderr kept when debugging), 3 -> the control socket,
    /// 4 -> the error pipe (close-on-exec); every other fd closed.
    unsafe fn arrange_fds(&self, ch: &Channels) -> Result<(), Step> {
        // SAFETY: fcntl/dup2/dup3/close_range on our own fds.
        unsafe {
            let sock_hi = libc::fcntl(ch.sv[1], libc::F_DUPFD_CLOEXEC, 100);
            let err_hi = libc::fcntl(ch.errp[1], libc::F_DUPFD_CLOEXEC, 100);
            check(sock_hi >= 0 && err_hi >= 0, STEP_FDS)?;
            libc::dup2(ch.devnull, 0);
            libc::dup2(ch.devnull, 1);
            if !self.debug_stderr {
                libc::dup2(ch.devnull, 2);
            }
            check(
                libc::dup2(sock_hi, 3) == 3 && libc::dup3(err_hi, 4, libc::O_CLOEXEC) == 4,
                STEP_FDS,
            )?;
            libc::syscall(libc::SYS_close_range, 5u32, u32::MAX, 0u32);
        }
        Ok(())
    }
}

/// `Ok` when `ok`, else the failed step.
fn check(ok: bool, step: Step) -> Result<(), Step> {
    if ok {
        Ok(())
    } else {
        Err(step)
    }
}

/// Write the failed step and errno to the error pipe and exit (in the child).
///
/// # Safety
/// Only in the child after `clone`.
unsafe fn report_step_failure(errfd: RawFd, step: Step) -> ! {
    // SAFETY: reading errno, writing a local buffer to our pipe, exiting.
    unsafe {
        let e = *libc::__errno_location();
        let mut buf = [0u8; 5];
        buf[0] = step;
        buf[1..5].copy_from_slice(&e.to_ne_bytes());
        libc::write(errfd, buf.as_ptr().cast(), 5);
        libc::_exit(127);
    }
}

/// Pointers to the strings, then a null pointer (`argv`/`envp` of `execve`).
fn null_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The channels between supervisor and child: the control socket (`sv[0]` ours, `sv[1]` the
/// child's fd 3), the sync pipe (the supervisor says go), the error pipe (the child reports a
/// failed step; a successful `execve` closes it) and `/dev/null` for the child's stdio.
struct Channels {
    sv: [RawFd; 2],
    sync: [RawFd; 2],
    errp: [RawFd; 2],
    devnull: RawFd,
}

/// What the error pipe said about the child's setup.
enum SetupReport {
    /// Closed without a report: the interpreter was executed.
    Executed,
    /// A step failed: its index and errno.
    Failed(Step, i32),
    /// Nothing within 20 s.
    TimedOut,
}

impl Channels {
    fn open() -> Result<Channels, CoreError> {
        let mut ch = Channels {
            sv: [0; 2],
            sync: [0; 2],
            errp: [0; 2],
            devnull: -1,
        };
        // SAFETY: plain fd-creating syscalls with valid out-pointers.
        unsafe {
            if libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                ch.sv.as_mut_ptr(),
            ) != 0
                || libc::pipe2(ch.sync.as_mut_ptr(), libc::O_CLOEXEC) != 0
                || libc::pipe2(ch.errp.as_mut_ptr(), libc::O_CLOEXEC) != 0
            {
                return Err(CoreError::Sandbox(format!(
                    "cannot create control channels: errno {}",
                    last_errno()
                )));
            }
        }
        let devnull = cstr("/dev/null")?;
        // SAFETY: valid C string.
        ch.devnull = unsafe { libc::open(devnull.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        Ok(ch)
    }

    /// Close every fd (the clone failed).
    fn close_all(&self) {
        for fd in [
            self.sv[0],
            self.sv[1],
            self.sync[0],
            self.sync[1],
            self.errp[0],
            self.errp[1],
            self.devnull,
        ] {
            close(fd);
        }
    }

    /// In the supervisor after the clone: close the child's ends.
    fn close_child_ends(&self) {
        for fd in [self.sync[0], self.sv[1], self.errp[1], self.devnull] {
            close(fd);
        }
    }

    /// Tell the child to go on (`g`) or to give up (`x`), then close the sync pipe.
    fn release_child(&self, go: bool) {
        let b: u8 = if go { b'g' } else { b'x' };
        // SAFETY: writing one byte to our pipe end.
        unsafe { libc::write(self.sync[1], (&b as *const u8).cast(), 1) };
        close(self.sync[1]);
    }

    /// Read the error pipe until EOF (a successful `execve`), a 5-byte report, or 20 s; then
    /// close it.
    fn read_setup_report(&self) -> SetupReport {
        let mut buf = [0u8; 5];
        let mut got = 0usize;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut timed_out = false;
        loop {
            let mut p = libc::pollfd {
                fd: self.errp[0],
                events: libc::POLLIN,
                revents: 0,
            };
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as i32;
            // SAFETY: valid pollfd.
            if unsafe { libc::poll(&mut p, 1, left) } == 0 {
                timed_out = true;
                break;
            }
            // SAFETY: reading into a local buffer.
            let n = unsafe { libc::read(self.errp[0], buf[got..].as_mut_ptr().cast(), 5 - got) };
            if n > 0 {
                got += n as usize;
                if got == 5 {
                    break;
                }
            } else if n == 0 || last_errno() != libc::EINTR {
                break;
            }
        }
        close(self.errp[0]);
        if timed_out {
            SetupReport::TimedOut
        } else if got == 5 {
            SetupReport::Failed(buf[0], i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]))
        } else {
            SetupReport::Executed
        }
    }
}

/// Clone flags: a new process; with namespaced isolation, new user/mount/pid/net namespaces
/// (and ipc/uts where available).
fn clone_flags(cfg: &SandboxConfig, ns: bool) -> libc::c_long {
    let mut flags: libc::c_long = libc::SIGCHLD as libc::c_long;
    if ns {
        flags |= (libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET)
            as libc::c_long;
        if cfg.ipc_uts {
            flags |= (libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as libc::c_long;
        }
    }
    flags
}

/// Raw `clone` with these flags; the child runs the plan and never returns here.
fn clone_child(
    flags: libc::c_long,
    plan: &ChildPlan,
    ch: &Channels,
) -> Result<libc::pid_t, CoreError> {
    // SAFETY: raw clone without CLONE_VM behaves like fork. The child runs only
    // async-signal-safe code (raw syscalls on memory prepared before) until execve.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) }
        as libc::pid_t;
    if pid < 0 {
        let e = last_errno();
        ch.close_all();
        return Err(CoreError::Sandbox(format!(
            "clone of the sandbox failed: errno {e}"
        )));
    }
    if pid == 0 {
        // SAFETY: we are the child of the clone above, with `ch` open.
        unsafe { plan.run_in_child(ch) }
    }
    Ok(pid)
}

impl Zygote {
    /// Start a zygote. Fails with [`CoreError::Sandbox`] when any isolation step fails:
    /// it never falls back to weaker isolation by itself.
    pub fn start(cfg: &SandboxConfig) -> Result<Zygote, CoreError> {
        let who = Identity::for_new_sandbox(cfg);
        let cgroups = Cgroups::create(
            &cfg.cgroups,
            cfg.memory_bytes + ZYGOTE_OVERHEAD + cfg.scratch_bytes,
            cfg.processes + 4,
        );
        let host_scratch = if who.ns {
            None
        } else {
            Some(make_host_scratch(&who)?)
        };
        let scratch = match &host_scratch {
            Some(d) => d.to_string_lossy().into_owned(),
            None => "/tmp".to_string(),
        };
        if !cfg.python.is_file() {
            return Err(CoreError::Config(format!(
                "python interpreter {} does not exist",
                cfg.python.display()
            )));
        }
        let plan = ChildPlan::new(cfg, &who, &cgroups, &scratch)?;
        let ch = Channels::open()?;
        let pid = clone_child(clone_flags(cfg, who.ns), &plan, &ch)?;
        ch.close_child_ends();
        let mut z = Zygote {
            pid,
            sock: ch.sv[0],
            alive: true,
            cgroups,
            host_scratch,
            cfg: cfg.clone(),
        };
        let placed = z.place_child(&who);
        ch.release_child(placed.is_ok());
        let report = ch.read_setup_report();
        z.check_setup(placed, report)?;
        z.wait_until_ready()
    }

    /// Write the child's uid/gid maps (namespaced levels) and put it in the worker's cgroups.
    fn place_child(&self, who: &Identity) -> Result<(), String> {
        if who.ns {
            let p = format!("/proc/{}", self.pid);
            let write = |file: &str, text: String| {
                fs::write(format!("{p}/{file}"), text).map_err(|e| format!("{file}: {e}"))
            };
            if who.root {
                write("uid_map", format!("{INNER_ID} {} 1\n", who.uid))?;
                write("gid_map", format!("{INNER_ID} {} 1\n", who.uid))?;
            } else {
                write("setgroups", "deny".to_string())?;
                write("uid_map", format!("{INNER_ID} {} 1\n", who.euid))?;
                write("gid_map", format!("{INNER_ID} {} 1\n", who.egid))?;
            }
        }
        self.cgroups.attach(self.pid)
    }

    /// Turn a failed placement or setup step into an error (and kill the child).
    fn check_setup(
        &mut self,
        placed: Result<(), String>,
        report: SetupReport,
    ) -> Result<(), CoreError> {
        let err = match (placed, report) {
            (Err(e), _) => format!("sandbox setup failed: {e}"),
            (Ok(()), SetupReport::Executed) => return Ok(()),
            (Ok(()), SetupReport::TimedOut) => "sandbox setup did not finish within 20 s".into(),
            (Ok(()), SetupReport::Failed(step, errno)) => {
                let step = STEP_NAMES
                    .get(step as usize)
                    .copied()
                    .unwrap_or("unknown step");
                format!(
                    "sandbox setup failed at step '{step}': {} (errno {errno}); interpreter {}",
                    std::io::Error::from_raw_os_error(errno),
                    self.cfg.python.display()
                )
            }
        };
        self.kill();
        Err(CoreError::Sandbox(err))
    }

    /// Wait (20 s at most) for the interpreter to say it is ready.
    fn wait_until_ready(mut self) -> Result<Zygote, CoreError> {
        let mut ready = [0u8; 16];
        match recv_timeout(self.sock, &mut ready, Duration::from_secs(20)) {
            Some(n) if ready[..n].starts_with(b"ready") => Ok(self),
            _ => {
                self.kill();
                Err(CoreError::Sandbox(format!(
                    "the sandboxed interpreter {} did not start (is it readable by an unprivileged \
                     user and outside hidden directories? set PRIME_FAST_SANDBOX_DEBUG=1 to see its stderr)",
                    self.cfg.python.display()
                )))
            }
        }
    }

    /// Whether the zygote is still usable.
    pub fn alive(&self) -> bool {
        self.alive
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.cfg
    }

    fn kill(&mut self) {
        if self.pid > 0 {
            // SAFETY: our own child; kill + blocking reap.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                let mut st = 0;
                libc::waitpid(self.pid, &mut st, 0);
            }
            self.pid = 0;
        }
        self.cgroups.kill_all();
        self.alive = false;
    }

    /// Run one request: the zygote forks one child per entry of `req.stdins` (in order, each
    /// with its own stdin, stdout and stderr, each killed at `req.deadline`, everything it
    /// started killed and reaped before the next). `on_idle` is called (at most once) when the
    /// request has been running a while and uses little CPU, so a scheduler can hand its CPU
    /// to another worker.
    pub fn run(
        &mut self,
        req: &TestRequest<'_>,
        mut on_idle: Option<&mut dyn FnMut()>,
    ) -> Vec<RawOutcome> {
        let started = Instant::now();
        let n = req.stdins.len();
        let mut outs: Vec<RawOutcome> = (0..n).map(|_| RawOutcome::default()).collect();
        let fail_all = |mut outs: Vec<RawOutcome>, msg: &str| {
            for o in &mut outs {
                o.sandbox_failure = Some(msg.to_string());
            }
            outs
        };
        if !self.alive {
            return fail_all(outs, "sandbox worker is not running");
        }
        if n == 0 || n > MAX_CHILDREN_PER_REQUEST {
            return fail_all(outs, "bad request size");
        }
        let mut mine: Vec<RawFd> = Vec::new(); // our read ends: out0, err0, out1, err1, ...
        let mut theirs: Vec<RawFd> = Vec::new();
        let cleanup = |fds: &[RawFd]| fds.iter().for_each(|&fd| close(fd));
        match memfd_with(req.job) {
            Ok(fd) => theirs.push(fd),
            Err(e) => return fail_all(outs, &e),
        }
        for stdin in &req.stdins {
            let in_fd = match memfd_with(stdin) {
                Ok(fd) => fd,
                Err(e) => {
                    cleanup(&theirs);
                    cleanup(&mine);
                    return fail_all(outs, &e);
                }
            };
            let mut po = [0 as RawFd; 2];
            let mut pe = [0 as RawFd; 2];
            // SAFETY: pipe2 with valid out arrays.
            let ok = unsafe {
                libc::pipe2(po.as_mut_ptr(), libc::O_CLOEXEC) == 0
                    && libc::pipe2(pe.as_mut_ptr(), libc::O_CLOEXEC) == 0
            };
            if !ok {
                close(in_fd);
                cleanup(&theirs);
                cleanup(&mine);
                return fail_all(outs, "cannot create pipes");
            }
            // SAFETY: setting flags on our fds.
            unsafe {
                libc::fcntl(po[0], libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(pe[0], libc::F_SETFL, libc::O_NONBLOCK);
            }
            theirs.extend([in_fd, po[1], pe[1]]);
            mine.extend([po[0], pe[0]]);
        }
        let oom_before = self.cgroups.oom_kills();
        let sent = send_fds(self.sock, b"M", &theirs);
        cleanup(&theirs);
        if !sent {
            cleanup(&mine);
            self.kill();
            return fail_all(outs, "cannot send the request to the sandbox");
        }
        let cap = self.cfg.output_bytes;
        let mut open = vec![true; 2 * n];
        let mut stderr_total = vec![0usize; n];
        let mut kill_sent = vec![false; n];
        let mut got_result = vec![false; n];
        let mut all_done = false;
        let mut zygote_gone = false;
        let backstop =
            started + (req.deadline + Duration::from_secs(3)) * n as u32 + Duration::from_secs(5);
        let mut buf = vec![0u8; 1 << 16];
        let mut last_cpu = (started, self.cgroups.cpu_ns());
        let idle_check = on_idle.is_some() && last_cpu.1.is_some();
        let mut pfds: Vec<libc::pollfd> = Vec::with_capacity(2 * n + 1);
        loop {
            let pipes_open = open.iter().any(|&o| o);
            if (all_done || zygote_gone) && !pipes_open {
                break;
            }
            let now = Instant::now();
            if now > backstop {
                for o in outs
                    .iter_mut()
                    .filter(|o| o.exit_code.is_none() && o.signal.is_none())
                {
                    o.sandbox_failure =
                        Some("the sandbox did not finish the request in time".into());
                }
                self.kill();
                break;
            }
            pfds.clear();
            for (k, &fd) in mine.iter().enumerate() {
                pfds.push(libc::pollfd {
                    fd: if open[k] { fd } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            pfds.push(libc::pollfd {
                fd: if all_done || zygote_gone {
                    -1
                } else {
                    self.sock
                },
                events: libc::POLLIN,
                revents: 0,
            });
            let wait_ms = if idle_check {
                IDLE_WINDOW_MS as i32
            } else {
                500
            };
            // SAFETY: valid pollfd array.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait_ms) };
            if r < 0 && last_errno() != libc::EINTR {
                break;
            }
            for k in 0..2 * n {
                if pfds[k].revents == 0 {
                    continue;
                }
                let t = k / 2;
                match read_some(mine[k], &mut buf) {
                    Read::Again => {}
                    Read::Eof => open[k] = false,
                    Read::Data(len) => {
                        let o = &mut outs[t];
                        let over = if k % 2 == 0 {
                            let room = cap.saturating_sub(o.stdout.len());
                            o.stdout.extend_from_slice(&buf[..len.min(room)]);
                            if len > room {
                                o.stdout_overflow = true;
                            }
                            len > room
                        } else {
                            stderr_total[t] += len;
                            o.stderr_tail.extend_from_slice(&buf[..len]);
                            if o.stderr_tail.len() > 2 * STDERR_TAIL {
                                let cut = o.stderr_tail.len() - STDERR_TAIL;
                                o.stderr_tail.drain(..cut);
                            }
                            if stderr_total[t] > cap {
                                o.stderr_overflow = true;
                            }
                            stderr_total[t] > cap
                        };
                        if over && !kill_sent[t] && !got_result[t] {
                            kill_sent[t] = true;
                            send_msg(self.sock, format!("K{t}").as_bytes());
                        }
                    }
                }
            }
            if pfds[2 * n].revents != 0 {
                let mut m = [0u8; 512];
                // SAFETY: recv into a local buffer.
                let r = unsafe { libc::recv(self.sock, m.as_mut_ptr().cast(), m.len(), 0) };
                if r > 0 {
                    let msg = String::from_utf8_lossy(&m[..r as usize]).into_owned();
                    if msg == "D" {
                        all_done = true;
                    } else if let Some(t) = parse_end(&msg, &mut outs) {
                        got_result[t] = true;
                    } else {
                        for o in &mut outs {
                            o.sandbox_failure
                                .get_or_insert_with(|| format!("unexpected message {msg:?}"));
                        }
                    }
                } else if r == 0 || last_errno() != libc::EINTR {
                    zygote_gone = true;
                    self.alive = false;
                }
            }
            if idle_check && !all_done {
                let now = Instant::now();
                let dt = now.duration_since(last_cpu.0);
                if dt >= Duration::from_millis(IDLE_WINDOW_MS) {
                    let cpu = self.cgroups.cpu_ns();
                    if let (Some(a), Some(b)) = (last_cpu.1, cpu) {
                        let used = b.saturating_sub(a) as f64;
                        // Only requests that have run a while (a twentieth of the per-test limit,
                        // at least 50 ms) and used under 10% of a CPU for a window count as
                        // sleeping: short requests waiting for a CPU on a busy machine do not.
                        let min_age = (req.test_time / 20).max(Duration::from_millis(50));
                        if now.duration_since(started) > min_age
                            && used < 0.10 * dt.as_nanos() as f64
                        {
                            if let Some(f) = on_idle.take() {
                                f();
                            }
                        }
                    }
                    last_cpu = (now, cpu);
                }
            }
        }
        cleanup(&mine);
        if !all_done && self.alive {
            // The request did not complete normally: do not reuse this sandbox.
            self.kill();
        }
        let oom_delta = self.cgroups.oom_kills() > oom_before;
        for (t, o) in outs.iter_mut().enumerate() {
            if !got_result[t] && o.sandbox_failure.is_none() {
                o.sandbox_failure = Some("the sandbox process died".into());
            }
            // Without a per-test OOM flag, attribute an OOM kill to a SIGKILLed test.
            if oom_delta && !o.timed_out && o.signal == Some(libc::SIGKILL) && !kill_sent[t] {
                o.oom_killed = true;
            }
        }
        outs
    }
}

/// Sampling window of a request's CPU use, to tell sleeping requests (which give their CPU
/// token back) from running ones.
const IDLE_WINDOW_MS: u64 = 25;

/// Parse `E idx code sig cpu maxrss_kib wall timed_out oom` into `outs[idx]`.
fn parse_end(msg: &str, outs: &mut [RawOutcome]) -> Option<usize> {
    let p: Vec<&str> = msg.split_whitespace().collect();
    if p.len() != 9 || p[0] != "E" {
        return None;
    }
    let t: usize = p[1].parse().ok()?;
    let o = outs.get_mut(t)?;
    let code: i32 = p[2].parse().ok()?;
    let sig: i32 = p[3].parse().ok()?;
    o.exit_code = (code >= 0).then_some(code);
    o.signal = (sig > 0).then_some(sig);
    o.cpu_time = p[4].parse().unwrap_or(0.0);
    o.peak_memory = p[5].parse::<u64>().unwrap_or(0) * 1024;
    o.wall_time = p[6].parse().unwrap_or(0.0);
    o.timed_out = p[7] == "1";
    o.oom_killed = p[8] == "1";
    Some(t)
}

/// Most children (tests) in one request (fds per message stay under `SCM_MAX_FD`).
pub const MAX_CHILDREN_PER_REQUEST: usize = 32;

impl Drop for Zygote {
    fn drop(&mut self) {
        close(self.sock);
        self.kill();
        if let Some(d) = &self.host_scratch {
            let _ = fs::remove_dir_all(d);
        }
    }
}

fn close(fd: RawFd) {
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
}

enum Read {
    Data(usize),
    Eof,
    Again,
}

fn read_some(fd: RawFd, buf: &mut [u8]) -> Read {
    loop {
        // SAFETY: reading into a valid buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Read::Data(n as usize);
        }
        if n == 0 {
            return Read::Eof;
        }
        match last_errno() {
            libc::EINTR => continue,
            libc::EAGAIN => return Read::Again,
            _ => return Read::Eof,
        }
    }
}

fn memfd_with(data: &[u8]) -> Result<RawFd, String> {
    let name = b"pf\0";
    // SAFETY: valid NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: errno {}", last_errno()));
    }
    let mut f = std::mem::ManuallyDrop::new(unsafe_file(fd));
    if f.write_all(data).is_err() {
        close(fd);
        return Err("cannot write the request".into());
    }
    // SAFETY: rewinding our own fd.
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    Ok(fd)
}

fn unsafe_file(fd: RawFd) -> fs::File {
    use std::os::fd::FromRawFd;
    // SAFETY: fd is a freshly created memfd we own; the File is never dropped (ManuallyDrop).
    unsafe { fs::File::from_raw_fd(fd) }
}

fn send_msg(sock: RawFd, m: &[u8]) {
    // SAFETY: sending a small message on our socket.
    unsafe {
        libc::send(
            sock,
            m.as_ptr().cast(),
            m.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
}

fn send_fds(sock: RawFd, msg: &[u8], fds: &[RawFd]) -> bool {
    let payload = size_of_val(fds);
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    // SAFETY: msghdr fields point at live local buffers of the right sizes.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast::<RawFd>(), fds.len());
        libc::sendmsg(sock, &hdr, libc::MSG_NOSIGNAL) == msg.len() as isize
    }
}

fn recv_timeout(sock: RawFd, buf: &mut [u8], timeout: Duration) -> Option<usize> {
    let mut p = libc::pollfd {
        fd: sock,
        events: libc::POLLIN,
        revents: 0,
    };
    let end = Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(Instant::now()).as_millis() as i32;
        // SAFETY: valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, left) };
        if n < 0 && last_errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return None;
        }
        // SAFETY: recv into a valid buffer.
        let r = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
        return (r > 0).then_some(r as usize);
    }
}
