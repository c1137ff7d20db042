"""Outcome verification by ability (``prime_fast.verify.score``), optionally in a background thread.

The Rust verifiers release the GIL, so scoring runs while the main thread computes log-probs; the
loop only waits for whatever is left afterwards (the exposed verification time).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


def score_all(
    texts: list[str], ground_truths: list[Any], abilities: list[str], *, error_score: float = 0.0
) -> tuple[list[float], float]:
    """Score every response; returns ``(scores, seconds)``.

    Math rows with a single string reference go through one ``verify_math_batch`` call (Rust, GIL
    released, parallel); every other row through ``prime_fast.verify.score`` by ability. A row whose
    verifier raises, or whose reference cannot be parsed (``None``), scores ``error_score`` and is
    logged; one bad row never changes the others (unlike PRIME's whole-batch 0.5).
    """
    from prime_fast.verify import score, verify_math_batch

    t0 = time.perf_counter()
    out: list[float | None] = [None] * len(texts)
    math_rows = [
        i
        for i, (gt, ab) in enumerate(zip(ground_truths, abilities))
        if ab.lower() == "math" and isinstance(gt, str)
    ]
    if math_rows:
        try:
            verdicts = verify_math_batch([texts[i] for i in math_rows], [ground_truths[i] for i in math_rows])
            for i, v in zip(math_rows, verdicts):
                out[i] = v.score
        except Exception as e:
            log.warning("batch math verification failed (%s: %s); scoring row by row", type(e).__name__, e)
            math_rows = []
    done = set(math_rows)
    for i, (text, gt, ab) in enumerate(zip(texts, ground_truths, abilities)):
        if i in done:
            continue
        try:
            out[i] = score(text, gt, ab)
        except Exception as e:  # a verifier failure is one row's problem
            log.warning(
                "verifier failed on one row (%s: %s); scoring it %.2f", type(e).__name__, e, error_score
            )
    return [float(error_score if s is None else s) for s in out], time.perf_counter() - t0


class Verifier:
    """Runs :func:`score_all` in one background thread (``overlap=True``) or inline."""

    def __init__(self, *, overlap: bool, error_score: float = 0.0) -> None:
        self.overlap = overlap
        self.error_score = error_score
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prime-fast-verify") if overlap else None
        )

    def submit(self, texts: list[str], ground_truths: list[Any], abilities: list[str]) -> Future:
        """Start scoring; the future yields ``(scores, seconds)``."""
        if self._pool is not None:
            return self._pool.submit(score_all, texts, ground_truths, abilities, error_score=self.error_score)
        fut: Future = Future()
        fut.set_result(score_all(texts, ground_truths, abilities, error_score=self.error_score))
        return fut

    def close(self) -> None:
        """Stop the background thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
