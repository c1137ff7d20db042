"""The samples of generation rounds and the one batch the update runs on.

A round builds its rows' tensors once (:func:`~prime_fast.runtime.batch.build_batch`) to compute the old
log-probs while the verifier scores the responses; each :class:`Sample` keeps its row of that batch and of
those log-probs. The samples kept for a step (possibly from several rounds, gathered from every rank) are
concatenated into the step's batch by :func:`step_batch`: the same tensors a fresh build would give.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        old_logp: ``(1, T_round)`` the rollout policy's log-probs of its tokens (0 past its end).
    """

    prompt: Prompt
    response: list[int]
    truncated: bool
    acc: float
    row: Batch
    old_logp: torch.Tensor


Rollouts = list[Sample]
"""The samples of one or more generation rounds, in contiguous groups of K per prompt."""


def round_samples(
    prompts: list[Prompt],
    responses: list[list[int]],
    truncated: list[bool],
    acc: list[float],
    batch: Batch,
    old_logp: torch.Tensor,
) -> Rollouts:
    """The samples of one round: row ``i`` of ``batch`` and ``old_logp`` is response ``i`` (rows past the
    responses, e.g. a rank's filler rows, are dropped)."""
    out = []
    for i, (p, resp, trunc, a) in enumerate(zip(prompts, responses, truncated, acc, strict=True)):
        own = batch.rows(slice(i, i + 1)).copy()
        out.append(Sample(p, resp, trunc, float(a), own, old_logp[i : i + 1].clone()))
    return out


def step_batch(
    samples: Rollouts, *, pad_token_id: int
) -> tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(batch, old_logp, acc, mask)`` of the given samples, from their rows (no rebuild from token ids);
    ``batch.extra["data_source"]`` holds each row's data source."""
    batch = concat_batches([s.row for s in samples], pad_token_id=pad_token_id)
    t = batch.responses.shape[1]
    old_logp = pad_rows([s.old_logp[:, :t] for s in samples], t).float()
    acc = torch.tensor([s.acc for s in samples], dtype=torch.float32)
    batch.extra["data_source"] = [s.prompt.data_source for s in samples]
    return batch, old_logp, acc, batch.response_mask.bool()


__all__ = ["Rollouts", "Sample", "round_samples", "step_batch"]
