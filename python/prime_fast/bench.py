"""``prime-fast bench NAME``: run a benchmark script from a prime-fast checkout's ``benches/``.

Benchmarks are not shipped in the wheel; this command finds ``benches/`` from the current directory
upwards and runs ``python -m benches.<script>`` there, passing the remaining arguments through.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

BENCHES: dict[str, list[str]] = {
    "kernels": ["bench_kernels"],
    "verify": ["bench_verify_math", "bench_verify_code"],
    "verify-math": ["bench_verify_math"],
    "verify-code": ["bench_verify_code"],
    "step": ["bench_demo"],
    "eval": ["bench_eval"],
    "lora": ["bench_lora"],
}


def find_checkout(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``benches/`` and ``pyproject.toml``."""
    for d in [start, *start.parents]:
        if (d / "benches").is_dir() and (d / "pyproject.toml").is_file():
            return d
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(BENCHES), help="which benchmark to run")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")


def _combined_usage(name: str) -> str:
    """The one usage of a name that runs several scripts (their own options: each name's --help)."""
    singles = [n for n, scripts in BENCHES.items() if len(scripts) == 1 and scripts[0] in BENCHES[name]]
    return (
        f"usage: prime-fast bench {name} [ARGS ...]\n\n"
        f"runs {', then '.join(f'benches/{s}.py' for s in BENCHES[name])}, each with the same ARGS.\n"
        f"Their options: {', '.join(f'prime-fast bench {n} --help' for n in singles)}."
    )


def run(args: argparse.Namespace) -> int:
    if len(BENCHES[args.name]) > 1 and {"-h", "--help"} & set(args.bench_args):
        print(_combined_usage(args.name))
        return 0
    root = find_checkout(Path.cwd())
    if root is None:
        print(
            "prime-fast bench: no benches/ folder found here or above; run it from a prime-fast checkout",
            file=sys.stderr,
        )
        return 2
    for script in BENCHES[args.name]:
        if not (root / "benches" / f"{script}.py").is_file():
            print(f"prime-fast bench: benches/{script}.py does not exist in {root}", file=sys.stderr)
            return 2
        rc = subprocess.call([sys.executable, "-m", f"benches.{script}", *args.bench_args], cwd=root)
        if rc != 0:
            return rc
    return 0
