"""Advantage estimators, policy and PRM losses, PRM metrics (pure torch; scans via :mod:`prime_fast.ops`).

:func:`prime_rewards` is PRIME's whole reward path after the log-probs (implicit rewards, credit form,
normalisation, leave-one-out advantages, whitening) in one call of tensors, for any trainer.

Registries map config names to functions: :data:`ADVANTAGE_ESTIMATORS` (``prime``, ``rloo``,
``grpo``, ``reinforce``, ``gae``), :data:`POLICY_LOSSES` (``ppo_clip``), :data:`PRM_LOSSES` (``ce``);
look names up with :func:`get_advantage_estimator`, :func:`get_policy_loss`, :func:`get_prm_loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from prime_fast.algos._utils import last_token_mask, masked_mean, masked_sum
from prime_fast.algos.advantages import (
    gae_advantages,
    grpo_advantages,
    prime_advantages,
    reinforce_advantages,
    rloo_advantages,
)
from prime_fast.algos.core import discounted_returns, masked_whiten, normalize_process_rewards
from prime_fast.algos.estimator import AdvantageEstimator, Discounts
from prime_fast.algos.losses import DEFAULT_PRM_BETA, ppo_clip_loss, prm_bce_loss, prm_pairwise_accuracy
from prime_fast.algos.prime import (
    AllReduce,
    PrimeRewards,
    credit_temperature,
    implicit_scores,
    prime_rewards,
    process_credit,
)
from prime_fast.algos.process import (
    PROCESS_CREDITS,
    first_error_f1,
    fit_threshold,
    min_form_credit,
    outcome_auc,
    predict_first_error,
    process_discount,
    step_credit,
    step_scores,
)
from prime_fast.algos.registry import Registry

ADVANTAGE_ESTIMATORS: Registry[AdvantageEstimator] = Registry("advantage estimator")
POLICY_LOSSES: Registry[Callable[..., Any]] = Registry("policy loss")
PRM_LOSSES: Registry[Callable[..., Any]] = Registry("PRM loss")

for _name, _fn in (
    ("prime", prime_advantages),
    ("rloo", rloo_advantages),
    ("grpo", grpo_advantages),
    ("reinforce", reinforce_advantages),
):
    ADVANTAGE_ESTIMATORS.register(_name, _fn)
# GAE needs a critic's values (another call form); listed so the name is reserved, refused by the
# trainer's config check ("algo.estimator: 'gae' needs a critic").
ADVANTAGE_ESTIMATORS.register("gae", cast(AdvantageEstimator, gae_advantages))
POLICY_LOSSES.register("ppo_clip", ppo_clip_loss)
PRM_LOSSES.register("ce", prm_bce_loss)


def get_advantage_estimator(name: str) -> AdvantageEstimator:
    """The advantage estimator called ``name`` (ConfigError listing valid names if unknown)."""
    return ADVANTAGE_ESTIMATORS.get(name)


def get_policy_loss(name: str) -> Callable[..., Any]:
    """The policy loss called ``name``."""
    return POLICY_LOSSES.get(name)


def get_prm_loss(name: str) -> Callable[..., Any]:
    """The PRM loss called ``name``."""
    return PRM_LOSSES.get(name)


def register_advantage_estimator(name: str, fn: AdvantageEstimator) -> AdvantageEstimator:
    """Register a new estimator; raises ConfigError if ``name`` is taken."""
    return ADVANTAGE_ESTIMATORS.register(name, fn)


__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "DEFAULT_PRM_BETA",
    "POLICY_LOSSES",
    "PRM_LOSSES",
    "PROCESS_CREDITS",
    "AdvantageEstimator",
    "AllReduce",
    "Discounts",
    "PrimeRewards",
    "Registry",
    "credit_temperature",
    "discounted_returns",
    "first_error_f1",
    "fit_threshold",
    "gae_advantages",
    "get_advantage_estimator",
    "get_policy_loss",
    "get_prm_loss",
    "grpo_advantages",
    "implicit_scores",
    "last_token_mask",
    "masked_mean",
    "masked_sum",
    "masked_whiten",
    "min_form_credit",
    "normalize_process_rewards",
    "outcome_auc",
    "ppo_clip_loss",
    "predict_first_error",
    "prime_advantages",
    "prime_rewards",
    "prm_bce_loss",
    "prm_pairwise_accuracy",
    "process_credit",
    "process_discount",
    "register_advantage_estimator",
    "reinforce_advantages",
    "rloo_advantages",
    "step_credit",
    "step_scores",
]
