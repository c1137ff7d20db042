"""``torchrun -m prime_fast.cli train`` end to end: 2 processes (FSDP2, gloo) against 1 process,
and a 2-process checkpoint resumed on 1 process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from prime_fast.errors import ConfigError
from prime_fast.trainer import distributed as D
from prime_fast.trainer.config import load_config
from prime_fast.trainer.dist_trainer import DistributedTrainer, _shares, check_divisible
from prime_fast.trainer.loop import Trainer

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
    "distributed.prm_norm_scope=global",
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


def test_shares_and_divisibility() -> None:
    assert _shares(5, 2) == [(0, 3), (3, 5)]
    assert _shares(1, 2) == [(0, 1), (1, 1)]
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
        val_metrics = staticmethod(Trainer.val_metrics)

        def __init__(self) -> None:
            self.val_prompts = [Prompt(i) for i in range(5)]
            self.fctx = types.SimpleNamespace(world_size=2, rank=1)
            self.dctx = D.DistContext(rank=0, world_size=1)  # no process group: gather gives [local]

        def greedy_accuracy(self, prompts: list[Prompt]) -> list[float]:
            seen.extend(p.i for p in prompts)
            return [1.0] * len(prompts)

    out = DistributedTrainer.validate(Rank1())  # type: ignore[arg-type]
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


@pytest.mark.slow
def test_torchrun_two_processes_match_one_and_resume_on_one(tmp_path: Path) -> None:
    sets = [a for o in OVERRIDES for a in ("--set", o)]
    one, two = tmp_path / "one", tmp_path / "two"
    _train(1, ["--run-dir", str(one), *sets, "--set", "trainer.total_steps=3"])
    two.mkdir()
    for shared in ("sft", "data"):  # the same warm-start and prompts, built once
        shutil.copytree(one / shared, two / shared)
    _train(2, ["--run-dir", str(two), *sets, "--set", "trainer.total_steps=2"])
    shards = sorted(p.name for p in (two / "checkpoints" / "step_2" / "dcp").glob("*.distcp"))
    assert shards == ["__0_0.distcp", "__1_0.distcp"]
    log = _train(1, ["--resume", str(two), "--set", "trainer.total_steps=3"])
    assert "saved by 2 processes, now 1" in log

    a, b = _records(one), _records(two)
    assert sorted(a) == sorted(b) == [0, 1, 2, 3]
    assert max(a[s]["train/acc"] for s in (1, 2, 3)) > 0  # outcome signal, not only process rewards
    # Warm-start validation: 2 ranks each greedy-decode half of the held-out prompts and gather the
    # scores; the metrics equal the single process's (all of them, per data source too).
    val = sorted(k for k in a[0] if k.startswith("val/acc"))
    assert val and val == sorted(k for k in b[0] if k.startswith("val/acc"))
    assert [b[0][k] for k in val] == [a[0][k] for k in val]
    for step in (1, 2, 3):  # steps 1-2: 2 processes; step 3: 1 process resumed from their checkpoint
        for key in COMPARED:
            want, got = a[step][key], b[step][key]
            assert got == pytest.approx(want, rel=1e-4, abs=1e-6), (step, key, want, got)
        assert a[step]["adv/abs_sum"] > 0 and a[step]["actor/grad_norm"] > 0


def test_example_config_fits_one_and_two_nodes() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "examples" / "qwen2.5-7b-eurus.toml")
    assert cfg.rollout.backend == "vllm" and cfg.vllm.max_model_len == 4096
    for world in (8, 16):
        check_divisible(cfg, world)
