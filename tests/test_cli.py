"""The ``prime-fast`` command line: help, env report, bench discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prime_fast import bench, cli


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prime_fast", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_help_lists_subcommands() -> None:
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    for name in ("train", "verify", "bench", "env"):
        assert name in out.stdout


def test_env_json_reports_versions_and_sandbox() -> None:
    out = _run("env", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    import prime_fast

    assert report["prime-fast"] == prime_fast.__version__
    assert report["native build profile"] in {"release", "debug"}
    for key in ("python", "torch", "triton", "transformers", "vllm", "cuda", "gpu"):
        assert key in report
    assert report["sandbox"]["best_isolation"] in {"strict", "namespaces", "rlimits"}


def test_env_text_is_a_table() -> None:
    out = _run("env")
    assert out.returncode == 0, out.stderr
    assert "sandbox:" in out.stdout
    assert "best_isolation" in out.stdout


def test_unknown_subcommand_fails_clearly() -> None:
    out = _run("frobnicate")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_bench_outside_checkout_fails_clearly(tmp_path: Path) -> None:
    out = _run("bench", "kernels", cwd=tmp_path)
    assert out.returncode == 2
    assert "no benches/ folder" in out.stderr


def test_bench_finds_checkout_from_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "benches").mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert bench.find_checkout(deep) == tmp_path
    assert bench.find_checkout(Path("/")) is None


def test_parser_rejects_missing_subcommand() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


def test_help_lists_every_bench_name() -> None:
    """Issue #22, defect 8: the names come from ``bench.BENCHES``, not a hand-typed list."""
    top = " ".join(_run("--help").stdout.split())  # the entry wraps over lines
    bench_entry = top[top.index(" bench run a benchmark") : top.index(" env ")]
    for name in bench.BENCHES:
        assert f" {name}," in bench_entry or f" {name})" in bench_entry or f"({name}," in bench_entry, name


def test_bench_with_two_scripts_prints_one_usage() -> None:
    out = _run("bench", "verify", "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("usage:") == 1, out.stdout
    assert "verify-math" in out.stdout and "verify-code" in out.stdout


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        pytest.param(["eval", "--help"], ["(default: 16)", "(default: 0.95)", "(default: hf)"], id="eval"),
        pytest.param(["verify", "--help"], ["(default: 256)"], id="verify"),
        pytest.param(["train", "--help"], [], id="train"),
        pytest.param(["eval-prm", "--help"], [], id="eval-prm"),
    ],
)
def test_help_shows_defaults(argv: list[str], shown: list[str]) -> None:
    out = _run(*argv)
    assert out.returncode == 0, out.stderr
    for text in shown:
        assert text in out.stdout, text
    assert "(default: None)" not in out.stdout and "(default: False)" not in out.stdout
    assert "default 16) (default" not in out.stdout  # never said twice


@pytest.mark.parametrize("name", sorted(n for n, scripts in bench.BENCHES.items() if len(scripts) == 1))
def test_every_bench_starts_from_the_repository_root(name: str) -> None:
    """Each benchmark module imports and parses its options from the root of a checkout, where the
    repository is first on ``sys.path`` (the top-level ``kernels/`` once shadowed transformers' import
    of the PyPI ``kernels`` there, and ``bench eval|step|lora`` failed)."""
    root = Path(__file__).resolve().parents[1]
    out = _run("bench", name, "--help", cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.lstrip().startswith("usage:"), out.stdout[:500]
    module = bench.BENCHES[name][0]
    probe = subprocess.run(
        [sys.executable, "-c", f"import benches.{module}, transformers; print('ok')"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "ok", probe.stderr[-3000:]
