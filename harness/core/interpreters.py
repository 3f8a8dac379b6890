"""Interpreter discovery: the CPython 3.8-3.13 interpreters of this machine (PATH, pyenv), by
version or path. The one finder the topics, the tests and CI use.

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from harness.errors import HarnessError

VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


@dataclass
class Interpreter:
    spec: str  # as asked: "current", "3.8", "/usr/bin/python3.12"
    path: str
    version: str  # "3.8.18"


_VERSION_SCRIPT = "import platform; print(platform.python_implementation(), platform.python_version())"


def interpreter_version(path: str) -> Optional[str]:
    """The CPython version ``path`` reports, or None if it does not run (e.g. an unselected pyenv shim)."""
    if os.path.realpath(path) == os.path.realpath(sys.executable):
        import platform

        return platform.python_version()
    try:
        proc = subprocess.run([path, "-I", "-c", _VERSION_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = proc.stdout.decode("utf-8", "replace").split()
    if proc.returncode != 0 or len(parts) != 2 or parts[0] != "CPython":
        return None
    return parts[1]


def _pyenv_roots() -> List[str]:
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    out = []
    for r in roots:
        if r and os.path.isdir(os.path.join(r, "versions")) and r not in out:
            out.append(r)
    return out


def _candidates(spec: str) -> List[str]:
    """Executables that may be CPython ``spec`` ("3.8" or "3.8.18"), best first."""
    import shutil

    xy = ".".join(spec.split(".")[:2])
    cands: List[str] = []
    for root in _pyenv_roots():
        vdir = os.path.join(root, "versions")
        names = [d for d in os.listdir(vdir) if re.fullmatch(re.escape(spec) + (r"\.\d+" if spec == xy else ""), d)]
        names.sort(key=lambda d: [int(x) for x in d.split(".")], reverse=True)
        for d in names:
            cands.append(os.path.join(vdir, d, "bin", "python" + xy))
    which = shutil.which("python" + xy)
    if which:
        cands.append(which)
    for folder in ("/usr/local/bin", "/usr/bin"):
        cands.append(os.path.join(folder, "python" + xy))
    seen, out = set(), []
    for c in cands:
        if c not in seen and os.path.isfile(c) and os.access(c, os.X_OK):
            seen.add(c)
            out.append(c)
    return out


def _check_supported(version: str, spec: str) -> None:
    """CPython 3.8-3.13 only: the versions whose allocator reports the harness can read."""
    xy = ".".join(version.split(".")[:2])
    if xy not in VERSIONS:
        raise HarnessError("--python %s: CPython %s is outside the supported range %s-%s"
                           % (spec, version, VERSIONS[0], VERSIONS[-1]))


def find_interpreter(spec: str) -> Interpreter:
    """One CPython: 'current', a version ('3.8', '3.12.1'), a managed environment ('py3.12', see
    harness.envs) or a path. HarnessError if not found."""
    import platform

    spec = spec.strip()
    if spec in ("current", "same"):
        return Interpreter("current", sys.executable, platform.python_version())
    if spec and (os.sep in spec or os.path.isfile(spec)):
        version = interpreter_version(spec)
        if version is None:
            raise HarnessError("%s is not a CPython interpreter that runs here" % spec)
        _check_supported(version, spec)
        return Interpreter(spec, spec, version)
    if re.fullmatch(r"py3\.\d+(-\w+)?", spec):  # a managed environment (memharness envs) by name
        from harness.envs import resolve

        env = resolve(spec)[0]
        return Interpreter(spec, env.python, env.version)
    if not re.fullmatch(r"3\.\d+(\.\d+)?", spec):
        raise HarnessError("--python %r: give a version such as 3.8 or 3.12.1, an environment such as py3.12, a path, "
                           "'current' or 'all'" % spec)
    _check_supported(spec, spec)
    current = platform.python_version()
    if current == spec or current.startswith(spec + "."):
        return Interpreter(spec, sys.executable, current)
    for cand in _candidates(spec):
        version = interpreter_version(cand)
        if version and (version == spec or version.startswith(spec + ".")):
            return Interpreter(spec, cand, version)
    raise HarnessError(
        "CPython %s not found (looked for python%s on PATH and under %s); install it, e.g. pyenv install %s, "
        "or pass its path" % (spec, ".".join(spec.split(".")[:2]),
                              " and ".join(r + "/versions" for r in _pyenv_roots()) or "~/.pyenv/versions", spec)
    )


def find_interpreters(specs: Optional[Sequence[str]]) -> Tuple[List[Interpreter], List[str]]:
    """Interpreters for ``specs`` ('all' = every CPython 3.8-3.13 found); notes say what is missing."""
    specs = list(specs or ["current"])
    found: List[Interpreter] = []
    notes: List[str] = []
    for spec in specs:
        if spec == "all":
            for v in VERSIONS:
                try:
                    found.append(find_interpreter(v))
                except HarnessError as exc:
                    notes.append("skipped: %s" % exc)
        else:
            found.append(find_interpreter(spec))
    unique: List[Interpreter] = []
    seen = set()
    for it in found:
        key = os.path.realpath(it.path)
        if key not in seen:
            seen.add(key)
            unique.append(it)
    return unique, notes
