"""Making one managed environment: a virtual environment of the matrix's CPython, the project
installed in it from its source tree (its C++ extension built for that Python), the matrix's
requirements, a check that it imports, then the stamp that marks it ready.

uv where it is on PATH or installed next to this interpreter (the ``uv`` package, in the ``all``
extra: ``uv venv --python X``, ``uv build``, ``uv pip install``), else ``python -m venv`` and pip
(``virtualenv`` where venv is missing). The project's wheel is built once per CPython version and
source digest (``harness.envs.wheels``) and installed from there. What pip or uv print goes to ``ROOT/NAME.log``. A
create that is stopped (Ctrl-C, SIGTERM) or fails removes its half-made folder; its stamp was
never written, so nothing half-made is ever taken for ready.

Standard library only.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from harness.core import children
from harness.core.interpreters import find_interpreter
from harness.envs import store, wheels
from harness.envs.matrix import EnvSpec
from harness.errors import HarnessError

STEPS = 4  # venv, wheel, install, check: the progress display's steps per environment

# pip's and uv's words when the package index cannot be reached or has nothing to offer
_MISSING = [re.compile(p) for p in (
    r"No matching distribution found for (\S+)",
    r"Could not find a version that satisfies the requirement (\S+)",
    r"Failed to fetch: `([^`]+)`",
    r"error sending request for url \(([^)]+)\)",
    r"Because (\S+) was not found in the package registry",
    r"Because (\S+) was not found in the cache",
)]
_OFFLINE = re.compile(r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|"
                      r"Network is unreachable|Name or service not known|dns error|Connection refused|"
                      r"Max retries exceeded|Could not connect")
_GENERIC = re.compile(r"subprocess-exited-with-error|Failed (to )?build|Could not build wheels|originates from a subprocess|"
                      r"^error: metadata-generation-failed|^ERROR: Failed building")
_RETRYING = re.compile(r"Retrying .*?(/simple/[^/\s]+/?|https?://\S+)")

_CHECK = r"""
import importlib, json, platform, sys
import harness, harness._containers
out = {"version": harness.__version__, "file": harness.__file__, "python": platform.python_version(),
       "backend_version": None, "modes": []}
backend = sys.argv[1]
if backend:
    mod = importlib.import_module(backend)
    out["backend_version"] = mod.__version__
    if backend == "pytensor":
        out["modes"] = ["C"] if mod.config.cxx else []
        for name, mode in (("numba", "NUMBA"), ("jax", "JAX")):
            try:
                importlib.import_module(name)
                out["modes"].append(mode)
            except Exception:
                pass
print(json.dumps(out))
"""


_LIVE: Set[Any] = set()  # the installer processes running now, in every thread
_STOPPING = threading.Event()


def stop_all(pool: Any) -> None:
    """Stop every installer process the threads of ``pool`` run and wait for them to clean up."""
    _STOPPING.set()
    for proc in list(_LIVE):
        children._stop(proc, grace=2.0)
    pool.shutdown(wait=True)  # those not started yet stop at their first step
    _STOPPING.clear()


def installer() -> str:
    return "uv" if wheels.uv_bin() else "pip"


def log_path(name: str) -> str:
    return os.path.join(store.root(create=True), name + ".log")


def why_failed(text: str) -> Optional[str]:
    """What could not be fetched, from pip's or uv's output, or None when nothing was missing."""
    for pattern in _MISSING:
        m = pattern.search(text)
        if m:
            return m.group(1).rstrip(".,;")
    if _OFFLINE.search(text):
        m = _RETRYING.search(text)
        return m.group(1) if m else "the package index"
    return None


def _run(cmd: List[str], log: str, what: str, name: str, env: Optional[Dict[str, str]] = None) -> None:
    """Run an installer step with its output appended to ``log``; one-line HarnessError on failure.
    Stopped with all it started (its own process group) when this process is interrupted."""
    with open(log, "ab") as out:
        out.write(("$ %s\n" % " ".join(cmd)).encode())
        out.flush()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=env, cwd=children._child_cwd(), start_new_session=True)
        except OSError as exc:
            raise HarnessError("%s: cannot run %s: %s" % (name, cmd[0], exc)) from None
        _LIVE.add(proc)
        try:
            if _STOPPING.is_set():
                children._stop(proc, grace=2.0)
            status = proc.wait()
        except BaseException:
            children._stop(proc, grace=2.0)
            raise
        finally:
            _LIVE.discard(proc)
    if status != 0:
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        missing = why_failed(text)
        if missing:
            raise HarnessError("%s: could not fetch %s from the package index (offline, or no release for CPython "
                               "%s?); log: %s" % (name, missing, name[2:].split("-")[0], log))
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        # the first error the build itself reported, else pip's or uv's last line
        tail = [ln for ln in lines if re.search(r"\berror\b", ln, re.I) and not _GENERIC.search(ln)][:1] or lines[-1:] or [""]
        raise HarnessError("%s: %s failed (status %d): %s; log: %s" % (name, what, status, tail[0][:200], log))


def _make_venv(python: str, target: str, log: str, name: str) -> None:
    if installer() == "uv":
        _run([str(wheels.uv_bin()), "venv", "--python", python, target], log, "uv venv", name)
        return
    try:
        _run([python, "-m", "venv", target], log, "python -m venv", name)
    except HarnessError:
        import importlib.util

        shutil.rmtree(target, ignore_errors=True)
        if importlib.util.find_spec("virtualenv") is None:
            raise HarnessError("%s: %s -m venv failed and virtualenv is not installed here (pip install "
                               "'virtualenv<20.27': newer ones cannot make CPython 3.8 environments); log: %s"
                               % (name, python, log)) from None
        _run([sys.executable, "-m", "virtualenv", "--python", python, target], log, "virtualenv", name)


def _install(spec: EnvSpec, wheel: str, log: str) -> None:
    py = store.env_python(spec.name)
    if installer() == "uv":
        cmd = [str(wheels.uv_bin()), "pip", "install", "--python", py, wheel]
    else:
        cmd = [py, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", wheel]
    _run(cmd + spec.requirements, log, "installing the project", spec.name)


def _check(spec: EnvSpec, log: str) -> Dict[str, Any]:
    """The installed harness imports, with its extension, from the environment itself."""
    env = children.child_env(store.env_python(spec.name), spec.environ)
    try:
        proc = subprocess.run([store.env_python(spec.name), "-I", "-c", _CHECK, spec.backend or ""], env=env,
                              cwd=children._child_cwd(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=600, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise HarnessError("%s: the installed project did not import within 600 s; log: %s" % (spec.name, log)) from None
    with open(log, "ab") as out:
        out.write(b"$ check\n" + proc.stdout + proc.stderr)
    try:
        got = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise HarnessError("%s: the installed project does not import: %s; log: %s" % (spec.name, last[0], log)) from None
    if not os.path.realpath(got["file"]).startswith(os.path.realpath(store.env_dir(spec.name)) + os.sep):
        raise HarnessError("%s: harness imports from %s, not from the environment" % (spec.name, got["file"]))
    return dict(got)


def create(spec: EnvSpec, top: str, step: Callable[[str], None], say: Callable[[str], None]) -> str:
    """Make ``spec``'s environment unless it is ready; 'made' or 'up to date'. ``step(note)``
    announces each of the STEPS steps; ``say`` prints a line."""
    with store.locked(spec.name, say):
        if store.status(spec, top) == "ready":
            for _ in range(STEPS):
                step("%s: up to date" % spec.name)
            return "up to date"
        interp = find_interpreter(spec.python)
        target = store.env_dir(spec.name)
        log = log_path(spec.name)
        with open(log, "wb"):
            pass  # a fresh log for this create
        shutil.rmtree(target, ignore_errors=True)
        try:
            step("%s: %s venv (CPython %s)" % (spec.name, installer(), interp.version))
            _make_venv(interp.path, target, log, spec.name)
            with store.staged(top) as source:
                want = store.wanted(spec, source)  # the very files that are built
                ready = wheels.cached(want["sources"], spec.python)
                step("%s: the project's wheel for CPython %s (%s)" % (spec.name, spec.python, "reused: built for another "
                     "environment of this version" if ready else "building it, once per version: minutes"))
                wheel = wheels.wheel(spec.python, store.env_python(spec.name), source, want["sources"],
                                     lambda cmd, what: _run(cmd, log, what, spec.name), say)
            step("%s: installing the project and %d requirements" % (spec.name, len(spec.requirements)))
            _install(spec, wheel, log)
            step("%s: checking that it imports" % spec.name)
            got = _check(spec, log)
            stamp = dict(want, interpreter=interp.path, python_version=got["python"],
                         backend_version=got["backend_version"], modes=got["modes"], installer=installer(),
                         created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            store.write_stamp(spec.name, stamp)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return "made"
