"""Input checks and row helpers shared by the estimators and losses (masked reductions: ``ops.masked``)."""

from __future__ import annotations

import torch

from prime_fast.errors import UnsupportedInputError
from prime_fast.ops.masked import as_float, as_mask, masked_mean, masked_sum


def check_groups(n_rows: int, n_samples: object) -> int:
    """Rows come in contiguous groups of ``n_samples`` responses to the same prompt."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise UnsupportedInputError(f"n_samples must be a positive int, got {n_samples!r}")
    if n_rows % n_samples != 0:
        raise UnsupportedInputError(
            f"the batch has {n_rows} rows, not a multiple of n_samples={n_samples}; groups of "
            "responses to one prompt must be contiguous and complete"
        )
    return n_samples


def last_valid_index(mask: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the last set entry of a ``(B, T)`` mask, or -1 for an empty row."""
    pos = torch.arange(mask.shape[-1], device=mask.device)
    return torch.where(mask.bool(), pos, torch.full_like(pos, -1)).amax(-1)


def last_token_mask(mask: torch.Tensor) -> torch.Tensor:
    """Bool ``(B, T)`` one-hot at each row's last valid token (all False for an empty row)."""
    pos = torch.arange(mask.shape[-1], device=mask.device)
    return pos.unsqueeze(0) == last_valid_index(mask).unsqueeze(-1)


__all__ = [
    "as_float",
    "as_mask",
    "check_groups",
    "last_token_mask",
    "last_valid_index",
    "masked_mean",
    "masked_sum",
]
