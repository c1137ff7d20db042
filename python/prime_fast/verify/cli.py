"""``prime-fast verify math|code --in X.jsonl --out Y.jsonl``: score a dataset from the command line.

The driver here reads JSONL in chunks, hands each chunk to the verifier of the chosen kind, writes one
result per input line (in order), shows a progress bar, and prints a summary of statuses and
throughput. Each kind provides ``cli_verify_chunk(records) -> list[dict]`` in its own module
(:mod:`prime_fast.verify.math`, :mod:`prime_fast.verify.code`); a malformed record yields a result
with status ``"invalid_input"`` and a reason, never a crash of the whole run.
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "code limits come from the environment: PRIME_FAST_CODE_TIME (seconds per test, default 5), "
        "PRIME_FAST_CODE_ISOLATION (strict|namespaces|rlimits|auto, default auto), "
        "PRIME_FAST_CODE_MODE (per_test|per_program|per_program_once, default per_test)"
    )
    parser.add_argument("kind", choices=KINDS, help="what to verify")
    parser.add_argument("--in", dest="input", required=True, type=Path, help="input JSONL file")
    parser.add_argument("--out", dest="output", required=True, type=Path, help="output JSONL file")
    parser.add_argument("--chunk-size", type=int, default=256, help="records per native batch call")
    parser.add_argument(
        "--num-workers", type=int, default=None, help="threads or sandbox workers (default: all cores)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


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


def run(args: argparse.Namespace) -> int:
    if not args.input.is_file():
        print(f"prime-fast verify: --in {args.input} is not a file", file=sys.stderr)
        return 2
    if args.chunk_size < 1:
        print("prime-fast verify: --chunk-size must be a positive integer", file=sys.stderr)
        return 2
    module = importlib.import_module(f"prime_fast.verify.{args.kind}")
    total = _count_lines(args.input)
    from tqdm import tqdm

    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    args.output.parent.mkdir(parents=True, exist_ok=True)
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
            verified = module.cli_verify_chunk([r for _, r in valid], num_workers=args.num_workers)
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
    return 0
