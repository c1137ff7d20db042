#!/usr/bin/env bash
# Create the verl test environment: a NEW virtual environment (default .venv-verl) with prime-fast's `dev` and
# `verl` extras. verl 0.9 pins transformers < 5.11, older than the main environment's, so its tests (marker
# `verl`) run here, not in the main environment (where they skip). Also checks out the PRIME recipe
# (verl-project/verl-recipe, importable as `recipe`) for the recipe checks of tests/integrations/test_verl.py.
#
#   bash scripts/verl_env.sh [VENV_DIR]
#   . .venv-verl/bin/activate
#   PRIME_FAST_VERL_RECIPE=.venv-verl/verl-recipe python -m pytest -m verl tests/integrations
#
# Without network access to GitHub the recipe checkout is skipped and the recipe checks skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-verl}"
rm -rf "$venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
PYTHON=python bash scripts/install.sh dev,verl
python -m pip list --format=freeze | grep -iE '^(torch|transformers|verl|trl|ray)==' | tr '\n' ' '
echo
recipe_root="$venv/verl-recipe"
if command -v git >/dev/null 2>&1 &&
  git clone --quiet --depth 1 https://github.com/verl-project/verl-recipe "$recipe_root/recipe" 2>/dev/null; then
  echo "verl_env: PRIME recipe at $recipe_root/recipe; export PRIME_FAST_VERL_RECIPE=$recipe_root"
else
  echo "verl_env: could not clone verl-recipe; the PRIME recipe checks will skip" >&2
fi
