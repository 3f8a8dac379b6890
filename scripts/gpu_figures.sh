#!/usr/bin/env bash
# One call, on a CUDA machine with this repository checked out: install what the
# GPU aliasing suite needs, run it, and write its figures under
# results/<machine>/gpu-figures/ (a subfolder: asv's own result files stay alone
# in results/<machine>/).
#
#   scripts/gpu_figures.sh [MACHINE]
#
# Environment:
#   PYTHON=python3.11   interpreter for the virtualenv (default: python3)
#   VENV=DIR            where the virtualenv goes (default: ${TMPDIR:-/tmp}/memharness-gpu-venv)
#   SKIP_INSTALL=1      use $PYTHON as it is (its packages already installed)
#   CUDA_PKGS=...       override the CUDA packages (default: cupy-cuda12x jax[cuda12])
#   QUICK=1             default sizes only (4KB..64MB) instead of adding 16MB, 256MB, 512MB
#
# Writes: aliasing-gpu.{txt,md,csv,png} (PyTensor JAX mode on CUDA + the CuPy model,
# each operation as a fraction of the H2D/D2H/D2D limits measured in the same run),
# aliasing-cpu.{txt,md,csv,png} (the same PyTensor on the CPU, for comparison),
# pytest-gpu.txt (the GPU tests) and environment.txt (nvidia-smi, pip freeze).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MACHINE="${1:-${MACHINE:-$(hostname -s 2>/dev/null || hostname)}}"
OUT="$ROOT/results/$MACHINE/gpu-figures"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-${TMPDIR:-/tmp}/memharness-gpu-venv}"
CUDA_PKGS="${CUDA_PKGS:-cupy-cuda12x jax[cuda12]}"
mkdir -p "$OUT"

if [ -z "${SKIP_INSTALL:-}" ]; then
    echo "== installing into $VENV: numpy pandas psutil matplotlib pytest hypothesis pytensor $CUDA_PKGS"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install -q numpy pandas psutil matplotlib pytest hypothesis "pytensor>=3.0" $CUDA_PKGS
    PY="$VENV/bin/python"
else
    PY="$PYTHON"
fi
# The pure-Python harness is all the aliasing suite needs: no build of the C++ extension.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "machine: $MACHINE"
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" -m pip freeze 2>&1 || true
} > "$OUT/environment.txt"

echo "== CUDA detection"
"$PY" - <<'EOF'
from harness.aliasing.gpu import detect_cuda
info = detect_cuda()
print({k: info[k] for k in ("available", "cupy", "jax", "reason")})
EOF

SIZE_ARGS=()
[ -z "${QUICK:-}" ] && SIZE_ARGS=(--large)

run_suite() {  # $1: cpu|gpu -> aliasing-$1.{txt,md,csv,png}
    "$PY" - "$1" "$OUT" "${SIZE_ARGS[@]}" <<'EOF'
import sys
from harness.cli import build_parser
from harness.output import render, write_atomic
from harness.errors import HarnessError
import harness.aliasing as al

device, out, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
args = build_parser().parse_args(["aliasing", "--device", device, "--detail"] + extra)
try:
    result = al.run(args)
except HarnessError as exc:
    sys.exit("memharness aliasing --device %s: error: %s" % (device, exc))
for fmt, ext in (("table", "txt"), ("markdown", "md"), ("csv", "csv")):
    write_atomic("%s/aliasing-%s.%s" % (out, device, ext), render(result, fmt))
al.plot(result, "%s/aliasing-%s.png" % (out, device))
print(render(result, "table"))
EOF
}

status=0
echo "== GPU suite"
run_suite gpu || status=$?
echo "== CPU suite (same PyTensor, for comparison)"
run_suite cpu || status=$?
echo "== GPU tests"
"$PY" -m pytest -q -p no:cacheprovider -m "gpu or not gpu" tests/test_aliasing_backends.py tests/test_aliasing.py \
    > "$OUT/pytest-gpu.txt" 2>&1 || status=$?
tail -n 3 "$OUT/pytest-gpu.txt"
echo "== wrote $OUT"
ls -l "$OUT"
exit "$status"
