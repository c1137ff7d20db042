"""Shared benchmark harness: environment header, timing, peak memory, correctness gate, table, JSON.

Rules (docs/STYLE.md 4.10): every provider's result is checked against a reference before it is timed,
and a wrong result is reported as such, never timed; CUDA timings use ``triton.testing.do_bench``
(p50 with p20-p80 and min-max), CPU timings a loop of warm-up calls then at least ``MIN_RUNS`` timed
calls with the same statistics (the table prints the median and the min-max spread, the JSON all of
them and the number of runs); memory-bound ops report
GB/s, GEMM-bound ones TFLOP/s; peak memory is ``torch.cuda.max_memory_allocated`` above what was
allocated before the call (on the CPU: peak resident set, approximate).
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from benches._io import save_json

SCHEMA_VERSION = 1


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def env_info() -> dict[str, str]:
    """Machine and version facts for the table header and the JSON."""
    try:
        import triton

        triton_v = triton.__version__
    except ImportError:
        triton_v = "not installed"
    try:
        import prime_fast

        pkg = prime_fast.__version__
    except ImportError:
        pkg = "unknown"
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        cuda = str(torch.version.cuda)
    else:
        gpu = f"none ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        cuda = "n/a"
    return {
        "git_sha": git_sha(),
        "gpu": gpu,
        "cuda": cuda,
        "torch": torch.__version__,
        "triton": triton_v,
        "python": platform.python_version(),
        "pkg_version": pkg,
    }


@dataclass
class Row:
    case: str
    provider: str
    shape: str
    dtype: str
    mode: str
    ms_p50: float | None = None
    ms_p20: float | None = None
    ms_p80: float | None = None
    gbps: float | None = None
    tflops: float | None = None
    peak_mib: float | None = None
    extra_mib: float | None = None
    speedup: float | None = None
    ms_min: float | None = None
    ms_max: float | None = None
    runs: int | None = None
    warmup_runs: int | None = None
    correct: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


#: CPU clock: "process" (CPU time of this process: robust on a shared machine when torch runs one
#: thread) or "wall".
CPU_CLOCK = "wall"


#: CPU timing: at least this many warm-up calls (first-call allocations, caches, lazy imports), and
#: at least ``MIN_RUNS`` timed calls (then more while ``rep_ms`` lasts, up to ``MAX_RUNS``).
WARMUP_RUNS, MIN_RUNS, MAX_RUNS = 3, 15, 200


@dataclass
class Timing:
    """Milliseconds of repeated calls: median, p20/p80, min/max, and how many calls were timed."""

    p50: float
    p20: float
    p80: float
    min: float
    max: float
    runs: int | None
    warmup_runs: int | None

    def fill(self, row: Row) -> None:
        """Write the statistics into ``row`` (``ms_p50``, ``ms_p20``, ``ms_p80``, ``ms_min``, ...)."""
        row.ms_p50, row.ms_p20, row.ms_p80 = self.p50, self.p20, self.p80
        row.ms_min, row.ms_max, row.runs, row.warmup_runs = self.min, self.max, self.runs, self.warmup_runs


def _cpu_times(fn: Callable[[], Any], rep_ms: float, grad_to_none: Any) -> tuple[list[float], int]:
    """Warm-up calls (``WARMUP_RUNS``, or a tenth of the budget if longer), then the timed calls."""
    clock = time.process_time if CPU_CLOCK == "process" else time.perf_counter
    budget = rep_ms / 1e3
    start, warm = time.perf_counter(), 0
    while warm < WARMUP_RUNS or time.perf_counter() - start < budget / 10:
        fn()
        warm += 1
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MIN_RUNS or (time.perf_counter() - start < budget and len(times) < MAX_RUNS):
        if grad_to_none:
            for t in grad_to_none:
                t.grad = None
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return times, warm


def measure(
    fn: Callable[[], Any], device: torch.device | str, *, rep_ms: float = 200.0, grad_to_none=None
) -> Timing:
    """Time ``fn()``: ``triton.testing.do_bench`` on CUDA, :func:`_cpu_times` on the CPU."""
    dev = torch.device(device)
    if dev.type == "cuda":
        import triton.testing

        q = triton.testing.do_bench(
            fn, rep=int(rep_ms), quantiles=[0.5, 0.2, 0.8, 0.0, 1.0], grad_to_none=grad_to_none
        )
        return Timing(*(float(x) for x in q), runs=None, warmup_runs=None)  # do_bench picks the counts
    times, warm = _cpu_times(fn, rep_ms, grad_to_none)
    qs = statistics.quantiles(times, n=10, method="inclusive")
    return Timing(statistics.median(times), qs[1], qs[7], min(times), max(times), len(times), warm)


def _proc_status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_mib(fn: Callable[[], Any], device: torch.device | str) -> float | None:
    """Peak memory of one ``fn()`` call above what was in use before it (MiB).

    CUDA: ``torch.cuda.max_memory_allocated``. CPU (Linux): the process's peak resident set
    (``VmHWM``, reset through ``/proc/self/clear_refs``) above the resident set before the call;
    approximate (allocator reuse hides allocations below glibc's mmap threshold), so call ``fn``
    once before measuring. None where neither is available.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base_rss = _proc_status_mib("VmRSS:")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    fn()
    hwm = _proc_status_mib("VmHWM:")
    if base_rss is None or hwm is None:
        return None
    return max(0.0, hwm - base_rss)


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def fmt(v: float | None, spec: str) -> str:
    """``format(v, spec)``, or a dash padded to the spec's width for a missing value."""
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 0
    return "-".rjust(width) if v is None else format(v, spec)


def print_table(title: str, env: dict[str, str], rows: list[Row]) -> None:
    print(f"# {title}")
    print(
        f"GPU {env['gpu']} | CUDA {env['cuda']} | torch {env['torch']} | triton {env['triton']} | git {env['git_sha']}"
    )
    head = (
        f"{'case':<22} {'provider':<16} {'shape':<24} {'dtype':<6} {'mode':<8} "
        f"{'ms p50 [min-max]':<26} {'runs':>5} {'GB/s':>8} {'TFLOP/s':>8} {'peak MiB':>9} {'extra MiB':>9} "
        f"{'speedup':>8}  note"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.ms_p50 is None:
            ms = "-"
        elif r.ms_min is None:
            ms = f"{r.ms_p50:.3f} ({r.ms_p20:.3f}-{r.ms_p80:.3f})"
        else:
            ms = f"{r.ms_p50:.3f} [{r.ms_min:.3f}-{r.ms_max:.3f}]"
        runs = str(r.runs) if r.runs else "-"
        note = r.note if r.correct is not False else ("WRONG RESULT: " + r.note)
        print(
            f"{r.case:<22} {r.provider:<16} {r.shape:<24} {r.dtype:<6} {r.mode:<8} {ms:<26} {runs:>5} "
            f"{fmt(r.gbps, '8.1f')} {fmt(r.tflops, '8.1f')} {fmt(r.peak_mib, '9.1f')} "
            f"{fmt(r.extra_mib, '9.1f')} {fmt(r.speedup, '7.2f')}{' ' if r.speedup is None else 'x'}  {note}"
        )
    print()


def write_json(path: str | Path, bench: str, env: dict[str, str], rows: list[Row]) -> None:
    doc = {"schema_version": SCHEMA_VERSION, "bench": bench, "env": env, "rows": [asdict(r) for r in rows]}
    save_json(path, doc)


def default_json_path(bench: str, env: dict[str, str]) -> Path:
    gpu = env["gpu"].split(" (")[0].replace(" ", "_").replace("/", "_")
    return Path("benches") / "results" / f"{bench}-{env['git_sha']}-{gpu}.json"
