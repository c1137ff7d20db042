"""Input validation and backend dispatch shared by the public ops.

Every check here runs before any kernel launches and raises
:class:`prime_fast.errors.UnsupportedInputError` (bad tensors) or :class:`prime_fast.errors.ConfigError`
(a bad ``PRIME_FAST_KERNELS`` value) naming the argument and the expected form.
"""

from __future__ import annotations

import os

import torch

from prime_fast.errors import ConfigError, UnsupportedInputError

#: Environment variable forcing one backend: ``torch`` (chunked PyTorch) or ``triton`` (the kernels).
KERNELS_ENV = "PRIME_FAST_KERNELS"
BACKENDS = ("torch", "triton")
#: Floating dtypes every op accepts. float64 is accepted by the torch path only (references, tests).
KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
TORCH_DTYPES = (*KERNEL_DTYPES, torch.float64)
LABEL_DTYPES = (torch.int64, torch.int32)


def select_backend(t: torch.Tensor) -> str:
    """The backend for an op whose main input is ``t``.

    ``PRIME_FAST_KERNELS`` forces one (``triton`` on CPU tensors needs ``TRITON_INTERPRET=1``, which
    runs the kernels in Triton's interpreter); unset, CUDA tensors go to Triton, everything else to
    the chunked torch path (float64 always takes the torch path unless ``triton`` is forced,
    which then raises).
    """
    forced = os.environ.get(KERNELS_ENV, "").strip().lower()
    if forced and forced not in BACKENDS:
        raise ConfigError(f"{KERNELS_ENV}={forced!r} is not a backend; expected one of {', '.join(BACKENDS)}")
    # Unforced, float64 (which the kernels do not take) goes to the torch path on every device.
    backend = forced or ("triton" if t.is_cuda and t.dtype in KERNEL_DTYPES else "torch")
    if backend == "triton":
        if not t.is_cuda and os.environ.get("TRITON_INTERPRET", "0") != "1":
            raise ConfigError(
                f"{KERNELS_ENV}=triton on {t.device.type} tensors needs TRITON_INTERPRET=1 set before "
                "triton is imported (the interpreter runs the kernels on the CPU); use CUDA tensors or "
                f"{KERNELS_ENV}=torch"
            )
        if t.dtype not in KERNEL_DTYPES:
            raise UnsupportedInputError(
                f"the Triton kernels take float32, bfloat16 or float16, got {t.dtype}; "
                f"use {KERNELS_ENV}=torch for float64"
            )
    return backend


def check_float(name: str, t: object, ndims: tuple[int, ...]) -> torch.Tensor:
    """``t`` must be a floating tensor (fp32/bf16/fp16/fp64) with one of ``ndims`` dimensions."""
    if not isinstance(t, torch.Tensor):
        raise UnsupportedInputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in TORCH_DTYPES:
        raise UnsupportedInputError(
            f"{name} must be float32, bfloat16, float16 (or float64 on the torch path), got {t.dtype}"
        )
    if t.dim() not in ndims:
        dims = " or ".join(str(d) for d in ndims)
        raise UnsupportedInputError(f"{name} must have {dims} dimensions, got shape {tuple(t.shape)}")
    return t


def check_labels(name: str, labels: object, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """``labels`` must be an int64/int32 tensor of ``shape`` on ``device``."""
    if not isinstance(labels, torch.Tensor):
        raise UnsupportedInputError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype not in LABEL_DTYPES:
        raise UnsupportedInputError(f"{name} must be int64 or int32 token ids, got {labels.dtype}")
    if labels.shape != shape:
        raise UnsupportedInputError(
            f"{name} must have shape {tuple(shape)} (the leading dimensions of the scores), "
            f"got {tuple(labels.shape)}"
        )
    if labels.device != device:
        raise UnsupportedInputError(f"{name} is on {labels.device} but the scores are on {device}")
    return labels


def check_label_range(labels: torch.Tensor, vocab: int, ignore_index: int) -> None:
    """Every label is in ``[0, vocab)`` or equals ``ignore_index`` (one device sync)."""
    if labels.numel() == 0:
        return
    bad = ((labels < 0) | (labels >= vocab)) & (labels != ignore_index)
    if bool(bad.any()):
        first = labels[bad][0].item()
        raise UnsupportedInputError(
            f"labels must be token ids in [0, {vocab}) or ignore_index={ignore_index}; found {first}"
        )


def check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise UnsupportedInputError(f"temperature must be a positive float, got {temperature!r}")
    t = float(temperature)
    if not (t > 0.0 and t < float("inf")):
        raise UnsupportedInputError(f"temperature must be a positive finite float, got {temperature!r}")
    return t
