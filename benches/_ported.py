"""Ported grader test suites (``tests/verify/fixtures/ported/*.jsonl``): loading and the two graders.

Each fixture line is a JSON object (``category``, ``pred``, ``gold``, ``expected``,
``source_expected``, ``mode``, ``note``, ``mv``); ``#`` lines are the file header (source, commit,
license). ``mode == "extract"`` means both sides are full texts (answers extracted from both, as
Math-Verify's own tests do); ``"answer"`` means both are bare answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PORTED_DIR = Path(__file__).resolve().parents[1] / "tests" / "verify" / "fixtures" / "ported"


@dataclass(frozen=True)
class Case:
    """One labelled pair from a ported suite."""

    source: str
    category: str
    pred: str
    gold: str
    expected: bool
    source_expected: bool
    mode: str
    note: str = ""
    mv: dict[str, Any] = field(default_factory=dict)


def load_ported(directory: Path = PORTED_DIR) -> list[Case]:
    """Every case of every ``*.jsonl`` file in ``directory`` (sorted by file name)."""
    cases = []
    for path in sorted(directory.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path.name}:{lineno}: not a JSON object ({e})") from e
            if d.get("mode") not in ("extract", "answer"):
                raise ValueError(f"{path.name}:{lineno}: mode must be 'extract' or 'answer'")
            cases.append(
                Case(
                    source=path.stem,
                    category=str(d["category"]),
                    pred=str(d["pred"]),
                    gold=str(d["gold"]),
                    expected=bool(d["expected"]),
                    source_expected=bool(d["source_expected"]),
                    mode=d["mode"],
                    note=str(d.get("note", "")),
                    mv=dict(d.get("mv", {})),
                )
            )
    return cases


def ours(case: Case) -> bool:
    """Our verdict on one case (default policies)."""
    from prime_fast import _native

    return bool(_native.math_verify(case.pred, case.gold, extract=case.mode == "extract")[0])


def math_verify_grader() -> Callable[[Case], bool]:
    """Math-Verify's verdict on one case, called as its own tests call it (gold first)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    targets = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]

    def grade(case: Case) -> bool:
        wrap = (lambda s: s) if case.mode == "extract" else (lambda s: f"${s}$")
        try:
            g = parse(wrap(case.gold), targets)
            p = parse(wrap(case.pred), targets)
            return bool(
                verify(
                    g,
                    p,
                    float_rounding=int(case.mv.get("precision", 6)),
                    strict=bool(case.mv.get("strict", True)),
                    allow_set_relation_comp=bool(case.mv.get("allow_set_relation_comp", False)),
                )
            )
        except Exception:
            return False

    return grade
