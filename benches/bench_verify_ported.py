"""Agreement with labelled answer pairs, ours vs Math-Verify, side by side in one run.

Corpora: the public graders' own test suites ported as data (``tests/verify/fixtures/ported``,
one row per source file) and the hand-written near-miss corpus
(``rust/core/tests/fixtures/math_pairs.tsv``, default-policy rows). For each we report the
agreement of our verdicts and of Math-Verify's (0.9.0, called as its own tests call it) with the
labels, the false positives on negatives, and items/s on one thread for both. Prints a table;
``--json PATH`` writes the numbers.

    python -m benches.bench_verify_ported --json benches/results/verify_ported.json
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

from benches._io import save_json
from benches._ported import Case, load_ported, math_verify_grader
from prime_fast import _native

ROOT = Path(__file__).resolve().parents[1]
HAND = ROOT / "rust" / "core" / "tests" / "fixtures" / "math_pairs.tsv"


def load_hand_written(path: Path = HAND) -> list[Case]:
    """Default-policy rows of the hand-written corpus, as bare-answer cases."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) > 4 and cols[4].strip():
            continue
        lab = cols[3] == "1"
        out.append(Case("hand_written", cols[0], cols[1], cols[2], lab, lab, "answer"))
    return out


def _ours_timed(cases: list[Case]) -> tuple[list[bool], float]:
    """Verdicts and items/s on one thread (batched per mode, GIL released)."""
    verdicts: list[bool] = [False] * len(cases)
    t0 = time.perf_counter()
    for extract in (True, False):
        idx = [i for i, c in enumerate(cases) if (c.mode == "extract") == extract]
        if not idx:
            continue
        out = _native.verify_math_batch(
            [cases[i].pred for i in idx], [cases[i].gold for i in idx], extract=extract, num_threads=1
        )
        for i, v in zip(idx, out):
            verdicts[i] = bool(v[0])
    return verdicts, len(cases) / (time.perf_counter() - t0)


def _mv_timed(cases: list[Case]) -> tuple[list[bool], float]:
    grade = math_verify_grader()
    t0 = time.perf_counter()
    out = [grade(c) for c in cases]
    return out, len(cases) / (time.perf_counter() - t0)


def _row(cases: list[Case], ours: list[bool], mv: list[bool] | None) -> dict[str, Any]:
    n = len(cases)
    neg = [k for k, c in enumerate(cases) if not c.expected]
    row: dict[str, Any] = {
        "n": n,
        "negatives": len(neg),
        "ours": sum(o == c.expected for o, c in zip(ours, cases)) / n,
        "ours_false_positives": sum(ours[k] for k in neg),
    }
    if mv is not None:
        row["math_verify"] = sum(o == c.expected for o, c in zip(mv, cases)) / n
        row["math_verify_false_positives"] = sum(mv[k] for k in neg)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-math-verify", action="store_true", help="only our verifier")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats for ours (best kept)")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    cases = load_ported() + load_hand_written()
    ours, tput = _ours_timed(cases)
    for _ in range(args.repeats - 1):
        tput = max(tput, _ours_timed(cases)[1])
    mv: list[bool] | None = None
    mv_tput = None
    if not args.skip_math_verify:
        logging.disable(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mv, mv_tput = _mv_timed(cases)
    groups: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(cases):
        groups[c.source].append(k)
    rows = {}
    for src, idx in sorted(groups.items()):
        rows[src] = _row(
            [cases[k] for k in idx], [ours[k] for k in idx], None if mv is None else [mv[k] for k in idx]
        )
    ported = [k for k, c in enumerate(cases) if c.source != "hand_written"]
    rows["ALL ported"] = _row(
        [cases[k] for k in ported], [ours[k] for k in ported], None if mv is None else [mv[k] for k in ported]
    )
    rows["ALL"] = _row(cases, ours, mv)
    by_category: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(cases):
        by_category[f"{c.source}:{c.category}"].append(k)
    categories = {
        name: _row(
            [cases[k] for k in idx], [ours[k] for k in idx], None if mv is None else [mv[k] for k in idx]
        )
        for name, idx in sorted(by_category.items())
    }
    res: dict[str, Any] = {
        "machine": f"2-core CPU sandbox shared with other agents ({platform.machine()}, {platform.python_version()})",
        "build_profile": _native.build_profile,
        "rows": rows,
        "categories": categories,
        "ours_items_per_s_1_thread": tput,
    }
    if mv_tput is not None:
        res["math_verify_items_per_s_1_thread"] = mv_tput
        res["speedup_1_thread"] = tput / mv_tput
    _print(res)
    if args.json is not None:
        save_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


def _print(res: dict[str, Any]) -> None:
    print(f"agreement with labels, ours vs Math-Verify; {res['machine']}")
    print(f"{'corpus':<28} {'n':>5} {'neg':>5} {'ours':>7} {'MV':>7} {'FP ours':>8} {'FP MV':>6}")
    for name, r in res["rows"].items():
        mv = f"{r['math_verify']:.3f}" if "math_verify" in r else "-"
        fpmv = str(r.get("math_verify_false_positives", "-"))
        print(
            f"{name:<28} {r['n']:>5} {r['negatives']:>5} {r['ours']:>7.3f} {mv:>7} "
            f"{r['ours_false_positives']:>8} {fpmv:>6}"
        )
    worse = [n for n, r in res["categories"].items() if "math_verify" in r and r["ours"] < r["math_verify"]]
    print(f"categories ({len(res['categories'])}) where ours < Math-Verify: {worse or 'none'}")
    line = f"items/s on one thread: ours {res['ours_items_per_s_1_thread']:.0f}"
    if "math_verify_items_per_s_1_thread" in res:
        line += (
            f", Math-Verify {res['math_verify_items_per_s_1_thread']:.1f} ({res['speedup_1_thread']:.0f}x)"
        )
    print(line)


if __name__ == "__main__":
    raise SystemExit(main())
