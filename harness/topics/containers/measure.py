"""The containers topic's measurements: each side of a step in a fresh child process.

``python_side`` and ``cpp_side`` run in the child (``harness.core.children.run_child``);
``compare`` runs in the parent and makes the step's row: bytes per element on both sides
(requested, allocated, RSS growth) and the Python/C++ ratios.
"""
from __future__ import annotations

import gc
from typing import Any, Dict

from harness.core import children, footprint, memory
from harness.errors import HarnessError
from harness.topics.containers.workloads import build_cpp, elements, estimate, get_workload, numpy_module

HERE = "harness.topics.containers.measure"


def _guard(workload: Any, n: int) -> None:
    memory.check_fits(estimate(workload, n), "%s at n=%d" % (workload.name, n))


def python_side(workload: str, n: int) -> Dict[str, Any]:
    """Python side, in this (fresh) process: requested, allocated, RSS growth."""
    w = get_workload(workload)
    reason = w.available()
    if reason:
        raise HarnessError("%s: %s" % (w.name, reason))
    if w.name == "numpy_int64":
        numpy_module()  # import numpy before the baseline, so its own import is not counted
    # the one measurement memharness footprint makes too: the same structure, the same bytes
    fig = footprint.measure_build(lambda: w.build_python(n), estimate=estimate(w, n),
                                  what="%s at n=%d" % (w.name, n))
    fig["n"] = elements(w, n)
    return fig


def cpp_side(workload: str, n: int) -> Dict[str, Any]:
    """C++ side, in this (fresh) process: exact counters and RSS growth."""
    w = get_workload(workload)
    _guard(w, n)
    from harness import _containers  # loaded before the RSS baseline

    source = w.build_cpp_source(n)
    gc.collect()
    rss0 = memory.current_rss()
    container = build_cpp(w, n, source)
    rss1 = memory.current_rss()
    fp = container.footprint()
    if len(container) != (n if w.cpp_class != "FloatMatrix" else len(source)):
        raise HarnessError("%s: C++ container holds %d items, expected %d" % (w.name, len(container), n))
    why = chunks_unknown(_containers.build_info())
    return {
        "requested": fp["requested"] + fp["sizeof"],
        # glibc chunks, headers included: the unit of the Python side's mallinfo2 figure
        "allocated": None if why else fp["allocated"] + fp["sizeof"],
        "allocated_note": why,
        "usable": fp["usable"] + fp["sizeof"],  # malloc_usable_size: 8 B less per heap chunk
        "live_allocations": fp["live_allocations"],
        "sizeof": fp["sizeof"],
        "rss_growth": rss1 - rss0,
        "n": elements(w, n),
    }


def chunks_unknown(info: Dict[str, Any]) -> str:
    """Why the extension's chunk bytes are not glibc's chunks ("" where they are): the chunk of a
    block is derived from malloc_usable_size as glibc lays chunks out (see counting_allocator.hpp)."""
    if info.get("sanitizer"):
        return "not measured: built with AddressSanitizer, whose allocator has no glibc chunks"
    if not info.get("glibc"):
        return "not measured: not built against glibc, whose chunk layout the counting allocator reads"
    return ""


def _per(value: Any, m: int) -> float:
    return value / m if value is not None else float("nan")


def compare(workload: str, n: int) -> Dict[str, Any]:
    """One row: both sides measured in fresh children, per element, with ratios."""
    w = get_workload(workload)
    _guard(w, n)
    py = children.run_child(HERE + ":python_side", {"workload": workload, "n": n}, env=footprint.measure_env())
    cpp = children.run_child(HERE + ":cpp_side", {"workload": workload, "n": n})
    m = py["n"]
    row: Dict[str, Any] = {
        "workload": w.name,
        "python": w.python_type,
        "cpp": w.cpp_type,
        "n": m,  # elements held (a matrix holds whole rows: 992 of 1000 asked for)
        "size": n,  # the size asked for
        "payload": w.payload(n) / m,
        "py_req": py["requested"] / m,
        "py_alloc": _per(py["allocated"], m),
        "py_rss": py["rss_growth"] / m,
        "cpp_req": cpp["requested"] / m,
        "cpp_alloc": _per(cpp["allocated"], m),
        "cpp_usable": cpp["usable"] / m,
        "cpp_rss": cpp["rss_growth"] / m,
        "reference": w.reference,
        # why an allocated figure is NaN ("" where both were measured)
        "alloc_note": "; ".join("%s: %s" % (side, note) for side, note in (("Python", py.get("allocated_note")),
                                                                        ("C++", cpp.get("allocated_note"))) if note),
    }
    row["ratio_req"] = row["py_req"] / row["cpp_req"]
    row["ratio_alloc"] = row["py_alloc"] / row["cpp_alloc"]
    return row
