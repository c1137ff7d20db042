#!/usr/bin/env bash
# Create the verl test environment: a NEW virtual environment (default .venv-verl) with prime-fast's `test` and
# `verl` extras. verl 0.9 pins transformers < 5.11, older than the main environment's, so its tests (marker
# `verl`) run here, not in the main environment (where they skip). The recipe checks of
# tests/integrations/test_verl.py need the PRIME recipe (the verl-recipe repository, importable as `recipe`):
# point PRIME_FAST_VERL_RECIPE at a local checkout's parent folder; nothing is downloaded from outside the
# package index.
#
#   bash scripts/verl_env.sh [VENV_DIR]
#   . .venv-verl/bin/activate
#   [PRIME_FAST_VERL_RECIPE=DIR] python -m pytest -m verl tests/integrations
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-verl}"
rm -rf "$venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
PYTHON=python bash scripts/install.sh test,verl
python -m pip list --format=freeze | grep -iE '^(torch|transformers|verl|trl|ray)==' | tr '\n' ' '
echo
if [ -n "${PRIME_FAST_VERL_RECIPE:-}" ]; then
  echo "verl_env: the PRIME recipe checks use the checkout at $PRIME_FAST_VERL_RECIPE"
else
  echo "verl_env: PRIME_FAST_VERL_RECIPE is unset: the PRIME recipe checks skip (they need a local checkout of verl-recipe)"
fi
