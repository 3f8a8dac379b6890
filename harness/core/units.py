"""Units: one formatter for byte counts, and the size labels of parameters."""
from __future__ import annotations


def format_bytes(n: float) -> str:
    """Human-readable size with binary prefixes: 1536 -> '1.5 KiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n  # pragma: no cover
