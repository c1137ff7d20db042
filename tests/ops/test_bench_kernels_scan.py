"""``bench kernels --only scan`` reports a robust figure on a shared machine (issue #22, defect 9):
warm-up calls, at least ``MIN_RUNS`` timed runs, the median and the spread (min-max) in the table and
the JSON, CPU time of one thread by default on a CPU. No timing value is asserted, only the statistic."""

from __future__ import annotations


def test_scan_bench_reports_median_and_spread(run_bench) -> None:
    stdout, res = run_bench("bench_kernels", "--only", "scan", "--rep-ms", "50")
    assert "ms p50 [min-max]" in stdout and "runs" in stdout
    assert "CPU clock: process, 1 thread(s)" in stdout  # the robust defaults on a CPU
    from benches._harness import MIN_RUNS

    rows = [r for r in res["rows"] if r["case"] == "discounted_returns"]
    assert {r["provider"] for r in rows} >= {"prime-fast", "python-loop"}
    for r in rows:
        assert r["correct"] is True
        assert r["runs"] >= MIN_RUNS and r["warmup_runs"] >= 1
        assert r["ms_min"] <= r["ms_p20"] <= r["ms_p50"] <= r["ms_p80"] <= r["ms_max"]
