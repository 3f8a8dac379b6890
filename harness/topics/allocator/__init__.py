"""pymalloc: arenas, pools, fixed-size blocks, and what stays allocated after frees.

The folklore under test: "256 KB arenas divided into 4 KB pools with fixed-size blocks; memory
in pools and arenas is reused but not given back; this builds up when different pools are
needed". Each figure is measured in a fresh child process of each CPython asked for, and read
from ``sys._debugmallocstats()`` through ``harness.core.mallocstats``: the geometry (arena size,
pool size, pool header, size-class step, and the same from block addresses) and the retention
after frees (see ``workloads``). The package imports no pandas: child processes of every
interpreter import it (standard library only, CPython 3.8 syntax).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from harness.core import memory
from harness.errors import HarnessError
from harness.topic import Case, Plan, Row, Skip, kind
from harness.topics.allocator import measure
from harness.topics.allocator.claims import CLAIMS
from harness.topics.allocator.workloads import (
    ALLOCATORS,
    DEFAULT_N,
    DEFAULT_SIZE,
    MAX_SIZE,
    MIN_N,
    MIN_SIZE,
    MIXED,
    PATTERNS,
    Size,
    judged_size,
    objects_label,
    unknown,
    workload_estimate,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim
    from harness.topic import Rows

HELP = "pymalloc arenas, pools and retention after frees, across CPython versions"
DESCRIPTION = HELP + """

Each workload runs in a fresh child process: N bytes objects of one request
size (or of mixed size classes) are allocated, then freed in a pattern
(free_all, free_every_2nd, keep_1_in_1000, free_random_half). After each step
(start, allocated, freed, trimmed = after glibc malloc_trim(0), refill_same =
as many objects as were freed allocated again, refill_other = the same count
one size class larger) the child reads sys._debugmallocstats():

  arenas_*     pymalloc arenas in use after each step
  rss_*        RSS above the start, MiB
  ratio        retained / live after the free: bytes the allocator holds above
               the start (arenas for pymalloc, glibc heap for malloc and C++)
               over the bytes requested by the objects still alive

allocators: pymalloc (PYTHONMALLOC=pymalloc), malloc (PYTHONMALLOC=malloc:
glibc), c++ (the same number of same-sized blocks through the C++ counting
allocator, glibc underneath; run once, in the current interpreter).

--python takes versions (3.8, 3.12.1), interpreter paths, 'current' or
'all' (every CPython 3.8-3.13 found on PATH or under pyenv).
"""
NOTES = ("arenas_*: pymalloc arenas after each step; rss_*: MiB above the start; ratio: bytes held by the "
         "allocator above the start / bytes requested by live objects, after the free")
# bench_allocator.Geometry's tracked figures -> the geometry row's columns
ASV_GEOMETRY = {
    "bench_allocator.Geometry.track_arena_size": "arena_size",
    "bench_allocator.Geometry.track_pool_size": "pool_size",
    "bench_allocator.Geometry.track_pool_header": "pool_header",
    "bench_allocator.Geometry.track_pools_per_arena_seen": "probe_pools_per_arena",
}
CPP_NOTE = ("C++ rows: python 'C++' = BlockSet through the counting allocator (glibc), run once "
            "in the current interpreter")


@dataclass
class Options:
    """What one run measures. ``pythons``: interpreter specs (versions, paths, 'current', 'all'),
    None for this interpreter; ``sizes``: request sizes in bytes and/or MIXED; ``steps``: also
    the long tables."""

    pythons: Optional[List[str]] = None
    allocators: Sequence[str] = ALLOCATORS
    sizes: Sequence[Size] = (DEFAULT_SIZE, MIXED)
    patterns: Sequence[str] = PATTERNS
    n: int = DEFAULT_N
    seed: int = 0
    jobs: Optional[int] = None  # child processes at once (default: 2 or fewer)
    steps: bool = False

    def check(self) -> None:
        """HarnessError for settings no run can measure."""
        for a in self.allocators:
            if a not in ALLOCATORS:
                raise unknown("allocator", a, ALLOCATORS)
        for p in self.patterns:
            if p not in PATTERNS:
                raise unknown("pattern", p, PATTERNS)
        for s in self.sizes:
            if s != MIXED and (not isinstance(s, int) or s < MIN_SIZE or s > MAX_SIZE):
                raise HarnessError("object size %r: give a request size in bytes (%d to %d) or 'mixed'"
                                   % (s, MIN_SIZE, MAX_SIZE))
        if self.n < MIN_N:
            raise HarnessError("n = %d is too small: keep_1_in_1000 needs at least %d objects" % (self.n, MIN_N))


def _objects_list(text: str) -> List[Size]:
    out: List[Size] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if part == MIXED:
            out.append(MIXED)
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is neither a size in bytes nor 'mixed'" % part) from None
        if not MIN_SIZE <= value <= MAX_SIZE:
            raise argparse.ArgumentTypeError("request size %d B out of range (%d to %d; pymalloc serves up to 512)"
                                             % (value, MIN_SIZE, MAX_SIZE))
        out.append(value)
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def _split(values: Optional[Sequence[str]]) -> Optional[List[str]]:
    if not values:
        return None
    specs = [p.strip() for v in values for p in v.split(",")]
    if "" in specs:
        raise HarnessError("--python: an empty name (give a version such as 3.8, a path, 'current' or 'all')")
    return list(dict.fromkeys(specs))


def _workload_cases(options: Options, python: str, version: str, allocator: str) -> List[Case]:
    """The workloads of one interpreter and allocator; ``version`` is what the rows' python column
    says ("C++" for the C++ blocks, run once in this interpreter: ``python`` "")."""
    label = version if allocator == "c++" else "%s %s" % (version, allocator)
    return [Case("%s %s %s" % (label, objects_label(size), pat),
                 {"kind": "workload", "python": python, "version": version,
                  "allocator": allocator, "size": size, "pattern": pat},
                 workload_estimate(size, options.n))
            for size in options.sizes for pat in PATTERNS if pat in options.patterns]


class AllocatorTopic:
    name = "allocator"
    timed = False  # harness.lanes
    report_args: Sequence[str] = ()
    help = HELP
    description = DESCRIPTION
    claims: Sequence["Claim"] = CLAIMS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from harness.argtypes import choices_list, count

        parser.add_argument("--python", action="append", metavar="VERSION|PATH",
                            help="interpreter(s) to run: 3.8, 3.12.1, a path, 'current' (default) or 'all'; "
                                 "repeat or separate with commas")
        parser.add_argument("--n", type=count, default=DEFAULT_N, help="objects per workload (default %d)" % DEFAULT_N)
        parser.add_argument("--objects", type=_objects_list, default=[DEFAULT_SIZE, MIXED], metavar="SIZES",
                            help="request sizes in bytes and/or 'mixed', comma-separated (default: %d,mixed)"
                                 % DEFAULT_SIZE)
        parser.add_argument("--patterns", type=choices_list(list(PATTERNS), "pattern"), default=list(PATTERNS),
                            help="free patterns (default: all): %s" % ", ".join(PATTERNS))
        parser.add_argument("--allocators", type=choices_list(list(ALLOCATORS), "allocator"),
                            default=list(ALLOCATORS), help="allocators (default: all): %s" % ", ".join(ALLOCATORS))
        parser.add_argument("--jobs", "-j", type=count, default=None,
                            help="child processes at once (default: 2 or fewer)")
        parser.add_argument("--seed", type=int, default=0, help="seed of free_random_half (default 0)")
        parser.add_argument("--steps", action="store_true",
                            help="also print the long tables: one row per step, and the evidence per claim and version")

    def options(self, args: argparse.Namespace) -> Options:
        return Options(pythons=_split(args.python), allocators=list(args.allocators), sizes=list(args.objects),
                       patterns=list(args.patterns), n=args.n, seed=args.seed, jobs=args.jobs, steps=args.steps)

    def plan(self, options: Options) -> Plan:
        """Per interpreter: its geometry, then each workload (allocators, sizes, patterns in the
        tables' order); the C++ workloads last, once. Rows come back in this order."""
        from harness.core.interpreters import find_interpreters

        interps, notes = find_interpreters(options.pythons)
        options.check()
        jobs = max(1, options.jobs or min(2, os.cpu_count() or 1))
        biggest = max(workload_estimate(s, options.n) for s in options.sizes)
        memory.check_fits(jobs * biggest, "%d allocator workloads of %d objects at once" % (jobs, options.n))
        cases: List[Case] = []
        for it in interps:
            cases.append(Case("geometry %s" % it.version, {"kind": "geometry", "python": it.path}))
            for alloc in (a for a in ALLOCATORS if a in options.allocators and a != "c++"):
                cases += _workload_cases(options, it.path, it.version, alloc)
        skips: List[Skip] = []
        if "c++" in options.allocators:
            missing = measure.cpp_missing()
            if missing is None:
                cases += _workload_cases(options, "", "C++", "c++")
            else:
                skips.append(Skip("C++ column", "%s: %s" % (missing.backend, missing.reason), missing.install))
        notes.append("verdicts judge the %s workload of %d objects, pymalloc rows (glibc claim: malloc rows)"
                     % (objects_label(judged_size(options.sizes)), options.n))
        notes.append(NOTES)
        if "c++" in options.allocators and not skips:
            notes.append(CPP_NOTE)
        return Plan(cases, skips, notes, jobs=jobs)

    def execute(self, case: Case, options: Options) -> Mapping[str, List[Row]]:
        p = case.params
        if p["kind"] == "geometry":
            return {"geometry": [measure.geometry_row(measure.geometry(p["python"]))]}
        res = measure.run_workload(p["pattern"], p["size"], options.n, allocator=p["allocator"],
                                   python=p["python"] or None, seed=options.seed)
        return {"steps": measure.step_rows(res, p["version"], p["size"])}

    def finish(self, rows: "Rows", options: Options) -> "Rows":
        """Mark the workload the verdicts judge (``judged``)."""
        steps = kind(rows, "steps")
        if len(steps):
            steps = steps.copy()
            steps["judged"] = [s == judged_size(options.sizes) for s in steps["size"]]
            rows = dict(rows, steps=steps)
        return rows

    def tables(self, rows: "Rows", options: Options) -> Dict[str, "pd.DataFrame"]:
        from harness.topics.allocator.tables import tables

        return tables(rows, steps=options.steps)

    def figure(self, rows: "Rows", path: str) -> None:
        from harness.topics.allocator.figure import figure

        figure(rows, path)

    def meta(self, rows: "Rows", options: Options) -> Dict[str, Any]:
        geo = kind(rows, "geometry")
        return {"n": options.n, "pythons": list(geo["python"]) if len(geo) else [], "seed": options.seed}

    def notes(self, rows: "Rows", options: Options) -> List[str]:
        return []

    def from_asv(self, tracked: "pd.DataFrame") -> "Rows":
        """The geometry row of one Python version from bench_allocator.Geometry's tracked figures
        (arena size, pool size, pool header, pools per arena seen; Geometry tracks nothing where
        pymalloc is not in use); the step rows' figures asv tracks are differences the claims
        cannot be judged from, so none are rebuilt. ``tracked`` may name the version in a
        ``python`` column (else "asv")."""
        import pandas as pd

        row: Row = {}
        for bench, value in zip(tracked["benchmark"], tracked["value"]):
            column = ASV_GEOMETRY.get(bench)
            if column and isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                row[column] = int(value) if float(value).is_integer() else value
        if not row:  # Geometry tracks figures under pymalloc only
            return {}
        python = str(tracked["python"].iloc[0]) if "python" in tracked.columns else "asv"
        return {"geometry": pd.DataFrame([dict(python=python, allocator="pymalloc", **row)])}


TOPIC = AllocatorTopic()
