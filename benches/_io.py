"""Writing a benchmark's JSON (torch-free, so the verifier benches can use it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (non-JSON values as ``str``) with a final newline, creating the
    parent directories; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    return p
