"""Outcome verification by ability (``prime_fast.verify.score``), optionally in a background thread.

The Rust verifiers release the GIL, so scoring runs while the main thread computes log-probs; the
loop only waits for whatever is left afterwards (the exposed verification time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prime_fast.verify import CodeResult, group_equivalent, score, verify_code_batch, verify_math_batch
from prime_fast.verify.code import extract_code
from prime_fast.verify.scoring import CODE_ABILITIES

log = logging.getLogger(__name__)


def score_all(
    texts: list[str], ground_truths: list[Any], abilities: list[str], *, error_score: float = 0.0
) -> tuple[list[float], float]:
    """Score every response; returns ``(scores, seconds)``.

    Math rows with a single string reference go through one ``verify_math_batch`` call (Rust, GIL
    released, parallel); code rows with dict or JSON-string tests through one ``verify_code_batch``
    call (one pool of sandboxed workers for the whole round); every other row through
    ``prime_fast.verify.score`` by ability. A row whose verifier raises, whose reference cannot be
    parsed (``None``) or whose tests are malformed scores ``error_score`` (``verify.error_score``)
    and is logged; one bad row never changes the others (unlike PRIME's whole-batch 0.5). A code
    row whose program times out is not an error: it gets its tests' partial credit like any failure.
    """
    t0 = time.perf_counter()
    out: list[float | None] = [None] * len(texts)
    kinds = [ab.lower() if isinstance(ab, str) else "" for ab in abilities]
    math_rows = [i for i, gt in enumerate(ground_truths) if kinds[i] == "math" and isinstance(gt, str)]

    def texts_of(rows: list[int]) -> list[str]:
        return [texts[i] for i in rows]

    def golds_of(rows: list[int]) -> list[Any]:
        return [ground_truths[i] for i in rows]

    code_rows = [
        i for i, gt in enumerate(ground_truths) if kinds[i] in CODE_ABILITIES and isinstance(gt, str | dict)
    ]
    done = _score_batch(
        "math", math_rows, out, lambda r: [v.score for v in verify_math_batch(texts_of(r), golds_of(r))]
    )
    done |= _score_batch(
        "code",
        code_rows,
        out,
        lambda r: [
            _code_score(c) for c in verify_code_batch([extract_code(t) for t in texts_of(r)], golds_of(r))
        ],
    )
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


def _score_batch(
    kind: str, rows: list[int], out: list[float | None], run: Callable[[list[int]], list[float | None]]
) -> set[int]:
    """Score ``rows`` with one batch verifier call ``run``; the rows it handled (none if it failed:
    they are then scored one by one)."""
    if not rows:
        return set()
    try:
        scores = run(rows)
    except Exception as e:
        log.warning("batch %s verification failed (%s: %s); scoring row by row", kind, type(e).__name__, e)
        return set()
    for i, sc in zip(rows, scores):
        out[i] = sc
    return set(rows)


def _code_score(result: CodeResult) -> float | None:
    """PRIME's partial credit of a code result; None (an error) for malformed tests."""
    if result.status == "invalid_input":
        log.warning("malformed code tests on one row: %s", result.reason)
        return None
    return float(result.score)


def majority_rewards(texts: list[str], n_samples: int) -> tuple[list[float], float]:
    """Label-free rewards (TTRL, arXiv 2504.16084): within each contiguous group of ``n_samples``
    responses, 1 for a response whose answer is in the group's largest answer cluster
    (:func:`prime_fast.verify.group_equivalent`; ties: the cluster seen first), else 0; a response
    without a readable answer gets 0. Returns ``(rewards, seconds)``."""
    t0 = time.perf_counter()
    out: list[float] = []
    for g in range(0, len(texts), n_samples):
        ids = group_equivalent(texts[g : g + n_samples])
        sizes: dict[int, int] = {}
        for c in ids:
            if c >= 0:
                sizes[c] = sizes.get(c, 0) + 1
        best = max(sizes, key=lambda c: (sizes[c], -c)) if sizes else None
        out += [1.0 if best is not None and c == best else 0.0 for c in ids]
    return out, time.perf_counter() - t0


class Verifier:
    """Runs :func:`score_all` (``reward = "verifier"``) or :func:`majority_rewards` (``"majority"``:
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
            job = lambda: score_all(texts, ground_truths, abilities, error_score=self.error_score)  # noqa: E731
        if self._pool is not None:
            return self._pool.submit(job)
        fut: Future = Future()
        fut.set_result(job())
        return fut

    def close(self) -> None:
        """Stop the background thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
