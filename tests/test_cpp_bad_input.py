"""Bad input to ``harness._containers``: a clear Python exception, never a crash.

The nastiest cases (corrupt pickle states, absurd sizes) also run in a child
process, so that a segfault fails the test instead of killing pytest.
"""
from __future__ import annotations

import array
import gc
import pickle
import subprocess
import sys
import textwrap

import pytest

c = pytest.importorskip("harness._containers")
np = pytest.importorskip("numpy")

HUGE = 2**62


def assert_no_leak(before):
    gc.collect()
    after = c.global_counters()
    for key in ("requested", "allocated", "live_allocations"):
        assert after[key] == before[key], key
    assert after["unscoped_allocations"] == 0


@pytest.fixture
def no_leak():
    gc.collect()
    before = c.global_counters()
    yield
    assert_no_leak(before)


# --------------------------------------------------------------------------
# element types


@pytest.mark.parametrize(
    "cls, data, exc",
    [
        (c.IntVector, [1.5], TypeError),
        (c.IntVector, [1.0], TypeError),  # no silent truncation, even of integral floats
        (c.IntVector, ["a"], TypeError),
        (c.IntVector, [None], TypeError),
        (c.IntVector, [2**63], OverflowError),
        (c.IntVector, [-(2**63) - 1], OverflowError),
        (c.IntVector, [1, 2, 10**30], OverflowError),
        (c.IntVector, 5, TypeError),  # not iterable
        (c.FloatVector, ["1.0"], TypeError),
        (c.FloatVector, [None], TypeError),
        (c.FloatVector, [10**400], OverflowError),
        (c.FloatVector, "abc", TypeError),
        (c.FloatVector, b"abc", TypeError),
        (c.StrVector, [b"bytes"], TypeError),
        (c.StrVector, [1], TypeError),
        (c.StrVector, "abc", TypeError),  # a str is not a list of str
        (c.StrVector, ["ok", "\ud800"], UnicodeEncodeError),  # lone surrogate
        (c.IntHashSet, [1.5], TypeError),
        (c.IntHashSet, [2**64], OverflowError),
        (c.FloatMatrix, [[1.0], ["x"]], TypeError),
        (c.FloatMatrix, [1.0], TypeError),
        (c.FloatMatrix, ["ab"], TypeError),
    ],
)
def test_wrong_element_type(cls, data, exc, no_leak):
    with pytest.raises(exc):
        cls(data)


@pytest.mark.parametrize("cls", [c.IntIntHashMap, c.IntIntTreeMap])
@pytest.mark.parametrize(
    "data, exc",
    [
        ({1.5: 1}, TypeError),
        ({"a": 1}, TypeError),
        ({1: 2.5}, TypeError),
        ({1: 2**64}, OverflowError),
        ({2**64: 1}, OverflowError),
        ([(1, 2, 3)], ValueError),  # like dict([(1, 2, 3)])
        ([1], TypeError),  # like dict([1])
        (["ab"], TypeError),
        (5, TypeError),
    ],
)
def test_wrong_map_input(cls, data, exc, no_leak):
    with pytest.raises(exc):
        cls(data)


def test_wrong_str_map_and_record_input(no_leak):
    with pytest.raises(TypeError):
        c.StrIntHashMap({b"a": 1})
    with pytest.raises(TypeError):
        c.StrIntHashMap({"a": "1"})
    with pytest.raises(ValueError):
        c.RecordVector([(1, 2.0, 3.0)])
    with pytest.raises(TypeError):
        c.RecordVector([(1, 2.0, 3.0, 4)])  # name must be str
    with pytest.raises(TypeError):
        c.RecordVector([(1.5, 2.0, 3.0, "n")])
    with pytest.raises(TypeError):
        c.RecordVector([1])
    with pytest.raises(TypeError):
        c.RecordVector(["abcd"])
    with pytest.raises(TypeError, match="attribute 'name'"):
        c.RecordVector.from_objects([type("P", (), {"id": 1, "x": 1.0, "y": 2.0})()])
    m = c.StrIntHashMap({"a": 1})
    with pytest.raises(TypeError):
        m[b"a"] = 2
    with pytest.raises(KeyError):
        m[b"a"]


def test_partial_fill_is_freed(no_leak):
    long = "a string long enough to need the heap"
    with pytest.raises(TypeError):
        c.StrVector([long] * 100 + [None])
    with pytest.raises(TypeError):
        c.StrIntHashMap([(long + str(i), i) for i in range(100)] + [(None, 1)])
    with pytest.raises(TypeError):
        c.RecordVector([(1, 1.0, 1.0, long)] * 50 + [(1, 1.0, 1.0, None)])
    with pytest.raises(TypeError):
        c.FloatMatrix([[1.0] * 10] * 10 + [[None]])


# --------------------------------------------------------------------------
# indices, keys, sizes


def test_index_and_key_errors(no_leak):
    v = c.IntVector([1, 2])
    for bad in (2, -3, 2**100, -(2**100)):
        with pytest.raises(IndexError):
            v[bad]
        with pytest.raises(IndexError):
            v[bad] = 1
    for bad in (1.0, "0", None):
        with pytest.raises(TypeError):
            v[bad]
    with pytest.raises(IndexError):
        c.StrVector()[0]
    with pytest.raises(IndexError):
        c.FloatMatrix([[1.0]])[0, 1]
    with pytest.raises(TypeError):
        c.FloatMatrix([[1.0]])[0, 0, 0]
    with pytest.raises(TypeError):
        v[0] = 1.5
    assert v == [1, 2]
    for cls in (c.IntIntHashMap, c.IntIntTreeMap):
        m = cls({1: 2})
        for missing in (3, "1", 1.5, None, 2**80):
            with pytest.raises(KeyError):
                m[missing]
        with pytest.raises(KeyError):
            del m[3]
    with pytest.raises(KeyError):
        c.StrIntHashMap({"a": 1})["b"]
    with pytest.raises(KeyError):
        c.IntHashSet([1]).remove(2)


@pytest.mark.parametrize(
    "make", [c.IntVector, c.FloatVector, c.StrVector, c.RecordVector, c.FloatMatrix, c.IntIntHashMap,
             c.StrIntHashMap, c.IntHashSet],
)
def test_reserve_bounds(make, no_leak):
    obj = make()
    with pytest.raises(ValueError):
        obj.reserve(-1)
    with pytest.raises(MemoryError):
        obj.reserve(HUGE)
    with pytest.raises(MemoryError):
        obj.reserve(2**63 - 1)
    with pytest.raises(OverflowError):
        obj.reserve(2**64)
    with pytest.raises(TypeError):
        obj.reserve(1.5)
    with pytest.raises(TypeError):
        obj.reserve("10")
    if hasattr(obj, "rehash"):
        with pytest.raises(MemoryError):
            obj.rehash(HUGE)
        with pytest.raises(ValueError):
            obj.rehash(-5)
    assert obj.footprint()["requested"] == 0
    obj.reserve(0)
    assert len(obj) == 0


# --------------------------------------------------------------------------
# buffers


@pytest.mark.parametrize(
    "cls, buf, exc, match",
    [
        (c.IntVector, [1, 2], TypeError, "buffer protocol"),
        (c.IntVector, np.arange(4, dtype=np.int32), ValueError, "int64"),
        (c.IntVector, np.arange(4, dtype=np.uint64), ValueError, "int64"),
        (c.IntVector, np.arange(4, dtype=np.float64), ValueError, "int64"),
        (c.IntVector, np.arange(8, dtype=np.int64)[::2], ValueError, "C-contiguous"),
        (c.IntVector, np.arange(8, dtype=np.int64).reshape(2, 4), ValueError, "1-D"),
        (c.IntVector, np.arange(4, dtype=">i8"), ValueError, "int64"),
        (c.IntVector, b"12345678", ValueError, "int64"),
        (c.IntVector, np.zeros(3, dtype=[("a", "<i8")]), ValueError, "int64"),
        (c.FloatVector, np.arange(4, dtype=np.float32), ValueError, "float64"),
        (c.FloatVector, np.arange(4, dtype=np.complex128), ValueError, "float64"),
        (c.FloatVector, np.ones((4, 4))[:, 0], ValueError, "C-contiguous"),
        (c.FloatVector, "text", TypeError, "buffer protocol"),
        (c.IntHashSet, np.arange(4, dtype=np.int16), ValueError, "int64"),
        (c.FloatMatrix, np.ones(4), ValueError, "2-D"),
        (c.FloatMatrix, np.ones((4, 4), order="F"), ValueError, "C-contiguous"),
        (c.FloatMatrix, np.ones((4, 4), dtype=np.int64), ValueError, "float64"),
        (c.FloatMatrix, np.ones((2, 2, 2)), ValueError, "2-D"),
    ],
)
def test_from_buffer_refuses(cls, buf, exc, match, no_leak):
    with pytest.raises(exc, match=match):
        cls.from_buffer(buf)


def test_buffer_edge_cases_that_work(no_leak):
    assert c.IntVector.from_buffer(np.ones((4, 4), dtype=np.int64)[1]) == [1] * 4  # a contiguous row view
    assert c.FloatMatrix.from_buffer(np.ones((0, 3))) == []
    raw = bytearray(17)
    unaligned = np.frombuffer(raw, dtype=np.int64, count=2, offset=1)
    assert c.IntVector.from_buffer(unaligned) == [0, 0]
    assert c.IntVector.from_buffer(array.array("l", [7])) == [7]  # 'l' is int64 on LP64


# --------------------------------------------------------------------------
# BlockSet


def test_block_set_bounds(no_leak):
    for bs, n in ((0, 1), (-8, 1), (8, -1)):
        with pytest.raises(ValueError):
            c.BlockSet(bs, n)
    for bs, n in ((2**40, 2**40), (1, HUGE), (2**62, 2), (2**63 - 1, 2**63 - 1)):
        with pytest.raises(MemoryError):
            c.BlockSet(bs, n)
    with pytest.raises(OverflowError):
        c.BlockSet(2**64, 1)
    with pytest.raises(TypeError):
        c.BlockSet(8.0, 1)
    b = c.BlockSet(8, 10)
    for k, off in ((0, 0), (-1, 0), (3, 3), (3, -1)):
        with pytest.raises(ValueError):
            b.free_every(k, off)
    with pytest.raises(ValueError):
        b.keep_one_in(0)
    for frac in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError):
            b.free_random(frac, 1)
    assert b.live() == 10
    assert c.BlockSet(8, 0).footprint()["requested"] == 0


# --------------------------------------------------------------------------
# pickle state


def valid_states():
    long = "a name long enough for the heap"
    objs = [
        c.IntVector([1, -2, 3]),
        c.FloatVector([0.5, -1.0]),
        c.StrVector(["a", long, "é"]),
        c.RecordVector([(1, 2.0, 3.0, long), (2, 0.0, 0.0, "")]),
        c.FloatMatrix([[1.0, 2.0], [], [3.0]]),
        c.IntIntHashMap({1: 2, 3: 4}),
        c.IntIntTreeMap({1: 2, 3: 4}),
        c.StrIntHashMap({"k": 1, long: 2}),
        c.IntHashSet([5, 6, 7]),
    ]
    return [(type(o), o.__getstate__()) for o in objs]


def load(cls, state):
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def test_state_is_compact():
    v = c.IntVector(range(1000))
    assert len(v.__getstate__()) == 4 + 2 + 8 * 1000
    assert len(pickle.dumps(v, 5)) < 8100


@pytest.mark.parametrize("cls, state", valid_states(), ids=lambda x: getattr(x, "__name__", "state"))
def test_corrupt_state(cls, state, no_leak):
    good = load(cls, state)
    assert load(cls, good.__getstate__()) == good  # (hash containers may reorder)
    del good
    for cut in range(len(state)):  # every truncation
        with pytest.raises(ValueError):
            load(cls, state[:cut])
    for bad in (
        state + b"\x00",  # trailing bytes
        b"XX" + state[2:],  # magic
        state[:2] + b"?" + state[3:],  # another class's tag
        state[:3] + b"\x09" + state[4:],  # version
        state[:4] + b"\xff" * 9 + b"\x01" + state[5:],  # absurd count
        state[:4] + b"\xff" * 11,  # varint too long
    ):
        with pytest.raises(ValueError):
            load(cls, bad)
    with pytest.raises(TypeError):
        load(cls, state.decode("latin-1"))  # not bytes


def test_corrupt_state_semantics(no_leak):
    with pytest.raises(ValueError, match="UTF-8"):
        load(c.StrVector, b"MHV\x01\x01\x02\xff\xfe")
    with pytest.raises(ValueError, match="UTF-8"):
        load(c.StrVector, b"MHV\x01\x01\x03\xed\xa0\x80")  # an encoded surrogate
    dup = b"MHH\x01\x02" + (1).to_bytes(8, "little") * 2 + (1).to_bytes(8, "little") * 2
    with pytest.raises(ValueError, match="duplicate"):
        load(c.IntIntHashMap, dup)
    with pytest.raises(ValueError, match="duplicate"):
        load(c.IntHashSet, b"MHS\x01\x02" + bytes(16))
    # another class's state
    with pytest.raises(ValueError):
        load(c.FloatVector, c.IntVector([1]).__getstate__())


# --------------------------------------------------------------------------
# in a child process: a crash fails the test instead of killing pytest

CHILD = textwrap.dedent(
    r"""
    import gc, pickle, random
    import numpy as np
    import harness._containers as c

    def expect(excs, f, *a):
        try:
            f(*a)
        except excs:
            return
        raise AssertionError("no exception from %r%r" % (f, a))

    gc.collect()
    g0 = c.global_counters()
    long = "a name long enough for the heap"
    objs = [c.IntVector([1, -2, 3]), c.FloatVector([0.5]), c.StrVector(["a", long]),
            c.RecordVector([(1, 2.0, 3.0, long)]), c.FloatMatrix([[1.0, 2.0], []]),
            c.IntIntHashMap({1: 2}), c.IntIntTreeMap({1: 2, 5: 6}), c.StrIntHashMap({long: 2}),
            c.IntHashSet([5, 6])]
    rng = random.Random(1234)
    survived = 0
    for obj in objs:
        cls, state = type(obj), obj.__getstate__()
        for _ in range(400):  # random byte flips, insertions, deletions
            s = bytearray(state)
            for _ in range(rng.randint(1, 4)):
                op, i = rng.randrange(3), rng.randrange(len(s) + 1)
                if op == 0 and i < len(s):
                    s[i] = rng.randrange(256)
                elif op == 1:
                    s[i:i] = bytes([rng.randrange(256)])
                elif i < len(s):
                    del s[i]
            new = cls.__new__(cls)
            try:
                new.__setstate__(bytes(s))
            except ValueError:
                continue
            survived += 1
            new.to_python(); new.footprint(); repr(new); pickle.loads(pickle.dumps(new))
    for obj in objs:
        expect((MemoryError, TypeError, AttributeError), lambda: obj.reserve(2**62))
    expect(MemoryError, c.BlockSet, 2**40, 2**40)
    expect(MemoryError, c.IntVector().reserve, 2**63 - 1)
    expect(ValueError, c.IntVector.from_buffer, np.arange(10)[::3])
    # pickling what cannot be pickled: TypeError at every protocol (pybind11 aborts on 0/1 by default)
    for thing in (c.BlockSet(8, 2), iter(c.IntVector([1])), iter(c.IntIntTreeMap({1: 1})), iter(c.IntHashSet([1]))):
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            expect(TypeError, pickle.dumps, thing, proto)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(c.StrVector(["x" * 40]), proto)
        expect(ValueError, pickle.loads, data.replace(b"x" * 40, b"\xff" * 40))
    m = c.IntIntHashMap({i: i for i in range(100)})
    try:
        for k in m:
            del m[k]
    except RuntimeError:
        pass
    del objs, obj, m, new, thing, data
    gc.collect()
    g1 = c.global_counters()
    for key in ("requested", "allocated", "live_allocations", "unscoped_allocations"):
        assert g1[key] == g0[key], (key, g0, g1)
    print("ok", survived)
    """
)


def test_nasty_inputs_in_child_process():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")
