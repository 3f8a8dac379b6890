"""Copy limits: what a copy of n bytes costs at best here, timed in C++ with no Python call in the loop.

Two kinds, and every copy figure is a fraction of the limit of its own kind:

* ``memcpy warm``: memcpy into a destination whose pages are already faulted in (a copy into an
  existing buffer: ``numpy.copyto``, ``IntVector.copy_from_buffer``);
* ``alloc+copy``: malloc, memcpy, free (a copy that allocates: ``arr.copy()``, ``from_buffer``,
  ``shared(v)``), with the huge-page advice numpy gives blocks of 4 MiB or more. Above glibc's mmap
  threshold every call faults fresh pages in; below it glibc recycles them, as it does for numpy
  (``faults_per_call`` says which).

A limit's GB/s comes from its fastest sample (a limit is the best the machine does); a fraction
above ``MAX_FRACTION`` means the limit or the figure is wrong and is flagged, never read as a
result. An operation that copies nothing has no GB/s at all (time per call and speed-up only).
Transparent huge pages change what allocating copies cost: ``thp_mode`` goes in the figures'
metadata. Standard library only, CPython 3.8 syntax (measurement children import it).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from harness.core.timing import summarize

MEMCPY_WARM = "memcpy warm"
ALLOC_COPY = "alloc+copy"
LIMITS = (MEMCPY_WARM, ALLOC_COPY)
_KIND = {MEMCPY_WARM: "memcpy_warm", ALLOC_COPY: "alloc_copy"}
MAX_FRACTION = 1.05  # above: a measurement error, flagged
THP_PATH = "/sys/kernel/mm/transparent_hugepage/enabled"
FLAG = "ABOVE LIMIT: measurement error"


def thp_mode(path: str = THP_PATH) -> str:
    """Transparent huge pages: 'always', 'madvise' or 'never' (the bracketed word of ``path``), or
    'not measured: REASON'."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        return "not measured: %s unreadable (%s)" % (path, exc.strerror or exc)
    start, end = text.find("["), text.find("]")
    if start < 0 or end < start:
        return "not measured: no [mode] in %s: %r" % (path, text.strip())
    return text[start + 1:end]


def unavailable() -> Optional[str]:
    """None when the C++ limits can be measured in this interpreter, else why not."""
    try:
        from harness import _containers
    except ImportError as exc:
        return "harness._containers cannot be imported here (%s)" % exc
    if not hasattr(_containers, "copy_limit"):
        return "harness._containers has no copy_limit (an older build: rebuild the extension)"
    return None


def gbps(nbytes: float, seconds: float) -> float:
    return nbytes / seconds / 1e9 if seconds > 0 else float("nan")


def measure(limit: str, nbytes: int, repeat: int = 5, min_time: float = 0.01) -> Dict[str, Any]:
    """One limit at one size: the timing summary (``values`` per-call seconds, for
    ``timing.merge``), ``gbps`` from the fastest sample and ``faults_per_call``; with the C++
    extension missing, ``gbps`` is NaN and ``why`` says why. ValueError / MemoryError from C++ on
    bad sizes (MemoryError when source and destination exceed the available memory)."""
    if limit not in _KIND:
        raise ValueError("unknown limit %r (choose from %s)" % (limit, ", ".join(LIMITS)))
    row: Dict[str, Any] = {"limit": limit, "bytes": int(nbytes), "thp": thp_mode()}
    why = unavailable()
    if why:
        row.update(gbps=float("nan"), why="not measured: " + why)
        return row
    from harness import _containers

    got = _containers.copy_limit(_KIND[limit], int(nbytes), repeat=repeat, min_time=min_time)
    row.update(summarize(got["values"], number=int(got["number"])))
    row.update(warmups=int(got["warmups"]), faults_per_call=float(got["faults_per_call"]), timer=got["timer"])
    return derive(row)


def derive(row: Dict[str, Any]) -> Dict[str, Any]:
    """A limit row's figures from its samples (after ``timing.merge`` too): fastest-sample GB/s."""
    if row.get("values"):
        t = summarize(row["values"])
        row.update((k, t[k]) for k in ("median", "iqr", "min", "max", "mean", "stdev", "samples"))
        row.update(min_s=t["min"], median_s=t["median"], iqr_s=t["iqr"])
        row["gbps"] = gbps(row["bytes"], row["min_s"])
    return row


def fraction(value_gbps: Optional[float], limit_gbps: Optional[float]) -> Dict[str, Any]:
    """``{"fraction_of_limit", "limit_flag"}``: value / limit, NaN where either is missing, and the
    flag where the fraction is above MAX_FRACTION (the figure is then no throughput)."""
    ok = (value_gbps is not None and limit_gbps is not None and math.isfinite(value_gbps)
          and math.isfinite(limit_gbps) and limit_gbps > 0)
    f = value_gbps / limit_gbps if ok else float("nan")  # type: ignore[operator]
    return {"fraction_of_limit": f, "limit_flag": FLAG if (ok and f > MAX_FRACTION) else ""}


def tracked(row: Dict[str, Any]) -> float:
    """The fraction of the limit an asv suite tracks: NaN where it is flagged (above MAX_FRACTION,
    a measurement error and no throughput), so the history never keeps it as a figure."""
    return float("nan") if row.get("limit_flag") else float(row["fraction_of_limit"])

