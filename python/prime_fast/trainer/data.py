"""The training prompts' order: the resumable sampler with PRIME's FIFO buffer of surplus prompts, and the
accuracy filter of prompt groups (loading and encoding prompts: :mod:`prime_fast.runtime.prompts`)."""

from __future__ import annotations

import logging
import random
from collections import deque
from typing import Any

from prime_fast.runtime.prompts import Prompt

log = logging.getLogger(__name__)


class PromptSampler:
    """Shuffled epochs over the prompts plus PRIME's FIFO buffer of surplus prompts, resumable.

    ``take(k)`` returns the next ``k`` prompts, starting a new epoch (reshuffled with the seed and the
    epoch number) when the current one runs out: training never stops silently, a warning is logged.
    """

    def __init__(self, prompts: list[Prompt], *, seed: int, shuffle: bool = True) -> None:
        self.prompts = prompts
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.pos = 0
        self.buffer: deque[int] = deque()
        self._pos_of = {p.index: j for j, p in enumerate(prompts)}
        self._order = self._make_order(0)

    def _make_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.prompts)))
        if self.shuffle:
            random.Random(f"{self.seed}-{epoch}").shuffle(order)
        return order

    def take(self, k: int) -> list[Prompt]:
        """The next ``k`` prompts of the data order (wrapping into the next epoch with a warning)."""
        out = []
        for _ in range(k):
            if self.pos >= len(self._order):
                self.epoch += 1
                self.pos = 0
                self._order = self._make_order(self.epoch)
                log.warning("training prompts exhausted: starting epoch %d", self.epoch)
            out.append(self.prompts[self._order[self.pos]])
            self.pos += 1
        return out

    def pop_buffer(self, k: int) -> list[Prompt]:
        """Up to ``k`` buffered surplus prompts, oldest first."""
        out: list[Prompt] = []
        while self.buffer and len(out) < k:
            out.append(self.prompts[self.buffer.popleft()])
        return out

    def push_buffer(self, prompts: list[Prompt]) -> None:
        """Queue surplus prompts (the prompt, not its rollouts) for the next step."""
        self.buffer.extend(self._pos_of[p.index] for p in prompts)

    def state_dict(self) -> dict[str, Any]:
        """Position, epoch and buffer (for checkpoints)."""
        return {"epoch": self.epoch, "pos": self.pos, "buffer": list(self.buffer), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.pos = int(state["pos"])
        self.buffer = deque(int(i) for i in state["buffer"])
        self._order = self._make_order(self.epoch)


def filter_groups(
    acc: list[float],
    truncated: list[bool],
    n: int,
    *,
    lower: float,
    upper: float,
    filter_accuracy: bool = True,
    filter_truncated: bool = False,
) -> list[bool]:
    """PRIME's per-group filter (docs/ALGORITHM.md section 4): one keep flag per prompt group of ``n`` rows.

    A group is kept iff ``lower <= mean(acc) <= upper`` (inclusive, when ``filter_accuracy``) and,
    when ``filter_truncated``, none of its responses was truncated.
    """
    if len(acc) % n or len(truncated) != len(acc):
        raise ValueError(
            f"filter_groups: {len(acc)} scores / {len(truncated)} flags do not form groups of {n}"
        )
    keep = []
    eps = 1e-9
    for g in range(len(acc) // n):
        a = sum(acc[g * n : (g + 1) * n]) / n
        ok = True
        if filter_accuracy:
            ok = lower - eps <= a <= upper + eps
        if filter_truncated and any(truncated[g * n : (g + 1) * n]):
            ok = False
        keep.append(ok)
    return keep
