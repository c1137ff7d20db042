"""``bench kernels --only scan`` reports a robust figure on a shared machine (issue #22, defect 9):
warm-up calls, at least ``MIN_RUNS`` timed runs, the median and the spread (min-max) in the table and
the JSON, CPU time of one thread by default on a CPU. No timing value is asserted, only the statistic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scan_bench_reports_median_and_spread(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benches.bench_kernels",
            "--only",
            "scan",
            "--rep-ms",
            "50",
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
    assert "ms p50 [min-max]" in proc.stdout and "runs" in proc.stdout
    assert "CPU clock: process, 1 thread(s)" in proc.stdout  # the robust defaults on a CPU
    from benches._harness import MIN_RUNS

    rows = [r for r in json.loads(out.read_text())["rows"] if r["case"] == "discounted_returns"]
    assert {r["provider"] for r in rows} >= {"prime-fast", "python-loop"}
    for r in rows:
        assert r["correct"] is True
        assert r["runs"] >= MIN_RUNS and r["warmup_runs"] >= 1
        assert r["ms_min"] <= r["ms_p20"] <= r["ms_p50"] <= r["ms_p80"] <= r["ms_max"]
