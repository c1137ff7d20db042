"""``prime-fast verify math|code --in X.jsonl --out Y.jsonl``: score a dataset from the command line.

The driver here reads JSONL in chunks, hands each chunk to the verifier of the chosen kind, writes one
result per input line (in order), shows a progress bar, and prints a summary of statuses and
throughput. Each kind provides ``cli_verify_chunk(records) -> list[dict]`` in its own module
(:mod:`prime_fast.verify.math`, :mod:`prime_fast.verify.code`); a malformed record yields a result
with status ``"invalid_input"`` and a reason, never a crash of the whole run.

Exit status, as Unix tools do: 0 every record was well-formed (whatever its verdict), 1 one or more
records were ``invalid_input`` (every output line is still written), 2 a usage error (bad flag, missing
input file, ``--out`` in a folder that does not exist or naming a folder): nothing is verified.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KINDS = ("math", "code")

#: Math policy flags: (key, help). Budgets stay keyword arguments of the Python API.
MATH_POLICIES = (
    ("percent", "lenient|strict: how '%%' is read (default lenient)"),
    ("unordered_lists", "true|false: bare lists compare as sets (default true)"),
    ("units", "true|false: strip unit words (default true)"),
    ("approx_decimals", "true|false: a decimal matches a rational value that rounds to it (default true)"),
    ("approx_irrational", "true|false: ... and an irrational one, e.g. 15.71 vs 5\\pi (default false)"),
    ("min_sig_digits", "N: significant digits a decimal needs to match by rounding (default 3)"),
    ("equation_chains", "true|false: x = 1 + 1 = 2 compares its last side (default true)"),
    ("function_heads", "true|false: y = 3x+1 matches g(x) = 3x+1 (default true)"),
    ("mcq_letters", "true|false: read (C) as a choice letter (default true)"),
    ("decimal_comma", "auto|always|never: 3,25 as 3.25 (default auto: only where unambiguous)"),
    ("unreduced_fractions", "true|false: 2/4 equals 1/2 (default true)"),
    ("relation_interval", "gold_only|both|never: inequality vs interval (default gold_only)"),
    ("mixed_numbers", "true|false: 7 3/4 means 7 + 3/4 (default true)"),
    ("strict_exponents", "true|false: (c^d)^e differs from c^(de) (principal branch; default true)"),
    ("extract_order", "comma-separated extractors (default boxed,final_answer,answer,whole,tail)"),
    ("join_boxes", "true|false: join adjacent boxes into a list (default true)"),
    ("timeout_ms", "milliseconds per pair (default 10)"),
)


#: Example records of each input style, shown by ``--help`` (a test verifies that each one passes).
MATH_EXAMPLES: tuple[dict[str, Any], ...] = (
    {"response": "so the answer is \\boxed{\\frac{1}{2}}", "gold": "0.5"},
    {"pred": "10{,}000", "gold": 10000},
)
CODE_EXAMPLES: dict[str, dict[str, Any]] = {
    "stdin/stdout": {
        "program": "print(sum(map(int, input().split())))",
        "tests": {"inputs": ["1 2\n"], "outputs": ["3\n"]},
    },
    "call-based": {
        "program": "def f(a, b): return a + b",
        "tests": {"fn_name": "f", "inputs": [[1, 2]], "outputs": [3]},
    },
    "asserts": {"program": "def f(a, b): return a + b", "tests": {"test_list": ["assert f(1, 2) == 3"]}},
    "HumanEval": {
        "response": "```python\ndef f(a, b):\n    return a + b\n```",
        "tests": {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "f"},
    },
}

_FORMAT_TEXT = """\
input: one JSON object per line (--in); output: one JSON object per input line, in order (--out).

math records: "gold" (the reference answer, a string or a number) and either "response" (a full
model response; the answer is extracted: \\boxed{{}}, "final answer", ...) or "pred" (a bare answer):
{math}
  output: {{"status": "correct" | "incorrect" | "unparseable" | "gold_unparseable" | "timeout",
           "score", "extracted", ...}}

code records: either "program" (Python source) or "response" (a model response: the code after the
last ```python fence, else the whole text), and "tests" (an object or a JSON string; "ground_truth"
is read when "tests" is absent) in one of these styles:
{code}
  output: {{"status": "passed" | "wrong_answer" | "runtime_error" | "timeout" | ..., "score",
           "strict_score", "tests": [one result per test]}}

a record that is not JSON or lacks a field gives {{"status": "invalid_input", "reason": ...}}.
exit status: 0 every record well-formed (whatever its verdict), 1 some records invalid_input (all lines
still written), 2 usage error (bad flag, missing --in, --out in a folder that does not exist).

code limits: the flags below, defaulting to PRIME_FAST_CODE_TIME (seconds per test, default 5),
PRIME_FAST_CODE_MEMORY (MiB, default 512), PRIME_FAST_CODE_ISOLATION (strict|namespaces|rlimits|auto,
default auto), PRIME_FAST_CODE_MODE (per_test|per_program|per_program_once, default per_test).
Math policies: docs/VERIFY_MATH.md. Code test styles and statuses: docs/SANDBOX.md.
"""


def input_format() -> str:
    """The epilog of ``prime-fast verify --help``: record formats (with the examples), exit status."""
    math = "\n".join(f"  {json.dumps(r)}" for r in MATH_EXAMPLES)
    code = "\n".join(f"  {style}:\n    {json.dumps(r)}" for style, r in CODE_EXAMPLES.items())
    return _FORMAT_TEXT.format(math=math, code=code)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = input_format()
    parser.add_argument("kind", choices=KINDS, help="what to verify")
    parser.add_argument("--in", dest="input", required=True, type=Path, help="input JSONL file")
    parser.add_argument("--out", dest="output", required=True, type=Path, help="output JSONL file")
    parser.add_argument("--chunk-size", type=int, default=256, help="records per native batch call")
    parser.add_argument(
        "--num-workers", type=int, default=None, help="threads or sandbox workers (default: all cores)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    code = parser.add_argument_group("code limits (kind 'code')")
    code.add_argument(
        "--time", type=float, default=None, metavar="SECONDS", help="seconds per test [PRIME_FAST_CODE_TIME]"
    )
    code.add_argument(
        "--memory", type=int, default=None, metavar="MIB", help="MiB per program [PRIME_FAST_CODE_MEMORY]"
    )
    code.add_argument(
        "--isolation", default=None, help="strict|namespaces|rlimits|auto [PRIME_FAST_CODE_ISOLATION]"
    )
    code.add_argument(
        "--mode", default=None, help="per_test|per_program|per_program_once [PRIME_FAST_CODE_MODE]"
    )
    code.add_argument("--workers", type=int, default=None, help="sandbox workers (same as --num-workers)")
    math = parser.add_argument_group("math policies (kind 'math')")
    for key, text in MATH_POLICIES:
        math.add_argument(
            f"--{key.replace('_', '-')}", dest=f"policy_{key}", default=None, metavar="VALUE", help=text
        )


def _policy_value(raw: str) -> Any:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Kind-specific keyword arguments of ``cli_verify_chunk``; errors name the flag."""
    code_flags = {
        "--time": args.time,
        "--memory": args.memory,
        "--isolation": args.isolation,
        "--mode": args.mode,
    }
    math_flags = {f"--{k.replace('_', '-')}": getattr(args, f"policy_{k}") for k, _ in MATH_POLICIES}
    wrong = [f for f, v in (math_flags if args.kind == "code" else code_flags).items() if v is not None]
    if wrong:
        other = "math" if args.kind == "code" else "code"
        raise ValueError(f"{wrong[0]} applies to 'prime-fast verify {other}' only")
    if args.kind == "code":
        from prime_fast.verify.code import Limits, env_limits

        base = env_limits()
        values: dict[str, Any] = {
            "time": base.time if args.time is None else args.time,
            "memory": base.memory if args.memory is None else args.memory,
            "isolation": base.isolation if args.isolation is None else args.isolation,
            "mode": base.mode if args.mode is None else args.mode,
        }
        try:
            return {"limits": Limits(**values)}
        except ValueError as e:
            flag = next((f"--{k}" for k in values if f"Limits.{k} " in str(e)), "--time/--memory")
            raise ValueError(f"{flag}: {e}") from e
    from prime_fast.verify.math import math_equal

    policy = {}
    for key, _ in MATH_POLICIES:
        raw = getattr(args, f"policy_{key}")
        if raw is None:
            continue
        policy[key] = _policy_value(raw)
        try:
            math_equal("1", "1", **{key: policy[key]})
        except ValueError as e:
            raise ValueError(f"--{key.replace('_', '-')}: {e}") from e
    return {"policy": policy}


def _read_chunks(path: Path, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                chunk.append(json.loads(line))
            except json.JSONDecodeError as e:
                chunk.append(_InvalidLine(f"line {lineno}: not JSON ({e.msg})"))
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


class _InvalidLine:
    """A line that could not be decoded; passed through to keep output lines aligned with input."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


#: Exit statuses of ``prime-fast verify`` (see the module docstring).
EXIT_OK, EXIT_INVALID_RECORDS, EXIT_USAGE = 0, 1, 2


def _output_problem(path: Path) -> str | None:
    """Why ``--out PATH`` cannot be written, or None; the folder is never created."""
    if path.is_dir():
        return f"--out {path} is a directory; give a file name"
    parent = path.parent
    if not parent.is_dir():
        return f"--out {path}: the folder {parent} does not exist (create it first)"
    return None


def _report_invalid(statuses: Counter[str], output: Path) -> int:
    """The exit status of a finished run; names the count of invalid records on stderr."""
    invalid, n = statuses.get("invalid_input", 0), sum(statuses.values())
    if not invalid:
        return EXIT_OK
    print(
        f"prime-fast verify: {invalid} of {n} records are invalid_input (their 'reason' is in {output})",
        file=sys.stderr,
    )
    return EXIT_INVALID_RECORDS


def run(args: argparse.Namespace) -> int:
    if not args.input.is_file():
        print(f"prime-fast verify: --in {args.input} is not a file", file=sys.stderr)
        return 2
    problem = _output_problem(args.output)
    if problem is not None:
        print(f"prime-fast verify: {problem}", file=sys.stderr)
        return 2
    if args.chunk_size < 1:
        print("prime-fast verify: --chunk-size must be a positive integer", file=sys.stderr)
        return 2
    if args.workers is not None:
        if args.num_workers is not None and args.num_workers != args.workers:
            print("prime-fast verify: --workers and --num-workers disagree", file=sys.stderr)
            return 2
        args.num_workers = args.workers
    if args.num_workers is not None and args.num_workers < 1:
        print("prime-fast verify: --workers must be a positive integer", file=sys.stderr)
        return 2
    try:
        options = _options(args)
    except ValueError as e:
        print(f"prime-fast verify {args.kind}: {e}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"prime_fast.verify.{args.kind}")
    total = _count_lines(args.input)
    from tqdm import tqdm

    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    with (
        args.output.open("w", encoding="utf-8") as out,
        tqdm(total=total, unit="item", disable=args.no_progress, file=sys.stderr) as bar,
    ):
        for chunk in _read_chunks(args.input, args.chunk_size):
            valid = [(i, r) for i, r in enumerate(chunk) if not isinstance(r, _InvalidLine)]
            results: list[dict[str, Any]] = [
                {"status": "invalid_input", "reason": r.reason} if isinstance(r, _InvalidLine) else {}
                for r in chunk
            ]
            verified = module.cli_verify_chunk([r for _, r in valid], num_workers=args.num_workers, **options)
            for (i, _), res in zip(valid, verified, strict=True):
                results[i] = res
            for res in results:
                statuses[str(res.get("status"))] += 1
                out.write(json.dumps(res, ensure_ascii=False) + "\n")
            bar.update(len(chunk))
    elapsed = time.perf_counter() - started
    n = sum(statuses.values())
    print(f"verified {n} items in {elapsed:.2f} s ({n / max(elapsed, 1e-9):.1f} items/s)")
    width = max([len(s) for s in statuses] + [6])
    print(f"{'status':<{width}}  {'count':>8}  {'share':>7}")
    for status, count in statuses.most_common():
        print(f"{status:<{width}}  {count:>8}  {count / max(n, 1):>7.1%}")
    return _report_invalid(statuses, args.output)
