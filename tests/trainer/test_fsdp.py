"""The world-size-independent pieces of FSDP2 data parallelism: group splits and the one-process context
(the whole-batch reductions are tested in tests/algos/test_prime_rewards.py, on real gloo ranks; the 2-rank
runs of the Trainer are in test_dist_train.py)."""

from __future__ import annotations

import pytest
import torch

from prime_fast.errors import ConfigError, UnsupportedInputError
from prime_fast.trainer import distributed as D
from prime_fast.trainer.context import LocalContext


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


def test_single_process_context_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = D.init_distributed()
    assert not ctx.distributed and ctx.world_size == 1 and ctx.is_main
    model = torch.nn.Linear(2, 2)
    assert D.shard_model(model, ctx) is model
    assert [n for n, _ in D.full_named_parameters(model)] == ["weight", "bias"]
    assert LocalContext().reduce_metrics({"b": 2, "a": 1.5}) == {"a": 1.5, "b": 2.0}
