"""Step scores, first-error prediction, ProcessBench F1, AUC and min-form credit against plain-Python references."""

from __future__ import annotations

import math
import random

import pytest
import torch

from prime_fast import algos
from prime_fast.errors import UnsupportedInputError


def _random_steps(rng: random.Random, b: int, t: int) -> torch.Tensor:
    rows = []
    for _ in range(b):
        ids, step = [], -1
        for _ in range(t):
            r = rng.random()
            if r < 0.15:
                ids.append(-1)
                continue
            if r < 0.45 or step < 0:
                step += 1
            ids.append(step)
        rows.append(ids)
    return torch.tensor(rows)


@pytest.mark.parametrize("reduce", ["sum", "min"])
def test_step_scores_match_python(reduce):
    rng = random.Random(0)
    for trial in range(20):
        b, t = rng.randint(1, 5), rng.randint(1, 12)
        q = torch.randn(b, t, dtype=torch.float64) * (10 if trial % 2 else 0.1)
        ids = _random_steps(rng, b, t)
        scores, mask = algos.step_scores(q, ids, reduce=reduce)
        n = max(int(ids.max()) + 1, 1)
        assert scores.shape == mask.shape == (b, n)
        for i in range(b):
            for s in range(n):
                vals = [float(q[i, j]) for j in range(t) if int(ids[i, j]) == s]
                assert bool(mask[i, s]) == bool(vals)
                want = (sum(vals) if reduce == "sum" else min(vals)) if vals else 0.0
                assert math.isclose(float(scores[i, s]), want, rel_tol=1e-5, abs_tol=1e-5)


def test_step_scores_bad_input():
    q = torch.zeros(2, 3)
    with pytest.raises(UnsupportedInputError, match="step_ids"):
        algos.step_scores(q, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(UnsupportedInputError, match="reduce"):
        algos.step_scores(q, torch.zeros(2, 3, dtype=torch.long), reduce="mean")
    with pytest.raises(UnsupportedInputError, match="integers"):
        algos.step_scores(q, torch.zeros(2, 3))


def _py_first_error(row, mrow, thr):
    for j, (v, m) in enumerate(zip(row, mrow)):
        if m and v < thr:
            return j
    return -1


def test_predict_first_error_and_f1():
    rng = random.Random(1)
    scores = torch.randn(40, 6)
    mask = torch.rand(40, 6) > 0.2
    label = torch.tensor([rng.choice([-1, -1, 0, 1, 2, 5]) for _ in range(40)])
    for thr in (-1.0, -0.3, 0.0, 0.5):
        pred = algos.predict_first_error(scores, mask, thr)
        want = [_py_first_error(scores[i].tolist(), mask[i].tolist(), thr) for i in range(40)]
        assert pred.tolist() == want
        m = algos.first_error_f1(pred, label)
        err = [i for i in range(40) if label[i] >= 0]
        ok = [i for i in range(40) if label[i] == -1]
        a_err = sum(want[i] == int(label[i]) for i in err) / len(err)
        a_ok = sum(want[i] == -1 for i in ok) / len(ok)
        f1 = 0.0 if a_err == 0 or a_ok == 0 else 2 * a_err * a_ok / (a_err + a_ok)
        assert math.isclose(m["acc_error"], a_err) and math.isclose(m["acc_correct"], a_ok)
        assert math.isclose(m["f1"], f1)


def test_fit_threshold_is_optimal_on_its_split():
    torch.manual_seed(0)
    scores = torch.randn(30, 4)
    mask = torch.ones(30, 4, dtype=torch.bool)
    label = torch.randint(-1, 4, (30,))
    t = algos.fit_threshold(scores, mask, label)
    best = algos.first_error_f1(algos.predict_first_error(scores, mask, t), label)["f1"]
    for cand in torch.linspace(-4, 4, 161).tolist():
        f1 = algos.first_error_f1(algos.predict_first_error(scores, mask, cand), label)["f1"]
        assert f1 <= best + 1e-12


def test_first_error_f1_perfect_separation():
    scores = torch.tensor([[1.0, -5.0, 1.0], [1.0, 1.0, 1.0], [-3.0, 1.0, 1.0]])
    mask = torch.ones(3, 3, dtype=torch.bool)
    label = torch.tensor([1, -1, 0])
    t = algos.fit_threshold(scores, mask, label)
    assert algos.first_error_f1(algos.predict_first_error(scores, mask, t), label)["f1"] == 1.0


def test_outcome_auc_matches_pair_count():
    rng = random.Random(2)
    for _ in range(10):
        n = rng.randint(2, 30)
        s = [rng.choice([0.0, 0.5, 1.0, rng.random()]) for _ in range(n)]
        y = [rng.random() < 0.5 for _ in range(n)]
        if all(y) or not any(y):
            assert math.isnan(algos.outcome_auc(torch.tensor(s), torch.tensor(y, dtype=torch.float)))
            continue
        pairs = [(a, b) for a, ya in zip(s, y) if ya for b, yb in zip(s, y) if not yb]
        want = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
        got = algos.outcome_auc(torch.tensor(s), torch.tensor(y, dtype=torch.float))
        assert math.isclose(got, want, rel_tol=1e-12)


def test_min_form_credit_tends_to_min_and_masks():
    torch.manual_seed(3)
    r = torch.randn(5, 7, dtype=torch.float64)
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    out = algos.min_form_credit(r, mask, temperature=1e-3)
    assert torch.all(out[~mask] == 0)
    for i in range(5):
        assert math.isclose(float(out[i].sum()), float(r[i][mask[i]].min()), abs_tol=1e-6)
    # Large temperature: uniform weights -> the mean.
    out = algos.min_form_credit(r, mask, temperature=1e6)
    for i in range(5):
        assert math.isclose(float(out[i].sum()), float(r[i][mask[i]].mean()), rel_tol=1e-4)
    with pytest.raises(UnsupportedInputError, match="temperature"):
        algos.min_form_credit(r, mask, temperature=0.0)
