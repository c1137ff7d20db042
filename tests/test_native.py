"""The native module: version, build profile, exception hierarchy, sandbox feature probe."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

import prime_fast
from prime_fast import _native, errors


def test_version_matches_distribution_metadata() -> None:
    assert prime_fast.__version__ == _native.__version__ == importlib.metadata.version("prime-fast")


def test_build_profile_is_the_one_pyproject_asks_for() -> None:
    # pip and maturin build the extension with [tool.maturin] profile (release: LTO, optimised); a debug
    # build would make every verifier benchmark and the sandbox throughput meaningless.
    from pathlib import Path

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert _native.build_profile == pyproject["tool"]["maturin"]["profile"] == "release"


@pytest.mark.parametrize(
    ("name", "bases"),
    [
        pytest.param("ConfigError", (errors.PrimeFastError, ValueError), id="config"),
        pytest.param("UnsupportedInputError", (errors.PrimeFastError, ValueError), id="unsupported-input"),
        pytest.param("VerifierError", (errors.PrimeFastError,), id="verifier"),
        pytest.param("SandboxError", (errors.VerifierError, RuntimeError), id="sandbox"),
    ],
)
def test_exception_hierarchy(name: str, bases: tuple[type, ...]) -> None:
    cls = getattr(errors, name)
    assert cls.__module__ == "prime_fast.errors"
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, errors.PrimeFastError)
    with pytest.raises(errors.PrimeFastError, match="boom"):
        raise cls("boom")


def test_errors_are_the_native_classes_and_exported() -> None:
    assert errors.SandboxError is _native.SandboxError
    assert prime_fast.ConfigError is errors.ConfigError
    assert not issubclass(errors.VerifierError, ValueError)


def test_sandbox_features_match_kernel_facts() -> None:
    features = _native.sandbox_features()
    assert features["root"] == ("yes" if os.geteuid() == 0 else "no")
    assert features["best_isolation"] in {"strict", "namespaces", "rlimits"}
    # Cross-check one probe against the kernel with an independent tool.
    unshare = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if os.geteuid() == 0:
        assert (features["net_ns"] == "yes") == (unshare.returncode == 0)
    for key in ("user_ns", "pid_ns", "net_ns", "mount_ns", "ipc_ns", "uts_ns", "seccomp"):
        assert features[key] in {"yes", "no"}


def test_import_does_not_pull_torch() -> None:
    code = "import sys, prime_fast, prime_fast.verify, prime_fast.errors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
