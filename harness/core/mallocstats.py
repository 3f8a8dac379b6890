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
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from harness.errors import HarnessError

PYMALLOC = "pymalloc"
MIMALLOC = "mimalloc"
MALLOC = "malloc"  # the system allocator: no allocator statistics printed
UNKNOWN = "unknown"


class UnknownFormatError(HarnessError):
    """The text is not a ``sys._debugmallocstats()`` report this parser knows."""


class InconsistentStatsError(UnknownFormatError):
    """The report parsed, but its figures do not add up (truncated or altered text)."""


class NotPymallocError(HarnessError):
    """A pymalloc figure was asked of a report made under another allocator."""


@dataclass
class SizeClass:
    """One row of the size-class table."""

    index: int
    size: int  # block size in bytes
    num_pools: int
    blocks_in_use: int
    avail_blocks: int


@dataclass
class FreeList:
    """One object free-list line: "N free NAME * SIZE bytes each = TOTAL"."""

    name: str
    count: int
    size_each: int
    total: int


@dataclass
class MallocStats:
    """One parsed report. pymalloc figures are None under another allocator."""

    allocator: str  # PYMALLOC, MIMALLOC or MALLOC
    small_block_threshold: Optional[int] = None
    num_size_classes: Optional[int] = None
    size_classes: List[SizeClass] = field(default_factory=list)
    arenas_allocated_total: Optional[int] = None
    arenas_reclaimed: Optional[int] = None
    arenas_highwater: Optional[int] = None
    arenas_current: Optional[int] = None
    arena_size: Optional[int] = None
    arena_bytes: Optional[int] = None  # arenas_current * arena_size, as printed
    arenas_listed: Optional[int] = None  # the N of "N arenas * SIZE bytes/arena"
    bytes_in_allocated_blocks: Optional[int] = None
    bytes_in_available_blocks: Optional[int] = None
    unused_pools: Optional[int] = None
    pool_size: Optional[int] = None
    unused_pool_bytes: Optional[int] = None
    bytes_lost_pool_headers: Optional[int] = None
    bytes_lost_quantization: Optional[int] = None
    bytes_lost_arena_alignment: Optional[int] = None
    total: Optional[int] = None
    # the radix tree of 3.10+ ("arena map"); empty before 3.10
    arena_map: Dict[str, int] = field(default_factory=dict)
    # mimalloc's summary ("Allocated Bytes" -> N, "Medium block threshold" -> N, ...)
    mimalloc: Dict[str, int] = field(default_factory=dict)
    freelists: List[FreeList] = field(default_factory=list)
    unparsed: List[str] = field(default_factory=list)

    # ---- derived figures -------------------------------------------------
    @property
    def is_pymalloc(self) -> bool:
        return self.allocator == PYMALLOC

    @property
    def pools_in_use(self) -> Optional[int]:
        """Pools holding at least one block (sum of the table's "num pools")."""
        if not self.is_pymalloc:
            return None
        return sum(c.num_pools for c in self.size_classes)

    @property
    def pool_header_size(self) -> Optional[int]:
        """Bytes lost to headers per used pool (48 on 64-bit 3.8-3.13), or None with no used pool."""
        used = self.pools_in_use
        if not used or self.bytes_lost_pool_headers is None:
            return None
        return self.bytes_lost_pool_headers // used

    @property
    def pools_per_arena(self) -> Optional[int]:
        if not self.arena_size or not self.pool_size:
            return None
        return self.arena_size // self.pool_size

    @property
    def alignment(self) -> Optional[int]:
        """Step between consecutive size classes (16 on 64-bit 3.8-3.13): class i holds (i + 1) * step bytes."""
        steps = {c.size // (c.index + 1) for c in self.size_classes if c.size % (c.index + 1) == 0}
        if len(steps) == 1 and all(c.size % (c.index + 1) == 0 for c in self.size_classes):
            return steps.pop()
        return None

    @property
    def blocks_in_use(self) -> Optional[int]:
        if not self.is_pymalloc:
            return None
        return sum(c.blocks_in_use for c in self.size_classes)

    def size_class(self, size: int) -> Optional[int]:
        """Block size that serves a request of ``size`` bytes (None above the threshold)."""
        step = self.alignment
        if not self.is_pymalloc or not step or size > (self.small_block_threshold or 0):
            return None
        return max(1, -(-size // step)) * step

    def by_size(self) -> Dict[int, SizeClass]:
        """The table's rows keyed by block size (classes without pools are absent)."""
        return {c.size: c for c in self.size_classes}

    def require_pymalloc(self, what: str = "this figure") -> "MallocStats":
        if not self.is_pymalloc:
            raise NotPymallocError(
                "%s needs pymalloc, but the interpreter runs %s%s"
                % (what, describe_allocator(self.allocator),
                   "" if self.allocator != MALLOC else " (PYTHONMALLOC=malloc or malloc_debug?)")
            )
        return self

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d.update(
            pools_in_use=self.pools_in_use,
            pool_header_size=self.pool_header_size,
            pools_per_arena=self.pools_per_arena,
            alignment=self.alignment,
            blocks_in_use=self.blocks_in_use,
        )
        return d

    def summary(self) -> Dict[str, Any]:
        """The scalar figures (no table, no free lists): JSON-friendly."""
        d = self.to_dict()
        for key in ("size_classes", "freelists", "unparsed", "arena_map", "mimalloc"):
            d.pop(key)
        if self.arena_map:
            d["arena_map_bytes"] = self.arena_map.get("total")
        return d


def describe_allocator(name: str) -> str:
    return {
        PYMALLOC: "pymalloc",
        MIMALLOC: "mimalloc (PYTHONMALLOC=mimalloc, or a free-threaded build)",
        MALLOC: "the system allocator (no pymalloc statistics in the report)",
    }.get(name, name)


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
    if any(_MI_EQ.match(l) or _MI_COLON.match(l) for l in lines):
        return MIMALLOC
    if any(_TABLE_HEAD.match(l) or _ARENAS.match(l) for l in lines):
        return PYMALLOC
    if lines and all(_FREELIST.match(l) for l in lines):
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
    lines = [l.strip() for l in text.splitlines()]
    content = [l for l in lines if l]
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
            m = _THRESHOLD.match(line)
            if m:
                stats.mimalloc["Small block threshold"] = _int(m.group(1))
                stats.mimalloc["size classes"] = _int(m.group(2))
                continue
            m = _MI_EQ.match(line) or _MI_COLON.match(line)
            if m:
                stats.mimalloc[m.group(1)] = _int(m.group(2))
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
