"""Safety of ``harness._containers`` at the edges: memory exhaustion, absurd sizes, re-initialisation.

Each test here failed on the code before its fix (see the commit messages):

* memory exhausted at a thread's first C++ throw: MemoryError, not an abort of the interpreter
  (ld.so's "cannot allocate memory for thread-local data", exit status 127);
* sizes checked before allocating: every reserve / size-driven allocation is capped by physical
  memory, and a zero-width matrix buffer does not turn 0 bytes into gigabytes of empty rows;
* ``__init__`` / ``__setstate__`` on an instance that is already built raise instead of being ignored.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

c = pytest.importorskip("harness._containers")
np = pytest.importorskip("numpy")

PHYS = c.physical_memory()


def under_sanitizer():
    """ASan reserves terabytes of address space for its shadow memory: RLIMIT_AS and it cannot work."""
    return "asan" in os.environ.get("LD_PRELOAD", "") or c.build_info()["sanitizer"]


def run_child(code, tmp_path, *args, timeout=60):
    # from a scratch folder: the source tree's harness/ (no compiled extension) must not shadow the installed one
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(tmp_path))


# --------------------------------------------------------------------------
# 7. memory exhausted at the first C++ exception of a thread

# Builds each container with no limit, then lowers RLIMIT_AS (soft limit only, so that it can be
# raised again) to what the process maps now plus HEADROOM, far less than the conversion needs, and
# converts. The first MemoryError is the first C++ throw of the thread: it allocates libstdc++'s
# thread-local exception state, which aborted the process when that allocation failed. Imports
# nothing that may throw C++ exceptions (numpy) before the first case.
OOM_CHILD = """
import gc, resource, sys, threading
from harness import _containers as c

N = 2_000_000
HEADROOM = 16 << 20  # each conversion below needs at least twice as much
soft, hard = resource.getrlimit(resource.RLIMIT_AS)

def mapped():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")

def oom(name, make, convert):
    obj = make()
    resource.setrlimit(resource.RLIMIT_AS, (mapped() + HEADROOM, hard))
    try:
        convert(obj)
    except MemoryError:
        outcome = "MemoryError"
    else:
        outcome = "no error"
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    del obj
    gc.collect()
    print(name, outcome, flush=True)

big = range(10**6, 10**6 + N)  # no small ints: every element is a new int object
cases = {
    "IntVector.to_python": (lambda: c.IntVector(big), lambda v: v.to_python()),
    "FloatVector.to_python": (lambda: c.FloatVector(big), lambda v: v.to_python()),
    "StrVector.to_python": (lambda: c.StrVector("s%d" % i for i in range(N // 4)), lambda v: v.to_python()),
    "FloatMatrix.to_python": (lambda: c.FloatMatrix([[1.5] * 1000] * (N // 1000)), lambda v: v.to_python()),
    "FloatMatrix row": (lambda: c.FloatMatrix([[1.5] * N]), lambda v: v[0]),
    "RecordVector.to_python": (lambda: c.RecordVector((i, 1.5, 2.5, "r") for i in range(N // 8)),
                               lambda v: v.to_python()),
    "IntIntHashMap.to_python": (lambda: c.IntIntHashMap(zip(big[: N // 4], big[: N // 4])), lambda m: m.to_python()),
    "IntIntTreeMap.to_python": (lambda: c.IntIntTreeMap(zip(big[: N // 4], big[: N // 4])), lambda m: m.to_python()),
    "StrIntHashMap.to_python": (lambda: c.StrIntHashMap(("k%d" % i, i) for i in range(N // 8)),
                                lambda m: m.to_python()),
    "IntHashSet.to_python": (lambda: c.IntHashSet(big[: N // 2]), lambda s: s.to_python()),
    "IntVector.__getstate__": (lambda: c.IntVector(range(2 * N)), lambda v: v.__getstate__()),
}
if sys.argv[1:] == ["thread"]:
    # the first call into the extension, and its first throw, from a thread that never called it
    built = c.IntVector(big)  # in the main thread: the worker's first call is the conversion itself
    def work():
        try:
            oom("thread IntVector.to_python", lambda: built, lambda v: v.to_python())
        except BaseException as e:
            print("thread raised", type(e).__name__, e, flush=True)
    t = threading.Thread(target=work)
    t.start()
    t.join()
else:
    for name in sys.argv[1:]:
        oom(name, *cases[name])
print("done", flush=True)
"""

needs_rlimit = pytest.mark.skipif(under_sanitizer(), reason="RLIMIT_AS cannot work under AddressSanitizer "
                                  "(its shadow memory takes terabytes of address space)")


OOM_CASES = ["IntVector.to_python", "FloatVector.to_python", "StrVector.to_python", "FloatMatrix.to_python",
             "FloatMatrix row", "RecordVector.to_python", "IntIntHashMap.to_python", "IntIntTreeMap.to_python",
             "StrIntHashMap.to_python", "IntHashSet.to_python", "IntVector.__getstate__"]


@needs_rlimit
@pytest.mark.parametrize("case", OOM_CASES)
def test_memory_exhausted_in_conversions_raises_memory_error(case, tmp_path):
    # one process per case: what an earlier case leaves mapped (freed but kept by the allocators)
    # would serve the next one's conversion and blur its limit
    proc = run_child(OOM_CHILD, tmp_path, case)
    assert proc.returncode == 0, "exit status %s (127: ld.so could not allocate thread-local data)\n%s%s" % (
        proc.returncode, proc.stdout, proc.stderr[-3000:])
    assert proc.stdout.split("\n")[:2] == [case + " MemoryError", "done"], proc.stdout


@needs_rlimit
def test_memory_exhausted_in_a_new_thread_raises_memory_error(tmp_path):
    proc = run_child(OOM_CHILD, tmp_path, "thread")
    assert proc.returncode == 0, "exit status %s (127: ld.so could not allocate thread-local data)\n%s%s" % (
        proc.returncode, proc.stdout, proc.stderr[-3000:])
    assert proc.stdout.split("\n")[:2] == ["thread IntVector.to_python MemoryError", "done"], proc.stdout


# --------------------------------------------------------------------------
# 12. sizes are checked before anything is allocated


class Claims:
    """An empty iterable whose len() claims n items: the size hint drives the reserve."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(())


# What one element takes at the least: a hashed container's node (next pointer + value) and its
# bucket pointer; a vector's element. PHYS // less + 1 elements cannot fit in physical memory.
HASHED = [(c.IntIntHashMap, 8 + 16 + 8), (c.StrIntHashMap, 8 + 40 + 8), (c.IntHashSet, 8 + 8 + 8)]
VECTORS = [(c.IntVector, 8), (c.FloatVector, 8), (c.StrVector, 32), (c.RecordVector, 56), (c.FloatMatrix, 24)]


def over_physical_memory(element_bytes):
    return PHYS // element_bytes + 1


def assert_refused_before_allocating(cls, n):
    """reserve(n), and building from an iterable whose len() is n: MemoryError, nothing allocated."""
    before = c.global_counters()["requested"]
    with pytest.raises(MemoryError, match="physical memory"):
        cls().reserve(n)
    with pytest.raises(MemoryError, match="physical memory"):
        cls(Claims(n))
    assert c.global_counters()["requested"] == before


@pytest.mark.parametrize("cls, element_bytes", HASHED, ids=[h[0].__name__ for h in HASHED])
def test_hashed_reserve_counts_the_nodes_not_only_the_buckets(cls, element_bytes):
    # reserve(n) promises room for n elements: n nodes as well as n bucket pointers. The bucket array
    # alone (n * 8 bytes, about PHYS / 3 here) fitted, so reserve(n) was accepted and zeroed gigabytes.
    assert_refused_before_allocating(cls, over_physical_memory(element_bytes))
    obj = cls()
    obj.reserve(1000)
    assert obj.bucket_count() >= 1000


@pytest.mark.parametrize("cls, element_bytes", VECTORS, ids=[v[0].__name__ for v in VECTORS])
def test_vector_reserve_and_size_hints_are_capped(cls, element_bytes):
    assert_refused_before_allocating(cls, over_physical_memory(element_bytes))
    obj = cls()
    obj.reserve(10)
    assert obj.capacity() == 10


@pytest.mark.parametrize("cls", [c.IntVector, c.IntIntHashMap, c.IntHashSet])
def test_the_message_says_which_limit(cls):
    # 2**62 elements: beyond what the container type can address at all, before physical memory
    with pytest.raises(MemoryError, match=r"max_size\(\)"):
        cls().reserve(2**62)


def test_other_size_taking_entry_points_are_capped():
    with pytest.raises(MemoryError, match="physical memory"):
        c.RecordVector.from_objects(Claims(over_physical_memory(56)))
    with pytest.raises(MemoryError, match="physical memory"):
        c.FloatMatrix([Claims(over_physical_memory(8))])  # a row's size hint
    with pytest.raises(MemoryError, match="physical memory"):
        c.IntIntHashMap().rehash(over_physical_memory(8))
    with pytest.raises(MemoryError, match="physical memory"):
        c.BlockSet(1, over_physical_memory(32 + 8))
    with pytest.raises(MemoryError, match="physical memory"):
        c.usable_size(PHYS + 1)


@pytest.mark.parametrize("build", [c.FloatMatrix.from_buffer, c.FloatMatrix], ids=["from_buffer", "constructor"])
def test_zero_width_matrix_buffer_is_refused(build):
    # a (rows, 0) buffer holds 0 bytes; 10**7 empty rows would be 240 MB of C++ row objects
    # (10**8: 2.4 GB). With one column or more, the rows' overhead is at most 3x the data.
    with pytest.raises(ValueError, match="zero-width"):
        build(np.zeros((10**7, 0)))
    assert build(np.zeros((3, 0))) == [[], [], []]
    assert len(build(np.zeros((40000, 0)))) == 40000  # up to 1 MiB of empty rows
    assert len(build(np.zeros((10**5, 1)))) == 10**5
    assert build(np.zeros((0, 5))) == []


# --------------------------------------------------------------------------
# 16. __init__ / __setstate__ on an instance that is already built

BUILT = [
    (c.IntVector, [1, 2], [3]),
    (c.FloatVector, [1.5], [2.5, 3.5]),
    (c.StrVector, ["a"], ["b", "c"]),
    (c.RecordVector, [(1, 1.0, 2.0, "n")], [(2, 3.0, 4.0, "m")]),
    (c.FloatMatrix, [[1.0]], [[2.0, 3.0]]),
    (c.IntIntHashMap, {1: 2}, {3: 4}),
    (c.IntIntTreeMap, {1: 2}, {3: 4}),
    (c.StrIntHashMap, {"a": 1}, {"b": 2}),
    (c.IntHashSet, {1}, {2, 3}),
]


@pytest.mark.parametrize("cls, data, other", BUILT, ids=[b[0].__name__ for b in BUILT])
def test_init_or_setstate_again_raises_and_changes_nothing(cls, data, other):
    obj = cls(data)
    before = obj.to_python()
    for call in (lambda: obj.__init__(other), lambda: obj.__init__(),
                 lambda: obj.__setstate__(cls(other).__getstate__())):
        with pytest.raises(TypeError, match="already initialised"):
            call()
        assert obj.to_python() == before
    # the normal ways of building one still work: construction, copy, pickle, __new__ + __setstate__
    clone = cls.__new__(cls)
    clone.__setstate__(obj.__getstate__())
    assert clone.to_python() == before
    import copy
    import pickle
    assert copy.deepcopy(obj).to_python() == before
    assert pickle.loads(pickle.dumps(obj, protocol=0)).to_python() == before
    fresh = cls.__new__(cls)
    fresh.__init__(other)
    assert fresh.to_python() == cls(other).to_python()

    class Sub(cls):
        def __init__(self, x):
            super().__init__(x)

    assert Sub(other).to_python() == cls(other).to_python()


def test_block_set_init_again_raises():
    b = c.BlockSet(8, 3)
    with pytest.raises(TypeError, match="already initialised"):
        b.__init__(8, 5)
    assert (len(b), b.n, b.block_size) == (3, 3, 8)
    fresh = c.BlockSet.__new__(c.BlockSet)
    fresh.__init__(16, 2)
    assert (fresh.n, fresh.block_size) == (2, 16)
