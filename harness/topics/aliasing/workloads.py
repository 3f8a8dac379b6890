"""What the aliasing topic runs: the backends, the operations timed on each, the sizes and limits.

Backends (on the CPU those of one interpreter measured together in each child process,
``measure.measure_backends``; on a GPU each in its own, ``measure.measure_backend``):

* ``numpy``: the reference (copy vs view), always run on the CPU;
* ``theano``: Theano 1.0.5 with its C/CVM linker (FAST_RUN). On numpy >= 1.22 it fails at
  import unless ``THEANO_FLAGS`` holds ``blas.ldflags=`` (``theano_env`` adds it);
* ``pytensor-c``, ``pytensor-numba``, ``pytensor-jax``: PyTensor with the C/CVM, NUMBA and JAX
  linkers (JAX on its CPU device);
* GPU (``gpu.py``): ``pytensor-jax-gpu`` (PyTensor's JAX mode on CUDA) and ``cupy`` (a CuPy model of
  a device-resident shared variable).

Install commands come from ``harness.core.optional.INSTALL`` (keyed by backend name).
Child-side module: standard library only, CPython 3.8 syntax.
"""
from __future__ import annotations

import os
import sys
from typing import Dict, Optional

CPU_BACKENDS = ("theano", "pytensor-c", "pytensor-numba", "pytensor-jax")
GPU_BACKENDS = ("pytensor-jax-gpu", "cupy")
REFERENCE = "numpy"

DESCRIPTION = {
    "numpy": "numpy reference: copy = np.array(v, copy=True) vs np.asarray(v) (a view); copyto = numpy.copyto "
             "into an existing array; call = a Python function returning its input or a copy of it",
    "theano": "Theano 1.0.5, C/CVM linker (FAST_RUN)",
    "pytensor-c": "PyTensor, C/CVM linker",
    "pytensor-numba": "PyTensor, NUMBA linker",
    "pytensor-jax": "PyTensor, JAX linker, JAX's default device",
    "pytensor-jax-gpu": "PyTensor, JAX linker, CUDA device",
    "cupy": "CuPy model of a device-resident shared variable",
}

# Operations timed, each with borrow=False (copy) and borrow=True (see measure.prepare_op); copyto
# (numpy's copy into an existing array) has no borrow variant; set_value_strided (a strided host
# value assigned) is timed on GPU backends only
OPERATIONS = ("copy", "copyto", "shared", "get_value", "get_value_internal", "set_value", "set_value_strided",
              "call", "update_pattern")
REFERENCE_OPERATIONS = ("copy", "copyto", "call")
KB, MB = 1000, 1000 * 1000
DEFAULT_SIZES = (4 * KB, 64 * KB, 1 * MB, 64 * MB)
LARGE_SIZES = (16 * MB, 256 * MB, 512 * MB)
# what the report measures unless --full: the sizes the claims read (the largest, where borrow and
# copy are compared; every size timed, for the harness's overhead: the smallest is where it weighs most)
REPORT_SIZES = (DEFAULT_SIZES[0], DEFAULT_SIZES[-1])
MAX_OVERHEAD = 0.05  # the harness's own cost per timed call must stay under this share of the fastest one
ARRAYS_ALIVE = 5  # source, shared copy, get_value copy, call output and copyto's destination
CALL_RATE_MAX_BYTES = 64 * KB  # the calls-per-second table: small arrays only
GPU_MODEL = "cupy"  # the CuPy model of Theano's GPU backend: behaves as written, no evidence about a library


def cpu_limit(op: str, borrow: bool) -> Optional[str]:
    """The limit of the same kind as an operation on the CPU (harness.core.limits), or None for an
    operation that copies nothing (a borrow: time per call and speed-up only, never GB/s)."""
    from harness.core.limits import ALLOC_COPY, MEMCPY_WARM

    if borrow:
        return None
    return MEMCPY_WARM if op == "copyto" else ALLOC_COPY

THEANO_FLAG = "blas.ldflags="


def theano_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """THEANO_FLAGS with ``blas.ldflags=`` added (Theano 1.0.5 needs it on numpy >= 1.22)."""
    src = dict(os.environ if env is None else env)
    flags = src.get("THEANO_FLAGS", "")
    if "blas.ldflags" not in flags:
        flags = ",".join(f for f in (flags, THEANO_FLAG) if f)
    return {"THEANO_FLAGS": flags}


def child_env(backend: str) -> Dict[str, str]:
    """Environment variables a backend's child process needs."""
    if backend == "theano":
        return theano_env()
    if backend == "pytensor-jax":
        return {"JAX_PLATFORMS": "cpu"}
    if backend == "pytensor-jax-gpu":
        return {"JAX_PLATFORMS": "cuda"}
    return {}


def library_of(name: str) -> str:
    """The importable top-level module a backend needs (for a cheap presence check)."""
    if name == "theano":
        return "theano"
    if name == "cupy":
        return "cupy"
    return "pytensor"


def presence(name: str) -> Optional[str]:
    """None if the backend's libraries can be found by this interpreter, else the reason.

    Looks the modules up without importing them (importing Theano or PyTensor takes seconds);
    ``backends.load_backend`` in a child does the real check.
    """
    import importlib.util

    need = [library_of(name)]
    if name.startswith("pytensor-jax"):
        need.append("jax")
    if name == "pytensor-numba":
        need.append("numba")
    for mod in need:
        try:
            if importlib.util.find_spec(mod) is None:
                return "module %r is not installed in %s" % (mod, sys.executable)
        except (ImportError, ValueError) as exc:
            return "module %r cannot be found: %s" % (mod, exc)
    return None
