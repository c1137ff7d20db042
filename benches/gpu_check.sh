#!/usr/bin/env bash
# One-command GPU check of prime-fast's kernels (one H100: about 7 minutes cold, 5 with a warm Triton cache).
#
#   bash benches/gpu_check.sh            # from the repository root: tests (~160-240 s) + short bench (~70 s)
#   bash benches/gpu_check.sh --quick    # about 2-3 minutes: tests at V=152064, bench without compile/liger
#   bash benches/gpu_check.sh --full     # the full benchmark preset (more providers and sizes)
#
# 1. prints the machine (GPU, driver, torch, triton) and stops with a clear message if CUDA,
#    torch or triton is missing (it installs nothing heavy);
# 2. makes `prime_fast` importable: uses an installed one, or python/ on PYTHONPATH when the native
#    extension python/prime_fast/_native*.so is present (carry it from a CPU build), or builds it
#    with `pip install -e . --no-deps` when cargo and maturin are there;
# 3. runs the GPU parity tests: TRITON_INTERPRET=0 PRIME_FAST_REQUIRE_GPU=1 pytest -m gpu tests/kernels
#    (fixed launch configurations: the tests set PRIME_FAST_AUTOTUNE=0);
#    and the fused policy loss's GPU test (tests/ops/test_policy_loss.py -m gpu, issue 25);
# 4. runs the kernel benchmark (--preset gpu-check; --full: --preset gpu) at the issue's target sizes
#    (token_logprobs fwd GB/s vs HBM;
#    linear_token_logprobs fwd+bwd at N=32k, H=3584, V=152064 vs the bare LM-head GEMMs and its extra
#    memory; advantages in one launch vs a Python loop over T) and prints its table;
# 5. issue 25: the fused policy loss (ops.linear_policy_loss) fwd+bwd at N=32k, H=3584, V=152064, bf16
#    vs the bare three GEMMs (target <= 1.1x, <= 1 GiB extra), linear_token_logprobs + the unfused
#    loss, and Liger's LigerFusedLinearGRPOLoss / per-token op when liger_kernel is installed.
# Results: $OUT (if set) or benches/results/: gpu_pytest.log, kernels.json, bench.log, policy.json, policy.log.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
FULL=0
[ "${1:-}" = "--quick" ] && QUICK=1
[ "${1:-}" = "--full" ] && FULL=1
RES="${OUT:-benches/results}"
mkdir -p "$RES"
PY="${PYTHON:-python3}"
export TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
unset PRIME_FAST_KERNELS PRIME_FAST_LINEAR_IMPL PRIME_FAST_AUTOTUNE
start=$(date +%s)
step() { printf '\n=== [%4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
if ! "$PY" - <<'PYEOF'
import sys
try:
    import torch
except ImportError:
    sys.exit("gpu_check: torch is not installed here; install a CUDA build of torch (and triton) first")
try:
    import triton
except ImportError:
    sys.exit("gpu_check: triton is not installed here (it ships with CUDA builds of torch)")
print(f"python {sys.version.split()[0]} | torch {torch.__version__} (CUDA {torch.version.cuda}) | triton {triton.__version__}")
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch.cuda.is_available() is False: no usable GPU or a CPU-only torch build")
print(f"device: {torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.1f} GiB")
PYEOF
then
  exit 2
fi

step "prime_fast from this checkout"
if ls python/prime_fast/_native*.so >/dev/null 2>&1; then
  # The checkout's own package first (an installed prime_fast may be another version).
  export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
  echo "using python/ on PYTHONPATH with the native extension found there"
elif ! "$PY" -c "import prime_fast" 2>/dev/null; then
  if command -v cargo >/dev/null 2>&1 && "$PY" -m pip --version >/dev/null 2>&1; then
    echo "building the native extension: pip install -e . --no-deps"
    "$PY" -m pip install -q --no-deps -e . || { echo "gpu_check: build failed"; exit 2; }
  else
    echo "gpu_check: prime_fast is not importable, python/prime_fast/_native*.so is absent and cargo is"
    echo "missing; build on a CPU machine (pip install -e . --no-deps) and bring _native*.so along"
    exit 2
  fi
fi
"$PY" -c "import prime_fast, prime_fast.ops; print('prime_fast', prime_fast.__version__, 'from', prime_fast.__file__)" || exit 2
"$PY" -c "import prime_fast, os, sys; sys.exit(0 if os.path.realpath(prime_fast.__file__).startswith(os.path.realpath('python')) else 1)" \
  || echo "gpu_check: WARNING: prime_fast is not imported from this checkout's python/ (an installed copy)"

step "GPU parity tests (pytest -m gpu tests/kernels)"
test_rc=0
if ! "$PY" -c "import pytest" 2>/dev/null; then
  echo "gpu_check: pytest is not installed here (the machine has no network): GPU tests NOT run"
  test_rc=3
else
  # pytest-timeout is optional: without it, drop the per-test timeout and its ini key's warning.
  extra=(--timeout 120 --durations 8)
  "$PY" -c "import pytest_timeout" 2>/dev/null || extra=(--durations 8 -W "ignore::pytest.PytestConfigWarning")
  sel=()
  # 18 tests took 157 s on an H100 with a warm Triton cache; cold compilation adds about a minute.
  t_limit=240
  if [ "$QUICK" = 1 ]; then
    sel=(-k "(V152064 and not H3584) or scan_gpu or advantages")
    t_limit=120
  fi
  PRIME_FAST_REQUIRE_GPU=1 timeout "$t_limit" "$PY" -m pytest -m gpu tests/kernels tests/ops/test_policy_loss.py -q -p no:cacheprovider \
    -o addopts="" "${extra[@]}" ${sel[@]+"${sel[@]}"} 2>&1 | tee "$RES/gpu_pytest.log" | tail -n 40
  test_rc=${PIPESTATUS[0]}
fi
echo "pytest exit code: $test_rc"

step "kernel benchmark (benches.bench_kernels --preset gpu-check; --full: gpu)"
bench_args=(--preset gpu-check --json "$RES/kernels.json" --only token --only linear --only scan --only advantages)
b_limit=170
if [ "$QUICK" = 1 ]; then
  bench_args+=(--providers eager,gemm --only token --only linear --only scan)
  b_limit=150
elif [ "$FULL" = 1 ]; then
  bench_args=(--preset gpu --json "$RES/kernels.json" --only token --only linear --only scan --only advantages)
  b_limit=420
fi
timeout "$b_limit" "$PY" -m benches.bench_kernels "${bench_args[@]}" 2>&1 | tee "$RES/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "bench exit code: $bench_rc"

step "fused policy loss (issue 25: benches.bench_kernels --only policy)"
policy_args=(--preset gpu-check --only policy --json "$RES/policy.json")
p_limit=200
[ "$QUICK" = 1 ] && policy_args+=(--providers fused,gemm) && p_limit=100
[ "$FULL" = 1 ] && policy_args=(--preset gpu --only policy --json "$RES/policy.json") && p_limit=420
timeout "$p_limit" "$PY" -m benches.bench_kernels "${policy_args[@]}" 2>&1 | tee "$RES/policy.log"
policy_rc=${PIPESTATUS[0]}
echo "policy bench exit code: $policy_rc"

step "summary"
echo "gpu tests: $( [ "$test_rc" -eq 0 ] && echo PASS || echo "FAIL ($test_rc)" )  |  bench: $( [ "$bench_rc" -eq 0 ] && echo OK || echo "FAIL ($bench_rc)" )  |  policy bench: $( [ "$policy_rc" -eq 0 ] && echo OK || echo "FAIL ($policy_rc)" )"
echo "logs and JSON in $RES"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$policy_rc" -eq 0 ]
