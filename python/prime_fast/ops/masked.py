"""Masked reductions and input checks on (B, T) tensors, shared by the ops and everything above them."""

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
