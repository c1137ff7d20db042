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

    def copy(self) -> Batch:
        """The same rows in tensors of their own (no view into a larger batch's storage; ``extra`` shared)."""
        return Batch(
            self.input_ids.clone(),
            self.attention_mask.clone(),
            self.position_ids.clone(),
            self.responses.clone(),
            self.response_mask.clone(),
            self.prompt_len,
            dict(self.extra),
        )

    def trimmed(self) -> Batch:
        """The same rows without the prompt-padding columns every row has on the left and the response
        columns past every row's end (at least one response column stays): what :func:`build_batch`
        would give for these rows. ``extra`` is kept as it is."""
        p = self.prompt_len
        real = self.attention_mask[:, :p].bool().any(0)
        start = int(real.long().argmax()) if bool(real.any()) else p
        ends = self.response_mask.long().sum(1)
        t = max(1, int(ends.max())) if ends.numel() else 1
        cols = slice(start, p + t)
        return Batch(
            self.input_ids[:, cols],
            self.attention_mask[:, cols],
            self.position_ids[:, cols],
            self.responses[:, :t],
            self.response_mask[:, :t],
            p - start,
            dict(self.extra),
        )


def concat_batches(batches: list[Batch], *, pad_token_id: int) -> Batch:
    """Rows of several batches in one, trimmed as :meth:`Batch.trimmed` (prompts stay left-padded and
    responses right-padded: position ids of padding copy the row's neighbour as :func:`build_batch`'s
    do). ``extra`` values are not carried over."""
    if not batches:
        raise ValueError("concat_batches needs at least one batch")
    p = max(b.prompt_len for b in batches)
    t = max(b.responses.shape[1] for b in batches)
    parts = [_widen(b, p, t, pad_token_id) for b in batches]
    return Batch(
        torch.cat([b.input_ids for b in parts]),
        torch.cat([b.attention_mask for b in parts]),
        torch.cat([b.position_ids for b in parts]),
        torch.cat([b.responses for b in parts]),
        torch.cat([b.response_mask for b in parts]),
        p,
    ).trimmed()


def _widen(b: Batch, p: int, t: int, pad: int) -> Batch:
    """``b`` padded to prompt length ``p`` (on the left) and response length ``t`` (on the right)."""
    left, right = p - b.prompt_len, t - b.responses.shape[1]
    if left == 0 and right == 0:
        return b
    n = b.size

    def grow(x: torch.Tensor, fill_left: torch.Tensor | int, fill_right: torch.Tensor | int) -> torch.Tensor:
        lhs = torch.as_tensor(fill_left, dtype=x.dtype).expand(n, left) if left else x[:, :0]
        rhs = torch.as_tensor(fill_right, dtype=x.dtype).expand(n, right) if right else x[:, :0]
        return torch.cat([lhs, x, rhs], dim=1)

    last_pos = b.position_ids[:, -1:]
    return Batch(
        grow(b.input_ids, pad, pad),
        grow(b.attention_mask, 0, 0),
        grow(b.position_ids, 0, last_pos.expand(n, right) if right else 0),
        torch.cat([b.responses, torch.full((n, right), pad, dtype=b.responses.dtype)], dim=1),
        torch.cat([b.response_mask, torch.zeros((n, right), dtype=b.response_mask.dtype)], dim=1),
        p,
    )


def pad_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """``(len(rows), width)`` from 2-D row blocks of at most ``width`` columns, zero-padded on the right."""
    out = [torch.nn.functional.pad(r, (0, width - r.shape[1])) for r in rows]
    return torch.cat(out) if out else torch.zeros((0, width))


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
