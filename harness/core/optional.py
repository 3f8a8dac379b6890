"""Optional parts and how to install each: the one table every skip note and error names."""
from __future__ import annotations

INSTALL = {
    "numpy": "pip install numpy",
    "matplotlib": "pip install 'memharness[plot]'",
    "cpp": "pip install .  (in the memharness checkout: builds the C++ extension harness._containers)",
    "theano": (
        "python3.11 -m venv V && V/bin/pip install 'numpy>=1.23,<1.24' 'scipy<1.12' theano==1.0.5 "
        "(CPython <= 3.11; on 3.8: 'numpy<1.22'), then: memharness aliasing --python theano=V/bin/python"
    ),
    "theano-objects": "pip install theano==1.0.5 'numpy<1.24'  (with THEANO_FLAGS=blas.ldflags=)",
    "pytensor": "pip install pytensor  (or point --python at an interpreter that has it)",
    "pytensor-c": "pip install 'pytensor>=3.0' (needs a C++ compiler, e.g. g++, for the C linker)",
    "pytensor-numba": "pip install 'pytensor>=3.0' (numba comes with it)",
    "pytensor-jax": "pip install 'pytensor>=3.0' jax",
    "pytensor-jax-gpu": "pip install 'pytensor>=3.0' 'jax[cuda12]' (and a CUDA device)",
    "cupy": "pip install cupy-cuda12x (and a CUDA device)",
    "pkl_utils": ("pip install theano==1.0.5 'numpy<1.24' (THEANO_FLAGS=blas.ldflags=), "
                  "or pip install 'pytensor<=2.24' (newer PyTensor has no pkl_utils.dump)"),
}


def install_hint(part: str) -> str:
    """The command that installs ``part`` (a key of INSTALL)."""
    return INSTALL[part]
