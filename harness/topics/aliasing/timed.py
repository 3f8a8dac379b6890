"""Figures from timing samples, and the rows of several timed children joined into one.

A throughput row carries the per-call seconds of every sample it was timed with (``values``,
``runs``: one list a process); its figures (median, spread, GB/s, fraction of the limit of the same
kind, harness overhead) are derived from those samples, here, the same way in a child and after
``join`` merged the samples of ``timing.PROCESSES`` children (``timing.merge``). A limit's GB/s
comes from its fastest sample, an operation's from its median. An operation that copies nothing
(``limit`` None) has no GB/s: time per call and speed-up only.

CPython 3.8 syntax, standard library only (children import it).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from harness.core import limits as L
from harness.core.timing import merge, summarize

NO_COPY = "not measured: copies nothing (a borrow): time per call and speed-up only"
TIMING_KEYS = ("values", "runs", "number", "warmups", "processes")


def op_figures(row: Dict[str, Any], limit_gbps: Optional[float], overhead_s: Optional[float]) -> Dict[str, Any]:
    """Fill an operation row's figures from its samples (``values``)."""
    t = summarize(row["values"])
    med = t["median"]
    row.update(median_s=med, min_s=t["min"], iqr_s=t["iqr"], samples=t["samples"],
               calls_per_s=1.0 / med if med > 0 else float("nan"))
    if row.get("limit") is None:
        row.update(gbps=float("nan"), gbps_why=NO_COPY, limit_gbps=float("nan"),
                   fraction_of_limit=float("nan"), limit_flag="")
    else:
        row.update(gbps=L.gbps(row["bytes"], med), gbps_why="",
                   limit_gbps=float("nan") if limit_gbps is None else float(limit_gbps))
        row.update(L.fraction(row["gbps"], limit_gbps))
    row["harness_overhead"] = (overhead_s / med) if (overhead_s is not None and med > 0) else float("nan")
    return row


def _merged(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    out = dict(rows[0])
    m = merge(rows)
    out.update((k, m[k]) for k in TIMING_KEYS)
    return out


def _group(rows: Iterable[Dict[str, Any]], key: Tuple[str, ...]) -> Dict[Tuple[Any, ...], List[Dict[str, Any]]]:
    out: Dict[Tuple[Any, ...], List[Dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(k) for k in key), []).append(r)
    return out


def join(results: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The throughput, limits and overhead (one a size) of several children of one backend, their
    samples merged and every figure derived again from the merged samples."""
    lim_rows = []
    for rows in _group((r for res in results for r in res.get("limits") or ()), ("limit", "device", "bytes")).values():
        timed = [r for r in rows if r.get("values")]
        lim_rows.append(L.derive(_merged(timed)) if timed else dict(rows[0]))
    overhead = []
    for rows in _group((r for res in results for r in res.get("overhead") or ()), ("bytes",)).values():
        oh = _merged(rows)
        t = summarize(oh["values"])
        overhead.append(dict(oh, median_s=t["median"], iqr_s=t["iqr"]))
    oh_s = {r["bytes"]: r["median_s"] for r in overhead}
    by_limit = {(r["limit"], r["bytes"]): r.get("gbps") for r in lim_rows}
    tput = []
    for rows in _group((r for res in results for r in res.get("throughput") or ()),
                       ("operation", "borrow", "bytes")).values():
        row = _merged(rows)
        tput.append(op_figures(row, by_limit.get((row.get("limit"), row["bytes"])), oh_s.get(row["bytes"])))
    return {"throughput": tput, "limits": lim_rows, "overhead": overhead}
