"""The execution context the loop runs in: one process by default; a distributed context (FSDP2,
``trainer/distributed.py``) provides the same methods for several ranks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class LocalContext:
    """One process, one device.

    Args:
        device: where the models live.
        rank, world_size: data-parallel position (0 of 1 here).
    """

    device: torch.device = torch.device("cpu")  # noqa: RUF009
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and prints."""
        return self.rank == 0

    def prepare_model(self, model: Any, *, trainable: bool) -> Any:
        """Place (and, in a distributed context, shard) a model."""
        return model.to(self.device)

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Average metrics over ranks (identity with one process)."""
        return metrics

    def barrier(self) -> None:
        """Wait for every rank (nothing to wait for with one process)."""
