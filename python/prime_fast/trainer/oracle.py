"""Step labels in the reward path: the oracle PRM (``prm.mode = oracle``) and the step ids of ``step`` credit.

``prm.mode = oracle`` replaces the implicit PRM's scores by the process rewards of *perfect* step
labels, from the step labeller registered for each row's data source
(:func:`~prime_fast.trainer.prm_quality.register_step_labeller`), so that a run shows the ceiling of
dense credit on a task before anyone pays for a PRM. The documented form, per response: ``-1`` spread
evenly over the ``n`` tokens of its first wrong step (``-1/n`` each), ``0`` on every other token, and
``0`` everywhere for a response with no wrong step (a row's summed score is ``-1`` exactly when it has
a wrong step). If the first wrong step has no token in the row (a labeller/tokeniser mismatch), the
``-1`` goes on the row's last valid token. Credit form and normalisation follow as for any scores.

``prm.oracle_penalty = p`` puts ``-p`` in place of ``-1`` (``-p/n`` per token), the weight of the dense
term against the outcome term (whose leave-one-out advantage is at most 1 in size). PRIME's
``prm.norm = batch_norm`` divides the scores by their largest absolute return, which cancels any
scale, so the option needs ``prm.norm = none`` (a ConfigError otherwise): with ``none`` and ``step``
credit each token of the first wrong step gets ``-p`` (benches/RESULTS.md, issue 21, "Oracle weight").

With ``prm.oracle_learned = true`` a learned implicit PRM is kept alongside: it trains as in
``separate`` mode and its metrics are logged, but its scores are not used.
"""

from __future__ import annotations

from typing import Any

import torch

from prime_fast.algos import last_token_mask
from prime_fast.errors import UnsupportedInputError
from prime_fast.runtime.batch import Batch
from prime_fast.trainer.prm_quality import STEP_LABELLERS, step_labels
from prime_fast.trainer.schema import TrainConfig

Labels = tuple[torch.Tensor, torch.Tensor]
"""``(step_ids (N, T), first_error (N,))`` as :func:`~prime_fast.trainer.prm_quality.step_labels` gives."""


def batch_step_labels(tokenizer: Any, batch: Batch, width: int) -> Labels | None:
    """The step labels of a batch's responses (None unless every row's data source has a labeller)."""
    resp = [row[: int(n)] for row, n in zip(batch.responses.tolist(), batch.response_mask.sum(1).tolist())]
    texts = tokenizer.batch_decode(resp, skip_special_tokens=True)
    prompts = tokenizer.batch_decode(batch.input_ids[:, : batch.prompt_len], skip_special_tokens=True)
    return step_labels(tokenizer, prompts, texts, resp, batch.extra.get("data_source", []), width)


def oracle_scores(
    step_ids: torch.Tensor, first_error: torch.Tensor, mask: torch.Tensor, penalty: float = 1.0
) -> torch.Tensor:
    """The oracle's ``(N, T)`` float32 process scores (module docstring): ``-penalty/n`` on each of the
    ``n`` valid tokens of a row's first wrong step (``first_error[i] >= 0``), 0 elsewhere."""
    if not penalty > 0:
        raise UnsupportedInputError(f"penalty must be a positive number, got {penalty!r}")
    m = mask.bool()
    fe = first_error.to(step_ids.device).long()
    wrong = fe >= 0
    in_step = (step_ids == fe[:, None]) & m & wrong[:, None]
    n = in_step.sum(1, keepdim=True)
    # a wrong row whose first wrong step has no token: the penalty goes on its last valid token
    fallback = last_token_mask(m) & (wrong & (n[:, 0] == 0))[:, None]
    hit = in_step | fallback
    n = hit.sum(1, keepdim=True).clamp_min(1)
    return torch.where(hit, -float(penalty) / n.float(), torch.zeros_like(m, dtype=torch.float32))


def _require(labels: Labels | None, sources: list[str], what: str) -> Labels:
    if labels is not None:
        return labels
    missing = sorted({s for s in sources if s not in STEP_LABELLERS}) or ["<none given>"]
    raise RuntimeError(
        f"{what} needs step labels, but data source(s) {', '.join(missing)} have no step labeller "
        "(register one with prime_fast.trainer.prm_quality.register_step_labeller)"
    )


def reward_inputs(
    cfg: TrainConfig, scores: torch.Tensor, labels: Labels | None, batch: Batch
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The scores the credit form receives (the oracle's with ``prm.mode = oracle``, else the PRM's) and
    the step ids ``algo.process_credit = step`` needs (None when it is not asked for)."""
    sources = list(batch.extra.get("data_source", []))
    mask = batch.response_mask.to(scores.device)
    step_ids = None
    if cfg.algo.process_credit == "step":
        step_ids = _require(labels, sources, "algo.process_credit = 'step'")[0].to(scores.device)
    if cfg.prm.mode == "oracle":
        ids, first = _require(labels, sources, "prm.mode = 'oracle'")
        scores = oracle_scores(ids.to(scores.device), first, mask, cfg.prm.oracle_penalty)
    return scores, step_ids


def learned_prm_metrics(cfg: TrainConfig) -> bool:
    """Whether the PRM's own scores mean anything to log (not for an oracle run without a learned PRM)."""
    return cfg.prm.mode != "oracle" or cfg.prm.oracle_learned


__all__ = ["Labels", "batch_step_labels", "learned_prm_metrics", "oracle_scores", "reward_inputs"]
