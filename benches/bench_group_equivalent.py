"""Benchmark of ``group_equivalent`` (majority vote / label-free rewards) on MATH-style answers.

10,000 boxed answers (by default) over a few hundred distinct values, each spelled in one of
several equivalent forms (fractions, decimals, ``x = ...``, surds, tuples, intervals, text), as a
group of sampled responses would be. One call, on the calling thread (the work is sequential);
best of ``--repeats``. Prints a table; ``--json PATH`` writes the numbers.

    python -m benches.bench_group_equivalent --json benches/results/group_equivalent.json
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

from benches._io import save_json
from prime_fast.verify import group_equivalent


def _spell(kind: str, v: Any, r: random.Random) -> str:
    if kind == "rational":
        f: Fraction = v
        n, d = f.numerator, f.denominator
        forms = [
            f"\\frac{{{n}}}{{{d}}}",
            f"{n}/{d}",
            f"\\dfrac{{{2 * n}}}{{{2 * d}}}",
            f"x = \\frac{{{n}}}{{{d}}}",
        ]
        if d == 1:
            forms += [str(n), f"{n}.0"]
        if 10**6 % d == 0:
            forms.append(f"{float(f):g}")
        return r.choice(forms)
    if kind == "surd":
        k, m = v
        return r.choice([f"{k}\\sqrt{{{m}}}", f"\\sqrt{{{k * k * m}}}", f"{k}\\sqrt{m}"])
    if kind == "tuple":
        a, b = v
        return r.choice([f"({a}, {b})", f"\\left({a},{b}\\right)"])
    if kind == "interval":
        a, b = v
        return r.choice([f"[{a}, {b})", f"\\left[{a},{b}\\right)"])
    if kind == "symbolic":
        a = v
        return r.choice([f"x^2 + {2 * a}x + {a * a}", f"(x+{a})^2", f"(x + {a})(x + {a})"])
    return r.choice([v, f"\\text{{{v}}}"])


def make_answers(n: int, n_values: int, seed: int) -> list[str]:
    """``n`` boxed responses over ``n_values`` distinct answers (several spellings each)."""
    r = random.Random(seed)
    values: list[tuple[str, Any]] = []
    for _ in range(n_values):
        kind = r.choices(
            ["rational", "surd", "tuple", "interval", "symbolic", "text"], [60, 10, 10, 8, 7, 5]
        )[0]
        if kind == "rational":
            values.append((kind, Fraction(r.randint(-500, 500), r.choice([1, 1, 2, 3, 4, 5, 7, 8]))))
        elif kind == "surd":
            values.append((kind, (r.randint(2, 9), r.choice([2, 3, 5, 6, 7]))))
        elif kind in ("tuple", "interval"):
            values.append((kind, tuple(sorted(r.sample(range(-20, 20), 2)))))
        elif kind == "symbolic":
            values.append((kind, r.randint(1, 30)))
        else:
            values.append((kind, r.choice(["Monday", "even", "odd", "Alice", "yes", "no"])))
    return [f"So the answer is $\\boxed{{{_spell(*r.choice(values), r)}}}$." for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="answers per call")
    ap.add_argument("--values", type=int, default=500, help="distinct answer values")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    answers = make_answers(args.n, args.values, args.seed)
    best, best_cpu, ids = float("inf"), float("inf"), []
    for _ in range(args.repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        ids = group_equivalent(answers)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.thread_time() - c0)
    res = {
        "machine": f"2-core CPU sandbox shared with other jobs ({platform.machine()}, {platform.python_version()})",
        "n_answers": args.n,
        "distinct_values": args.values,
        "clusters": len({i for i in ids if i >= 0}),
        "unreadable": sum(i < 0 for i in ids),
        "seconds": best,
        "cpu_seconds": best_cpu,
        "items_per_s": args.n / best,
        "target_seconds": 0.5,
    }
    print(f"group_equivalent: {args.n} answers over {args.values} values, {res['machine']}")
    print(f"{'seconds':>10} {'cpu s':>10} {'items/s':>12} {'clusters':>9} {'unreadable':>11} {'target':>8}")
    print(
        f"{best:>10.3f} {best_cpu:>10.3f} {res['items_per_s']:>12.0f} {res['clusters']:>9} "
        f"{res['unreadable']:>11} {'< 0.5 s':>8}"
    )
    if args.json is not None:
        save_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
