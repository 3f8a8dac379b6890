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


def _versus(copy: Any, borrow: Any) -> str:
    """Borrow against copy in words: faster / slower only when significant (timing.compare)."""
    from harness.topics.aliasing.reading import p_text, significance

    if borrow is None:
        return "no borrow variant"
    c = significance(borrow, copy)
    said = {"a": "borrow faster", "b": "borrow slower", None: "no significant difference"}
    return "%s (%s)" % (said[c["faster"]], p_text(c))


def throughput_table(rows: "pd.DataFrame") -> "pd.DataFrame":
    """Per backend, operation and size: copy vs borrow side by side. Times are medians with their IQR;
    GB/s and the fraction of the limit of the same kind only where something is copied."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    key = ["backend", "operation", "bytes"]
    borrow = {tuple(r[k] for k in key): r for _, r in rows[rows["borrow"]].iterrows()}
    out = []
    for _, c in rows[~rows["borrow"]].iterrows():
        w = borrow.get(tuple(c[k] for k in key))
        out.append({
            "backend": c["backend"], "operation": c["operation"], "bytes": c["bytes"],
            "copy_us": c["median_s"] * 1e6, "copy_iqr_us": c.get("iqr_s", float("nan")) * 1e6,
            "copy_GBps": c.get("gbps", float("nan")), "limit": c.get("limit") or "-",
            "copy_vs_limit": c.get("fraction_of_limit", float("nan")),
            "borrow_us": w["median_s"] * 1e6 if w is not None else float("nan"),
            "borrow_iqr_us": w.get("iqr_s", float("nan")) * 1e6 if w is not None else float("nan"),
            "borrow_speedup": c["median_s"] / w["median_s"] if w is not None else float("nan"),
            "borrow_vs_copy": _versus(c, w) if "values" in rows else "-",
            "check": c.get("limit_flag") or "",
        })
    df = pd.DataFrame(out)
    order = _backend_order(rows)
    ops = {o: i for i, o in enumerate(OPERATIONS)}
    df = df.sort_values(["backend", "operation", "bytes"], key=lambda s: s.map(order) if s.name == "backend"
                        else (s.map(ops) if s.name == "operation" else s))
    df.insert(2, SIZE_LABEL, df.pop("bytes").map(size_label))
    return df.reset_index(drop=True)


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
    """GB/s of each limit (its fastest sample), one column a size; minor page faults per call beside
    the allocating limit (fresh pages, or pages the allocator recycled)."""
    import pandas as pd

    if limits is None or len(limits) == 0:
        return pd.DataFrame()
    wide = limits.pivot_table(index=["backend", "limit"], columns="bytes", values="gbps", aggfunc="first",
                              dropna=False)
    wide.columns = [size_label(c) + " GB/s" for c in wide.columns]
    if "faults_per_call" in limits:
        faults = limits.pivot_table(index=["backend", "limit"], columns="bytes", values="faults_per_call",
                                    aggfunc="first")
        for c in faults.columns:
            wide[size_label(c) + " faults/call"] = faults[c]
    wide = wide.reset_index()
    order = _backend_order(limits)
    return wide.sort_values(["backend", "limit"], key=lambda s: s.map(order) if s.name == "backend" else s,
                            kind="stable").reset_index(drop=True)


def overhead_table(rows: "Rows") -> "pd.DataFrame":
    """Empty-callable time vs the fastest operation timed at each size, through the same path."""
    import pandas as pd

    from harness.topics.aliasing.claims import overhead_shares

    return pd.DataFrame([{
        "backend": r["backend"],
        SIZE_LABEL: size_label(r["bytes"]),
        "empty_call_ns": r["empty_call_s"] * 1e9,
        "fastest_op": r["operation"] + (" (borrow)" if r["borrow"] else ""),
        "op_ns": r["op_s"] * 1e9,
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
            out["throughput rows"] = tput.drop(columns=[c for c in ("values", "runs") if c in tput])
    return out
