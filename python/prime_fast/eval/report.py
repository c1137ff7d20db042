"""Outputs of an evaluation: the markdown table (the paper's layout), ``results.json``, one JSONL line
per sample, and a bar chart PNG (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
CHART_FILE = "results.png"


def metric_order(names: Sequence[str]) -> list[str]:
    """Columns in a stable order: greedy, avg@n, pass@k, maj@k, PRM best-of-k, weighted best-of-k."""
    prefixes = ("greedy", "avg@", "pass@", "maj@", "prm_bon@", "prm_wbon@")

    def key(name: str) -> tuple[int, int]:
        for i, p in enumerate(prefixes):
            if name.startswith(p):
                tail = name[len(p) :]
                return i, int(tail) if tail.isdigit() else 0
        return len(prefixes), 0

    return sorted(set(names), key=key)


def average_row(benchmarks: dict[str, dict[str, float]]) -> dict[str, float]:
    """The unweighted mean over benchmarks of every metric all of them have (as the paper averages)."""
    if not benchmarks:
        return {}
    common = set.intersection(*(set(m) for m in benchmarks.values()))
    return {k: sum(m[k] for m in benchmarks.values()) / len(benchmarks) for k in common}


def markdown_table(benchmarks: dict[str, dict[str, float]], average: dict[str, float]) -> str:
    """Benchmarks as rows, metrics as columns (percent, one decimal), an ``Average`` row last."""
    cols = metric_order([k for m in benchmarks.values() for k in m])
    lines = ["| Benchmark | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]

    def cell(v: float | None) -> str:
        return "-" if v is None or math.isnan(v) else f"{100 * v:.1f}"

    for name, m in benchmarks.items():
        lines.append(f"| {name} | " + " | ".join(cell(m.get(c)) for c in cols) + " |")
    if len(benchmarks) > 1:
        lines.append("| **Average** | " + " | ".join(cell(average.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON with NaN as null."""
    path.write_text(json.dumps(_nan_to_none(obj), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


def write_samples(path: Path, samples: Sequence[dict[str, Any]]) -> None:
    """One JSON line per sample (the values are finite or None)."""
    with path.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)


def preload_matplotlib() -> threading.Thread:
    """Import matplotlib (Agg) in a background thread, so its import overlaps generation."""

    def load() -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot

    t = threading.Thread(target=load, name="prime-fast-eval-matplotlib", daemon=True)
    t.start()
    return t


def bar_chart(path: Path, benchmarks: dict[str, dict[str, float]], metrics: Sequence[str]) -> None:
    """Grouped bars: one group per benchmark, one bar per metric (percent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(benchmarks)
    mets = [m for m in metrics if any(m in benchmarks[b] for b in names)]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) * max(1, len(mets)) ** 0.5), 3.2))
    width = 0.8 / max(1, len(mets))
    for j, m in enumerate(mets):
        xs = [i + (j - (len(mets) - 1) / 2) * width for i in range(len(names))]
        ys = [100 * benchmarks[b].get(m, float("nan")) for b in names]
        ax.bar(xs, ys, width, label=m)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
