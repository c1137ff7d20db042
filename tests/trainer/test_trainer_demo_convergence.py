"""The embedded demo learns: greedy held-out accuracy rises clearly above the warm-start's (slow tier)."""

from __future__ import annotations

import json

import pytest

from prime_fast.demo.assets import train
from prime_fast.trainer.config import load_config


@pytest.mark.slow
def test_default_demo_improves_held_out_accuracy(tmp_path, default_demo_assets) -> None:
    run = tmp_path / "demo"
    cfg = load_config(None, [f"trainer.run_dir={run}", "log.progress=none", *default_demo_assets])
    summary = train(cfg, run)
    warm, final = summary["warmstart_val_acc"], summary["final_val_acc"]
    assert warm is not None and final is not None
    assert final >= warm + 0.15, (warm, final)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == cfg.trainer.total_steps
    assert (run / "curves.png").exists() and (run / "checkpoints" / "latest").exists()
