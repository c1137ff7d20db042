"""``prm.mode = oracle`` (the process rewards of perfect step labels in place of the PRM's) and
``algo.process_credit = step`` in the trainer: the oracle's scores on hand-made responses of the demo
task, the errors, and tiny runs."""

from __future__ import annotations

import json

import pytest
import torch

from prime_fast.demo import task as demo_task
from prime_fast.demo.assets import prepare_demo, register, train
from prime_fast.errors import ConfigError
from prime_fast.runtime.batch import build_batch
from prime_fast.trainer.config import load_config
from prime_fast.trainer.loop import Trainer
from prime_fast.trainer.oracle import oracle_scores, reward_inputs
from prime_fast.trainer.prm_quality import step_labels

QUESTION = "3+4+2=?"
RIGHT = "3+4=7,7+2=9.\\boxed{9}"
WRONG_SECOND = "3+4=7,8+2=10.\\boxed{10}"  # step 0 right, step 1 starts from 8 instead of 7


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_oracle_scores_of_hand_made_responses(tok) -> None:
    register()
    ids = [[*tok.encode(r, add_special_tokens=False), tok.eos_token_id] for r in (RIGHT, WRONG_SECOND)]
    width = max(len(x) for x in ids)
    mask = torch.tensor([[j < len(x) for j in range(width)] for x in ids])
    labels = step_labels(tok, [QUESTION] * 2, [RIGHT, WRONG_SECOND], ids, [demo_task.DATA_SOURCE] * 2, width)
    assert labels is not None
    assert labels[1].tolist() == [-1, 1]
    got = oracle_scores(labels[0], labels[1], mask)
    # The wrong response, one token per character up to "\boxed{": "3+4=7," (tokens 0-5) is step 0,
    # "8+2=10" (tokens 6-11) the first wrong step: -1/6 on each of its 6 tokens, 0 elsewhere (the
    # answer step and EOS too). The right response: 0 everywhere.
    expected = torch.zeros(2, width)
    expected[1, 6:12] = -1.0 / 6.0
    assert torch.equal(got, expected)
    assert float(got[1].sum()) == pytest.approx(-1.0)


def test_oracle_penalty_scales_the_spread_penalty() -> None:
    # first wrong step 1 has 2 of the 4 valid tokens: -3/2 on each; a right row (-1) stays 0
    step_ids = torch.tensor([[0, 0, 1, 1, -1], [0, 0, 1, 1, -1]])
    mask = torch.tensor([[True, True, True, True, False]] * 2)
    got = oracle_scores(step_ids, torch.tensor([1, -1]), mask, penalty=3.0)
    assert torch.equal(got, torch.tensor([[0.0, 0.0, -1.5, -1.5, 0.0], [0.0] * 5]))
    with pytest.raises(ValueError, match="penalty must be a positive number"):
        oracle_scores(step_ids, torch.tensor([1, -1]), mask, penalty=0.0)


def test_oracle_penalty_with_step_credit_and_no_norm_hand_computed() -> None:
    """K = 2: row 0 right (acc 1), row 1 wrong from step 1 (tokens 2-3), penalty 3, step credit, no norm.
    Scores row 1: [0, 0, -1.5, -1.5]; step credit: [0, 0, -3, -3] (each token its step's total).
    Process leave-one-out (code form, K = 2: 2 r - mu_0 - mu_1, mu_1 = -6/4 = -1.5): row 0 +1.5 on
    every token, row 1 [1.5, 1.5, -4.5, -4.5]; step credit has no process discount. Outcome: row 0
    2 * 1 - 1 = +1, row 1 -1 on every token (undiscounted). Returns: row 0 2.5 everywhere, row 1
    [0.5, 0.5, -5.5, -5.5]."""
    from prime_fast.algos import prime_rewards

    step_ids = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    mask = torch.ones(2, 4, dtype=torch.bool)
    scores = oracle_scores(step_ids, torch.tensor([-1, 1]), mask, penalty=3.0)
    out = prime_rewards(
        torch.tensor([1.0, 0.0]),
        mask,
        2,
        scores=scores,
        credit="step",
        norm="none",
        step_ids=step_ids,
        whiten=False,
    )
    assert torch.allclose(out.returns, torch.tensor([[2.5, 2.5, 2.5, 2.5], [0.5, 0.5, -5.5, -5.5]]))


def test_oracle_penalty_needs_oracle_mode_and_no_norm() -> None:
    for over in (["prm.oracle_penalty=3"], ["prm.mode=oracle", "prm.oracle_penalty=3"]):
        with pytest.raises(ConfigError, match=r"prm\.oracle_penalty"):
            load_config(None, over)
    with pytest.raises(ConfigError, match=r"prm\.oracle_penalty"):
        load_config(None, ["prm.mode=oracle", "prm.norm=none", "prm.oracle_penalty=0"])
    cfg = load_config(None, ["prm.mode=oracle", "prm.norm=none", "prm.oracle_penalty=3"])
    assert cfg.prm.oracle_penalty == 3.0


def test_oracle_penalty_with_no_token_in_the_wrong_step_goes_to_the_last_token() -> None:
    step_ids = torch.tensor([[0, 0, 1, -1]])
    mask = torch.tensor([[True, True, True, False]])
    got = oracle_scores(step_ids, torch.tensor([3]), mask)
    assert torch.equal(got, torch.tensor([[0.0, 0.0, -1.0, 0.0]]))


def test_oracle_and_step_credit_name_a_source_without_labeller(tok) -> None:
    ids = [tok.encode(RIGHT, add_special_tokens=False)]
    batch = build_batch(
        [tok.encode(QUESTION, add_special_tokens=False)],
        ids,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    batch.extra["data_source"] = ["someone_elses_math"]
    scores = torch.zeros(batch.responses.shape)
    for over, what in (("prm.mode=oracle", "prm.mode = 'oracle'"), ("algo.process_credit=step", "'step'")):
        cfg = load_config(None, [over])
        with pytest.raises(RuntimeError, match=f"{what}.*someone_elses_math.*no step labeller"):
            reward_inputs(cfg, scores, None, batch)


def test_oracle_learned_needs_oracle_mode() -> None:
    with pytest.raises(ConfigError, match=r"prm\.oracle_learned"):
        load_config(None, ["prm.oracle_learned=true"])


def test_oracle_run_builds_no_prm_and_trains(tmp_path, tiny_overrides) -> None:
    run = tmp_path / "run"
    cfg = load_config(
        None, [*tiny_overrides(str(run), steps=2), "prm.mode=oracle", "algo.process_credit=local"]
    )
    tr = Trainer(cfg, run, prepare=prepare_demo)
    tr.setup()
    assert tr.prm_model is None and tr.ref_model is None
    ro, _ = tr.collect({})
    batch, old_logp, acc, mask = tr.tensorize(ro, {})
    metrics: dict = {}
    scores = tr.score_process(batch, old_logp, acc, mask, metrics, {})
    assert "prm/auc" not in metrics and "prm/loss" not in metrics  # no learned PRM to report on
    # Per row: -1 in all when some step is wrong, else 0; a wrong step never in a right response.
    sums = torch.where(mask, scores, 0.0).sum(1)
    assert torch.allclose(sums[sums != 0], torch.tensor(-1.0))
    assert bool((sums[acc > 0.5] == 0).all())
    assert tr.fit()["steps"] == 2


def test_oracle_with_a_learned_prm_trains_it_and_logs_its_metrics(tmp_path, tiny_overrides) -> None:
    run = tmp_path / "run"
    over = ["prm.mode=oracle", "prm.oracle_learned=true", "algo.process_credit=step", "prm.lr=0.01"]
    cfg = load_config(None, [*tiny_overrides(str(run), steps=2), *over])
    summary = train(cfg, run)
    assert summary["steps"] == 2
    row = _rows(run)[1]
    for key in ("prm/loss", "prm/grad_norm", "prm/pairwise_acc", "prm/auc"):
        assert key in row, key
    assert (run / "checkpoints" / "step_2" / "prm").exists()
