"""The allocator topic's tables: pure functions of the rows.

geometry (one row per interpreter), retention (one row per workload: arenas and RSS after each
step, retained / live), verdicts (claims down, versions across); with --steps also steps (one
row per step) and evidence (each claim's verdict and figures per version).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List

from harness.topic import kind
from harness.topics.allocator import claims

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows

RETENTION_KEYS = ["python", "allocator", "objects", "pattern"]
EVIDENCE = ["python", "claim", "verdict", "evidence"]
TYPED = ["size", "judged"]  # columns of the rows the claims and the figure select on, not shown


def retention_table(steps: "pd.DataFrame") -> "pd.DataFrame":
    """One row per (python, allocator, objects, pattern): arenas and RSS after each step, retained/live."""
    import pandas as pd

    if not len(steps):
        return pd.DataFrame()
    out = []
    for key, g in steps.groupby(RETENTION_KEYS, sort=False):
        # str(k): pandas-stubs types column labels as Hashable; the step rows' labels are all str already
        by = {r["step"]: {str(k): v for k, v in r.items()} for r in g.to_dict(orient="records")}
        row = dict(zip(RETENTION_KEYS, key))
        row["block"] = by["start"]["block"]
        row.update(claims.workload_figures(by))
        out.append(row)
    return pd.DataFrame(out)


def verdict_table(by_version: List[Dict[str, str]]) -> "pd.DataFrame":
    """Claims down, versions across, the verdict in each cell."""
    import pandas as pd

    pythons = list(dict.fromkeys(r["python"] for r in by_version))
    out = []
    for claim in claims.CLAIMS:
        cells = {r["python"]: r["verdict"] for r in by_version if r["claim"] == claim.text}
        if cells:
            row = {"claim": claim.text}
            row.update({py: cells.get(py, "") for py in pythons})
            out.append(row)
    return pd.DataFrame(out, columns=["claim"] + pythons)


def tables(rows: "Rows", steps: bool = False) -> Dict[str, "pd.DataFrame"]:
    """The tables ``memharness allocator`` prints; ``steps``: also the long ones."""
    import pandas as pd

    step_rows = kind(rows, "steps")
    versions = claims.by_version(rows)
    out = {"geometry": kind(rows, "geometry"), "retention": retention_table(step_rows),
           "verdicts": verdict_table(versions)}
    if steps:
        out["steps"] = step_rows.drop(columns=[c for c in TYPED if c in step_rows.columns])
        out["evidence"] = pd.DataFrame(versions, columns=EVIDENCE)
    return out
