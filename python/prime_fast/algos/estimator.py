"""The call form every advantage estimator in :data:`prime_fast.algos.ADVANTAGE_ESTIMATORS` accepts,
so the trainer calls whichever ``algo.estimator`` names without branching on the name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True, slots=True)
class Discounts:
    """Discounts of the two reward sources (``algo.gamma_process``, ``algo.gamma_outcome``).

    Estimators that do not discount a source ignore its entry.
    """

    process: float = 1.0
    outcome: float = 1.0


class AdvantageEstimator(Protocol):
    """``(advantages, returns)``, float ``(B, T)`` and zero outside ``mask``, from ``(B,)`` outcome
    rewards, ``(B, T)`` process rewards (or None), groups of ``n_samples`` contiguous rows; ``all_reduce``
    sums over the data-parallel ranks so that whitening sees the whole batch."""

    def __call__(
        self,
        outcome_rewards: torch.Tensor,
        mask: torch.Tensor,
        n_samples: int,
        *,
        process_rewards: torch.Tensor | None = None,
        whiten: bool = ...,
        discounts: Discounts | None = None,
        all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...
