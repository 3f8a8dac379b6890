"""Pickle: what each protocol and method costs in bytes, time and peak memory.

The topic object of ``memharness pickle`` (``TOPIC``) and the library API that the asv suite
(``benchmarks/bench_pickle.py``) calls:

* ``Options``: what a run measures (the CLI's ``options(args)`` builds it; the suite builds it).
* ``run(options) -> (frame, notes)``: every case of the plan through the one runner, each
  object built and measured in a fresh child process (one per object and size; each method's
  RSS pass in a fork of it, see ``measure``); one row per (object, size, method).
* ``check_round_trip(object, method) -> reason or None``: can it run here at all.
* ``build_object``, ``get_method`` (``Method.dump`` / ``Method.load``), ``Workspace``,
  ``npzip_dump``: the workloads themselves, for in-process timing.

Security: nothing here loads a pickle it did not write itself in the same run; no function or
command takes a pickle path (see ``safety``).

Importing this package needs the standard library only (children of other interpreters import
it), CPython 3.8 syntax; pandas is imported where rows are made into frames.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from harness.core.timing import PROCESSES
from harness.core.units import format_bytes as _fmt  # the one byte formatter
from harness.errors import ChildError, HarnessError
from harness.topic import Case, Plan, Row, Rows, Skip, kind
from harness.topics.pickle.claims import CLAIMS
from harness.topics.pickle.methods import DEFAULT, HIGHEST, METHODS, Method, get_method
from harness.topics.pickle.plan import DEFAULT_SIZES, FULL_SIZES, default_methods, default_objects, plan_cases
from harness.topics.pickle.safety import Artifact, UntrustedData, Workspace, npzip_dump, numpy_readable
from harness.topics.pickle.workloads import CPP_CONTAINERS, OBJECTS, ObjectSpec, build_object, get_object

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim

__all__ = [
    "TOPIC", "Options", "run", "check_round_trip", "default_methods", "default_objects", "plan_cases",
    "OBJECTS", "METHODS", "build_object", "get_object", "get_method", "npzip_dump", "numpy_readable",
    "Artifact", "Method", "ObjectSpec", "Workspace", "UntrustedData", "CPP_CONTAINERS", "DEFAULT_SIZES",
    "FULL_SIZES", "HIGHEST", "DEFAULT",
]

HELP = "pickle: bytes, time and peak memory of every protocol, out-of-band buffers, file vs bytes, npy zips"

DESCRIPTION = HELP + """

Objects (--objects; default: the Python objects, numpy and the cached classes; the C++
containers and PyTensor/Theano objects with --full or when named):
""" + "\n".join("  %-18s %s" % (s.name, s.description) for s in OBJECTS.values()) + """

Methods (--methods; default: every dumps-pN and dump-p%d for the Python objects and numpy,
dumps-p%d for the cached classes, dumps-p%d and dumps-p%d for the C++ containers and
PyTensor/Theano objects; oob-p5, npzip and pkl_utils for objects holding arrays;
numpy.save for arrays; --full: every method on every object):
""" % (HIGHEST, HIGHEST, DEFAULT, HIGHEST) + "\n".join("  %-18s %s" % (m.name, m.description) for m in METHODS.values()) + """

Each object is built in a fresh child process and each method measured there:
  pickled        serialised bytes (in-band + out-of-band; file size for files)
  dump/load ms   median of the samples of %d processes (harness.core.timing:
                 calibrated loops, a warmup dropped, --repeat samples each), the IQR
  peak RSS       the resident peak: RSS high-water mark above the RSS at the start,
                 in a process forked from the child right after the object was built
                 (a heap no other measurement has used); code pages not counted
  untouched      what tracemalloc's peak counted above the resident peak (output
                 buffers reserved and never touched), reported apart
  copies         resident peak / payload: copies of the data at once, besides the original
  equal          the loaded object equals the original (checked in every run)
Then (--versions, default all in the default run) each CPython 3.8-3.13 found writes the
same data at every protocol, and every other loads it.
Default sizes: numpy 1 MiB, every other object 256 KiB of payload; --full: numpy up to
256 MiB, the others 1 and 16 MiB, every method on every object (about ten minutes on 2
cores); 512 MiB and above only when asked for with --sizes.
""" % PROCESSES + """
Security: this command never loads a pickle it did not write itself in this run;
it takes no input file.
"""


@dataclass
class Options:
    """What a pickle run measures; None: the default plan (see DESCRIPTION)."""

    objects: Optional[List[str]] = None
    sizes: Optional[List[int]] = None  # payload bytes
    methods: Optional[List[str]] = None
    full: bool = False
    repeat: int = 3  # timing samples per dump and load, in each of timing.PROCESSES processes
    python: Optional[str] = None  # the interpreter that builds and measures the objects
    max_time: float = 0.5  # seconds of timing per call and process at most
    # the CPythons whose pickles are loaded by one another ("all", "3.8,3.12", paths); None: none
    versions: Optional[str] = None
    # modules that register methods of their own (methods.register), imported here and in every child
    plugins: List[str] = field(default_factory=list)


def _plugins(options: Options) -> List[List[str]]:
    """Options.plugins as [module, the sys.path folder it is found under] (for the children),
    each imported here first (registering its methods)."""
    import importlib

    from harness.core.modpath import module_folder

    out = []
    for name in options.plugins:
        importlib.import_module(name)
        out.append([name, module_folder(name) or ""])
    return out


def check_round_trip(object: str, method: str, size: int = 4096) -> Optional[str]:
    """None if ``method`` round-trips a small ``object`` here, else why not (it is tried in a
    forked process, so an extension that aborts does not take this one down)."""
    from harness.errors import BackendMissing
    from harness.topics.pickle.peaks import in_fork

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


def run(options: Options) -> "Tuple[pd.DataFrame, List[str]]":
    """Every case of the plan, through the one runner: the "cases" rows (see ``measure.COLUMNS``)
    and the notes (what was skipped or not applicable and why, what failed)."""
    from harness import runner
    from harness.topics.pickle import tables

    got = runner.measure(TOPIC, options)
    return kind(got.rows, "cases"), got.all_notes() + tables.notes(got.rows)


def _skips(info: Dict[str, Any], objects: List[str], methods: List[str]) -> List[Skip]:
    """The objects and methods the measuring interpreter cannot run, from its probe."""
    out = []
    for what, names, prefix in (("objects", objects, ""), ("methods", methods, "method ")):
        for name in names:
            miss = info[what].get(name)
            if miss:
                out.append(Skip(prefix + name, miss["reason"], miss["install"]))
    return out




def _cases(runnable: List[Tuple[str, int, List[str]]], python_version: Optional[str]) -> List[Case]:
    """A case per (object, size); the cached classes (a method or two each) of one size as one
    case, measured in one child per timing process with a fork per object (see measure_group)."""
    from harness.topics.pickle.plan import HIGHEST_ONLY

    def estimate(o: str, s: int) -> float:
        return OBJECTS[o].payload(s) * OBJECTS[o].mem_factor

    singles: List[Tuple[str, int, List[str]]] = []
    groups: Dict[int, List[List[Any]]] = {}
    for o, s, ms in runnable:
        if OBJECTS[o].family in HIGHEST_ONLY and len(ms) <= 2:
            groups.setdefault(s, []).append([o, s, ms])
        else:
            singles.append((o, s, ms))
    out = [Case("%s %s (%d methods)" % (o, _fmt(s), len(ms)),
                {"object": o, "size": s, "methods": ms, "python_version": python_version}, estimate=estimate(o, s))
           for o, s, ms in singles]
    for s, group in groups.items():  # one object at a time, each in a fork: the largest counts
        out.append(Case("cached classes %s (%d objects)" % (_fmt(s), len(group)),
                        {"group": group, "python_version": python_version},
                        estimate=max(estimate(o, s) for o, s, _ in group)))
    return out


def _versions_case(plan: Plan, versions: str) -> None:
    """The case in which every interpreter of ``versions`` loads the others' pickles (a note
    where fewer than two are found: the claim then says it cannot judge across versions)."""
    from dataclasses import asdict

    from harness.core.interpreters import find_interpreters

    found, missing = find_interpreters([v.strip() for v in versions.split(",") if v.strip()])
    plan.notes.extend("protocols across versions: %s" % n for n in missing)
    if found:
        plan.cases.append(Case("protocols across CPython %s" % ", ".join(it.version for it in found),
                               {"interpreters": [asdict(it) for it in found]}))


class PickleTopic:
    """``memharness pickle``: see the module's docstring and DESCRIPTION."""

    name = "pickle"
    timed = True  # harness.lanes
    report_args: Sequence[str] = ()
    help = HELP
    description = DESCRIPTION
    claims: Sequence["Claim"] = CLAIMS

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from harness import argtypes

        parser.add_argument("--objects", type=argtypes.choices_list(list(OBJECTS), "object"), metavar="LIST",
                            help="comma-separated objects, or 'all' (default: all; those that cannot be built "
                                 "here are skipped with a note)")
        parser.add_argument("--methods", type=argtypes.choices_list(list(METHODS), "method"), metavar="LIST",
                            help="comma-separated methods, or 'all' (default: see above)")
        parser.add_argument("--sizes", type=argtypes.listof(argtypes.nbytes), metavar="LIST",
                            help="payload sizes for every object, e.g. 1MB,64MB,512MiB (default: see above)")
        parser.add_argument("--full", action="store_true",
                            help="larger sizes (numpy to 256 MiB, others to 16 MiB) and every method on every object")
        parser.add_argument("--repeat", type=int, default=3, metavar="N",
                            help="timing samples per dump and load in each of the %d timing processes (default 3; "
                                 "3 or more for a difference to be significant)" % PROCESSES)
        parser.add_argument("--versions", metavar="LIST",
                            help="CPythons that load one another's pickles at every protocol: 'all' (the default "
                                 "when no --objects, --methods or --sizes is given), versions or paths, "
                                 "comma-separated, or 'none'")
        from harness.envs import add_python_argument

        add_python_argument(parser)  # e.g. --python py3.11-theano: the Theano objects too

    def options(self, args: argparse.Namespace) -> Options:
        if args.repeat < 1 or args.repeat > 100:
            raise HarnessError("--repeat must be between 1 and 100, got %d" % args.repeat)
        versions = getattr(args, "versions", None)
        if versions is None:
            versions = "none" if (args.objects or args.methods or args.sizes) else "all"
        elif versions not in ("all", "none"):  # a bad version or path: an error now, not a note later
            from harness.core.interpreters import find_interpreters

            find_interpreters([v.strip() for v in versions.split(",") if v.strip()])
        # --python: the environments the whole topic runs in (harness.registry.RUNS_IN_ENVS), each
        # measuring with its own interpreter: Options.python stays None
        return Options(objects=args.objects, sizes=args.sizes, methods=args.methods, full=args.full,
                       repeat=args.repeat, versions=None if versions == "none" else versions)

    def plan(self, options: Options) -> Plan:
        """The cases of ``plan_cases``, less what the measuring interpreter cannot run (a probe in a
        child process says what): each (object, size) one case, its methods measured in one child."""
        from harness.topics.pickle.cases import probe_in_child

        plugins = _plugins(options)  # first: they register methods the plan may name
        # objects=[]: no objects (the versions case alone)
        cases = [] if options.objects == [] else plan_cases(options.objects, options.sizes, options.methods,
                                                             options.full)
        objects = sorted({c[0] for c in cases}, key=list(OBJECTS).index)
        methods = sorted({m for c in cases for m in c[2]}, key=list(METHODS).index)
        info = (probe_in_child(objects, methods, options.python, plugins) if cases
                else {"objects": {}, "methods": {}, "versions": {"python": None}})
        skips = _skips(info, objects, methods)
        runnable = [(o, s, [m for m in ms if not info["methods"].get(m)]) for o, s, ms in cases
                    if not info["objects"].get(o)]
        runnable = [c for c in runnable if c[2]]
        if not runnable and not options.versions:
            raise HarnessError("nothing could be measured: " + ("; ".join(s.note() for s in skips) or "no cases"))
        python_version = info["versions"]["python"]
        plan = Plan(_cases(runnable, python_version), skips=skips)
        if options.versions:
            _versions_case(plan, options.versions)
        return plan

    def execute(self, case: Case, options: Options) -> Mapping[str, List[Row]]:
        from harness.topics.pickle.cases import case_rows

        p = case.params
        if "interpreters" in p:
            from harness.core.interpreters import Interpreter
            from harness.topics.pickle.versions import versions_rows

            return versions_rows([Interpreter(**it) for it in p["interpreters"]])
        if "group" in p:
            from harness.topics.pickle.cases import group_rows

            return group_rows(p["group"], options.python, p["python_version"], options.repeat, options.max_time,
                              _plugins(options))
        return case_rows(p["object"], p["size"], p["methods"], options.python, p["python_version"],
                         options.repeat, options.max_time, _plugins(options))

    def finish(self, rows: Rows, options: Options) -> Rows:
        """The "cases" rows in their columns; a run whose every method failed is not a success."""
        from harness.topics.pickle.cases import COLUMNS

        out = dict(rows)
        frame = kind(rows, "cases").reindex(columns=COLUMNS)
        if frame.empty and kind(rows, "versions").empty:
            raise HarnessError("nothing could be measured: every case was skipped")
        if len(frame) and frame["error"].notna().all():  # e.g. every child killed by SIGKILL (the kernel's OOM killer)
            raise ChildError("every method failed; first: %s" % frame["error"].dropna().iloc[0])
        out["cases"] = frame
        return out

    def tables(self, rows: Rows, options: Options) -> Dict[str, "pd.DataFrame"]:
        from harness.topics.pickle import tables

        return tables.tables(rows)

    def notes(self, rows: Rows, options: Options) -> List[str]:
        """What the rows say besides the tables (see ``tables.notes``)."""
        from harness.topics.pickle import tables

        return tables.notes(rows)

    def figure(self, rows: Rows, path: str) -> None:
        from harness.topics.pickle.figure import figure

        figure(rows, path)

    def meta(self, rows: Rows, options: Options) -> Dict[str, Any]:
        import platform

        frame = kind(rows, "cases")
        py = frame["python"].iloc[0] if len(frame) else platform.python_version()
        meta: Dict[str, Any] = {"python": py, "measured_python": py, "highest_protocol": HIGHEST,
                                "default_protocol": DEFAULT}
        if py != platform.python_version():
            meta["driver_python"] = platform.python_version()
        libs = sorted({x for x in frame["library"].dropna()}) if "library" in frame else []
        if libs:
            meta["libraries"] = libs
        return meta

    def from_asv(self, tracked: "pd.DataFrame") -> Rows:
        from harness.topics.pickle.cases import from_asv

        return from_asv(tracked)


TOPIC = PickleTopic()
