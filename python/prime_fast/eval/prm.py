"""Implicit PRM scores of responses: ``beta * log pi_prm / pi_ref`` per token, reduced per response.

- ``reduce = "sum"``: the outcome reward of the implicit PRM, ``beta * sum_t log pi_prm/pi_ref``
  over the response tokens;
- ``reduce = "min"``: the smallest step score, a step's score being ``beta * sum`` over its tokens
  (:func:`prime_fast.algos.step_scores`); steps end where the response text has the separator
  (default a blank line, ``"\\n\\n"``).

Log-probs come from the trainer's fused path (:func:`prime_fast.runtime.models.batched_logprobs`
through :func:`prime_fast.ops.linear_token_logprobs`), in micro-batches of ``micro_batch_size`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from prime_fast.constants import PRM_BETA
from prime_fast.errors import ConfigError

REDUCTIONS = ("sum", "min")


@dataclass
class ImplicitPRM:
    """A PRM and its reference (same tokenizer), with the reward scale and the reduction."""

    prm: Any
    ref: Any
    beta: float = PRM_BETA
    reduce: str = "sum"
    step_sep: str = "\n\n"
    micro_batch_size: int = 8

    def __post_init__(self) -> None:
        if self.reduce not in REDUCTIONS:
            raise ConfigError(f"--prm-reduce must be one of {', '.join(REDUCTIONS)}, got {self.reduce!r}")


def load_implicit_prm(prm_path: str, ref_path: str, *, dtype: str, tokenizer: Any, **kw: Any) -> ImplicitPRM:
    """Load the PRM and its reference (checked to share the policy's tokenizer)."""
    from prime_fast.runtime.models import check_same_tokenizer, load_causal_lm, load_tokenizer

    for what, path in (("--prm", prm_path), ("--ref", ref_path)):
        check_same_tokenizer(tokenizer, load_tokenizer(path), f"{what} {path}")
    prm = load_causal_lm(prm_path, dtype, trainable=False)
    ref = load_causal_lm(ref_path, dtype, trainable=False)
    if torch.cuda.is_available():
        prm, ref = prm.cuda(), ref.cuda()
    return ImplicitPRM(prm, ref, **kw)


def step_ids_of(pieces: Sequence[str], sep: str) -> list[int]:
    """Step index of every token from its decoded text: a step ends with the token that completes ``sep``."""
    ids = []
    step = 0
    tail = ""
    keep = max(len(sep) - 1, 0)
    for piece in pieces:
        ids.append(step)
        window = tail + piece
        if sep and sep in window:
            step += 1
            tail = ""
        else:
            tail = window[-keep:] if keep else ""
    return ids


def token_q(
    model: ImplicitPRM,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    pad: int,
    eos: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, mask)``: ``beta * (log pi_prm - log pi_ref)`` per response token, ``(N, T)`` float32, on the CPU."""
    from prime_fast.ops import implicit_process_rewards
    from prime_fast.runtime.batch import build_batch
    from prime_fast.runtime.models import batched_logprobs

    batch = build_batch(
        [list(p) for p in prompt_ids], [list(r) for r in response_ids], pad_token_id=pad, eos_token_id=eos
    )
    mb = model.micro_batch_size
    logp = batched_logprobs(model.prm, batch, mb)
    ref = batched_logprobs(model.ref, batch, mb)
    assert isinstance(logp, torch.Tensor) and isinstance(ref, torch.Tensor)
    mask = batch.response_mask.bool()
    return implicit_process_rewards(logp, ref, mask, beta=model.beta), mask


def score_responses(
    model: ImplicitPRM,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    *,
    chunk: int = 64,
) -> list[float | None]:
    """One PRM score per (prompt, response) row (None for an empty response)."""
    pad, eos = int(tokenizer.pad_token_id), int(tokenizer.eos_token_id)
    out: list[float | None] = [None] * len(response_ids)
    rows = [i for i, r in enumerate(response_ids) if r]
    for s in range(0, len(rows), chunk):
        idx = rows[s : s + chunk]
        q, mask = token_q(
            model, [prompt_ids[i] for i in idx], [response_ids[i] for i in idx], pad=pad, eos=eos
        )
        if model.reduce == "sum":
            vals = q.sum(1).tolist()
        else:
            steps = torch.full(q.shape, -1, dtype=torch.long)
            for j, i in enumerate(idx):
                pieces = [tokenizer.decode([t]) for t in response_ids[i]]
                steps[j, : len(pieces)] = torch.tensor(step_ids_of(pieces, model.step_sep))
            steps = torch.where(mask, steps, torch.full_like(steps, -1))
            vals = reduce_min_step(q, steps)
        for i, v in zip(idx, vals, strict=True):
            out[i] = float(v)
    return out


def reduce_min_step(q: torch.Tensor, step_ids: torch.Tensor) -> list[float]:
    """The smallest step score of each row (:func:`prime_fast.algos.step_scores` with ``sum`` inside steps)."""
    from prime_fast.algos import step_scores

    scores, step_mask = step_scores(q, step_ids, reduce="sum")
    inf = torch.full_like(scores, float("inf"))
    return torch.where(step_mask, scores, inf).min(1).values.tolist()
