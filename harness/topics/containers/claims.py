"""The containers topic's claim: Python structures take 3-6x the memory of C++ ones."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from harness.claims import Claim, Judgement
from harness.core.verdict import tally
from harness.topic import kind

if TYPE_CHECKING:  # pragma: no cover
    from harness.topic import Rows

TEXT = "Python structures use 3-6x more memory than the equivalent C++ structures"
# Both sides of ratio_alloc count what the heap gives up: pymalloc blocks and glibc chunks (headers
# included) on the Python side, glibc chunks on the C++ side (see counting_allocator.hpp).
LOW, HIGH = 3.0, 6.0


def band(ratio: float) -> str:
    """Where a measured Python/C++ ratio falls against the folklore's 3-6x."""
    if ratio != ratio:
        return "n/a"
    if ratio < LOW:
        return "below 3x"
    if ratio > HIGH:
        return "above 6x"
    return "within 3-6x"


def ratio_rule(rows: "Rows") -> Optional[Judgement]:
    """The allocated-bytes ratio at each workload's largest n, left out: reference layouts."""
    df = kind(rows, "elements")
    if df.empty:
        return None
    claim_rows = df[~df["reference"].astype(bool)]
    if claim_rows.empty:
        return "inconclusive", "no workload of the claim was measured"
    largest = claim_rows.loc[claim_rows.groupby("workload")["n"].idxmax()]
    missing = largest[largest["ratio_alloc"].isna()]
    unmeasured = "; ".join("%s: %s" % (w, _why(r)) for w, r in zip(missing["workload"], missing.to_dict("records")))
    largest = largest[largest["ratio_alloc"].notna()]
    if largest.empty:
        return "inconclusive", "no allocated-bytes ratio was measured (%s)" % unmeasured, "not measured"
    bands = largest["ratio_alloc"].map(band)
    lo, hi = float(largest["ratio_alloc"].min()), float(largest["ratio_alloc"].max())
    evidence = "allocated-bytes ratio at the largest n measured ranges %.1fx-%.1fx over %d workloads" % (
        lo, hi, len(largest))
    parts = []
    for label, key in (("within 3-6x", "within 3-6x"), ("below", "below 3x"), ("above", "above 6x")):
        part = largest[bands == key]
        if len(part):
            parts.append("%s: %s" % (label, ", ".join("%s %.1fx" % (w, float(r))
                                                       for w, r in zip(part["workload"], part["ratio_alloc"]))))
    if unmeasured:
        parts.append("not measured, left out: " + unmeasured)
    within = int((bands == "within 3-6x").sum())
    key = "%.1f-%.1fx, %d of %d workloads within" % (lo, hi, within, len(largest))
    return tally(within, len(largest)), evidence + "; " + "; ".join(parts), key


def _why(row: dict) -> str:
    note = row.get("alloc_note")
    return note if isinstance(note, str) and note else "no allocated bytes in the rows"


RATIO = Claim("containers.ratio", TEXT, ("elements.ratio_alloc", "elements.n"), ratio_rule)
CLAIMS = [RATIO]
