"""Pickle: what each protocol and method costs in bytes, time and peak memory.

The topic module of ``memharness pickle`` and the library API that the asv
suite (``benchmarks/bench_pickle.py``) calls:

* ``plan(objects, sizes, methods, full)``: the cases a run measures.
* ``measure_all(...) -> pandas.DataFrame``: every case, each object built and
  measured in a fresh child process (one per object and size; each method's
  RSS pass in a fork of it, see ``child``); one row per (object, size, method).
* ``measure_one(object, size, method) -> dict``: one method in its own child.
* ``check_round_trip(object, method) -> reason or None``: can it run here at all.
* ``verdicts(frame) -> [Verdict]``: the claims, judged from a frame.
* ``build_object``, ``get_method`` (``Method.dump`` / ``Method.load``),
  ``npzip_dump``: the workloads themselves, for in-process timing.

Security: nothing here loads a pickle it did not write itself in the same
run; no function or command takes a pickle path (see ``methods.Artifact``).

Importing this package needs the standard library only (children of other
interpreters import it); pandas is imported by ``measure_all``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from harness.pickling.methods import (DEFAULT, HIGHEST, METHODS, Artifact, Method, UntrustedData, Workspace,
                                      get_method, npzip_dump, numpy_readable)
from harness.pickling.objects import CPP_CONTAINERS, OBJECTS, ObjectSpec, build_object, get_object

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "HELP", "DESCRIPTION", "add_arguments", "run", "plot", "plan", "measure_all", "measure_one", "verdicts",
    "check_round_trip", "default_methods",
    "OBJECTS", "METHODS", "build_object", "get_object", "get_method", "npzip_dump", "numpy_readable",
    "Artifact", "Method", "ObjectSpec", "Workspace", "UntrustedData", "CPP_CONTAINERS", "DEFAULT_SIZES",
    "FULL_SIZES",
]

MiB = 1 << 20
HELP = "pickle: bytes, time and peak memory of every protocol, out-of-band buffers, file vs bytes, npy zips"

# Default sizes (payload bytes) per object family; --full and --sizes change them.
DEFAULT_SIZES: Dict[str, Tuple[int, ...]] = {"numpy": (1 * MiB, 32 * MiB), "*": (1 * MiB,)}
FULL_SIZES: Dict[str, Tuple[int, ...]] = {"numpy": (1 * MiB, 16 * MiB, 64 * MiB, 256 * MiB),
                                          "*": (1 * MiB, 16 * MiB)}
PROTOCOLS = tuple(range(HIGHEST + 1))

DESCRIPTION = HELP + """

Objects (--objects, default: all that can be built here):
""" + "\n".join("  %-18s %s" % (s.name, s.description) for s in OBJECTS.values()) + """

Methods (--methods; default: dump-p%d and dump-p%d for all objects, every dumps-pN for
the Python objects, numpy and the cached classes, dumps-p%d and dumps-p%d for the C++
containers and PyTensor/Theano objects; oob-p5, npzip and pkl_utils for objects holding
arrays; numpy.save for arrays):
""" % (DEFAULT, HIGHEST, DEFAULT, HIGHEST) + "\n".join("  %-18s %s" % (m.name, m.description) for m in METHODS.values()) + """

Each object is built in a fresh child process and each method measured there:
  pickled        serialised bytes (in-band + out-of-band; file size for files)
  dump/load ms   median time of one call (harness.core.timing.time_call), with the IQR
  peak traced    tracemalloc's peak above the start (requested bytes; numpy buffers
                 included, the C++ heap of harness._containers not)
  peak RSS       the RSS high-water mark above the RSS at the start, in a process
                 forked from the child right after the object was built (a heap no
                 other measurement has used); code pages first touched are not counted
  copies         max(peak traced, peak RSS) / payload: how many copies of the
                 data existed at once, besides the original
  equal          the loaded object equals the original (checked in every run)
Default sizes: numpy 1 MiB and 32 MiB, every other object 1 MiB of payload;
--full: numpy up to 256 MiB, the others up to 16 MiB, every method on every object
(about ten minutes on 2 cores); 512 MiB and above only when asked for with --sizes.

Security: this command never loads a pickle it did not write itself in this run;
it takes no input file.
"""


# --------------------------------------------------------------------------
# Planning


# Families whose default run compares every protocol (the objects the protocol claims are about);
# the others (C++ containers, whose state is one bytes object, and PyTensor/Theano shared variables
# and functions) get the default and the highest protocol unless --full.
PROTOCOL_FAMILIES = ("python", "numpy", "class")


def default_methods(spec: ObjectSpec, full: bool = False) -> List[str]:
    """The methods a run measures on ``spec`` unless --methods says otherwise."""
    every = full or spec.family in PROTOCOL_FAMILIES
    names = ["dumps-p%d" % p for p in (PROTOCOLS if every else sorted({DEFAULT, HIGHEST}))]
    if full:
        names += ["dump-p%d" % p for p in PROTOCOLS]
    else:
        names += ["dump-p%d" % p for p in sorted({DEFAULT, HIGHEST})]
    if spec.has_arrays or full:
        names += [n for n in ("oob-p5", "npzip", "pkl_utils") if n in METHODS]
    if spec.is_ndarray:
        names.append("numpy.save")
    return names


def plan(objects: Optional[Sequence[str]] = None, sizes: Optional[Sequence[int]] = None,
         methods: Optional[Sequence[str]] = None, full: bool = False) -> List[Tuple[str, int, List[str]]]:
    """The cases of a run: (object, payload size in bytes, methods), in run order."""
    objects = list(objects) if objects else list(OBJECTS)
    cases = []
    for name in objects:
        spec = get_object(name)
        if sizes:
            obj_sizes = list(sizes)
        else:
            table = FULL_SIZES if full else DEFAULT_SIZES
            obj_sizes = list(table.get(spec.family, table["*"]))
        meths = list(methods) if methods else default_methods(spec, full)
        for m in meths:
            get_method(m)
        for size in obj_sizes:
            cases.append((name, int(size), meths))
    return cases


# --------------------------------------------------------------------------
# Measuring

_COLUMNS = ["object", "size", "payload", "method", "kind", "protocol", "pickled", "out_of_band",
            "dump_s", "dump_iqr", "dump_min", "load_s", "load_iqr", "load_min", "dump_peak_traced", "dump_peak_rss",
            "load_peak_traced", "load_peak_rss", "dump_peak", "load_peak", "dump_copies", "load_copies",
            "equal", "numpy_readable", "library", "error", "python"]


def _finish_row(obj: str, size: int, payload: int, row: Dict[str, Any], python: str) -> Dict[str, Any]:
    out = dict(row)
    out.update(object=obj, size=size, payload=payload, python=python)
    if "error" not in out:
        for op in ("dump", "load"):
            peaks = [v for v in (out.get(op + "_peak_traced"), out.get(op + "_peak_rss")) if v is not None]
            out[op + "_peak"] = max(peaks) if peaks else None
            out[op + "_copies"] = (out[op + "_peak"] / payload) if peaks and payload else None
    return out


def probe(objects: Sequence[str], methods: Sequence[str], python: Optional[str] = None) -> Dict[str, Any]:
    """What the measuring interpreter can run (see ``child.probe``), asked in a child process."""
    from harness.core import children, memory

    return children.run_child("harness.pickling.child:probe", {"objects": list(objects), "methods": list(methods)},
                             python=python, timeout=300)


def measure_one(object: str, size: int, method: str, *, python: Optional[str] = None, repeat: int = 3,
                max_time: float = 0.5) -> Dict[str, Any]:
    """One method on one object, in a fresh child process: a row dict (see ``measure_all``).

    Raises BackendMissing when the object or method cannot run in that interpreter.
    """
    from harness.core import children, memory
    from harness.errors import BackendMissing

    spec = get_object(object)
    get_method(method)
    memory.check_fits(spec.payload(size) * spec.mem_factor, "pickling %s of %s" % (object, _fmt(size)))
    results = _run_case(object, int(size), [method], python, repeat, max_time)
    res = results[0]
    if "skipped" in res:
        raise BackendMissing(object, res["skipped"], res.get("install", ""))
    row = res["rows"][0]
    if "skipped" in row:
        raise BackendMissing(method, row["skipped"], row.get("install", ""))
    return _finish_row(object, int(size), res["payload"], row, res["versions"]["python"] or "")


def check_round_trip(object: str, method: str, size: int = 4096) -> Optional[str]:
    """None if ``method`` round-trips a small ``object`` here, else why not (it is tried in a
    forked process, so an extension that aborts does not take this one down)."""
    from harness.errors import BackendMissing
    from harness.pickling.child import in_fork

    spec = get_object(object)
    m = get_method(method)
    why = m.applies(spec)
    if why:
        return why
    try:
        m.check_available()
        obj = spec.build(size)
    except BackendMissing as exc:
        return str(exc)

    with Workspace() as ws:
        res = in_fork(lambda: {"equal": bool(spec.equal(obj, m.load(m.dump(obj, ws))))})
    if "error" in res:
        return res["error"]
    return None if res["equal"] else "the loaded object differs from the original"


def _run_case(obj: str, size: int, methods: List[str], python: Optional[str], repeat: int,
              max_time: float) -> List[Dict[str, Any]]:
    """measure_case in a child. If the child dies (a crash in an extension, say), the method it was
    measuring gets a row with the error, and a new child goes on with the methods left."""
    import json
    import tempfile

    from harness.core import children, memory
    from harness.errors import ChildError

    out: List[Dict[str, Any]] = []
    left = list(methods)
    while left:
        with tempfile.TemporaryDirectory(prefix="memharness-journal-") as tmp:
            journal = os.path.join(tmp, "journal.jsonl")
            kwargs = {"object": obj, "size": int(size), "methods": left, "repeat": repeat,
                      "max_time": max_time, "journal": journal}
            try:
                out.append(children.run_child("harness.pickling.child:measure_case", kwargs, python=python))
                return out
            except ChildError as exc:
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
                if started is None and not done:
                    started = left[0]  # died before the first method (while building, say)
                rows = list(done)
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


def _fmt(n: float) -> str:
    from harness.core.units import format_bytes

    return format_bytes(n)


def measure_all(objects: Optional[Sequence[str]] = None, sizes: Optional[Sequence[int]] = None,
                methods: Optional[Sequence[str]] = None, *, full: bool = False, python: Optional[str] = None,
                repeat: int = 3, max_time: float = 0.5, progress: Any = None,
                notes: Optional[List[str]] = None) -> "pd.DataFrame":
    """Measure every (object, size, method) of ``plan(...)``; one row each.

    Objects and methods that cannot run in the measuring interpreter (``python``,
    default this one) are left out with a line in ``notes`` saying why and how to
    install what is missing. Every case is checked against free memory before
    anything is measured (MemoryGuardError). Columns: see ``_COLUMNS``; sizes in
    bytes, times in seconds; a row with ``error`` set is a method that failed on
    that object (e.g. protocol 0 on a __slots__ class before Python 3.11).
    """
    import pandas as pd

    from harness.core import children, memory

    notes = notes if notes is not None else []
    cases = plan(objects, sizes, methods, full)
    all_objects = sorted({c[0] for c in cases}, key=list(OBJECTS).index)
    all_methods = sorted({m for c in cases for m in c[2]}, key=list(METHODS).index)
    info = probe(all_objects, all_methods, python)
    for name in all_objects:
        miss = info["objects"].get(name)
        if miss:
            notes.append("skipped %s: %s (install with: %s)" % (name, miss["reason"], miss["install"]))
    for name in all_methods:
        miss = info["methods"].get(name)
        if miss:
            notes.append("skipped method %s: %s (install with: %s)" % (name, miss["reason"], miss["install"]))
    cases = [(o, s, [m for m in ms if not info["methods"].get(m)]) for o, s, ms in cases
             if not info["objects"].get(o)]
    cases = [c for c in cases if c[2]]
    for o, s, _ in cases:
        spec = OBJECTS[o]
        memory.check_fits(spec.payload(s) * spec.mem_factor, "pickling %s of %s" % (o, _fmt(s)))

    if progress is not None:
        progress.total = len(cases)
    python_version = info["versions"]["python"]
    rows: List[Dict[str, Any]] = []
    not_applicable: Dict[str, List[str]] = {}
    for o, s, ms in cases:
        if progress is not None:
            progress.step("%s %s (%d methods)" % (o, _fmt(s), len(ms)))
        results = _run_case(o, s, ms, python, repeat, max_time)
        if "skipped" in results[0]:  # the probe said yes, but building failed
            notes.append("skipped %s: %s (install with: %s)" % (o, results[0]["skipped"],
                                                               results[0].get("install", "")))
            continue
        for res, row in ((res, row) for res in results for row in res["rows"]):
            if str(row.get("error", "")).startswith("n/a: "):
                not_applicable.setdefault(row["error"][5:], []).append(o)
                continue
            if "skipped" in row:  # the probe said yes, but the method could not start
                notes.append("skipped method %s on %s: %s (install with: %s)"
                             % (row["method"], o, row["skipped"], row.get("install", "")))
                continue
            rows.append(_finish_row(o, s, res["payload"], row, res["versions"]["python"] or python_version))
    for why, objs in not_applicable.items():
        notes.append("not run: %s (%s)" % (why, ", ".join(sorted(set(objs), key=list(OBJECTS).index))))
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    failed = frame[(frame["equal"] == False) | (frame["numpy_readable"] == False)]  # noqa: E712
    for r in failed.itertuples():
        notes.append("ROUND TRIP FAILED: %s %s %s gave back an object that differs from the original"
                     % (r.object, _fmt(r.size), r.method))
    failures: Dict[str, List[str]] = {}
    for r in frame[frame["error"].notna()].itertuples():
        failures.setdefault(r.error, []).append("%s on %s" % (r.method, r.object))
    for error, where in failures.items():
        notes.append("failed: %s: %s" % (_listing_all(where), error))
    return frame


def _listing_all(items: List[str]) -> str:
    """'a on X, b on X, a on Y' -> 'a, b on X; a on Y' (order kept)."""
    groups: Dict[str, List[str]] = {}
    for item in items:
        what, _, where = item.partition(" on ")
        if what not in groups.setdefault(where, []):
            groups[where].append(what)
    by_methods: Dict[str, List[str]] = {}
    for where, whats in groups.items():
        by_methods.setdefault(", ".join(whats), []).append(where)
    return "; ".join("%s on %s" % (whats, ", ".join(wheres)) for whats, wheres in by_methods.items())


# --------------------------------------------------------------------------
# CLI

from harness.pickling.report import add_arguments, plot, run, verdicts  # noqa: E402
