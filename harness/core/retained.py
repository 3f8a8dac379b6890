"""The retained bytes of a structure built in this process: requested (tracemalloc), allocated
(pymalloc's blocks and glibc's chunks, read by ``harness.core.memory``) and RSS growth. The one
measurement behind the containers topic's Python side and ``memharness footprint``.

Standard library only and CPython 3.8 syntax: children of other interpreters import it.
"""
from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any, Callable, Dict, List

from harness.core.memory import allocated_now, allocated_total, current_rss, delta, peak_rss, reset_peak_rss
from harness.errors import HarnessError


def measure_retained(build: Callable[[], Any], *, rss: bool = True) -> Dict[str, Any]:
    """Memory retained by ``build()``'s result, measured three ways in this process.

    The structure is built twice: once with tracemalloc off (allocator counters
    and RSS, undisturbed by tracemalloc's own bookkeeping), once with it on
    (requested bytes and the peak during the build). ``build`` must create the
    objects itself, deterministically, so both builds are the same.

    Returns requested, peak_requested, allocated (None where it cannot be measured, with the
    reason in allocated_note, "" otherwise: see allocated_total), allocated_pymalloc,
    allocated_malloc, rss_growth and peak_rss
    (the RSS high-water mark above the start during the untraced build; None
    where it cannot be reset) in bytes, and build_seconds (the untraced build).
    For RSS growth to mean anything, call this in a fresh child process.
    """
    if tracemalloc.is_tracing():
        raise HarnessError("measure_retained() needs tracemalloc to be off when it starts")
    gc.collect()
    # Each reading keeps a few bytes of its own (its result, caches). Readings with a call of
    # nothing between them measure that cost, the structure is built between the last of them and
    # one more reading, in the same pattern, so (r_end - r_last) - (r_last - r_prev) is the structure
    # alone. The call of nothing is timed as the build is, so the timer's own objects (a tuple and a
    # float) cancel out as the readings do. The empty pattern is repeated until two in a row cost
    # the same: an object of the caller's left to be freed (a frame, a cache's old entry) was freed
    # in the first one in some processes and not in others, moving the figure by 64-80 B.
    # Every reading and result is kept in lists made beforehand, so none is freed on the way.
    # The RSS high-water mark is reset before and read after the pattern.
    allocated_now()  # its caches and imports (mallocstats) are not the structure's, in RSS either
    hwm_ok = reset_peak_rss() if rss else False
    rss0 = current_rss()
    held: List[Any] = [None] * (SETTLE + 1)
    readings: List[Any] = [None] * (SETTLE + 2)
    readings[0] = allocated_now()
    last = 0  # a while loop: a for loop's iterator would be freed inside the build's pattern
    while last <= SETTLE:
        held[last] = _timed(_nothing)
        last += 1
        readings[last] = allocated_now()
        if last >= 2 and _steady(readings[last - 2], readings[last - 1], readings[last]):
            break
    r1, r2 = readings[last - 1], readings[last]
    built = _timed(build)
    r3 = allocated_now()
    rss1 = current_rss()
    hwm = peak_rss() if hwm_ok else None
    seconds = built[1]
    del built, held, readings
    gc.collect()
    requested, peak_requested = _traced(build)

    alloc_py = delta(delta(r3["pymalloc"], r2["pymalloc"]), delta(r2["pymalloc"], r1["pymalloc"]))
    alloc_c = delta(delta(r3["malloc"], r2["malloc"]), delta(r2["malloc"], r1["malloc"]))
    allocated, why = allocated_total(alloc_py, alloc_c, r3["allocator"])
    return {
        "requested": requested,
        "peak_requested": peak_requested,
        "allocated": allocated,
        "allocated_note": why,
        "allocated_pymalloc": alloc_py,
        "allocated_malloc": alloc_c,
        "rss_growth": (rss1 - rss0) if rss else None,
        "peak_rss": (hwm - rss0) if hwm is not None else None,
        "build_seconds": seconds,
    }


SETTLE = 4  # empty patterns beyond the first two, at most, before the build


def _steady(a: Dict[str, Any], b: Dict[str, Any], c: Dict[str, Any]) -> bool:
    """Two empty patterns in a row cost the same, in both counters."""
    return all(delta(b[k], a[k]) == delta(c[k], b[k]) for k in ("pymalloc", "malloc"))


def _nothing() -> None:
    return None


def _traced(build: Callable[[], Any]) -> "tuple[int, int]":
    """Requested bytes retained by ``build()``'s result and the peak while building (tracemalloc)."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak() if hasattr(tracemalloc, "reset_peak") else None
        obj = build()
        gc.collect()
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del obj
    gc.collect()
    return cur - base, peak - base


def _timed(build: Callable[[], Any]) -> Any:
    """(build(), seconds it took): a 2-tuple and a float besides the value, whatever the build."""
    t0 = time.perf_counter()
    value = build()
    return value, time.perf_counter() - t0
