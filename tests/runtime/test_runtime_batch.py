"""The rollout batch: rows taken from several padded batches and concatenated are exactly the batch built
from those rows' token lists (so the trainer builds each row's tensors once, in its generation round)."""

from __future__ import annotations

import random

import pytest
import torch

from prime_fast.runtime.batch import build_batch, concat_batches, pad_rows

PAD, EOS = 0, 1


def _rows(rng: random.Random, n: int) -> tuple[list[list[int]], list[list[int]]]:
    prompts = [[rng.randrange(2, 50) for _ in range(rng.randrange(1, 9))] for _ in range(n)]
    responses = []
    for _ in range(n):
        r = [rng.randrange(2, 50) for _ in range(rng.randrange(0, 11))]
        responses.append([*r, EOS] if rng.random() < 0.7 else r or [EOS])
    return prompts, responses


@pytest.mark.parametrize("seed", range(6))
def test_concatenated_rows_equal_a_fresh_build(seed: int) -> None:
    rng = random.Random(seed)
    rounds = [_rows(rng, rng.randrange(2, 7)) for _ in range(3)]
    built = [build_batch(p, r, pad_token_id=PAD, eos_token_id=EOS) for p, r in rounds]
    picks = [sorted(rng.sample(range(b.size), rng.randrange(1, b.size + 1))) for b in built]
    got = concat_batches([b.rows(torch.tensor(i)) for b, i in zip(built, picks)], pad_token_id=PAD)
    want = build_batch(
        [p[i] for (p, _), idx in zip(rounds, picks) for i in idx],
        [r[i] for (_, r), idx in zip(rounds, picks) for i in idx],
        pad_token_id=PAD,
        eos_token_id=EOS,
    )
    assert got.prompt_len == want.prompt_len
    for f in ("input_ids", "attention_mask", "position_ids", "responses", "response_mask"):
        assert torch.equal(getattr(got, f), getattr(want, f)), f


def test_pad_rows_and_errors() -> None:
    out = pad_rows([torch.ones(2, 3), torch.full((1, 5), 2.0)], 6)
    assert out.shape == (3, 6) and out[:2, 3:].eq(0).all() and out[2, :5].eq(2).all() and out[2, 5] == 0
    with pytest.raises(ValueError, match="at least one batch"):
        concat_batches([], pad_token_id=PAD)
