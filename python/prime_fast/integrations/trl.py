"""TRL integration: prime-fast's verifiers, fused log-probs and PRIME inside TRL's ``GRPOTrainer``.

- reward functions :func:`math_reward`, :func:`code_reward`, :func:`make_math_reward`,
  :func:`make_code_reward` (:mod:`prime_fast.integrations.trl_rewards`; they need neither TRL nor torch);
- :class:`FusedLogProbsMixin` and :class:`FusedLogProbGRPOTrainer`: the per-token log-probs through
  :func:`prime_fast.ops.linear_token_logprobs` (:mod:`prime_fast.integrations.trl_logprobs`) and GRPO's policy
  loss through :func:`prime_fast.ops.linear_policy_loss` where it is exact
  (:mod:`prime_fast.integrations.trl_policy_loss`);
- :class:`PrimeGRPOTrainer` and :class:`PrimeConfig`: PRIME's implicit PRM and per-token advantages in
  ``GRPOTrainer`` (:mod:`prime_fast.integrations.trl_prime`);

Names resolve from their submodules on first use, so importing this module never imports TRL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "PrimeConfig": "trl_prime",
    "PrimeGRPOTrainer": "trl_prime",
    "FusedLogProbsMixin": "trl_logprobs",
    "FusedLogProbGRPOTrainer": "trl_logprobs",
    "VerifierReward": "trl_rewards",
    "code_reward": "trl_rewards",
    "make_code_reward": "trl_rewards",
    "make_math_reward": "trl_rewards",
    "math_reward": "trl_rewards",
    "trl_reward": "trl_rewards",
}

if TYPE_CHECKING:
    from prime_fast.integrations.trl_logprobs import FusedLogProbGRPOTrainer, FusedLogProbsMixin
    from prime_fast.integrations.trl_prime import PrimeConfig, PrimeGRPOTrainer
    from prime_fast.integrations.trl_rewards import (
        VerifierReward,
        code_reward,
        make_code_reward,
        make_math_reward,
        math_reward,
        trl_reward,
    )

__all__ = [
    "FusedLogProbGRPOTrainer",
    "FusedLogProbsMixin",
    "PrimeConfig",
    "PrimeGRPOTrainer",
    "VerifierReward",
    "code_reward",
    "make_code_reward",
    "make_math_reward",
    "math_reward",
    "trl_reward",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prime_fast.integrations.trl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"prime_fast.integrations.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
