"""A two-step PRIME run of the tiny demo model through the real loop (default tier)."""

from __future__ import annotations

import json

import pytest

from prime_fast.demo.assets import train
from prime_fast.errors import ConfigError
from prime_fast.runtime.models import load_tokenizer
from prime_fast.trainer.config import load_config


def test_two_step_prime_run(tmp_path, tiny_overrides) -> None:
    run = tmp_path / "run"
    cfg = load_config(None, [*tiny_overrides(str(run), steps=2), "log.plot=true", "log.tensorboard=true"])
    summary = train(cfg, run)
    assert summary["steps"] == 2
    assert json.loads((run / "config.json").read_text())["trainer"]["total_steps"] == 2
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert "val/acc" in rows[0] and "val/acc/demo_arith" in rows[0]
    for r in rows[1:]:
        for key in (
            "train/acc",
            "train/acc/math",
            "prm/loss",
            "prm/acc_before",
            "actor/pg_clipfrac",
            "actor/ppo_kl",
            "actor/entropy",
            "response/length_mean",
            "filter/pass_rate",
            "time/rollout",
            "time/old_logprob",
            "time/verify",
            "time/prm",
            "time/actor",
            "time/step",
            "perf/gen_tokens_per_s",
        ):
            assert key in r, key
        assert 0.0 <= r["train/acc"] <= 1.0
        assert r["batch/responses"] == 8  # B=2 prompts x K=4, contiguous groups
    # Step 1: PRM equals its reference, so every process reward is 0 (docs/ALGORITHM.md 1).
    assert rows[1]["prm/process_reward_mean"] == 0.0
    assert (run / "curves.png").stat().st_size > 0
    assert any((run / "tb").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "latest").read_text() == "step_2"
    for part in ("policy/model.safetensors", "policy/tokenizer.json", "prm/model.safetensors", "state.pt"):
        assert (run / "checkpoints" / "step_2" / part).exists(), part
    # every saved model folder loads alone, with the policy's tokenizer (issue #22, defect 2)
    policy_vocab = load_tokenizer(str(run / "checkpoints" / "step_2" / "policy")).get_vocab()
    for name in ("prm", "policy"):
        folder = run / "checkpoints" / "step_2" / name
        assert (folder / "tokenizer.json").exists(), name
        assert load_tokenizer(str(folder)).get_vocab() == policy_vocab, name
    assert len(policy_vocab) > 20
    # and each one, reloaded with AutoTokenizer as a user would, round-trips the task's text (defect 10)
    from transformers import AutoTokenizer

    from prime_fast.demo.task import make_rows

    texts = [r["extra_info"]["solution"] for r in make_rows(20, 1, "sft")]
    for folder in (
        run / "sft",
        run / "checkpoints" / "step_2" / "policy",
        run / "checkpoints" / "step_2" / "prm",
    ):
        tok = AutoTokenizer.from_pretrained(folder)
        for text in texts:
            assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text, (folder.name, text)


def test_folder_without_tokenizer_is_a_clear_error(tmp_path) -> None:
    from prime_fast.demo.model import build_model

    build_model(27, seed=0, hidden_size=64, num_layers=1, num_heads=1, intermediate_size=128).save_pretrained(
        tmp_path
    )
    with pytest.raises(ConfigError, match=r"has no tokenizer files \(tokenizer\.json"):
        load_tokenizer(str(tmp_path))


def test_outcome_only_baseline_builds_no_prm(tmp_path, tiny_overrides) -> None:
    run = tmp_path / "rloo"
    cfg = load_config(
        None, [*tiny_overrides(str(run), steps=1), "algo.estimator=rloo", "algo.process_rewards=false"]
    )
    train(cfg, run)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert "prm/loss" not in rows[-1] and "actor/pg_loss" in rows[-1]
    assert not (run / "checkpoints" / "step_1" / "prm").exists()
