"""The credit forms of ``algo.process_credit`` (``sum``, ``min``, ``local``, ``step``), each against a
hand-computed case: one response, no baseline (K = 1), no normalisation or whitening, so the returns
are the process returns the form defines."""

from __future__ import annotations

import math

import pytest
import torch

from prime_fast import algos
from prime_fast.errors import UnsupportedInputError

# One response of 4 valid tokens (the 5th is padding, with a value that must never leak in).
Q = torch.tensor([[1.0, -2.0, 3.0, 0.5, 9.0]], dtype=torch.float64)
MASK = torch.tensor([[True, True, True, True, False]])
STEPS = torch.tensor([[0, 0, 1, -1, -1]])  # tokens 0-1: step 0, token 2: step 1, token 3: in no step


def _returns(credit: str, gamma: float = 1.0, **kw: object) -> torch.Tensor:
    out = algos.prime_rewards(
        torch.zeros(1, dtype=torch.float64),
        MASK,
        1,
        scores=Q,
        credit=credit,
        norm="none",
        gamma_process=gamma,
        whiten=False,
        **kw,  # type: ignore[arg-type]
    )
    return out.returns


def test_sum_returns_the_discounted_future_rewards() -> None:
    expected = torch.tensor([[2.5, 1.5, 3.5, 0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_returns("sum"), expected)
    # gamma 0.5: 0.5; 3 + 0.25 = 3.25; -2 + 1.625 = -0.375; 1 - 0.1875 = 0.8125
    expected = torch.tensor([[0.8125, -0.375, 3.25, 0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_returns("sum", 0.5), expected)


def test_local_gives_each_token_its_own_reward_whatever_gamma() -> None:
    expected = torch.tensor([[1.0, -2.0, 3.0, 0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_returns("local"), expected)
    torch.testing.assert_close(_returns("local", 0.5), expected)


def test_step_gives_each_token_its_steps_total() -> None:
    # step 0: 1 - 2 = -1 on both its tokens; step 1: 3; token 3 (no step) keeps its own 0.5.
    expected = torch.tensor([[-1.0, -1.0, 3.0, 0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(_returns("step", step_ids=STEPS), expected)
    torch.testing.assert_close(algos.step_credit(Q, MASK, STEPS), expected)


def test_step_credit_with_the_leave_one_out_baseline() -> None:
    # K = 2, code form r' = (2 r - (mu_0 + mu_1)) / 1 after the step credit:
    # row 0 [1, 1] in one step -> [2, 2], mean 2; row 1 [0, 4] in two steps -> [0, 4], mean 2.
    q = torch.tensor([[1.0, 1.0], [0.0, 4.0]], dtype=torch.float64)
    mask = torch.ones(2, 2, dtype=torch.bool)
    steps = torch.tensor([[0, 0], [0, 1]])
    out = algos.prime_rewards(
        torch.zeros(2, dtype=torch.float64),
        mask,
        2,
        scores=q,
        credit="step",
        norm="none",
        whiten=False,
        step_ids=steps,
    )
    torch.testing.assert_close(out.returns, torch.tensor([[0.0, 0.0], [-4.0, 4.0]], dtype=torch.float64))


def test_min_form_sums_the_softmin_weighted_rewards() -> None:
    # q = [0, -1]: sample std 1/sqrt(2); relative temperature sqrt(2)/ln 3 gives T = 1/ln 3, so the
    # weights softmax(-q / T) = softmax([0, ln 3]) = [1/4, 3/4] and the credited rewards are [0, -3/4].
    q = torch.tensor([[0.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = algos.prime_rewards(
        torch.zeros(1, dtype=torch.float64),
        mask,
        1,
        scores=q,
        credit="min",
        credit_temperature_rel=math.sqrt(2) / math.log(3),
        norm="none",
        whiten=False,
    )
    torch.testing.assert_close(out.process_rewards, torch.tensor([[0.0, -0.75]], dtype=torch.float64))
    torch.testing.assert_close(out.returns, torch.tensor([[-0.75, -0.75]], dtype=torch.float64))


def test_process_discount_and_refusals() -> None:
    assert algos.process_discount("sum", 0.9) == 0.9 and algos.process_discount("min", 0.9) == 0.9
    assert algos.process_discount("local", 0.9) == 0.0 and algos.process_discount("step", 0.9) == 0.0
    with pytest.raises(UnsupportedInputError, match="credit must be one of"):
        algos.process_discount("max", 1.0)
    with pytest.raises(UnsupportedInputError, match="needs step_ids"):
        _returns("step")
    with pytest.raises(UnsupportedInputError, match="step_ids must be an integer tensor"):
        algos.step_credit(Q, MASK, STEPS[:, :3])
    with pytest.raises(UnsupportedInputError, match="must hold integers"):
        algos.step_credit(Q, MASK, STEPS.double())
