"""The rollout batch as tensors (docs/ALGORITHM.md section 3): left-padded prompts, right-padded responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Batch:
    """``N`` responses (contiguous groups of K) with everything the update passes need.

    Args:
        input_ids: ``(N, P+T)`` prompt (left-padded) + response (right-padded) ids.
        attention_mask: ``(N, P+T)`` 1 on real tokens.
        position_ids: ``(N, P+T)`` cumulative over real tokens.
        responses: ``(N, T)`` response ids (pad after the end).
        response_mask: ``(N, T)`` 1 up to and including the first EOS (all T if truncated).
        prompt_len: P.
        extra: per-row python data (acc, ability, ground truth, ...) and per-row tensors added later.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    responses: torch.Tensor
    response_mask: torch.Tensor
    prompt_len: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Rows N."""
        return int(self.input_ids.shape[0])

    def rows(self, idx: torch.Tensor | slice) -> Batch:
        """A sub-batch (tensor fields indexed along rows; tensors in ``extra`` too)."""
        ex = {k: (v[idx] if isinstance(v, torch.Tensor) else v) for k, v in self.extra.items()}
        return Batch(
            self.input_ids[idx],
            self.attention_mask[idx],
            self.position_ids[idx],
            self.responses[idx],
            self.response_mask[idx],
            self.prompt_len,
            ex,
        )


def build_batch(
    prompts: list[list[int]], responses: list[list[int]], *, pad_token_id: int, eos_token_id: int
) -> Batch:
    """Pad row-aligned prompt and response id lists into a :class:`Batch` (one row per response)."""
    n = len(responses)
    p_len = max(len(p) for p in prompts)
    t_len = max(1, max(len(r) for r in responses))
    input_ids = torch.full((n, p_len + t_len), pad_token_id, dtype=torch.long)
    attn = torch.zeros((n, p_len + t_len), dtype=torch.long)
    resp = torch.full((n, t_len), pad_token_id, dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        input_ids[i, p_len - len(p) : p_len] = torch.tensor(p, dtype=torch.long)
        attn[i, p_len - len(p) : p_len] = 1
        if r:
            input_ids[i, p_len : p_len + len(r)] = torch.tensor(r, dtype=torch.long)
            attn[i, p_len : p_len + len(r)] = 1
            resp[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    lengths = torch.tensor([len(r) for r in responses])
    mask = (torch.arange(t_len).unsqueeze(0) < lengths.unsqueeze(1)).long()
    pos = (torch.cumsum(attn, dim=1) - 1).clamp(min=0)
    return Batch(input_ids, attn, pos, resp, mask, p_len)
