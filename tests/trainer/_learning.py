"""The learning statistic of the slow tier's demo runs."""

from __future__ import annotations


def late_gain(run_dir, warm: float, last: int = 3) -> float:
    """Mean held-out greedy accuracy of the run's last ``last`` validations minus the warm-start's: the
    learning statistic of the slow tier (one validation is noisy: 200 problems, sd ~0.035)."""
    import json
    from pathlib import Path

    rows = [json.loads(x) for x in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    vals = [r["val/acc"] for r in rows if "val/acc" in r and r.get("step", 0) > 0]
    assert len(vals) >= last, vals
    return sum(vals[-last:]) / last - warm
