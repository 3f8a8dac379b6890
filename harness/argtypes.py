"""argparse types shared by the topics: counts ("1e5"), byte sizes ("64MB"), lists."""
from __future__ import annotations

import argparse
import math
import re
from typing import Callable, List, TypeVar

T = TypeVar("T")

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30,
}


def count(text: str) -> int:
    """A positive element count: '1000', '1e5', '10_000'."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number (examples: 1000, 1e5)" % text) from None
    if not math.isfinite(value) or value < 1 or value > 1e12 or value != int(value):
        raise argparse.ArgumentTypeError("%r is not a whole count between 1 and 1e12" % text)
    return int(value)


def nbytes(text: str) -> int:
    """A positive byte size: '4096', '4KiB', '64MB', '1e6'."""
    m = re.fullmatch(r"\s*([0-9.eE+_]+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError("%r is not a size (examples: 4096, 4KiB, 64MB, 1GiB)" % text)
    try:
        value = float(m.group(1).replace("_", "")) * _UNITS[m.group(2).lower()]
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a size (examples: 4096, 4KiB, 64MB)" % text) from None
    if not math.isfinite(value) or value < 1 or value > 2**50:
        raise argparse.ArgumentTypeError("%r is out of range (1 byte to 1 PiB)" % text)
    return int(value)


def listof(item: Callable[[str], T]) -> Callable[[str], List[T]]:
    """A comma-separated list of ``item``: '1e3,1e4'. A value given twice ('1e3,1000') is kept once."""

    def parse(text: str) -> List[T]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError("empty list")
        return list(dict.fromkeys(item(p) for p in parts))

    parse.__name__ = "list of " + getattr(item, "__name__", "values")
    return parse


def choices_list(allowed: List[str], what: str) -> Callable[[str], List[str]]:
    """A comma-separated list of names, each one of ``allowed`` ('all' means every one)."""

    def parse(text: str) -> List[str]:
        names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
        if names == ["all"]:
            return list(allowed)
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                "unknown %s %s (choose from: %s)" % (what, ", ".join(map(repr, unknown)) or "''", ", ".join(allowed))
            )
        return names

    parse.__name__ = what
    return parse
