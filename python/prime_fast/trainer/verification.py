"""The trainer's outcome rewards in a background thread (the scoring itself is
:func:`prime_fast.verify.batch.score_batch`, the one batch scorer the eval command and the integrations use).

The Rust verifiers release the GIL, so scoring runs while the main thread computes log-probs; the
loop only waits for whatever is left afterwards (the exposed verification time).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prime_fast.verify.batch import majority_rewards, score_batch


class Verifier:
    """Runs :func:`~prime_fast.verify.batch.score_batch` (``reward = "verifier"``) or :func:`majority_rewards` (``"majority"``:
    math only, no reference needed) in one background thread (``overlap=True``) or inline."""

    def __init__(
        self, *, overlap: bool, error_score: float = 0.0, reward: str = "verifier", n_samples: int = 1
    ) -> None:
        self.overlap = overlap
        self.error_score = error_score
        self.reward = reward
        self.n_samples = n_samples
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prime-fast-verify") if overlap else None
        )

    def submit(self, texts: list[str], ground_truths: list[Any], abilities: list[str]) -> Future:
        """Start scoring; the future yields ``(scores, seconds)``."""
        if self.reward == "majority":
            job: Callable[[], tuple[list[float], float]] = lambda: majority_rewards(texts, self.n_samples)  # noqa: E731
        else:
            job = lambda: score_batch(texts, ground_truths, abilities, error_score=self.error_score)  # noqa: E731
        if self._pool is not None:
            return self._pool.submit(job)
        fut: Future = Future()
        fut.set_result(job())
        return fut

    def close(self) -> None:
        """Stop the background thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
