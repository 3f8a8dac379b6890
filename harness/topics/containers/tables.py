"""The containers topic's display table, from its rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from harness.topic import kind
from harness.topics.containers.claims import band

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows


def bytes_per_element(rows: "Rows") -> "pd.DataFrame":
    """Every row, with the ratio's place against 3-6x (the reference flag and the size asked for
    stay in the rows)."""
    df = kind(rows, "elements")
    if df.empty:
        return df
    table = df.drop(columns=[c for c in ("reference", "size") if c in df.columns])
    if "alloc_note" in table.columns and not table["alloc_note"].fillna("").astype(bool).any():
        table = table.drop(columns=["alloc_note"])  # every allocated figure was measured
    table["verdict"] = table["ratio_alloc"].map(band)
    return table


def tables(rows: "Rows") -> Dict[str, "pd.DataFrame"]:
    return {"bytes per element": bytes_per_element(rows)}
