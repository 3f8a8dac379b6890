"""Rows -> the aliasing tables the CLI prints (pure functions; raw rows in, display frames out)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from harness.core.units import size_label
from harness.topic import kind
from harness.topics.aliasing.conformance import COLUMNS, NDARRAY
from harness.topics.aliasing.workloads import CALL_RATE_MAX_BYTES, MAX_OVERHEAD, OPERATIONS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows

SIZE_LABEL = "size"


def _outcome(r: Any) -> str:
    """One conformance row in words: what happened, and [BREAKS PROMISE] where it does."""
    if r["raised"] == True:  # noqa: E712 (a column of True/False/None)
        return r["note"]
    if r["promise"] == NDARRAY:
        out = r["result_type"]
    elif r["same_object"]:
        out = "same object"
    elif r["shares_memory"] is None or r["shares_memory"] != r["shares_memory"]:
        out = "unknown (%s)" % r["result_type"]
    else:
        out = "shares memory" if r["shares_memory"] else "separate copy"
    if r["overwritten"] == True:  # noqa: E712
        out += ", r1 overwritten"
    if r["conforms"] is False:
        out += " [BREAKS PROMISE]"
    return out


def conformance_table(rows: "pd.DataFrame") -> "pd.DataFrame":
    """One line a case, one column a backend: what happened, and [BREAKS PROMISE] where it does."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    df = rows.copy()
    df["outcome"] = df.apply(_outcome, axis=1)
    order = list(dict.fromkeys(df["case"]))
    wide = df.pivot_table(index=["case", "promise"], columns="backend", values="outcome", aggfunc="first")
    wide = wide.reindex(columns=[b for b in dict.fromkeys(df["backend"])])
    wide = wide.reset_index()
    wide["_order"] = wide["case"].map({c: i for i, c in enumerate(order)})
    wide = wide.sort_values("_order").drop(columns="_order").fillna("-")
    wide.columns.name = None
    return wide.reset_index(drop=True)


def _backend_order(rows: "pd.DataFrame") -> Dict[Any, int]:
    return {b: i for i, b in enumerate(dict.fromkeys(rows["backend"]))}


def throughput_table(rows: "pd.DataFrame") -> "pd.DataFrame":
    """Per backend, operation and size: copy vs borrow side by side."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    copy = rows[~rows["borrow"]].set_index(["backend", "operation", "bytes"])
    borrow = rows[rows["borrow"]].set_index(["backend", "operation", "bytes"])
    out = pd.DataFrame({
        "copy_us": copy["median_s"] * 1e6,
        "copy_GBps": copy["gbps"],
        "copy_vs_limit": copy["fraction_of_limit"],
        "limit": copy["limit"],
        "borrow_us": borrow["median_s"] * 1e6,
        "borrow_speedup": copy["median_s"] / borrow["median_s"],
    }).reset_index()
    order = _backend_order(rows)
    ops = {o: i for i, o in enumerate(OPERATIONS)}
    out = out.sort_values(["backend", "operation", "bytes"], key=lambda s: s.map(order) if s.name == "backend"
                          else (s.map(ops) if s.name == "operation" else s))
    out.insert(2, SIZE_LABEL, out.pop("bytes").map(size_label))
    return out.reset_index(drop=True)


def call_rate_table(rows: "pd.DataFrame", max_bytes: int = CALL_RATE_MAX_BYTES) -> "pd.DataFrame":
    """Compiled-function calls per second for small arrays, copy vs borrow."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    calls = rows[(rows["operation"] == "call") & (rows["bytes"] <= max_bytes)]
    if calls.empty:
        return pd.DataFrame()
    wide = calls.pivot_table(index=["backend", "bytes"], columns="borrow", values="calls_per_s", aggfunc="first")
    wide = wide.rename(columns={False: "calls_per_s_copy", True: "calls_per_s_borrow"}).reset_index()
    wide.columns.name = None
    order = _backend_order(rows)
    wide = wide.sort_values(["backend", "bytes"], key=lambda s: s.map(order) if s.name == "backend" else s)
    wide.insert(1, SIZE_LABEL, wide.pop("bytes").map(size_label))
    return wide.reset_index(drop=True)


def limits_table(limits: "pd.DataFrame") -> "pd.DataFrame":
    """GB/s of each limit, one column a size."""
    import pandas as pd

    if limits is None or len(limits) == 0:
        return pd.DataFrame()
    wide = limits.pivot_table(index=["backend", "limit"], columns="bytes", values="gbps", aggfunc="first")
    wide.columns = [size_label(c) + " GB/s" for c in wide.columns]
    wide = wide.reset_index()
    order = _backend_order(limits)
    return wide.sort_values(["backend", "limit"], key=lambda s: s.map(order) if s.name == "backend" else s,
                            kind="stable").reset_index(drop=True)


def overhead_table(rows: "Rows") -> "pd.DataFrame":
    """Empty-callable time vs the fastest copy operation at 64 MB (or the largest size measured)."""
    import pandas as pd

    from harness.topics.aliasing.claims import overhead_shares

    return pd.DataFrame([{
        "backend": r["backend"],
        "empty_call_ns": r["empty_call_s"] * 1e9,
        SIZE_LABEL: size_label(r["bytes"]),
        "fastest_copy_op": r["operation"],
        "op_us": r["op_s"] * 1e6,
        "overhead_fraction": r["fraction"],
        "under_5pct": bool(r["fraction"] < MAX_OVERHEAD),
    } for r in overhead_shares(rows)])


def tables(rows: "Rows", detail: bool = False) -> Dict[str, "pd.DataFrame"]:
    """Every table of a run, by name, in the order the CLI prints them; ``detail`` adds the
    long-form rows (always there with --format json/csv)."""
    out: Dict[str, "pd.DataFrame"] = {}
    conf, tput, limits = kind(rows, "conformance"), kind(rows, "throughput"), kind(rows, "limits")
    oh = overhead_table(rows)
    if len(conf):
        out["conformance"] = conformance_table(conf)
    if len(tput):
        out["throughput"] = throughput_table(tput)
        rate = call_rate_table(tput)
        if len(rate):
            out["calls per second (small arrays)"] = rate
    if len(limits):
        out["limits (GB/s)"] = limits_table(limits)
    if len(oh):
        out["harness overhead"] = oh
    if detail:
        if len(conf):
            out["conformance rows"] = conf[[c for c in COLUMNS if c in conf]]
        if len(tput):
            out["throughput rows"] = tput
    return out
