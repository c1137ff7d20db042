"""The embedded demo learns: greedy held-out accuracy rises clearly above the warm-start's (slow tier)."""

from __future__ import annotations

import json

import pytest
from _learning import late_gain

from prime_fast.demo.assets import train
from prime_fast.trainer.config import load_config


@pytest.mark.slow
def test_default_demo_improves_held_out_accuracy(tmp_path, default_demo_assets) -> None:
    run = tmp_path / "demo"
    cfg = load_config(None, [f"trainer.run_dir={run}", "log.progress=none", *default_demo_assets])
    summary = train(cfg, run)
    warm, final = summary["warmstart_val_acc"], summary["final_val_acc"]
    assert warm is not None and final is not None
    # Measured (2-core CPU VM, torch 2.13.0+cpu; trainer seeds 0, 1, 2): the mean of the last three
    # validations rose by 0.152, 0.233, 0.300 from the warm-start's 0.380 (final: +0.185, +0.25, +0.32); from
    # a warm-start built on two threads (0.415), by more. The bound keeps 0.05 of margin below the least.
    gain = late_gain(run, warm)
    assert gain >= 0.10, (warm, final, gain)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == cfg.trainer.total_steps
    assert (run / "curves.png").exists() and (run / "checkpoints" / "latest").exists()
