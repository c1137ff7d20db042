"""The sandboxed code verifier: run model-written programs against tests, safely and fast.

Programs run in a Rust-managed sandbox (``docs/SANDBOX.md``): fresh user/pid/net/mount/ipc/uts
namespaces, a read-only view of the system with a size-capped tmpfs scratch, an unprivileged uid,
rlimits, cgroup memory/pids limits, ``no_new_privs`` and a seccomp filter. A pre-initialised
interpreter in each worker's sandbox forks once per test.

- :func:`run_code`: one program -> :class:`CodeResult`;
- :func:`verify_code_batch`: many programs on a worker pool, with a progress callback;
- :func:`score_code`: PRIME's code reward for a model response (used by
  :func:`prime_fast.verify.score`);
- :func:`cli_verify_chunk`: the per-chunk hook of ``prime-fast verify code``.

Tests (``ground truth``) come in the PRIME/APPS form ``{"inputs": [...], "outputs": [...]}``
(stdin/stdout; with ``"fn_name"`` call-based, LeetCode ``class Solution`` included), the
HumanEval form ``{"test": "def check(candidate): ...", "entry_point": "f"}``, or a list of
asserts ``{"test_list": ["assert f(1) == 2", ...]}``; as a dict or its JSON string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prime_fast import _native
from prime_fast.errors import ConfigError, UnsupportedInputError

ISOLATION_LEVELS = ("strict", "namespaces", "rlimits", "auto")
MODES = ("per_test", "per_program", "per_program_once")
STATUSES = (
    "passed",
    "wrong_answer",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "compile_error",
    "sandbox_error",
)


@dataclass(frozen=True)
class Limits:
    """Limits of one test run.

    Attributes:
        time: wall-clock seconds per test (CPU time is capped at ``ceil(time) + 1``).
        memory: MiB per test (address space and cgroup memory).
        output: MiB of stdout (and of stderr) per test; more is ``output_limit``.
        processes: processes/threads a test may have (cgroup pids and ``RLIMIT_NPROC``).
        isolation: ``"strict"`` (namespaces + seccomp), ``"namespaces"``, ``"rlimits"`` or
            ``"auto"`` (the strongest available). Asking for a level this machine cannot give
            raises :class:`~prime_fast.errors.SandboxError`; it never runs unsandboxed silently.
        mode: ``"per_test"`` (one forked child per test, the default: no test can see what
            another did), ``"per_program"`` (all tests in one child; a test that did not pass
            there runs again in its own child, so every failure verdict is the test's own), or
            ``"per_program_once"`` (all tests in one child, which goes on after failures; its
            verdicts stand, like a fork-per-program runner's, and only tests it did not finish
            run again alone). See docs/SANDBOX.md, "Throughput knobs".
        scratch: MiB of the tmpfs scratch (``/tmp`` inside the sandbox).
        python: interpreter run inside the sandbox (default: the system ``python3``; it must be
            readable by an unprivileged user).
    """

    time: float = 5.0
    memory: int = 512
    output: int = 16
    processes: int = 32
    isolation: str = "auto"
    mode: str = "per_test"
    scratch: int = 64
    python: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.time, bool) or not isinstance(self.time, int | float) or not 0 < self.time <= 3600:
            raise ConfigError(f"Limits.time must be seconds in (0, 3600], got {self.time!r}")
        for name, lo in (("memory", 16), ("output", 1), ("processes", 1), ("scratch", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ConfigError(f"Limits.{name} must be an integer >= {lo}, got {v!r}")
        if self.isolation not in ISOLATION_LEVELS:
            raise ConfigError(f"Limits.isolation must be one of {ISOLATION_LEVELS}, got {self.isolation!r}")
        if self.mode not in MODES:
            raise ConfigError(f"Limits.mode must be one of {MODES}, got {self.mode!r}")

    def _kwargs(self) -> dict[str, Any]:
        return {
            "time": float(self.time),
            "memory": self.memory << 20,
            "output": self.output << 20,
            "processes": self.processes,
            "isolation": self.isolation,
            "mode": self.mode,
            "scratch": self.scratch << 20,
            "python": self.python,
        }


@dataclass(frozen=True)
class TestResult:
    """Outcome of one test."""

    status: str
    signal: int | None = None
    exit_code: int | None = None
    detail: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""
    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory: int = 0


@dataclass(frozen=True)
class CodeResult:
    """Outcome of one program.

    ``status`` is ``"passed"`` when every test passed, else the status of the first failing test
    (or ``"invalid_input"`` with ``reason`` when the tests could not be read). ``score`` is PRIME's
    partial credit (1.0 if all tests pass, else the passing fraction of the first 10 tests),
    ``strict_score`` all-or-nothing. ``isolation`` is the level that was in effect.
    """

    status: str
    score: float = 0.0
    strict_score: float = 0.0
    passed: int = 0
    total: int = 0
    isolation: str = ""
    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory: int = 0
    tests: list[TestResult] = field(default_factory=list)
    reason: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodeResult:
        """Build from the dict the native layer returns."""
        tests = [TestResult(**t) for t in d.get("tests", [])]
        rest = {k: v for k, v in d.items() if k != "tests"}
        return cls(tests=tests, **rest)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "tests"}
        d["tests"] = [t.__dict__.copy() for t in self.tests]
        return d


def _tests_json(tests: Any, what: str = "tests") -> str:
    if isinstance(tests, str):
        return tests
    if isinstance(tests, dict):
        try:
            return json.dumps(tests, ensure_ascii=False, allow_nan=True)
        except (TypeError, ValueError) as e:
            raise UnsupportedInputError(f"{what}: not JSON-serialisable ({e})") from e
    raise UnsupportedInputError(f"{what} must be a dict or a JSON string, got {type(tests).__name__}")


def _limits(limits: Limits | None) -> Limits:
    if limits is None:
        return Limits()
    if not isinstance(limits, Limits):
        raise UnsupportedInputError(f"limits must be a prime_fast.verify.Limits, got {type(limits).__name__}")
    return limits


def verify_code_batch(
    programs: Sequence[str],
    tests: Sequence[Any],
    *,
    num_workers: int | None = None,
    limits: Limits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[CodeResult]:
    """Run each program against its tests on a pool of sandboxed workers.

    Args:
        programs: program sources.
        tests: one ground truth per program (dict or JSON string; see the module docstring).
        num_workers: CPU workers (default: all cores). Tests that sleep give their CPU to others.
        limits: :class:`Limits` (default ``Limits()``).
        progress: called as ``progress(tests_done, tests_total)`` about every 0.1 s from the
            calling thread; an exception it raises (and Ctrl-C) stops the batch and propagates.

    Returns:
        One :class:`CodeResult` per program, in order. Malformed tests give a result with status
        ``"invalid_input"`` and a ``reason``, the other programs still run.
    """
    if isinstance(programs, str) or not isinstance(programs, Sequence):
        raise UnsupportedInputError("programs must be a sequence of str")
    if isinstance(tests, str | dict) or not isinstance(tests, Sequence):
        raise UnsupportedInputError("tests must be a sequence (one ground truth per program)")
    if len(programs) != len(tests):
        raise UnsupportedInputError(
            f"programs and tests must have the same length, got {len(programs)} and {len(tests)}"
        )
    for i, p in enumerate(programs):
        if not isinstance(p, str):
            raise UnsupportedInputError(f"programs[{i}] must be a str, got {type(p).__name__}")
    if num_workers is not None and (
        isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1
    ):
        raise ConfigError(f"num_workers must be a positive integer or None, got {num_workers!r}")
    if progress is not None and not callable(progress):
        raise UnsupportedInputError("progress must be callable(done, total) or None")
    lim = _limits(limits)
    texts = [_tests_json(t, f"tests[{i}]") for i, t in enumerate(tests)]
    if not programs:
        return []
    raw = _native.verify_code(
        list(programs), texts, num_workers=num_workers, progress=progress, **lim._kwargs()
    )
    return [CodeResult.from_dict(d) for d in raw]


def run_code(program: str, tests: Any, *, limits: Limits | None = None) -> CodeResult:
    """Run one program against its tests (see :func:`verify_code_batch`)."""
    if not isinstance(program, str):
        raise UnsupportedInputError(f"program must be a str, got {type(program).__name__}")
    return verify_code_batch([program], [tests], limits=limits)[0]


def extract_code(response: str) -> str:
    """PRIME's extraction: the text after the last ```` ```python ```` fence up to the next
    ```` ``` ````; a response without such a fence is taken as code unchanged."""
    if "```python" in response:
        return response.split("```python")[-1].split("```")[0]
    return response


def score_code(response: str, ground_truth: Any, *, limits: Limits | None = None) -> float:
    """PRIME's code reward of one response: 1.0 if every test passes, else the passing
    fraction of the first 10 tests. Raises ``UnsupportedInputError`` for malformed tests."""
    if not isinstance(response, str):
        raise UnsupportedInputError(f"response must be a str, got {type(response).__name__}")
    res = run_code(extract_code(response), _tests_json(ground_truth, "ground_truth"), limits=limits)
    if res.status == "invalid_input":
        raise UnsupportedInputError(f"ground_truth: {res.reason}")
    return float(res.score)


def isolation_level(isolation: str = "auto") -> str:
    """The isolation level a run would use here; raises ``SandboxError`` if unavailable."""
    if isolation not in ISOLATION_LEVELS:
        raise ConfigError(f"isolation must be one of {ISOLATION_LEVELS}, got {isolation!r}")
    return _native.code_isolation(isolation)


def env_limits() -> Limits:
    """:class:`Limits` from ``PRIME_FAST_CODE_TIME`` (seconds per test, default 5),
    ``PRIME_FAST_CODE_MEMORY`` (MiB, default 512), ``PRIME_FAST_CODE_ISOLATION`` (default ``auto``)
    and ``PRIME_FAST_CODE_MODE`` (default ``per_test``); a bad value raises ConfigError naming it."""
    try:
        time_s = float(os.environ.get("PRIME_FAST_CODE_TIME", "5"))
        memory = int(os.environ.get("PRIME_FAST_CODE_MEMORY", "512"))
    except ValueError as e:
        raise ConfigError(f"PRIME_FAST_CODE_TIME / PRIME_FAST_CODE_MEMORY must be numbers ({e})") from e
    return Limits(
        time=time_s,
        memory=memory,
        isolation=os.environ.get("PRIME_FAST_CODE_ISOLATION", "auto"),
        mode=os.environ.get("PRIME_FAST_CODE_MODE", "per_test"),
    )


def cli_verify_chunk(
    records: list[Any], num_workers: int | None = None, limits: Limits | None = None
) -> list[dict[str, Any]]:
    """``prime-fast verify code``: verify JSONL records ``{"program" | "response", "tests"}``.

    Each output dict has the :class:`CodeResult` fields (``tests`` per test); a record that is
    malformed yields ``{"status": "invalid_input", "reason": ...}``. ``limits`` default to
    :func:`env_limits` (the ``PRIME_FAST_CODE_*`` environment variables).
    """
    out: list[dict[str, Any] | None] = [None] * len(records)
    progs: list[str] = []
    tests: list[str] = []
    where: list[int] = []
    if limits is None:
        limits = env_limits()
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            out[i] = {"status": "invalid_input", "reason": "record must be a JSON object"}
            continue
        if isinstance(r.get("program"), str):
            prog = r["program"]
        elif isinstance(r.get("response"), str):
            prog = extract_code(r["response"])
        else:
            out[i] = {"status": "invalid_input", "reason": "record needs a 'program' or 'response' string"}
            continue
        t = r.get("tests", r.get("ground_truth"))
        if not isinstance(t, str | dict):
            out[i] = {"status": "invalid_input", "reason": "record needs 'tests' (object or JSON string)"}
            continue
        try:
            tests.append(_tests_json(t))
        except UnsupportedInputError as e:
            out[i] = {"status": "invalid_input", "reason": str(e)}
            continue
        progs.append(prog)
        where.append(i)
    if progs:
        results = verify_code_batch(progs, tests, num_workers=num_workers, limits=limits)
        for i, res in zip(where, results, strict=True):
            d = res.to_dict()
            if res.status == "invalid_input":
                d = {"status": "invalid_input", "reason": res.reason}
            out[i] = d
    return [d if d is not None else {"status": "invalid_input", "reason": "unknown"} for d in out]
