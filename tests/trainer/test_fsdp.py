"""FSDP2 data parallelism: real 2-process torchrun runs on gloo against a single process, and the
single-process semantics of the distributed helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prime_fast.errors import ConfigError, UnsupportedInputError
from prime_fast.trainer import distributed as D

HERE = Path(__file__).parent
CHILD = str(HERE / "_fsdp_child.py")


def _ctx(rank: int, world: int) -> D.DistContext:
    # Splitting only reads rank/world; no process group is needed for these.
    return D.DistContext(rank=rank, world_size=world)


def test_split_groups_keeps_groups_whole() -> None:
    items = list(range(24))  # 6 groups of 4
    parts = [D.split_groups(items, 4, _ctx(r, 3)) for r in range(3)]
    assert parts == [list(range(0, 8)), list(range(8, 16)), list(range(16, 24))]
    with pytest.raises(ConfigError, match="multiple of the world size"):
        D.split_groups(items, 4, _ctx(0, 4))
    with pytest.raises(UnsupportedInputError, match="group_size"):
        D.split_groups(items, 5, _ctx(0, 1))


def test_minibatch_groups_are_world_size_independent() -> None:
    one = D.minibatch_groups(8, 2, _ctx(0, 1))
    assert one == [[0, 1, 2, 3], [4, 5, 6, 7]]
    two = [D.minibatch_groups(8, 2, _ctx(r, 2)) for r in range(2)]
    assert two == [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]
    for j in range(2):  # mini-batch j covers the same groups on 1 and on 2 ranks
        assert sorted(two[0][j] + two[1][j]) == one[j]
    with pytest.raises(ConfigError, match="mini-batch"):
        D.minibatch_groups(8, 4, _ctx(0, 4))


def test_process_reward_norm_matches_definition() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(6, 9, generator=g, dtype=torch.float64)
    mask = (torch.arange(9)[None] < torch.tensor([9, 3, 5, 1, 7, 8])[:, None]).double()
    out = D.process_reward_norm(scores, mask, _ctx(0, 1), scope="rank")
    peak = 0.0
    for i in range(6):
        for t in range(9):
            peak = max(peak, abs(float((scores[i, t:] * mask[i, t:]).sum())))
    torch.testing.assert_close(out, scores * mask / (peak + 1e-6))
    with pytest.raises(ConfigError, match="scope"):
        D.process_reward_norm(scores, mask, _ctx(0, 1), scope="node")  # type: ignore[arg-type]


def test_masked_whiten_and_token_mean_single_process() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 7, generator=g, dtype=torch.float64)
    mask = torch.rand(5, 7, generator=g) > 0.3
    valid = x[mask]
    ref = (x - valid.mean()) / torch.sqrt(valid.var(unbiased=True) + 1e-8)
    torch.testing.assert_close(D.masked_whiten(x, mask, _ctx(0, 1))[mask], ref[mask])
    torch.testing.assert_close(D.global_token_mean(x, mask, _ctx(0, 1)), valid.mean())
    with pytest.raises(UnsupportedInputError, match="mask"):
        D.global_token_mean(x, mask[:, :3], _ctx(0, 1))


def test_single_process_context_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = D.init_distributed()
    assert not ctx.distributed and ctx.world_size == 1 and ctx.is_main
    model = torch.nn.Linear(2, 2)
    assert D.shard_model(model, ctx) is model
    assert [n for n, _ in D.full_named_parameters(model)] == ["weight", "bias"]
    assert D.reduce_metrics({"b": 2, "a": 1.5}, ctx) == {"a": 1.5, "b": 2.0}


def _run(args: list[str], procs: int) -> None:
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    p = subprocess.run([*launcher, CHILD, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]


@pytest.mark.slow
def test_two_process_fsdp_matches_one_process_and_checkpoint_reshards(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    two, one, resumed = tmp_path / "two.json", tmp_path / "one.json", tmp_path / "resumed.json"
    _run([str(two), "--steps", "2", "--save-at", "2", "--ckpt", str(ckpt)], procs=2)
    _run([str(one), "--steps", "3"], procs=1)
    _run([str(resumed), "--steps", "3", "--resume", str(ckpt)], procs=1)
    r2, r1, rr = (json.loads(p.read_text()) for p in (two, one, resumed))
    assert r2["world_size"] == 2 and r1["world_size"] == 1
    assert sorted(p.name for p in ckpt.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]

    def same_step(a: dict, b: dict) -> None:
        keys = [k for k in a if k not in ("advantages", "step")]
        assert keys and sorted(keys) == sorted(k for k in b if k not in ("advantages", "step"))
        got = torch.tensor([b[k] for k in keys], dtype=torch.float64)
        want = torch.tensor([a[k] for k in keys], dtype=torch.float64)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=lambda m: f"{keys}: {m}")
        adv_a, adv_b = torch.tensor(a["advantages"]), torch.tensor(b["advantages"])
        assert adv_a.shape == (16, 10) and adv_a.abs().sum() > 1
        torch.testing.assert_close(adv_b, adv_a, rtol=1e-4, atol=1e-4)

    # 2 processes (FSDP2, gloo) == 1 process: PRM losses, PPO losses, grad norms, advantages.
    assert [s["step"] for s in r2["steps"]] == [1, 2]
    for a, b in zip(r1["steps"][:2], r2["steps"]):
        same_step(a, b)
    # The losses move between steps (the updates did something).
    assert r1["steps"][0]["prm_loss_0"] != r1["steps"][1]["prm_loss_0"]

    # The 2-process DCP checkpoint loads in 1 process: weights and Adam moments exactly as saved...
    assert rr["resumed_step"] == 2
    saved, loaded = torch.load(r2["saved_full"]), torch.load(rr["loaded_full"])
    assert saved.keys() == loaded.keys() and len(saved) > 20
    for k in saved:
        assert torch.equal(saved[k], loaded[k]), k
    assert rr["loaded_exp_avg"] == r2["saved_exp_avg"]
    # ... and step 3 after the resume equals step 3 of the uninterrupted single-process run.
    assert [s["step"] for s in rr["steps"]] == [3]
    same_step(r1["steps"][2], rr["steps"][0])
