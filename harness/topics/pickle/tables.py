"""The pickle topic's display tables and notes: pure functions of the rows (MiB and ms for reading;
the rows hold bytes and seconds)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List

from harness.topic import Rows, kind
from harness.topics.pickle.workloads import OBJECTS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MiB = float(1 << 20)
SIZES = "pickled size and time"
PEAKS = "peak extra memory (copies = resident peak / payload)"
VERSIONS = "protocols each CPython reads (row: the writer, column: the reader)"


def tables(rows: Rows) -> Dict[str, "pd.DataFrame"]:
    """Readable tables (MiB, ms) from the "cases" rows (bytes, seconds), and the matrix of the
    "versions" rows where there are such."""
    import pandas as pd

    f = kind(rows, "cases")
    sizes = pd.DataFrame({
        "object": f["object"], "payload_MiB": f["payload"] / MiB, "method": f["method"],
        "pickled_B": f["pickled"], "pickled/payload": f["pickled"] / f["payload"],
        "dump_ms": f["dump_s"] * 1e3, "dump_iqr_ms": f["dump_iqr"] * 1e3,
        "load_ms": f["load_s"] * 1e3, "load_iqr_ms": f["load_iqr"] * 1e3,
        "samples": [_samples(n, p) for n, p in zip(f["dump_samples"], f["dump_processes"])], "equal": f["equal"],
    })
    if f["numpy_readable"].notna().any():
        sizes["numpy_readable"] = f["numpy_readable"]
    if f["error"].notna().any():
        sizes["error"] = f["error"].map(_short_error)
    peaks = pd.DataFrame({
        "object": f["object"], "payload_MiB": f["payload"] / MiB, "method": f["method"],
        "dump_rss_MiB": f["dump_peak_rss"] / MiB, "dump_untouched_MiB": f["dump_untouched"] / MiB,
        "load_rss_MiB": f["load_peak_rss"] / MiB, "load_untouched_MiB": f["load_untouched"] / MiB,
        "dump_copies": f["dump_copies"], "load_copies": f["load_copies"],
    })
    out = {SIZES: sizes.reset_index(drop=True), PEAKS: peaks.reset_index(drop=True)}
    versions = kind(rows, "versions")
    if len(versions):
        out[VERSIONS] = versions_matrix(versions)
    return out


def _samples(n: Any, processes: Any) -> str:
    """"6 (2 processes)": how many timing samples a time is the median of."""
    if n != n or n is None:
        return ""
    return "%d (%d processes)" % (int(n), int(processes)) if processes == processes else str(int(n))


def versions_matrix(versions: "pd.DataFrame") -> "pd.DataFrame":
    """Writer x reader: the protocols that loaded and compared equal ("0-5"), or what failed."""
    import pandas as pd

    def cell(grp: "pd.DataFrame") -> str:
        ok = sorted(int(p) for p, lo, eq in zip(grp["protocol"], grp["loaded"], grp["equal"]) if lo and eq)
        bad = len(grp) - len(ok)
        text = ("%d-%d" % (ok[0], ok[-1]) if ok == list(range(ok[0], ok[-1] + 1)) else ",".join(map(str, ok))) \
            if ok else "none"
        return text + (" (%d failed)" % bad if bad else "")

    order = sorted(set(versions["writer"]) | set(versions["reader"]), key=lambda v: [int(x) for x in v.split(".")])
    table = {r: {w: cell(g) for w, g in grp.groupby("writer")} for r, grp in versions.groupby("reader")}
    frame = pd.DataFrame(table).reindex(index=order, columns=order)
    return frame.rename_axis("writer").reset_index()


def _short_error(error: Any) -> Any:
    """'TypeError: long text' -> 'TypeError'; 'process died: killed by SIGABRT: ...' -> 'died (SIGABRT)'."""
    if not isinstance(error, str):
        return error
    if error.startswith("process died: ") or error.startswith("child process died: "):
        how = error.split("died: ", 1)[1].split(":", 1)[0]
        return "died (%s)" % how.replace("killed by ", "")
    return error.split(":", 1)[0] + " (see notes)"


def notes(rows: Rows) -> List[str]:
    """What the rows say besides the tables: methods skipped on an object or not applicable to it,
    round trips that gave back a different object, and the methods that failed, grouped by error."""
    from harness.core.units import format_bytes

    # rows as dicts, not itertuples(): pandas-stubs types a named tuple's fields as any scalar
    out = ["skipped method %s on %s: %s (install with: %s)" % (r["method"], r["object"], r["reason"], r["install"])
           for r in kind(rows, "skipped").to_dict(orient="records")]
    names = list(OBJECTS)

    def order(name: str) -> int:  # the topic's objects in their order, a user's object (pickle-cost) after
        return names.index(name) if name in names else len(names)

    not_applicable = kind(rows, "not_applicable")
    for why, objs in (not_applicable.groupby("reason", sort=False)["object"] if len(not_applicable) else []):
        out.append("not run: %s (%s)" % (str(why), ", ".join(sorted(set(objs), key=order))))
    frame = kind(rows, "cases")
    if frame.empty:
        return out
    failed = frame[(frame["equal"] == False) | (frame["numpy_readable"] == False)]  # noqa: E712
    for r in failed.to_dict(orient="records"):
        out.append("ROUND TRIP FAILED: %s %s %s gave back an object that differs from the original"
                   % (r["object"], format_bytes(r["size"]), r["method"]))
    for what in sorted(set(frame["not_measured"].dropna())) if "not_measured" in frame else []:
        out.append("not measured: %s" % what)
    failures: Dict[str, List[str]] = {}
    for r in frame[frame["error"].notna()].to_dict(orient="records"):
        failures.setdefault(r["error"], []).append("%s on %s" % (r["method"], r["object"]))
    for error, where in failures.items():
        out.append("failed: %s: %s" % (_listing_all(where), error))
    return out


def _listing_all(items: List[str]) -> str:
    """'a on X, b on X, a on Y' -> 'a, b on X; a on Y' (order kept)."""
    groups: Dict[str, List[str]] = {}
    for item in items:
        what, _, where = item.partition(" on ")
        if what not in groups.setdefault(where, []):
            groups[where].append(what)
    by_methods: Dict[str, List[str]] = {}
    for where, whats in groups.items():
        by_methods.setdefault(", ".join(whats), []).append(where)
    return "; ".join("%s on %s" % (whats, ", ".join(wheres)) for whats, wheres in by_methods.items())
