"""Fixtures for kernel tests (``poison`` and ``use_backend`` come from ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def cuda(monkeypatch):
    """The CUDA device for ``gpu`` tests: skipped with a reason when CUDA or compiled Triton is
    missing, failed instead when ``PRIME_FAST_REQUIRE_GPU=1`` (so GPU CI cannot pass by skipping).
    Sets ``PRIME_FAST_AUTOTUNE=0`` (fixed launch configurations) for the test."""
    import os

    require = os.environ.get("PRIME_FAST_REQUIRE_GPU", "0") == "1"
    reason = None
    if not torch.cuda.is_available():
        reason = "CUDA is not available"
    elif os.environ.get("TRITON_INTERPRET", "0") == "1":
        reason = "TRITON_INTERPRET=1 is set; run GPU tests with TRITON_INTERPRET=0"
    if reason is not None:
        if require:
            pytest.fail(f"PRIME_FAST_REQUIRE_GPU=1 but {reason}")
        pytest.skip(reason)
    monkeypatch.delenv("PRIME_FAST_KERNELS", raising=False)
    monkeypatch.delenv("PRIME_FAST_LINEAR_IMPL", raising=False)
    # One fixed launch configuration per kernel: autotune sweeps would cost minutes of GPU time
    # (the benchmark runs and checks the autotuned path).
    monkeypatch.setenv("PRIME_FAST_AUTOTUNE", "0")
    torch.cuda.empty_cache()
    return torch.device("cuda")
