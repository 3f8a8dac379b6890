"""Ways to serialise an object and get it back, each a ``Method``.

* ``dumps-pN``: ``pickle.dumps(obj, protocol=N)`` to bytes, ``pickle.loads``.
* ``dump-pN``: ``pickle.dump(obj, file, protocol=N)`` to a file, ``pickle.load``.
* ``oob-p5``: protocol 5 with ``buffer_callback`` (buffers stay out of band,
  zero copy) and ``pickle.loads(data, buffers=...)``.
* ``numpy.save``: ``numpy.save`` / ``numpy.load(allow_pickle=False)`` (arrays only).
* ``npzip``: a zip written by the harness itself: an ``object.pkl`` entry plus
  one ``array_N.npy`` entry per numpy array (what Theano's and PyTensor <= 2.24's
  ``pkl_utils.dump`` did). The arrays are readable with numpy alone.
* ``pkl_utils``: the installed ``pkl_utils.dump`` / ``load`` (Theano 1.0.5, or
  PyTensor <= 2.24), compared beside ``npzip``.

Security: ``Method.load`` only accepts an ``Artifact`` that ``Method.dump``
made in this process, and for files only while the file is unchanged since it
was written (same inode, size and modification time) inside a private folder
that ``Workspace`` created (mode 0700): see ``safety``. Nothing here loads a path it is given.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import importlib
import pickle
from typing import Any, Dict, List, Optional, Tuple

from harness.core.optional import INSTALL
from harness.errors import BackendMissing, HarnessError
from harness.topics.pickle.safety import _DUMPED, Artifact, Workspace, _np, _npzip_load, npzip_dump

HIGHEST = pickle.HIGHEST_PROTOCOL
DEFAULT = pickle.DEFAULT_PROTOCOL


# --------------------------------------------------------------------------
# pkl_utils of the installed framework


def pkl_utils() -> Tuple[str, Any]:
    """(library name and version, the pkl_utils module) of Theano or PyTensor <= 2.24, or BackendMissing."""
    from harness.topics.pickle.workloads import framework

    reasons = []
    for fw in ("theano", "pytensor"):
        try:
            lib = framework(fw)
        except BackendMissing as exc:
            reasons.append(exc.reason if fw == "theano" else "%s: %s" % (fw, exc.reason))
            continue
        try:
            mod = importlib.import_module(fw + ".misc.pkl_utils")
        except ImportError as exc:
            reasons.append("%s %s: %s" % (fw, getattr(lib, "__version__", "?"), exc))
            continue
        if hasattr(mod, "dump") and hasattr(mod, "load"):
            return "%s %s" % (fw, getattr(lib, "__version__", "?")), mod
        reasons.append("%s %s has no pkl_utils.dump (removed after PyTensor 2.24)" % (fw, getattr(lib, "__version__", "?")))
    raise BackendMissing("pkl_utils", "theano: " + "; ".join(reasons), INSTALL["pkl_utils"])


# --------------------------------------------------------------------------
# Methods


class Method:
    """One way to serialise and deserialise."""

    def __init__(self, name: str, kind: str, protocol: Optional[int], description: str) -> None:
        self.name = name
        self.kind = kind  # bytes | file | oob | numpy | npzip | pkl_utils
        self.protocol = protocol
        self.description = description

    def __repr__(self) -> str:
        return "Method(%r)" % self.name

    def applies(self, spec: Any) -> Optional[str]:
        """None if this method applies to the object ``spec``, else why not."""
        if self.kind == "numpy" and not spec.is_ndarray:
            return "numpy.save takes arrays only"
        if self.protocol is not None and self.protocol > HIGHEST:
            return "protocol %d is above this Python's HIGHEST_PROTOCOL %d" % (self.protocol, HIGHEST)
        return None

    def check_available(self) -> Optional[str]:
        """The library behind the method (None for plain pickle); BackendMissing if absent."""
        if self.kind in ("numpy", "npzip"):
            return "numpy " + _np().__version__
        if self.kind == "pkl_utils":
            return pkl_utils()[0]
        return None

    def dump(self, obj: Any, ws: Workspace) -> Artifact:
        kind = self.kind
        if kind == "bytes":
            return Artifact(_DUMPED, data=pickle.dumps(obj, protocol=self.protocol))
        if kind == "oob":
            buffers: List[Any] = []
            data = pickle.dumps(obj, protocol=self.protocol, buffer_callback=buffers.append)
            return Artifact(_DUMPED, data=data, buffers=buffers)
        # A new file each time: rewriting a file in place makes some file systems (ext4's
        # auto_da_alloc) flush it at close, which would time the disk, not the pickler.
        path = ws.new_file(self.name.replace(".", "_"))
        if kind == "file":
            with open(path, "wb") as fh:
                pickle.dump(obj, fh, protocol=self.protocol)
        elif kind == "numpy":
            with open(path, "wb") as fh:
                _np().save(fh, obj, allow_pickle=False)
        elif kind == "npzip":
            npzip_dump(obj, path, protocol=self.protocol or HIGHEST)
        elif kind == "pkl_utils":
            mod = pkl_utils()[1]
            with open(path, "wb") as fh:
                mod.dump(obj, fh)
        else:  # pragma: no cover
            raise HarnessError("unknown method kind %r" % kind)
        return Artifact(_DUMPED, path=path)

    def load(self, art: Artifact) -> Any:
        art.verify()
        kind = self.kind
        if kind == "bytes":
            return pickle.loads(art.data)
        if kind == "oob":
            return pickle.loads(art.data, buffers=art.buffers)
        path = art.path
        if path is None:  # only a dump of an in-memory kind makes an artifact without a file
            raise HarnessError("%s loads from a file, but this artifact holds none" % self.name)
        if kind == "file":
            with open(path, "rb") as fh:
                return pickle.load(fh)
        if kind == "numpy":
            with open(path, "rb") as fh:
                return _np().load(fh, allow_pickle=False)
        if kind == "npzip":
            return _npzip_load(path)
        if kind == "pkl_utils":
            mod = pkl_utils()[1]
            with open(path, "rb") as fh:
                return mod.load(fh)
        raise HarnessError("unknown method kind %r" % kind)  # pragma: no cover


def _build_methods() -> Dict[str, Method]:
    out: Dict[str, Method] = {}
    for p in range(HIGHEST + 1):
        out["dumps-p%d" % p] = Method("dumps-p%d" % p, "bytes", p, "pickle.dumps, protocol %d, to bytes" % p)
    for p in range(HIGHEST + 1):
        out["dump-p%d" % p] = Method("dump-p%d" % p, "file", p, "pickle.dump, protocol %d, to a file" % p)
    if HIGHEST >= 5:
        out["oob-p5"] = Method("oob-p5", "oob", 5, "protocol 5, buffer_callback (out of band), loads(buffers=)")
    out["numpy.save"] = Method("numpy.save", "numpy", None, "numpy.save / numpy.load(allow_pickle=False), arrays only")
    out["npzip"] = Method("npzip", "npzip", HIGHEST,
                          "harness zip: object.pkl (protocol %d) + one .npy per array" % HIGHEST)
    out["pkl_utils"] = Method("pkl_utils", "pkl_utils", None, "Theano / PyTensor<=2.24 pkl_utils.dump/load (zip)")
    return out


METHODS: Dict[str, Method] = _build_methods()


def register(method: Method) -> Method:
    """Add a method of one's own (a ``Method`` subclass with its own ``dump`` and ``load``), e.g.
    from a plugin module that ``Options.plugins`` names: the parent and every child import it."""
    if not isinstance(method, Method):
        raise HarnessError("register() takes a Method, got %r" % (method,))
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise HarnessError("unknown method %r (choose from: %s)" % (name, ", ".join(METHODS))) from None
