"""The project's wheel, built once per CPython version and source tree and installed in every
environment of that version: ``ROOT/wheels/<sources digest[:16]>-py<X.Y>/memharness-*.whl``.

The C++ extension's build is most of an environment's making (minutes on 2 cores); py3.11 and
py3.11-theano then share one. A wheel is built from the staged copy of the sources whose digest
names its folder, into a temporary folder renamed into place once complete, under a lock per
folder, so a half-built wheel is never taken and two creates of the same version build it once.
Old folders (another digest) are removed as a new one is made.

Standard library only.
"""
from __future__ import annotations

import functools
import glob
import os
import shutil
import tempfile
from typing import Callable, List, Optional

from harness.envs import store
from harness.errors import HarnessError

FOLDER = "wheels"


@functools.lru_cache(maxsize=None)
def uv_bin() -> Optional[str]:
    """uv: on PATH, else the one the ``uv`` package installed next to this interpreter. Found once:
    ``uv.find_uv_bin`` reads ``sysconfig``, whose first reading is not thread-safe (two threads of
    ``envs create`` once got None for EXE and a TypeError), so ``create`` asks before its threads."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv  # type: ignore[import-not-found, unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        return None


def cache_dir(digest: str, python: str) -> str:
    return os.path.join(store.root(create=True), FOLDER, "%s-py%s" % (digest[:16], python))


def cached(digest: str, python: str) -> Optional[str]:
    found = sorted(glob.glob(os.path.join(cache_dir(digest, python), "memharness-*.whl")))
    return found[0] if found else None


def _prune(keep: str) -> None:
    base = os.path.dirname(keep)
    suffix = keep[keep.rindex("-py"):]
    for other in glob.glob(os.path.join(base, "*" + suffix)):
        if other != keep:
            shutil.rmtree(other, ignore_errors=True)


def build_command(env_python: str, source: str, out: str) -> List[str]:
    uv = uv_bin()
    if uv:
        return [uv, "build", "--wheel", "--python", env_python, "--out-dir", out, source]
    return [env_python, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", out, source]


def wheel(python: str, env_python: str, source: str, digest: str,
          run: Callable[[List[str], str], None], say: Callable[[str], None]) -> str:
    """The wheel of ``source`` (digest ``digest``) for CPython ``python``: cached, else built with
    ``env_python`` (an environment of that version) by ``run(cmd, what)``."""
    with store.locked("wheel-py" + python, say):
        found = cached(digest, python)
        if found:
            return found
        final = cache_dir(digest, python)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".building-", dir=os.path.dirname(final))
        try:
            run(build_command(env_python, source, tmp), "building the project's wheel")
            if not glob.glob(os.path.join(tmp, "memharness-*.whl")):
                raise HarnessError("py%s: the wheel build left no memharness-*.whl in %s" % (python, tmp))
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(final)
        return str(cached(digest, python))



