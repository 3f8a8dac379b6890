"""The data of one ``sys._debugmallocstats()`` report, as ``harness.core.mallocstats`` parses it:
the allocator, the size classes, the free lists, the arena and pool counters, and the errors.

Standard library only, CPython 3.8 syntax: children of other interpreters use it.
"""
from __future__ import annotations

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
