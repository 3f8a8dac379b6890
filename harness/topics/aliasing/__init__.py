"""Theano-style aliasing: what ``borrow`` really aliases, and what a copy costs.

The topic of ``memharness aliasing``. Two results, for Theano 1.0.5 and PyTensor (C/CVM, NUMBA
and JAX linkers; on a GPU, PyTensor's JAX mode on CUDA and a CuPy model of a device-resident
shared variable):

1. conformance: for each operation and flag combination, whether the result shares memory with
   the input or with the shared variable's storage, whether it is the same object, and whether
   that keeps the tutorial's promise (``conformance.py``);
2. throughput: time per call of each operation, borrow vs copy, with its spread, from
   ``timing.PROCESSES`` processes; a copy's GB/s as a fraction of the limit of the same kind timed
   in C++ in the same run (``harness.core.limits``; on a GPU: the transfer limits); calls per
   second for small arrays (``measure.py``, ``timed.py``).

The CPU backends of one interpreter are one case, measured together in each timed child process
with the environment they need (``THEANO_FLAGS`` for Theano); a backend asked to run under another
interpreter (``--python theano=/path/to/venv/bin/python``) is a case of its own, as is each GPU
backend. This package's import stays light (no numpy or
pandas, CPython 3.8 syntax): children of other interpreters import it.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from harness.core.limits import MAX_FRACTION, THP_PATH, thp_mode
from harness.core.optional import INSTALL
from harness.core.timing import ALPHA, PROCESSES
from harness.errors import HarnessError
from harness.topic import Case, Plan, Row, Skip, kind
from harness.topics.aliasing import workloads as W
from harness.topics.aliasing.claims import CLAIMS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim
    from harness.topic import Rows

HELP = "Theano-style borrow vs copy: what aliases and what it costs (Theano 1.0.5, PyTensor C/NUMBA/JAX, GPU)"
DESCRIPTION = HELP + """

Prints two tables: conformance (does each operation alias, and does that keep
the Theano aliasing tutorial's promise) and throughput (time per call of each
operation, borrow vs copy, with its spread and whether the difference is
significant; a copy's GB/s as a fraction of the C++ limit of the same kind:
memcpy into a warm buffer, or allocate-and-copy), plus the limits, calls per
second for small arrays and the harness's own timing overhead. Backends that are not installed are skipped with a note
saying how to install them; the numpy reference (copy vs view) always runs.

Theano 1.0.5 needs CPython <= 3.11 and numpy 1.23 (3.8: numpy < 1.22): install
it in its own virtualenv and point --python at it, e.g.
  memharness aliasing --python theano=/tmp/v-theano/bin/python
"""

GBPS_NOTE = ("times are medians over every sample of %d processes (IQR beside them); GB/s counts the array's "
             "bytes once per call, for copies only (a borrow copies nothing: time and speed-up); copy_vs_limit "
             "is the copy's GB/s over the fastest sample of the C++ limit of the same kind at the same size "
             "(memcpy warm: into an existing buffer; alloc+copy: malloc, memcpy, free), above %.2f flagged as "
             "a measurement error; borrow_speedup = copy time / borrow time, 'faster' only when a Mann-Whitney "
             "test is significant (p < %g)" % (PROCESSES, MAX_FRACTION, ALPHA))
ALL_BACKENDS = W.CPU_BACKENDS + W.GPU_BACKENDS


@dataclass
class Options:
    """What one aliasing run measures (the CLI's ``options(args)`` and the asv suites build it)."""

    backends: Optional[Sequence[str]] = None  # None: every backend of the device
    device: str = "cpu"  # cpu or gpu
    sizes: Sequence[int] = W.DEFAULT_SIZES  # array sizes in bytes (kept sorted, each once)
    repeat: int = 5  # timing samples per figure and process
    processes: int = PROCESSES  # timed children per backend, their samples merged
    min_time: float = 0.01  # shortest timed sample, seconds
    only: Optional[str] = None  # "conformance" or "throughput": measure only that
    pythons: Dict[str, str] = field(default_factory=dict)  # backend (or "*") -> interpreter
    timeout: float = 600.0  # seconds, each backend's child process
    reference: bool = True  # the numpy reference (CPU, throughput only)
    detail: bool = False  # also the long-form rows tables
    # filled while a run goes on: the backends whose child failed ("name: error"), for ``finish``

    def __post_init__(self) -> None:
        self.sizes = sorted(set(int(s) for s in (self.sizes or W.DEFAULT_SIZES)))
        if self.backends is None:
            self.backends = list(W.CPU_BACKENDS if self.device == "cpu" else W.GPU_BACKENDS)
        self.backends = list(self.backends)
        self.pythons = dict(self.pythons or {})

    def python_of(self, backend: str) -> Optional[str]:
        """The interpreter a backend runs under (None: this one)."""
        if backend == W.REFERENCE:
            return None
        return self.pythons.get(backend) or self.pythons.get("*")


# --------------------------------------------------------------------------
# Command-line arguments


def _python_spec(text: str) -> Tuple[str, str]:
    """'PATH' (every backend) or 'BACKEND=PATH'; PATH may name a managed environment (py3.11-theano)."""
    backend, sep, path = text.partition("=")
    if not sep:
        backend, path = "*", text
    backend = backend.strip()
    if backend not in ("*",) + ALL_BACKENDS:
        raise argparse.ArgumentTypeError("unknown backend %r in %r (choose from: %s)"
                                         % (backend, text, ", ".join(ALL_BACKENDS)))
    path = os.path.expanduser(path.strip())
    if path.startswith("py3."):  # a managed environment by name (memharness envs): its interpreter
        from harness.envs import resolve

        try:
            path = resolve(path)[0].python
        except HarnessError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError("%r is not an executable interpreter" % path)
    return backend, path


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not (v > 0 and v < 3600):
        raise argparse.ArgumentTypeError("%r must be between 0 and 3600" % text)
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.argtypes import choices_list, count, listof, nbytes

    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu: Theano and PyTensor on the CPU (default); gpu: PyTensor's JAX mode on CUDA "
                             "and the CuPy model (needs a CUDA device)")
    parser.add_argument("--backends", type=choices_list(list(ALL_BACKENDS), "backend"), metavar="LIST",
                        help="comma-separated backends (default: %s; with --device gpu: %s)"
                             % (",".join(W.CPU_BACKENDS), ",".join(W.GPU_BACKENDS)))
    parser.add_argument("--python", type=_python_spec, action="append", default=[], metavar="[BACKEND=]PATH",
                        help="run a backend (or, without BACKEND=, every backend) under another interpreter, "
                             "e.g. theano=/tmp/v-theano/bin/python or theano=py3.11-theano (an environment of "
                             "memharness envs); repeatable")
    parser.add_argument("--sizes", type=listof(nbytes), metavar="LIST",
                        help="array sizes in bytes (default: 4KB,64KB,1MB,64MB)")
    parser.add_argument("--large", action="store_true",
                        help="add 16MB, 256MB and 512MB (needs about 3 GB free and several minutes)")
    parser.add_argument("--repeat", type=count, default=5,
                        help="timing samples per figure in each of the %d timed processes (default 5)" % PROCESSES)
    parser.add_argument("--min-time", type=_positive_float, default=0.01, metavar="SECONDS",
                        help="shortest timed sample; loops are calibrated to it (default 0.01)")
    parser.add_argument("--only", choices=("conformance", "throughput"),
                        help="measure only one of the two results")
    parser.add_argument("--detail", action="store_true",
                        help="also print the long-form rows (always included with --format json/csv)")
    parser.add_argument("--timeout", type=_positive_float, default=600.0, metavar="SECONDS",
                        help="time limit of each backend's child process (default 600)")


def options(args: argparse.Namespace) -> Options:
    sizes = list(args.sizes or W.DEFAULT_SIZES)
    if args.large:
        sizes += [s for s in W.LARGE_SIZES if s not in sizes]
    return Options(backends=args.backends, device=args.device, sizes=sizes, repeat=args.repeat,
                   min_time=args.min_time, only=args.only, pythons=dict(args.python or []),
                   timeout=args.timeout,
                   detail=bool(args.detail or getattr(args, "format", "table") in ("json", "csv")))


# --------------------------------------------------------------------------
# Plan, execute, finish


def gpu_unavailable_reason() -> Optional[str]:
    """None when a CUDA path works in this interpreter, else why not (one line)."""
    from harness.topics.aliasing.gpu import detect_cuda

    info = detect_cuda()
    return None if info["available"] else (info["reason"] or "no CUDA device")


def _check(o: Options) -> None:
    """Refuse, before anything runs, what cannot be measured, with today's wording."""
    from harness.core.memory import check_fits

    if o.device not in ("cpu", "gpu"):
        raise HarnessError("unknown device %r (choose cpu or gpu)" % o.device)
    wrong = [b for b in o.backends or () if (b in W.GPU_BACKENDS) != (o.device == "gpu")]
    if wrong:
        raise HarnessError("backend%s %s belong%s to --device %s" % ("s" * (len(wrong) > 1), ", ".join(wrong),
                           "" if len(wrong) > 1 else "s", "gpu" if o.device == "cpu" else "cpu"))
    if o.device == "gpu" and not any(o.python_of(b) for b in o.backends or ()):
        why = gpu_unavailable_reason()
        if why:
            raise HarnessError("--device gpu: no CUDA device usable: %s" % why)
    if o.only != "conformance":
        check_fits(W.ARRAYS_ALIVE * max(o.sizes), "aliasing at %d bytes per array" % max(o.sizes))


def plan(o: Options) -> Plan:
    """The backends to measure (the numpy reference first); one not installed here is a skip. On
    the CPU, the backends of one interpreter are one case, measured together in each of its
    processes (``measure.run_backends``: one load of what they share, the limits and the harness's
    overhead timed once a size beside them all); on a GPU, each backend is a case of its own."""
    _check(o)
    reference = o.reference and o.device == "cpu" and o.only != "conformance"
    estimate = float(W.ARRAYS_ALIVE * max(o.sizes)) if o.only != "conformance" else 0.0
    groups: Dict[Tuple[Optional[str], Optional[str]], List[str]] = {}  # (interpreter, GPU backend) -> names
    skips: List[Skip] = []
    for name in ([W.REFERENCE] if reference else []) + list(o.backends or ()):
        python = o.python_of(name)
        why = W.presence(name) if (python is None and name != W.REFERENCE) else None
        if why:
            skips.append(Skip(name, why, INSTALL[name]))
            continue
        groups.setdefault((python, None if o.device == "cpu" else name), []).append(name)
    cases = [Case(", ".join(names), {"backends": names, "python": o.python_of(names[0]),
                                     "conformance": o.only != "throughput", "throughput": o.only != "conformance"},
                  estimate) for names in groups.values()]
    # one case at a time: the timings share the machine. The numpy reference alone is no result.
    return Plan(cases, skips, jobs=1, essential=[c.label for c in cases if c.params["backends"] != [W.REFERENCE]])


def execute(case: Case, o: Options) -> Mapping[str, List[Row]]:
    from harness.topics.aliasing.measure import run_backends

    p = case.params
    return run_backends(p["backends"], p["python"], sizes=o.sizes, repeat=o.repeat, min_time=o.min_time,
                        conformance=p["conformance"], throughput=p["throughput"], timeout=o.timeout,
                        processes=o.processes)


def finish(rows: "Rows", o: Options) -> "Rows":
    """Add the ``devices`` row: what this run measured on, and why the GPU claims were not measured
    where they were not (no CUDA device, or a CPU run)."""
    import pandas as pd

    from harness.topics.aliasing.gpu import no_device_reason

    why = no_device_reason() if o.device == "cpu" else None
    out = dict(rows)
    out["devices"] = pd.DataFrame([{"device": o.device, "cuda": why is None, "reason": why or ""}])
    return out


# --------------------------------------------------------------------------
# What a run says besides its tables


def meta(rows: "Rows", o: Options) -> Dict[str, Any]:
    backends = {}
    for _, r in kind(rows, "backends").iterrows():
        backends[r["backend"]] = {"versions": dict(r["versions"] or {}), "python": r["python"],
                                  "interpreter": r["interpreter"], "seconds": r["seconds"]}
    return {"device": o.device, "sizes": list(o.sizes), "backends": backends, "processes": o.processes,
            "transparent_hugepages": thp_mode()}


def notes(rows: "Rows", o: Options) -> List[str]:
    """What each backend was (versions, interpreter, time) and how to read GB/s."""
    out = []
    for name, info in meta(rows, o)["backends"].items():
        v = ", ".join("%s %s" % kv for kv in info["versions"].items())
        out.append("%s: %s [%s; Python %s, %.1f s]" % (name, W.DESCRIPTION.get(name, name), v,
                                                        info["python"], info["seconds"]))
    if len(kind(rows, "throughput")):
        out.append(GBPS_NOTE)
        out.append("transparent huge pages (%s): %s" % (THP_PATH, thp_mode()))
    lim = kind(rows, "limits")
    if "why" in lim:
        for b, why in dict(zip(lim["backend"], lim["why"])).items():
            if isinstance(why, str) and why:
                out.append("%s: limits %s (no fraction of a limit)" % (b, why))
    return out


def from_asv(tracked: "pd.DataFrame") -> "Rows":
    """Throughput rows from ``bench_aliasing.Operations.time_operation`` (backend, operation, borrow,
    size): asv's median seconds per call (results older than that benchmark: the median that
    ``track_gbps`` implies). asv keeps one figure per benchmark, no samples: a time comparison from
    these rows is never significant (the claims say so)."""
    import math

    import pandas as pd

    found: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
    for bench, args, value in zip(tracked["benchmark"], tracked["args"], tracked["value"]):
        name = bench.rsplit(".", 1)[-1]
        if not bench.startswith("bench_aliasing.Operations.") or name not in ("time_operation", "track_gbps"):
            continue
        if len(args) != 4:
            continue
        backend, op, borrow, size = args
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)
                or value <= 0 or not isinstance(size, int) or not isinstance(borrow, bool)):
            continue
        nbytes = max(size // 8, 1) * 8
        median = float(value) if name == "time_operation" else nbytes / float(value) / 1e9
        key = (backend, op, borrow, nbytes)
        if name == "time_operation" or key not in found:
            found[key] = {"backend": backend, "device": "cpu", "operation": op, "borrow": borrow, "bytes": nbytes,
                          "median_s": median}
    return {"throughput": pd.DataFrame(list(found.values()))}


# The name AliasingTopic's methods annotate with: inside its class body ``Options`` is the class
# attribute (a variable holding the class), which is not valid as a type.
_Options = Options


class AliasingTopic:
    """The aliasing topic, as the CLI, the report, the asv reader and the suites see it."""

    name = "aliasing"
    timed = True  # harness.lanes
    # W.REPORT_SIZES (a test keeps them one), and as pickle's: 3 samples a process of 5 ms or more
    report_args: Sequence[str] = ("--sizes", "4KB,64MB", "--min-time", "0.005", "--repeat", "3")
    help = HELP
    description = DESCRIPTION
    claims: Sequence["Claim"] = CLAIMS
    Options = Options

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_arguments(parser)

    def options(self, args: argparse.Namespace) -> _Options:
        return options(args)

    def plan(self, o: _Options) -> Plan:
        return plan(o)

    def execute(self, case: Case, o: _Options) -> Mapping[str, List[Row]]:
        return execute(case, o)

    def finish(self, rows: "Rows", o: _Options) -> "Rows":
        return finish(rows, o)

    def tables(self, rows: "Rows", o: _Options) -> Dict[str, "pd.DataFrame"]:
        from harness.topics.aliasing.tables import tables

        return tables(rows, o.detail)

    def figure(self, rows: "Rows", path: str) -> None:
        from harness.topics.aliasing.figure import figure

        figure(rows, path)

    def meta(self, rows: "Rows", o: _Options) -> Dict[str, Any]:
        return meta(rows, o)

    def notes(self, rows: "Rows", o: _Options) -> List[str]:
        return notes(rows, o)

    def from_asv(self, tracked: "pd.DataFrame") -> "Rows":
        return from_asv(tracked)


TOPIC = AliasingTopic()
