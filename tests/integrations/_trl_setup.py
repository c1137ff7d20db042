"""Helpers of the TRL tests: the demo task as a TRL dataset, a tiny demo model, a small ``GRPOConfig``."""

from __future__ import annotations

from typing import Any


def demo_dataset(n: int, seed: int = 0, split: str = "train") -> Any:
    """``n`` rows of the embedded arithmetic task in TRL's conversational form (``prompt``, ``ground_truth``,
    ``ability``)."""
    from datasets import Dataset

    from prime_fast.demo.task import make_rows

    rows = make_rows(n, seed, split)
    return Dataset.from_list(
        [
            {
                "prompt": r["prompt"],
                "ground_truth": r["reward_model"]["ground_truth"],
                "ability": r["ability"],
            }
            for r in rows
        ]
    )


def tiny_model(seed: int = 0) -> tuple[Any, Any]:
    """A tiny random Qwen2 and the demo tokenizer."""
    from prime_fast.demo.model import build_model
    from prime_fast.demo.tokenizer import build_tokenizer

    tok = build_tokenizer()
    model = build_model(len(tok), seed=seed, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=64)
    return model, tok


def grpo_config(out_dir: str, **overrides: Any) -> Any:
    """A ``GRPOConfig`` for a few CPU steps."""
    from trl import GRPOConfig

    kwargs: dict[str, Any] = {
        "output_dir": out_dir,
        "use_cpu": True,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 12,
        "max_steps": 2,
        "learning_rate": 1e-4,
        "logging_steps": 1,
        "report_to": "none",
        "save_strategy": "no",
        "seed": 0,
        "dataloader_num_workers": 0,
        "bf16": False,
    }
    kwargs.update(overrides)
    return GRPOConfig(**kwargs)


#: What PrimeGRPOTrainer logs at every step, as prime-fast's trainer does.
PRM_METRICS = ("prm/loss", "prm/acc_before", "prm/grad_norm", "prm/lr", "prm/process_reward_mean", "adv/mean")


def assert_prm_metrics_logged(trainer: Any, steps: int) -> None:
    """``trainer`` logged PRIME's metrics (:data:`PRM_METRICS`) once per step, ``steps`` steps."""
    logs = [h for h in trainer.state.log_history if "prm/loss" in h]
    assert len(logs) == steps, logs
    for log in logs:
        assert set(PRM_METRICS) <= set(log), sorted(set(PRM_METRICS) - set(log))
