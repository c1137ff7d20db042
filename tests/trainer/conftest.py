"""Fixtures of the trainer tests: a tiny random Qwen2 model and the demo tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tok():
    from prime_fast.demo.tokenizer import build_tokenizer

    return build_tokenizer()


@pytest.fixture
def tiny_model(tok):
    from prime_fast.demo.model import build_model

    return build_model(len(tok), seed=0, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=64)


@pytest.fixture
def tiny_overrides():
    """``fn(run_dir, steps)``: overrides for a demo run small enough for the default test tier."""
    return _tiny_overrides


def _tiny_overrides(run_dir: str, steps: int = 2) -> list[str]:
    return [
        f"trainer.run_dir={run_dir}",
        f"trainer.total_steps={steps}",
        "trainer.save_freq=1",
        "trainer.test_freq=1",
        "demo.sft_steps=8",
        "demo.sft_batch_size=16",
        "demo.n_train=64",
        "demo.n_val=8",
        "demo.hidden_size=64",
        "demo.num_layers=1",
        "data.train_batch_size=2",
        "rollout.max_tokens=12",
        "algo.accuracy_lower_bound=0.0",
        "prm.mini_batch_size=8",
        "prm.micro_batch_size=4",
        "optim.mini_batch_size=4",
        "optim.micro_batch_size=2",
        "log.progress=none",
        "log.plot=false",
        "trainer.num_threads=1",
    ]


@pytest.fixture(scope="session")
def default_demo_assets(tmp_path_factory):
    """The default demo's SFT warm-start and data, built once per session: overrides that point a
    run at them (the same files ``prime-fast train`` would build in its own run directory)."""
    import json

    from prime_fast.demo.assets import prepare_demo
    from prime_fast.trainer.config import load_config

    root = tmp_path_factory.mktemp("demo_assets")
    policy, train_files, val_files = prepare_demo(load_config(None, []), root)
    return [
        f"model.path={policy}",
        f"data.train_files={json.dumps(list(train_files))}",
        f"data.val_files={json.dumps(list(val_files))}",
    ]
