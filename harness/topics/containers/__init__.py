"""containers: Python structures vs their C++ equivalents, bytes per element and the ratio.

Where each stage lives: workloads.py (the structures and their data), measure.py (both sides of a
step, each in a fresh child), claims.py (the 3-6x claim), tables.py, figure.py.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from harness.topic import Case, Plan, Row, Skip, frames
from harness.topics.containers import claims, figure, tables
from harness.topics.containers.measure import compare
from harness.topics.containers.workloads import DEFAULT_SIZES, FULL_SIZES, WORKLOADS, estimate, get_workload

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim
    from harness.topic import Rows

HELP = "Python structures vs their C++ equivalents: bytes per element and the ratio"
DESCRIPTION = HELP + """

For each workload and size, the Python structure and the equivalent C++
container are built from the same data, each in a fresh child process:
  payload       the information itself (8 B per int64/float64, UTF-8 length of strings)
  py_req        Python bytes requested (tracemalloc), per element
  py_alloc      Python bytes allocated (pymalloc blocks + glibc chunks, headers included), per element
  py_rss        RSS growth of the child, per element
  cpp_req       C++ bytes requested (counting allocator + sizeof), per element
  cpp_alloc     C++ bytes allocated (glibc chunks, headers included, + sizeof), per element:
                the same unit as py_alloc
  cpp_usable    C++ usable bytes (malloc_usable_size + sizeof: 8 B less per chunk), per element
  ratio_req, ratio_alloc   Python / C++
  verdict       ratio_alloc against the folklore's 3-6x
  alloc_note    why an allocated figure is not measured (NaN), shown only when one is not
"""
NOTES = ["reference workloads (array_q, numpy_int64) are shown for comparison and left out of the verdict",
         "per-element figures; payload = the information itself; ratios = Python / C++"]
# asv's tracked figures (bench_containers.BytesPerElement, params workload and n) -> row columns
TRACKED = {
    "track_python_requested": "py_req",
    "track_python_allocated": "py_alloc",
    "track_cpp_allocated": "cpp_alloc",
    "track_ratio_allocated": "ratio_alloc",
    "track_ratio_requested": "ratio_req",
}
SUITE = "bench_containers.BytesPerElement."


@dataclass
class Options:
    workloads: Sequence[str] = tuple(WORKLOADS)
    sizes: Optional[Sequence[int]] = None  # None: DEFAULT_SIZES, or FULL_SIZES with full
    full: bool = False
    jobs: Optional[int] = None  # steps at once; default one per core, at most 2

    def size_list(self) -> List[int]:
        return list(self.sizes or (FULL_SIZES if self.full else DEFAULT_SIZES))


class Containers:
    name = "containers"
    timed = False  # harness.lanes
    # the claim reads each workload's largest n
    report_args: Sequence[str] = ("--sizes", str(max(DEFAULT_SIZES)))
    help = HELP
    description = DESCRIPTION
    claims: Sequence["Claim"] = claims.CLAIMS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
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
        from harness.envs import add_python_argument

        add_python_argument(parser)

    def options(self, args: argparse.Namespace) -> Options:
        return Options(args.workloads, args.sizes, args.full, getattr(args, "jobs", None))

    def plan(self, options: Options) -> Plan:
        """One case a workload and size. Every figure is a byte count taken inside its own fresh
        process, so steps that run side by side do not change each other's."""
        cases: List[Case] = []
        skips: List[Skip] = []
        for name in options.workloads:
            w = get_workload(name)
            reason = w.available()
            if reason:
                skips.append(Skip(name, reason))
                continue
            cases.extend(Case("%s n=%d" % (name, n), {"workload": name, "n": n}, estimate(w, n))
                         for n in options.size_list())
        jobs = max(1, options.jobs or min(2, os.cpu_count() or 1))
        return Plan(cases, skips, list(NOTES), jobs)

    def execute(self, case: Case, options: Options) -> Mapping[str, List[Row]]:
        return {"elements": [compare(case.params["workload"], case.params["n"])]}

    def finish(self, rows: "Rows", options: Options) -> "Rows":
        return rows

    def tables(self, rows: "Rows", options: Any) -> Dict[str, "pd.DataFrame"]:
        return tables.tables(rows)

    def figure(self, rows: "Rows", path: str) -> None:
        figure.figure(rows, path)

    def meta(self, rows: "Rows", options: Any) -> Dict[str, Any]:
        return {}

    def notes(self, rows: "Rows", options: Any) -> List[str]:
        return []

    def from_asv(self, tracked: "pd.DataFrame") -> "Rows":
        by_case: Dict[Any, Row] = {}
        for bench, args, value in zip(tracked["benchmark"], tracked["args"], tracked["value"]):
            column = TRACKED.get(str(bench)[len(SUITE):]) if str(bench).startswith(SUITE) else None
            if column is None or len(args) != 2 or args[0] not in WORKLOADS or not _number(value):
                continue
            row = by_case.setdefault(tuple(args), {"workload": args[0], "n": args[1],
                                                   "reference": WORKLOADS[args[0]].reference})
            row[column] = float(value)
        return frames({"elements": [r for r in by_case.values() if "ratio_alloc" in r and _number(r["n"])]})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


TOPIC = Containers()
