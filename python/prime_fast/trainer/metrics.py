"""Per-step metrics: ``metrics.jsonl``, a live progress display, optional tensorboard, ``curves.png``."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def add_step_timings(
    metrics: dict[str, Any], timings: dict[str, float], t_start: float, *, response_len: int
) -> None:
    """Add a step's phase timings (``time/<phase>``), step time and throughput to its metrics."""
    metrics["batch/response_len"] = float(response_len)
    gen_tokens = timings.pop("gen_tokens", 0.0)
    step_s = time.perf_counter() - t_start
    for key, v in timings.items():
        metrics[f"time/{key}"] = v
    metrics["time/step"] = step_s
    metrics["perf/gen_tokens_per_s"] = gen_tokens / max(timings.get("rollout", 1e-9), 1e-9)
    metrics["perf/verify_exposed_frac"] = timings.get("verify_exposed", 0.0) / step_s


def validation_metrics(prompts: Sequence[Any], acc: Sequence[float]) -> dict[str, float]:
    """``val/acc`` and ``val/acc/<data source>`` from per-prompt scores (prompts have ``data_source``)."""
    out = {"val/acc": float(np.mean(acc))}
    by_src: dict[str, list[float]] = {}
    for p, a in zip(prompts, acc):
        by_src.setdefault(p.data_source, []).append(a)
    for src, vals in sorted(by_src.items()):
        out[f"val/acc/{src}"] = float(np.mean(vals))
    return out


# Keys that depend on wall-clock time (excluded when runs are compared for equality).
TIME_PREFIXES = ("time/", "perf/")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All step records of a ``metrics.jsonl``."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_metrics(path: str | Path, last_step: int) -> None:
    """Drop records after ``last_step`` (a resumed run rewrites them)."""
    p = Path(path)
    rows = [r for r in read_metrics(p) if int(r["step"]) <= last_step]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


class MetricsLogger:
    """Appends one JSON record per step and drives the progress display and tensorboard.

    Args:
        run_dir: the run directory (``metrics.jsonl`` lives there).
        total_steps: for the progress bar.
        progress: ``tqdm``, ``rich``, ``lines`` or ``none``.
        tensorboard: write events under ``run_dir/tb``.
        start_step: steps already done (resume).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        total_steps: int,
        progress: str = "tqdm",
        tensorboard: bool = False,
        start_step: int = 0,
    ) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.progress = progress
        self.total = total_steps
        self._bar: Any = None
        self._rich: Any = None
        self._task: Any = None
        if progress == "tqdm":
            from tqdm import tqdm

            self._bar = tqdm(
                total=total_steps,
                initial=start_step,
                desc="PRIME",
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        elif progress == "rich":
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                TextColumn("PRIME"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
            )
            self._rich.start()
            self._task = self._rich.add_task("", total=total_steps, completed=start_step)
        self._tb: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"))

    def log(self, step: int, record: dict[str, Any], *, advance: bool = True) -> None:
        """Write one step's record and update the display (``advance``: count it as a step done)."""
        rec = {"step": step, **record}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
        summary = self.summary(record)
        if self._bar is not None:
            self._bar.set_postfix_str(summary, refresh=False)
            self._bar.update(1 if advance else 0)
        elif self._rich is not None:
            self._rich.update(self._task, advance=1 if advance else 0, description=summary)
        elif self.progress == "lines":
            print(f"step {step}/{self.total} {summary}", file=sys.stderr, flush=True)

    @staticmethod
    def summary(record: dict[str, Any]) -> str:
        """A short one-line view of the key metrics."""
        parts = []
        for key, label in (
            ("train/acc", "acc"),
            ("val/acc", "val"),
            ("prm/loss", "prm_loss"),
            ("prm/acc_before", "prm_acc"),
            ("time/step", "s"),
        ):
            if key in record:
                parts.append(f"{label}={record[key]:.3f}" if key != "time/step" else f"{record[key]:.1f}s")
        return " ".join(parts)

    def message(self, text: str) -> None:
        """Print a line without breaking the progress display."""
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        elif self._rich is not None:
            self._rich.console.print(text)
        elif self.progress != "none":
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Finish the display and flush sinks."""
        if self._bar is not None:
            self._bar.close()
        if self._rich is not None:
            self._rich.stop()
        if self._tb is not None:
            self._tb.close()


def plot_curves(metrics_path: str | Path, out_path: str | Path, title: str = "") -> Path:
    """Plot training/validation accuracy, PRM loss and accuracy, response length and phase times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = [
        ("accuracy", ["train/acc", "val/acc"]),
        ("PRM loss", ["prm/loss"]),
        ("PRM pairwise accuracy", ["prm/acc_before"]),
        ("response length", ["response/length_mean"]),
        ("filter pass rate", ["filter/pass_rate"]),
        (
            "seconds per phase",
            [k for k in (rows[-1] if rows else {}) if k.startswith("time/") and k != "time/step"],
        ),
    ]
    for ax, (name, keys) in zip(axes.flat, panels):
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if k in r and r[k] is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="." if len(pts) < 30 else None, label=k)
        ax.set_title(name)
        ax.set_xlabel("step")
        if keys:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
