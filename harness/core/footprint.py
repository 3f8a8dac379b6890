"""Build one value in this (fresh) process and measure what it retains: the one child-side
measurement behind the containers topic's Python side and ``memharness footprint``, so that the
same structure gives the same bytes through either.

Standard library only and CPython 3.8 syntax: children of other interpreters import it.
"""
from __future__ import annotations

import gc
import os
from typing import Any, Callable, Dict, Mapping, Optional

from harness.core import memory, retained

GUARD_FRACTION = 0.7  # of the memory free when the child starts
# glibc's per-thread cache (tcache) keeps up to 7 freed chunks of each size up to 1032 bytes, and
# mallinfo2 counts them as in use: a build that reallocs (a list growing by append) leaves some
# of its old chunks there, and how many depends on how full each tcache bin was before the build
# (what the child imported, what its setup freed). With the cache off, freed chunks go back to
# glibc's bins, which mallinfo2 counts as free: "allocated" is then the structure's own chunks,
# the same to the byte whatever ran before it.
TUNABLES = "glibc.malloc.tcache_count=0"


def measure_env(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment a measuring child adds to its parent's (``run_child(env=...)``): glibc's
    tcache off (see TUNABLES), after any GLIBC_TUNABLES of the user's."""
    current = (os.environ if environ is None else environ).get("GLIBC_TUNABLES", "")
    return {"GLIBC_TUNABLES": current + ":" + TUNABLES if current else TUNABLES}


def limit_address_space(fraction: float = GUARD_FRACTION) -> Optional[int]:
    """The memory guard inside a child: cap its address space at what it maps now plus ``fraction``
    of the memory free now, so that a build asking for more gets MemoryError instead of the OOM
    killer (or swap). Returns the cap in bytes, None where it cannot be set."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * memory.PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
    cap = mapped + int(fraction * memory.available_memory())
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft < cap:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        return None
    return cap


def measure_build(build: Callable[[], Any], *, estimate: float = 0.0, what: str = "the build") -> Dict[str, Any]:
    """Measure ``build()``'s result with ``retained.measure_retained``, after the same preparation
    on every path: the guard (``estimate`` bytes refused up front when given; the address space
    capped either way, see limit_address_space) and a full collection.

    Whatever must be imported or made for the build (numpy, the setup of a statement) is done
    by the caller before this is called, so it is not counted. The child should run with
    ``measure_env()`` for its allocated bytes not to depend on what ran before the build.
    """
    if estimate:
        memory.check_fits(estimate, what)
    limit_address_space()
    gc.collect()
    return retained.measure_retained(build)
