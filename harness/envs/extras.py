"""``python -m harness.envs.extras``: install the extras of the matrix environment this interpreter
is (numba and jax next to PyTensor), with this interpreter's pip. asv.conf.json's install_command
runs it after the project's wheel, so that asv's environment names (made of the requirements only)
stay those of the results kept so far while PyTensor's NUMBA and JAX modes install.

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import platform
import subprocess
import sys


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def main() -> int:
    from harness.envs.matrix import extras_here

    python = ".".join(platform.python_version_tuple()[:2])
    want = extras_here(python, _installed)
    if not want:
        print("harness.envs.extras: none for this environment")
        return 0
    print("harness.envs.extras: installing %s" % " ".join(want))
    return subprocess.call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + want)


if __name__ == "__main__":
    sys.exit(main())
