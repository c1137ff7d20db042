"""Benchmark metrics from per-sample verdicts (pure python, no torch).

Definitions (docs/EVAL.md, "Metrics"):

- greedy pass@1: share of problems whose greedy (temperature 0) response is correct;
- avg@n: mean correctness over all ``n`` samples of every problem (the authors' avg@16);
- pass@k: Chen et al. (2021)'s unbiased estimator ``1 - C(n-c, k) / C(n, k)`` per problem,
  averaged; computed as the product ``prod_{i=n-c+1}^{n} (1 - k / i)`` (no large binomials);
- maj@k: majority vote over the answers of the first ``k`` samples, answer groups from the verifier;
- PRM best-of-k: the sample with the highest PRM score among the first ``k`` decides;
- PRM weighted best-of-k: answer groups weighted by ``sigmoid(PRM score)``, the heaviest group decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from prime_fast.errors import UnsupportedInputError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` correct among ``n`` samples (Chen et al. 2021).

    ``1 - C(n - c, k) / C(n, k)``, computed as ``1 - prod_{i = n-c+1}^{n} (1 - k / i)``; 1.0 when
    ``n - c < k`` (every k-subset holds a correct sample).
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise UnsupportedInputError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (nan for no values)."""
    return float(sum(values) / len(values)) if values else math.nan


def avg_at_n(correct: Sequence[Sequence[bool]]) -> float:
    """Mean correctness over every sample of every problem."""
    return mean([mean([float(x) for x in row]) for row in correct])


def mean_pass_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over problems (each problem's ``n`` is its own sample count)."""
    return mean([pass_at_k(len(row), sum(bool(x) for x in row), k) for row in correct])


def majority_pick(groups: Sequence[int | None], weights: Sequence[float] | None = None) -> int | None:
    """The index of the sample whose answer group wins the vote (None when no sample has an answer).

    ``groups[i]`` is sample ``i``'s answer group (None: no answer, no vote). Each vote counts 1, or
    ``weights[i]``; ties go to the group whose first member comes first. Returns that first member.
    """
    total: dict[int, float] = {}
    first: dict[int, int] = {}
    for i, g in enumerate(groups):
        if g is None:
            continue
        total[g] = total.get(g, 0.0) + (1.0 if weights is None else float(weights[i]))
        first.setdefault(g, i)
    if not total:
        return None
    best = max(total, key=lambda g: (total[g], -first[g]))
    return first[best]


def maj_at_k(correct: Sequence[Sequence[bool]], groups: Sequence[Sequence[int | None]], k: int) -> float:
    """maj@k: per problem, the majority answer among the first ``k`` samples is scored."""
    hits = []
    for c_row, g_row in zip(correct, groups, strict=True):
        pick = majority_pick(g_row[:k])
        hits.append(0.0 if pick is None else float(c_row[pick]))
    return mean(hits)


def best_of_k(correct: Sequence[Sequence[bool]], scores: Sequence[Sequence[float | None]], k: int) -> float:
    """PRM best-of-k: the first-``k`` sample with the highest score (first on ties; None never wins)."""
    hits = []
    for c_row, s_row in zip(correct, scores, strict=True):
        cand = [(s, -i) for i, s in enumerate(s_row[:k]) if s is not None and not math.isnan(s)]
        hits.append(float(c_row[-max(cand)[1]]) if cand else 0.0)
    return mean(hits)


def sigmoid(x: float) -> float:
    """A numerically safe logistic function."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def weighted_best_of_k(
    correct: Sequence[Sequence[bool]],
    groups: Sequence[Sequence[int | None]],
    scores: Sequence[Sequence[float | None]],
    k: int,
) -> float:
    """PRM-weighted majority vote over the first ``k`` samples (weight ``sigmoid(score)``)."""
    hits = []
    for c_row, g_row, s_row in zip(correct, groups, scores, strict=True):
        w = [0.0 if s is None or math.isnan(s) else sigmoid(s) for s in s_row[:k]]
        pick = majority_pick(g_row[:k], w)
        hits.append(0.0 if pick is None else float(c_row[pick]))
    return mean(hits)
