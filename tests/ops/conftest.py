"""Fixtures for op tests: backend selection and NaN-poisoned allocations."""

from __future__ import annotations

import pytest
import torch

_real_empty = torch.empty
_real_empty_like = torch.empty_like


def _poisoned_empty(*args, **kwargs):
    t = _real_empty(*args, **kwargs)
    if t.dtype.is_floating_point:
        t.fill_(float("nan"))
    return t


def _poisoned_empty_like(*args, **kwargs):
    t = _real_empty_like(*args, **kwargs)
    if t.dtype.is_floating_point:
        t.fill_(float("nan"))
    return t


@pytest.fixture
def poison(monkeypatch):
    """Every float ``torch.empty``/``empty_like`` made by package code starts as NaN, so an output
    element a kernel never writes shows up as NaN instead of passing by luck."""
    monkeypatch.setattr(torch, "empty", _poisoned_empty)
    monkeypatch.setattr(torch, "empty_like", _poisoned_empty_like)
    yield


@pytest.fixture
def use_backend(monkeypatch):
    """Force a backend for the duration of a test: ``use_backend("torch" | "triton")``."""

    def _set(name: str) -> None:
        import os

        if name == "triton" and os.environ.get("TRITON_INTERPRET", "0") != "1":
            pytest.skip(
                "the Triton backend on CPU tensors needs TRITON_INTERPRET=1 (set by tests/conftest.py)"
            )
        monkeypatch.setenv("PRIME_FAST_KERNELS", name)

    return _set
