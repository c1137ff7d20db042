#!/usr/bin/env bash
# Build the release wheel, check what it ships, install it into a fresh virtual environment and
# import the package from there: proof that a user's `pip install prime-fast` works.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$py" -m maturin build --release --quiet --out "$out/dist" >/dev/null
wheel=$(ls "$out"/dist/prime_fast-*.whl)
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
"$py" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {n.split("/")[0] for n in names}
extra = {t for t in tops if t != "prime_fast" and not t.endswith(".dist-info")}
assert not extra, f"the wheel installs top-level entries besides prime_fast: {sorted(extra)}"
for needed in ("prime_fast/kernels/__init__.py", "prime_fast/_native.pyi", "prime_fast/py.typed"):
    assert needed in names, f"the wheel lacks {needed}"
assert any(n.startswith("prime_fast/_native") and n.endswith(".so") for n in names), "no native module"
print(f"wheel contents ok: {len(names)} files, top level {sorted(tops)}")
PY
"$py" -m venv "$out/venv"
"$out/venv/bin/python" -m pip install --quiet "$wheel"
cd "$out"
"$out/venv/bin/python" - <<'PY'
import importlib.util, sys
import prime_fast, prime_fast._native, prime_fast.kernels, prime_fast.verify
assert "torch" not in sys.modules, "importing prime_fast pulled in torch"
assert prime_fast.__file__.startswith(sys.prefix), prime_fast.__file__
print(f"installed wheel imports: prime_fast {prime_fast.__version__} "
      f"({prime_fast._native.build_profile}) from {prime_fast.__file__}")
PY
"$out/venv/bin/prime-fast" env --json >/dev/null
echo "wheel check passed"
