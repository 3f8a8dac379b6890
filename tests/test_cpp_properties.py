"""Property-based tests (hypothesis) of every C++ container against its Python counterpart.

* Random operation sequences (append / extend / set / delete / clear / reserve / rehash /
  shrink_to_fit / lookups / pickle) applied to a container and to its Python model (list, dict,
  set) give equal contents, and after every step the counted bytes are the analytic count:
  vectors hold capacity() * sizeof(T) plus the heap blocks of their elements (strings longer than
  the SSO buffer, matrix rows); node containers hold one allocation per element plus, for the
  unordered ones, the bucket array. Where libstdc++ (not the standard) fixes a capacity
  (reserve(n) gives exactly n, shrink_to_fit gives size(), which string buffers a move keeps),
  the exact figure is checked only with libstdc++.
* The process-wide counters come back to where they started once the container is deleted,
  on error paths too.
* Random malformed input (wrong types, huge ints, NaN, empty, strided / read-only buffers, wrong
  dtypes, bytes for str) raises a Python exception from a small set, never anything else, and
  from_buffer accepts exactly the buffers it documents.

The nastiest inputs (re-entrant callbacks, never-initialised instances, corrupt pickles) run in
child processes: see test_cpp_bad_input.py. `-m slow` runs the same properties with more examples.
"""
from __future__ import annotations

import gc
import math
import os
import pickle
import warnings

import pytest

if os.environ.get("MEMHARNESS_EXPECT_SANITIZER") == "1":
    # .ci/asan runs this file against the sanitized build: it must import (never skip), and be it
    import harness._containers as c
else:
    c = pytest.importorskip("harness._containers")
np = pytest.importorskip("numpy")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp  # noqa: E402

SIZES = c.sizeof_info()
PTR = SIZES["pointer"]
SSO = SIZES["sso_capacity"]
# Capacities that libstdc++ fixes and the standard does not (reserve, shrink_to_fit, string moves)
LIBSTDCXX = c.build_info()["libstdcxx"] is not None

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = settings(max_examples=25, **_COMMON)
SLOW = settings(max_examples=150, **_COMMON)

# Exceptions that bad input may raise; anything else (or a crash) is a bug.
# (NotImplementedError: CPython's own, iterating a multi-dimensional memoryview)
BAD_INPUT_ERRORS = (TypeError, ValueError, OverflowError, IndexError, KeyError, MemoryError,
                    UnicodeEncodeError, BufferError, NotImplementedError)
GLOBAL_KEYS = ("requested", "allocated", "allocated_nominal", "live_allocations")


def both(strategy_args, body):
    """A fast test (default run) and a slow one (-m slow) of the same property."""
    fast = FAST(given(*strategy_args)(body))
    slow = pytest.mark.slow(SLOW(given(*strategy_args)(body)))
    return fast, slow


def global_now():
    gc.collect()
    return c.global_counters()


def assert_back_to(before):
    after = global_now()
    for key in GLOBAL_KEYS:
        assert after[key] == before[key], (key, before, after)
    assert after["unscoped_allocations"] == 0


def test_runs_the_sanitized_build_when_asked():
    """.ci/asan sets MEMHARNESS_EXPECT_SANITIZER=1: then the module must be the ASan build."""
    if os.environ.get("MEMHARNESS_EXPECT_SANITIZER") != "1":
        pytest.skip("only under .ci/asan")
    assert c.build_info()["sanitizer"] is True


# --------------------------------------------------------------------------
# elements and their exact heap blocks

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False)  # NaN never compares equal: tested on its own below
TEXT = st.one_of(st.text(max_size=8), st.text(min_size=14, max_size=40))  # around the SSO limit
ROW = st.lists(FLOATS, max_size=6)
RECORD = st.tuples(INT64, FLOATS, FLOATS, TEXT)


def str_heap(s):
    """Bytes a freshly built std::string of s allocates: none within the SSO buffer."""
    n = len(s.encode("utf-8"))
    return 0 if n <= SSO else n + 1


# kind -> (class, sizeof element, element strategy, exact heap bytes of a fresh element,
#          does a move-assignment of a heap-less value keep the old block? (std::string: yes))
VECTORS = {
    "int": (c.IntVector, 8, INT64, lambda x: 0, False),
    "float": (c.FloatVector, 8, FLOATS, lambda x: 0, False),
    "str": (c.StrVector, SIZES["counted_string"], TEXT, str_heap, True),
    "record": (c.RecordVector, SIZES["Record"], RECORD, lambda r: str_heap(r[3]), True),
    "matrix": (c.FloatMatrix, SIZES["std::vector<int64_t>"], ROW, lambda row: 8 * len(row), False),
}


def vector_ops(elem):
    return st.lists(
        st.one_of(
            st.tuples(st.just("append"), elem),
            st.tuples(st.just("extend"), st.lists(elem, max_size=5)),
            st.tuples(st.just("extend_gen"), st.lists(elem, max_size=5)),
            st.tuples(st.just("extend_self")),
            st.tuples(st.just("set"), st.integers(-12, 12), elem),
            st.tuples(st.just("get"), st.integers(-12, 12)),
            st.tuples(st.just("contains"), elem),
            st.tuples(st.just("clear")),
            st.tuples(st.just("reserve"), st.integers(0, 70)),
            st.tuples(st.just("shrink")),
            st.tuples(st.just("pickle"), st.integers(0, pickle.HIGHEST_PROTOCOL)),
            st.tuples(st.just("iter")),
        ),
        max_size=30,
    )


def check_vector(obj, model, heaps, elem_size):
    assert len(obj) == len(model) == len(heaps)
    assert obj.to_python() == model
    assert obj == model
    fp = obj.footprint()
    cap = obj.capacity()
    assert cap >= len(model) and fp["n"] == len(model)
    if LIBSTDCXX:
        assert fp["requested"] == cap * elem_size + sum(heaps), (fp, cap, heaps)
        assert fp["live_allocations"] == (cap > 0) + sum(1 for h in heaps if h)
    else:
        assert fp["requested"] >= cap * elem_size
    assert fp["allocated"] >= fp["requested"] and fp["peak_requested"] >= fp["requested"]
    assert fp["total_allocations"] >= fp["live_allocations"]


def run_vector_ops(kind, ops):
    cls, elem_size, _, fresh_heap, keeps_block = VECTORS[kind]
    before = global_now()
    obj, model, heaps = cls(), [], []
    for op in ops:
        name = op[0]
        if name == "append":
            obj.append(op[1])
            model.append(op[1])
            heaps.append(fresh_heap(op[1]))
        elif name in ("extend", "extend_gen"):
            obj.extend(op[1] if name == "extend" else (x for x in op[1]))
            model.extend(op[1])
            heaps.extend(fresh_heap(x) for x in op[1])
        elif name == "extend_self":  # copies: exact blocks again
            obj.extend(obj)
            heaps.extend(fresh_heap(x) for x in model)
            model.extend(list(model))
        elif name == "set":
            i, value = op[1], op[2]
            try:
                model[i] = value
            except IndexError:
                with pytest.raises(IndexError):
                    obj[i] = value
                continue
            obj[i] = value
            new = fresh_heap(value)
            # a move steals the new block; a short value is copied into the old block, if any
            heaps[i] = new if (new or not keeps_block) else heaps[i]
        elif name == "get":
            i = op[1]
            if -len(model) <= i < len(model):
                assert obj[i] == model[i]
            else:
                with pytest.raises(IndexError):
                    obj[i]
        elif name == "contains":
            assert (op[1] in obj) == (op[1] in model)
        elif name == "clear":
            obj.clear()
            model.clear()
            heaps.clear()
        elif name == "reserve":
            old = obj.capacity()
            obj.reserve(op[1])
            assert obj.capacity() >= max(op[1], old)
            if LIBSTDCXX and op[1] > old:
                assert obj.capacity() == op[1]
        elif name == "shrink":
            obj.shrink_to_fit()
            if LIBSTDCXX:
                assert obj.capacity() == len(model)
        elif name == "pickle":
            obj = pickle.loads(pickle.dumps(obj, op[1]))
            assert type(obj) is cls and obj.capacity() == len(model)
            heaps = [fresh_heap(x) for x in model]
        elif name == "iter":
            assert list(obj) == model
        check_vector(obj, model, heaps, elem_size)
    del obj
    assert_back_to(before)


def _vector_property(kind):
    elem = VECTORS[kind][2]

    def body(ops):
        run_vector_ops(kind, ops)

    body.__name__ = "test_%s_vector_ops" % kind
    return both((vector_ops(elem),), body)


test_int_vector_ops, test_int_vector_ops_slow = _vector_property("int")
test_float_vector_ops, test_float_vector_ops_slow = _vector_property("float")
test_str_vector_ops, test_str_vector_ops_slow = _vector_property("str")
test_record_vector_ops, test_record_vector_ops_slow = _vector_property("record")
test_matrix_ops, test_matrix_ops_slow = _vector_property("matrix")


# --------------------------------------------------------------------------
# maps and the set

# kind -> (class, node bytes, key strategy, heap bytes of a key, hashed?)
MAPS = {
    "int_hash": (c.IntIntHashMap, SIZES["hash_node_int_int"], INT64, lambda k: 0, True),
    "int_tree": (c.IntIntTreeMap, SIZES["map_node_int_int"], INT64, lambda k: 0, False),
    "str_hash": (c.StrIntHashMap, SIZES["hash_node_str_int"], TEXT, str_heap, True),
}
SMALL_KEYS = st.integers(-8, 8)  # collisions with existing keys are frequent


def map_ops(key):
    k = st.one_of(key, SMALL_KEYS) if key is INT64 else key
    return st.lists(
        st.one_of(
            st.tuples(st.just("set"), k, INT64),
            st.tuples(st.just("del"), k),
            st.tuples(st.just("get"), k),
            st.tuples(st.just("contains"), k),
            st.tuples(st.just("clear")),
            st.tuples(st.just("reserve"), st.integers(0, 100)),
            st.tuples(st.just("rehash"), st.integers(0, 100)),
            st.tuples(st.just("shrink")),
            st.tuples(st.just("pickle"), st.integers(0, pickle.HIGHEST_PROTOCOL)),
            st.tuples(st.just("iter")),
        ),
        max_size=40,
    )


def check_nodes(obj, n, node, key_heap, hashed):
    """n nodes of `node` bytes, the keys' heap blocks, and (unordered) the bucket array:
    libstdc++ keeps a single bucket inside the container, so an array exists iff count > 1."""
    fp = obj.footprint()
    assert fp["n"] == n
    buckets = obj.bucket_count() if hashed else 0
    array_bytes = buckets * PTR if buckets > 1 else 0
    assert fp["requested"] == n * node + sum(key_heap) + array_bytes, (fp, buckets)
    assert fp["live_allocations"] == n + sum(1 for h in key_heap if h) + (array_bytes > 0)
    assert fp["allocated"] >= fp["requested"] and fp["peak_requested"] >= fp["requested"]


def run_map_ops(kind, ops):
    cls, node, _, key_heap, hashed = MAPS[kind]
    before = global_now()
    obj, model = cls(), {}
    for op in ops:
        name = op[0]
        if name == "set":
            obj[op[1]] = op[2]
            model[op[1]] = op[2]
        elif name == "del":
            if op[1] in model:
                del obj[op[1]]
                del model[op[1]]
            else:
                with pytest.raises(KeyError):
                    del obj[op[1]]
        elif name == "get":
            assert obj.get(op[1]) == model.get(op[1])
            assert obj.get(op[1], "x") == model.get(op[1], "x")
            if op[1] in model:
                assert obj[op[1]] == model[op[1]]
            else:
                with pytest.raises(KeyError):
                    obj[op[1]]
        elif name == "contains":
            assert (op[1] in obj) == (op[1] in model)
        elif name == "clear":
            obj.clear()
            model.clear()
        elif name in ("reserve", "rehash", "shrink"):
            if not hashed:
                continue
            if name == "shrink":
                obj.shrink_to_fit()
            else:
                getattr(obj, name)(op[1])
            assert obj.load_factor() <= obj.max_load_factor()
        elif name == "pickle":
            obj = pickle.loads(pickle.dumps(obj, op[1]))
            assert type(obj) is cls
        elif name == "iter":
            keys = list(obj)
            assert keys == sorted(model) if not hashed else sorted(keys) == sorted(model)
        assert len(obj) == len(model)
        assert obj.to_python() == model and obj == model
        check_nodes(obj, len(model), node, [key_heap(k) for k in model], hashed)
    del obj
    assert_back_to(before)


def _map_property(kind):
    def body(ops):
        run_map_ops(kind, ops)

    body.__name__ = "test_%s_map_ops" % kind
    return both((map_ops(MAPS[kind][2]),), body)


test_int_hash_map_ops, test_int_hash_map_ops_slow = _map_property("int_hash")
test_int_tree_map_ops, test_int_tree_map_ops_slow = _map_property("int_tree")
test_str_hash_map_ops, test_str_hash_map_ops_slow = _map_property("str_hash")

SET_OPS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["add", "discard", "remove", "contains"]), st.one_of(INT64, SMALL_KEYS)),
        st.tuples(st.sampled_from(["clear", "shrink", "iter"])),
        st.tuples(st.sampled_from(["reserve", "rehash"]), st.integers(0, 100)),
        st.tuples(st.just("pickle"), st.integers(0, pickle.HIGHEST_PROTOCOL)),
    ),
    max_size=40,
)


def _set_body(ops):
    before = global_now()
    obj, model = c.IntHashSet(), set()
    for op in ops:
        name = op[0]
        if name in ("add", "discard"):
            getattr(obj, name)(op[1])
            getattr(model, name)(op[1])
        elif name == "remove":
            if op[1] in model:
                obj.remove(op[1])
                model.remove(op[1])
            else:
                with pytest.raises(KeyError):
                    obj.remove(op[1])
        elif name == "contains":
            assert (op[1] in obj) == (op[1] in model)
        elif name == "clear":
            obj.clear()
            model.clear()
        elif name == "shrink":
            obj.shrink_to_fit()
        elif name in ("reserve", "rehash"):
            getattr(obj, name)(op[1])
        elif name == "pickle":
            obj = pickle.loads(pickle.dumps(obj, op[1]))
        elif name == "iter":
            assert sorted(obj) == sorted(model)
        assert len(obj) == len(model) and obj.to_python() == model and obj == model
        check_nodes(obj, len(model), SIZES["hash_node_int"], [0] * len(model), True)
    del obj
    assert_back_to(before)


test_int_set_ops, test_int_set_ops_slow = both((SET_OPS,), _set_body)


# --------------------------------------------------------------------------
# malformed input

HUGE_INTS = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(min_value=-(2**80), max_value=-(2**63) + 2),
    st.sampled_from([2**64, 2**64 - 1, 10**100, -(10**100)]),
)
SPECIAL_FLOATS = st.sampled_from([math.nan, -math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308])
NUMPY_SCALARS = st.sampled_from([
    np.int8(-3), np.uint8(200), np.int64(-(2**63)), np.uint64(2**64 - 1), np.float32(1.5),
    np.float64(math.nan), np.bool_(True), np.complex128(1 + 2j), np.datetime64("2020-01-01"),
    np.str_("numpy str"), np.bytes_(b"numpy bytes"),
])
DTYPES = st.sampled_from([
    "<i8", ">i8", "<f8", ">f8", "i4", "u8", "i2", "f4", "f2", "c16", "?", "u1", "U3", "S3", "M8[s]",
])


@st.composite
def arrays(draw, max_dims=3):
    """numpy arrays of many dtypes and shapes, maybe strided, transposed or read-only."""
    dtype = np.dtype(draw(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shape))
    if a.ndim >= 1 and draw(st.booleans()):
        a = a[:: draw(st.sampled_from([-1, 2, 3]))]
    if a.ndim >= 2 and draw(st.booleans()):
        a = a.T
    if draw(st.booleans()):
        a.setflags(write=False)
    return a


def _buffer(i):
    raw = bytes(range(64))
    return [
        lambda: memoryview(raw).cast("q"),  # read-only int64
        lambda: memoryview(raw).cast("d"),  # read-only float64
        lambda: memoryview(raw),  # bytes format 'B'
        lambda: memoryview(raw)[::8],  # strided bytes
        lambda: memoryview(bytearray(raw)).cast("q")[::2],  # strided int64
        lambda: memoryview(raw).cast("q", (2, 4)),  # 2-D read-only int64
        lambda: memoryview(raw).cast("d", (4, 2)),  # 2-D read-only float64
        lambda: memoryview(b""),
    ][i]()


def _buffers():
    return st.integers(0, 7).map(_buffer)  # (memoryviews of most formats cannot be hashed: no sampled_from)


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), HUGE_INTS, st.floats(), SPECIAL_FLOATS,
    st.complex_numbers(), st.text(max_size=20), st.binary(max_size=20),
    st.binary(max_size=16).map(bytearray), NUMPY_SCALARS, arrays(), _buffers(),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=4), st.none()),
             max_size=4),
    st.lists(st.tuples(st.integers(), st.integers()), max_size=3),
    st.tuples(st.integers(), st.floats(), st.floats(), st.one_of(st.text(max_size=20), st.binary(max_size=4))),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=20)), st.one_of(st.integers(), st.floats()), max_size=3),
    st.builds(object), st.just(()), st.just([]), st.just({}), st.just(""), st.just(b""), st.just(Ellipsis),
)


def safe_count(x):
    """Counts that would really allocate gigabytes (accepted, below physical memory) are not junk:
    keep them out; small ones and absurd ones (MemoryError / OverflowError) stay."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        return x
    x = int(x)
    return x if abs(x) <= 4096 or abs(x) >= 2**50 else 4096


CLASSES = [c.IntVector, c.FloatVector, c.StrVector, c.RecordVector, c.FloatMatrix, c.IntIntHashMap,
           c.IntIntTreeMap, c.StrIntHashMap, c.IntHashSet]
METHODS = [
    ("append", 1), ("extend", 1), ("__setitem__", 2), ("__getitem__", 1), ("__contains__", 1),
    ("__delitem__", 1), ("get", 1), ("add", 1), ("discard", 1), ("remove", 1), ("reserve", 1),
    ("rehash", 1), ("__eq__", 1), ("__setstate__", 1), ("from_buffer", 1), ("from_objects", 1),
]


def call_with_junk(obj, method, args):
    if method in ("reserve", "rehash"):
        args = [safe_count(a) for a in args]
    fn = getattr(obj, method, None)
    if fn is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's ComplexWarning, DeprecationWarning...
        try:
            fn(*args)
        except BAD_INPUT_ERRORS:
            pass


def _junk_body(cls, calls, ctor_arg):
    before = global_now()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            obj = cls(ctor_arg)
        except BAD_INPUT_ERRORS:
            obj = cls([] if cls not in (c.IntIntHashMap, c.IntIntTreeMap, c.StrIntHashMap) else {})
    for method, args in calls:
        call_with_junk(obj, method, args)
        # still consistent: its contents, its length and its counters agree
        py = obj.to_python()
        assert len(obj) == len(py)
        fp = obj.footprint()
        assert fp["n"] == len(py) and fp["allocated"] >= fp["requested"]
        if cls in (c.IntVector, c.FloatVector):
            assert fp["requested"] == obj.capacity() * 8
    repr(obj)
    pickle.loads(pickle.dumps(obj))
    del obj
    assert_back_to(before)


JUNK_CALLS = st.lists(
    st.sampled_from(METHODS).flatmap(lambda m: st.tuples(st.just(m[0]), st.lists(JUNK, min_size=m[1], max_size=m[1]))),
    max_size=8,
)
test_junk_never_crashes, test_junk_never_crashes_slow = both(
    (st.sampled_from(CLASSES), JUNK_CALLS, JUNK), _junk_body
)


# --------------------------------------------------------------------------
# buffers: from_buffer takes exactly the documented ones; the constructor converts the rest

FROM_BUFFER = [  # class, dtype it accepts, number of dimensions
    (c.IntVector, np.dtype("<i8"), 1),
    (c.FloatVector, np.dtype("<f8"), 1),
    (c.IntHashSet, np.dtype("<i8"), 1),
    (c.FloatMatrix, np.dtype("<f8"), 2),
]


def same_floats(got, want):
    return len(got) == len(want) and all(g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want))


def _buffer_body(a):
    before = global_now()
    for cls, dtype, ndim in FROM_BUFFER:
        accepted = a.dtype == dtype and a.ndim == ndim and a.flags.c_contiguous
        if not accepted:
            with pytest.raises(ValueError):
                cls.from_buffer(a)
            continue
        obj = cls.from_buffer(a)
        want = a.tolist()
        if cls is c.IntHashSet:
            assert obj.to_python() == set(want)
        elif cls is c.FloatMatrix:
            assert len(obj) == len(want) and all(same_floats(r, w) for r, w in zip(obj.to_python(), want))
        elif dtype.kind == "f":
            assert same_floats(obj.to_python(), want)
        else:
            assert obj.to_python() == want
        # the constructor takes the same fast path and gives the same
        assert cls(a).footprint()["requested"] == obj.footprint()["requested"]
        del obj
    # the constructor also takes what from_buffer refuses, element by element, or refuses it
    for cls, conv in ((c.IntVector, int), (c.FloatVector, float)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                obj = cls(a)
            except BAD_INPUT_ERRORS:
                continue
            want = [conv(x) for x in a]  # 1-D: elements; otherwise the conversion above failed
        got = obj.to_python()
        assert same_floats(got, want) if conv is float else got == want
        del obj
    assert_back_to(before)


test_buffers, test_buffers_slow = both((arrays(),), _buffer_body)


def test_read_only_and_unusual_buffers():
    ro = memoryview(bytes(range(16))).cast("q")
    assert ro.readonly
    assert c.IntVector.from_buffer(ro) == ro.tolist() == c.IntVector(ro)
    assert c.IntHashSet.from_buffer(ro) == set(ro.tolist())
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    a.setflags(write=False)
    assert c.FloatMatrix.from_buffer(a) == a.tolist()
    for empty in (np.empty(0, dtype=np.int64), memoryview(b"").cast("q")):
        assert c.IntVector.from_buffer(empty) == [] and c.IntVector.from_buffer(empty).footprint()["requested"] == 0
    with pytest.raises(ValueError):
        c.IntVector.from_buffer(memoryview(bytes(16)))  # bytes, not int64
    with pytest.raises(TypeError):
        c.FloatVector.from_buffer("12345678")


@FAST
@given(st.lists(st.one_of(st.floats(), SPECIAL_FLOATS), max_size=20))
def test_nan_and_infinities_round_trip(data):
    v = c.FloatVector(data)
    assert same_floats(v.to_python(), data)
    assert same_floats(pickle.loads(pickle.dumps(v)).to_python(), data)
    assert same_floats(c.FloatVector.from_buffer(np.array(data, dtype=np.float64)).to_python(), data)
    if any(math.isnan(x) for x in data):
        assert v != data and v != v  # NaN is never equal, as in C++
    else:
        assert v == data


@FAST
@given(st.one_of(st.binary(max_size=20), st.text(max_size=20)))
def test_bytes_are_not_str(value):
    before = global_now()
    if isinstance(value, bytes):
        for build in (lambda: c.StrVector([value]), lambda: c.StrIntHashMap({value: 1}),
                      lambda: c.RecordVector([(1, 1.0, 1.0, value)])):
            with pytest.raises(TypeError):
                build()
        assert value not in c.StrVector(["x"]) and value not in c.StrIntHashMap({"x": 1})
    else:
        assert c.StrVector([value]) == [value] and c.StrIntHashMap({value: 1}) == {value: 1}
        assert value in c.StrVector([value]) and value.encode() not in c.StrVector([value])
    assert_back_to(before)


@FAST
@given(HUGE_INTS)
def test_huge_ints(n):
    for build in (lambda: c.IntVector([n]), lambda: c.IntIntHashMap({n: 1}), lambda: c.IntIntTreeMap({1: n}),
                  lambda: c.IntHashSet([n]), lambda: c.RecordVector([(n, 1.0, 1.0, "x")])):
        if -(2**63) <= n < 2**63:
            build()
        else:
            with pytest.raises(OverflowError):
                build()
    v = c.IntVector([1, 2])
    with pytest.raises(IndexError):
        v[n]  # clamped, never wrapped around to a valid index
    with pytest.raises((MemoryError, OverflowError, ValueError)):
        v.reserve(n if n > 0 else -n)
    assert (n in v) is False and c.IntIntHashMap({1: 1}).get(n) is None
    assert v.footprint()["requested"] == 16
