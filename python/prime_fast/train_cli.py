"""``prime-fast train``: argument wiring (the trainer itself is imported only when it runs)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``, ``--set k=v`` (repeatable), ``--resume DIR``, ``--run-dir DIR``."""
    parser.add_argument(
        "--config", default=None, help="TOML or YAML config file (default: the embedded demo)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set algo.estimator=rloo (repeatable)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run in DIR from its newest checkpoint (uses DIR/config.json)",
    )
    parser.add_argument(
        "--run-dir", default=None, metavar="DIR", help="output directory (default: runs/<time>)"
    )


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, print the summary (a ConfigError prints one line, exit code 2)."""
    from prime_fast.errors import ConfigError

    try:
        return _run(args)
    except ConfigError as e:
        print(f"prime-fast train: config error: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from prime_fast.trainer.config import load_config

    if args.resume:
        run_dir = Path(args.resume)
        cfg_file = run_dir / "config.json"
        if not cfg_file.exists():
            from prime_fast.errors import ConfigError

            raise ConfigError(f"--resume: {run_dir} has no config.json (not a run directory)")
        cfg = load_config(cfg_file, args.overrides)
    else:
        cfg = load_config(args.config, args.overrides)
        run_dir = Path(args.run_dir or cfg.trainer.run_dir or "")
        if not str(args.run_dir or cfg.trainer.run_dir):
            from prime_fast.trainer.process import default_run_dir

            run_dir = default_run_dir()
    from prime_fast.demo.assets import prepare_demo
    from prime_fast.eval.training import evaluate_in_training
    from prime_fast.trainer.loop import train

    # Under torchrun (WORLD_SIZE set) the run is FSDP2 data-parallel (docs/SCALE.md); rank 0 reports.
    # The command wires the trainer to the embedded demo's assets (used where the config names no model
    # and data of its own) and to the eval command's benchmarks (``[eval]``); the trainer imports neither.
    summary = train(
        cfg, run_dir, resume=bool(args.resume), prepare=prepare_demo, evaluator=evaluate_in_training
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    w, f = summary.get("warmstart_val_acc"), summary.get("final_val_acc")
    if w is not None:
        print(f"warm-start greedy accuracy (held out): {w:.3f}")
    if f is not None:
        print(f"final greedy accuracy (held out):      {f:.3f}")
    print(f"run directory: {run_dir}  ({summary['steps']} steps, {summary['wall_s']:.0f}s)")
    return 0
