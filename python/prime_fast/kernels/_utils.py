"""Helpers shared by the kernel launch wrappers (no validation here: ``prime_fast.ops`` does that)."""

from __future__ import annotations

import os

import torch


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def autotune_enabled() -> bool:
    """Whether GPU launches may autotune (``PRIME_FAST_AUTOTUNE``, default ``1``).

    ``PRIME_FAST_AUTOTUNE=0`` uses one fixed launch configuration per kernel instead of a benchmark
    sweep on first use: the GPU tests set it, so they check the kernels without minutes of tuning.
    """
    return os.environ.get("PRIME_FAST_AUTOTUNE", "1") != "0"


def dot_in_fp32(dtype: torch.dtype) -> bool:
    """Whether ``tl.dot`` operands must be upcast to float32 first.

    Triton's interpreter computes bfloat16 ``tl.dot`` wrongly (numpy has no bfloat16), so under the
    interpreter bf16 tiles are upcast; bf16 x bf16 products are exact in float32, so the result is
    what the tensor cores compute (up to summation order).
    """
    return interpreting() and dtype == torch.bfloat16
