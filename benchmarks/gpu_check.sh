#!/usr/bin/env bash
# On a machine with a CUDA GPU and torch: the array-API tests (torch on CUDA,
# CuPy where installed), then the GPU benchmark against scikit-learn's
# GaussianMixture (same device, same initial parameters, 10 iterations).
# Results go to "$OUT" (default ./gpu_out).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh
#
# Nothing is installed from the network: the repository is put on PYTHONPATH,
# and wheels found in .whl/ (for packages missing there, e.g. POT, fetched
# beforehand with `pip download --no-deps --only-binary=:all: -d .whl POT`) are
# unpacked into a temporary folder put in front of it. About 2 minutes on an H200.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export SCIPY_ARRAY_API=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    SITE="$(mktemp -d)"
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/*.whl || exit 3
    export PYTHONPATH="$SITE:$PYTHONPATH"
fi

python3 - <<'PY' 2>&1 | tee "$OUT/environment.txt"
import numpy, scipy, sklearn, ot, torch
print("torch", torch.__version__, "CUDA available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name())
print("numpy", numpy.__version__, "scipy", scipy.__version__,
      "scikit-learn", sklearn.__version__, "POT", ot.__version__)
PY
if ! python3 -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "torch sees no CUDA device: nothing to check here." | tee "$OUT/status.txt"
    exit 2
fi

timeout 240 python3 -m pytest -q -rs -p no:cacheprovider tests/test_array_api.py \
    2>&1 | tee "$OUT/test_array_api.txt"
tests=${PIPESTATUS[0]}
timeout 300 python3 benchmarks/bench_fit.py --device cuda --cases gpu \
    --iterations 10 --repeats 3 2>&1 | tee "$OUT/bench_gpu.txt"
bench=${PIPESTATUS[0]}
echo "tests exit status: $tests; benchmark exit status: $bench" | tee "$OUT/status.txt"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
