"""What the pickle topic's claim rules share: selecting rows, wording cases, and telling whether
one set of timing samples is significantly faster than another (``timing.compare``).

Every rule reads the "cases" rows (one per object, size and method; bytes and seconds) and keeps
only the rows of methods that round-tripped (no error, equal). Rows rebuilt from asv results
(``TOPIC.from_asv``) hold bytes and peaks but no times: a rule then judges what the rows hold and
says so in its evidence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence

from harness.core import timing
from harness.core.units import format_bytes as _mib  # the one byte formatter
from harness.topic import Rows, kind
from harness.topics.pickle.workloads import OBJECTS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MiB = float(1 << 20)
NO_TIMES = "times are not in these rows (asv tracks bytes and peaks)"
TIMES = ("cases.dump_values", "cases.load_values")


def case_label(r: Any) -> str:
    return "%s %s" % (r["object"], _mib(r["payload"]))


def cases(rows: Rows) -> "Optional[pd.DataFrame]":
    """The "cases" rows, or None where there are none (the rows say nothing of pickling)."""
    frame = kind(rows, "cases")
    return None if frame.empty else frame


def timed(frame: "pd.DataFrame", *columns: str) -> bool:
    """Whether the rows hold these time figures (a live run does; rows from asv results do not)."""
    return all(c in frame.columns and frame[c].notna().any() for c in columns)


def good(frame: "pd.DataFrame") -> "pd.DataFrame":
    return frame[frame["error"].isna() & (frame["equal"] == True)]  # noqa: E712


def of(frame: "pd.DataFrame", kind_: str, protocol: Optional[int] = None) -> "pd.DataFrame":
    """Rows of one kind of method ("bytes": pickle.dumps, "file": pickle.dump, "oob", ...), at one protocol."""
    sel = frame["kind"] == kind_
    if protocol is not None:
        sel &= frame["protocol"] == protocol
    return frame[sel]


def largest(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Rows of the largest size measured of each object."""
    if frame.empty:
        return frame
    top = frame.groupby("object")["size"].transform("max")
    return frame[frame["size"] == top]


def listing(items: List[str], limit: int = 4) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + " and %d more" % (len(items) - limit)


def holds_arrays(frame: "pd.DataFrame", ndarray: bool = False) -> "pd.Series":
    attr = "is_ndarray" if ndarray else "has_arrays"
    return frame["object"].map(lambda n: getattr(OBJECTS[n], attr) if n in OBJECTS else False).astype(bool)


def samples(r: Any, op: str) -> Optional[List[float]]:
    """The timing samples (seconds) of ``op`` ("dump", "load") in a row, or None."""
    values = r.get(op + "_values") if hasattr(r, "get") else None
    if isinstance(values, (list, tuple)) and values:
        return [float(v) for v in values]
    return None


def faster(a: Sequence[float], b: Sequence[float]) -> Optional[str]:
    """"a" or "b" when one is significantly faster (``timing.compare``), None for no significant
    difference (or too few samples to tell)."""
    got = timing.compare(list(a), list(b))
    return got["faster"] if got["significant"] else None


def ms(values: Sequence[float]) -> str:
    import statistics

    return "%.3g ms" % (statistics.median(values) * 1e3)
