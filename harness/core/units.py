"""Units: one formatter for byte counts, and the size labels of parameters."""
from __future__ import annotations

from typing import SupportsInt, Union


def format_bytes(n: float) -> str:
    """Human-readable size with binary prefixes: 1536 -> '1.5 KiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n  # pragma: no cover


def size_label(size: Union[SupportsInt, str]) -> str:
    """4000 -> '4KB', 64000000 -> '64MB' (decimal units, as the sizes are given)."""
    n = int(size)
    for unit, div in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= div and n % div == 0:
            return "%d%s" % (n // div, unit)
    if n >= 10**6:
        return "%.1fMB" % (n / 1e6)
    if n >= 10**3:
        return "%.1fKB" % (n / 1e3)
    return "%dB" % n
