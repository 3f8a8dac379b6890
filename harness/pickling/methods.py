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
that ``Workspace`` created (mode 0700). Nothing here loads a path it is given.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import importlib
import os
import pickle
import secrets
import shutil
import tempfile
import zipfile
from typing import Any, Dict, List, Optional, Tuple

from harness.errors import BackendMissing, HarnessError

HIGHEST = pickle.HIGHEST_PROTOCOL
DEFAULT = pickle.DEFAULT_PROTOCOL
NPZIP_PICKLE = "object.pkl"
NPY_MAGIC = b"\x93NUMPY"


class UntrustedData(HarnessError):
    """Refused to load data that the harness did not write itself in this run."""


# --------------------------------------------------------------------------
# Artifacts: what a dump produced, and proof that we produced it

_ISSUED: Dict[str, Tuple[Optional[str], Optional[Tuple[int, int, int]]]] = {}
_DUMPED = object()  # only Method.dump makes Artifacts


def _stat_key(path: str) -> Tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class Artifact:
    """The output of one dump: bytes (plus out-of-band buffers) or a file in a Workspace."""

    __slots__ = ("token", "data", "buffers", "path", "__weakref__")

    def __init__(self, _key: Any, data: Any = None, buffers: Optional[List[Any]] = None,
                 path: Optional[str] = None) -> None:
        if _key is not _DUMPED:
            raise UntrustedData("an Artifact is made by Method.dump only: the harness loads nothing else")
        self.token = secrets.token_hex(16)
        self.data = data
        self.buffers = buffers
        self.path = path
        _ISSUED[self.token] = (path, _stat_key(path) if path else None)

    @property
    def nbytes(self) -> int:
        """Bytes of the serialised form: in-band bytes + out-of-band buffers, or the file size."""
        if self.path is not None:
            return os.path.getsize(self.path)
        n = len(self.data)
        for b in self.buffers or ():
            n += memoryview(b).nbytes
        return n

    @property
    def out_of_band(self) -> int:
        return sum(memoryview(b).nbytes for b in self.buffers or ())

    def verify(self) -> None:
        """Raise UntrustedData unless this artifact was made by a dump in this process and is unchanged."""
        entry = _ISSUED.get(self.token)
        if entry is None or entry[0] != self.path:
            raise UntrustedData("refusing to load data that this run did not write itself")
        if self.path is not None:
            try:
                same = _stat_key(self.path) == entry[1]
            except OSError:
                same = False
            if not same or not Workspace.owns(self.path):
                raise UntrustedData("refusing to load %s: it changed since this run wrote it" % self.path)

    def discard(self) -> None:
        _ISSUED.pop(self.token, None)
        self.data = self.buffers = None


class Workspace:
    """A private temporary folder (mode 0700) for the files of one measurement; removed on exit."""

    _live: Dict[str, "Workspace"] = {}

    def __init__(self, parent: Optional[str] = None) -> None:
        self.path = tempfile.mkdtemp(prefix="memharness-pickle-", dir=parent)
        self._live[os.path.realpath(self.path)] = self

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def new_file(self, name: str) -> str:
        """A fresh path for ``name``; the file made by the previous call for ``name`` is removed."""
        self._serial = getattr(self, "_serial", {})
        n = self._serial.get(name, 0)
        if n:
            try:
                os.unlink(self.file("%s.%d" % (name, n)))
            except OSError:
                pass
        self._serial[name] = n + 1
        return self.file("%s.%d" % (name, n + 1))

    @classmethod
    def owns(cls, path: str) -> bool:
        return os.path.realpath(os.path.dirname(path)) in cls._live

    def close(self) -> None:
        self._live.pop(os.path.realpath(self.path), None)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------
# The harness's own numpy-readable zip


def _np() -> Any:
    try:
        import numpy
    except ImportError:
        raise BackendMissing("numpy", "not installed", "pip install numpy") from None
    return numpy


def npzip_dump(obj: Any, path: str, protocol: int = HIGHEST, compress: bool = False) -> List[str]:
    """Write ``obj`` to a zip: ``object.pkl`` plus one ``array_N.npy`` per numpy array.

    Arrays (exact ``numpy.ndarray``, not object dtype) are written as ``.npy``
    entries, streamed in chunks by ``numpy.lib.format.write_array``, and
    referenced from the pickle by persistent id; everything else is pickled.
    The arrays can be read with numpy alone: ``numpy.load(path)["array_0"]``.
    Returns the names of the array entries.
    """
    np = _np()
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    names: Dict[int, str] = {}
    with zipfile.ZipFile(path, "w", mode, allowZip64=True) as zf:

        class _Pickler(pickle.Pickler):
            def persistent_id(self, o: Any) -> Optional[str]:
                if type(o) is np.ndarray and not o.dtype.hasobject:
                    key = id(o)
                    if key not in names:
                        name = "array_%d.npy" % len(names)
                        with zf.open(name, "w", force_zip64=True) as fh:
                            np.lib.format.write_array(fh, o, allow_pickle=False)
                        names[key] = name
                    return "ndarray:" + names[key]
                return None

        # The pickle goes to a side file first: a zip takes one open entry at a time,
        # and the array entries are written while the pickler runs.
        side = path + ".pkl-part"
        try:
            with open(side, "wb") as fh:
                _Pickler(fh, protocol=protocol).dump(obj)
            zf.write(side, NPZIP_PICKLE)
        finally:
            if os.path.exists(side):
                os.unlink(side)
    return sorted(names.values())


def _npzip_load(path: str) -> Any:
    """Read back what npzip_dump wrote (only ever called through Method.load, see Artifact.verify)."""
    np = _np()
    with zipfile.ZipFile(path) as zf:

        loaded: Dict[str, Any] = {}  # one array per entry: references to one array stay one array

        class _Unpickler(pickle.Unpickler):
            def persistent_load(self, pid: Any) -> Any:
                kind, _, name = str(pid).partition(":")
                if kind != "ndarray":
                    raise pickle.UnpicklingError("unknown persistent id %r" % (pid,))
                if name not in loaded:
                    with zf.open(name) as fh:
                        loaded[name] = np.lib.format.read_array(fh, allow_pickle=False)
                return loaded[name]

        with zf.open(NPZIP_PICKLE) as fh:
            return _Unpickler(fh).load()


def numpy_readable(path: str) -> List[Any]:
    """The arrays of a zip, read with numpy alone (``numpy.load`` on the zip; no pickle allowed).

    Entries that are not ``.npy`` data are skipped. Used to check, in every run,
    that a numpy-readable dump really is.
    """
    np = _np()
    arrays = []
    with np.load(path, allow_pickle=False) as npz:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                with zf.open(info) as fh:
                    if fh.read(len(NPY_MAGIC)) != NPY_MAGIC:
                        continue
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                arrays.append(npz[key])
    return arrays


# --------------------------------------------------------------------------
# pkl_utils of the installed framework

PKL_UTILS_INSTALL = ("pip install theano==1.0.5 'numpy<1.24' (THEANO_FLAGS=blas.ldflags=), "
                     "or pip install 'pytensor<=2.24' (newer PyTensor has no pkl_utils.dump)")


def pkl_utils() -> Tuple[str, Any]:
    """(library name and version, the pkl_utils module) of Theano or PyTensor <= 2.24, or BackendMissing."""
    from harness.pickling.objects import framework

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
    raise BackendMissing("pkl_utils", "theano: " + "; ".join(reasons), PKL_UTILS_INSTALL)


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

    @property
    def to_file(self) -> bool:
        return self.kind in ("file", "numpy", "npzip", "pkl_utils")

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


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise HarnessError("unknown method %r (choose from: %s)" % (name, ", ".join(METHODS))) from None
