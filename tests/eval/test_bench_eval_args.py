"""``prime-fast bench eval --n 4`` works: the default k of pass@k/maj@k follows ``--n`` (issue #22, defect 8)."""

from __future__ import annotations

import pytest

from benches import bench_eval


@pytest.mark.parametrize(
    ("n", "requested", "want"),
    [
        pytest.param(16, None, (1, 4, 16), id="default-16"),
        pytest.param(4, None, (1, 4), id="default-4"),
        pytest.param(3, None, (1,), id="default-3"),
        pytest.param(8, "1,2,8", (1, 2, 8), id="explicit"),
    ],
)
def test_default_k_follows_n(n: int, requested: str | None, want: tuple[int, ...]) -> None:
    assert bench_eval.resolve_ks(n, requested) == want


def test_k_above_n_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"--k 16 is above --n 4"):
        bench_eval.resolve_ks(4, "1,16")


def test_scoring_part_runs_with_n_4() -> None:
    res = bench_eval.part_a(problems=6, n=4, repeats=1, ks=bench_eval.resolve_ks(4, None))
    assert set(res["metrics"]) == {"avg@4", "pass@1", "pass@4", "maj@1", "maj@4"}
    assert res["responses"] == 24
