# prime-fast sandbox zygote: runs INSIDE the sandbox (python3 -I -S -B -c <this>).
# fd 3: SOCK_SEQPACKET to the supervisor. Requests: b"R" + fds [job memfd, stdin memfd,
# stdout pipe, stderr pipe]; b"K" kills the running test. Replies: b"E code sig cpu maxrss_kib".
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
import traceback

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
_getattr = getattr
_BaseException = BaseException
_SystemExit = SystemExit
_AssertionError = AssertionError
_MemoryError = MemoryError

SCRATCH = os.environ.get("PF_SCRATCH", "/tmp")
KILL_ALL = os.environ.get("PF_KILL_ALL") == "1"
PID1 = os.environ.get("PF_PID1") == "1"
AS_BYTES = int(os.environ.get("PF_AS_BYTES", "0"))
OUTPUT_BYTES = int(os.environ.get("PF_OUTPUT_BYTES", "16777216"))

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
_CATCH = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM]
for _s in _CATCH:
    signal.signal(_s, signal.SIG_IGN)

sock = socket.socket(fileno=3)


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
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _compile(code, nonce):
    try:
        return compile(code, "<program>", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
        sys.stderr.write("compile error: %s: %s\n" % (_type(e).__name__, e))
        _emit(nonce, "compile")
        _exit(1)


def _exc(nonce, e):
    try:
        traceback.print_exception(_type(e), e, e.__traceback__, file=sys.stderr)
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


def _child(job, infd, outfd, errfd):
    os.dup2(infd, 0)
    os.dup2(outfd, 1)
    os.dup2(errfd, 2)
    os.closerange(3, 4096)
    if not PID1:
        os.setpgid(0, 0)
    for s in _CATCH:
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _set_dumpable(1)
    t = job.get("cpu", 10)
    resource.setrlimit(resource.RLIMIT_CPU, (t, t + 1))
    if AS_BYTES:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (AS_BYTES, AS_BYTES))
        except (ValueError, OSError):
            pass
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    os.chdir(SCRATCH)
    _fresh_stdio()
    nonce = job["nonce"]
    co = _compile(job["code"], nonce)
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
    """All tests in this one process; one framed record per test on the real stdout."""
    real_out = os.dup(1)
    for i, test in enumerate(job["tests"]):
        memin = os.memfd_create("in")
        data = test.get("stdin", "").encode("utf-8", "surrogateescape")
        while data:
            data = data[os.write(memin, data):]
        os.lseek(memin, 0, 0)
        os.dup2(memin, 0)
        os.close(memin)
        memout = os.memfd_create("out")
        os.dup2(memout, 1)
        _fresh_stdio()
        signal.setitimer(signal.ITIMER_REAL, job["time"])
        try:
            tag, payload = _run_one(job, co, nonce, test)
        except _BaseException as e:
            tag, payload = "exc", _type(e).__name__
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            sys.stdout.flush()
        except _BaseException:
            pass
        size = os.lseek(memout, 0, 2)
        if size > OUTPUT_BYTES:
            tag, text = "olimit", ""
        else:
            text = os.pread(memout, size, 0).decode("utf-8", "replace")
        os.close(memout)
        rec = "\n" + nonce + " rec " + _enc([i, tag, payload, text]) + "\n"
        data = rec.encode("utf-8", "surrogatepass")
        while data:
            data = data[_os_write(real_out, data):]
        if tag != "ok":
            break


def _alarm(signum, frame):
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


def _clean_scratch():
    import shutil

    for d in (SCRATCH, "/dev/shm"):
        if d == "/dev/shm" and not PID1:
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


def _serve():
    poller = select.poll()
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 8)
        except InterruptedError:
            continue
        if not msg:
            _exit(0)
        if msg[:1] != b"R" or _len(fds) != 4:
            for fd in fds:
                os.close(fd)
            continue
        jobfd, infd, outfd, errfd = fds
        size = os.lseek(jobfd, 0, 2)
        raw = os.pread(jobfd, size, 0)
        os.close(jobfd)
        job = _loads(raw)
        pid = os.fork()
        if pid == 0:
            try:
                if job.get("mode") == "program":
                    signal.signal(signal.SIGALRM, _alarm)
                _child(job, infd, outfd, errfd)
            finally:
                _exit(70)
        os.close(infd)
        os.close(outfd)
        os.close(errfd)
        pfd = os.pidfd_open(pid)
        poller.register(pfd, select.POLLIN)
        poller.register(sock, select.POLLIN)
        done = False
        while not done:
            for fd, _ev in poller.poll():
                if fd == pfd:
                    done = True
                else:
                    m = sock.recv(16)
                    if not m:
                        os.kill(pid, signal.SIGKILL)
                        _reap_all()
                        _exit(0)
                    os.kill(pid, signal.SIGKILL)
        poller.unregister(pfd)
        poller.unregister(sock)
        os.close(pfd)
        _, status, ru = os.wait4(pid, 0)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
        cpu = ru.ru_utime + ru.ru_stime
        # The test is over: report it now, then clean up (not charged to the test's time).
        sock.send(("E %d %d %.6f %d" % (code, sig, cpu, ru.ru_maxrss)).encode())
        if not KILL_ALL:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_all()
        _clean_scratch()
        sock.send(b"D")


gc.collect()
gc.freeze()
sock.send(b"ready")
_serve()
