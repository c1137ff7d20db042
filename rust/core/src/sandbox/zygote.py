# prime-fast sandbox zygote: runs INSIDE the sandbox (python3 -I -S -B -c <this>).
# fd 3: SOCK_SEQPACKET to the supervisor. Requests: b"M" + fds [request memfd, then per test
# child: stdin memfd, stdout pipe, stderr pipe]; b"K<idx>" kills test idx, b"A" aborts the
# request. Replies: b"E idx code sig cpu maxrss_kib wall timed_out oom" per child, b"D" at the end.
# A program's source is read and compiled only in its test children, under their deadline.
import _signal
import builtins
import ctypes
import gc
import io
import os
import resource
import select
import signal
import socket
import sys
import time

_PRELUDE_SRC = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
    "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
    "from random import *\nfrom statistics import *\nfrom itertools import *\n"
    "from functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\n"
    "import datetime\nimport collections\nimport heapq\nimport bisect\nimport copy\nimport math\n"
    "import random\nimport statistics\nimport itertools\nimport functools\nimport operator\n"
    "import io\nimport sys\nimport json\nimport time\nimport os\n"
)
_prelude_ns = {}
exec(_PRELUDE_SRC, _prelude_ns)
# The prelude's names (PRIME's import header) live in the programs' *builtins* mapping, so a
# program's globals start as a two-entry dict: nothing to copy (or copy-on-write) per test.
PRELUDE_BUILTINS = dict(builtins.__dict__)
PRELUDE_BUILTINS.update({k: v for k, v in _prelude_ns.items() if k != "__builtins__"})
del _prelude_ns
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
import json as _json  # noqa: E402

_loads = _json.loads
_enc_str = _json.encoder.encode_basestring
_type = type
_len = len
_int_repr = int.__repr__
_flt_repr = float.__repr__
_str_join = str.join
_sorted = sorted
_isinstance = isinstance
_os_write = os.write
_exit = os._exit
_perf_counter = time.perf_counter
_getattr = getattr
_BaseException = BaseException
_SystemExit = SystemExit
_AssertionError = AssertionError
_MemoryError = MemoryError
# CPython's own (C) traceback printer: a fresh test child runs it in about a quarter of the CPU
# time and copy-on-write faults of traceback.print_exception (0.4 ms against 3.3 ms measured).
_print_exc = sys.__excepthook__

SCRATCH = os.environ.get("PF_SCRATCH", "/tmp")
KILL_ALL = os.environ.get("PF_KILL_ALL") == "1"
PID1 = os.environ.get("PF_PID1") == "1"
AS_BYTES = int(os.environ.get("PF_AS_BYTES", "0"))
OUTPUT_BYTES = int(os.environ.get("PF_OUTPUT_BYTES", "16777216"))
OOM_FILE = os.environ.get("PF_OOM_FILE", "")

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except OSError:  # pragma: no cover
    _prctl = None


def _set_dumpable(v):
    if _prctl is not None:
        _prctl(4, v, 0, 0, 0)  # PR_SET_DUMPABLE


_set_dumpable(0)  # test children (same uid) cannot read or write our memory via /proc
if not PID1 and _prctl is not None:
    _prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
# Plain ints and the C-level _signal.signal in the test child: signal.signal's enum conversions
# cost a fresh child 55 copy-on-write faults and 0.14 ms of CPU for these seven calls (0.01 ms here).
_CATCH = [
    int(x)
    for x in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)
]
_sig = _signal.signal
_SIG_DFL = _signal.SIG_DFL
_SIGINT = int(signal.SIGINT)
_SIGALRM = int(signal.SIGALRM)
_default_int_handler = _signal.default_int_handler
for _s in _CATCH:
    signal.signal(_s, signal.SIG_IGN)

sock = socket.socket(fileno=3)
DEVNULL = os.open("/dev/null", os.O_RDWR)


# ---------------------------------------------------------------- encoding of results
def _enc(v, depth=0):
    """JSON text of a plain value; anything else (custom classes, int subclasses...) raises."""
    if depth > 200:
        raise ValueError("result nested too deeply")
    t = _type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return _int_repr(v)
    if t is float:
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        return _flt_repr(v)
    if t is str:
        return _enc_str(v)
    if t is list or t is tuple:
        return "[" + _str_join(",", [_enc(x, depth + 1) for x in v]) + "]"
    if t is dict:
        items = []
        for k, x in v.items():
            tk = _type(k)
            if tk is str:
                ks = k
            elif tk is bool:
                ks = "true" if k else "false"
            elif tk is int:
                ks = _int_repr(k)
            elif tk is float:
                ks = _flt_repr(k)
            elif k is None:
                ks = "null"
            else:
                raise TypeError("dict key of type %s is not a plain value" % tk.__name__)
            items.append(_enc_str(ks) + ":" + _enc(x, depth + 1))
        return "{" + _str_join(",", items) + "}"
    if t is set or t is frozenset:
        return '{"$set":[' + _str_join(",", _sorted([_enc(x, depth + 1) for x in v])) + "]}"
    raise TypeError("result of type %s is not a plain value" % t.__name__)


def _plain(v, depth=0):
    """A copy of v made only of exact builtin types (defeats __eq__ overrides)."""
    if depth > 200:
        raise ValueError("value nested too deeply")
    t = _type(v)
    if v is None or t is bool or t is int or t is float or t is str or t is bytes or t is complex:
        return v
    if t is list:
        return [_plain(x, depth + 1) for x in v]
    if t is tuple:
        return tuple([_plain(x, depth + 1) for x in v])
    if t is dict:
        return {_plain(k, depth + 1): _plain(x, depth + 1) for k, x in v.items()}
    if t is set:
        return {_plain(x, depth + 1) for x in v}
    if t is frozenset:
        return frozenset([_plain(x, depth + 1) for x in v])
    raise TypeError("candidate returned a value of type %s, not a plain value" % t.__name__)


# ---------------------------------------------------------------- the test child
class _Done(_BaseException):
    pass


def _emit(nonce, tag, payload=""):
    try:
        sys.stdout.flush()
    except _BaseException:
        pass
    data = ("\n" + nonce + " " + tag + " " + payload + "\n").encode("utf-8", "surrogatepass")
    while data:
        n = _os_write(1, data)
        data = data[n:]


def _fresh_stdio():
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16), encoding="utf-8"
    )
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _read_source(job, src_fd):
    """The program's source (str), read from its region ``job["src"] = [offset, length]`` of
    the request memfd: the zygote itself never holds a program's source."""
    off, n = job["src"]
    parts = []
    while n > 0:
        b = os.pread(src_fd, n, off)
        if not b:
            break
        parts.append(b)
        off += _len(b)
        n -= _len(b)
    return b"".join(parts).decode("utf-8", "surrogatepass")


def _compile(job, nonce, src_fd, report_fd=-1):
    """Read and compile the program in this test child (under the test's deadline and
    rlimits), then close ``src_fd``.

    With ``report_fd`` >= 0, write ``"<seconds> ok|err"`` there and close it before any program
    code runs (the program cannot forge the report): the zygote compiles the program itself for
    the later tests only when this compile was quick (see ``_precompile``)."""
    t0 = _perf_counter()
    co = err = None
    unread = False
    try:
        src = _read_source(job, src_fd)
    except MemoryError as e:
        src, err, unread = None, e, True  # the source alone does not fit: memory_limit below
    if src is not None:
        try:
            co = compile(src, "<program>", "exec")
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
            # (CPython's parser also raises MemoryError for source nested too deeply)
            err = e
        del src
    os.close(src_fd)
    if report_fd >= 0:
        try:
            _os_write(
                report_fd, ("%.6f %s" % (_perf_counter() - t0, "ok" if err is None else "err")).encode()
            )
        except OSError:
            pass
        os.close(report_fd)
    if err is not None:
        if unread:
            _exc(nonce, err)
        sys.stderr.write("compile error: %s: %s\n" % (_type(err).__name__, err))
        _emit(nonce, "compile")
        _exit(1)
    return co


def _exc(nonce, e):
    try:
        _print_exc(_type(e), e, e.__traceback__)
    except _BaseException:
        pass
    _emit(nonce, "exc", _type(e).__name__)
    _exit(1)


def _namespace(name):
    return {"__name__": name, "__builtins__": PRELUDE_BUILTINS}


def _resolve(g, fn_name):
    sol = g.get("Solution")
    if _isinstance(sol, _type) and fn_name in _getattr(sol, "__dict__", {}):
        return _getattr(sol(), fn_name)
    if fn_name in g:
        return g[fn_name]
    raise NameError("the program defines no function %r" % fn_name)


def _guarded(fn):
    def candidate(*args, **kwargs):
        return _plain(fn(*args, **kwargs))

    return candidate


def _run_one(job, co, nonce, test):
    """Run one test in this process; returns (tag, payload). Raises on program errors."""
    kind = job["kind"]
    if kind == "stdin":
        g = _namespace("__main__")
        try:
            exec(co, g)
        except _SystemExit as e:
            if e.code not in (None, 0):
                raise
        return "ok", ""
    if kind == "call":
        g = _namespace("solution")
        exec(co, g)
        fn = _resolve(g, job["fn_name"])
        args = test["args"]
        res = fn(*args)
        try:
            return "ok", _enc(res)
        except (TypeError, ValueError, RecursionError) as e:
            return "wrong", _enc_str(str(e)[:200])
    if kind == "assert":
        g = _namespace("__main__")
        exec(co, g)
        entry = job.get("entry_point")
        if not entry:
            # Inferred from the asserts: the first called name the program defines (not `set`
            # in `assert set(f(a)) == ...`); none defined: run the asserts as they are.
            for name in job.get("entry_candidates", ()):
                obj = g.get(name)
                if callable(obj) and getattr(obj, "__module__", None) == g.get("__name__"):
                    entry = name
                    break
        if entry:
            if entry not in g:
                raise NameError("the program defines no function %r" % entry)
            g[entry] = _guarded(g[entry])
        tco = compile(test["test"], "<test>", "exec")
        try:
            exec(tco, g)
            if test.get("check", False):
                g["check"](g[entry])
        except _AssertionError as e:
            return "wrong", _enc_str(str(e)[:200])
        return "ok", ""
    raise ValueError("unknown job kind %r" % kind)


def _make_stdio():
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16), encoding="utf-8")
    stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
    return stdin, stdout, stderr


def _close_fds_except(keep):
    """Close every fd from 3 up except those in ``keep``."""
    lo = 3
    for fd in _sorted(keep):
        if fd >= lo:
            os.closerange(lo, fd)
            lo = fd + 1
    os.closerange(lo, 4096)


def _child(job, stdio, co, src_fd, report_fd=-1):
    # fds 0, 1, 2 are already the test's (set up by the zygote before the fork); every other fd
    # but the request memfd (the program's source, closed once read) and the compile-time
    # report pipe is closed. Without a compiled program (co is None) there is nothing to read.
    keep = [fd for fd in (src_fd, report_fd) if fd >= 0 and co is None]
    _close_fds_except(keep)
    if not PID1:
        os.setpgid(0, 0)
    for s in _CATCH:
        _sig(s, _SIG_DFL)
    _sig(_SIGINT, _default_int_handler)
    if job.get("mode") == "program":
        # Per-test time limit inside the shared child (after the reset above, which used to
        # leave SIGALRM at its default action: the child died and the test was re-run).
        _sig(_SIGALRM, _alarm)
    _set_dumpable(1)
    t = job.get("cpu", 10)
    resource.setrlimit(resource.RLIMIT_CPU, (t, t + 1))
    if AS_BYTES:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (AS_BYTES, AS_BYTES))
        except (ValueError, OSError):
            pass
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            _os_write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        pass
    sys.stdin, sys.stdout, sys.stderr = stdio
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = stdio
    nonce = job["nonce"]
    if co is None:
        co = _compile(job, nonce, src_fd, report_fd)
    if job.get("mode") == "program":
        _run_program(job, co, nonce)
        _exit(0)
    try:
        tag, payload = _run_one(job, co, nonce, job["test"])
    except _BaseException as e:
        _exc(nonce, e)
    _emit(nonce, tag, payload)
    _exit(0)


def _run_program(job, co, nonce):
    """All tests in this one process; one framed record per test on the real stdout.

    Records are ``[i, tag, payload, stdout]``; with ``job["once"]`` (mode ``per_program_once``)
    also the test's stderr tail, and the child goes on after a failing test instead of stopping.
    """
    real_out = os.dup(1)
    once = job.get("once", False)
    for i, test in enumerate(job["tests"]):
        memin = os.memfd_create("in")
        data = test.get("stdin", "").encode("utf-8", "surrogateescape")
        while data:
            data = data[os.write(memin, data) :]
        os.lseek(memin, 0, 0)
        os.dup2(memin, 0)
        os.close(memin)
        memout = os.memfd_create("out")
        os.dup2(memout, 1)
        memerr = -1
        if once:
            memerr = os.memfd_create("err")
            os.dup2(memerr, 2)
        _fresh_stdio()
        _ALARM[0] = False
        signal.setitimer(signal.ITIMER_REAL, job["time"])
        try:
            tag, payload = _run_one(job, co, nonce, test)
        except _BaseException as e:
            tag, payload = "exc", _type(e).__name__
            try:
                _print_exc(_type(e), e, e.__traceback__)
            except _BaseException:
                pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        if _ALARM[0]:
            # The test ran past its own time limit (even if it caught the TimeoutError): its
            # verdict is known, the caller does not re-run it.
            tag, payload = "timeout", ""
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except _BaseException:
                pass
        size = os.lseek(memout, 0, 2)
        if size > OUTPUT_BYTES:
            tag, text = "olimit", ""
        else:
            text = os.pread(memout, size, 0).decode("utf-8", "replace")
        os.close(memout)
        rec = [i, tag, payload, text]
        if once:
            size = os.lseek(memerr, 0, 2)
            if size > OUTPUT_BYTES:
                tag = rec[1] = "olimit"
            rec.append(os.pread(memerr, 4096, max(0, size - 4096)).decode("utf-8", "replace"))
            os.close(memerr)
        rec = "\n" + nonce + " rec " + _enc(rec) + "\n"
        data = rec.encode("utf-8", "surrogatepass")
        while data:
            data = data[_os_write(real_out, data) :]
        if tag != "ok" and not once:
            break


_ALARM = [False]


def _alarm(signum, frame):
    _ALARM[0] = True
    raise TimeoutError("time limit")


# ---------------------------------------------------------------- the zygote loop
def _reap_all():
    if not KILL_ALL:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
    while True:
        if KILL_ALL:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def _inodes_used(d):
    try:
        st = os.statvfs(d)
    except OSError:
        return -1
    return st.f_files - st.f_ffree if st.f_files else -1


# Inodes in use on the sandbox's own tmpfs mounts when idle (as init of the namespace, /tmp and
# /dev/shm are fresh tmpfs mounts whose inode count is exact): when a test left the count as it
# was, it left no file behind and the directory scan is skipped.
_IDLE_INODES = {d: _inodes_used(d) for d in (SCRATCH, "/dev/shm")} if PID1 else {}


def _clean_scratch():
    import shutil

    for d in (SCRATCH, "/dev/shm"):
        if d == "/dev/shm" and not PID1:
            continue
        idle = _IDLE_INODES.get(d, -1)
        if idle >= 0 and _inodes_used(d) == idle:
            continue
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            p = os.path.join(d, e)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.unlink(p)
            except OSError:
                pass


def _oom_count():
    if not OOM_FILE:
        return 0
    try:
        with open(OOM_FILE) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


_OOM_SEEN = [_oom_count()]


def _run_child(job, test, fds, deadline, idx, src_fd, probe):
    """Fork one test child, wait for it (deadline, kill requests), report, clean up.

    Returns ``(go, compile_report)``: ``go`` is False when the supervisor asked to abort the
    whole request; with ``probe`` (the program is not compiled yet) the child compiles it and
    ``compile_report`` is what it wrote about that compile (``b""`` when it did not finish)."""
    infd, outfd, errfd = fds
    rfd = wfd = -1
    if probe:
        rfd, wfd = os.pipe()
    oom0 = _OOM_SEEN[0]
    # The test's fds become the zygote's 0/1/2 for the fork (stdio objects are made here, where
    # pages are not copy-on-write), and go back to /dev/null right after.
    os.dup2(infd, 0)
    os.dup2(outfd, 1)
    os.dup2(errfd, 2)
    os.close(infd)
    os.close(outfd)
    os.close(errfd)
    stdio = _make_stdio()
    co = job.get("_co")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            job["test"] = test
            if rfd >= 0:
                os.close(rfd)
            _child(job, stdio, co, src_fd, wfd)
        finally:
            _exit(70)
    if wfd >= 0:
        os.close(wfd)
    for fd in (0, 1, 2):
        os.dup2(DEVNULL, fd)
    del stdio
    pfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pfd, select.POLLIN)
    poller.register(sock, select.POLLIN)
    end = t0 + deadline
    timed_out = False
    killed = False
    abort = False
    while True:
        left = end - time.monotonic()
        if left <= 0 and not killed:
            timed_out = killed = True
            os.kill(pid, signal.SIGKILL)
            left = 1.0
        events = poller.poll(max(1, int(left * 1000) + 1) if not killed else 1000)
        if any(fd == pfd for fd, _ in events):
            break
        for fd, _ev in events:
            if fd != pfd:
                m = sock.recv(64)
                if not m:
                    os.kill(pid, signal.SIGKILL)
                    _reap_all()
                    _exit(0)
                if m == b"A" or m == ("K%d" % idx).encode():
                    killed = True
                    abort = abort or m == b"A"
                    os.kill(pid, signal.SIGKILL)
    os.close(pfd)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    report = b""
    if rfd >= 0:
        # The writer is dead: the read returns what it wrote, or EOF.
        try:
            report = os.read(rfd, 64)
        except OSError:
            pass
        os.close(rfd)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    cpu = ru.ru_utime + ru.ru_stime
    if not KILL_ALL:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap_all()
    oom1 = _oom_count()
    _OOM_SEEN[0] = oom1  # nothing runs between tests but the zygote: the next test's start value
    oom = int(oom1 > oom0)
    # Everything of this test is dead (its pipes are at EOF): report, then clean the scratch.
    sock.send(
        ("E %d %d %d %.6f %d %.6f %d %d" % (idx, code, sig, cpu, ru.ru_maxrss, wall, timed_out, oom)).encode()
    )
    _clean_scratch()
    return not abort, report


# A program whose compile took at most this long in its first test child is compiled once here
# for its later tests (their children share the code object). Compiling is program-controlled
# work with no deadline in the zygote, so nothing else is compiled here: a 3,000,000-digit
# literal takes minutes (quadratic int parsing), 16 KiB of nested lambdas 1.5 s.
PRECOMPILE_SECONDS = 0.25
# ... and only a source this small is read into the zygote at all.
PRECOMPILE_MAX_BYTES = 1 << 20


def _precompile(job, src_fd, report):
    """The code object for the remaining tests, or None (their children compile it themselves).

    Only after the first child compiled the same source without error within
    PRECOMPILE_SECONDS: compiling is deterministic, so the zygote's compile is as quick, and
    it fit in the child's address-space limit, so it fits in the worker's memory cgroup."""
    try:
        secs, verdict = report.decode().split()
        quick = verdict == "ok" and float(secs) <= PRECOMPILE_SECONDS
    except ValueError:
        quick = False
    if not quick or job["src"][1] > PRECOMPILE_MAX_BYTES:
        return None
    try:
        return compile(_read_source(job, src_fd), "<program>", "exec")
    except _BaseException:
        return None


def _serve():
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 200)
        except InterruptedError:
            continue
        if not msg:
            _exit(0)
        if msg[:1] != b"M" or _len(fds) < 4 or (_len(fds) - 1) % 3:
            for fd in fds:
                os.close(fd)
            continue
        # The request memfd: "<n>\n", n bytes of JSON, then the programs' sources (each job
        # names its region); the sources are read by the test children, not here.
        jobfd = fds[0]
        head = os.pread(jobfd, 24, 0)
        nl = head.find(b"\n")
        req = _loads(os.pread(jobfd, int(head[:nl]), nl + 1))
        base = nl + 1 + int(head[:nl])
        for job in req["jobs"]:
            job["src"][0] += base
        triples = [fds[i : i + 3] for i in range(1, _len(fds), 3)]
        g = 0
        go = True
        for job in req["jobs"]:
            # The program is compiled in its test children, under their deadline and rlimits,
            # never here first: a source that is slow to compile is that program's timeout.
            job["_co"] = None
            tests = job["tests"] if job.get("mode") != "program" else [None]
            for k, test in enumerate(tests):
                if g >= _len(triples):
                    break
                if go:
                    probe = k == 0 and _len(tests) > 1
                    go, report = _run_child(job, test, triples[g], job["deadline"], g, jobfd, probe)
                    if probe:
                        job["_co"] = _precompile(job, jobfd, report)
                else:
                    for fd in triples[g]:
                        os.close(fd)
                g += 1
            job.clear()
        for trip in triples[g:]:
            for fd in trip:
                os.close(fd)
        os.close(jobfd)
        sock.send(b"D")


gc.collect()
gc.freeze()
sock.send(b"ready")
_serve()
