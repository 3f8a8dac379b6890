"""What the allocator topic measures, in fresh child processes of each CPython asked for.

Child side: ``child_workload`` (bytes objects, freed in a pattern, refilled; a snapshot of RSS,
glibc's and pymalloc's counters after each step), ``child_cpp_workload`` (the same with C++
blocks) and ``child_geometry`` (arena size, pool size, pool header and size-class step read from
``sys._debugmallocstats()``, and the same read independently from block addresses:
``probe_layout``). Parent side: ``geometry`` and ``run_workload`` start them; ``geometry_row``
and ``step_rows`` turn their results into rows, in raw units (bytes, counts).

Standard library only and CPython 3.8 syntax: children of every interpreter import it.
"""
from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

from harness.core import children, mallocstats, memory
from harness.errors import BackendMissing, HarnessError
from harness.topics.allocator.workloads import (
    ALLOCATORS,
    DEFAULT_N,
    DEFAULT_SIZE,
    MIN_N,
    PATTERNS,
    PROBE_REQUEST,
    STEPS,
    Size,
    cpp_blockset,
    cpp_free,
    free_indices,
    lengths,
    objects_label,
    other_requests,
    requests,
    unknown,
    workload_estimate,
)

Row = Dict[str, Any]

# ==========================================================================
# Child side (standard library only; CPython 3.8 syntax)


def _stats() -> Optional[mallocstats.MallocStats]:
    text = memory.capture_debugmallocstats()
    return mallocstats.parse(text) if text else None


_FIELDS = ("live_objects", "live_requested", "rss", "malloc_held", "malloc_in_use", "arenas", "arena_bytes",
           "arenas_highwater", "arenas_reclaimed", "blocks_bytes", "avail_bytes", "pools_in_use", "unused_pools")
_STATS = ("arenas_current", "arena_bytes", "arenas_highwater", "arenas_reclaimed", "bytes_in_allocated_blocks",
          "bytes_in_available_blocks", "pools_in_use", "unused_pools")  # MallocStats fields for _FIELDS[5:]


class _Recorder:
    """Snapshots kept in one preallocated array of C integers (-1 = missing).

    Keeping Python objects (dicts, ints, strings) between steps would put
    them in the very pools and arenas under measurement and pin them; an array
    made before the first step holds raw numbers and creates nothing later.
    """

    def __init__(self, steps: Sequence[str], classes: Sequence[Optional[int]]) -> None:
        import array

        self.steps = list(steps)
        self.classes = sorted(set(c for c in classes if c))
        self.width = len(_FIELDS) + len(self.classes)
        self.data = array.array("q", [-1]) * (len(self.steps) * self.width)
        self.index = {name: i for i, name in enumerate(self.steps)}

    def snap(self, step: str, live_objects: int, live_requested: int) -> None:
        gc.collect()
        base = self.index[step] * self.width
        d = self.data
        d[base + 0] = live_objects
        d[base + 1] = live_requested
        d[base + 2] = memory.current_rss()
        mi = memory.malloc_info()
        if mi:
            d[base + 3] = mi["arena"] + mi["hblkhd"]
            d[base + 4] = mi["uordblks"] + mi["hblkhd"]
        st = _stats()
        if st is not None and st.is_pymalloc:
            for j, name in enumerate(_STATS):
                d[base + 5 + j] = getattr(st, name)
            by_size = st.by_size()
            for j, size in enumerate(self.classes):
                row = by_size.get(size)
                d[base + len(_FIELDS) + j] = row.blocks_in_use if row is not None else 0

    def rows(self) -> List[Row]:
        out = []
        for step in self.steps:
            base = self.index[step] * self.width
            row: Row = {"step": step}
            for j, name in enumerate(_FIELDS):
                v = self.data[base + j]
                row[name] = None if v < 0 else v
            row["class_blocks"] = {
                str(size): self.data[base + len(_FIELDS) + j]
                for j, size in enumerate(self.classes) if self.data[base + len(_FIELDS) + j] >= 0
            }
            out.append(row)
        return out


def _others(reqs: Sequence[int], st: Optional[mallocstats.MallocStats]) -> List[int]:
    if st is None or not st.is_pymalloc:
        return other_requests(reqs, None, None)
    return other_requests(reqs, st.alignment, st.small_block_threshold)


def child_workload(pattern: str, requests: List[int], n: int, seed: int = 0) -> Dict[str, Any]:
    """Allocate n bytes objects (requests cycled), free them in ``pattern``, refill; snapshot each step."""
    st0 = _stats()
    pym = st0 if st0 is not None and st0.is_pymalloc else None
    lens = lengths(requests)
    other = _others(requests, st0)
    other_lens = lengths(other)
    header = sys.getsizeof(b"")
    blocks = [pym.size_class(header + ln) for ln in lens] if pym is not None else []
    other_blocks = [pym.size_class(header + ln) for ln in other_lens] if pym is not None else []
    k = len(lens)
    free_idx = free_indices(pattern, n, seed)
    nfree = len(free_idx)
    objs: List[Any] = [None] * n
    refill: List[Any] = [None] * nfree
    rec = _Recorder(STEPS, blocks + other_blocks)
    size = sys.getsizeof
    rec.snap("start", 0, 0)

    for i in range(n):
        objs[i] = bytes(lens[i % k])
    rec.snap("allocated", n, sum(size(o) for o in objs))

    for i in free_idx:
        objs[i] = None
    live = sum(size(o) for o in objs if o is not None)
    rec.snap("freed", n - nfree, live)

    trimmed = memory.malloc_trim()
    rec.snap("trimmed", n - nfree, live)

    for j in range(nfree):
        refill[j] = bytes(lens[j % k])
    rec.snap("refill_same", n, live + sum(size(o) for o in refill))
    for j in range(nfree):
        refill[j] = None
    for j in range(nfree):
        refill[j] = bytes(other_lens[j % k])
    rec.snap("refill_other", n, live + sum(size(o) for o in refill))

    return {"allocator": st0.allocator if st0 is not None else "unknown", "pattern": pattern,
            "requests": list(requests), "other_requests": other, "blocks": blocks, "other_blocks": other_blocks,
            "n": n, "freed": nfree, "malloc_trim": trimmed, "steps": rec.rows()}


def _cpp_snapshot(step: str, sets: List[Any]) -> Row:
    gc.collect()
    fps = [s.footprint() for s in sets]
    mi = memory.malloc_info()
    return {
        "step": step,
        "live_objects": sum(s.live() for s in sets),
        "live_requested": sum(int(f["requested"]) for f in fps),
        "cpp_allocated": sum(int(f["allocated"]) for f in fps),
        "rss": memory.current_rss(),
        "malloc_held": (mi["arena"] + mi["hblkhd"]) if mi else None,
        "malloc_in_use": (mi["uordblks"] + mi["hblkhd"]) if mi else None,
    }


def child_cpp_workload(pattern: str, requests: List[int], n: int, seed: int = 0,
                       other_requests: Optional[List[int]] = None) -> Dict[str, Any]:
    """The same as child_workload with C++ blocks (one BlockSet per request size)."""
    BlockSet = cpp_blockset()
    k = len(requests)
    counts = [n // k + (1 if j < n % k else 0) for j in range(k)]
    other = list(other_requests or _others(requests, None))
    steps = [_cpp_snapshot("start", [])]
    sets = [BlockSet(r, c) for r, c in zip(requests, counts)]
    steps.append(_cpp_snapshot("allocated", sets))
    for s in sets:
        cpp_free(s, pattern, seed)
    steps.append(_cpp_snapshot("freed", sets))
    trimmed = memory.malloc_trim()
    steps.append(_cpp_snapshot("trimmed", sets))
    freed = [c - s.live() for s, c in zip(sets, counts)]
    refill = [BlockSet(r, f) for r, f in zip(requests, freed)]
    steps.append(_cpp_snapshot("refill_same", sets + refill))
    del refill[:]
    refill = [BlockSet(r, f) for r, f in zip(other, freed)]
    steps.append(_cpp_snapshot("refill_other", sets + refill))
    return {"allocator": "c++", "pattern": pattern, "requests": list(requests), "other_requests": other,
            "blocks": [], "n": n, "freed": sum(freed), "malloc_trim": trimmed, "steps": steps}


def _mode(values: Sequence[int]) -> Optional[int]:
    if not values:
        return None
    return Counter(values).most_common(1)[0][0]


def _runs(diffs: Sequence[int], step: Optional[int]) -> List[int]:
    """Lengths of the runs of items ``step`` apart, given the differences between neighbours
    (step None, no stride found: every item is a run of its own)."""
    out = []
    count = 1
    for d in diffs:
        if d == step:
            count += 1
        else:
            out.append(count)
            count = 1
    out.append(count)
    return out


def probe_layout(addresses: Sequence[int]) -> Dict[str, Any]:
    """Pool and arena geometry from the addresses of same-class blocks, in allocation order.

    pymalloc hands out a fresh pool's blocks at increasing addresses and
    carves fresh pools one after another from an arena. So: ``stride`` = the
    commonest step between consecutive blocks (the block size); a run of
    blocks at that stride is one pool; ``pool_size`` = the commonest distance
    between consecutive runs' first blocks (consecutive fresh pools);
    ``pool_header`` = where the first block sits inside its pool; a chain of
    pools at that distance is one arena: ``pools_per_arena`` = the commonest
    chain length. An arena holds that many pools, one more at most (a pool
    lost to alignment), so its size lies in [pools * pool_size, (pools + 1) * pool_size].
    """
    addrs = list(addresses)
    if len(addrs) < 3:
        return {}
    diffs = [b - a for a, b in zip(addrs, addrs[1:])]
    stride = _mode([d for d in diffs if d > 0])
    starts = [addrs[0]] + [addrs[i + 1] for i, d in enumerate(diffs) if d != stride]
    run_lengths = _runs(diffs, stride)
    pool = _mode([b - a for a, b in zip(starts, starts[1:]) if b > a])
    if not pool:
        return {"stride": stride, "blocks_per_pool": max(run_lengths)}
    long_chains = [c for c in _runs([b - a for a, b in zip(starts, starts[1:])], pool) if c > 1]
    counts = Counter(long_chains)
    top = max(counts.values()) if counts else 0
    return {
        "stride": stride,
        "blocks_per_pool": _mode(run_lengths),
        "pools_seen": len(starts),
        "pool_size": pool,
        "pool_header": _mode([s % pool for s in starts]),
        # the commonest chain length (full arenas); on a tie the longest
        "pools_per_arena": max(c for c, k in counts.items() if k == top) if counts else None,
        "arena_chains": len(long_chains),
    }


def child_geometry(request: int = PROBE_REQUEST, n: int = 200_000) -> Dict[str, Any]:
    """The parsed geometry, plus the same read from block addresses (probe_layout)."""
    import array
    import platform

    st0 = _stats()
    out: Dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "pythonmalloc": os.environ.get("PYTHONMALLOC", ""),
        "allocator": st0.allocator if st0 is not None else "unknown",
    }
    if st0 is None or not st0.is_pymalloc:
        return out
    (length,) = lengths([request])
    objs: List[Any] = [None] * n
    for i in range(n):
        objs[i] = bytes(length)
    addrs = array.array("Q", map(id, objs))
    st1 = _stats()
    block = st0.size_class(sys.getsizeof(objs[0]))
    before = {c.size: c.blocks_in_use for c in st0.size_classes}
    after = {c.size: c.blocks_in_use for c in st1.size_classes} if st1 else {}
    grown = None  # bytes in allocated blocks added, where both snapshots report it
    if st1 is not None and st1.bytes_in_allocated_blocks is not None and st0.bytes_in_allocated_blocks is not None:
        grown = st1.bytes_in_allocated_blocks - st0.bytes_in_allocated_blocks
    out.update(st0.summary())
    out.update(
        request=sys.getsizeof(objs[0]),
        block=block,
        n=n,
        class_blocks_added=(after.get(block, 0) - before.get(block, 0)) if block is not None else 0,
        blocks_bytes_added=grown,
        probe=probe_layout(addrs),
    )
    return out


# ==========================================================================
# Parent side: start the children, turn their results into rows


def geometry(python: Optional[str] = None) -> Dict[str, Any]:
    """Parsed pymalloc geometry (and the address probe) of one interpreter, in a fresh child."""
    return children.run_child("harness.topics.allocator.measure:child_geometry", {}, python=python,
                              env={"PYTHONMALLOC": "pymalloc"})


def check_workload(pattern: str, allocator: str, n: int) -> None:
    """HarnessError for a pattern, an allocator or a count no workload can run."""
    if pattern not in PATTERNS:
        raise unknown("pattern", pattern, PATTERNS)
    if allocator not in ALLOCATORS:
        raise unknown("allocator", allocator, ALLOCATORS)
    if n < MIN_N:
        raise HarnessError("n = %d is too small: keep_1_in_1000 needs at least %d objects" % (n, MIN_N))


def run_workload(pattern: str, size: Size = DEFAULT_SIZE, n: int = DEFAULT_N, *, allocator: str = "pymalloc",
                 python: Optional[str] = None, seed: int = 0) -> Dict[str, Any]:
    """One workload in a fresh child: the result of child_workload (or child_cpp_workload for 'c++')."""
    check_workload(pattern, allocator, n)
    memory.check_fits(workload_estimate(size, n), "allocator workload of %d objects" % n)
    kwargs = {"pattern": pattern, "requests": requests(size), "n": n, "seed": seed}
    if allocator == "c++":
        return children.run_child("harness.topics.allocator.measure:child_cpp_workload", kwargs, python=None)
    return children.run_child("harness.topics.allocator.measure:child_workload", kwargs, python=python,
                              env={"PYTHONMALLOC": allocator})


def cpp_missing() -> Optional[BackendMissing]:
    """None when the C++ BlockSet is usable here, else the BackendMissing that says why not."""
    try:
        cpp_blockset()
    except BackendMissing as exc:  # the only error cpp_blockset raises
        return exc
    return None


def step_rows(res: Dict[str, Any], python: str, size: Size) -> List[Row]:
    """One row per step of a workload's result: what the child read, and what the allocator holds
    above the start (arenas for pymalloc, glibc's heap otherwise) over the bytes still live."""
    steps = res["steps"]
    start = steps[0]
    allocator = res["allocator"]
    rows = []
    for s in steps:
        if allocator == "pymalloc":
            held = s["arena_bytes"] - start["arena_bytes"]
        elif s.get("malloc_held") is not None:
            held = s["malloc_held"] - start["malloc_held"]
        else:
            held = None
        live = s["live_requested"]
        rows.append({
            "python": python, "allocator": allocator, "objects": objects_label(size),
            "block": res["blocks"][0] if len(res["blocks"]) == 1 else None, "pattern": res["pattern"],
            "step": s["step"], "n": res["n"], "live_objects": s["live_objects"], "live_bytes": live,
            "rss": s["rss"], "rss_delta": s["rss"] - start["rss"], "arenas": s.get("arenas"),
            "arena_bytes": s.get("arena_bytes"), "blocks_bytes": s.get("blocks_bytes"),
            "avail_bytes": s.get("avail_bytes"), "unused_pools": s.get("unused_pools"),
            "malloc_held": s.get("malloc_held"), "cpp_allocated": s.get("cpp_allocated"),
            "held_delta": held, "ratio": (held / live) if (held is not None and live > 0) else None,
            "size": size,
        })
    return rows


def geometry_row(g: Dict[str, Any]) -> Row:
    """A child_geometry result as one row (its columns are the geometry table's)."""
    p = g.get("probe") or {}
    return {
        "python": g["python"], "allocator": g["allocator"], "arena_size": g.get("arena_size"),
        "pool_size": g.get("pool_size"), "pool_header": g.get("pool_header_size"),
        "class_step": g.get("alignment"), "threshold": g.get("small_block_threshold"),
        "request": g.get("request"), "block": g.get("block"), "probe_stride": p.get("stride"),
        "probe_pool": p.get("pool_size"), "probe_header": p.get("pool_header"),
        "probe_pools_per_arena": p.get("pools_per_arena"), "class_blocks_added": g.get("class_blocks_added"),
        "n": g.get("n"),
    }
