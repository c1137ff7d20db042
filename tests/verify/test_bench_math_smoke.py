"""The math benchmark stays runnable: a tiny corpus, no baselines, JSON written."""

from __future__ import annotations


def test_bench_verify_math_runs(run_bench) -> None:
    stdout, res = run_bench(
        "bench_verify_math", "--skip-baselines", "--n-per-category", "4", "--repeats", "1"
    )
    assert "prime-fast" in stdout and "adversarial inputs" in stdout
    assert res["n_pairs"] == 4 * len(res["categories"])
    ours = res["ours"]
    # The generated labels follow the documented policies: every verdict must match them.
    assert ours["label_accuracy"] == 1.0
    assert {a["status"] for a in ours["adversarial"]} <= {"timeout", "unparseable", "incorrect", "correct"}
    assert ours["statuses"].get("correct", 0) == res["n_pairs"] // 2


def test_bench_verify_ported_counts_every_case(run_bench) -> None:
    from benches._ported import load_ported

    _, res = run_bench("bench_verify_ported", "--skip-math-verify", "--repeats", "1")
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


def test_bench_group_equivalent_run(run_bench) -> None:
    _, res = run_bench("bench_group_equivalent", "--n", "300", "--values", "40", "--repeats", "1")
    assert res["n_answers"] == 300 and 0 < res["clusters"] <= 40
