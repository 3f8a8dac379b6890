"""Measurements that run inside a fresh child process (``harness.core.children.run_child``);
the parent side that starts them is ``harness.topics.pickle.cases``.

``measure_case`` builds one object and hands it to ``measure_built``, which measures, for each
method asked:

* the serialised size (bytes; in-band + out-of-band for ``oob-p5``, the file size for files),
* the peak extra memory of the dump and of the load, twice: the RSS high-water mark above the
  RSS at the start (``VmHWM`` after resetting it; it sees everything, at page granularity: the
  resident peak) and tracemalloc's peak (requested bytes, including buffers reserved and never
  touched; numpy buffers included, the C++ heap of ``harness._containers`` not),
* the time of the dump and of the load (``harness.core.timing.time_call``: calibrated loops,
  warmups dropped, every sample kept, so the parent can merge the samples of several processes),
* whether the loaded object equals the original (every run), and for the zip methods whether
  numpy alone reads the arrays back.

RSS is only meaningful on a heap that no earlier measurement has used: memory freed by one method
(pymalloc pools in half-used arenas, say) is reused by the next without raising the RSS. So each
method's RSS pass runs in a process forked from this one right after the object was built
(copy-on-write leaves the RSS count unchanged), before any traced or timed pass. A crash there
(an extension that aborts) costs that method only. tracemalloc figures do not depend on the
heap's history, and are taken in this process afterwards. If the child dies anyway, the parent
reads its journal and goes on with the methods left in a new one. ``timed_only``: the timing
pass alone, in the further processes the parent starts for the timing (``timing.PROCESSES``).

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import functools
import gc
import importlib
import json
import platform
import sys
from typing import Any, Dict, List, Optional, Sequence

from harness.core import timing
from harness.errors import BackendMissing
from harness.topics.pickle.methods import DEFAULT, HIGHEST, get_method
from harness.topics.pickle.peaks import _error_text, _rss_peak, _traced_peak, in_fork
from harness.topics.pickle.safety import Workspace, numpy_readable
from harness.topics.pickle.workloads import OBJECTS, get_object

MIN_TIME = 0.005  # seconds a timing sample lasts at least (loops calibrated to it)


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
    art, out["dump_peak_rss"] = _rss_peak(lambda: m.dump(obj, ws))
    out["pickled"] = art.nbytes
    out["out_of_band"] = art.out_of_band
    out["in_band"] = len(art.data) if art.data is not None else 0  # bytes that must be in memory
    back, out["load_peak_rss"] = _rss_peak(lambda: m.load(art))
    out["equal"] = spec.equal(obj, back)
    del back
    if m.kind in ("npzip", "pkl_utils"):
        out["numpy_readable"] = _readable_check(spec, obj, art.path)
    art.discard()
    return out


def traced_pass(obj: Any, method_name: str) -> Dict[str, Any]:
    """tracemalloc peaks of one dump and one load (this process)."""
    m = get_method(method_name)
    with Workspace() as ws:
        art, dump_traced = _traced_peak(lambda: m.dump(obj, ws))
        back, load_traced = _traced_peak(lambda: m.load(art))
        del back
        art.discard()
    return {"dump_peak_traced": dump_traced, "load_peak_traced": load_traced}


def timed_pass(obj: Any, method_name: str, repeat: int = 3, min_time: float = MIN_TIME,
               max_time: float = 0.5) -> Dict[str, Any]:
    """The dump's and the load's ``timing.time_call`` results: every sample, in seconds."""
    m = get_method(method_name)
    with Workspace() as ws:
        holder = [m.dump(obj, ws)]

        def dump() -> None:
            old, holder[0] = holder[0], m.dump(obj, ws)
            old.discard()

        t_dump = timing.time_call(dump, repeat=repeat, min_time=min_time, max_time=max_time)
        art = holder[0]
        t_load = timing.time_call(lambda: m.load(art), repeat=repeat, min_time=min_time, max_time=max_time)
        art.discard()
    return {"dump_timing": t_dump, "load_timing": t_load}


def versions() -> Dict[str, Any]:
    """Versions that matter here, of this interpreter."""
    out: Dict[str, Any] = {"python": platform.python_version(), "highest_protocol": HIGHEST,
                           "default_protocol": DEFAULT}
    numpy = sys.modules.get("numpy")  # where the measurement used it (importing it costs 0.1 s a child)
    out["numpy"] = getattr(numpy, "__version__", None)
    return out


def _journal(path: Optional[str], entry: Dict[str, Any]) -> None:
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


def load_plugins(plugins: Sequence[Sequence[str]]) -> None:
    """Import the plugin modules ([module, folder] pairs) that register methods of their own
    (``methods.register``); the folder goes last on sys.path (harness.core.modpath). The parent
    imports them too."""
    from harness.core.modpath import add_folders

    for module, folder in plugins:
        add_folders([folder])
        importlib.import_module(module)


def _method_rows(spec: Any, methods: List[str]) -> List[Dict[str, Any]]:
    """A row per method, saying where it does not apply or its library is missing."""
    rows: List[Dict[str, Any]] = []
    for name in methods:
        m = get_method(name)
        row: Dict[str, Any] = {"method": name, "kind": m.kind, "protocol": m.protocol}
        rows.append(row)
        why = m.applies(spec)
        if why:
            row["not_applicable"] = why
            continue
        try:
            library = m.check_available()
        except BackendMissing as exc:
            row.update(skipped="%s: %s" % (exc.backend, exc.reason), install=exc.install)
            continue
        if library:
            row["library"] = library
    return rows


def measure_built(spec: Any, obj: Any, methods: List[str], repeat: int = 3, max_time: float = 0.5,
                  journal: Optional[str] = None, timed_only: bool = False) -> List[Dict[str, Any]]:
    """The rows of ``methods`` on ``obj`` (built from ``spec``): see the module's docstring."""
    rows = _method_rows(spec, methods)
    _journal(journal, {"built": True})
    # The object and everything imported so far out of the collector's way: each measurement
    # settles with gc.collect(), which then walks only what the measurement made (and in a fork
    # no longer writes to, hence copies, every page of the object)
    gc.collect()
    gc.freeze()
    if not timed_only:  # 1. RSS passes, each in a fork of this still untouched heap
        for row in rows:
            if "not_applicable" in row or "skipped" in row:
                continue
            _journal(journal, {"start": row["method"]})
            with Workspace() as ws:
                row.update(in_fork(functools.partial(rss_pass, spec, obj, row["method"], ws)))
    for row in rows:  # 2. tracemalloc and time, here
        if not any(k in row for k in ("error", "skipped", "not_applicable")):
            _journal(journal, {"start": row["method"]})
            try:
                if not timed_only:
                    row.update(traced_pass(obj, row["method"]))
                row.update(timed_pass(obj, row["method"], repeat=repeat, max_time=max_time))
            except Exception as exc:  # noqa: BLE001 - a row that says why
                row["error"] = _error_text(exc)
        _journal(journal, {"row": row})
    return rows


def measure_case(object: str, size: int, methods: List[str], repeat: int = 3, max_time: float = 0.5,
                 journal: Optional[str] = None, timed_only: bool = False,
                 plugins: Sequence[Sequence[str]] = ()) -> Dict[str, Any]:
    """Build ``object`` for a payload of ``size`` bytes and measure ``methods`` on it.

    Returns {"payload", "rows": [...], "versions"} or {"skipped": reason, "install": command}
    when the object cannot be built in this interpreter. ``journal``: a file to which the
    method being measured and each finished row are appended as JSON lines, so that the parent
    knows what was done if this process dies anyway.
    """
    load_plugins(plugins)
    spec = get_object(object)
    try:
        obj = spec.build(size)
    except BackendMissing as exc:
        return {"skipped": "%s: %s" % (exc.backend, exc.reason), "install": exc.install}
    rows = measure_built(spec, obj, methods, repeat, max_time, journal, timed_only)
    return {"payload": spec.payload(size), "rows": rows, "versions": versions()}


def probe(objects: List[str], methods: List[str], plugins: Sequence[Sequence[str]] = ()) -> Dict[str, Any]:
    """Which of ``objects`` and ``methods`` this interpreter can run, without measuring anything.

    Returns {"versions", "libraries", "objects": {name: None or {"reason", "install"}}, "methods": {...}}.
    """
    from harness.topics.pickle.workloads import _numpy, cpp_class, framework

    load_plugins(plugins)
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


def measure_group(objects: List[List[Any]], repeat: int = 3, max_time: float = 0.5, timed_only: bool = False,
                  plugins: Sequence[Sequence[str]] = ()) -> Dict[str, Any]:
    """``measure_case`` of each [object, size, methods], each in a process forked from this one
    before anything is built: a heap as a fresh child's, without starting an interpreter per
    object. A fork that dies gives its object's methods that error. {"results": [...]}, in order."""
    load_plugins(plugins)
    gc.collect()
    out = []
    for name, size, methods in objects:
        got = in_fork(functools.partial(measure_case, name, int(size), list(methods), repeat, max_time, None,
                                        timed_only))
        if "error" in got:  # the fork died: every method of this object says so
            got = {"payload": get_object(name).payload(int(size)), "versions": versions(),
                   "rows": [{"method": m, "kind": get_method(m).kind, "protocol": get_method(m).protocol,
                             "error": got["error"]} for m in methods]}
        out.append(dict(got, object=name, size=int(size)))
    return {"results": out}
