//! The seccomp BPF filter installed (after `no_new_privs`) in every sandbox just before it
//! executes the interpreter. Hand-written classic BPF: check the architecture, refuse the
//! x32 ABI, refuse a list of dangerous system calls with `EPERM`, allow only `AF_UNIX`
//! sockets, refuse `clone` with namespace flags and make `clone3` fall back to `clone`.

use libc::{sock_filter, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0: u32 = 16; // low 32 bits of args[0] on little-endian targets

/// System calls the sandboxed program never needs and that attack the kernel or escape.
fn denied() -> Vec<libc::c_long> {
    let mut v = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
        libc::SYS_kcmp,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_acct,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_syslog,
        libc::SYS_userfaultfd,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_quotactl,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_fanotify_init,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_lookup_dcookie,
    ]);
    v
}

/// Namespace flags refused in `clone`.
const CLONE_NS_MASK: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u32;

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Build the filter program. Allocates: call it before `fork`/`clone`.
pub fn build_filter() -> Vec<sock_filter> {
    let errno = |e: i32| SECCOMP_RET_ERRNO | (e as u32 & 0xffff);
    let ld = BPF_LD | BPF_W | BPF_ABS;
    let jeq = BPF_JMP | BPF_JEQ | BPF_K;
    let mut f = vec![
        stmt(ld, OFF_ARCH),
        jump(jeq, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        stmt(ld, OFF_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        // x32 system calls (bit 30 set) would bypass the numbers below.
        f.push(jump(BPF_JMP | BPF_JSET | BPF_K, 0x4000_0000, 0, 1));
        f.push(stmt(BPF_RET | BPF_K, errno(libc::EPERM)));
    }
    for nr in denied() {
        f.push(jump(jeq, nr as u32, 0, 1));
        f.push(stmt(BPF_RET | BPF_K, errno(libc::EPERM)));
    }
    // clone3 passes its flags in memory, which BPF cannot read: make libc fall back to clone.
    f.push(jump(jeq, libc::SYS_clone3 as u32, 0, 1));
    f.push(stmt(BPF_RET | BPF_K, errno(libc::ENOSYS)));
    // clone: refuse namespace flags (args[0] on x86_64 and aarch64).
    f.push(jump(jeq, libc::SYS_clone as u32, 0, 4));
    f.push(stmt(ld, OFF_ARG0));
    f.push(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_MASK, 0, 1));
    f.push(stmt(BPF_RET | BPF_K, errno(libc::EPERM)));
    f.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    // socket: only AF_UNIX (no network even if a namespace were missing).
    f.push(jump(jeq, libc::SYS_socket as u32, 0, 4));
    f.push(stmt(ld, OFF_ARG0));
    f.push(jump(jeq, libc::AF_UNIX as u32, 1, 0));
    f.push(stmt(BPF_RET | BPF_K, errno(libc::EACCES)));
    f.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    f.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    f
}

/// Install `filter` on the calling thread (and its future children). Async-signal-safe:
/// only `prctl` calls on pre-built memory. Returns false on failure.
///
/// # Safety
/// `filter` must be a valid BPF program (as built by [`build_filter`]).
pub unsafe fn install(filter: &[sock_filter]) -> bool {
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut sock_filter,
    };
    // SAFETY: prctl with a valid program pointer that outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_child<F: FnOnce() -> i32>(f: F) -> i32 {
        // SAFETY: the child only makes raw syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = f();
            // SAFETY: _exit never returns.
            unsafe { libc::_exit(code) };
        }
        let mut st = 0;
        // SAFETY: valid pointer, our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        if libc::WIFEXITED(st) {
            libc::WEXITSTATUS(st)
        } else {
            -1
        }
    }

    #[test]
    fn filter_denies_inet_and_ptrace_but_allows_unix() {
        let filter = build_filter();
        let code = in_child(move || {
            // SAFETY: valid filter; raw syscalls only afterwards.
            unsafe {
                if !install(&filter) {
                    return 10;
                }
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                if s >= 0 || *libc::__errno_location() != libc::EACCES {
                    return 11;
                }
                if libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0) >= 0 {
                    return 12;
                }
                if libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) < 0 {
                    return 13;
                }
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != -1 {
                    return 14;
                }
                if libc::unshare(libc::CLONE_NEWNET) == 0 {
                    return 15;
                }
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(0);
                }
                if pid < 0 {
                    return 16;
                }
                let mut st = 0;
                libc::waitpid(pid, &mut st, 0);
                0
            }
        });
        assert_eq!(code, 0);
    }
}
