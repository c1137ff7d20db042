"""`prime-fast verify math` end to end: a JSONL file in, one verdict per line out, a summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_verify_math_cli(tmp_path: Path) -> None:
    rows = [
        {"response": "We get \\boxed{\\frac{1}{2}}.", "gold": "0.5"},
        {"pred": "10{,}000", "gold": "10000"},
        {"response": "The answer is 9999", "gold": "10{,}000"},
        {"response": "no answer given, sorry about that", "gold": "3"},
        {"pred": "3", "gold": ""},
        {"pred": "4"},
        {"response": 5, "gold": "5"},
        {"pred": "12", "gold": 12},
    ]
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "verdicts.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prime_fast",
            "verify",
            "math",
            "--in",
            str(src),
            "--out",
            str(out),
            "--chunk-size",
            "3",
            "--num-workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # some records are invalid: status 1, every line still written (docs/VERIFY_MATH.md, exit status)
    assert proc.returncode == 1, proc.stderr
    assert "3 of 9 records are invalid_input" in proc.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["status"] for g in got] == [
        "correct",
        "correct",
        "incorrect",
        "invalid_input",
        "unparseable",
        "gold_unparseable",
        "invalid_input",
        "invalid_input",
        "correct",
    ]
    assert got[0]["extracted"] == "\\frac{1}{2}" and got[0]["score"] == 1.0
    assert got[5]["score"] is None
    assert "not JSON" in got[3]["reason"]
    assert "gold" in got[6]["reason"]
    assert "string" in got[7]["reason"]
    assert "verified 9 items" in proc.stdout
    summary = {line.split()[0]: int(line.split()[1]) for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert summary == {
        "correct": 3,
        "invalid_input": 3,
        "incorrect": 1,
        "unparseable": 1,
        "gold_unparseable": 1,
    }


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prime_fast", "verify", *argv, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_verify_math_policy_flags(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"pred": "3,25", "gold": "3.25"}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert _cli("math", "--in", str(src), "--out", str(out)).returncode == 0
    assert json.loads(out.read_text(encoding="utf-8"))["status"] == "correct"
    proc = _cli("math", "--in", str(src), "--out", str(out), "--decimal-comma", "never")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["status"] == "incorrect"
    # Errors name the flag.
    proc = _cli("math", "--in", str(src), "--out", str(out), "--percent", "weird")
    assert proc.returncode == 2 and "--percent" in proc.stderr, proc.stderr
    proc = _cli("math", "--in", str(src), "--out", str(out), "--time", "3")
    assert proc.returncode == 2 and "--time applies to 'prime-fast verify code' only" in proc.stderr
    proc = _cli("code", "--in", str(src), "--out", str(out), "--mode", "batch")
    assert proc.returncode == 2 and "--mode" in proc.stderr, proc.stderr
    proc = _cli("code", "--in", str(src), "--out", str(out), "--memory", "1")
    assert proc.returncode == 2 and "--memory" in proc.stderr, proc.stderr
    help_text = _cli("math", "--help").stdout
    for flag in (
        "--time",
        "--memory",
        "--isolation",
        "--mode",
        "--workers",
        "--percent",
        "--approx-irrational",
    ):
        assert flag in help_text


def test_verify_exit_status_and_output_path(tmp_path: Path) -> None:
    """0: every record well-formed; 1: some or all invalid; 2: usage (an --out folder that is missing)."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"pred": "4"}\n{not json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = _cli("math", "--in", str(bad), "--out", str(out))
    assert proc.returncode == 1 and "2 of 2 records are invalid_input" in proc.stderr, proc.stderr
    assert [json.loads(x)["status"] for x in out.read_text(encoding="utf-8").splitlines()] == [
        "invalid_input",
        "invalid_input",
    ]
    proc = _cli("code", "--in", str(bad), "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"pred": "4", "gold": "5"}) + "\n", encoding="utf-8")
    assert _cli("math", "--in", str(good), "--out", str(out)).returncode == 0  # a wrong answer is data
    missing = tmp_path / "no" / "such" / "out.jsonl"
    proc = _cli("math", "--in", str(good), "--out", str(missing))
    assert proc.returncode == 2 and str(missing.parent) in proc.stderr, proc.stderr
    assert not (tmp_path / "no").exists()
    proc = _cli("math", "--in", str(good), "--out", str(tmp_path))
    assert proc.returncode == 2 and "is a directory" in proc.stderr, proc.stderr


def test_help_documents_both_input_formats_with_working_examples(tmp_path: Path) -> None:
    """The example records printed by ``verify --help``, pasted into files, verify as correct/passed."""
    help_text = _cli("math", "--help").stdout
    for field in ('"response"', '"pred"', '"gold"', '"program"', '"tests"', '"inputs"', '"fn_name"'):
        assert field in help_text, field
    assert '"test_list"' in help_text and '"entry_point"' in help_text and "exit status" in help_text
    examples = [line.strip() for line in help_text.splitlines() if line.startswith(("  {", "    {"))]
    math_lines = [x for x in examples if '"gold"' in x]
    code_lines = [x for x in examples if '"tests"' in x]
    assert len(math_lines) == 2 and len(code_lines) == 4
    for kind, lines, ok in (("math", math_lines, "correct"), ("code", code_lines, "passed")):
        src, out = tmp_path / f"{kind}.jsonl", tmp_path / f"{kind}-out.jsonl"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = _cli(kind, "--in", str(src), "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        got = [json.loads(x)["status"] for x in out.read_text(encoding="utf-8").splitlines()]
        assert got == [ok] * len(lines), (kind, got)
