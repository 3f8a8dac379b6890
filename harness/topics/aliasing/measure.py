"""Measurement: each backend's conformance and throughput rows, in a child process of its own.

``measure_backend`` runs in the child (``harness.core.children.run_child``); ``run_backend`` is
the parent side that starts it and turns its answer into rows by kind (conformance, throughput,
limits, overhead, backends). On the CPU the backends of one interpreter are measured together:
``measure_backends`` in each child (one load of what they share, PyTensor for its three modes;
the limits and the harness's overhead timed once a size beside all their operations),
``run_backends`` in the parent. Rows are in raw units: bytes, seconds, GB/s, counts.

Throughput: time per call of each operation, borrow vs copy; GB/s only for what copies.

Every operation is timed on a float64 array of each size with ``harness.core.timing.time_call``
(calibrated loops, warmups, ``repeat`` samples), in ``timing.PROCESSES`` children whose samples are
merged (``timed.join``) before the median, spread and GB/s are derived. A copy's GB/s is a fraction
of the limit of the same kind (``harness.core.limits``, timed in C++ in the same child: memcpy into
a warm buffer for a copy into an existing buffer, allocate-and-copy for a copy that allocates); a
borrow copies nothing and has a time per call and a speed-up, never GB/s. The harness's own cost
per timed call is measured by timing an empty callable of the same shape through the same path.

Operations (``OPERATIONS``), each with borrow=False (copy) and borrow=True:

* ``shared``: ``shared(v, borrow=b)``
* ``get_value``: ``s.get_value(borrow=b)``
* ``get_value_internal``: ``s.get_value(borrow=b, return_internal_type=True)`` (device backends)
* ``set_value``: ``s.set_value(v, borrow=b)``
* ``call``: ``f(v)`` with ``f = function([In(x, borrow=b)], Out(x, borrow=b))``
* ``update_pattern``: borrow=True: ``s.set_value(inplace_add(s.get_value(borrow=True)), borrow=True)``;
  borrow=False: ``s.set_value(s.get_value() + 0)``
* ``copy`` (numpy reference only): ``np.array(v, copy=not b)``
* ``copyto`` (numpy reference only, no borrow variant): ``np.copyto(dst, v)`` into a warm array
* ``set_value_strided`` (GPU backends only): ``s.set_value(w[::2], borrow=b)``, the same bytes strided

Child-side module (but ``run_backend(s)``): numpy and the backend only, CPython 3.8 syntax.
"""
from __future__ import annotations

import functools
import gc
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from harness.core.timing import PROCESSES, time_call
from harness.errors import BackendMissing, HarnessError
from harness.topic import SKIPS
from harness.topics.aliasing.backends import Backend, load_backend
from harness.topics.aliasing.workloads import DEFAULT_SIZES, OPERATIONS, REFERENCE, REFERENCE_OPERATIONS, child_env


def operations_of(b: Backend) -> Sequence[str]:
    if b.name == REFERENCE:
        return REFERENCE_OPERATIONS
    return b.operations


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def make_array(nbytes: int) -> Any:
    """A float64 array of ``nbytes`` (at least one element), every page touched."""
    import numpy as np

    a = np.empty(max(int(nbytes) // 8, 1), dtype=np.float64)
    a[...] = 1.0
    return a


def prepare_op(b: Backend, op: str, borrow: bool, src: Any) -> Callable[[], Any]:
    """The zero-argument callable that performs one ``op`` on ``src``; state is built here, untimed.

    Bound methods and ``functools.partial`` only: no extra Python frame
    between the timing loop and the backend's own code.
    """
    import numpy as np

    if op not in OPERATIONS:
        raise HarnessError("unknown operation %r (choose from %s)" % (op, ", ".join(OPERATIONS)))
    if op not in operations_of(b):
        raise NotImplementedError("%s has no operation %r" % (b.name, op))
    if op == "copy":
        return functools.partial(np.asarray, src) if borrow else functools.partial(np.array, src, copy=True)
    if op == "copyto":
        if borrow:
            raise NotImplementedError("copyto has no borrow variant")
        dst = np.empty_like(src)
        dst[...] = 0.0  # its pages faulted in: a copy into an existing buffer
        return functools.partial(np.copyto, dst, src)
    if op == "shared":
        return functools.partial(b.shared, src, borrow)
    if op in ("get_value", "get_value_internal"):
        s = b.shared(src.copy())
        return functools.partial(s.get_value, borrow, op == "get_value_internal")
    if op in ("set_value", "set_value_strided"):
        s = b.shared(src.copy())
        value = src
        if op == "set_value_strided":  # the same values, every other element of an array twice as long
            value = np.empty(2 * src.size, dtype=src.dtype)[::2]
            value[...] = src
        return functools.partial(s.set_value, value, borrow)
    if op == "call":
        return b.timed_call(_identity_function(b, borrow), src)
    if op == "update_pattern":
        s = b.shared(src.copy())
        if borrow:
            def update() -> None:
                v = s.get_value(borrow=True)
                s.set_value(np.add(v, 0.0, out=v), borrow=True)
        else:
            def update() -> None:
                s.set_value(np.add(s.get_value(), 0.0))
        return update
    raise HarnessError("operation %r is not implemented" % op)  # pragma: no cover


def _identity_function(b: Backend, borrow: bool) -> Any:
    """Compile once per backend and flag (JAX and NUMBA compile in tenths of a second)."""
    cache = b.__dict__.setdefault("_identity_cache", {})
    if borrow not in cache:
        cache[borrow] = b.function_identity(borrow, borrow)
    return cache[borrow]


def _synced(func: Callable[[], Any], sync: Callable[[], None]) -> Callable[[], Any]:
    def call() -> Any:
        r = func()
        sync()
        return r

    return call


def measure_limits(nbytes: int, repeat: int = 5, min_time: float = 0.01) -> List[Dict[str, Any]]:
    """The two C++ copy limits at one size (harness.core.limits): memcpy into a warm buffer and
    allocate-and-copy, timed with no Python call in the loop."""
    from harness.core.limits import LIMITS, measure

    return [measure(lim, nbytes, repeat=repeat, min_time=min_time) for lim in LIMITS]


def measure_overhead(repeat: int = 5, min_time: float = 0.01, device: str = "cpu") -> Dict[str, Any]:
    """Seconds per call of the cheapest callable of the same shape as the operations (a
    functools.partial of a C function that does next to nothing: ``abs(0)``; ``id`` raises an audit
    event, a Python function adds a frame the operations do not have), through the same timing path
    (on a device, through the same synchronising wrapper): its samples and their median."""
    func: Callable[[], Any] = functools.partial(abs, 0)
    if device != "cpu":
        func = _synced(func, _noop)
    t = time_call(func, repeat=repeat, min_time=min_time)
    return {"values": t["values"], "runs": t["runs"], "number": t["number"], "warmups": t["warmups"],
            "processes": 1, "median_s": t["median"], "iqr_s": t["iqr"]}


def measure_op(b: Backend, op: str, borrow: bool, nbytes: int, *, repeat: int = 5, min_time: float = 0.01,
               limit_gbps: Optional[float] = None, overhead_s: Optional[float] = None,
               src: Any = None) -> Dict[str, Any]:
    """Time one operation at one size: its samples, and the figures derived from them
    (timed.op_figures: time per call, spread, GB/s and fraction of the limit of the same kind where it
    copies, harness overhead share)."""
    from harness.topics.aliasing.timed import op_figures

    src = make_array(nbytes) if src is None else src
    func = prepare_op(b, op, borrow, src)
    if b.device != "cpu":  # device work is asynchronous: each timed call waits for it
        func = _synced(func, b.sync)
    func()  # first call: compilation, caches, first-touch of pages
    b.sync()
    t = time_call(func, repeat=repeat, min_time=min_time)
    row = {"backend": b.name, "device": b.device, "operation": op, "borrow": bool(borrow), "bytes": int(src.nbytes),
           "limit": b.limit_for(op, borrow), "values": t["values"], "runs": t["runs"], "number": t["number"],
           "warmups": t["warmups"], "processes": 1}
    return op_figures(row, limit_gbps, overhead_s)


def measure_throughput(backends: Any, sizes: Sequence[int], *, repeat: int = 5, min_time: float = 0.01,
                       ops: Optional[Sequence[str]] = None, limits: Optional[Dict[str, Dict[int, float]]] = None,
                       progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Every operation x borrow x size on one backend (or on each of a list of backends, one after
    another at each size), with the limits and the harness's overhead measured here, once a size
    before and once after the operations of them all. ``seconds``: each backend's own time."""
    group: List[Backend] = list(backends) if isinstance(backends, (list, tuple)) else [backends]
    rows: List[Dict[str, Any]] = []
    limit_rows: List[Dict[str, Any]] = []
    overheads: List[Dict[str, Any]] = []
    seconds = {b.name: 0.0 for b in group}
    device = group[0].device if group else "cpu"
    for nbytes in sizes:
        src = make_array(nbytes)
        # the harness's cost per call, measured beside the operations it is compared with
        overhead = dict(measure_overhead(repeat=repeat, min_time=min_time, device=device), bytes=int(src.nbytes))
        overheads.append(overhead)
        lims = dict((name, by_size[nbytes]) for name, by_size in (limits or {}).items() if nbytes in by_size)
        for lim in measure_limits(int(src.nbytes), repeat=repeat, min_time=min_time):
            limit_rows.append(lim)
            lims[lim["limit"]] = lim["gbps"]
        for b in group:
            t0 = time.perf_counter()
            for op in [o for o in (ops or operations_of(b)) if o in operations_of(b)]:
                for borrow in (False, True):
                    if progress:
                        progress("%s %s borrow=%s %d B" % (b.name, op, borrow, nbytes))
                    try:
                        row = measure_op(b, op, borrow, nbytes, repeat=repeat, min_time=min_time,
                                         overhead_s=overhead["median_s"], src=src,
                                         limit_gbps=lims.get(b.limit_for(op, borrow) or ""))
                    except NotImplementedError:
                        continue
                    rows.append(row)
            seconds[b.name] += time.perf_counter() - t0
        # and again after them: a process's first measurements run slow (frequency, caches, the
        # neighbours); timed.join merges both before the overhead claim reads it
        overheads.append(dict(measure_overhead(repeat=repeat, min_time=min_time, device=device),
                              bytes=int(src.nbytes)))
        # the limits too: an allocating copy's speed moves with how many huge pages the kernel
        # grants at that moment, and a limit timed only before the operations was beaten by one
        # of them (7% at 64 MB); timed.join takes the fastest sample of both
        limit_rows.extend(measure_limits(int(src.nbytes), repeat=repeat, min_time=min_time))
        del src
        gc.collect()
    return {"throughput": rows, "limits": limit_rows, "overhead": overheads, "seconds": seconds}


def measure_backend(backend: str, sizes: Sequence[int] = DEFAULT_SIZES, repeat: int = 5, min_time: float = 0.01,
                    conformance: bool = True, throughput: bool = True, ops: Optional[Sequence[str]] = None,
                    conformance_n: int = 1024) -> Dict[str, Any]:
    """Child-process entry point: conformance rows and throughput rows of one backend.

    Returns {"missing": {...}} (reason and install command) when the backend
    cannot run in this interpreter, instead of raising.
    """
    t0 = time.perf_counter()
    try:
        b = load_backend(backend)
    except BackendMissing as exc:
        return {"backend": backend, "missing": {"reason": exc.reason, "install": exc.install}}
    out: Dict[str, Any] = {"backend": backend, "versions": b.versions(), "load_s": time.perf_counter() - t0}
    if conformance:
        from harness.topics.aliasing.conformance import run_cases

        out["conformance"] = run_cases(b, conformance_n)
    if throughput:
        limits: Optional[Dict[str, Dict[int, float]]] = None
        limit_rows: List[Dict[str, Any]] = []
        api = b.device_api()
        if api is not None:
            from harness.topics.aliasing.gpu import measure_device_limits

            limits, limit_rows = measure_device_limits(api, sizes, repeat=repeat, min_time=min_time)
        got = measure_throughput(b, sizes, repeat=repeat, min_time=min_time, ops=ops, limits=limits)
        out.update(throughput=got["throughput"], overhead=got["overhead"])
        out["limits"] = [dict(row, backend=b.name) for row in limit_rows + got["limits"]]
    out["seconds"] = time.perf_counter() - t0
    return out


def measure_backends(backends: Sequence[str], sizes: Sequence[int] = DEFAULT_SIZES, repeat: int = 5,
                     min_time: float = 0.01, conformance: bool = True, throughput: bool = True,
                     conformance_n: int = 1024) -> Dict[str, Any]:
    """Child-process entry point for several CPU backends of one interpreter, in one process: each
    loaded (one that cannot run here goes to "missing", with its reason and install command; the
    others go on), its conformance (not the numpy reference's), then at each size the limits and
    the harness's overhead once, before and after the operations of every backend (the limits a
    copy is a fraction of are timed beside it, as with one backend). Per backend, the answer has
    the keys of ``measure_backend``."""
    t0 = time.perf_counter()
    loaded: List[Backend] = []
    out: Dict[str, Any] = {"backends": {}, "missing": {}}
    for name in backends:
        t = time.perf_counter()
        try:
            b = load_backend(name)
        except BackendMissing as exc:
            out["missing"][name] = {"reason": exc.reason, "install": exc.install}
            continue
        if b.device_api() is not None:
            raise HarnessError("%s is a device backend: measure it alone (measure_backend)" % name)
        loaded.append(b)
        out["backends"][name] = {"backend": name, "versions": b.versions(), "load_s": time.perf_counter() - t}
    for b in loaded:  # each backend's own seconds: its load, conformance and operations
        mine = out["backends"][b.name]
        mine["seconds"] = mine["load_s"]
        if conformance and b.name != REFERENCE:
            from harness.topics.aliasing.conformance import run_cases

            t = time.perf_counter()
            mine["conformance"] = run_cases(b, conformance_n)
            mine["seconds"] += time.perf_counter() - t
    if throughput and loaded:
        got = measure_throughput(loaded, sizes, repeat=repeat, min_time=min_time)
        for b in loaded:
            mine = out["backends"][b.name]
            mine.update(throughput=[r for r in got["throughput"] if r["backend"] == b.name],
                        limits=[dict(r, backend=b.name) for r in got["limits"]], overhead=got["overhead"])
            mine["seconds"] += got["seconds"][b.name]
    out["seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------
# Parent side: start the children of one backend, or of a group, and gather their rows


def _child_env_of(backends: Sequence[str]) -> Dict[str, str]:
    env: Dict[str, str] = {}
    for name in backends:
        for k, v in child_env(name).items():
            if env.setdefault(k, v) != v:
                raise HarnessError("%s need different %s: measure them apart" % (", ".join(backends), k))
    return env


def _run(func: str, kwargs: Dict[str, Any], backends: Sequence[str], python: Optional[str], throughput: bool,
         timeout: float, processes: int) -> List[Dict[str, Any]]:
    """The answers of the children: ``processes`` of them (one without ``throughput``), the
    conformance asked of the first only."""
    from harness.core.children import run_child

    out = []
    for i in range(max(1, processes) if throughput else 1):
        out.append(run_child(func, dict(kwargs, conformance=kwargs["conformance"] and i == 0), python=python,
                             env=_child_env_of(backends), timeout=timeout))
    return out


def _rows(backend: str, results: Sequence[Dict[str, Any]], throughput: bool, child: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    """One backend's rows by kind from its answers (one a child), their samples merged (timed.join)."""
    from harness.topics.aliasing.timed import join

    first = results[0]
    timed = join(results) if throughput else {"throughput": [], "limits": [], "overhead": []}
    return {
        "conformance": list(first.get("conformance") or []),
        "throughput": timed["throughput"],
        "limits": timed["limits"],
        "overhead": [dict(r, backend=backend) for r in timed["overhead"]],
        "backends": [{"backend": backend, "versions": first.get("versions", {}), "python": child.get("python"),
                      "interpreter": child.get("executable"), "processes": len(results),
                      "seconds": round(sum(float(r.get("seconds", 0.0)) for r in results), 2)}],
    }


def _missing(python: Optional[str], m: Dict[str, Any], backend: str) -> BackendMissing:
    import sys

    from harness.core.optional import INSTALL

    return BackendMissing("interpreter %s" % (python or sys.executable), m["reason"],
                          m.get("install") or INSTALL.get(backend, ""))


def run_backend(backend: str, python: Optional[str], *, sizes: Sequence[int], repeat: int, min_time: float,
                conformance: bool, throughput: bool, timeout: float,
                processes: int = PROCESSES) -> Dict[str, List[Dict[str, Any]]]:
    """One backend measured in ``processes`` children of its own (the conformance in the first one
    only): rows by kind, the timing samples of every child merged (timed.join) before any figure is
    derived. BackendMissing when the backend cannot run in that interpreter (the child says why);
    ChildError when a child fails."""
    kwargs = {"backend": backend, "sizes": list(sizes), "repeat": repeat, "min_time": min_time,
              "conformance": conformance, "throughput": throughput}
    results = _run("harness.topics.aliasing.measure:measure_backend", kwargs, [backend], python, throughput,
                   timeout, processes)
    if "missing" in results[0]:
        raise _missing(python, results[0]["missing"], backend)
    return _rows(backend, results, throughput, results[0].get("child") or {})


def run_backends(backends: Sequence[str], python: Optional[str], *, sizes: Sequence[int], repeat: int,
                 min_time: float, conformance: bool, throughput: bool, timeout: float,
                 processes: int = PROCESSES) -> Dict[str, List[Dict[str, Any]]]:
    """Several CPU backends of one interpreter, measured together in each of ``processes`` children
    (``measure_backends``: one load of the shared libraries, the limits and overhead once a size):
    rows by kind as ``run_backend``'s, every backend's in the order given, and a row of kind SKIPS
    (what, reason, install) for each that cannot run there. BackendMissing when none can."""
    if len(backends) == 1:
        return run_backend(backends[0], python, sizes=sizes, repeat=repeat, min_time=min_time,
                           conformance=conformance and backends[0] != REFERENCE, throughput=throughput,
                           timeout=timeout, processes=processes)
    kwargs = {"backends": list(backends), "sizes": list(sizes), "repeat": repeat, "min_time": min_time,
              "conformance": conformance, "throughput": throughput}
    results = _run("harness.topics.aliasing.measure:measure_backends", kwargs, backends, python, throughput,
                   timeout, processes)
    missing = results[0]["missing"]
    if len(missing) == len(backends):
        raise _missing(python, missing[backends[0]], backends[0])
    out: Dict[str, List[Dict[str, Any]]] = {SKIPS: []}
    for name in backends:
        if name in missing:
            exc = _missing(python, missing[name], name)
            out[SKIPS].append({"what": name, "reason": "%s: %s" % (exc.backend, exc.reason), "install": exc.install})
            continue
        for k, rows in _rows(name, [r["backends"][name] for r in results], throughput,
                             results[0].get("child") or {}).items():
            out.setdefault(k, []).extend(rows)
    return out
