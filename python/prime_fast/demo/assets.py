"""The embedded demo's entry points: its assets (data files and SFT warm-start, built offline in the run
directory) and its step labeller, registered with the trainer's PRM-quality metrics.

``prime-fast train`` (whose default task is this demo) and :func:`train` pass :func:`prepare_demo` to the
library's :func:`prime_fast.trainer.loop.train`; nothing in the library imports ``prime_fast.demo``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from prime_fast.demo import task as demo_task
from prime_fast.trainer import loop
from prime_fast.trainer.prm_quality import register_step_labeller
from prime_fast.trainer.schema import TrainConfig

log = logging.getLogger(__name__)


def label_steps(question: str, response: str) -> tuple[list[tuple[int, int]], int | None]:
    """The demo task's step labeller: the character spans of a response's steps and its first wrong step."""
    return demo_task.step_spans(response), demo_task.first_error_step(question, response)


def register() -> None:
    """Register the demo's step labeller for its data source (idempotent)."""
    register_step_labeller(demo_task.DATA_SOURCE, label_steps)


def prepare_demo(cfg: TrainConfig, run_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Write the demo data and build the SFT warm-start where the config asks for them (a config with its
    own model and data passes through unchanged); registers the demo's step labeller.

    Returns ``(policy_path, train_files, val_files)`` with the demo paths filled in.
    """
    from prime_fast.demo.task import make_rows, write_jsonl

    register()
    d = cfg.demo
    seed = cfg.trainer.seed
    train_files, val_files = cfg.data.train_files, cfg.data.val_files
    data_dir = run_dir / "data"
    if not train_files:
        p = data_dir / "train.jsonl"
        if not p.exists():
            write_jsonl(make_rows(d.n_train, seed, "train", d.n_terms, d.max_operand), p)
        train_files = (str(p),)
        if not val_files:
            v = data_dir / "val.jsonl"
            if not v.exists():
                write_jsonl(make_rows(d.n_val, seed, "val", d.n_terms, d.max_operand), v)
            val_files = (str(v),)
    policy_path = cfg.model.path
    if policy_path == "demo":
        sft_dir = run_dir / "sft"
        if not (sft_dir / "config.json").exists():
            from prime_fast.demo.model import build_sft_checkpoint

            log.info("building the demo SFT warm-start (%d steps) in %s", d.sft_steps, sft_dir)
            t0 = time.perf_counter()
            rows = make_rows(
                d.n_train,
                seed,
                "sft",
                d.n_terms,
                d.max_operand,
                direct_frac=d.sft_direct_frac,
                slip_prob=d.sft_slip_prob,
                slip_kind=d.sft_slip_kind,
            )
            build_sft_checkpoint(
                sft_dir,
                seed=seed,
                train_rows=rows,
                steps=d.sft_steps,
                batch_size=d.sft_batch_size,
                lr=d.sft_lr,
                hidden_size=d.hidden_size,
                num_layers=d.num_layers,
            )
            log.info("demo SFT warm-start built in %.1fs", time.perf_counter() - t0)
        policy_path = str(sft_dir)
    return policy_path, train_files, val_files


def train(cfg: TrainConfig, run_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """:func:`prime_fast.trainer.loop.train` with the demo's assets (``kwargs``: ``resume``, ``ctx``,
    ``evaluator``)."""
    return loop.train(cfg, run_dir, prepare=prepare_demo, **kwargs)
