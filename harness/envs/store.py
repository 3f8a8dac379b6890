"""Where the managed environments live, and what says one is ready.

The folder: $MEMHARNESS_ENVS_DIR, else $XDG_CACHE_HOME/memharness/envs, else
~/.cache/memharness/envs; made mode 0700 and refused when another user could write to it (a
planted interpreter would run with this user's rights). Each environment is a virtual environment
``ROOT/NAME`` with a stamp ``ROOT/NAME/memharness-env.json``, written last, atomically, once the
project is installed and imports: an environment without a stamp (a create that was stopped) is
never used. The stamp holds a hash of what the environment was made from (the project's version,
a digest of its sources, the requirements): a different hash means out of date.

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from typing import Any, Dict, Iterator, Optional

from harness.envs.matrix import EnvSpec
from harness.errors import HarnessError

STAMP = "memharness-env.json"
# what a wheel of the project is built from: a change to any of these is a different environment
SOURCES = ("pyproject.toml", "CMakeLists.txt", "harness", "cpp")
BESIDE = ("README.md", "LICENSE")  # read by the build (the package's description), not digested
_SKIP = ("__pycache__", "*.so", "*.pyc", "*.pyd", ".*")


def root(create: bool = False) -> str:
    """The folder of the managed environments (made, 0700, when ``create``); refused when unsafe."""
    env = os.environ.get("MEMHARNESS_ENVS_DIR")
    if env:
        path = os.path.abspath(os.path.expanduser(env))
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(os.path.abspath(cache), "memharness", "envs")
    if os.path.exists(path) and not os.path.isdir(path):
        raise HarnessError("%s is not a folder: give --dir a folder (or set MEMHARNESS_ENVS_DIR to one)" % path)
    if create and not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise HarnessError("cannot make the environments folder %s: %s" % (path, exc.strerror or exc)) from None
    if os.path.isdir(path):
        check_private(path)
    return path


def check_private(path: str) -> None:
    """Refuse a folder another user owns or may write to (nor may its parent, were it ours)."""
    for p in (path, os.path.dirname(path)):
        st = os.stat(p)
        if p != path and (st.st_uid != os.getuid() or st.st_mode & stat.S_ISVTX):
            break  # a parent of someone else's, or sticky as /tmp (no one else can rename our folder)
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise HarnessError("%s is writable by others or not yours: refusing to run interpreters from it "
                               "(chmod go-w %s, or set MEMHARNESS_ENVS_DIR to a folder of your own)" % (p, p))


def env_dir(name: str) -> str:
    return os.path.join(root(), name)


def env_python(name: str) -> str:
    return os.path.join(env_dir(name), "bin", "python")


def source_tree() -> str:
    """The project's source folder (pyproject.toml beside the harness package this process runs);
    HarnessError when harness runs from an installed copy."""
    import harness

    package = os.path.dirname(os.path.abspath(harness.__file__ or ""))
    top = os.path.dirname(package)
    pyproject = os.path.join(top, "pyproject.toml")
    ok = os.path.isfile(pyproject) and os.path.isdir(os.path.join(top, "cpp"))
    if ok:
        with open(pyproject, encoding="utf-8") as f:
            ok = 'name = "memharness"' in f.read()
    if not ok:
        raise HarnessError("memharness envs builds the project from its source tree, and this harness (%s) is an "
                           "installed copy with no pyproject.toml beside it: clone the repository, then run "
                           "memharness envs from there (pip install -e . in a virtualenv of the clone)" % package)
    return top


def _skipped(name: str) -> bool:
    """Builds, caches and hidden files: neither copied for a build nor digested."""
    import fnmatch

    return any(fnmatch.fnmatch(name, p) for p in _SKIP)


def source_digest(top: str) -> str:
    """sha256 of the files a wheel is built from (names and contents; caches and builds left out)."""
    h = hashlib.sha256()
    for entry in SOURCES:
        path = os.path.join(top, entry)
        files = [path] if os.path.isfile(path) else []
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not _skipped(d))
            files += [os.path.join(folder, n) for n in sorted(names) if not _skipped(n)]
        for f in files:
            h.update(os.path.relpath(f, top).encode() + b"\0")
            with open(f, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


@contextlib.contextmanager
def staged(top: str) -> Iterator[str]:
    """A copy of the files a wheel is built from, in a private temporary folder (mkdtemp): the
    build reads exactly the files the stamp digests, whatever is edited meanwhile, and from a path
    no installer's cache has seen (pip and uv may cache the wheel of a local folder by its path)."""
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="memharness-source-")
    dest = os.path.join(tmp, "source")
    try:
        os.mkdir(dest)
        for entry in SOURCES + BESIDE:
            src = os.path.join(top, entry)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(dest, entry), ignore=shutil.ignore_patterns(*_SKIP))
            elif os.path.isfile(src):
                shutil.copy2(src, os.path.join(dest, entry))
        yield dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wanted(spec: EnvSpec, top: Optional[str]) -> Dict[str, Any]:
    """What an up-to-date environment's stamp says (``top``: the source tree, None when harness is
    an installed copy: then the version alone stands for the sources)."""
    from harness import __version__

    what: Dict[str, Any] = {"name": spec.name, "python": spec.python, "requirements": spec.requirements,
                            "environ": spec.environ, "version": __version__,
                            "sources": source_digest(top) if top else None}
    what["hash"] = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
    return what


def read_stamp(name: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(env_dir(name), STAMP), encoding="utf-8") as f:
            got = json.load(f)
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) else None


def write_stamp(name: str, stamp: Dict[str, Any]) -> None:
    """Atomically: a stamp is whole or absent."""
    path = os.path.join(env_dir(name), STAMP)
    tmp = path + ".%d.tmp" % os.getpid()
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(stamp, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def status(spec: EnvSpec, top: Optional[str]) -> str:
    """'ready', 'out of date', 'incomplete' (a folder without its stamp) or 'not created'."""
    stamp = read_stamp(spec.name)
    if stamp is None:
        return "incomplete" if os.path.exists(env_dir(spec.name)) else "not created"
    if not os.path.isfile(env_python(spec.name)):
        return "incomplete"
    want = wanted(spec, top)
    if top is None:  # an installed harness cannot digest sources: the version and requirements decide
        keys = ("version", "requirements", "environ", "python")
        return "ready" if all(stamp.get(k) == want[k] for k in keys) else "out of date"
    return "ready" if stamp.get("hash") == want["hash"] else "out of date"


@contextlib.contextmanager
def locked(name: str, say: Any = None) -> Iterator[None]:
    """An exclusive lock on one environment (fcntl, ``ROOT/.NAME.lock``): a second create of the
    same environment waits for the first, then finds it ready."""
    import fcntl

    path = os.path.join(root(create=True), ".%s.lock" % name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say:
                say("%s: another memharness envs create is making it; waiting" % name)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def name_of(path: str) -> Optional[str]:
    """The managed environment whose interpreter ``path`` is (ROOT/NAME/bin/python*), or None."""
    p = os.path.abspath(path)
    bin_dir = os.path.dirname(p)
    if os.path.basename(bin_dir) != "bin" or os.path.dirname(os.path.dirname(bin_dir)) != root():
        return None
    return os.path.basename(os.path.dirname(bin_dir))
