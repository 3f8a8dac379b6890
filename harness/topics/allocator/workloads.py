"""What the allocator topic builds and frees: the objects, the free patterns, the steps, the C++ backend.

N bytes objects of one request size (or of five size classes, "mixed") are allocated, then freed
in one of four patterns (all; every 2nd; all but 1 in 1000; a random half); after the free,
``malloc_trim(0)``; then as many objects as were freed come back, of the same size (reuse) and
one size class larger (other pools needed). The same runs under ``PYTHONMALLOC=malloc``, and the
same number of same-sized blocks through the C++ counting allocator (``harness._containers.BlockSet``).

Standard library only and CPython 3.8 syntax: child processes of every interpreter import it.
"""
from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence, Union

from harness.errors import HarnessError

PATTERNS = ("free_all", "free_every_2nd", "keep_1_in_1000", "free_random_half")
STEPS = ("start", "allocated", "freed", "trimmed", "refill_same", "refill_other")
ALLOCATORS = ("pymalloc", "malloc", "c++")
DEFAULT_N = 100_000
DEFAULT_SIZE = 64  # bytes requested per object (a bytes object of 64 - 33 = 31 bytes)
MIXED = "mixed"
MIXED_SIZES = (48, 96, 176, 304, 496)  # requests in five different size classes
MIN_SIZE, MAX_SIZE = 35, 4096  # request sizes --objects takes (pymalloc serves up to 512)
MIN_N = 1000  # keep_1_in_1000 needs at least 1000 objects
PROBE_REQUEST = 50  # an odd request, to show the rounding up to a fixed block size
FOLKLORE_ARENA = 256 * 1024
FOLKLORE_POOL = 4 * 1024
MiB = 1024.0 * 1024.0

Size = Union[int, str]  # a request size in bytes, or MIXED


def objects_label(size: Size) -> str:
    """The workload's objects in words: "64 B", "mixed 48-496 B"."""
    return "mixed %d-%d B" % (min(MIXED_SIZES), max(MIXED_SIZES)) if size == MIXED else "%d B" % int(size)


def requests(size: Size) -> List[int]:
    """The request sizes a workload cycles through."""
    return list(MIXED_SIZES) if size == MIXED else [int(size)]


def judged_size(sizes: Sequence[Size]) -> Size:
    """The workload the verdicts judge: the first single request size of the run, else the mixed one."""
    single = [s for s in sizes if s != MIXED]
    return single[0] if single else MIXED


def workload_estimate(size: Size, n: int) -> float:
    """Bytes one workload of ``n`` objects may take at its peak (objects, refills, the child itself)."""
    return 2.5 * n * (max(requests(size)) + 48) + 64 * MiB


def unknown(what: str, name: str, allowed: Sequence[str]) -> HarnessError:
    return HarnessError("unknown %s %r (choose from %s)" % (what, name, ", ".join(allowed)))


def min_request() -> int:
    return sys.getsizeof(b"") + 2  # bytes of length 0 and 1 are shared singletons


def lengths(reqs: Sequence[int]) -> List[int]:
    """The bytes lengths whose objects ask for ``reqs`` bytes each."""
    header = sys.getsizeof(b"")
    out = []
    for r in reqs:
        if r - header < 2:
            raise HarnessError("request size %d B is too small: bytes objects need at least %d B" % (r, min_request()))
        out.append(r - header)
    return out


def other_requests(reqs: Sequence[int], alignment: Optional[int], threshold: Optional[int]) -> List[int]:
    """Each request moved one size class up (down at the top): a class whose pools are not the freed ones."""
    step = alignment or 16
    top = threshold or 512
    return [r + step if r + step <= top else r - step for r in reqs]


def free_indices(pattern: str, n: int, seed: int) -> Any:
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
    raise unknown("pattern", pattern, PATTERNS)


# --------------------------------------------------------------------------
# The C++ backend: harness._containers.BlockSet, blocks through the counting allocator


def cpp_blockset() -> Any:
    """``harness._containers.BlockSet``; BackendMissing where it is not built."""
    from harness.core.optional import INSTALL
    from harness.errors import BackendMissing

    try:
        from harness import _containers
    except ImportError as exc:
        raise BackendMissing("the C++ extension harness._containers", str(exc), INSTALL["cpp"]) from None
    cls = getattr(_containers, "BlockSet", None)
    if cls is None:
        raise BackendMissing("harness._containers.BlockSet", "this build of the extension has no BlockSet",
                             INSTALL["cpp"])
    return cls


def cpp_free(blocks: Any, pattern: str, seed: int) -> None:
    """Free a BlockSet's blocks in ``pattern``."""
    if pattern == "free_all":
        blocks.free_all()
    elif pattern == "free_every_2nd":
        blocks.free_every(2, 1)
    elif pattern == "keep_1_in_1000":
        blocks.keep_one_in(1000)
    elif pattern == "free_random_half":
        blocks.free_random(0.5, seed)
    else:
        raise unknown("pattern", pattern, PATTERNS)
