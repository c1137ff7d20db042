"""Config loading, overrides and validation errors."""

from __future__ import annotations

import json

import pytest

from prime_fast.errors import ConfigError
from prime_fast.trainer.config import DEMO_PRESET, TrainConfig, build_config, load_config


def test_defaults_are_the_papers() -> None:
    cfg = TrainConfig()
    assert cfg.rollout.n == 4
    assert cfg.prm.beta_train == 0.05
    assert cfg.prm.update == "after" and cfg.prm.ref_type == "freeze"
    assert cfg.prm.granularity == "token" and cfg.prm.norm == "batch_norm"
    assert (cfg.algo.accuracy_lower_bound, cfg.algo.accuracy_upper_bound) == (0.2, 0.8)
    assert cfg.optim.lr == 5e-7 and cfg.prm.lr == 1e-6 and cfg.prm.grad_clip == 10.0
    assert cfg.algo.estimator == "prime" and cfg.algo.clip_ratio == 0.2


def test_no_file_gives_the_demo_preset_and_overrides_apply() -> None:
    cfg = load_config(None, ["algo.estimator=rloo", "algo.process_rewards=false", "prm.beta_train=0.1"])
    assert cfg.data.train_batch_size == DEMO_PRESET["data"]["train_batch_size"]
    assert cfg.algo.estimator == "rloo"
    assert cfg.algo.process_rewards is False and not cfg.uses_prm
    assert cfg.prm.beta_train == pytest.approx(0.1)


def test_toml_and_yaml_files(tmp_path) -> None:
    t = tmp_path / "c.toml"
    t.write_text('[rollout]\nn = 8\nmax_tokens = 64\n[data]\ntrain_files = ["a.jsonl"]\n')
    cfg = load_config(t, ["rollout.temperature=0.7"])
    assert cfg.rollout.n == 8 and cfg.rollout.max_tokens == 64 and cfg.rollout.temperature == 0.7
    assert cfg.data.train_files == ("a.jsonl",)
    assert cfg.data.train_batch_size == 256  # a file starts from the paper defaults
    y = tmp_path / "c.yaml"
    y.write_text("prm:\n  update: before\n  ref_type: policy\noptim:\n  betas: [0.9, 0.95]\n")
    cfg = load_config(y)
    assert cfg.prm.update == "before" and cfg.prm.ref_type == "policy" and cfg.optim.betas == (0.9, 0.95)


def test_resolved_config_round_trips_through_json(tmp_path) -> None:
    cfg = load_config(None, ["optim.lr=1e-3"])
    cfg.save(tmp_path / "config.json")
    again = load_config(tmp_path / "config.json")
    assert again == cfg
    assert json.loads((tmp_path / "config.json").read_text())["optim"]["lr"] == 1e-3


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        pytest.param(
            ["prm.betaa=0.1"],
            r"unknown key prm\.betaa; valid keys of \[prm\]: update, ref_type",
            id="unknown-key",
        ),
        pytest.param(
            ["modell.path=x"], r"unknown section 'modell'; valid sections: model, data", id="unknown-section"
        ),
        pytest.param(  # renamed keys are refused like any unknown key, with the valid ones listed
            ["algo.entropy_coeff=0.01"],
            r"unknown key algo\.entropy_coeff; .*entropy_coef",
            id="old-entropy-key",
        ),
        pytest.param(
            ["verify.timeout_score=0.5"],
            r"unknown key verify\.timeout_score; .*error_score",
            id="old-verify-key",
        ),
        pytest.param(
            ["model.dtype=float64", "rollout.backend=vllm"],
            r"model\.dtype: .*vLLM has no float64",
            id="f64-vllm",
        ),
        pytest.param(["vllm.max_model_len=1"], r"vllm\.max_model_len: expected 0 or >= 2", id="vllm-len"),
        pytest.param(["prm.update=sideways"], r"prm\.update: expected one of after, before", id="bad-choice"),
        pytest.param(["rollout.n=1"], r"rollout\.n: expected >= 2", id="n-too-small"),
        pytest.param(["rollout.n=four"], r"rollout\.n: expected an integer", id="not-int"),
        pytest.param(["algo.whiten=maybe"], r"algo\.whiten: expected true or false", id="not-bool"),
        pytest.param(
            ["algo.estimator=ppo2"],
            r"unknown advantage estimator 'ppo2'; valid names: .*grpo",
            id="unknown-estimator",
        ),
        pytest.param(["algo.estimator=gae"], r"algo\.estimator: 'gae' needs a critic", id="gae-needs-critic"),
        pytest.param(["algo.policy_loss=dpo"], r"unknown policy loss 'dpo'", id="unknown-loss"),
        pytest.param(["algo.accuracy_lower_bound=0.9"], r"expected 0 <= lower <= upper <= 1", id="band"),
        pytest.param(
            ["optim.mini_batch_size=30"],
            r"optim\.mini_batch_size: expected a multiple of rollout\.n = 4",
            id="groups",
        ),
        pytest.param(
            ["optim.micro_batch_size=7"], r"optim\.micro_batch_size: expected a divisor", id="micro"
        ),
        pytest.param(["prm.lr"], r"expected SECTION\.KEY=VALUE", id="no-equals"),
        pytest.param(["lr=3"], r"expected SECTION\.KEY=VALUE", id="no-section"),
    ],
)
def test_config_errors(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_file_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "c.ini"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"expected a \.toml"):
        load_config(bad)
    broken = tmp_path / "b.toml"
    broken.write_text("[prm\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(broken)


def test_configs_are_frozen() -> None:
    cfg = build_config({})
    with pytest.raises(AttributeError):
        cfg.prm.lr = 1.0  # type: ignore[misc]


def test_prm_tokenizer_mismatch_is_a_config_error() -> None:
    from prime_fast.demo.tokenizer import build_tokenizer
    from prime_fast.runtime.models import check_same_tokenizer

    a, b = build_tokenizer(), build_tokenizer()
    check_same_tokenizer(a, b, "model.prm_path")
    b.add_tokens(["<extra>"])
    with pytest.raises(
        ConfigError, match=r"model\.prm_path: its tokenizer differs from the policy tokenizer"
    ):
        check_same_tokenizer(a, b, "model.prm_path")


def test_examples_demo_toml_is_the_demo_preset() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "demo.toml"
    assert load_config(path) == load_config(None)


def test_cli_reports_config_errors_in_one_line(capsys) -> None:
    from prime_fast.cli import main

    assert main(["train", "--set", "algo.estimator=nope"]) == 2
    err = capsys.readouterr().err
    assert "prime-fast train: config error: unknown advantage estimator 'nope'" in err
    assert main(["train", "--resume", "/nonexistent/run"]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_saved_demo_tokenizer_loads_with_its_own_pre_tokenizer(tmp_path) -> None:
    from prime_fast.demo.model import build_model
    from prime_fast.demo.tokenizer import build_tokenizer
    from prime_fast.runtime.models import load_tokenizer

    tok = build_tokenizer()
    build_model(len(tok), seed=0, hidden_size=64, num_layers=1, num_heads=1).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)  # config.json says qwen2: AutoTokenizer alone would pick Qwen2's class
    loaded = load_tokenizer(str(tmp_path))
    text = "7+3=10,10-5=5.\\boxed{5}"
    assert (
        loaded(text, add_special_tokens=False)["input_ids"]
        == tok(text, add_special_tokens=False)["input_ids"]
    )
    assert loaded.eos_token_id == tok.eos_token_id and loaded.pad_token_id == tok.pad_token_id


def test_device_is_validated() -> None:
    assert load_config(None, ["trainer.device=cuda:1"]).trainer.device == "cuda:1"
    with pytest.raises(ConfigError, match=r"trainer\.device: expected cpu, cuda or cuda:N"):
        load_config(None, ["trainer.device=tpu"])


def test_examples_demo_habit_toml_is_the_benched_setting() -> None:
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "demo-habit.toml")
    d = cfg.demo
    assert (d.n_terms, d.sft_direct_frac, d.sft_slip_prob, d.sft_slip_kind) == (4, 0.0, 0.6, "habit")
    assert (cfg.rollout.max_tokens, cfg.prm.lr, cfg.prm.mini_batch_size) == (40, 1e-3, 32)
