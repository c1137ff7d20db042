"""One Trainer, two contexts: the plain single-process Trainer against ``torchrun -m prime_fast.cli
train`` on 2 processes (FSDP2, gloo), and checkpoints of either resumed on the other."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from prime_fast.demo.assets import train
from prime_fast.errors import ConfigError
from prime_fast.trainer import distributed as D
from prime_fast.trainer.config import load_config
from prime_fast.trainer.context import FSDPContext
from prime_fast.trainer.loop import Trainer
from prime_fast.trainer.sizes import check_divisible

# A demo run small enough for CI whose warm-start already solves some prompts (non-zero outcome
# advantages from step 1), with deterministic mini-batches (no shuffle) so 1 and 2 processes take
# the same optimizer steps.
OVERRIDES = [
    "trainer.save_freq=1",
    "trainer.test_freq=0",
    "demo.sft_steps=200",
    "demo.sft_batch_size=32",
    "demo.n_train=512",
    "demo.n_val=8",
    "demo.hidden_size=64",
    "demo.num_layers=2",
    "demo.n_terms=2",
    "demo.max_operand=5",
    "data.train_batch_size=2",
    "rollout.max_tokens=24",
    "algo.accuracy_lower_bound=0.0",
    "algo.accuracy_upper_bound=1.0",
    "prm.mini_batch_size=8",
    "prm.micro_batch_size=4",
    "optim.mini_batch_size=8",
    "optim.micro_batch_size=2",
    "optim.shuffle=false",
    "log.progress=none",
    "log.plot=false",
    "trainer.num_threads=1",
    "distributed.prm_norm_scope=global",
    # float64 weights: what differs between 1 and 2 ranks is only the order of reductions (gradient
    # reduce-scatter, whitening sums), so the comparison holds to float64's precision, not float32's.
    "model.dtype=float64",
]
# Metrics that must agree between world sizes (the others are per-rank views: padding widths,
# means of per-rank means over unequal token counts, timings).
COMPARED = [
    "train/acc",
    "filter/pass_rate",
    "response/length_mean",
    "response/truncated_frac",
    "prm/loss",
    "prm/acc_before",
    "prm/grad_norm",
    "actor/pg_loss",
    "actor/grad_norm",
    "actor/entropy",
    "actor/pg_clipfrac",
    "adv/abs_sum",
]


def _rank(rank: int, world: int) -> FSDPContext:
    # A rank's position without a process group: share() reads it, gather() returns [local].
    return FSDPContext(D.DistContext(rank=rank, world_size=world))


def test_shares_and_divisibility() -> None:
    assert [_rank(r, 2).share(5) for r in range(2)] == [(0, 3), (3, 5)]
    assert [_rank(r, 2).share(1) for r in range(2)] == [(0, 1), (1, 1)]
    assert [_rank(r, 3).share(7) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    cfg = load_config(None, [o for o in OVERRIDES if not o.startswith("distributed.")])
    check_divisible(cfg, 2)
    with pytest.raises(ConfigError, match="train_batch_size"):
        check_divisible(cfg, 4)
    with pytest.raises(ConfigError, match="prm_norm_scope"):
        load_config(None, ["distributed.prm_norm_scope=node"])
    with pytest.raises(ConfigError, match="tensor_parallel_size"):
        check_divisible(load_config(None, ["rollout.backend=vllm", "vllm.tensor_parallel_size=3"]), 2)


def test_validation_decodes_only_this_ranks_share() -> None:
    # Beside the 2-process run below (which checks the gathered metrics): rank 1 of 2 decodes the
    # second half of the held-out prompts and no other.
    class Prompt:
        def __init__(self, i: int) -> None:
            self.i, self.data_source = i, "even" if i % 2 == 0 else "odd"

    seen: list[int] = []

    class Rank1:
        def __init__(self) -> None:
            self.val_prompts = [Prompt(i) for i in range(5)]
            self.ctx = _rank(1, 2)

        def greedy_accuracy(self, prompts: list[Prompt]) -> list[float]:
            seen.extend(p.i for p in prompts)
            return [1.0] * len(prompts)

    out = Trainer.validate(Rank1())  # type: ignore[arg-type]
    assert seen == [3, 4]
    # (alone, the gathered list holds only this rank's scores, zipped with the first prompts)
    assert out == {"val/acc": 1.0, "val/acc/even": 1.0, "val/acc/odd": 1.0}


def _train(procs: int, args: list[str]) -> str:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={procs}",
        "-m",
        "prime_fast.cli",
        "train",
        *args,
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-6000:]
    return p.stderr


def _records(run_dir: Path) -> dict[int, dict]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return {r["step"]: r for r in rows}


# The tolerances of the comparison, from the rounding each metric can carry. The weights are float64
# (unit roundoff 1.1e-16), so the two runs differ only in the order of sums (FSDP2's reduce-scatter of the
# gradients, the whitening statistics): a reordered sum of n terms differs by at most ~n * 1.1e-16 of the
# sum of magnitudes, and three steps of AdamW (which can amplify a near-zero gradient's difference ~100x:
# LoRA's B starts at 0) keep the training quantities within 1e-12 relative. PRIME's reward path stays in
# float32 by design (scores, advantages: unit roundoff 6e-8), and some metrics are means over ranks of
# per-rank float32 means; those summaries may differ by a few float32 ulps: 1e-6 allows ~16.
# Measured (2-core CPU VM, torch 2.13.0+cpu, gloo, full and LoRA): the float64 quantities <= 2.0e-16,
# the float32 summaries <= 1.0e-7 (adv/abs_sum, prm/acc_before).
TOLERANCE = 1e-6
FLOAT64_TOLERANCE = 1e-12
FLOAT64_METRICS = ("prm/loss", "prm/grad_norm", "actor/pg_loss", "actor/grad_norm", "actor/entropy")


def _same_steps(
    a: dict[int, dict], b: dict[int, dict], steps: tuple[int, ...], rel: float = TOLERANCE
) -> None:
    for step in steps:
        for key in COMPARED:
            want, got = a[step][key], b[step][key]
            tol = FLOAT64_TOLERANCE if key in FLOAT64_METRICS else rel
            assert got == pytest.approx(want, rel=tol, abs=1e-12), (step, key, want, got)
        assert a[step]["adv/abs_sum"] > 0 and a[step]["actor/grad_norm"] > 0


# LoRA (runtime/lora.py): policy and PRM adapters on one base, FSDP2-sharded under torchrun.
LORA = ["model.lora.rank=4", "model.lora.alpha=8", "optim.lr=1e-3", "prm.lr=1e-3"]


def _dcp_keys(step_dir: Path) -> list[str]:
    import torch.distributed.checkpoint as dcp

    return list(dcp.FileSystemReader(str(step_dir / "dcp")).read_metadata().state_dict_metadata)


def _check_policy_dir(step_dir: Path, lora: bool) -> None:
    """The 2-rank checkpoint's policy: an HF model directory, or (LoRA) a peft adapter whose DCP
    state and optimizer states hold adapter tensors only."""
    from transformers import AutoModelForCausalLM

    policy_dir = step_dir / "policy"
    if not lora:
        AutoModelForCausalLM.from_pretrained(policy_dir)
        assert json.loads((policy_dir / "config.json").read_text())["architectures"] == ["Qwen2ForCausalLM"]
        return
    from peft import PeftModel

    base = json.loads((policy_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).is_absolute() and Path(base, "config.json").is_file()
    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), policy_dir)
    assert not (policy_dir / "model.safetensors").exists()
    keys = _dcp_keys(step_dir)
    for prefix, adapter in (
        ("model.policy.", None),
        ("model.prm.", None),
        ("optim.policy.state.", "policy"),
        ("optim.prm.state.", "prm"),
    ):
        mine = [k for k in keys if k.startswith(prefix)]
        assert mine and all(".lora_A." in k or ".lora_B." in k for k in mine), (prefix, mine[:3])
        if adapter is not None:  # each optimizer holds its own adapter's state, nothing of the base
            assert all(f".{adapter}." in k for k in mine), (prefix, mine[:3])


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_plain_trainer_and_two_fsdp_ranks_agree_and_resume_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, lora: bool
) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # the in-process runs get the LocalContext
    overrides = [*OVERRIDES, *(LORA if lora else [])]
    sets = [a for o in overrides for a in ("--set", o)]
    one, two, back = tmp_path / "one", tmp_path / "two", tmp_path / "back"
    # The plain Trainer in this process: 3 steps.
    train(load_config(None, [*overrides, f"trainer.run_dir={one}", "trainer.total_steps=3"]), one)
    two.mkdir()
    for shared in ("sft", "data"):  # the same warm-start and prompts, built once
        shutil.copytree(one / shared, two / shared)
    # 2 FSDP ranks under torchrun: 2 steps.
    _train(2, ["--run-dir", str(two), *sets, "--set", "trainer.total_steps=2"])
    shards = sorted(p.name for p in (two / "checkpoints" / "step_2" / "dcp").glob("*.distcp"))
    assert shards == ["__0_0.distcp", "__1_0.distcp"]
    _check_policy_dir(two / "checkpoints" / "step_2", lora)
    # 2 ranks -> 1 process: the plain Trainer resumes the 2-rank checkpoint for step 3.
    config_before = (two / "config.json").read_text()
    with caplog.at_level(logging.INFO, logger="prime_fast.trainer.loop"):
        train(load_config(two / "config.json", ["trainer.total_steps=3"]), two, resume=True)
    assert "saved by 2 processes, now 1" in caplog.text
    assert (two / "config.json").read_text() == config_before  # --resume does not rewrite it
    # 1 process -> 2 ranks: the plain Trainer's step-2 checkpoint resumed under torchrun for step 3.
    shutil.copytree(one, back)
    shutil.rmtree(back / "checkpoints" / "step_3")
    (back / "checkpoints" / "latest").write_text("step_2")
    assert "saved by 1 processes, now 2" in _train(
        2, ["--resume", str(back), "--set", "trainer.total_steps=3"]
    )

    a, b, c = _records(one), _records(two), _records(back)
    assert sorted(a) == sorted(b) == sorted(c) == [0, 1, 2, 3]
    assert max(a[s]["train/acc"] for s in (1, 2, 3)) > 0  # outcome signal, not only process rewards
    # Warm-start validation: 2 ranks each greedy-decode half of the held-out prompts and gather the
    # scores; the metrics equal the single process's (all of them, per data source too).
    val = sorted(k for k in a[0] if k.startswith("val/acc"))
    assert val and val == sorted(k for k in b[0] if k.startswith("val/acc"))
    assert [b[0][k] for k in val] == [a[0][k] for k in val]
    # steps 1-2: 2 ranks; step 3: 1 process resumed from their checkpoint
    _same_steps(a, b, (1, 2, 3))
    _same_steps(a, c, (3,))  # step 3: 2 ranks resumed from the single process's checkpoint


def test_example_config_fits_one_and_two_nodes() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "examples" / "qwen2.5-7b-eurus.toml")
    assert cfg.rollout.backend == "vllm" and cfg.vllm.max_model_len == 4096
    for world in (8, 16):
        check_divisible(cfg, world)
