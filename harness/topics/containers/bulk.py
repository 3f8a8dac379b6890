"""The C++ bulk path, like against like: each copy against numpy's copy of the same kind and the C++
limit of the same kind, measured in the same process.

* a copy that allocates: ``IntVector.from_buffer(a)`` / ``FloatVector.from_buffer(a)`` against
  numpy's own allocating copy ``a.copy()`` and the ``alloc+copy`` limit (malloc, memcpy, free);
* a copy into an existing container: ``v.copy_from_buffer(a)`` against ``numpy.copyto(b, a)`` and
  the ``memcpy warm`` limit.

Every operation is timed with ``harness.core.timing.time_call`` (calibrated loops, warmups, samples,
the result freed inside the timed loop as the limit frees its block); the limits are timed in C++
(``harness.core.limits``). Transparent huge pages change what an allocating copy costs (from 4 MiB
numpy, from_buffer and the limit all ask for them): the mode goes in the figures' metadata.

``python -m harness.topics.containers.bulk [SIZE_MIB]`` prints the table;
``benchmarks/bench_cpp_containers.BulkCopy`` tracks the same figures.
"""
from __future__ import annotations

import functools
import platform
from typing import Any, Callable, Dict, List, Tuple

from harness.core import limits as L
from harness.core.timing import compare, merge, time_call

# operation -> (the numpy counterpart of the same kind, the limit of the same kind, allocates)
KINDS: Dict[str, Tuple[str, str, bool]] = {
    "from_buffer": ("numpy copy", L.ALLOC_COPY, True),
    "numpy copy": ("numpy copy", L.ALLOC_COPY, True),
    "copy_from_buffer": ("numpy.copyto", L.MEMCPY_WARM, False),
    "numpy.copyto": ("numpy.copyto", L.MEMCPY_WARM, False),
}
DEFAULT_BYTES = 64 * 2 ** 20


def operations(container: str, nbytes: int) -> Dict[str, Callable[[], Any]]:
    """The four copies of ``nbytes`` of int64 (IntVector) or float64 (FloatVector), state built here:
    the destinations of the copies into existing storage have every page faulted in."""
    import numpy as np

    from harness import _containers

    cls = getattr(_containers, container)
    src = np.arange(max(nbytes // 8, 1), dtype=np.int64 if container == "IntVector" else np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    kept = cls.from_buffer(src)
    return {"from_buffer": functools.partial(cls.from_buffer, src), "numpy copy": src.copy,
            "copy_from_buffer": functools.partial(kept.copy_from_buffer, src),
            "numpy.copyto": functools.partial(np.copyto, dst, src)}


def bulk_copy(container: str = "IntVector", nbytes: int = DEFAULT_BYTES, repeat: int = 5,
              min_time: float = 0.05) -> Dict[str, Any]:
    """{"rows": one a copy, "meta": what was measured where}: each copy's time per call (median of
    its samples, IQR), GB/s, fraction of the limit of its kind (fastest sample of the C++ loop),
    and its time against numpy's copy of the same kind ("vs_numpy": numpy's time / this one's,
    "significant" from timing.compare)."""
    if container not in ("IntVector", "FloatVector"):
        raise ValueError("container must be IntVector or FloatVector, not %r" % container)
    ops = operations(container, nbytes)
    nb = max(nbytes // 8, 1) * 8
    before = {lim: L.measure(lim, nb, repeat=repeat, min_time=min_time) for lim in L.LIMITS}
    timed = {}
    for name, func in ops.items():
        func()  # first call: first touch, caches
        timed[name] = time_call(func, repeat=repeat, min_time=min_time)
    # the limits before and after the copies, joined: a neighbour's load during one is not the limit
    limits = {lim: _joined(before[lim], L.measure(lim, nb, repeat=repeat, min_time=min_time)) for lim in L.LIMITS}
    rows: List[Dict[str, Any]] = []
    for name, t in timed.items():
        numpy_name, lim, allocates = KINDS[name]
        gbps = L.gbps(nb, t["median"])
        c = compare(t["values"], timed[numpy_name]["values"])  # ratio: numpy's time / this one's
        row = {"container": container, "operation": name, "allocates": allocates, "bytes": nb,
               "median_s": t["median"], "iqr_s": t["iqr"], "samples": t["samples"], "gbps": gbps, "limit": lim,
               "limit_gbps": limits[lim]["gbps"], "vs": numpy_name,
               "vs_numpy": c["ratio"] if name != numpy_name else 1.0,
               "significant": bool(c["significant"]) if name != numpy_name else False}
        row.update(L.fraction(gbps, limits[lim]["gbps"]))
        rows.append(row)
    meta = {"machine": platform.node(), "processor": platform.processor() or platform.machine(),
            "transparent_hugepages": L.thp_mode(), "bytes": nb,
            "faults_per_call": {lim: r.get("faults_per_call") for lim, r in limits.items()}}
    return {"rows": rows, "meta": meta}


def _joined(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    if not (a.get("values") and b.get("values")):
        return a
    m = merge([a, b])
    return L.derive(dict(a, values=m["values"], runs=m["runs"], processes=1,
                         faults_per_call=max(a["faults_per_call"], b["faults_per_call"])))


def main(argv: "List[str] | None" = None) -> int:  # pragma: no cover - a thin printer
    import sys

    import pandas as pd

    args = sys.argv[1:] if argv is None else argv
    nbytes = int(float(args[0]) * 2 ** 20) if args else DEFAULT_BYTES
    for container in ("IntVector", "FloatVector"):
        got = bulk_copy(container, nbytes)
        print(pd.DataFrame(got["rows"]).drop(columns=["container"]).to_string(index=False))
        print(got["meta"])
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
