"""PRIME's reward path in one call (:func:`prime_fast.algos.prime_rewards`): each step against its definition,
the whole path against the estimator it composes, and 2 real gloo ranks against one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from prime_fast import algos
from prime_fast.errors import UnsupportedInputError

K = 4


def _batch(seed: int, b: int = 16, t: int = 9) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    mask = torch.arange(t)[None] < lengths[:, None]
    scores = torch.randn(b, t, generator=g, dtype=torch.float64) * mask
    acc = (torch.rand(b, generator=g) > 0.5).double()
    return acc, mask, scores


def test_batch_norm_matches_its_definition() -> None:
    _, mask, scores = _batch(0, b=6)
    peak = 0.0
    for i in range(scores.shape[0]):
        for t in range(scores.shape[1]):
            peak = max(peak, abs(float((scores[i, t:] * mask[i, t:]).sum())))
    out = algos.process_credit(scores, mask, credit="sum", norm="batch_norm")
    torch.testing.assert_close(out, scores * mask / (peak + 1e-6))
    torch.testing.assert_close(algos.process_credit(scores, mask, credit="sum", norm="none"), scores * mask)


def test_min_credit_temperature_is_relative_to_the_spread() -> None:
    _, mask, scores = _batch(1)
    spread = float(scores[mask].std())
    assert algos.credit_temperature(scores, mask, 0.25) == pytest.approx(0.25 * spread, rel=1e-12)
    out = algos.process_credit(scores, mask, credit="min", credit_temperature_rel=0.25, norm="none")
    torch.testing.assert_close(out, algos.min_form_credit(scores, mask, temperature=0.25 * spread))
    # Constant scores: the temperature stays positive (floored), the result finite.
    flat = torch.where(mask, 1.0, 0.0).double()
    assert algos.credit_temperature(flat, mask, 0.1) == pytest.approx(1e-7)
    assert torch.isfinite(algos.process_credit(flat, mask, credit="min", norm="none")).all()


def test_whitening_matches_its_definition() -> None:
    acc, mask, _ = _batch(2)
    out = algos.prime_rewards(acc, mask, K, whiten=True)
    ret = out.returns
    valid = ret[mask]
    ref = (ret - valid.mean()) / torch.sqrt(valid.var(unbiased=True) + 1e-8)
    torch.testing.assert_close(out.advantages[mask], ref[mask])
    assert (out.advantages[~mask] == 0).all() and (out.returns[~mask] == 0).all()


@pytest.mark.parametrize("credit", ["sum", "min"])
@pytest.mark.parametrize("estimator", ["prime", "rloo", "grpo", "reinforce"])
def test_whole_path_composes_credit_norm_and_estimator(credit: str, estimator: str) -> None:
    acc, mask, scores = _batch(3)
    out = algos.prime_rewards(
        acc, mask, K, scores=scores, credit=credit, estimator=estimator, gamma_process=0.9, whiten=True
    )
    process = algos.process_credit(scores, mask, credit=credit, norm="batch_norm")
    adv, ret = algos.get_advantage_estimator(estimator)(
        acc, mask, K, process_rewards=process, discounts=algos.Discounts(process=0.9), whiten=True
    )
    torch.testing.assert_close(out.advantages, adv)
    torch.testing.assert_close(out.returns, ret)
    torch.testing.assert_close(out.process_rewards, process)
    assert out.scores is scores
    assert out.metrics["prm/process_reward_mean"] == pytest.approx(float(scores[mask].mean()))
    assert out.metrics["adv/mean"] == pytest.approx(float(adv[mask].mean()), abs=1e-12)


def test_log_probs_give_the_same_path_as_their_scores() -> None:
    acc, mask, _ = _batch(4)
    g = torch.Generator().manual_seed(5)
    prm = -torch.rand(mask.shape, generator=g, dtype=torch.float64) * 3
    ref = -torch.rand(mask.shape, generator=g, dtype=torch.float64) * 3
    via_logp = algos.prime_rewards(acc, mask, K, prm_logp=prm, ref_logp=ref)
    q = torch.where(mask, prm - ref, 0.0)
    via_scores = algos.prime_rewards(acc, mask, K, scores=q.float())
    torch.testing.assert_close(via_logp.scores, q.float())
    torch.testing.assert_close(via_logp.advantages, via_scores.advantages)
    whole = algos.implicit_scores(prm, ref, mask, granularity="whole")
    last = mask.long().sum(1) - 1
    torch.testing.assert_close(whole[torch.arange(mask.shape[0]), last], q.sum(1).float())
    assert int((whole != 0).sum(1).max()) == 1


def test_outcome_only_is_the_estimator_on_outcomes() -> None:
    acc, mask, _ = _batch(6)
    out = algos.prime_rewards(acc, mask, K, estimator="rloo", whiten=False)
    adv, _ = algos.rloo_advantages(acc, mask, K)
    torch.testing.assert_close(out.advantages, adv)
    assert out.process_rewards is None and out.scores is None
    assert "prm/process_reward_mean" not in out.metrics


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"credit": "max"}, "credit must be one of sum, min"),
        ({"norm": "layer"}, "norm must be one of"),
        ({"norm_scope": "node"}, "norm_scope must be one of rank, global"),
        ({"estimator": "nope"}, "nope"),
        ({"form": "book"}, "form must be one of code, paper"),
    ],
)
def test_bad_options_are_named(kwargs: dict, match: str) -> None:
    acc, mask, scores = _batch(7)
    with pytest.raises(Exception, match=match):
        algos.prime_rewards(acc, mask, K, scores=scores, **kwargs)


def test_bad_inputs_are_named() -> None:
    acc, mask, scores = _batch(8)
    with pytest.raises(UnsupportedInputError, match="both prm_logp and ref_logp"):
        algos.prime_rewards(acc, mask, K, prm_logp=scores)
    with pytest.raises(UnsupportedInputError, match="scores must have the mask's shape"):
        algos.prime_rewards(acc, mask, K, scores=scores[:, :-1])
    with pytest.raises(UnsupportedInputError, match="granularity"):
        algos.implicit_scores(scores, scores, mask, granularity="step")


# --------------------------------------------------------------------------- two real gloo ranks
OPTIONS = {
    "global-min": {"credit": "min", "norm_scope": "global", "gamma_process": 0.95},
    "rank-sum": {"credit": "sum", "norm_scope": "rank"},
}


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        acc, mask, scores = _batch(9, b=32)
        rows = slice(rank * 16, (rank + 1) * 16)  # whole groups of K = 4 on each rank

        def all_reduce(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
            dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
            return t

        results = {}
        for name, kw in OPTIONS.items():
            out = algos.prime_rewards(
                acc[rows], mask[rows], K, scores=scores[rows], all_reduce=all_reduce, **kw
            )
            results[name] = (out.advantages, out.metrics)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path: Path) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    acc, mask, scores = _batch(9, b=32)
    for name, kw in OPTIONS.items():
        got = torch.cat([p[name][0] for p in parts])
        if kw["norm_scope"] == "global":
            want = algos.prime_rewards(acc, mask, K, scores=scores, **kw)
            torch.testing.assert_close(got, want.advantages, rtol=1e-12, atol=1e-12)
            for p in parts:  # every rank reports the whole batch's metrics
                assert p[name][1] == pytest.approx(want.metrics, rel=1e-12)
        else:
            # PRIME's per-rank batch_norm: each rank normalises by its own rows' peak, whitening is global.
            process = torch.cat(
                [
                    algos.process_credit(scores[r * 16 : (r + 1) * 16], mask[r * 16 : (r + 1) * 16])
                    for r in range(2)
                ]
            )
            want_adv, _ = algos.prime_advantages(acc, mask, K, process_rewards=process)
            torch.testing.assert_close(got, want_adv, rtol=1e-12, atol=1e-12)
