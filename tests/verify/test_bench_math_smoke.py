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


def test_bench_verify_ported_and_group_run(tmp_path: Path) -> None:
    for argv, check in (
        (["benches.bench_verify_ported", "--skip-math-verify", "--repeats", "1"], "rows"),
        (["benches.bench_group_equivalent", "--n", "300", "--values", "40", "--repeats", "1"], "clusters"),
    ):
        res = _run_bench(argv, tmp_path / f"{argv[0]}.json")
        assert check in res
    assert res["n_answers"] == 300 and 0 < res["clusters"] <= 40
