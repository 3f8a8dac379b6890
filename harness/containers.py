"""Python structures vs their C++ equivalents: bytes per element and the ratio.

A workload is a pair of builders over the same data: the Python structure as a
user would build it, and the C++ container of ``harness._containers`` holding
the same values. Each side is measured in a fresh child process (see
``harness.core.children``) and the figures come back as JSON.

The folklore under test: "Python structures use 3-6x more memory than C++".
"""
from __future__ import annotations

import array
import gc
import os
import sys
from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from harness.core import children, memory
from harness.errors import HarnessError

HELP = "Python structures vs their C++ equivalents: bytes per element and the ratio"
DESCRIPTION = HELP + """

For each workload and size, the Python structure and the equivalent C++
container are built from the same data, each in a fresh child process:
  payload       the information itself (8 B per int64/float64, UTF-8 length of strings)
  py_req        Python bytes requested (tracemalloc), per element
  py_alloc      Python bytes allocated (pymalloc blocks + malloc chunks), per element
  py_rss        RSS growth of the child, per element
  cpp_req       C++ bytes requested (counting allocator + sizeof), per element
  cpp_alloc     C++ bytes allocated (malloc_usable_size + sizeof), per element
  ratio_req, ratio_alloc   Python / C++
  verdict       ratio_alloc against the folklore's 3-6x
"""

CLAIM = "Python structures use 3-6x more memory than the equivalent C++ structures"
CLAIM_LOW, CLAIM_HIGH = 3.0, 6.0
DEFAULT_SIZES = (1000, 100_000)
FULL_SIZES = (1000, 10_000, 100_000, 1_000_000, 10_000_000)
PRIME = 1_000_000_007  # ints below 2**30: one 30-bit digit each, beyond the small-int cache
MATRIX_COLS = 16


# --------------------------------------------------------------------------
# Deterministic data, the same for both sides


def int_value(i: int) -> int:
    return (i * 7919) % PRIME + 1000


def float_value(i: int) -> float:
    return i * 0.5 + 0.25


def short_str(i: int) -> str:
    return "k%07d" % i  # 8 characters: inside std::string's 15-character SSO buffer


def long_str(i: int) -> str:
    return "%010d-the-quick-brown-fox-jumps-over-the-lazy-dog" % i  # 54 characters


Point = namedtuple("Point", "id x y name")


class PlainRecord:
    def __init__(self, id: int, x: float, y: float, name: str) -> None:
        self.id = id
        self.x = x
        self.y = y
        self.name = name


class SlotsRecord:
    __slots__ = ("id", "x", "y", "name")

    def __init__(self, id: int, x: float, y: float, name: str) -> None:
        self.id = id
        self.x = x
        self.y = y
        self.name = name


if sys.version_info >= (3, 10):
    @dataclass(slots=True)
    class DataRecord:
        id: int
        x: float
        y: float
        name: str
else:  # pragma: no cover - workload skipped before 3.10
    DataRecord = None


def record_fields(i: int):
    return (i, float_value(i), i * 0.25, short_str(i))


def record_payload(n: int) -> int:
    return sum(24 + len(short_str(i)) for i in range(n))


# --------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True)
class Workload:
    """A Python structure and its C++ equivalent, built from the same data."""

    name: str  # a key for the command line: letters, digits, underscores
    cpp_class: str  # class in harness._containers
    build_python: Callable[[int], Any]
    build_cpp_source: Callable[[int], Any]  # the data handed to the C++ constructor
    payload: Callable[[int], int]
    description: str
    kind: str = "sequence"  # sequence | mapping | set: how iterate/lookup work
    reference: bool = False  # a compact Python layout shown for reference, not part of the claim
    min_python: tuple = (3, 8)
    cpp_from: str = "iterable"  # iterable | buffer | objects
    estimate_per_element: int = 200  # a generous upper bound, for the memory guard only

    @property
    def python_type(self) -> str:
        """The Python structure, as the description names it: 'list[int]'."""
        return self.description.split(" vs ")[0]

    @property
    def cpp_type(self) -> str:
        return self.description.split(" vs ")[1].split(" (")[0]

    def available(self) -> Optional[str]:
        """None if this workload runs on this interpreter, else the reason it does not."""
        if sys.version_info < self.min_python:
            return "needs Python %d.%d+" % self.min_python
        return None


def _np():
    import numpy

    return numpy


def _records(cls: Any) -> Callable[[int], list]:
    return lambda n: [cls(*record_fields(i)) for i in range(n)]


def _matrix(n: int) -> list:
    rows = max(n // MATRIX_COLS, 1)
    return [[float_value(r * MATRIX_COLS + c) for c in range(MATRIX_COLS)] for r in range(rows)]


def _matrix_elements(n: int) -> int:
    return max(n // MATRIX_COLS, 1) * MATRIX_COLS


_WORKLOADS: List[Workload] = [
    Workload("list_int", "IntVector", lambda n: [int_value(i) for i in range(n)],
             lambda n: [int_value(i) for i in range(n)], lambda n: 8 * n, "list[int] vs std::vector<int64_t>"),
    Workload("array_q", "IntVector", lambda n: array.array("q", (int_value(i) for i in range(n))),
             lambda n: [int_value(i) for i in range(n)], lambda n: 8 * n, "array('q') vs std::vector<int64_t>",
             reference=True),
    Workload("numpy_int64", "IntVector",
             lambda n: (_np().arange(n, dtype=_np().int64) * 7919) % PRIME + 1000,
             lambda n: (_np().arange(n, dtype=_np().int64) * 7919) % PRIME + 1000,
             lambda n: 8 * n, "numpy int64 array vs std::vector<int64_t> (bulk copy)", reference=True,
             cpp_from="buffer"),
    Workload("list_float", "FloatVector", lambda n: [float_value(i) for i in range(n)],
             lambda n: [float_value(i) for i in range(n)], lambda n: 8 * n, "list[float] vs std::vector<double>"),
    Workload("dict_int_int", "IntIntHashMap", lambda n: {int_value(i): i + 1000 for i in range(n)},
             lambda n: {int_value(i): i + 1000 for i in range(n)}, lambda n: 16 * n,
             "dict[int,int] vs std::unordered_map<int64_t,int64_t>", kind="mapping"),
    Workload("dict_int_int_tree", "IntIntTreeMap", lambda n: {int_value(i): i + 1000 for i in range(n)},
             lambda n: {int_value(i): i + 1000 for i in range(n)}, lambda n: 16 * n,
             "dict[int,int] vs std::map<int64_t,int64_t>", kind="mapping"),
    Workload("set_int", "IntHashSet", lambda n: {int_value(i) for i in range(n)},
             lambda n: {int_value(i) for i in range(n)}, lambda n: 8 * n, "set[int] vs std::unordered_set<int64_t>",
             kind="set"),
    Workload("list_str_short", "StrVector", lambda n: [short_str(i) for i in range(n)],
             lambda n: [short_str(i) for i in range(n)], lambda n: sum(len(short_str(i)) for i in range(n)),
             "list[str], 8 chars vs std::vector<std::string> (SSO: no heap per string)"),
    Workload("list_str_long", "StrVector", lambda n: [long_str(i) for i in range(n)],
             lambda n: [long_str(i) for i in range(n)], lambda n: sum(len(long_str(i)) for i in range(n)),
             "list[str], 54 chars vs std::vector<std::string> (one heap block per string)", estimate_per_element=400),
    Workload("dict_str_int", "StrIntHashMap", lambda n: {short_str(i): i for i in range(n)},
             lambda n: {short_str(i): i for i in range(n)}, lambda n: sum(8 + len(short_str(i)) for i in range(n)),
             "dict[str,int] vs std::unordered_map<std::string,int64_t>", kind="mapping", estimate_per_element=300),
    Workload("records_tuple", "RecordVector", lambda n: [record_fields(i) for i in range(n)], lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[tuple] vs std::vector<Record>", estimate_per_element=400),
    Workload("records_namedtuple", "RecordVector", _records(Point), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[namedtuple] vs std::vector<Record>", estimate_per_element=400),
    Workload("records_class", "RecordVector", _records(PlainRecord), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[object], plain class vs std::vector<Record>", estimate_per_element=600),
    Workload("records_slots", "RecordVector", _records(SlotsRecord), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[object], __slots__ class vs std::vector<Record>", estimate_per_element=400),
    Workload("records_dataclass", "RecordVector", _records(DataRecord) if DataRecord else (lambda n: []),
             lambda n: [record_fields(i) for i in range(n)], record_payload,
             "list[dataclass(slots=True)] vs std::vector<Record>", min_python=(3, 10),
             estimate_per_element=400),
    Workload("list_list_float", "FloatMatrix", _matrix, _matrix, lambda n: 8 * _matrix_elements(n),
             "list[list[float]], 16 per row vs std::vector<std::vector<double>>"),
]
WORKLOADS: Dict[str, Workload] = {w.name: w for w in _WORKLOADS}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise HarnessError("unknown workload %r (choose from: %s)" % (name, ", ".join(WORKLOADS))) from None


def elements(workload: Workload, n: int) -> int:
    """Elements actually held at size n (a matrix holds whole rows)."""
    return _matrix_elements(n) if workload.cpp_class == "FloatMatrix" else n


def build_cpp(workload: Workload, n: int, source: Any = None) -> Any:
    """The C++ container holding the workload's data at size n."""
    from harness import _containers

    cls = getattr(_containers, workload.cpp_class)
    source = workload.build_cpp_source(n) if source is None else source
    if workload.cpp_from == "buffer":
        return cls.from_buffer(source)
    return cls(source)


def guard(workload: Workload, n: int, jobs: int = 1) -> None:
    """Refuse, before building anything, a size that would not fit in free memory (``jobs`` at once)."""
    what = "%s at n=%d" % (workload.name, n) + (", %d at once" % jobs if jobs > 1 else "")
    memory.check_fits(jobs * 3 * workload.estimate_per_element * n, what)


# --------------------------------------------------------------------------
# Child-side measurements (called through children.run_child)


def measure_python(workload: str, n: int) -> Dict[str, Any]:
    """Python side, in this (fresh) process: requested, allocated, RSS growth."""
    w = get_workload(workload)
    reason = w.available()
    if reason:
        raise HarnessError("%s: %s" % (w.name, reason))
    guard(w, n)
    if w.name == "numpy_int64":
        _np()  # import numpy before the baseline, so its own import is not counted
    fig = memory.measure_retained(lambda: w.build_python(n))
    fig["n"] = elements(w, n)
    return fig


def measure_cpp(workload: str, n: int) -> Dict[str, Any]:
    """C++ side, in this (fresh) process: exact counters and RSS growth."""
    w = get_workload(workload)
    guard(w, n)
    from harness import _containers  # noqa: F401  (loaded before the RSS baseline)

    source = w.build_cpp_source(n)
    gc.collect()
    rss0 = memory.current_rss()
    container = build_cpp(w, n, source)
    rss1 = memory.current_rss()
    fp = container.footprint()
    if len(container) != (n if w.cpp_class != "FloatMatrix" else len(source)):
        raise HarnessError("%s: C++ container holds %d items, expected %d" % (w.name, len(container), n))
    return {
        "requested": fp["requested"] + fp["sizeof"],
        "allocated": fp["allocated"] + fp["sizeof"],
        "live_allocations": fp["live_allocations"],
        "sizeof": fp["sizeof"],
        "rss_growth": rss1 - rss0,
        "n": elements(w, n),
    }


# --------------------------------------------------------------------------
# Parent side


def compare(workload: str, n: int) -> Dict[str, Any]:
    """One row: both sides measured in fresh children, per element, with ratios."""
    w = get_workload(workload)
    guard(w, n)
    py = children.run_child("harness.containers:measure_python", {"workload": workload, "n": n})
    cpp = children.run_child("harness.containers:measure_cpp", {"workload": workload, "n": n})
    m = py["n"]
    row: Dict[str, Any] = {
        "workload": w.name,
        "python": w.python_type,
        "cpp": w.cpp_type,
        "n": m,
        "payload": w.payload(n) / m,
        "py_req": py["requested"] / m,
        "py_alloc": py["allocated"] / m if py["allocated"] is not None else float("nan"),
        "py_rss": py["rss_growth"] / m,
        "cpp_req": cpp["requested"] / m,
        "cpp_alloc": cpp["allocated"] / m,
        "cpp_rss": cpp["rss_growth"] / m,
        "reference": w.reference,
    }
    row["ratio_req"] = row["py_req"] / row["cpp_req"]
    row["ratio_alloc"] = row["py_alloc"] / row["cpp_alloc"]
    row["verdict"] = ratio_verdict(row["ratio_alloc"])
    return row


def ratio_verdict(ratio: float) -> str:
    """Where a measured Python/C++ ratio falls against the folklore's 3-6x."""
    if ratio != ratio:
        return "n/a"
    if ratio < CLAIM_LOW:
        return "below 3x"
    if ratio > CLAIM_HIGH:
        return "above 6x"
    return "within 3-6x"


def measure_all(workloads: Sequence[str], sizes: Sequence[int], progress: Any = None,
                jobs: Optional[int] = None) -> "Any":
    """Rows of ``compare`` for every workload and size, as a pandas DataFrame, in that order.

    ``jobs`` steps at a time (default: 2 or fewer, one per core): every figure is a byte count
    taken inside its own fresh process, so steps that run side by side do not change each other's.
    """
    import pandas as pd
    from concurrent.futures import ThreadPoolExecutor, as_completed

    jobs = max(1, jobs or min(2, os.cpu_count() or 1))
    for name in workloads:
        get_workload(name)
    for n in sizes:
        for name in workloads:
            guard(WORKLOADS[name], n, jobs)
    skipped = []
    tasks = []
    for name in workloads:
        reason = WORKLOADS[name].available()
        if reason:
            skipped.append("%s skipped: %s" % (name, reason))
            continue
        tasks.extend((name, n) for n in sizes)

    rows: Dict[Tuple[str, int], Dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(compare, *t): t for t in tasks}
        try:
            for fut in as_completed(futures):  # progress from this thread only, as steps finish
                rows[futures[fut]] = fut.result()
                if progress:
                    progress.step("%s n=%d" % futures[fut])
        except BaseException:
            for f in futures:
                f.cancel()
            children.stop_children()  # those of the other threads too: the pool waits for them
            raise
    df = pd.DataFrame([rows[t] for t in tasks])
    df.attrs["skipped"] = skipped
    return df


def judge(df: "Any") -> "Any":
    """The verdict on the 3-6x claim, from the rows at each workload's largest n."""
    from harness.output import Verdict

    claim_rows = df[~df["reference"]]
    if claim_rows.empty:
        return Verdict(CLAIM, "inconclusive", "no workload of the claim was measured")
    largest = claim_rows.loc[claim_rows.groupby("workload")["n"].idxmax()]
    within = largest[largest["verdict"] == "within 3-6x"]
    below = largest[largest["verdict"] == "below 3x"]
    above = largest[largest["verdict"] == "above 6x"]

    def names(part: Any) -> str:
        return ", ".join("%s %.1fx" % (r.workload, r.ratio_alloc) for r in part.itertuples())

    lo, hi = largest["ratio_alloc"].min(), largest["ratio_alloc"].max()
    evidence = "allocated-bytes ratio at the largest n measured ranges %.1fx-%.1fx over %d workloads" % (
        lo, hi, len(largest))
    parts = []
    for label, part in (("within 3-6x", within), ("below", below), ("above", above)):
        if len(part):
            parts.append("%s: %s" % (label, names(part)))
    evidence += "; " + "; ".join(parts)
    if len(within) == len(largest):
        verdict = "confirmed"
    elif len(within) == 0:
        verdict = "refuted"
    else:
        verdict = "partly"
    return Verdict(CLAIM, verdict, evidence)


# --------------------------------------------------------------------------
# Timing helpers (asv suites and the CLI share them)


def iterate(obj: Any) -> int:
    """Walk every element once; returns the count."""
    count = 0
    for _ in obj:
        count += 1
    return count


def lookup_keys(workload: Workload, n: int, k: int = 1000) -> list:
    """k keys (mappings, sets) or indices (sequences) that are present at size n."""
    m = len(workload.build_cpp_source(n)) if workload.cpp_class == "FloatMatrix" else n
    step = max(m // k, 1)
    idx = list(range(0, m, step))[:k]
    if workload.kind == "mapping":
        src = workload.build_cpp_source(n)
        keys = list(src)
        return [keys[i] for i in idx]
    if workload.kind == "set":
        return [int_value(i) for i in idx]
    return idx


def lookup(obj: Any, keys: list) -> int:
    """Look every key up once (``obj[k]`` for sequences and mappings, ``in`` for sets)."""
    found = 0
    if isinstance(obj, (set, frozenset)) or type(obj).__name__ == "IntHashSet":
        for k in keys:
            found += k in obj
    else:
        for k in keys:
            obj[k]
            found += 1
    return found


# --------------------------------------------------------------------------
# CLI


def add_arguments(parser: Any) -> None:
    from harness import argtypes

    parser.add_argument("--sizes", type=argtypes.listof(argtypes.count), default=None,
                        help="element counts, comma-separated (default: %s; --full: up to 1e7)"
                        % ",".join("%g" % s for s in DEFAULT_SIZES))
    parser.add_argument("--workloads", type=argtypes.choices_list(list(WORKLOADS), "workload"),
                        default=list(WORKLOADS), help="workloads, comma-separated, or 'all' (default: all): "
                        + ", ".join(WORKLOADS))
    parser.add_argument("--full", action="store_true", help="also the large sizes (1e6, 1e7)")
    parser.add_argument("--jobs", "-j", type=argtypes.count, default=None,
                        help="steps measured at once, each in its own processes (default: 2 or fewer)")


def run(args: Any) -> Any:
    from harness.output import TopicResult
    from harness.core.progress import Progress

    sizes = args.sizes or (FULL_SIZES if args.full else DEFAULT_SIZES)
    runnable = [w for w in args.workloads if not WORKLOADS[w].available()]
    with Progress(len(runnable) * len(sizes), "containers", enabled=not args.quiet) as progress:
        df = measure_all(args.workloads, sizes, progress, jobs=getattr(args, "jobs", None))
    notes = list(df.attrs.get("skipped", []))
    notes.append("reference workloads (array_q, numpy_int64) are shown for comparison and left out of the verdict")
    notes.append("per-element figures; payload = the information itself; ratios = Python / C++")
    table = df.drop(columns=["reference"])
    return TopicResult("containers", {"bytes per element": table}, [judge(df)] if len(df) else [], notes)


def plot(result: Any, path: str) -> None:
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    df = result.tables["bytes per element"]
    names = list(dict.fromkeys(df["workload"]))
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        d = df[df["workload"] == name].sort_values("n")
        ax.plot(d["n"], d["py_alloc"], "o-", label="Python (allocated)")
        ax.plot(d["n"], d["py_req"], ".:", label="Python (requested)")
        ax.plot(d["n"], d["cpp_alloc"], "s-", label="C++ (allocated)")
        ax.plot(d["n"], d["payload"], "--", color="grey", label="payload")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("bytes / element")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Bytes per element vs n, Python %s" % result.meta.get("python"))
    save_figure(fig, path)
    plt.close(fig)
