"""Every ``python`` block of docs/INTEGRATIONS.md runs, in order, with the embedded demo's tiny model, its task and
a one-step ``GRPOConfig`` standing in for the reader's ``model``, ``tokenizer``, ``dataset`` and ``training_args``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install 'prime-fast[trl]')")

from _trl_setup import demo_dataset, grpo_config, tiny_model  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "INTEGRATIONS.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_page_has_its_snippets() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_snippet_runs(index: int, tmp_path: Path) -> None:
    model, tokenizer = tiny_model()
    namespace: dict[str, Any] = {
        "model": model,
        "tokenizer": tokenizer,
        "dataset": demo_dataset(8),
        "training_args": grpo_config(str(tmp_path), max_steps=1),
        "__name__": f"integrations_doc_{index}",
    }
    exec(compile(BLOCKS[index], f"{DOC.name}[python block {index}]", "exec"), namespace)
