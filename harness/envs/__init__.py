"""Managed environments: the matrix of ``harness.envs.matrix``, made by ``memharness envs create``,
and ``resolve``, which turns a ``--python`` value into the environments a topic runs in.

    resolve("all")            every environment of the matrix that is ready; ``.notes`` names
                              those not created or out of date, with the command that makes them
    resolve("py3.12,py3.11-theano")   environments by name
    resolve("3.8,3.12")       by version: the plain environment pyX.Y (this interpreter when it
                              is that version and pyX.Y is not made)
    resolve("/path/python")   any interpreter that has memharness installed
    resolve("current")        this interpreter

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Union

from harness.envs import store
from harness.envs.matrix import EnvSpec, by_name, definition
from harness.errors import HarnessError

__all__ = ["Environment", "Resolved", "resolve", "add_python_argument", "definition", "by_name", "EnvSpec"]


@dataclass
class Environment:
    """One interpreter a topic runs in: its name (a matrix name such as 'py3.12-theano', 'current',
    or the path given), the interpreter, its CPython version ('3.12.1'), its backend (None,
    'theano', 'pytensor') and the variables its runs need (THEANO_FLAGS for Theano)."""

    name: str
    python: str
    version: str
    backend: Optional[str] = None
    environ: Dict[str, str] = field(default_factory=dict)


class Resolved(List[Environment]):
    """The environments asked for, in order, each once; ``notes``: what ``all`` left out and why."""

    def __init__(self, envs: Iterable[Environment] = (), notes: Optional[List[str]] = None) -> None:
        super().__init__(envs)
        self.notes: List[str] = list(notes or [])


def current() -> Environment:
    return Environment("current", sys.executable, platform.python_version())


def _managed(spec: EnvSpec, top: Optional[str]) -> Environment:
    state = store.status(spec, top)
    if state != "ready":
        raise HarnessError("environment %s is %s: make it with memharness envs create %s" % (spec.name, state, spec.name))
    stamp = store.read_stamp(spec.name) or {}
    return Environment(spec.name, store.env_python(spec.name), str(stamp.get("python_version") or spec.python),
                       spec.backend, dict(spec.environ))


def _by_path(path: str) -> Environment:
    from harness.core.interpreters import _check_supported, interpreter_version

    path = os.path.abspath(os.path.expanduser(path))
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise HarnessError("--python %s: not an executable file" % path)
    version = interpreter_version(path)
    if version is None:
        raise HarnessError("--python %s: not a CPython interpreter that runs here" % path)
    _check_supported(version, path)
    name = store.name_of(path)
    spec = by_name().get(name or "")
    if spec is None:
        return Environment(path, path, version)
    return Environment(spec.name, path, version, spec.backend, dict(spec.environ))


def _source() -> Optional[str]:
    try:
        return store.source_tree()
    except HarnessError:
        return None  # an installed harness: environments made by a source tree of the same version


def _all(top: Optional[str]) -> Resolved:
    got, missing = Resolved(), {}  # type: Resolved, Dict[str, List[str]]
    for spec in definition():
        state = store.status(spec, top)
        if state == "ready":
            got.append(_managed(spec, top))
        else:
            missing.setdefault(state, []).append(spec.name)
    if not got:
        raise HarnessError("--python all: no environment of the matrix is made yet: memharness envs create all "
                           "(or some of: %s)" % ", ".join(s.name for s in definition()))
    for state, names in missing.items():
        got.notes.append("environments %s: %s (memharness envs create %s)" % (state, ", ".join(names), " ".join(names)))
    return got


def resolve(spec: Union[str, Sequence[str], None]) -> Resolved:
    """The environments ``spec`` names (see the module's docstring); HarnessError, one line, for
    a name, version or path that is not a ready environment or a CPython with memharness."""
    items = [spec] if isinstance(spec, str) else list(spec or ["current"])
    parts = [p.strip() for item in items for p in item.split(",")]
    if "" in parts or not parts:
        raise HarnessError("--python: an empty name (give an environment such as py3.12, a version, a path, "
                           "'current' or 'all')")
    top = _source()
    specs = by_name()
    out = Resolved()
    for p in dict.fromkeys(parts):
        if p == "all":
            found = _all(top)
            out.notes += found.notes
        elif p in ("current", "same"):
            found = Resolved([current()])
        elif p in specs:
            found = Resolved([_managed(specs[p], top)])
        elif re.fullmatch(r"3\.\d+(\.\d+)?", p):
            found = Resolved([_by_version(p, top)])
        elif os.sep in p or os.path.exists(p):
            found = Resolved([_by_path(p)])
        else:
            raise HarnessError("--python %r: not an environment (%s), a version such as 3.12, a path, 'current' "
                               "or 'all'" % (p, ", ".join(specs)))
        for env in found:
            if all(os.path.abspath(e.python) != os.path.abspath(env.python) for e in out):
                out.append(env)
    return out


def _by_version(version: str, top: Optional[str]) -> Environment:
    xy = ".".join(version.split(".")[:2])
    spec = by_name().get("py" + xy)
    mine = platform.python_version()
    if spec is not None and store.status(spec, top) == "ready":
        env = _managed(spec, top)
        if env.version == version or env.version.startswith(version + ".") or version == xy:
            return env
    if mine == version or mine.startswith(version + "."):
        return current()
    if spec is None:
        raise HarnessError("--python %s: no environment of the matrix has CPython %s (%s)"
                           % (version, version, ", ".join(by_name())))
    raise HarnessError("--python %s: environment %s is %s: make it with memharness envs create %s"
                       % (version, spec.name, store.status(spec, top), spec.name))


def add_python_argument(parser: argparse.ArgumentParser) -> None:
    """``--python``: the environments a whole topic runs in (see ``resolve``)."""
    parser.add_argument("--python", metavar="ENV|VERSION|PATH|all",
                        help="run the topic in these environments, comma-separated: managed ones "
                             "by name (memharness envs list), 'all' of them, a version (3.12), or an "
                             "interpreter with memharness installed; every row gets env and cpython columns "
                             "(default: this interpreter)")
