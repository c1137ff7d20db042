"""The interface every rollout backend implements, and the batch layout it returns.

Layout: for ``P`` prompts and ``n`` samples per prompt, responses come back as ``P * n`` rows in
contiguous groups: rows ``[i*n, (i+1)*n)`` are the samples of prompt ``i``. Response token ids stop
at (and include) the first EOS, or at ``max_tokens`` (then ``truncated`` is True for that row).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    """Sampling parameters of one rollout call.

    Args:
        n: samples per prompt (PRIME's K).
        temperature: softmax temperature; 0 means greedy.
        top_p: nucleus sampling mass (1.0 disables it).
        max_tokens: most response tokens per sample.
        seed: base random seed (None: not seeded).
        logprobs: also return the sampling engine's log-prob of each response token.
    """

    n: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    logprobs: bool = False


@dataclass(slots=True)
class RolloutBatch:
    """What a rollout returns (lists of python ints: the trainer pads them itself).

    Args:
        prompt_ids: ``P`` prompt token-id lists, in the order given.
        response_ids: ``P * n`` response token-id lists, contiguous groups per prompt.
        truncated: ``P * n`` flags: True where the response hit ``max_tokens`` without EOS.
        logprobs: ``P * n`` lists of the engine's per-token log-probs, or None when not asked for.
    """

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    truncated: list[bool]
    logprobs: list[list[float]] | None = None

    @property
    def n(self) -> int:
        """Samples per prompt."""
        return len(self.response_ids) // max(len(self.prompt_ids), 1)

    def prompt_index(self, row: int) -> int:
        """The prompt that response ``row`` answers."""
        return row // self.n


@runtime_checkable
class RolloutBackend(Protocol):
    """A generation engine the trainer samples from and keeps in sync with the policy."""

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        """Sample ``sampling.n`` responses for each prompt."""
        ...

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Load the policy's current weights (HF parameter names) into the engine, in place."""
        ...

    def sleep(self) -> None:
        """Release accelerator memory between rollout phases (no-op where not applicable)."""
        ...

    def wake_up(self) -> None:
        """Take the memory back before the next rollout (no-op where not applicable)."""
        ...
