#!/usr/bin/env bash
# One call, on a CUDA machine with this repository checked out: install what the
# GPU aliasing suite needs, run it, and write its figures under
# results/<machine>/gpu-figures/ (a subfolder: asv's own result files stay alone
# in results/<machine>/).
#
#   scripts/gpu_figures.sh [MACHINE]                 measure (on the CUDA machine)
#   scripts/gpu_figures.sh --fetch-wheels DIR        fetch PyTensor's wheel into DIR (on a machine
#                                                    with PyPI), for a CUDA machine that has none
#
# Environment:
#   PYTHON=python3.11   interpreter (default: python3); with WHEELS or SKIP_INSTALL it is used as it is
#   VENV=DIR            where the virtualenv goes (default: a private folder made by mktemp -d for this
#                       run and removed at its end; a DIR that exists must be yours and not writable
#                       by group or others)
#   SKIP_INSTALL=1      use $PYTHON as it is (its packages already installed)
#   WHEELS=DIR          offline: install the wheels in DIR (pip --no-index --no-deps) into a folder put
#                       on PYTHONPATH, and use $PYTHON's own numpy, CuPy and JAX
#   CUDA_PKGS=...       override the CUDA packages (default: cupy-cuda12x jax[cuda12])
#   QUICK=1             default sizes only (4KB..64MB) instead of adding 16MB, 256MB, 512MB
#   TARBALL=FILE        also pack the figures folder into FILE (.tar.gz): one file to copy back
#   WHEEL_PYTHON=3.12   --fetch-wheels: the CUDA machine's Python version (default 3.12)
#   WHEEL_PKGS=...      --fetch-wheels: what to fetch (default: pytensor; its other needs, numpy,
#                       scipy, numba, filelock and setuptools, are in the usual CUDA images)
#
# Writes: aliasing-gpu.{txt,md,csv,png} (PyTensor JAX mode on CUDA + the CuPy model,
# each operation as a fraction of the H2D/D2H/D2D limits measured in the same run),
# aliasing-cpu.{txt,md,csv,png} (the same PyTensor on the CPU, for comparison),
# pytest-gpu.txt (the GPU tests) and environment.txt (nvidia-smi, pip freeze).
# Exit status: 0 when both suites and the tests passed, else the first failure's.
#
# Through the `device` tool (a CUDA machine that reaches no package index, whose python3
# already holds numpy, CuPy and JAX), from this repository's root:
#   echo /.whl/ >> .git/info/exclude && scripts/gpu_figures.sh --fetch-wheels .whl      # here
#   WHEELS=.whl PYTHON=python3 TARBALL="$OUT/gpu-figures.tar.gz" scripts/gpu_figures.sh h100   # there,
#   with carry [".whl"]; then unpack the tarball here into results/ and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

if [ "${1:-}" = "--fetch-wheels" ]; then
    [ $# -eq 2 ] || { echo "gpu_figures: --fetch-wheels needs one folder" >&2; exit 2; }
    DIR="$2"
    mkdir -p "$DIR"
    WPY="${WHEEL_PYTHON:-3.12}"
    # shellcheck disable=SC2086
    "${PYTHON:-python3}" -m pip download -q --no-deps --only-binary=:all: --python-version "$WPY" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$DIR" ${WHEEL_PKGS:-pytensor}
    for w in "$DIR"/*.whl; do
        echo "$(basename "$w") needs: $(unzip -p "$w" '*/METADATA' | sed -n 's/^Requires-Dist: //p' \
            | grep -v 'extra ==' | tr '\n' ' ')"
    done
    exit 0
fi
case "${1:-}" in -*) echo "gpu_figures: unknown option $1 (see the header of $0)" >&2; exit 2 ;; esac
MACHINE="${1:-${MACHINE:-$(hostname -s 2>/dev/null || hostname)}}"
OUT="$ROOT/results/$MACHINE/gpu-figures"
PYTHON="${PYTHON:-python3}"
# Everything temporary lives in one folder private to this run (a new name, mode 0700), never
# under a fixed name in the shared temp folder, where another user could plant a .pth or a module.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/memharness-gpu.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ -n "${VENV:-}" ] && [ -e "$VENV" ]; then
    if [ -z "$(find "$VENV" -maxdepth 0 -user "$(id -u)" ! -perm /022 2>/dev/null)" ]; then
        echo "gpu_figures: VENV=$VENV exists but is not yours alone (owner or group/other write bits): refusing to use it" >&2
        exit 2
    fi
fi
VENV="${VENV:-$WORK/venv}"
CUDA_PKGS="${CUDA_PKGS:-cupy-cuda12x jax[cuda12]}"
mkdir -p "$OUT"

EXTRA_PATH=""
if [ -n "${WHEELS:-}" ]; then
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "gpu_figures: no wheels in $WHEELS (make them with --fetch-wheels)" >&2; exit 2; }
    SITE="$WORK/site"
    echo "== installing the wheels of $WHEELS into $SITE (offline, no dependencies)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl
    EXTRA_PATH="$SITE"
    PY="$PYTHON"
elif [ -z "${SKIP_INSTALL:-}" ]; then
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
export PYTHONPATH="$ROOT${EXTRA_PATH:+:$EXTRA_PATH}${PYTHONPATH:+:$PYTHONPATH}"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "machine: $MACHINE"
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    "$PY" -m pip freeze 2>&1 || true
} > "$OUT/environment.txt"

echo "== CUDA detection"
"$PY" - <<'EOF'
from harness.topics.aliasing.gpu import detect_cuda
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
from harness.registry import command

al = command("aliasing")

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
keep() { [ "$status" != 0 ] || status=$1; }  # the first failure's status
echo "== GPU suite"
run_suite gpu || keep $?
echo "== CPU suite (same PyTensor, for comparison)"
run_suite cpu || keep $?
echo "== GPU tests"
"$PY" -m pytest -q -p no:cacheprovider -m "gpu or not gpu" tests/test_aliasing_backends.py tests/test_aliasing.py \
    > "$OUT/pytest-gpu.txt" 2>&1 || keep $?
tail -n 3 "$OUT/pytest-gpu.txt"
echo "== wrote $OUT"
ls -l "$OUT"
if [ -n "${TARBALL:-}" ]; then
    tar -czf "$TARBALL" -C "$ROOT/results" "$MACHINE/gpu-figures"
    echo "== packed into $TARBALL (unpack with: tar -xzf FILE -C results)"
fi
exit "$status"
