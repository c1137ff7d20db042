"""Hostile-program suite for the code sandbox, run by ``test_sandbox_hostile.py`` inside an outer
safety net (``unshare --pid --fork --mount-proc``): if the sandbox leaked a process, it would die
with this namespace instead of outliving the test.

Usage: ``python _hostile_runner.py WORKDIR OUT.json [--slow]``. Writes a JSON report of per-program
statuses and post-conditions; the pytest side asserts on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

from prime_fast.verify import Limits, verify_code_batch


def hostile_programs(work: Path, port: int, udp_port: int, secret_path: Path) -> dict[str, str]:
    w = str(work)
    return {
        "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "memory_bomb": "a = []\nwhile True:\n    a.append(bytearray(10**7))\n",
        "memory_bomb_processes": (
            "import os, time\nfor _ in range(12):\n    if os.fork() == 0:\n        a = bytearray(200 * 2**20)\n"
            "        for i in range(0, len(a), 4096): a[i] = 1\n        time.sleep(5)\n        os._exit(0)\ntime.sleep(5)\n"
        ),
        "infinite_loop": "while True:\n    pass\n",
        "sleep_past_deadline": "import time\ntime.sleep(3600)\n",
        "busy_threads": (
            "import threading\ndef spin():\n    while True:\n        pass\n"
            "for _ in range(16):\n    threading.Thread(target=spin, daemon=True).start()\nspin()\n"
        ),
        "connect_tcp_loopback": (
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'pwned')\n"
        ),
        "connect_udp_loopback": (
            f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'pwned', ('127.0.0.1', {udp_port}))\n"
        ),
        "connect_raw_syscall": (
            "import ctypes, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "fd = libc.syscall(41, 2, 1, 0)\n"
            f"addr = struct.pack('<HH4s8x', 2, socket_port := {port} >> 8 | ({port} & 255) << 8, bytes([127, 0, 0, 1]))\n"
            "print(fd, libc.connect(fd, addr, 16), ctypes.get_errno())\n"
        ),
        "write_outside_scratch": (
            f"import os\nfor p in ['{w}/pwned', '/pwned', '/etc/pwned', '/usr/pwned', '/var/tmp/pwned', '/root/pwned']:\n"
            "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n    except OSError as e:\n        print(p, e)\n"
        ),
        "read_secret": (
            f"for p in ['{secret_path}', '/proc/1/environ', '/proc/self/environ']:\n"
            "    try:\n        print(open(p).read())\n    except OSError as e:\n        print(p, e)\n"
        ),
        "kill_parent": (
            "import os, signal\nfor pid in (os.getppid(), 1):\n    for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP):\n"
            "        try:\n            os.kill(pid, s)\n        except OSError:\n            pass\nprint('survived')\n"
        ),
        "kill_everything": "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError as e:\n    print(e)\n",
        "setsid_double_fork_daemon": (
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        os.closerange(0, 3)\n        time.sleep(3)\n"
            f"        open('{w}/daemon_was_alive', 'w').write('x')\n        os._exit(0)\n    os._exit(0)\nprint('parent done')\n"
        ),
        "stdout_flood_10gb": "import sys\nb = 'x' * (1 << 20)\nfor _ in range(10 * 1024):\n    sys.stdout.write(b)\n",
        "stderr_flood": "import os\nb = b'y' * (1 << 20)\nwhile True:\n    os.write(2, b)\n",
        "fill_dev_shm": "i = 0\nwhile True:\n    open(f'/dev/shm/f{i}', 'wb').write(b'x' * (1 << 20))\n    i += 1\n",
        "fill_scratch": "i = 0\nwhile True:\n    open(f'/tmp/big{i}', 'wb').write(b'x' * (1 << 24))\n    i += 1\n",
        "million_files": "for i in range(1_000_000):\n    open(f'f{i}', 'w').close()\n",
        "ptrace": (
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\nprint(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
        ),
        "raw_syscalls": (
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nres = {}\n"
            "res['mount'] = libc.syscall(165, b'none', b'/tmp', b'tmpfs', 0, 0)\n"
            "res['unshare_user'] = libc.syscall(272, 0x10000000)\n"
            "res['setuid0'] = libc.syscall(105, 0)\n"
            "res['chroot'] = libc.syscall(161, b'/tmp')\n"
            "res['bpf'] = libc.syscall(321, 0, 0, 0)\n"
            "res['init_module'] = libc.syscall(175, 0, 0, b'')\n"
            "res['kexec_load'] = libc.syscall(246, 0, 0, 0, 0)\n"
            "res['perf_event_open'] = libc.syscall(298, 0, 0, -1, -1, 0)\n"
            "res['clone_newns'] = libc.syscall(56, 0x00020000 | 17, 0, 0, 0, 0)\n"
            "print(res)\nassert all(v == -1 for v in res.values()), res\nprint('all denied')\n"
        ),
        "exhaust_pids_then_exit": "import os\nkids = []\ntry:\n    while True:\n        kids.append(os.fork() or os._exit(0))\nexcept OSError:\n    pass\nprint(len(kids))\n",
    }


def main() -> int:
    work = Path(sys.argv[1])
    out_path = Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    secret = work / "secret.txt"
    secret.write_text(token)
    secret.chmod(0o600)
    before = sorted(p.name for p in work.iterdir())

    connections: list[str] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                c, addr = srv.accept()
                connections.append(f"tcp {addr}")
                c.close()
            except OSError:
                pass
            try:
                data, addr = udp.recvfrom(64)
                connections.append(f"udp {addr} {data!r}")
            except OSError:
                pass

    th = threading.Thread(target=listen, daemon=True)
    th.start()

    progs = hostile_programs(work, srv.getsockname()[1], udp.getsockname()[1], secret)
    names = list(progs)
    limits = Limits(time=3.0, memory=192, output=1, processes=32, isolation="strict")
    tests = [{"inputs": [""], "outputs": ["never matches \u2603"]}] * len(names)
    t0 = time.perf_counter()
    results = verify_code_batch([progs[n] for n in names], tests, limits=limits, num_workers=2)
    elapsed = time.perf_counter() - t0
    # The batch is over; a well-behaved supervisor must still work (and is alive: we are it).
    after_ok = verify_code_batch(
        ["print(int(input()) + 1)"], [{"inputs": ["41"], "outputs": ["42"]}], limits=limits
    )
    time.sleep(3.5)  # longer than the daemon's sleep: had it survived, it would write its file now
    stop.set()
    th.join()

    me = os.getpid()
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != me:
            with contextlib.suppress(OSError):
                left.append(f"{d.name}: {(d / 'cmdline').read_bytes()[:80]!r}")
    after = sorted(p.name for p in work.iterdir())
    report = {
        "elapsed": elapsed,
        "results": {
            n: {
                "status": r.status,
                "isolation": r.isolation,
                "signal": r.tests[0].signal if r.tests else None,
                "stdout": r.tests[0].stdout_tail[-400:] if r.tests else "",
                "stderr": r.tests[0].stderr_tail[-400:] if r.tests else "",
                "wall": r.tests[0].wall_time if r.tests else 0.0,
            }
            for n, r in zip(names, results, strict=True)
        },
        "after_ok": after_ok[0].status,
        "connections": connections,
        "processes_left": left,
        "files_before": before,
        "files_after": after,
        "secret_seen": any(
            token in (r.tests[0].stdout_tail + r.tests[0].stderr_tail) for r in results if r.tests
        ),
        "host_paths_written": [
            p
            for p in ("/pwned", "/etc/pwned", "/usr/pwned", "/var/tmp/pwned", "/root/pwned")
            if os.path.exists(p)
        ],
    }
    out_path.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
