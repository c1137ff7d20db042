"""The samples of generation rounds and the one batch the update runs on.

A round builds its rows' tensors once (:func:`~prime_fast.runtime.batch.build_batch`) to compute the old
log-probs while the verifier scores the responses; each :class:`Sample` keeps its row of that batch and of
those log-probs. The samples kept for a step (possibly from several rounds, gathered from every rank) are
concatenated into the step's batch by :func:`step_batch`: the same tensors a fresh build would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from prime_fast.runtime.batch import Batch, concat_batches, pad_rows
from prime_fast.runtime.prompts import Prompt


@dataclass
class Sample:
    """One response of a rollout with what the step needs from it.

    Args:
        prompt: the prompt it answers.
        response: its token ids (up to and including EOS).
        truncated: it hit ``rollout.max_tokens`` without EOS.
        acc: the verifier's score.
        row: its one-row :class:`Batch` (its own storage: a sample is sent between ranks).
        old_logp: ``(1, T_round)`` the rollout policy's log-probs of its tokens (0 past its end), or None
            when the round did not compute them (:func:`~prime_fast.trainer.sizes.old_logprobs_in_round`).
    """

    prompt: Prompt
    response: list[int]
    truncated: bool
    acc: float
    row: Batch
    old_logp: torch.Tensor | None


Rollouts = list[Sample]
"""The samples of one or more generation rounds, in contiguous groups of K per prompt."""


def round_samples(
    prompts: list[Prompt],
    responses: list[list[int]],
    truncated: list[bool],
    acc: list[float],
    batch: Batch,
    old_logp: torch.Tensor | None,
) -> Rollouts:
    """The samples of one round: row ``i`` of ``batch`` and ``old_logp`` (None: not computed) is response
    ``i`` (rows past the responses, e.g. a rank's filler rows, are dropped)."""
    out = []
    for i, (p, resp, trunc, a) in enumerate(zip(prompts, responses, truncated, acc, strict=True)):
        own = batch.rows(slice(i, i + 1)).copy()
        old = None if old_logp is None else old_logp[i : i + 1].clone()
        out.append(Sample(p, resp, trunc, float(a), own, old))
    return out


def step_batch(
    samples: Rollouts, *, pad_token_id: int
) -> tuple[Batch, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(batch, old_logp, acc, mask)`` of the given samples, from their rows (no rebuild from token ids);
    ``old_logp`` is None unless every sample has its own. ``batch.extra["data_source"]`` holds each row's
    data source."""
    batch = concat_batches([s.row for s in samples], pad_token_id=pad_token_id)
    t = batch.responses.shape[1]
    olds = [s.old_logp for s in samples]
    have = [o for o in olds if o is not None]
    old_logp = pad_rows([o[:, :t] for o in have], t).float() if len(have) == len(olds) else None
    acc = torch.tensor([s.acc for s in samples], dtype=torch.float32)
    batch.extra["data_source"] = [s.prompt.data_source for s in samples]
    return batch, old_logp, acc, batch.response_mask.bool()


def rollout_metrics(seen: Rollouts, n_groups: int, n_pass: int, rounds: int) -> dict[str, float]:
    """What a step's generation rounds produced: accuracy (overall and per ability), the filter's pass
    rate over ``n_groups`` prompt groups, rounds, response lengths and truncation."""
    lengths = [len(s.response) for s in seen]
    m: dict[str, float] = {
        "train/acc": float(np.mean([s.acc for s in seen])),
        "filter/pass_rate": n_pass / max(n_groups, 1),
        "filter/rounds": float(rounds),
        "response/length_mean": float(np.mean(lengths)),
        "response/length_max": float(np.max(lengths)),
        "response/truncated_frac": sum(s.truncated for s in seen) / max(len(seen), 1),
    }
    for ab in sorted({s.prompt.ability for s in seen}):
        m[f"train/acc/{ab}"] = float(np.mean([s.acc for s in seen if s.prompt.ability == ab]))
    return m


__all__ = ["Rollouts", "Sample", "rollout_metrics", "round_samples", "step_batch"]
