"""The parent side of the pickle measurements: the child processes that measure one object
(``measure.measure_case``, or ``harness.picklecost``'s user object), and the rows they give.

Every case runs its measuring child once in full (sizes, peaks, equality, and the first timing
samples), then ``timing.PROCESSES - 1`` more children that time the methods alone: each row's
times merge the samples of all of them (``timing.merge``), so that no time a verdict reads rests
on one process. A child that dies (a crash in an extension, say) costs the method it was
measuring only: its journal says which, and a new child goes on with the methods left.
"""
from __future__ import annotations

import json
import os
import re
import signal
import tempfile
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from harness.core import children, timing
from harness.errors import BackendMissing, ChildError
from harness.topics.pickle.methods import get_method
from harness.topics.pickle.workloads import OBJECTS, get_object

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# The columns of a "cases" row (one per object, size and method): sizes in bytes, times in
# seconds (op_s the median of op_samples samples from op_processes processes, op_values every
# sample); peaks are the resident peak (RSS high-water above the start), op_untouched what
# tracemalloc counted above it (output buffers reserved and never touched); copies = peak /
# payload; ``error`` set: the method failed on that object (e.g. protocol 0 on a __slots__ class
# before 3.11); ``not_measured``: a figure that could not be measured here, and why
TIMING = ("s", "iqr", "min", "max", "samples", "processes", "values")
COLUMNS = (["object", "size", "payload", "method", "kind", "protocol", "pickled", "in_band", "out_of_band"]
           + ["%s_%s" % (op, f) for op in ("dump", "load") for f in TIMING]
           + ["dump_peak_traced", "dump_peak_rss", "load_peak_traced", "load_peak_rss", "dump_peak", "load_peak",
              "dump_untouched", "load_untouched", "dump_copies", "load_copies",
              "equal", "numpy_readable", "library", "error", "not_measured", "python"])
RSS_MISSING = "RSS high-water mark not measured: this kernel does not let a process reset it (/proc/self/clear_refs)"


def probe_in_child(objects: List[str], methods: List[str], python: Optional[str] = None,
                   plugins: Sequence[Sequence[str]] = ()) -> Dict[str, Any]:
    """What the measuring interpreter can run (see ``measure.probe``), asked in a child process."""
    return children.run_child("harness.topics.pickle.measure:probe",
                              {"objects": list(objects), "methods": list(methods), "plugins": list(plugins)},
                              python=python, timeout=300)


def _flatten_timing(row: Dict[str, Any], timings: Dict[str, List[Dict[str, Any]]]) -> None:
    for op in ("dump", "load"):
        got = timings.get(op) or []
        if not got:
            continue
        t = timing.merge(got)
        row.update({op + "_s": t["median"], op + "_iqr": t["iqr"], op + "_min": t["min"], op + "_max": t["max"],
                    op + "_samples": t["samples"], op + "_processes": t["processes"], op + "_values": t["values"]})


def finish_row(obj: str, size: int, payload: int, row: Dict[str, Any], python: str) -> Dict[str, Any]:
    """A measured row with its case, its merged times and its peaks (see COLUMNS)."""
    out = dict(row)
    timings = out.pop("timings", {})
    out.update(object=obj, size=size, payload=payload, python=python)
    _flatten_timing(out, timings)
    if "error" in out:
        return out
    for op in ("dump", "load"):
        rss, traced = out.get(op + "_peak_rss"), out.get(op + "_peak_traced")
        out[op + "_peak"] = rss
        out[op + "_copies"] = rss / payload if rss is not None and payload else None
        out[op + "_untouched"] = max(traced - rss, 0) if rss is not None and traced is not None else None
        if rss is None:
            out["not_measured"] = RSS_MISSING
    return out


def _read_journal(journal: str) -> Tuple[List[Dict[str, Any]], Optional[str], bool]:
    """(rows finished, the method started and not finished or None, whether the object was
    built) from a dead child's journal."""
    done: List[Dict[str, Any]] = []
    started = None
    built = False
    if os.path.exists(journal):
        with open(journal) as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    break  # a line cut short by the crash
                if "built" in entry:
                    built = True
                elif "start" in entry:
                    started = entry["start"]
                else:
                    done.append(entry["row"])
                    started = None
    return done, started, built


def run_methods(func: str, kwargs: Dict[str, Any], methods: List[str], python: Optional[str],
                timeout: float = 600.0, env: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    """``func(**kwargs, methods=..., journal=...)`` in a child, as often as it takes: if the child
    dies while measuring a method, that method gets a row with the error and a new child goes on
    with the methods left. The results of the children, in order; a result without "rows" (the
    object could not be built) ends it. ChildError if a child dies before the object is built."""
    out: List[Dict[str, Any]] = []
    left = list(methods)
    while left:
        with tempfile.TemporaryDirectory(prefix="memharness-journal-") as tmp:
            journal = os.path.join(tmp, "journal.jsonl")
            try:
                got = children.run_child(func, dict(kwargs, methods=left, journal=journal), python=python,
                                         timeout=timeout, env=env)
                out.append(got)
                return out
            except ChildError as exc:
                rows, started, built = _read_journal(journal)
                if not built:
                    raise ChildError("the child died before the object was built: %s" % _last_words(str(exc))) from None
                if started is not None:
                    m = get_method(started)
                    rows.append({"method": m.name, "kind": m.kind, "protocol": m.protocol,
                                 "error": "child process died: %s" % _last_words(str(exc))})
                out.append({"rows": rows, "versions": {"python": None}})
                finished = {r["method"] for r in rows}
                left = [m for m in left if m not in finished]
    return out


def _timed(row: Dict[str, Any]) -> bool:
    return not any(k in row for k in ("error", "skipped", "not_applicable"))


def start_timings(rows: List[Dict[str, Any]]) -> None:
    """Each row's timing results of the first process under "timings": {op: [one per process]}."""
    for row in rows:
        row["timings"] = {op: [row.pop(op + "_timing")] for op in ("dump", "load") if op + "_timing" in row}


def add_timings(rows: List[Dict[str, Any]], again: List[Dict[str, Any]]) -> None:
    """The timing results of one more process (its rows, by method) added to ``rows``; a method
    that failed there is a failed row."""
    by_method = {r["method"]: r for r in again}
    for row in rows:
        more = by_method.get(row["method"])
        if more is None or not _timed(row):
            continue
        if "error" in more:
            row["error"] = "in a timing process: " + more["error"]
            continue
        for op in ("dump", "load"):
            if op + "_timing" in more:
                row["timings"].setdefault(op, []).append(more[op + "_timing"])


def group_rows(objects: List[List[Any]], python: Optional[str], python_version: str, repeat: int, max_time: float,
               plugins: Sequence[Sequence[str]] = ()) -> Dict[str, List[Dict[str, Any]]]:
    """Several small objects ([object, size, methods]) in one child per timing process
    (``measure.measure_group``: a fork per object); rows by kind as ``case_rows`` gives them."""
    func = "harness.topics.pickle.measure:measure_group"
    kwargs = {"objects": objects, "repeat": repeat, "max_time": max_time, "plugins": list(plugins)}
    first = children.run_child(func, kwargs, python=python, timeout=600)["results"]
    for res in first:
        start_timings(res.get("rows", []))
    for _ in range(timing.PROCESSES - 1):
        more = children.run_child(func, dict(kwargs, timed_only=True), python=python, timeout=600)["results"]
        for res, again in zip(first, more):
            add_timings(res.get("rows", []), again.get("rows", []))
    out: Dict[str, List[Dict[str, Any]]] = {"cases": [], "not_applicable": [], "skipped": []}
    for res in first:
        if "skipped" in res:
            out["skipped"].append({"object": res["object"], "size": res["size"], "method": "*",
                                   "reason": res["skipped"], "install": res.get("install", "")})
            continue
        for k, got in split_rows(res["rows"], res["object"], res["size"], res["payload"],
                                 res["versions"].get("python") or python_version).items():
            out[k].extend(got)
    return out


def measure_processes(func: str, kwargs: Dict[str, Any], methods: List[str], python: Optional[str],
                      timeout: float = 600.0, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The full pass, then ``timing.PROCESSES - 1`` timing passes, each in children of their own:
    {"rows": rows with "timings" ({op: [one time_call result per process]}), "payload",
    "versions"} or the first child's result when it has no rows (skipped, or an error)."""
    results = run_methods(func, kwargs, methods, python, timeout, env)
    if "rows" not in results[0]:
        return results[0]
    first = next((r for r in results if r.get("versions", {}).get("python")), results[0])
    rows = [r for res in results for r in res["rows"]]
    start_timings(rows)
    for _ in range(timing.PROCESSES - 1):
        todo = [r["method"] for r in rows if _timed(r)]
        if not todo:
            break
        more = run_methods(func, dict(kwargs, timed_only=True), todo, python, timeout, env)
        add_timings(rows, [r for res in more for r in res.get("rows", [])])
    return {"rows": rows, "payload": first.get("payload"), "versions": first.get("versions", {})}


def case_rows(obj: str, size: int, methods: List[str], python: Optional[str], python_version: str,
              repeat: int, max_time: float, plugins: Sequence[Sequence[str]] = ()) -> Dict[str, List[Dict[str, Any]]]:
    """Every method of one case, measured in child processes: rows by kind ("cases": measured or
    failed; "not_applicable": the method does not apply to the object; "skipped": its library
    could not start). BackendMissing when the object cannot be built there."""
    kwargs = {"object": obj, "size": int(size), "repeat": repeat, "max_time": max_time, "plugins": list(plugins)}
    got = measure_processes("harness.topics.pickle.measure:measure_case", kwargs, methods, python)
    if "skipped" in got:  # the probe said yes, but building failed
        raise BackendMissing(obj, got["skipped"], got.get("install", ""))
    payload = got["payload"] or get_object(obj).payload(size)
    return split_rows(got["rows"], obj, size, payload, got["versions"].get("python") or python_version)


def split_rows(rows: List[Dict[str, Any]], obj: str, size: int, payload: int,
               python: str) -> Dict[str, List[Dict[str, Any]]]:
    """Rows of the children -> rows by kind (see ``case_rows``)."""
    out: Dict[str, List[Dict[str, Any]]] = {"cases": [], "not_applicable": [], "skipped": []}
    for row in rows:
        if "not_applicable" in row:
            out["not_applicable"].append({"object": obj, "size": size, "method": row["method"],
                                          "reason": row["not_applicable"]})
        elif "skipped" in row:  # the probe said yes, but the method could not start
            out["skipped"].append({"object": obj, "size": size, "method": row["method"],
                                   "reason": row["skipped"], "install": row.get("install", "")})
        else:
            out["cases"].append(finish_row(obj, size, payload, row, python))
    return out


def _last_words(message: str) -> str:
    """The useful part of a ChildError message: the exit status (signal) and the child's last words."""
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
