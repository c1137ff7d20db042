"""Masked reductions and input checks shared by the estimators and losses."""

from __future__ import annotations

import torch

from prime_fast.errors import UnsupportedInputError


def as_float(name: str, t: object, ndim: int) -> torch.Tensor:
    """``t`` as a float32 (float64 kept) tensor with ``ndim`` dimensions."""
    if not isinstance(t, torch.Tensor):
        raise UnsupportedInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != ndim:
        raise UnsupportedInputError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.dtype == torch.float64:
        return t
    if t.dtype.is_complex:
        raise UnsupportedInputError(f"{name} must be real, got {t.dtype}")
    return t.float()


def as_mask(mask: object, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """``mask`` (bool, integer or float 0/1) of ``shape`` on ``device``, as a bool tensor."""
    if not isinstance(mask, torch.Tensor):
        raise UnsupportedInputError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.shape != shape:
        raise UnsupportedInputError(f"mask must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    if mask.device != device:
        raise UnsupportedInputError(f"mask is on {mask.device}, expected {device}")
    return mask.bool()


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


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``values`` where ``mask`` is set (over ``dim``, or everything)."""
    v = torch.where(mask.bool(), values, torch.zeros_like(values))
    return v.sum() if dim is None else v.sum(dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``values`` over the set entries of ``mask``; 0 where nothing is set (never NaN)."""
    m = mask.bool()
    total = masked_sum(values, m, dim)
    count = m.sum() if dim is None else m.sum(dim)
    return torch.where(count > 0, total / count.clamp(min=1).to(total.dtype), torch.zeros_like(total))


def last_valid_index(mask: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the last set entry of a ``(B, T)`` mask, or -1 for an empty row."""
    pos = torch.arange(mask.shape[-1], device=mask.device)
    return torch.where(mask.bool(), pos, torch.full_like(pos, -1)).amax(-1)


def last_token_mask(mask: torch.Tensor) -> torch.Tensor:
    """Bool ``(B, T)`` one-hot at each row's last valid token (all False for an empty row)."""
    pos = torch.arange(mask.shape[-1], device=mask.device)
    return pos.unsqueeze(0) == last_valid_index(mask).unsqueeze(-1)
