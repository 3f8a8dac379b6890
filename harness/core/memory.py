"""Memory readers: RSS and its high-water mark, free memory (cgroups included), glibc's and
pymalloc's counters, and the retained and peak bytes of a structure.

Definitions (also in the README):

* requested bytes: bytes retained after building a structure, as counted by
  tracemalloc. tracemalloc records the sizes asked of Python's allocators, not
  pymalloc's 16-byte size classes, malloc headers, free pools or arenas.
* allocated bytes: what the allocators really hand out for the same structure:
  the growth of pymalloc's "bytes in allocated blocks" (``sys._debugmallocstats``)
  plus the growth of glibc's in-use bytes (``mallinfo2``: chunk sizes including
  headers, and mmapped chunks) for the requests pymalloc passes on to malloc.
* RSS growth: the resident set size gained by building the structure in a
  fresh child process; it includes everything (free pools, arena slack, pages).
* peak bytes: tracemalloc's peak during an operation, or the RSS high-water
  mark of a child process (``VmHWM``, reset through ``/proc/self/clear_refs``).

Standard library only and CPython 3.8 syntax: children of other interpreters import it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import sys
import tempfile
import tracemalloc
from typing import Any, Callable, Dict, List, Optional

from harness.core.units import format_bytes
from harness.errors import MemoryGuardError

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

def current_rss() -> int:
    """Resident set size of this process, in bytes."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_SIZE
    except OSError:
        import psutil  # not on Linux: fall back to psutil

        return int(psutil.Process().memory_info().rss)


def status_bytes(field: str) -> Optional[int]:
    """A size field of /proc/self/status ("VmHWM", "RssFile", ...) in bytes, or None where unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss() -> int:
    """High-water mark of the resident set size (VmHWM), in bytes."""
    hwm = status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). Returns False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _read_int(path: str) -> Optional[int]:
    """An integer file of /proc or /sys ('max' and unreadable files give None)."""
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_headroom(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> Optional[int]:
    """Bytes this process's cgroups let it (and its children) still take: the smallest
    ``limit - usage`` over its memory cgroup and every ancestor (v2: memory.max - memory.current;
    v1: memory.limit_in_bytes - memory.usage_in_bytes). None where no limit is set."""
    try:
        with open(proc) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best: Optional[int] = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2 unified hierarchy
            base, limit_f, usage_f = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_f, usage_f = os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        rel = path.strip("/")
        while True:
            folder = os.path.join(base, rel) if rel else base
            limit, usage = _read_int(os.path.join(folder, limit_f)), _read_int(os.path.join(folder, usage_f))
            if limit is not None and usage is not None and limit < 1 << 60:  # v1 says "no limit" as 2^63-4096
                best = limit - usage if best is None else min(best, limit - usage)
            if not rel:
                break
            rel = os.path.dirname(rel)
    return None if best is None else max(best, 0)


def available_memory() -> int:
    """Memory a workload can take now without swapping or being killed: the kernel's MemAvailable,
    capped by what this process's cgroups (a container, a systemd slice, a batch job) have left."""
    avail: Optional[int] = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        import psutil

        avail = int(psutil.virtual_memory().available)
    headroom = cgroup_headroom()
    return avail if headroom is None else min(avail, headroom)


def check_fits(need_bytes: float, what: str, fraction: float = 0.7) -> None:
    """Refuse, before anything is built, a workload that would not fit.

    ``need_bytes`` is the workload's own estimate of its peak; it must stay
    below ``fraction`` of the memory available now.
    """
    avail = available_memory()
    if need_bytes > fraction * avail:
        where = " (within this process's cgroup memory limit)" if cgroup_headroom() == avail else ""
        raise MemoryGuardError(
            "%s needs about %s but only %s is free%s (limit %d%% of free memory); "
            "choose a smaller size" % (what, format_bytes(need_bytes), format_bytes(avail), where, fraction * 100)
        )


# --------------------------------------------------------------------------
# glibc and pymalloc counters

_LIBC: "List[Optional[ctypes.CDLL]]" = []  # [the C library], or [None] when it cannot be loaded


def _get_libc() -> "Optional[ctypes.CDLL]":
    if not _LIBC:
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            _LIBC.append(ctypes.CDLL(name))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def malloc_in_use() -> Optional[int]:
    """Bytes glibc malloc has handed out and not got back (uordblks + hblkhd), or None."""
    info = malloc_info()
    return None if info is None else info["uordblks"] + info["hblkhd"]


def malloc_info() -> Optional[Dict[str, int]]:
    """glibc's ``mallinfo2()`` fields, in bytes (arena, hblkhd, uordblks, fordblks, keepcost, ...), or None.

    ``arena + hblkhd`` is what glibc holds from the OS (heap plus mmapped
    chunks); ``uordblks + hblkhd`` is what it has handed out.
    """
    libc = _get_libc()
    if not libc or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name in _MALLINFO2}


def malloc_trim() -> bool:
    """Ask glibc to give freed memory back to the OS (``malloc_trim(0)``)."""
    libc = _get_libc()
    if not libc or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


def capture_debugmallocstats() -> str:
    """The text ``sys._debugmallocstats()`` writes to file descriptor 2.

    It bypasses ``sys.stderr``, so fd 2 is pointed at a temporary file for the
    call. Returns '' where the interpreter has no such function.
    """
    if not hasattr(sys, "_debugmallocstats"):
        return ""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def pymalloc_reading() -> "tuple[str, Optional[int]]":
    """(the allocator that serves Python's objects, pymalloc's "bytes in allocated blocks").

    Both read from ``sys._debugmallocstats()`` by ``harness.core.mallocstats`` (lenient: a report of
    a format it does not know still yields the figure if the line is there): pymalloc, malloc
    (``PYTHONMALLOC=malloc``: every object is a glibc chunk), mimalloc, or unknown (no report).
    """
    from harness.core import mallocstats

    text = capture_debugmallocstats()
    if not text:
        return mallocstats.UNKNOWN, None
    try:
        stats = mallocstats.parse(text, strict=False)
    except mallocstats.UnknownFormatError:
        return mallocstats.UNKNOWN, None
    return stats.allocator, stats.bytes_in_allocated_blocks


def allocated_now() -> Dict[str, Any]:
    """Both allocator counters at this instant (after a full collection), and which allocator
    serves Python's objects."""
    gc.collect()
    allocator, blocks = pymalloc_reading()
    return {"pymalloc": blocks, "malloc": malloc_in_use(), "allocator": allocator}


def delta(after: Optional[int], before: Optional[int]) -> Optional[int]:
    """after - before, or None where either is unknown."""
    return None if after is None or before is None else after - before


def allocated_total(alloc_py: Optional[int], alloc_c: Optional[int], allocator: str) -> "tuple[Optional[int], str]":
    """(allocated bytes, "" or why not measured) from the growth of pymalloc's blocks and glibc's chunks:
    both under pymalloc, glibc's alone under the system allocator (every object is a chunk), None
    under another allocator (mimalloc maps its own memory: neither counter sees it) or without mallinfo2."""
    from harness.core import mallocstats

    if alloc_c is None:
        return None, "not measured: glibc's mallinfo2() is not available (another C library), so heap chunks cannot be counted"
    if allocator == mallocstats.MALLOC:
        return alloc_c, ""
    if allocator == mallocstats.PYMALLOC and alloc_py is not None:
        return alloc_c + alloc_py, ""
    what = ("an allocator sys._debugmallocstats() does not name" if allocator == mallocstats.UNKNOWN
            else mallocstats.describe_allocator(allocator))
    return None, "not measured: Python's objects are allocated by %s, which neither pymalloc's statistics " \
        "nor glibc's mallinfo2() count" % what


def measure_peak(operation: Callable[[], Any]) -> Dict[str, Any]:
    """Peak extra memory while ``operation()`` runs, in this process.

    tracemalloc peak (requested bytes above the start) and the RSS high-water
    mark above the RSS at the start (run in a child process for the latter to
    mean anything). The operation runs twice: untraced for RSS, traced for
    tracemalloc. Returns the operation's (second) result under "value".
    """
    gc.collect()
    rss0 = current_rss()
    reset_ok = reset_peak_rss()
    value = operation()
    hwm = peak_rss()
    del value
    gc.collect()
    value, traced = traced_peak(operation)
    return {
        "peak_requested": traced,
        "peak_rss": (hwm - rss0) if reset_ok else None,
        "value": value,
    }


def traced_peak(op: Callable[[], Any]) -> "tuple[Any, int]":
    """(``op()``'s result, tracemalloc's peak of requested bytes above the start while it ran)."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        value = op()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return value, peak - base
