"""Throughput of the sandboxed code verifier against two baselines written for this bench.

Corpus: generated (seeded) stdin- and call-style problems, 5 tests each, mixing passes, wrong
answers, runtime and compile errors, and ``--timeout-share`` rows (default 2%) whose one slow test
times out (``--timeout-kinds``: half busy loops and half sleeps, all sleeps, all busy loops; each a
subset of its own, plus the subset without timeout rows). Runners, all on the same ``--workers`` cores:

- ``ours/per_test``: prime-fast, strict isolation, one forked child per test;
- ``ours/per_program``: prime-fast, strict isolation, all tests in one child, per-test re-runs on
  failure;
- ``ours/per_program_once``: prime-fast, strict isolation, all tests in one child whose verdicts
  stand (the same semantics as (b)); re-runs only for tests the child did not finish;
- ``verl_prime_code`` (a): the verl/PRIME flow: all tests in one forked ``multiprocessing.Process``
  with a ``Manager`` (``join(timeout + 1)``), and on any failure each of the first 10 tests again in
  its own process + Manager; inside, the per-test work of the APPS-style ``run_test`` it calls
  (``unittest.mock`` patches of ``open``/``sys.stdin`` per stdin test, ``faulthandler``, formatted
  tracebacks; see ``_bl_child``). On the no-timeout subset also ``(a) lean harness``: the same flow
  with the lean per-test work of (b), as a lower bound of (a)'s cost;
- ``fork_manager`` (b): an idealised fork + Manager per program running every test once, no re-runs,
  lean per-test work.

Prints a fixed-width table (with and without the timeout rows) and writes JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

from prime_fast.verify import Limits, verify_code_batch

MODES = ("per_test", "per_program", "per_program_once")

# ----------------------------------------------------------------------------- corpus
STDIN_PROBLEMS = [
    # (correct program, wrong program, input generator, reference solver)
    (
        "a, b = map(int, input().split())\nprint(a + b)\n",
        "a, b = map(int, input().split())\nprint(a + b + (a % 3 == 0))\n",
        lambda r: f"{r.randint(-99, 99)} {r.randint(-99, 99)}\n",
        lambda s: str(sum(map(int, s.split()))),
    ),
    (
        "n = int(input())\nxs = list(map(int, input().split()))\nprint(max(xs))\n",
        "n = int(input())\nxs = list(map(int, input().split()))\nprint(xs[-1])\n",
        lambda r: (lambda xs: f"{len(xs)}\n{' '.join(map(str, xs))}\n")(
            [r.randint(0, 999) for _ in range(r.randint(1, 8))]
        ),
        lambda s: str(max(map(int, s.split("\n")[1].split()))),
    ),
    (
        "s = input().strip()\nprint(s[::-1])\n",
        "s = input().strip()\nprint(s)\n",
        lambda r: "".join(r.choice("abcde") for _ in range(r.randint(1, 9))) + "\n",
        lambda s: s.strip()[::-1],
    ),
    (
        "xs = sorted(map(int, input().split()))\nprint(*xs)\n",
        "xs = list(map(int, input().split()))\nprint(*xs)\n",
        lambda r: " ".join(str(r.randint(0, 50)) for _ in range(r.randint(2, 7))) + "\n",
        lambda s: " ".join(map(str, sorted(map(int, s.split())))),
    ),
]
CALL_PROBLEMS = [
    (
        "add",
        "def add(a, b):\n    return a + b\n",
        "def add(a, b):\n    return a - b if a > b else a + b\n",
        lambda r: [r.randint(0, 99), r.randint(0, 99)],
        lambda a: a[0] + a[1],
    ),
    (
        "fib",
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
        "def fib(n):\n    return n\n",
        lambda r: [r.randint(0, 30)],
        lambda a: _fib(a[0]),
    ),
    (
        "twoSum",
        "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        seen = {}\n"
        "        for i, x in enumerate(nums):\n            if target - x in seen:\n                return [seen[target - x], i]\n"
        "            seen[x] = i\n",
        "class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n        return [0, 1]\n",
        lambda r: _two_sum_case(r),
        lambda a: _two_sum_answer(*a),
    ),
]


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _two_sum_case(r: random.Random) -> list[Any]:
    n = r.randint(2, 6)
    nums = r.sample(range(1, 60), n)
    i, j = sorted(r.sample(range(n), 2))
    return [nums, nums[i] + nums[j]]


def _two_sum_answer(nums: list[int], target: int) -> list[int]:
    seen: dict[int, int] = {}
    for i, x in enumerate(nums):
        if target - x in seen:
            return [seen[target - x], i]
        seen[x] = i
    return []


def make_corpus(
    rows: int, timeout_share: float, seed: int = 0, timeout_kind: str = "mixed"
) -> list[dict[str, Any]]:
    """Generate ``rows`` (program, tests) pairs: dicts with program, tests, kind and variant.

    ``timeout_kind`` says how the timeout rows' slow test waits: ``"busy"`` (an infinite loop,
    which burns its whole time limit of CPU in every runner), ``"sleep"`` (``time.sleep``: no CPU)
    or ``"mixed"`` (alternating). Every other row is the same for the three kinds.
    """
    if timeout_kind not in ("mixed", "busy", "sleep"):
        raise ValueError(f"timeout_kind must be 'mixed', 'busy' or 'sleep', got {timeout_kind!r}")
    r = random.Random(seed)
    n_timeout = round(rows * timeout_share)
    corpus = []
    for k in range(rows):
        call = k % 2 == 1
        roll = r.random()
        variant = "pass" if roll < 0.6 else "wrong" if roll < 0.8 else "error" if roll < 0.95 else "compile"
        timeout_row = k < n_timeout
        if call:
            name, good, bad, gen, ref = CALL_PROBLEMS[r.randrange(len(CALL_PROBLEMS))]
            args = [gen(r) for _ in range(5)]
            tests = {"inputs": args, "outputs": [ref(a) for a in args], "fn_name": name}
        else:
            good, bad, gen, ref = STDIN_PROBLEMS[r.randrange(len(STDIN_PROBLEMS))]
            ins = [gen(r) for _ in range(5)]
            tests = {"inputs": ins, "outputs": [ref(s) + "\n" for s in ins]}
        prog = {
            "pass": good,
            "wrong": bad,
            "error": good + "\nraise RuntimeError('late failure')\n",
            "compile": "def broken(:\n    pass\n",
        }[variant]
        if timeout_row:
            # Correct on four tests, too slow on the last one (busy loop or sleep).
            busy = k % 2 == 0 if timeout_kind == "mixed" else timeout_kind == "busy"
            if call:
                name = tests["fn_name"]
                target = "Solution." + name if name == "twoSum" else name
                body = (
                    "        while True:\n            pass\n"
                    if busy
                    else "        import time\n        time.sleep(60)\n"
                )
                prog = (
                    good
                    + f"\n_inner = {target}\ndef _slow(*a):\n    if a[-1] == {tests['inputs'][4][-1]!r}:\n"
                    + body
                    + f"    return _inner(*a)\n{target} = _slow\n"
                )
            else:
                body = "    while True:\n        pass\n" if busy else "    import time\n    time.sleep(60)\n"
                prog = (
                    f"import io, sys\n_data = sys.stdin.read()\nif _data == {tests['inputs'][4]!r}:\n"
                    + body
                    + "sys.stdin = io.StringIO(_data)\n"
                    + good
                )
            variant = "timeout"
        corpus.append(
            {"program": prog, "tests": tests, "kind": "call" if call else "stdin", "variant": variant}
        )
    r.shuffle(corpus)
    return corpus


# ----------------------------------------------------------------------------- baselines
def _bl_child(
    program: str,
    tests: dict[str, Any],
    idxs: list[int],
    timeout: float,
    stop_first: bool,
    result: Any,
    harness: str = "lean",
) -> None:
    """Run tests ``idxs`` of ``program`` in this (forked) process and append True/False per test.

    ``harness="lean"``: the least work a runner of this shape needs. ``harness="verl"``: the
    per-test work of the APPS-style ``run_test`` that verl's ``prime_code`` calls: stdin programs
    run under ``unittest.mock`` patches of ``open`` and ``sys.stdin`` (re-created per test) with
    stdout captured, ``faulthandler`` armed around each test, call results ``json.dumps``-ed,
    and a formatted traceback for every error; call-style code is executed once per process.
    """

    def on_alarm(*_: Any) -> None:
        raise TimeoutError

    signal.signal(signal.SIGALRM, on_alarm)
    fn_name = tests.get("fn_name")
    verl = harness == "verl"
    try:
        code = compile(program, "<program>", "exec")
    except BaseException:
        result.extend([-2] * len(idxs))
        return
    fn: Any = None
    for i in idxs:
        inp, out = tests["inputs"][i], tests["outputs"][i]
        ok: bool | int = False
        old_stdin, old_stdout = sys.stdin, sys.stdout
        if verl:
            faulthandler.enable()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            if fn_name:
                if fn is None or not verl:
                    g: dict[str, Any] = {"__name__": "tmp_sol"}
                    exec(code, g)
                    fn = getattr(g["Solution"](), fn_name) if "Solution" in g else g[fn_name]
                res = fn(*inp)
                if verl:
                    json.dumps(res)[:200]
                if isinstance(res, tuple):
                    res = list(res)
                ok = res == out or (isinstance(out, list) and bool(out) and res == out[0])
            else:
                buf = io.StringIO()
                sys.stdout = buf
                if verl:
                    _run_patched_stdin(code, inp)
                else:
                    sys.stdin = io.StringIO(inp)
                    exec(code, {"__name__": "__main__"})
                got = [x.strip() for x in buf.getvalue().strip().splitlines()]
                ok = got == [x.strip() for x in out.strip().splitlines()]
        except BaseException:
            if verl:
                traceback.format_exc()
            ok = -1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if verl:
                faulthandler.disable()
            sys.stdin, sys.stdout = old_stdin, old_stdout
        result.append(ok is True)
        if stop_first and ok is not True:
            break


def _run_patched_stdin(code: Any, inp: str) -> None:
    """Execute a stdin program the way APPS-style harnesses feed it: patched ``open`` and stdin."""
    lines = iter(inp.split("\n"))
    with (
        mock.patch("builtins.open", mock.mock_open(read_data=inp)),
        mock.patch("sys.stdin", io.StringIO(inp)),
        mock.patch("sys.stdin.readline", lambda *_: next(lines)),
        mock.patch("sys.stdin.readlines", lambda *_: inp.split("\n")),
        mock.patch("sys.stdin.read", lambda *_: inp),
        contextlib.suppress(SystemExit),
    ):
        exec(code, {"__name__": "__main__"})


def check_correctness(
    program: str,
    tests: dict[str, Any],
    idxs: list[int],
    timeout: float,
    stop_first: bool,
    harness: str = "lean",
) -> list[bool]:
    """One forked process + Manager for the given tests; ``join(timeout + 1)`` then kill."""
    manager = multiprocessing.Manager()
    result = manager.list()
    p = multiprocessing.Process(
        target=_bl_child, args=(program, tests, idxs, timeout, stop_first, result, harness)
    )
    p.start()
    p.join(timeout=timeout + 1)
    if p.is_alive():
        p.kill()
        p.join()
    res = list(result)
    manager.shutdown()
    return [x is True for x in res] + [False] * (len(idxs) - len(res))


def verl_prime_code(program: str, tests: dict[str, Any], timeout: float, harness: str = "verl") -> float:
    n = len(tests["inputs"])
    first = check_correctness(program, tests, list(range(n)), timeout, True, harness)
    if all(first) and len(first) == n:
        return 1.0
    k = min(n, 10)
    return sum(check_correctness(program, tests, [i], timeout, True, harness)[0] for i in range(k)) / k


def verl_prime_code_lean(program: str, tests: dict[str, Any], timeout: float) -> float:
    """(a) with the lean per-test harness (the bench's (a) before 2026-11-26 17:20 UTC)."""
    return verl_prime_code(program, tests, timeout, harness="lean")


def fork_manager(program: str, tests: dict[str, Any], timeout: float) -> float:
    n = len(tests["inputs"])
    res = check_correctness(program, tests, list(range(n)), timeout, stop_first=False)
    if all(res):
        return 1.0
    k = min(n, 10)
    return sum(res[:k]) / k


# ----------------------------------------------------------------------------- runs
def run_baseline(
    fn: Any, corpus: list[dict[str, Any]], timeout: float, workers: int
) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        scores = list(ex.map(lambda row: fn(row["program"], row["tests"], timeout), corpus))
    return time.perf_counter() - t0, scores


def run_baseline_in_process_with(
    preload: str, fn_name: str, corpus: list[dict[str, Any]], timeout: float, workers: int
) -> tuple[float, list[float]]:
    """:func:`run_baseline` in a fresh interpreter that first imports ``preload`` (e.g. ``torch``),
    so its forks copy that process, as verl's reward workers (which import torch) do."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "corpus.json", Path(d) / "out.json"
        src.write_text(json.dumps(corpus))
        code = (
            f"import {preload}, json, multiprocessing, sys\n"
            "multiprocessing.set_start_method('fork', force=True)\n"
            "from benches import bench_verify_code as b\n"
            f"rows = json.load(open({str(src)!r}))\n"
            f"wall, scores = b.run_baseline(getattr(b, {fn_name!r}), rows, {timeout!r}, {workers!r})\n"
            f"json.dump([wall, scores], open({str(dst)!r}, 'w'))\n"
        )
        root = Path(__file__).resolve().parents[1]
        subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
        wall, scores = json.loads(dst.read_text())
    return wall, scores


def run_ours(
    corpus: list[dict[str, Any]], timeout: float, workers: int, mode: str
) -> tuple[float, list[float], str]:
    lim = Limits(time=timeout, memory=256, isolation="strict", mode=mode)
    t0 = time.perf_counter()
    res = verify_code_batch(
        [r["program"] for r in corpus], [r["tests"] for r in corpus], num_workers=workers, limits=lim
    )
    return time.perf_counter() - t0, [r.score for r in res], res[0].isolation


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--timeout-share", type=float, default=0.02)
    ap.add_argument("--time", type=float, default=1.0, help="per-test time limit (s), all runners")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--trivial", type=int, default=400, help="programs in the trivial-throughput run")
    ap.add_argument(
        "--timeout-kinds",
        default="mixed,sleep,busy",
        help="comma-separated subsets with timeout rows: mixed (half busy loops, half sleeps), sleep, busy",
    )
    ap.add_argument("--skip-baselines", action="store_true")
    ap.add_argument(
        "--a-from-torch",
        action="store_true",
        help="also run (a) from a process that imported torch, as verl's reward workers fork (no-timeout subset)",
    )
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args(argv)
    multiprocessing.set_start_method("fork", force=True)

    kinds = [k.strip() for k in args.timeout_kinds.split(",") if k.strip()]
    subsets: list[tuple[str, list[dict[str, Any]]]] = []
    for kind in kinds:
        name = "with_timeouts" if kind == "mixed" else f"with_{kind}_timeouts"
        subsets.append((name, make_corpus(args.rows, args.timeout_share, timeout_kind=kind)))
    no_to = [r for r in make_corpus(args.rows, args.timeout_share) if r["variant"] != "timeout"]
    subsets.append(("no_timeouts", no_to))
    results: list[dict[str, Any]] = []
    isolation = ""

    def record(
        runner: str, subset: str, rows: list[dict[str, Any]], wall: float, scores: list[float]
    ) -> None:
        tests = sum(len(r["tests"]["inputs"]) for r in rows)
        results.append(
            {
                "runner": runner,
                "subset": subset,
                "programs": len(rows),
                "tests": tests,
                "wall_s": wall,
                "tests_per_s": tests / wall,
                "programs_per_s": len(rows) / wall,
                "tests_per_s_per_core": tests / wall / args.workers,
                "mean_score": sum(scores) / max(len(scores), 1),
            }
        )

    for subset, rows in subsets:
        for mode in MODES:
            wall, scores, isolation = run_ours(rows, args.time, args.workers, mode)
            record(f"ours/{mode}", subset, rows, wall, scores)
        if not args.skip_baselines:
            wall, scores = run_baseline(verl_prime_code, rows, args.time, args.workers)
            record("verl_prime_code (a)", subset, rows, wall, scores)
            if subset == "no_timeouts":  # references: lean per-test harness; forks of a torch process
                wall, scores = run_baseline(verl_prime_code_lean, rows, args.time, args.workers)
                record("(a) lean harness", subset, rows, wall, scores)
                if args.a_from_torch:
                    wall, scores = run_baseline_in_process_with(
                        "torch", "verl_prime_code", rows, args.time, args.workers
                    )
                    record("(a) forked from torch", subset, rows, wall, scores)
            wall, scores = run_baseline(fork_manager, rows, args.time, args.workers)
            record("fork_manager (b)", subset, rows, wall, scores)

    trivial = [
        {
            "program": "a, b = map(int, input().split())\nprint(a + b)\n",
            "tests": {
                "inputs": [f"{i} {j}\n" for j in range(5)],
                "outputs": [f"{i + j}\n" for j in range(5)],
            },
        }
        for i in range(args.trivial)
    ]
    for mode in MODES:
        wall, scores, _ = run_ours(trivial, args.time, args.workers, mode)
        record(f"ours/{mode}", "trivial", trivial, wall, scores)

    by = {(r["runner"], r["subset"]): r for r in results}
    ratios: dict[str, float] = {}
    for subset, _ in subsets:
        a = by.get(("verl_prime_code (a)", subset))
        lean = by.get(("(a) lean harness", subset))
        a_torch = by.get(("(a) forked from torch", subset))
        b = by.get(("fork_manager (b)", subset))
        for mode in MODES:
            o = by[(f"ours/{mode}", subset)]
            if a:
                ratios[f"{mode}_vs_a_{subset}"] = o["tests_per_s"] / a["tests_per_s"]
            if lean:
                ratios[f"{mode}_vs_a_lean_{subset}"] = o["tests_per_s"] / lean["tests_per_s"]
            if a_torch:
                ratios[f"{mode}_vs_a_from_torch_{subset}"] = o["tests_per_s"] / a_torch["tests_per_s"]
            if b:
                ratios[f"{mode}_vs_b_{subset}"] = o["tests_per_s"] / b["tests_per_s"]

    print(
        f"code verifier throughput: {args.rows} rows x 5 tests, {args.timeout_share:.0%} timeout rows, "
        f"time limit {args.time} s, {args.workers} workers, isolation {isolation}"
    )
    hdr = f"{'runner':<22} {'subset':<20} {'programs':>8} {'tests':>7} {'wall s':>8} {'tests/s':>9} {'progs/s':>8} {'tests/s/core':>12} {'score':>6}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(
            f"{r['runner']:<22} {r['subset']:<20} {r['programs']:>8} {r['tests']:>7} {r['wall_s']:>8.2f} "
            f"{r['tests_per_s']:>9.1f} {r['programs_per_s']:>8.1f} {r['tests_per_s_per_core']:>12.1f} {r['mean_score']:>6.3f}"
        )
    print()
    for k, v in ratios.items():
        print(f"{k:<40} {v:>6.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"config": vars(args), "isolation": isolation, "results": results, "ratios": ratios},
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
