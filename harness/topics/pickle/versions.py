"""Which protocols each CPython can read: a pickle that each interpreter writes at every
protocol it has, loaded by every interpreter (itself included).

Child side (``write``, ``read``): standard library only, CPython 3.8 syntax, since every
interpreter of the matrix runs it. Parent side (``versions_rows``): the files go to a private
folder of this run (``tempfile.mkdtemp``, mode 0700); a reader loads a file only when its SHA-256
is the one its writer reported in this run (the harness loads nothing it did not write itself).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import platform
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Sequence

from harness.errors import ChildError
from harness.topics.pickle.workloads import float_value, int_value, str_value

HIGHEST = pickle.HIGHEST_PROTOCOL


def sample_object() -> Dict[str, Any]:
    """The data every interpreter writes: the types whose opcodes differ between protocols
    (bytes and bytearray, long ints, unicode, sets, nested tuples, references to one object)."""
    shared = [str_value(i) for i in range(8)]
    return {
        "ints": [int_value(i) for i in range(64)], "big": [2 ** 70 + i for i in range(4)],
        "floats": [float_value(i) for i in range(64)], "text": "pickle \u00e9\u4e2d\U0001f40d " + str_value(7),
        "bytes": bytes(range(256)) * 4, "bytearray": bytearray(b"memharness" * 40),
        "tuple": (1, (2.5, ("three", None, True, False))), "set": {1, 2, 3}, "frozenset": frozenset("abc"),
        "same": [shared, shared],
    }


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def write(folder: str) -> Dict[str, Any]:
    """Write ``sample_object()`` at every protocol of this interpreter into ``folder`` (new files)."""
    version = platform.python_version()
    files = []
    obj = sample_object()
    for protocol in range(HIGHEST + 1):
        path = os.path.join(folder, "p%d.pickle" % protocol)
        with open(path, "xb") as fh:
            pickle.dump(obj, fh, protocol=protocol)
        files.append({"protocol": protocol, "path": path, "sha256": _sha256(path), "writer": version})
    return {"python": version, "highest": HIGHEST, "files": files}


def read(files: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Load each file (only while its SHA-256 is the one its writer reported) and compare it
    with this interpreter's ``sample_object()``."""
    expected = sample_object()
    loads = []
    for f in files:
        entry = {"writer": f["writer"], "protocol": f["protocol"], "loaded": False, "equal": None, "error": None}
        loads.append(entry)
        with open(f["path"], "rb") as fh:
            data = fh.read()  # read once: the bytes checked are the bytes loaded
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            entry["error"] = "the file changed since it was written: not loaded"
            continue
        try:
            back = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - what this interpreter says of that protocol
            entry["error"] = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            continue
        entry["loaded"] = True
        entry["equal"] = back == expected
    return {"python": platform.python_version(), "highest": HIGHEST, "loads": loads}


def versions_rows(pythons: Sequence[Any]) -> Dict[str, List[Dict[str, Any]]]:
    """Every interpreter (``harness.core.interpreters.Interpreter``) writes, then every one reads
    all the files: one "versions" row per (writer, protocol, reader)."""
    from harness.core import children

    rows: List[Dict[str, Any]] = []
    folder = tempfile.mkdtemp(prefix="memharness-versions-")
    subs = [os.path.join(folder, str(i)) for i in range(len(pythons))]
    for sub in subs:
        os.mkdir(sub, 0o700)
    try:  # nothing here is timed: the interpreters write, then read, all at once
        with ThreadPoolExecutor(max_workers=max(1, len(pythons))) as pool:
            wrote = list(pool.map(lambda it_sub: children.run_child(
                "harness.topics.pickle.versions:write", {"folder": it_sub[1]}, python=it_sub[0].path, timeout=120),
                zip(pythons, subs)))
            written = [f for got in wrote for f in got["files"]]
            for sub, got in zip(subs, wrote):  # only files in the folder this run gave that writer
                for f in got["files"]:
                    if os.path.dirname(os.path.abspath(f["path"])) != sub:
                        raise ChildError("pickle versions: %s wrote %s, outside its folder %s" % (got["python"], f["path"], sub))
            highest = {got["python"]: got["highest"] for got in wrote}
            read_back = list(pool.map(lambda it: children.run_child(
                "harness.topics.pickle.versions:read", {"files": written}, python=it.path, timeout=120), pythons))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for got in read_back:
        for entry in got["loads"]:
            rows.append(dict(entry, writer_highest=highest[entry["writer"]], reader=got["python"],
                             reader_highest=got["highest"]))
    return {"versions": rows}
