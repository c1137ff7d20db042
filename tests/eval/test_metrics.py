"""Metric definitions against brute-force enumeration and hand-checked cases."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from prime_fast.errors import UnsupportedInputError
from prime_fast.eval import metrics as M


def brute_pass_at_k(outcomes: list[bool], k: int) -> float:
    """Share of all k-subsets of the samples that contain a correct one."""
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_pass_at_k_equals_enumeration(n):
    rng = random.Random(n)
    for _ in range(6):
        outcomes = [rng.random() < 0.4 for _ in range(n)]
        c = sum(outcomes)
        for k in range(1, n + 1):
            assert M.pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(outcomes, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) overflows floats; the product form does not.
    v = M.pass_at_k(1000, 3, 500)
    exact = 1 - math.comb(997, 500) / math.comb(1000, 500)
    assert v == pytest.approx(exact, rel=1e-12)
    assert M.pass_at_k(16, 0, 16) == 0.0 and M.pass_at_k(16, 1, 16) == 1.0


def test_pass_at_k_rejects_bad_arguments():
    for args in ((4, 5, 1), (4, 1, 5), (4, 1, 0)):
        with pytest.raises(UnsupportedInputError, match="pass_at_k"):
            M.pass_at_k(*args)


def test_majority_pick_counts_groups_and_breaks_ties_by_first_member():
    assert M.majority_pick([0, 1, 1, 0, 2, 1]) == 1  # group 1 has three votes, first member index 1
    assert M.majority_pick([3, 3, 5, 5]) == 0  # tie: the group seen first wins
    assert M.majority_pick([None, None]) is None
    assert M.majority_pick([0, 1, 1], weights=[0.9, 0.2, 0.3]) == 0  # weighted vote


def test_maj_and_best_of_k_use_only_the_first_k_samples():
    correct = [[False, True, True, False]]
    groups = [[0, 1, 1, 0]]
    assert M.maj_at_k(correct, groups, 1) == 0.0
    assert M.maj_at_k(correct, groups, 3) == 1.0
    scores = [[0.1, -2.0, 5.0, 9.0]]
    assert M.best_of_k(correct, scores, 2) == 0.0
    assert M.best_of_k(correct, scores, 3) == 1.0
    assert M.best_of_k(correct, scores, 4) == 0.0
    # weighted: group 0 weight sigmoid(0.1)+sigmoid(9) ~ 1.52 beats group 1 sigmoid(-2)+sigmoid(5) ~ 1.11
    assert M.weighted_best_of_k(correct, groups, scores, 4) == 0.0
    assert M.weighted_best_of_k(correct, groups, [[0.1, 3.0, 5.0, -9.0]], 4) == 1.0
