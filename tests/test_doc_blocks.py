"""Every runnable python block of README.md and docs/*.md runs as pasted (issue #22, defect 3).

A block fenced ```` ```python ```` must run on its own, on a CPU, in a fresh namespace; a block that
shows code needing something the reader supplies (a trainer, a dataset, a GPU) is fenced
```` ```python no-run ```` (docs/STYLE.md, "Code blocks in documents").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# docs/INTEGRATIONS.md's blocks are one walk-through that runs in order on the embedded demo's model and task:
# tests/integrations/test_docs.py executes every one of them with that setup.
RUN_ELSEWHERE = {"INTEGRATIONS.md"}
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name not in RUN_ELSEWHERE)]
FENCE = re.compile(r"^```(\S*)[ \t]*(.*)$")


def python_blocks(path: Path) -> list[tuple[int, str, str]]:
    """``(line of the fence, info string after 'python', source)`` of each python block of ``path``."""
    blocks: list[tuple[int, str, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start, lang, info = i, m.group(1), m.group(2).strip()
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if lang == "python":
                blocks.append((start + 1, info, "\n".join(body) + "\n"))
        i += 1
    return blocks


ALL = [(p, line, info, src) for p in DOCS for line, info, src in python_blocks(p)]
RUNNABLE = [
    pytest.param(p, line, src, id=f"{p.relative_to(ROOT)}:{line}") for p, line, info, src in ALL if not info
]


def test_blocks_are_found_and_marked_with_known_info_strings() -> None:
    assert any(p.name == "README.md" for p, *_ in ALL)
    for p, line, info, _ in ALL:
        assert info in ("", "no-run"), f"{p.relative_to(ROOT)}:{line}: unknown info string {info!r}"


@pytest.mark.parametrize(("path", "line", "source"), RUNNABLE)
def test_python_block_runs_as_pasted(path: Path, line: int, source: str) -> None:
    code = compile(source, f"{path.relative_to(ROOT)}:{line}", "exec")
    exec(code, {"__name__": "__doc_block__"})
