"""The install shows progress and the README tells CPU-only users how to get the CPU torch (issue #22,
defect 7: the install was silent for 2.5 minutes while pip fetched 6 GB of CUDA torch)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip_install_commands() -> list[str]:
    text = (ROOT / "scripts" / "install.sh").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if re.search(r"-m pip install\b", line)]


def test_install_steps_show_progress() -> None:
    commands = _pip_install_commands()
    assert commands
    for line in commands:
        assert not re.search(r"\s(--quiet|-q+)\b", line), line
        assert "--progress-bar on" in line, line


def test_readme_tells_cpu_users_how_to_get_the_cpu_torch() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "../shared/wheels" in readme
