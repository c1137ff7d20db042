"""The math benchmark stays runnable: a tiny corpus, no baselines, JSON written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_verify_math_runs(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benches.bench_verify_math",
            "--skip-baselines",
            "--n-per-category",
            "4",
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "prime-fast" in proc.stdout and "adversarial inputs" in proc.stdout
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["n_pairs"] == 4 * len(res["categories"])
    ours = res["ours"]
    # The generated labels follow the documented policies: every verdict must match them.
    assert ours["label_accuracy"] == 1.0
    assert {a["status"] for a in ours["adversarial"]} <= {"timeout", "unparseable", "incorrect", "correct"}
    assert ours["statuses"].get("correct", 0) == res["n_pairs"] // 2


def _run_bench(argv: list[str], out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", *argv, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_bench_verify_ported_counts_every_case(tmp_path: Path) -> None:
    from benches._ported import load_ported

    res = _run_bench(
        ["benches.bench_verify_ported", "--skip-math-verify", "--repeats", "1"], tmp_path / "ported.json"
    )
    rows = res["rows"]
    assert rows["ALL ported"]["n"] == len(load_ported())
    # tests/verify/test_ported_fixtures.py holds every ported case (it lists no known misses), so the
    # bench must count full agreement on them; a miscounting bench or a regressed verifier fails here.
    assert rows["ALL ported"]["ours"] == 1.0 and rows["ALL ported"]["ours_false_positives"] == 0
    per_source = [r for name, r in rows.items() if not name.startswith("ALL")]
    assert sum(r["n"] for r in per_source) == rows["ALL"]["n"] > rows["ALL ported"]["n"]
    assert sum(r["n"] for r in res["categories"].values()) == rows["ALL"]["n"]
    assert all(0 <= r["ours_false_positives"] <= r["negatives"] <= r["n"] for r in res["categories"].values())
    assert res["ours_items_per_s_1_thread"] > 0


def test_bench_group_equivalent_run(tmp_path: Path) -> None:
    argv = ["benches.bench_group_equivalent", "--n", "300", "--values", "40", "--repeats", "1"]
    res = _run_bench(argv, tmp_path / "group.json")
    assert res["n_answers"] == 300 and 0 < res["clusters"] <= 40
