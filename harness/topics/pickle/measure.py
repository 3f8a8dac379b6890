"""Measurements that run inside a fresh child process (``harness.core.children.run_child``), and
the parent-side helpers that start them (``probe_in_child``, ``run_case``).

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
depend on the heap's history, and are taken in this process afterwards. If the child
dies anyway, ``run_case`` reads its journal and goes on with the methods left in a new one.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.core import timing
from harness.errors import BackendMissing
from harness.topics.pickle.methods import DEFAULT, HIGHEST, get_method
from harness.topics.pickle.peaks import _error_text, _rss_peak, _traced_peak, in_fork
from harness.topics.pickle.safety import Workspace, numpy_readable
from harness.topics.pickle.workloads import OBJECTS, get_object

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


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

    Returns {"payload", "rows": [...], "versions"} or {"skipped": reason,
    "install": command} when the object cannot be built in this interpreter.
    ``journal``: a file to which the method being measured and each finished row
    are appended as JSON lines, so that the parent knows what was done if this
    process dies anyway.
    """
    spec = get_object(object)
    try:
        obj = spec.build(size)
    except BackendMissing as exc:
        return {"skipped": "%s: %s" % (exc.backend, exc.reason), "install": exc.install}
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
    # 1. RSS passes, each in a fork of this still untouched heap
    for row in rows:
        if "not_applicable" in row or "skipped" in row:
            continue
        _journal(journal, {"start": row["method"]})
        with Workspace() as ws:
            row.update(in_fork(functools.partial(rss_pass, spec, obj, row["method"], ws)))
    # 2. tracemalloc and time, here
    for row in rows:
        if not any(k in row for k in ("error", "skipped", "not_applicable")):
            _journal(journal, {"start": row["method"]})
            try:
                once: Dict[str, float] = {k: row.pop(k) for k in ("dump_once_s", "load_once_s") if k in row}
                row.update(traced_and_timed(spec, obj, row["method"], repeat=repeat, max_time=max_time, once=once))
            except Exception as exc:  # noqa: BLE001 - a row that says why
                row["error"] = _error_text(exc)
        _journal(journal, {"row": row})
    return {"payload": spec.payload(size), "rows": rows, "versions": versions()}


def probe(objects: List[str], methods: List[str]) -> Dict[str, Any]:
    """Which of ``objects`` and ``methods`` this interpreter can run, without measuring anything.

    Returns {"versions", "libraries", "objects": {name: None or {"reason", "install"}}, "methods": {...}}.
    """
    from harness.topics.pickle.workloads import _numpy, cpp_class, framework

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


# --------------------------------------------------------------------------
# The parent side: what starts the children above, and the rows it gives

# The columns of a "cases" row (one per object, size and method): sizes in bytes, times in seconds;
# ``error`` set: the method failed on that object (e.g. protocol 0 on a __slots__ class before 3.11)
COLUMNS = ["object", "size", "payload", "method", "kind", "protocol", "pickled", "out_of_band",
           "dump_s", "dump_iqr", "dump_min", "load_s", "load_iqr", "load_min", "dump_peak_traced", "dump_peak_rss",
           "load_peak_traced", "load_peak_rss", "dump_peak", "load_peak", "dump_copies", "load_copies",
           "equal", "numpy_readable", "library", "error", "python"]


def probe_in_child(objects: List[str], methods: List[str], python: Optional[str] = None) -> Dict[str, Any]:
    """What the measuring interpreter can run (see ``probe``), asked in a child process."""
    from harness.core import children

    return children.run_child("harness.topics.pickle.measure:probe", {"objects": list(objects),
                                                                      "methods": list(methods)},
                              python=python, timeout=300)


def finish_row(obj: str, size: int, payload: int, row: Dict[str, Any], python: str) -> Dict[str, Any]:
    """A measured row with its case and its peaks: max(traced, RSS), and that over the payload."""
    out = dict(row)
    out.update(object=obj, size=size, payload=payload, python=python)
    if "error" not in out:
        for op in ("dump", "load"):
            peaks = [v for v in (out.get(op + "_peak_traced"), out.get(op + "_peak_rss")) if v is not None]
            out[op + "_peak"] = max(peaks) if peaks else None
            out[op + "_copies"] = (out[op + "_peak"] / payload) if peaks and payload else None
    return out


def case_rows(obj: str, size: int, methods: List[str], python: Optional[str], python_version: str,
              repeat: int, max_time: float) -> Dict[str, List[Dict[str, Any]]]:
    """Every method of one case, measured in child processes: rows by kind ("cases": measured or
    failed; "not_applicable": the method does not apply to the object; "skipped": its library
    could not start). BackendMissing when the object cannot be built there."""
    results = run_case(obj, size, methods, python, repeat, max_time)
    if "skipped" in results[0]:  # the probe said yes, but building failed
        raise BackendMissing(obj, results[0]["skipped"], results[0].get("install", ""))
    out: Dict[str, List[Dict[str, Any]]] = {"cases": [], "not_applicable": [], "skipped": []}
    for res, row in [(one, r) for one in results for r in one["rows"]]:
        if "not_applicable" in row:
            out["not_applicable"].append({"object": obj, "size": size, "method": row["method"],
                                          "reason": row["not_applicable"]})
        elif "skipped" in row:  # the probe said yes, but the method could not start
            out["skipped"].append({"object": obj, "size": size, "method": row["method"],
                                   "reason": row["skipped"], "install": row.get("install", "")})
        else:
            out["cases"].append(finish_row(obj, size, res["payload"], row,
                                           res["versions"]["python"] or python_version))
    return out


def _read_journal(journal: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """(rows finished, the method started and not finished or None) from a dead child's journal."""
    done: List[Dict[str, Any]] = []
    started = None
    if os.path.exists(journal):
        with open(journal) as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    break  # a line cut short by the crash
                if "start" in entry:
                    started = entry["start"]
                else:
                    done.append(entry["row"])
                    started = None
    return done, started


def run_case(obj: str, size: int, methods: List[str], python: Optional[str], repeat: int,
             max_time: float) -> List[Dict[str, Any]]:
    """measure_case in a child. If the child dies (a crash in an extension, say), the method it was
    measuring gets a row with the error, and a new child goes on with the methods left."""
    import tempfile

    from harness.core import children
    from harness.errors import ChildError

    out: List[Dict[str, Any]] = []
    left = list(methods)
    while left:
        with tempfile.TemporaryDirectory(prefix="memharness-journal-") as tmp:
            journal = os.path.join(tmp, "journal.jsonl")
            kwargs = {"object": obj, "size": int(size), "methods": left, "repeat": repeat,
                      "max_time": max_time, "journal": journal}
            try:
                out.append(children.run_child("harness.topics.pickle.measure:measure_case", kwargs, python=python))
                return out
            except ChildError as exc:
                rows, started = _read_journal(journal)
                if started is None and not rows:
                    started = left[0]  # died before the first method (while building, say)
                if started is not None:
                    m = get_method(started)
                    rows.append({"method": m.name, "kind": m.kind, "protocol": m.protocol,
                                 "error": "child process died: %s" % _last_words(str(exc))})
                out.append({"payload": get_object(obj).payload(size), "versions": {"python": None}, "rows": rows})
                finished = {r["method"] for r in rows}
                left = [m for m in left if m not in finished]
    return out


def _last_words(message: str) -> str:
    """The useful part of a ChildError message: the exit status (signal) and the child's last words."""
    import re
    import signal

    m = re.search(r"exited with status (-?\d+) and no result(?:: (.*))?", message, re.S)
    if not m:
        return message[-240:]
    status = int(m.group(1))
    what = "exit status %d" % status
    if status < 0:
        try:
            what = "killed by %s" % signal.Signals(-status).name
        except ValueError:
            pass
    return what + (": " + m.group(2).strip()[-200:] if m.group(2) else "")


# --------------------------------------------------------------------------
# The same rows, rebuilt from asv results

ASV_FIGURES = {"track_pickled_bytes": "pickled", "track_dump_peak": "dump_peak", "track_load_peak": "load_peak",
               "track_dump_copies": "dump_copies", "track_load_copies": "load_copies"}
ASV_CLASS = "bench_pickle.PickleMemory."


def _number(value: Any) -> Optional[float]:
    """A finite number, else None (a hand-edited results file may hold anything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def from_asv(tracked: "pd.DataFrame") -> Dict[str, "pd.DataFrame"]:
    """The "cases" rows that ``bench_pickle.PickleMemory``'s track_ figures give (see
    ``Topic.from_asv``): bytes and peaks of the methods that round-tripped (the suite tracks no
    other), no times. A copies figure not tracked is the peak over the payload."""
    import pandas as pd

    from harness.topics.pickle.methods import METHODS

    by_case: Dict[Any, Dict[str, Any]] = {}
    for bench, args, value in zip(tracked["benchmark"], tracked["args"], tracked["value"]):
        column = ASV_FIGURES.get(str(bench)[len(ASV_CLASS):]) if str(bench).startswith(ASV_CLASS) else None
        if column is None or not isinstance(args, tuple) or len(args) != 3 or _number(value) is None:
            continue
        obj, size, method = args
        if obj not in OBJECTS or method not in METHODS or _number(size) is None or size <= 0:
            continue
        m = METHODS[method]
        row = by_case.setdefault((obj, int(size), method), {
            "object": obj, "size": int(size), "payload": OBJECTS[obj].payload(int(size)), "method": method,
            "kind": m.kind, "protocol": m.protocol, "equal": True, "error": None})
        row[column] = _number(value)
    for row in by_case.values():
        for op in ("dump", "load"):
            if row.get(op + "_copies") is None and row.get(op + "_peak") is not None:
                row[op + "_copies"] = row[op + "_peak"] / row["payload"]
    columns = ["object", "size", "payload", "method", "kind", "protocol", "pickled", "dump_peak", "load_peak",
               "dump_copies", "load_copies", "equal", "error"]
    return {"cases": pd.DataFrame(list(by_case.values()), columns=columns)}
