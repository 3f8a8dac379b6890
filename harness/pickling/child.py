"""Measurements that run inside a fresh child process (``harness.core.children.run_child``).

``measure_case`` builds one object and, for each method asked, measures:

* the serialised size (bytes; in-band + out-of-band for ``oob-p5``, the file size for files),
* the peak extra memory of the dump and of the load, twice: the RSS high-water
  mark above the RSS at the start (``VmHWM`` after resetting it; it sees
  everything, at page granularity) and tracemalloc's peak (requested bytes;
  numpy buffers included, the C++ heap of ``harness._containers`` not),
* the median time of the dump and of the load (``harness.core.timing.time_call``),
* whether the loaded object equals the original (every run), and for the zip
  methods whether numpy alone reads the arrays back.

RSS is only meaningful on a heap that no earlier measurement has used: memory
freed by one method (pymalloc pools in half-used arenas, say) is reused by the
next without raising the RSS. So each method's RSS pass runs in a process
forked from this one right after the object was built (copy-on-write leaves
the RSS count unchanged), before any traced or timed pass. A crash there (an
extension that aborts) costs that method only. tracemalloc figures do not
depend on the heap's history, and are taken in this process afterwards.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import signal
import sys
import tempfile
import time
import tracemalloc
import warnings
from typing import Any, Callable, Dict, List, Optional

from harness.core import memory, timing
from harness.errors import BackendMissing
from harness.pickling.methods import DEFAULT, HIGHEST, Workspace, get_method, numpy_readable
from harness.pickling.objects import OBJECTS, get_object


def _settle() -> None:
    gc.collect()
    gc.collect()
    memory.malloc_trim()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0][:200] if text else "")


def rss_file() -> int:
    """Resident file-backed pages of this process (RssFile, bytes; 0 where unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss_peak(op: Callable[[], Any]) -> Any:
    """(result of op(), RSS high-water above the start, or None where it cannot be reset).

    Library code pages that the operation touches for the first time (file-backed:
    a forked process faults them in again) are not the operation's memory: the
    growth of RssFile over the operation is taken off.
    """
    _settle()
    file0 = rss_file()
    rss0 = memory.current_rss()
    ok = memory.reset_peak_rss()
    value = op()
    hwm = memory.peak_rss()
    code = max(rss_file() - file0, 0)
    return value, (max(hwm - rss0 - code, 0) if ok else None)


def _traced_peak(op: Callable[[], Any]) -> Any:
    """(result of op(), tracemalloc peak above the start)."""
    _settle()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        value = op()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, max(peak - base, 0)


def in_fork(func: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """``func()`` run in a forked copy of this process; its JSON-able result.

    If the copy dies, {"error": "process died: killed by SIGABRT: <its last
    stderr line>"}. Where there is no fork (not POSIX), ``func()`` runs here.
    """
    if not hasattr(os, "fork"):
        return func()
    sys.stdout.flush()
    sys.stderr.flush()
    rfd, wfd = os.pipe()
    with tempfile.TemporaryFile() as err, warnings.catch_warnings():
        # 3.12+ warns that forking a process with threads (numpy's BLAS pool) may deadlock;
        # the copy runs only pickle and file I/O and leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
        if pid == 0:  # the copy
            status = 0
            try:
                os.close(rfd)
                os.dup2(err.fileno(), 2)
                import faulthandler

                faulthandler.disable()  # its report of a crash would go to the parent's stderr
                try:
                    out = func()
                except BaseException as exc:  # noqa: BLE001 - reported as data
                    out = {"error": _error_text(exc)}
                data = json.dumps(out).encode()
                while data:
                    data = data[os.write(wfd, data):]
            except BaseException:  # noqa: BLE001
                status = 1
            finally:
                os._exit(status)
        os.close(wfd)
        chunks = []
        while True:
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        if chunks and status == 0:
            return json.loads(b"".join(chunks).decode())
        err.seek(0)
        last = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            how = "killed by %s" % signal.Signals(sig).name
        except ValueError:
            how = "killed by signal %d" % sig
    else:
        how = "exit status %d" % os.WEXITSTATUS(status)
    return {"error": "process died: %s%s" % (how, (": " + " | ".join(last[-2:])[:240]) if last else "")}


def _readable_check(spec: Any, obj: Any, path: str) -> Optional[bool]:
    """For zips: does numpy alone read the arrays back (equal, for a plain array)?"""
    arrays = numpy_readable(path)
    if spec.is_ndarray:
        return len(arrays) == 1 and spec.equal(obj, arrays[0])
    if spec.has_arrays:
        return len(arrays) >= 1
    return None


def rss_pass(spec: Any, obj: Any, method_name: str, ws: Workspace) -> Dict[str, Any]:
    """Dump and load once, untraced: size, RSS peaks, round-trip equality (meant to run in_fork;
    ``ws`` belongs to the caller, who removes it even if this process dies)."""
    m = get_method(method_name)
    out: Dict[str, Any] = {}
    t0 = time.perf_counter()
    art, out["dump_peak_rss"] = _rss_peak(lambda: m.dump(obj, ws))
    out["dump_once_s"] = time.perf_counter() - t0  # with the settling: an upper bound
    out["pickled"] = art.nbytes
    out["out_of_band"] = art.out_of_band
    t0 = time.perf_counter()
    back, out["load_peak_rss"] = _rss_peak(lambda: m.load(art))
    out["load_once_s"] = time.perf_counter() - t0
    out["equal"] = spec.equal(obj, back)
    del back
    if m.kind in ("npzip", "pkl_utils"):
        out["numpy_readable"] = _readable_check(spec, obj, art.path)
    art.discard()
    return out


SLOW_CALL = 0.25  # seconds: a call this slow is timed with 2 samples, not ``repeat``


def traced_and_timed(spec: Any, obj: Any, method_name: str, repeat: int = 3, min_time: float = 0.005,
                     max_time: float = 0.5, once: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """tracemalloc peaks of one dump and one load, then their times (this process).

    ``once``: the duration of one untraced dump and load ("dump_once_s", "load_once_s"),
    if known; a call slower than SLOW_CALL gets min(repeat, 2) samples.
    """
    once = once or {}
    reps = {op: (min(repeat, 2) if once.get(op + "_once_s", 0.0) > SLOW_CALL else repeat) for op in ("dump", "load")}
    m = get_method(method_name)
    with Workspace() as ws:
        art, dump_traced = _traced_peak(lambda: m.dump(obj, ws))
        back, load_traced = _traced_peak(lambda: m.load(art))
        del back
        holder = [art]

        def dump() -> None:
            old, holder[0] = holder[0], m.dump(obj, ws)
            old.discard()

        t_dump = timing.time_call(dump, repeat=reps["dump"], min_time=min_time, max_time=max_time)
        art = holder[0]
        t_load = timing.time_call(lambda: m.load(art), repeat=reps["load"], min_time=min_time, max_time=max_time)
        art.discard()
    return {"dump_peak_traced": dump_traced, "load_peak_traced": load_traced,
            "dump_s": t_dump["median"], "dump_iqr": t_dump["iqr"], "dump_min": t_dump["min"],
            "load_s": t_load["median"], "load_iqr": t_load["iqr"], "load_min": t_load["min"]}


def versions() -> Dict[str, Any]:
    """Versions that matter here, of this interpreter."""
    out: Dict[str, Any] = {"python": platform.python_version(), "highest_protocol": HIGHEST,
                           "default_protocol": DEFAULT}
    try:
        import numpy

        out["numpy"] = numpy.__version__
    except ImportError:
        out["numpy"] = None
    return out


def _journal(path: Optional[str], entry: Dict[str, Any]) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


def measure_case(object: str, size: int, methods: List[str], repeat: int = 3,
                 max_time: float = 0.5, journal: Optional[str] = None) -> Dict[str, Any]:
    """Build ``object`` for a payload of ``size`` bytes and measure ``methods`` on it.

    Returns {"payload", "build_s", "rows": [...], "versions"} or {"skipped": reason,
    "install": command} when the object cannot be built in this interpreter.
    ``journal``: a file to which the method being measured and each finished row
    are appended as JSON lines, so that the parent knows what was done if this
    process dies anyway.
    """
    spec = get_object(object)
    t0 = time.perf_counter()
    try:
        obj = spec.build(size)
    except BackendMissing as exc:
        return {"skipped": "%s: %s" % (exc.backend, exc.reason), "install": exc.install}
    build_s = time.perf_counter() - t0
    rows: List[Dict[str, Any]] = []
    for name in methods:
        m = get_method(name)
        row: Dict[str, Any] = {"method": name, "kind": m.kind, "protocol": m.protocol}
        rows.append(row)
        why = m.applies(spec)
        if why:
            row["error"] = "n/a: " + why
            continue
        try:
            library = m.check_available()
        except BackendMissing as exc:
            row.update(skipped="%s: %s" % (exc.backend, exc.reason), install=exc.install)
            continue
        if library:
            row["library"] = library
    # 1. RSS passes, each in a fork of this still untouched heap
    for row in rows:
        if "error" in row or "skipped" in row:
            continue
        _journal(journal, {"start": row["method"]})
        with Workspace() as ws:
            row.update(in_fork(lambda: rss_pass(spec, obj, row["method"], ws)))
    # 2. tracemalloc and time, here
    for row in rows:
        if "error" not in row and "skipped" not in row:
            _journal(journal, {"start": row["method"]})
            try:
                once = {k: row.pop(k) for k in ("dump_once_s", "load_once_s") if k in row}
                row.update(traced_and_timed(spec, obj, row["method"], repeat=repeat, max_time=max_time, once=once))
            except Exception as exc:  # noqa: BLE001 - a row that says why
                row["error"] = _error_text(exc)
        _journal(journal, {"row": row})
    return {"payload": spec.payload(size), "build_s": build_s, "rows": rows, "versions": versions()}


def probe(objects: List[str], methods: List[str]) -> Dict[str, Any]:
    """Which of ``objects`` and ``methods`` this interpreter can run, without measuring anything.

    Returns {"versions", "libraries", "objects": {name: None or {"reason", "install"}}, "methods": {...}}.
    """
    from harness.pickling.objects import _numpy, cpp_class, framework

    out: Dict[str, Any] = {"versions": versions(), "objects": {}, "methods": {}, "libraries": {}}
    for name in objects:
        spec = OBJECTS[name]
        try:
            if spec.family == "cpp":
                cpp_class(name)
            elif spec.backend == "numpy":
                _numpy()
            elif spec.backend:
                lib = framework(spec.backend)
                out["libraries"][spec.backend] = "%s %s" % (spec.backend, getattr(lib, "__version__", "?"))
            out["objects"][name] = None
        except BackendMissing as exc:
            out["objects"][name] = {"reason": "%s: %s" % (exc.backend, exc.reason), "install": exc.install}
    for name in methods:
        m = get_method(name)
        try:
            lib = m.check_available()
            out["methods"][name] = None
            if lib:
                out["libraries"][name] = lib
        except BackendMissing as exc:
            out["methods"][name] = {"reason": "%s: %s" % (exc.backend, exc.reason), "install": exc.install}
    return out
