"""Fixtures of the eval tests: the demo's SFT checkpoint (built once per session, ~10 s) and its data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _eval_helpers import CountingBackend, write_jsonl


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short SFT warm-start of the demo's tiny Qwen2 (hidden 64, one layer) on the arithmetic task."""
    import torch

    from prime_fast.demo.model import build_sft_checkpoint
    from prime_fast.demo.task import make_rows

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("sft")
    rows = make_rows(2000, 0, "sft", direct_frac=0.0)
    build_sft_checkpoint(
        out, seed=0, train_rows=rows, steps=400, batch_size=32, lr=3e-3, hidden_size=64, num_layers=1
    )
    torch.set_num_threads(before)
    return out


@pytest.fixture(scope="session")
def val_rows() -> list[dict[str, Any]]:
    """Held-out demo problems in the trainer's schema."""
    from prime_fast.demo.task import make_rows

    return make_rows(24, 0, "val")


@pytest.fixture(scope="session")
def bench_files(tmp_path_factory: pytest.TempPathFactory, val_rows: list[dict[str, Any]]) -> dict[str, Path]:
    """The held-out problems twice: in the trainer's schema and as MATH-500-style problem/answer rows."""
    d = tmp_path_factory.mktemp("bench")
    plain = [
        {
            "unique_id": f"q{i}",
            "problem": r["prompt"][0]["content"],
            "answer": r["reward_model"]["ground_truth"],
        }
        for i, r in enumerate(val_rows)
    ]
    return {"demo": write_jsonl(d / "demo.jsonl", val_rows), "plain": write_jsonl(d / "plain.jsonl", plain)}


@pytest.fixture(scope="session")
def policy(sft_dir: Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the SFT checkpoint, loaded as the trainer loads them."""
    from prime_fast.runtime.models import load_causal_lm, load_tokenizer

    return load_causal_lm(str(sft_dir), "float32", trainable=False), load_tokenizer(str(sft_dir))


@pytest.fixture
def counting_backend(policy: tuple[Any, Any]) -> CountingBackend:
    """A fresh counting wrapper around a real HF backend on the SFT model."""
    from prime_fast.runtime.rollout.hf import HFRolloutBackend

    model, tok = policy
    return CountingBackend(
        HFRolloutBackend(model, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    )
