#!/usr/bin/env bash
# Install prime-fast from this checkout (editable) with the given extras, e.g. `train` or `dev`.
# Where ../shared/wheels holds the CPU build of torch, it is installed first so that pip never
# downloads the multi-GB CUDA build on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train}"
py="${PYTHON:-python3}"
shopt -s nullglob
cpu_torch=(../shared/wheels/torch-*+cpu-*.whl)
if [ ${#cpu_torch[@]} -gt 0 ]; then
  "$py" -m pip install --quiet --find-links ../shared/wheels "torch==2.13.0+cpu"
fi
"$py" -m pip install --quiet -e ".[$extras]"
