"""Reading the aliasing rows for the claims: conformance rows by case id, borrow/copy pairs of timed
rows, and whether two timings differ significantly (timing.compare). Pure functions of the rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from harness.core.verdict import tally
from harness.topic import kind

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows


def case_rows(rows: "Rows", case_id: str) -> "pd.DataFrame":
    """The conformance rows of one case (every backend), or an empty frame."""
    conf = kind(rows, "conformance")
    if conf.empty or "case_id" not in conf:
        return conf.iloc[0:0]
    return conf[conf["case_id"] == case_id]


def by_backend(rows: "Rows", case_id: str, col: str = "shares_memory") -> Dict[str, Any]:
    """{backend: the column's value} for one case."""
    return {r["backend"]: r[col] for _, r in case_rows(rows, case_id).iterrows()}


def listing(d: Dict[str, Any], yes: str, no: str) -> str:
    return "; ".join("%s: %s" % (b, yes if v else no) for b, v in d.items())


def agree(d: Dict[str, Any]) -> str:
    """Every backend agrees: confirmed; none: refuted; some: partly."""
    return tally(sum(bool(v) for v in d.values()), len(d))


def borrow_speedups(rows: "Rows", operation: str) -> Tuple[Optional[int], Dict[str, float]]:
    """(largest size timed, {backend: copy time / borrow time there}) of one timed operation."""
    big, pairs = borrow_pairs(rows, operation)
    return big, {b: float(c["median_s"] / w["median_s"]) for b, (c, w) in pairs.items()}


def borrow_pairs(rows: "Rows", operation: str) -> Tuple[Optional[int], Dict[str, Tuple[Any, Any]]]:
    """(largest size timed, {backend: (copy row, borrow row) there}) of one timed operation."""
    tput = kind(rows, "throughput")
    if tput.empty or operation not in set(tput["operation"]):
        return None, {}
    op = tput[tput["operation"] == operation]
    big = op["bytes"].max()
    pairs: Dict[str, Tuple[Any, Any]] = {}
    for b, g in op[op["bytes"] == big].groupby("backend", sort=False):
        c, w = g[~g["borrow"]], g[g["borrow"]]
        if len(c) and len(w):
            pairs[b] = (c.iloc[0], w.iloc[0])
    return int(big), pairs


def significance(a: Any, b: Any) -> Dict[str, Any]:
    """timing.compare of two rows' samples (a first); without samples (asv's one figure) too few."""
    from harness.core.timing import compare

    va = list(a["values"]) if "values" in a and isinstance(a["values"], (list, tuple)) else [a["median_s"]]
    vb = list(b["values"]) if "values" in b and isinstance(b["values"], (list, tuple)) else [b["median_s"]]
    return compare(va, vb)


def p_text(c: Dict[str, Any]) -> str:
    return "p=%.2g" % c["p"] if c["p"] == c["p"] else c["why"]
