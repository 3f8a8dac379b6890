"""What makes the pickle topic safe to run: it loads nothing it did not write itself in this run.

* ``Artifact``: the output of one dump (bytes, out-of-band buffers, or a file), made by
  ``Method.dump`` only, with a token this process issued; ``Artifact.verify`` refuses any other,
  a discarded one, and a file that changed since it was written (same inode, size and
  modification time) or that lies outside a live ``Workspace``.
* ``Workspace``: a private temporary folder (mode 0700) for the files of one measurement.
* ``npzip_dump`` / ``_npzip_load``: the harness's own numpy-readable zip (``_npzip_load`` is
  called by ``Method.load`` only, after ``verify``); ``numpy_readable``: the arrays of such a
  zip read with ``numpy.load(allow_pickle=False)``, never a pickle.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from harness.core.optional import INSTALL
from harness.errors import BackendMissing, HarnessError

HIGHEST = pickle.HIGHEST_PROTOCOL
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
        self.token = os.urandom(16).hex()  # what secrets.token_hex does (hmac's OpenSSL stays unloaded)
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
        raise BackendMissing("numpy", "not installed", INSTALL["numpy"]) from None
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
    import zipfile  # here: the measuring children that write no zip need not import it

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
    import zipfile

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
    import zipfile

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
