"""Measurement: each backend's conformance and throughput rows, in a child process of its own.

``measure_backend`` runs in the child (``harness.core.children.run_child``); ``run_backend`` is
the parent side that starts it and turns its answer into rows by kind (conformance, throughput,
limits, overhead, backends). Rows are in raw units: bytes, seconds, GB/s, counts.

Throughput: time and GB/s of each operation, borrow vs copy, against the memcpy limit.

Every operation is timed on a float64 array of each size with
``harness.core.timing.time_call`` (calibrated loops, median of ``repeat`` samples).
The limit is ``numpy.copyto`` into a preallocated array of the same size,
timed the same way in the same process just before; each operation's speed is
given as a fraction of it. The harness's own cost per timed call is measured
by timing an empty callable of the same shape through the same path.

Operations (``OPERATIONS``), each with borrow=False (copy) and borrow=True:

* ``shared``: ``shared(v, borrow=b)``
* ``get_value``: ``s.get_value(borrow=b)``
* ``get_value_internal``: ``s.get_value(borrow=b, return_internal_type=True)`` (device backends)
* ``set_value``: ``s.set_value(v, borrow=b)``
* ``call``: ``f(v)`` with ``f = function([In(x, borrow=b)], Out(x, borrow=b))``
* ``update_pattern``: borrow=True: ``s.set_value(inplace_add(s.get_value(borrow=True)), borrow=True)``;
  borrow=False: ``s.set_value(s.get_value() + 0)``
* ``copy`` (numpy reference only): ``np.array(v, copy=not b)``

Child-side module (but ``run_backend``): numpy and the backend only, CPython 3.8 syntax.
"""
from __future__ import annotations

import functools
import gc
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from harness.core.timing import time_call
from harness.errors import BackendMissing, HarnessError
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
    if op == "shared":
        return functools.partial(b.shared, src, borrow)
    if op in ("get_value", "get_value_internal"):
        s = b.shared(src.copy())
        return functools.partial(s.get_value, borrow, op == "get_value_internal")
    if op == "set_value":
        s = b.shared(src.copy())
        return functools.partial(s.set_value, src, borrow)
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


def _gbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def measure_limit(nbytes: int, repeat: int = 5, min_time: float = 0.01) -> Dict[str, Any]:
    """``numpy.copyto`` between two preallocated arrays of ``nbytes``: the memcpy limit.

    A limit is the best the machine can do, so its GB/s comes from the fastest
    sample (the operations' from the median); on a shared machine the median
    of the limit would wander with the neighbours' load.
    """
    import numpy as np

    src = make_array(nbytes)
    dst = np.empty_like(src)
    func = functools.partial(np.copyto, dst, src)
    func()  # first touch of dst's pages stays out of the figure
    t = time_call(func, repeat=repeat, min_time=min_time)
    return {"limit": "copyto", "bytes": int(src.nbytes), "median_s": t["median"], "min_s": t["min"],
            "iqr_s": t["iqr"], "gbps": _gbps(src.nbytes, t["min"])}


def measure_overhead(repeat: int = 5, min_time: float = 0.01) -> Dict[str, float]:
    """Seconds per call of an empty callable of the same shape, through the same timing path."""
    t = time_call(functools.partial(_noop, None, False), repeat=repeat, min_time=min_time)
    return {"median_s": t["median"], "iqr_s": t["iqr"]}


def measure_op(b: Backend, op: str, borrow: bool, nbytes: int, *, repeat: int = 5, min_time: float = 0.01,
               limit_gbps: Optional[float] = None, overhead_s: Optional[float] = None,
               src: Any = None) -> Dict[str, Any]:
    """Time one operation at one size; GB/s, calls/s, fraction of the limit, harness overhead share."""
    src = make_array(nbytes) if src is None else src
    func = prepare_op(b, op, borrow, src)
    if b.device != "cpu":  # device work is asynchronous: each timed call waits for it
        func = _synced(func, b.sync)
    func()  # first call: compilation, caches, first-touch of pages
    b.sync()
    t = time_call(func, repeat=repeat, min_time=min_time)
    med = t["median"]
    gbps = _gbps(src.nbytes, med)
    return {
        "backend": b.name,
        "device": b.device,
        "operation": op,
        "borrow": bool(borrow),
        "bytes": int(src.nbytes),
        "median_s": med,
        "iqr_s": t["iqr"],
        "samples": int(t["samples"]),
        "calls_per_s": 1.0 / med if med > 0 else float("nan"),
        "gbps": gbps,
        "limit": b.limit_for(op, borrow),
        "limit_gbps": limit_gbps,
        "fraction_of_limit": (gbps / limit_gbps) if limit_gbps else None,
        "harness_overhead": (overhead_s / med) if (overhead_s is not None and med > 0) else None,
    }


def measure_throughput(b: Backend, sizes: Sequence[int], *, repeat: int = 5, min_time: float = 0.01,
                       ops: Optional[Sequence[str]] = None, limits: Optional[Dict[str, Dict[int, float]]] = None,
                       progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Every operation x borrow x size on one backend, with the limits measured here."""
    ops = [o for o in (ops or operations_of(b)) if o in operations_of(b)]
    overhead = measure_overhead(repeat=repeat, min_time=min_time)
    rows: List[Dict[str, Any]] = []
    limit_rows: List[Dict[str, Any]] = []
    for nbytes in sizes:
        src = make_array(nbytes)
        lims = dict((name, by_size[nbytes]) for name, by_size in (limits or {}).items() if nbytes in by_size)
        if "copyto" not in lims:
            lim = measure_limit(nbytes, repeat=repeat, min_time=min_time)
            lim["backend"] = b.name
            limit_rows.append(lim)
            lims["copyto"] = lim["gbps"]
        for op in ops:
            for borrow in (False, True):
                if progress:
                    progress("%s %s borrow=%s %d B" % (b.name, op, borrow, nbytes))
                try:
                    row = measure_op(b, op, borrow, nbytes, repeat=repeat, min_time=min_time,
                                     overhead_s=overhead["median_s"], src=src,
                                     limit_gbps=lims.get(b.limit_for(op, borrow)))
                except NotImplementedError:
                    continue
                rows.append(row)
        del src
        gc.collect()
    return {"throughput": rows, "limits": limit_rows, "overhead": overhead}


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
        out.update(measure_throughput(b, sizes, repeat=repeat, min_time=min_time, ops=ops, limits=limits))
        for row in limit_rows:
            row["backend"] = b.name
        out["limits"] = limit_rows + out["limits"]
    out["seconds"] = time.perf_counter() - t0
    return out


# --------------------------------------------------------------------------
# Parent side: start one backend's child and gather its rows


def run_backend(backend: str, python: Optional[str], *, sizes: Sequence[int], repeat: int, min_time: float,
                conformance: bool, throughput: bool, timeout: float) -> Dict[str, List[Dict[str, Any]]]:
    """One backend measured in its child process: rows by kind.

    BackendMissing when the backend cannot run in that interpreter (the child says why);
    ChildError when the child fails.
    """
    import sys

    from harness.core.children import run_child
    from harness.core.optional import INSTALL

    kwargs = {"backend": backend, "sizes": list(sizes), "repeat": repeat, "min_time": min_time,
              "conformance": conformance, "throughput": throughput}
    res = run_child("harness.topics.aliasing.measure:measure_backend", kwargs, python=python,
                    env=child_env(backend), timeout=timeout)
    if "missing" in res:
        m = res["missing"]
        raise BackendMissing("interpreter %s" % (python or sys.executable), m["reason"],
                             m.get("install") or INSTALL.get(backend, ""))
    child = res.get("child") or {}
    return {
        "conformance": list(res.get("conformance") or []),
        "throughput": list(res.get("throughput") or []),
        "limits": list(res.get("limits") or []),
        "overhead": [dict(backend=backend, **res["overhead"])] if res.get("overhead") else [],
        "backends": [{"backend": backend, "versions": res.get("versions", {}), "python": child.get("python"),
                      "interpreter": child.get("executable"), "seconds": round(float(res.get("seconds", 0.0)), 2)}],
    }
