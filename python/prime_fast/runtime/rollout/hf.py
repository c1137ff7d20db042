"""Rollouts with batched HF ``generate`` (CPU or one GPU): the in-process :class:`RolloutBackend`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.runtime.rollout.base import RolloutBatch, SamplingConfig


class HFRolloutBackend:
    """Samples from an HF causal LM with ``model.generate``.

    The K samples of a prompt are contiguous rows (``repeat_interleave``). Responses are cut after
    the first EOS (kept) or at ``max_tokens`` (``truncated``). When the backend shares the policy
    module (one process), :meth:`sync_weights` has nothing to copy; under FSDP it samples from an
    unsharded replica that :meth:`sync_weights` updates.

    With ``sampling.seed`` set (and a temperature above 0), sample ``j`` of prompt ``i`` draws from its
    own random stream ``seed + i * n + j`` (:class:`SeededGumbel`), so its tokens depend on its seed,
    not on which other prompts share the call or the rank (vLLM's per-request seeding), while the
    call stays one batched ``generate``.

    Args:
        model: the causal LM to sample from (usually the policy itself).
        eos_token_id: end-of-sequence id.
        pad_token_id: padding id (left padding for prompts).
        micro_batch_size: most sequences per ``generate`` call (0: all at once).
    """

    def __init__(
        self, model: Any, *, eos_token_id: int, pad_token_id: int, micro_batch_size: int = 0
    ) -> None:
        self.model = model
        self.eos_token_id = int(eos_token_id)
        self.pad_token_id = int(pad_token_id)
        self.micro_batch_size = micro_batch_size

    @torch.no_grad()
    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        """Sample ``sampling.n`` responses per prompt (greedy when ``temperature == 0``; no prompts,
        no rows), seeded per sample when ``sampling.seed`` is set."""
        if any(len(p) == 0 for p in prompt_ids):
            raise UnsupportedInputError("generate: prompt_ids must be non-empty lists of token ids")
        if not prompt_ids:
            return RolloutBatch([], [], [])
        n = sampling.n
        rows = [list(p) for p in prompt_ids for _ in range(n)]
        mb = self.micro_batch_size or len(rows)
        responses: list[list[int]] = []
        truncated: list[bool] = []
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        try:
            for s in range(0, len(rows), mb):
                chunk = rows[s : s + mb]
                width = max(len(r) for r in chunk)
                ids = torch.full((len(chunk), width), self.pad_token_id, dtype=torch.long)
                attn = torch.zeros((len(chunk), width), dtype=torch.long)
                for i, r in enumerate(chunk):
                    ids[i, width - len(r) :] = torch.tensor(r)
                    attn[i, width - len(r) :] = 1
                kwargs = _sampling_kwargs(sampling, first_row=s)
                out = self.model.generate(
                    input_ids=ids.to(device),
                    attention_mask=attn.to(device),
                    max_new_tokens=sampling.max_tokens,
                    pad_token_id=self.pad_token_id,
                    eos_token_id=self.eos_token_id,
                    **kwargs,
                )
                gen = out[:, width:].cpu().tolist()
                for row in gen:
                    resp, trunc = cut_at_eos(row, self.eos_token_id, sampling.max_tokens)
                    responses.append(resp)
                    truncated.append(trunc)
        finally:
            self.model.train(was_training)
        return RolloutBatch(
            prompt_ids=[list(p) for p in prompt_ids], response_ids=responses, truncated=truncated
        )

    def sync_weights(self, named_tensors: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy weights in place (a no-op when the tensors already are this model's parameters)."""
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, t in named_tensors:
                p = params.get(name)
                if p is None:
                    raise UnsupportedInputError(f"sync_weights: unknown parameter {name!r}")
                if p.data_ptr() != t.data_ptr():
                    p.copy_(t)

    def sleep(self) -> None:
        """Nothing to release in process."""

    def wake_up(self) -> None:
        """Nothing to take back in process."""


def _sampling_kwargs(sampling: SamplingConfig, *, first_row: int) -> dict[str, Any]:
    """``generate`` arguments: greedy; global-RNG sampling; or, with ``sampling.seed``, greedy
    decoding on Gumbel-perturbed scores, one seeded stream per row (rows from ``first_row`` on)."""
    if sampling.temperature == 0:
        return {"do_sample": False}
    if sampling.seed is None:
        return {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    procs: list[Any] = [TemperatureLogitsWarper(sampling.temperature)]
    if sampling.top_p < 1.0:
        procs.append(TopPLogitsWarper(sampling.top_p))
    procs.append(SeededGumbel(sampling.seed + first_row))
    return {"do_sample": False, "logits_processor": LogitsProcessorList(procs)}


class SeededGumbel:
    """A logits processor that adds Gumbel noise from one seeded generator per row, so that taking
    the argmax samples from ``softmax(scores)`` (the Gumbel-max trick).

    Row ``r`` of the call draws from ``torch.Generator().manual_seed(seed + r)``, one vector per
    decoding step: prompt ``i``'s ``j``-th sample uses ``seed + i * n + j`` whatever other rows share
    the batch (vLLM's seeding of a request's children), and the global RNG is untouched.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.gens: list[torch.Generator] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``scores`` plus this step's noise of every row."""
        if not self.gens:
            self.gens = [torch.Generator().manual_seed(self.seed + r) for r in range(scores.shape[0])]
        u = torch.stack([torch.rand(scores.shape[-1], generator=g, dtype=torch.float64) for g in self.gens])
        gumbel = -torch.log(-torch.log(u))  # u = 0 gives -inf: that token is never picked
        return scores + gumbel.to(device=scores.device, dtype=scores.dtype)


def cut_at_eos(tokens: list[int], eos_token_id: int, max_tokens: int) -> tuple[list[int], bool]:
    """Cut a generated row after its first EOS (included); ``truncated`` when no EOS came within ``max_tokens``."""
    try:
        end = tokens.index(eos_token_id)
        return tokens[: end + 1], False
    except ValueError:
        return tokens[:max_tokens], True
