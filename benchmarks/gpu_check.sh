#!/usr/bin/env bash
# On a machine with a CUDA GPU: the array-API tests on CUDA, then the GPU benchmark
# against scikit-learn's GaussianMixture (same device, same initial parameters,
# fixed iterations). Run from anywhere; results go to "$OUT" (default ./gpu_out).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh
#
# Needs python3 with pip; installs the package (and torch 2.13.0 when no torch is
# installed: check that pip offers a CUDA build there) into a temporary virtual
# environment that sees the system's packages. About 3 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export SCIPY_ARRAY_API=1

# The environment lives outside "$OUT", which holds only the results.
VENV="$(mktemp -d)/venv"
python3 -m venv --system-site-packages "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
{
    python -m pip install --quiet --no-build-isolation -e ".[test]" ||
        python -m pip install --quiet -e ".[test]"
    python -c "import torch" 2>/dev/null || python -m pip install --quiet "torch==2.13.0"
    python -c "import array_api_strict" 2>/dev/null ||
        python -m pip install --quiet "array-api-strict>=2.0" ||
        echo "array_api_strict not installed: its tests are skipped"
} 2>&1 | tee "$OUT/install.log"

python - <<'PY' 2>&1 | tee "$OUT/environment.txt"
import numpy, scipy, sklearn, ot, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda,
      "available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name())
print("numpy", numpy.__version__, "scipy", scipy.__version__,
      "scikit-learn", sklearn.__version__, "POT", ot.__version__)
PY

if ! python -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "torch sees no CUDA device (a CPU build?): nothing to check here." |
        tee "$OUT/status.txt"
    exit 2
fi

# 1. The array-API tests; the CUDA ones are those with "cuda" in their names.
timeout 240 python -m pytest -q -rs tests/test_array_api.py \
    --junitxml="$OUT/test_array_api.xml" 2>&1 | tee "$OUT/test_array_api.txt"
tests=${PIPESTATUS[0]}

# 2. The benchmark: n=1,000,000, d=32, K=16, full and diag, float64 and float32,
# 10 iterations, median of 3 (after one untimed warm-up fit of each).
timeout 300 python benchmarks/bench_fit.py --device cuda --cases gpu \
    --iterations 10 --repeats 3 2>&1 | tee "$OUT/bench_gpu.txt"
bench=${PIPESTATUS[0]}

echo "tests exit status: $tests; benchmark exit status: $bench" | tee "$OUT/status.txt"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
