"""Parser for ``sys._debugmallocstats()``: pymalloc's arenas, pools and size classes.

CPython writes the report to file descriptor 2 (capture it with
``harness.core.memory.capture_debugmallocstats()``, preferably in a child
process). Its shape depends on the allocator in use:

* pymalloc (the default of CPython 3.8 to 3.13): a size-class table, arena
  counters, "N arenas * SIZE bytes/arena", "N unused pools * SIZE bytes", the
  bytes lost to pool headers / quantization / arena alignment; 3.10+ add the
  radix-tree "arena map" block. ``PYTHONMALLOC=debug``/``pymalloc_debug``
  print the same.
* mimalloc (``PYTHONMALLOC=mimalloc`` on 3.13, free-threaded builds):
  "Medium block threshold", "Allocated Blocks: N", "Bytes Reserved: N", ...
* the system allocator (``PYTHONMALLOC=malloc``/``malloc_debug``): no
  allocator section at all, only the object free lists.

All of them end with the free-list lines ("N free PyDictObjects * 48 bytes
each = ..."). Arena and pool sizes are read from the text, never assumed from
the version number. Lines the parser does not know raise ``UnknownFormatError``
(or are kept in ``MallocStats.unparsed`` with ``strict=False``), and a report
whose figures do not add up raises ``InconsistentStatsError``.

Standard library only, CPython 3.8 syntax: children of other interpreters use it.
"""
from __future__ import annotations

import re
from typing import Any, List

from harness.core.mallocstats_model import (  # the report's data, re-exported: mallocstats.parse returns it
    MALLOC,
    MIMALLOC,
    PYMALLOC,
    UNKNOWN,
    FreeList,
    InconsistentStatsError,
    MallocStats,
    NotPymallocError,
    SizeClass,
    UnknownFormatError,
    describe_allocator,
)

__all__ = ["MALLOC", "MIMALLOC", "PYMALLOC", "UNKNOWN", "FreeList", "InconsistentStatsError", "MallocStats",
           "NotPymallocError", "SizeClass", "UnknownFormatError", "describe_allocator", "parse", "check", "current"]


# --------------------------------------------------------------------------
# Line grammar

_NUM = r"(\d[\d,]*)"


def _int(text: str) -> int:
    return int(text.replace(",", ""))


_THRESHOLD = re.compile(r"^Small block threshold = %s, in %s size classes\.$" % (_NUM, _NUM))
_TABLE_HEAD = re.compile(r"^class\s+size\s+num pools\s+blocks in use\s+avail blocks$")
_TABLE_RULE = re.compile(r"^-+(\s+-+){4}$")
_TABLE_ROW = re.compile(r"^%s\s+%s\s+%s\s+%s\s+%s$" % ((_NUM,) * 5))
_HASH_LINE = re.compile(r"^#\s*(.*?)\s*=\s*%s$" % _NUM)
_ARENAS = re.compile(r"^%s arenas \* %s bytes/arena\s*=\s*%s$" % (_NUM, _NUM, _NUM))
_POOLS = re.compile(r"^%s unused pools \* %s bytes\s*=\s*%s$" % (_NUM, _NUM, _NUM))
_TOTAL = re.compile(r"^Total\s*=\s*%s$" % _NUM)
_ARENA_MAP_HEAD = re.compile(r"^arena map counts$")
_FREELIST = re.compile(r"^%s free (.+?) \* %s bytes each\s*=\s*%s$" % (_NUM, _NUM, _NUM))
# mimalloc (3.13): "Medium block threshold = N", "Large object max size = N", "Allocated Blocks: N"
_MI_EQ = re.compile(r"^(Medium block threshold|Large object max size) = %s$" % _NUM)
_MI_COLON = re.compile(r"^(Allocated Blocks|Allocated Bytes|Allocated Bytes w/ Overhead|Bytes Reserved|Bytes Committed): %s$" % _NUM)

_HASH_FIELDS = {
    "arenas allocated total": "arenas_allocated_total",
    "arenas reclaimed": "arenas_reclaimed",
    "arenas highwater mark": "arenas_highwater",
    "arenas allocated current": "arenas_current",
    "bytes in allocated blocks": "bytes_in_allocated_blocks",
    "bytes in available blocks": "bytes_in_available_blocks",
    "bytes lost to pool headers": "bytes_lost_pool_headers",
    "bytes lost to quantization": "bytes_lost_quantization",
    "bytes lost to arena alignment": "bytes_lost_arena_alignment",
}
_ARENA_MAP_FIELDS = {
    "arena map mid nodes": "mid_nodes",
    "arena map bot nodes": "bot_nodes",
    "bytes lost to arena map root": "root",
    "bytes lost to arena map mid": "mid",
    "bytes lost to arena map bot": "bot",
}
_REQUIRED = (
    "small_block_threshold", "arenas_allocated_total", "arenas_reclaimed", "arenas_highwater",
    "arenas_current", "arenas_listed", "arena_size", "arena_bytes", "bytes_in_allocated_blocks",
    "bytes_in_available_blocks", "unused_pools", "pool_size", "bytes_lost_pool_headers",
    "bytes_lost_quantization", "bytes_lost_arena_alignment", "total",
)


def _classify(lines: List[str]) -> str:
    """Which allocator wrote these (stripped, non-blank) lines."""
    if any(_MI_EQ.match(ln) or _MI_COLON.match(ln) for ln in lines):
        return MIMALLOC
    if any(_TABLE_HEAD.match(ln) or _ARENAS.match(ln) for ln in lines):
        return PYMALLOC
    if lines and all(_FREELIST.match(ln) for ln in lines):
        return MALLOC
    return UNKNOWN


def parse(text: str, *, strict: bool = True) -> MallocStats:
    """Parse one ``sys._debugmallocstats()`` report.

    Detects the allocator (pymalloc, mimalloc, the system malloc). With
    ``strict`` (the default) a line it does not know raises
    ``UnknownFormatError`` naming the line, and a pymalloc report that lacks a
    figure or whose figures do not add up raises ``InconsistentStatsError``;
    with ``strict=False`` unknown lines are kept in ``unparsed`` and checks
    are skipped.
    """
    if not isinstance(text, str):
        raise TypeError("parse() takes the report as str, got %s" % type(text).__name__)
    lines = [ln.strip() for ln in text.splitlines()]
    content = [ln for ln in lines if ln]
    if not content:
        raise UnknownFormatError(
            "empty sys._debugmallocstats() output: nothing to parse (was file descriptor 2 captured?)"
        )
    kind = _classify(content)
    if kind == UNKNOWN:
        if strict:
            raise UnknownFormatError(
                "unknown sys._debugmallocstats() format: neither pymalloc's size-class table, "
                "mimalloc's summary nor free-list lines; first line: %r" % content[0][:120]
            )
    stats = MallocStats(allocator=kind if kind != UNKNOWN else UNKNOWN)
    section = "top"  # "top" | "table" | "arena_map"
    for lineno, line in enumerate(lines, 1):
        if not line:
            if section == "table":
                section = "top"
            continue
        m = _FREELIST.match(line)
        if m:
            stats.freelists.append(FreeList(m.group(2), _int(m.group(1)), _int(m.group(3)), _int(m.group(4))))
            continue
        if kind == MIMALLOC:
            if _mimalloc_line(stats, line):
                continue
        elif kind in (PYMALLOC, UNKNOWN):
            if _pymalloc_line(stats, line, section):
                if _TABLE_HEAD.match(line):
                    section = "table"
                elif _ARENA_MAP_HEAD.match(line):
                    section = "arena_map"
                continue
        if strict:
            raise UnknownFormatError(
                "unknown line %d in sys._debugmallocstats() output (%s report): %r"
                % (lineno, describe_allocator(kind), line[:120])
            )
        stats.unparsed.append(line)
    if strict and kind == PYMALLOC:
        check(stats)
    return stats


def _mimalloc_line(stats: MallocStats, line: str) -> bool:
    m = _THRESHOLD.match(line)
    if m:
        stats.mimalloc["Small block threshold"] = _int(m.group(1))
        stats.mimalloc["size classes"] = _int(m.group(2))
        return True
    m = _MI_EQ.match(line) or _MI_COLON.match(line)
    if m:
        stats.mimalloc[m.group(1)] = _int(m.group(2))
        return True
    return False


def _pymalloc_line(stats: MallocStats, line: str, section: str) -> bool:
    m = _THRESHOLD.match(line)
    if m:
        stats.small_block_threshold = _int(m.group(1))
        stats.num_size_classes = _int(m.group(2))
        return True
    if _TABLE_HEAD.match(line) or _ARENA_MAP_HEAD.match(line):
        return True
    if section == "table":
        if _TABLE_RULE.match(line):
            return True
        m = _TABLE_ROW.match(line)
        if m:
            stats.size_classes.append(SizeClass(*(_int(g) for g in m.groups())))
            return True
        return False
    m = _HASH_LINE.match(line)
    if m:
        name, value = m.group(1), _int(m.group(2))
        if section == "arena_map" and name in _ARENA_MAP_FIELDS:
            stats.arena_map[_ARENA_MAP_FIELDS[name]] = value
            return True
        if name in _HASH_FIELDS:
            setattr(stats, _HASH_FIELDS[name], value)
            return True
        return False
    m = _ARENAS.match(line)
    if m:
        n, size, total = (_int(g) for g in m.groups())
        stats.arenas_listed, stats.arena_size, stats.arena_bytes = n, size, total
        return True
    m = _POOLS.match(line)
    if m:
        stats.unused_pools, stats.pool_size, stats.unused_pool_bytes = (_int(g) for g in m.groups())
        return True
    m = _TOTAL.match(line)
    if m:
        if section == "arena_map":
            stats.arena_map["total"] = _int(m.group(1))
        else:
            stats.total = _int(m.group(1))
        return True
    return False


def check(stats: MallocStats) -> None:
    """Raise InconsistentStatsError unless a pymalloc report is complete and adds up."""
    missing = [name for name in _REQUIRED if getattr(stats, name) is None]
    if stats.arena_map:
        missing += ["arena map " + k for k in _ARENA_MAP_FIELDS.values() if k not in stats.arena_map]
        if "total" not in stats.arena_map:
            missing.append("arena map Total")
    if not stats.freelists:
        missing.append("the object free lists that end every report")
    if missing:
        raise InconsistentStatsError("pymalloc report without %s (truncated?)" % ", ".join(missing))
    _check_totals(stats)


def _check_totals(stats: Any) -> None:
    """The sums of a complete report (every field present: ``check`` saw to it, hence Any)."""
    problems = []
    # The table omits classes without a pool; the rows left must be in order.
    idx = [c.index for c in stats.size_classes]
    if idx != sorted(set(idx)) or (idx and idx[-1] >= stats.num_size_classes):
        problems.append("size-class indices %s are not increasing below %d" % (idx, stats.num_size_classes))
    step = stats.small_block_threshold // stats.num_size_classes if stats.num_size_classes else 0
    if step * stats.num_size_classes != stats.small_block_threshold or any(
        c.size != (c.index + 1) * step for c in stats.size_classes
    ):
        problems.append("class sizes are not (index + 1) * %d up to the threshold %d B" % (step, stats.small_block_threshold))
    n_line = stats.arenas_listed
    if n_line != stats.arenas_current or stats.arena_bytes != stats.arenas_current * stats.arena_size:
        problems.append("arena line (%s arenas, %s bytes) disagrees with %s current arenas of %s bytes"
                        % (n_line, stats.arena_bytes, stats.arenas_current, stats.arena_size))
    if stats.unused_pool_bytes != stats.unused_pools * stats.pool_size:
        problems.append("unused pools line does not multiply out")
    in_use = sum(c.blocks_in_use * c.size for c in stats.size_classes)
    if in_use != stats.bytes_in_allocated_blocks:
        problems.append("table's blocks in use make %d bytes, the summary says %d" % (in_use, stats.bytes_in_allocated_blocks))
    avail = sum(c.avail_blocks * c.size for c in stats.size_classes)
    if avail != stats.bytes_in_available_blocks:
        problems.append("table's available blocks make %d bytes, the summary says %d" % (avail, stats.bytes_in_available_blocks))
    parts = (stats.bytes_in_allocated_blocks + stats.bytes_in_available_blocks + stats.unused_pool_bytes
             + stats.bytes_lost_pool_headers + stats.bytes_lost_quantization + stats.bytes_lost_arena_alignment)
    if parts != stats.total or stats.total != stats.arena_bytes:
        problems.append("parts add up to %d, Total says %d, arenas hold %d" % (parts, stats.total, stats.arena_bytes))
    pools = stats.pools_in_use or 0
    if (pools + stats.unused_pools) * stats.pool_size + stats.bytes_lost_arena_alignment != stats.arena_bytes:
        problems.append("%d used + %d unused pools of %d bytes do not fill %d arena bytes"
                        % (pools, stats.unused_pools, stats.pool_size, stats.arena_bytes))
    if stats.arena_map:
        mm = stats.arena_map
        if "total" in mm and sum(mm.get(k, 0) for k in ("root", "mid", "bot")) != mm["total"]:
            problems.append("arena map bytes do not add up")
    if problems:
        raise InconsistentStatsError("pymalloc report does not add up: " + "; ".join(problems))


# --------------------------------------------------------------------------
# Convenience


def current() -> MallocStats:
    """Parse this interpreter's report now (run it in a child process for clean figures)."""
    from harness.core.memory import capture_debugmallocstats

    text = capture_debugmallocstats()
    if not text:
        raise UnknownFormatError("this interpreter has no sys._debugmallocstats()")
    return parse(text)
