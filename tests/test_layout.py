"""The repository layout never gets in the way of installed packages.

The top-level ``kernels/`` folder shows the Triton kernels at the root of the repository. It must never shadow
the PyPI package ``kernels`` that transformers imports: with the repository root first on ``sys.path`` (as
``python -m pytest`` and ``python -m benches.X`` put it), ``import kernels`` gives the installed package.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_KERNELS = ROOT / "python" / "prime_fast" / "kernels"


def test_every_kernel_module_is_shown_at_the_top_level():
    modules = sorted(p.name for p in PACKAGE_KERNELS.glob("*.py") if p.name != "__init__.py")
    shown = sorted(p.name for p in (ROOT / "kernels").glob("*.py"))
    assert shown == modules
    for name in shown:
        assert (ROOT / "kernels" / name).resolve() == (PACKAGE_KERNELS / name).resolve()


def test_top_level_kernels_is_not_a_regular_package():
    # A regular package (one with __init__.py) named ``kernels`` would win over the installed one.
    assert not (ROOT / "kernels" / "__init__.py").exists()


def _import_from_root(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(
    importlib.util.find_spec("kernels") is None
    or "site-packages" not in str(importlib.util.find_spec("kernels").origin),
    reason="the PyPI package `kernels` is not installed here (transformers >= 5.21 brings it)",
)
def test_installed_kernels_package_wins_from_the_repository_root():
    out = _import_from_root("import kernels; print(kernels.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(ROOT / "kernels") not in out.stdout and "site-packages" in out.stdout, out.stdout


def test_transformers_imports_from_the_repository_root():
    pytest.importorskip("transformers")
    out = _import_from_root("import transformers.integrations.hub_kernels, transformers; print('ok')")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_plain_pytest_collects_tests_that_import_benches():
    # Plain `pytest` (the console script, not `python -m pytest`) does not put the current directory on
    # sys.path; the setting `pythonpath = ["."]` in pyproject.toml does, so `import benches` works.
    pytest_script = Path(sys.executable).with_name("pytest")
    if not pytest_script.exists():
        pytest.skip(f"no pytest console script beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [
            str(pytest_script),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/verify/test_ported_fixtures.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "test_ported_fixtures.py::" in out.stdout
