"""Rollouts with batched HF ``generate`` (CPU or one GPU): the in-process :class:`RolloutBackend`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.trainer.rollout.base import RolloutBatch, SamplingConfig


class HFRolloutBackend:
    """Samples from an HF causal LM with ``model.generate``.

    The K samples of a prompt are contiguous rows (``repeat_interleave``). Responses are cut after
    the first EOS (kept) or at ``max_tokens`` (``truncated``). When the backend shares the policy
    module (one process), :meth:`sync_weights` has nothing to copy; under FSDP it samples from an
    unsharded replica that :meth:`sync_weights` updates.

    With ``sampling.seed`` set (and a temperature above 0), prompt ``i`` of a call is sampled alone
    under ``torch.manual_seed(seed + i * n)`` inside a forked RNG, so its samples depend only on its
    seed, not on which other prompts share the call or the rank (vLLM's per-request seeding).

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

    def generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
        """Sample ``sampling.n`` responses per prompt (greedy when ``temperature == 0``; no prompts,
        no rows), seeded per prompt when ``sampling.seed`` is set."""
        if any(len(p) == 0 for p in prompt_ids):
            raise UnsupportedInputError("generate: prompt_ids must be non-empty lists of token ids")
        if not prompt_ids:
            return RolloutBatch([], [], [])
        if sampling.seed is None or sampling.temperature == 0:
            return self._generate(prompt_ids, sampling)
        responses: list[list[int]] = []
        truncated: list[bool] = []
        for i, p in enumerate(prompt_ids):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sampling.seed + i * sampling.n)
                one = self._generate([p], sampling)
            responses += one.response_ids
            truncated += one.truncated
        return RolloutBatch([list(p) for p in prompt_ids], responses, truncated)

    @torch.no_grad()
    def _generate(self, prompt_ids: list[list[int]], sampling: SamplingConfig) -> RolloutBatch:
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
                greedy = sampling.temperature == 0
                kwargs: dict[str, Any] = {"do_sample": not greedy}
                if not greedy:
                    kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
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


def cut_at_eos(tokens: list[int], eos_token_id: int, max_tokens: int) -> tuple[list[int], bool]:
    """Cut a generated row after its first EOS (included); ``truncated`` when no EOS came within ``max_tokens``."""
    try:
        end = tokens.index(eos_token_id)
        return tokens[: end + 1], False
    except ValueError:
        return tokens[:max_tokens], True
