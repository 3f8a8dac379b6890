"""pymalloc: arenas, pools, fixed-size blocks, and what stays allocated after frees.

The folklore under test: "256 KB arenas divided into 4 KB pools with
fixed-size blocks; memory in pools and arenas is reused but not given back;
this builds up when different pools are needed". Each figure is measured in a
fresh child process of each CPython asked for, and read from
``sys._debugmallocstats()`` through ``harness.core.mallocstats``:

* geometry: arena size, pool size, pool header, size-class step, read from
  the report; and, independently, from the addresses (``id()``) of objects
  allocated one after another: the stride between blocks, the distance
  between consecutive fresh pools, how many pools follow each other in one
  arena.
* retention: N objects of one size class (bytes objects of a chosen request
  size), or of mixed classes, are allocated, then freed in one of four
  patterns (all; every 2nd; all but 1 in 1000; a random half). After each step
  the child records RSS, arenas in use, bytes in allocated blocks and what the
  allocator holds; then ``malloc_trim(0)``; then as many objects as were freed
  are allocated again, of the same size (reuse) and of the next size class
  (other pools needed). The same runs under ``PYTHONMALLOC=malloc``, and the
  same number of same-sized blocks through the C++ counting allocator
  (``harness._containers.BlockSet``).

Child functions are standard library only and CPython 3.8 syntax: they run
under every interpreter ``--python`` names.
"""
from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from harness.core import children, memory, units
from harness.core import mallocstats
from harness.core.interpreters import VERSIONS, find_interpreters
from harness.errors import ChildError, HarnessError

HELP = "pymalloc arenas, pools and retention after frees, across CPython versions"
DESCRIPTION = HELP + """

Each workload runs in a fresh child process: N bytes objects of one request
size (or of mixed size classes) are allocated, then freed in a pattern
(free_all, free_every_2nd, keep_1_in_1000, free_random_half). After each step
(start, allocated, freed, trimmed = after glibc malloc_trim(0), refill_same =
as many objects as were freed allocated again, refill_other = the same count
one size class larger) the child reads sys._debugmallocstats():

  arenas_*     pymalloc arenas in use after each step
  rss_*        RSS above the start, MiB
  ratio        retained / live after the free: bytes the allocator holds above
               the start (arenas for pymalloc, glibc heap for malloc and C++)
               over the bytes requested by the objects still alive

allocators: pymalloc (PYTHONMALLOC=pymalloc), malloc (PYTHONMALLOC=malloc:
glibc), c++ (the same number of same-sized blocks through the C++ counting
allocator, glibc underneath; run once, in the current interpreter).

--python takes versions (3.8, 3.12.1), interpreter paths, 'current' or
'all' (every CPython 3.8-3.13 found on PATH or under pyenv).
"""

PATTERNS = ("free_all", "free_every_2nd", "keep_1_in_1000", "free_random_half")
STEPS = ("start", "allocated", "freed", "trimmed", "refill_same", "refill_other")
ALLOCATORS = ("pymalloc", "malloc", "c++")
DEFAULT_N = 100_000
DEFAULT_SIZE = 64  # bytes requested per object (a bytes object of 64 - 33 = 31 bytes)
MIXED = "mixed"
MIXED_SIZES = (48, 96, 176, 304, 496)  # requests in five different size classes
PROBE_REQUEST = 50  # an odd request, to show the rounding up to a fixed block size
FOLKLORE_ARENA = 256 * 1024
FOLKLORE_POOL = 4 * 1024
MiB = 1024.0 * 1024.0

CLAIMS = {
    "arena": "pymalloc arenas are 256 KB",
    "pool": "arenas are divided into 4 KB pools",
    "blocks": "pools hold fixed-size blocks",
    "reuse": "memory of freed blocks is reused",
    "kept": "memory in pools and arenas is not given back",
    "buildup": "retained memory builds up when different pools are needed",
    "glibc": "under PYTHONMALLOC=malloc, glibc keeps freed memory until malloc_trim(0)",
}


# ==========================================================================
# Child side (standard library only; CPython 3.8 syntax)


def _stats() -> Optional[mallocstats.MallocStats]:
    text = memory.capture_debugmallocstats()
    return mallocstats.parse(text) if text else None


def _min_request() -> int:
    return sys.getsizeof(b"") + 2  # bytes of length 0 and 1 are shared singletons


def _lengths(requests: Sequence[int]) -> List[int]:
    header = sys.getsizeof(b"")
    out = []
    for r in requests:
        if r - header < 2:
            raise HarnessError("request size %d B is too small: bytes objects need at least %d B" % (r, _min_request()))
        out.append(r - header)
    return out


_FIELDS = ("live_objects", "live_requested", "rss", "malloc_held", "malloc_in_use", "arenas", "arena_bytes",
           "arenas_highwater", "arenas_reclaimed", "blocks_bytes", "avail_bytes", "pools_in_use", "unused_pools")


class _Recorder:
    """Snapshots kept in one preallocated array of C integers (-1 = missing).

    Keeping Python objects (dicts, ints, strings) between steps would put
    them in the very pools and arenas under measurement and pin them; an array
    made before the first step holds raw numbers and creates nothing later.
    """

    def __init__(self, steps: Sequence[str], classes: Sequence[int]) -> None:
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
            for j, name in enumerate(("arenas_current", "arena_bytes", "arenas_highwater", "arenas_reclaimed",
                                      "bytes_in_allocated_blocks", "bytes_in_available_blocks", "pools_in_use",
                                      "unused_pools")):
                d[base + 5 + j] = getattr(st, name)
            by_size = st.by_size()
            for j, size in enumerate(self.classes):
                row = by_size.get(size)
                d[base + len(_FIELDS) + j] = row.blocks_in_use if row is not None else 0

    def rows(self) -> List[Dict[str, Any]]:
        out = []
        names = {"arenas_current": "arenas"}
        for step in self.steps:
            base = self.index[step] * self.width
            row: Dict[str, Any] = {"step": step}
            for j, name in enumerate(_FIELDS):
                v = self.data[base + j]
                row[names.get(name, name)] = None if v < 0 else v
            row["class_blocks"] = {
                str(size): self.data[base + len(_FIELDS) + j]
                for j, size in enumerate(self.classes) if self.data[base + len(_FIELDS) + j] >= 0
            }
            out.append(row)
        return out


def _other_requests(requests: Sequence[int], st: Optional[mallocstats.MallocStats]) -> List[int]:
    """Each request moved one size class up (down at the top): a class whose pools are not the freed ones."""
    step = (st.alignment if st is not None and st.is_pymalloc else None) or 16
    top = (st.small_block_threshold if st is not None and st.is_pymalloc else None) or 512
    return [r + step if r + step <= top else r - step for r in requests]


def _free_indices(pattern: str, n: int, seed: int) -> Any:
    """Indices to free, as an array (no per-item int objects stay alive)."""
    import array
    import random

    if pattern == "free_all":
        return array.array("l", range(n))
    if pattern == "free_every_2nd":
        return array.array("l", range(1, n, 2))
    if pattern == "keep_1_in_1000":
        return array.array("l", (i for i in range(n) if i % 1000))
    if pattern == "free_random_half":
        order = array.array("l", range(n))
        random.Random(seed).shuffle(order)
        return order[: n // 2]
    raise HarnessError("unknown pattern %r (choose from %s)" % (pattern, ", ".join(PATTERNS)))


def child_workload(pattern: str, requests: List[int], n: int, seed: int = 0) -> Dict[str, Any]:
    """Allocate n bytes objects (requests cycled), free them in ``pattern``, refill; snapshot each step."""
    st0 = _stats()
    pymalloc = st0 is not None and st0.is_pymalloc
    allocator = st0.allocator if st0 is not None else "unknown"
    lengths = _lengths(requests)
    other = _other_requests(requests, st0)
    other_lengths = _lengths(other)
    header = sys.getsizeof(b"")
    blocks = [st0.size_class(header + ln) for ln in lengths] if pymalloc else []
    other_blocks = [st0.size_class(header + ln) for ln in other_lengths] if pymalloc else []
    k = len(lengths)
    free_idx = _free_indices(pattern, n, seed)
    nfree = len(free_idx)
    objs: List[Any] = [None] * n
    refill: List[Any] = [None] * nfree
    rec = _Recorder(STEPS, blocks + other_blocks)
    size = sys.getsizeof
    rec.snap("start", 0, 0)

    for i in range(n):
        objs[i] = bytes(lengths[i % k])
    rec.snap("allocated", n, sum(size(o) for o in objs))

    for i in free_idx:
        objs[i] = None
    live = sum(size(o) for o in objs if o is not None)
    rec.snap("freed", n - nfree, live)

    trimmed = memory.malloc_trim()
    rec.snap("trimmed", n - nfree, live)

    for j in range(nfree):
        refill[j] = bytes(lengths[j % k])
    rec.snap("refill_same", n, live + sum(size(o) for o in refill))
    for j in range(nfree):
        refill[j] = None
    for j in range(nfree):
        refill[j] = bytes(other_lengths[j % k])
    rec.snap("refill_other", n, live + sum(size(o) for o in refill))

    return {
        "allocator": allocator,
        "pattern": pattern,
        "requests": list(requests),
        "other_requests": other,
        "blocks": blocks,
        "other_blocks": other_blocks,
        "n": n,
        "freed": nfree,
        "malloc_trim": trimmed,
        "steps": rec.rows(),
    }


def _cpp_blockset() -> Any:
    """``harness._containers.BlockSet``; BackendMissing where it is not built."""
    from harness.errors import BackendMissing

    try:
        from harness import _containers
    except ImportError as exc:
        raise BackendMissing("the C++ extension harness._containers", str(exc), "pip install -e .") from None
    cls = getattr(_containers, "BlockSet", None)
    if cls is None:
        raise BackendMissing("harness._containers.BlockSet", "this build of the extension has no BlockSet",
                             "pip install --no-build-isolation -e .")
    return cls


def _cpp_apply(bs: Any, pattern: str, seed: int) -> None:
    if pattern == "free_all":
        bs.free_all()
    elif pattern == "free_every_2nd":
        bs.free_every(2, 1)
    elif pattern == "keep_1_in_1000":
        bs.keep_one_in(1000)
    elif pattern == "free_random_half":
        bs.free_random(0.5, seed)
    else:
        raise HarnessError("unknown pattern %r (choose from %s)" % (pattern, ", ".join(PATTERNS)))


def _cpp_snapshot(step: str, sets: List[Any]) -> Dict[str, Any]:
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
    BlockSet = _cpp_blockset()
    k = len(requests)
    counts = [n // k + (1 if j < n % k else 0) for j in range(k)]
    other = list(other_requests or _other_requests(requests, None))
    steps = [_cpp_snapshot("start", [])]
    sets = [BlockSet(r, c) for r, c in zip(requests, counts)]
    steps.append(_cpp_snapshot("allocated", sets))
    for s in sets:
        _cpp_apply(s, pattern, seed)
    steps.append(_cpp_snapshot("freed", sets))
    trimmed = memory.malloc_trim()
    steps.append(_cpp_snapshot("trimmed", sets))
    freed = [c - s.live() for s, c in zip(sets, counts)]
    refill = [BlockSet(r, f) for r, f in zip(requests, freed)]
    steps.append(_cpp_snapshot("refill_same", sets + refill))
    del refill[:]
    refill = [BlockSet(r, f) for r, f in zip(other, freed)]
    steps.append(_cpp_snapshot("refill_other", sets + refill))
    return {
        "allocator": "c++",
        "pattern": pattern,
        "requests": list(requests),
        "other_requests": other,
        "blocks": [],
        "n": n,
        "freed": sum(freed),
        "malloc_trim": trimmed,
        "steps": steps,
    }


def _mode(values: Sequence[int]) -> Optional[int]:
    if not values:
        return None
    return Counter(values).most_common(1)[0][0]


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
    run_lengths = []
    count = 1
    for d in diffs:
        if d == stride:
            count += 1
        else:
            run_lengths.append(count)
            count = 1
    run_lengths.append(count)
    pool = _mode([b - a for a, b in zip(starts, starts[1:]) if b > a])
    if not pool:
        return {"stride": stride, "blocks_per_pool": max(run_lengths)}
    header = _mode([s % pool for s in starts])
    chains = []
    chain = 1
    for a, b in zip(starts, starts[1:]):
        if b - a == pool:
            chain += 1
        else:
            chains.append(chain)
            chain = 1
    chains.append(chain)
    long_chains = [c for c in chains if c > 1]
    counts = Counter(long_chains)
    top = max(counts.values()) if counts else 0
    return {
        "stride": stride,
        "blocks_per_pool": _mode(run_lengths),
        "pools_seen": len(starts),
        "pool_size": pool,
        "pool_header": header,
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
    (length,) = _lengths([request])
    objs: List[Any] = [None] * n
    for i in range(n):
        objs[i] = bytes(length)
    addrs = array.array("Q", map(id, objs))
    st1 = _stats()
    block = st0.size_class(sys.getsizeof(objs[0]))
    before = {c.size: c.blocks_in_use for c in st0.size_classes}
    after = {c.size: c.blocks_in_use for c in st1.size_classes} if st1 else {}
    out.update(st0.summary())
    out.update(
        request=sys.getsizeof(objs[0]),
        block=block,
        n=n,
        class_blocks_added=after.get(block, 0) - before.get(block, 0),
        blocks_bytes_added=(st1.bytes_in_allocated_blocks - st0.bytes_in_allocated_blocks) if st1 else None,
        probe=probe_layout(addrs),
    )
    return out


# ==========================================================================
# Parent side: interpreters


# ==========================================================================
# Parent side: measurements


def objects_label(size: Any) -> str:
    return "mixed %d-%d B" % (min(MIXED_SIZES), max(MIXED_SIZES)) if size == MIXED else "%d B" % int(size)


def _requests(size: Any) -> List[int]:
    return list(MIXED_SIZES) if size == MIXED else [int(size)]


def geometry(python: Optional[str] = None) -> Dict[str, Any]:
    """Parsed pymalloc geometry (and the address probe) of one interpreter, in a fresh child."""
    return children.run_child("harness.allocator:child_geometry", {}, python=python, env={"PYTHONMALLOC": "pymalloc"})


def run_workload(pattern: str, size: Any = DEFAULT_SIZE, n: int = DEFAULT_N, *, allocator: str = "pymalloc",
                 python: Optional[str] = None, seed: int = 0) -> Dict[str, Any]:
    """One workload in a fresh child: the result of child_workload (or child_cpp_workload for 'c++')."""
    if pattern not in PATTERNS:
        raise HarnessError("unknown pattern %r (choose from %s)" % (pattern, ", ".join(PATTERNS)))
    if allocator not in ALLOCATORS:
        raise HarnessError("unknown allocator %r (choose from %s)" % (allocator, ", ".join(ALLOCATORS)))
    if n < 1000:
        raise HarnessError("n = %d is too small: keep_1_in_1000 needs at least 1000 objects" % n)
    requests = _requests(size)
    memory.check_fits(2.5 * n * (max(requests) + 48) + 64 * MiB, "allocator workload of %d objects" % n)
    kwargs = {"pattern": pattern, "requests": requests, "n": n, "seed": seed}
    if allocator == "c++":
        return children.run_child("harness.allocator:child_cpp_workload", kwargs, python=None)
    return children.run_child("harness.allocator:child_workload", kwargs, python=python,
                             env={"PYTHONMALLOC": allocator})


def cpp_missing() -> Optional[str]:
    """None when the C++ BlockSet is usable here, else why not (with the install command)."""
    try:
        _cpp_blockset()
    except HarnessError as exc:
        return str(exc)
    return None


def _step_rows(res: Dict[str, Any], python: str, size: Any) -> List[Dict[str, Any]]:
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
            "python": python,
            "allocator": allocator,
            "objects": objects_label(size),
            "block": res["blocks"][0] if len(res["blocks"]) == 1 else None,
            "pattern": res["pattern"],
            "step": s["step"],
            "n": res["n"],
            "live_objects": s["live_objects"],
            "live_bytes": live,
            "rss": s["rss"],
            "rss_delta": s["rss"] - start["rss"],
            "arenas": s.get("arenas"),
            "arena_bytes": s.get("arena_bytes"),
            "blocks_bytes": s.get("blocks_bytes"),
            "avail_bytes": s.get("avail_bytes"),
            "unused_pools": s.get("unused_pools"),
            "malloc_held": s.get("malloc_held"),
            "cpp_allocated": s.get("cpp_allocated"),
            "held_delta": held,
            "ratio": (held / live) if (held is not None and live > 0) else None,
        })
    return rows


def _geometry_row(g: Dict[str, Any]) -> Dict[str, Any]:
    p = g.get("probe") or {}
    return {
        "python": g["python"],
        "allocator": g["allocator"],
        "arena_size": g.get("arena_size"),
        "pool_size": g.get("pool_size"),
        "pool_header": g.get("pool_header_size"),
        "class_step": g.get("alignment"),
        "threshold": g.get("small_block_threshold"),
        "request": g.get("request"),
        "block": g.get("block"),
        "probe_stride": p.get("stride"),
        "probe_pool": p.get("pool_size"),
        "probe_header": p.get("pool_header"),
        "probe_pools_per_arena": p.get("pools_per_arena"),
        "class_blocks_added": g.get("class_blocks_added"),
        "n": g.get("n"),
    }


def measure_all(
    pythons: Optional[Sequence[str]] = None,
    *,
    allocators: Sequence[str] = ALLOCATORS,
    sizes: Sequence[Any] = (DEFAULT_SIZE, MIXED),
    patterns: Sequence[str] = PATTERNS,
    n: int = DEFAULT_N,
    seed: int = 0,
    jobs: Optional[int] = None,
    progress: Any = None,
) -> Dict[str, Any]:
    """Run every workload under every interpreter; each in a fresh child, ``jobs`` at a time.

    Returns {"steps": DataFrame (one row per step), "geometry": DataFrame (one
    row per interpreter), "geometry_raw": [dict], "notes": [str], "options": the
    allocators, sizes, n and seed measured}.
    """
    import pandas as pd
    from concurrent.futures import ThreadPoolExecutor, as_completed

    interps, notes = find_interpreters(pythons)
    for a in allocators:
        if a not in ALLOCATORS:
            raise HarnessError("unknown allocator %r (choose from %s)" % (a, ", ".join(ALLOCATORS)))
    for p in patterns:
        if p not in PATTERNS:
            raise HarnessError("unknown pattern %r (choose from %s)" % (p, ", ".join(PATTERNS)))
    for s in sizes:
        if s != MIXED and (not isinstance(s, int) or s < 35 or s > 4096):
            raise HarnessError("object size %r: give a request size in bytes (35 to 4096) or 'mixed'" % (s,))
    if n < 1000:
        raise HarnessError("n = %d is too small: keep_1_in_1000 needs at least 1000 objects" % n)
    biggest = max(max(_requests(s)) for s in sizes)
    jobs = max(1, jobs or min(2, os.cpu_count() or 1))
    memory.check_fits(jobs * (2.5 * n * (biggest + 48) + 64 * MiB), "%d allocator workloads of %d objects at once" % (jobs, n))

    cpp_reason = cpp_missing() if "c++" in allocators else None
    if cpp_reason:
        notes.append("C++ column skipped: %s" % cpp_reason)
    tasks: List[Tuple[str, Callable[[], Any], Dict[str, Any]]] = []
    for it in interps:
        tasks.append(("geometry %s" % it.version, (lambda it=it: geometry(it.path)), {"kind": "geometry"}))
        for alloc in allocators:
            if alloc == "c++":
                continue
            for size in sizes:
                for pat in patterns:
                    tasks.append((
                        "%s %s %s %s" % (it.version, alloc, objects_label(size), pat),
                        (lambda it=it, alloc=alloc, size=size, pat=pat:
                         run_workload(pat, size, n, allocator=alloc, python=it.path, seed=seed)),
                        {"kind": "workload", "python": it.version, "size": size},
                    ))
    if "c++" in allocators and not cpp_reason:
        for size in sizes:
            for pat in patterns:
                tasks.append((
                    "C++ %s %s" % (objects_label(size), pat),
                    (lambda size=size, pat=pat: run_workload(pat, size, n, allocator="c++", seed=seed)),
                    {"kind": "workload", "python": "C++", "size": size},
                ))
    if progress is not None:
        progress.total = len(tasks)

    rows: List[Dict[str, Any]] = []
    geo_rows: List[Dict[str, Any]] = []
    failures: List[str] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(fn): (name, info) for name, fn, info in tasks}
        try:
            for fut in as_completed(futures):
                name, info = futures[fut]
                if progress is not None:
                    progress.step(name)
                try:
                    res = fut.result()
                except ChildError as exc:
                    failures.append("%s failed: %s" % (name, exc))
                    continue
                if info["kind"] == "geometry":
                    geo_rows.append(res)
                else:
                    rows.extend(_step_rows(res, info["python"], info["size"]))
        except BaseException:
            for f in futures:
                f.cancel()
            children.stop_children()  # those of the other threads too: the pool waits for them
            raise
    notes.extend(failures)
    if tasks and len(failures) == len(tasks):
        raise ChildError("every allocator workload failed; first: %s" % failures[0])
    order = {v.version: i for i, v in enumerate(interps)}
    order["C++"] = len(order)
    steps = pd.DataFrame(rows)
    if len(steps):
        steps["_o"] = steps["python"].map(order)
        steps["_a"] = steps["allocator"].map({a: i for i, a in enumerate(ALLOCATORS)})
        steps["_s"] = steps["step"].map({s: i for i, s in enumerate(STEPS)})
        steps["_p"] = steps["pattern"].map({p: i for i, p in enumerate(PATTERNS)})
        steps["_z"] = steps["objects"].map({objects_label(s): i for i, s in enumerate(sizes)})
        steps = steps.sort_values(["_o", "_a", "_z", "_p", "_s"]).drop(columns=["_o", "_a", "_s", "_p", "_z"])
        steps = steps.reset_index(drop=True)
    geo = pd.DataFrame([_geometry_row(g) for g in geo_rows])
    if len(geo):
        geo["_o"] = geo["python"].map(order)
        geo = geo.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    return {"steps": steps, "geometry": geo, "notes": notes, "geometry_raw": geo_rows,
            "options": {"allocators": list(allocators), "sizes": list(sizes), "n": n, "seed": seed}}


_SHORT = {"allocated": "alloc", "freed": "freed", "trimmed": "trim", "refill_same": "same", "refill_other": "other"}


def retention_table(steps: "Any") -> "Any":
    """One row per (python, allocator, objects, pattern): arenas and RSS after each step, retained/live."""
    import pandas as pd

    out = []
    keys = ["python", "allocator", "objects", "pattern"]
    for key, g in steps.groupby(keys, sort=False):
        by = {r["step"]: r for r in g.to_dict(orient="records")}
        row = dict(zip(keys, key))
        row["block"] = by["start"]["block"]
        for s in ("start",) + tuple(_SHORT):
            name = _SHORT.get(s, s)
            a = by.get(s, {}).get("arenas")
            row["arenas_" + name] = a if a is not None and a == a else None
        for s, name in _SHORT.items():
            row["rss_" + name] = by[s]["rss_delta"] / MiB if s in by else None
        row["ratio"] = by["freed"]["ratio"] if "freed" in by else None
        out.append(row)
    return pd.DataFrame(out)


# ==========================================================================
# Verdicts


def _pick(table: Any, python: str, allocator: str, objects: str, pattern: str) -> Optional[Dict[str, Any]]:
    sel = table[(table["python"] == python) & (table["allocator"] == allocator)
                & (table["objects"] == objects) & (table["pattern"] == pattern)]
    return sel.iloc[0].to_dict() if len(sel) else None


def _kib(n: Any) -> str:
    return units.format_bytes(n)


def judge_version(python: str, geo: Optional[Dict[str, Any]], table: Any, objects: str) -> List[Dict[str, str]]:
    """Verdict rows (python, claim, verdict, evidence) for one interpreter, from this run's figures."""
    out: List[Dict[str, str]] = []

    def add(key: str, verdict: str, evidence: str) -> None:
        out.append({"python": python, "claim": CLAIMS[key], "verdict": verdict, "evidence": evidence})

    if geo and geo.get("arena_size"):
        probe = geo.get("probe") or {}
        ppa, ps = probe.get("pools_per_arena"), probe.get("pool_size")
        probe_txt = ""
        if ppa and ps:
            probe_txt = "; addresses: %d fresh pools of %s follow each other in one arena" % (ppa, _kib(ps))
        add("arena", "confirmed" if geo["arena_size"] == FOLKLORE_ARENA else "refuted",
            "arena = %s (%d B, read from sys._debugmallocstats)%s" % (_kib(geo["arena_size"]), geo["arena_size"], probe_txt))
        add("pool", "confirmed" if geo["pool_size"] == FOLKLORE_POOL else "refuted",
            "pool = %s (%d B; addresses: consecutive fresh pools %s B apart), %d pools per arena, %s header"
            % (_kib(geo["pool_size"]), geo["pool_size"], ps, geo["arena_size"] // geo["pool_size"],
               _kib(geo.get("pool_header_size") or 0)))
        stride, block, added, nobj = probe.get("stride"), geo.get("block"), geo.get("class_blocks_added"), geo.get("n")
        fixed = stride == block and added is not None and nobj and added >= 0.99 * nobj
        add("blocks", "confirmed" if fixed else "refuted",
            "%d objects of %d B requested: +%s blocks in the %s B class, blocks %s B apart in each pool; "
            "classes step by %s B up to %s B" % (nobj or 0, geo.get("request") or 0, added, block, stride,
                                                  geo.get("alignment"), geo.get("small_block_threshold")))
    elif geo:
        for key in ("arena", "pool", "blocks"):
            add(key, "inconclusive", "no pymalloc statistics: the interpreter runs %s" % geo.get("allocator"))

    half = _pick(table, python, "pymalloc", objects, "free_every_2nd")
    if half and half["arenas_alloc"] is not None:
        grew = half["arenas_same"] - half["arenas_freed"]
        add("reuse", "confirmed" if half["arenas_same"] <= half["arenas_alloc"] + 1 else "refuted",
            "free every 2nd: arenas %d -> %d -> %d; as many same-size objects again: %d arenas (%+d)"
            % (half["arenas_start"], half["arenas_alloc"], half["arenas_freed"], half["arenas_same"], grew))
    alla = _pick(table, python, "pymalloc", objects, "free_all")
    keep = _pick(table, python, "pymalloc", objects, "keep_1_in_1000")
    if alla and keep and alla["arenas_alloc"] is not None:
        used = max(alla["arenas_alloc"] - alla["arenas_start"], 1)
        given_back = alla["arenas_freed"] - alla["arenas_start"] <= max(1, 0.1 * used)
        pinned = keep["arenas_freed"] >= 0.9 * keep["arenas_alloc"]
        verdict = {(True, True): "partly", (False, True): "confirmed", (True, False): "refuted"}.get(
            (given_back, pinned), "inconclusive")
        evidence = ("free all: arenas %d -> %d -> %d (RSS %+.1f MiB after free); keep 1 in 1000: %d -> %d -> %d "
                    "(RSS %+.1f MiB, retained/live %.0fx)"
                    % (alla["arenas_start"], alla["arenas_alloc"], alla["arenas_freed"],
                       alla["rss_freed"] - alla["rss_alloc"], keep["arenas_start"], keep["arenas_alloc"],
                       keep["arenas_freed"], keep["rss_freed"] - keep["rss_alloc"], keep["ratio"] or float("nan")))
        mkeep = _pick(table, python, "malloc", objects, "keep_1_in_1000")
        if mkeep:
            evidence += ("; PYTHONMALLOC=malloc, keep 1 in 1000: RSS %.1f MiB above start after the free, %.1f after "
                         "malloc_trim(0)" % (mkeep["rss_freed"], mkeep["rss_trim"]))
        add("kept", verdict, evidence)
    if half and half["arenas_alloc"] is not None:
        used = max(half["arenas_alloc"] - half["arenas_start"], 1)
        extra = half["arenas_other"] - half["arenas_alloc"]
        evidence = ("free every 2nd, then as many objects one class larger: arenas %d -> %d (%+d, %.0f%% of the "
                    "workload's %d) where the same size needed %+d"
                    % (half["arenas_alloc"], half["arenas_other"], extra, 100.0 * extra / used, used,
                       half["arenas_same"] - half["arenas_alloc"]))
        if alla and alla["arenas_alloc"] is not None:
            evidence += "; after free all, the larger class fits in %d arenas" % alla["arenas_other"]
        add("buildup", "confirmed" if extra >= 0.3 * used else "refuted", evidence)
    mall = _pick(table, python, "malloc", objects, "free_all")
    mhalf = _pick(table, python, "malloc", objects, "free_every_2nd")
    if mall and mhalf:
        held_all = mall["rss_freed"]
        held_half = mhalf["rss_freed"]
        trimmed = mhalf["rss_trim"]
        keeps = held_half > 0.3 * mhalf["rss_alloc"] and held_all > 0.3 * mall["rss_alloc"]
        released = trimmed < 0.7 * held_half or mall["rss_trim"] < 0.7 * held_all
        verdict = "confirmed" if keeps and released else ("partly" if keeps else "refuted")
        add("glibc", verdict,
            "RSS above start (MiB): free all %.1f -> %.1f -> trim %.1f; free every 2nd %.1f -> %.1f -> trim %.1f"
            % (mall["rss_alloc"], held_all, mall["rss_trim"], mhalf["rss_alloc"], held_half, trimmed))
    return out


def _overall(rows: List[Dict[str, str]]) -> List[Any]:
    """One Verdict per claim over all versions; each group of versions with its last version's figures."""
    from harness.output import Verdict

    verdicts = []
    for key, claim in CLAIMS.items():
        mine = [r for r in rows if r["claim"] == claim]
        if not mine:
            continue
        kinds = list(dict.fromkeys(r["verdict"] for r in mine))
        parts = []
        for k in kinds:
            vs = [r for r in mine if r["verdict"] == k]
            where = ", ".join(r["python"] for r in vs)
            figures = vs[-1]["evidence"] if len(vs) == 1 else "%s: %s" % (vs[-1]["python"], vs[-1]["evidence"])
            parts.append("%son %s (%s)" % ("" if len(kinds) == 1 else k + " ", where, figures))
        verdicts.append(Verdict(claim, kinds[0] if len(kinds) == 1 else "partly", "; ".join(parts), topic="allocator"))
    return verdicts


def verdict_table(rows: List[Dict[str, str]]) -> Any:
    """Claims down, versions across, the verdict in each cell."""
    import pandas as pd

    pythons = list(dict.fromkeys(r["python"] for r in rows))
    out = []
    for claim in CLAIMS.values():
        cells = {r["python"]: r["verdict"] for r in rows if r["claim"] == claim}
        if cells:
            row = {"claim": claim}
            row.update({py: cells.get(py, "") for py in pythons})
            out.append(row)
    return pd.DataFrame(out, columns=["claim"] + pythons)


# ==========================================================================
# CLI


def add_arguments(parser: Any) -> None:
    from harness.argtypes import choices_list, count

    parser.add_argument("--python", action="append", metavar="VERSION|PATH",
                        help="interpreter(s) to run: 3.8, 3.12.1, a path, 'current' (default) or 'all'; "
                             "repeat or separate with commas")
    parser.add_argument("--n", type=count, default=DEFAULT_N, help="objects per workload (default %d)" % DEFAULT_N)
    parser.add_argument("--objects", type=_objects_list, default=[DEFAULT_SIZE, MIXED], metavar="SIZES",
                        help="request sizes in bytes and/or 'mixed', comma-separated (default: %d,mixed)" % DEFAULT_SIZE)
    parser.add_argument("--patterns", type=choices_list(list(PATTERNS), "pattern"), default=list(PATTERNS),
                        help="free patterns (default: all): %s" % ", ".join(PATTERNS))
    parser.add_argument("--allocators", type=choices_list(list(ALLOCATORS), "allocator"), default=list(ALLOCATORS),
                        help="allocators (default: all): %s" % ", ".join(ALLOCATORS))
    parser.add_argument("--jobs", "-j", type=count, default=None, help="child processes at once (default: 2 or fewer)")
    parser.add_argument("--seed", type=int, default=0, help="seed of free_random_half (default 0)")
    parser.add_argument("--steps", action="store_true",
                        help="also print the long tables: one row per step, and the evidence per claim and version")


def _objects_list(text: str) -> List[Any]:
    import argparse

    out: List[Any] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if part == MIXED:
            out.append(MIXED)
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is neither a size in bytes nor 'mixed'" % part) from None
        if not 35 <= value <= 4096:
            raise argparse.ArgumentTypeError("request size %d B out of range (35 to 4096; pymalloc serves up to 512)" % value)
        out.append(value)
    if not out:
        raise argparse.ArgumentTypeError("empty list")
    return out


def run_topic(pythons: Optional[Sequence[str]] = None, *, include_steps: bool = False, **options: Any) -> Any:
    """measure_all(pythons, **options), then the tables and verdicts of ``memharness allocator``: a TopicResult."""
    import pandas as pd

    from harness.output import TopicResult

    res = measure_all(pythons, **options)
    steps, geo = res["steps"], res["geometry"]
    allocators, sizes = res["options"]["allocators"], res["options"]["sizes"]
    n, seed = res["options"]["n"], res["options"]["seed"]
    table = retention_table(steps) if len(steps) else pd.DataFrame()
    single = [s for s in sizes if s != MIXED]
    judged_objects = objects_label(single[0]) if single else objects_label(MIXED)
    vrows: List[Dict[str, str]] = []
    for g in res["geometry_raw"]:
        vrows.extend(judge_version(g["python"], g, table, judged_objects) if len(table) else [])
    seen = {g["python"] for g in res["geometry_raw"]}
    if len(table):
        for py in table["python"].unique():
            if py not in seen and py != "C++":
                vrows.extend(judge_version(py, None, table, judged_objects))
    tables = {"geometry": geo, "retention": table, "verdicts": verdict_table(vrows)}
    if include_steps:
        tables["steps"] = steps
        tables["evidence"] = pd.DataFrame(vrows, columns=["python", "claim", "verdict", "evidence"])
    notes = list(res["notes"])
    notes.append("verdicts judge the %s workload of %d objects, pymalloc rows (glibc claim: malloc rows)"
                 % (judged_objects, n))
    notes.append("arenas_*: pymalloc arenas after each step; rss_*: MiB above the start; ratio: bytes held by the "
                 "allocator above the start / bytes requested by live objects, after the free")
    if "c++" in allocators and not any("C++ column skipped" in x for x in notes):
        notes.append("C++ rows: python 'C++' = BlockSet through the counting allocator (glibc), run once "
                     "in the current interpreter")
    meta = {"n": n, "pythons": [g["python"] for g in res["geometry_raw"]], "seed": seed}
    return TopicResult("allocator", tables, _overall(vrows), notes, meta)


def _split(values: Optional[Sequence[str]]) -> Optional[List[str]]:
    if not values:
        return None
    specs = [p.strip() for v in values for p in v.split(",")]
    if "" in specs:
        raise HarnessError("--python: an empty name (give a version such as 3.8, a path, 'current' or 'all')")
    return list(dict.fromkeys(specs))


def run(args: Any) -> Any:
    from harness.core.progress import Progress

    with Progress(0, "allocator", enabled=not args.quiet) as progress:
        return run_topic(_split(args.python), allocators=args.allocators, sizes=args.objects,
                         patterns=args.patterns, n=args.n, seed=args.seed, jobs=args.jobs,
                         include_steps=args.steps, progress=progress)


def plot(result: Any, path: str) -> None:
    """RSS above the start over the steps, one panel per pattern, one line per version and allocator."""
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    table = result.tables.get("retention")
    if table is None or not len(table):
        raise HarnessError("nothing to plot: the run measured no workload")
    objects = table["objects"].iloc[0]
    table = table[table["objects"] == objects]
    patterns = [p for p in PATTERNS if p in set(table["pattern"])]
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.2 * len(patterns), 3.8), sharey=True, squeeze=False)
    names = ["start"] + list(_SHORT.values())
    pythons = list(dict.fromkeys(table["python"]))
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    styles = {"pymalloc": "-", "malloc": "--", "c++": ":"}
    for ax, pat in zip(axes[0], patterns):
        for _, row in table[table["pattern"] == pat].iterrows():
            ys = [0.0] + [row["rss_" + s] for s in _SHORT.values()]
            color = "black" if row["python"] == "C++" else colors[pythons.index(row["python"]) % len(colors)]
            label = "C++ (glibc)" if row["python"] == "C++" else "%s %s" % (row["python"], row["allocator"])
            ax.plot(names, ys, styles.get(row["allocator"], "-"), color=color, marker="o", ms=3, label=label)
        ax.set_title(pat)
        ax.set_xlabel("step")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RSS above start (MiB)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.suptitle("pymalloc retention: %s objects" % objects)
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    save_figure(fig, path)
    plt.close(fig)
