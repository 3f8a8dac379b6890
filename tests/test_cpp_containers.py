"""The C++ containers of ``harness._containers``: exact byte accounting,
equivalence with the Python structures, pickling, from_buffer."""
from __future__ import annotations

import array
import collections
import copy
import gc
import math
import pickle

import pytest

c = pytest.importorskip("harness._containers")
np = pytest.importorskip("numpy")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

FOOTPRINT_KEYS = {
    "requested", "allocated", "usable", "allocated_nominal", "live_allocations", "peak_requested",
    "peak_allocated", "total_allocations", "sizeof", "n",
}
GLOBAL_KEYS = FOOTPRINT_KEYS - {"sizeof", "n"} | {"unscoped_allocations"}
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False)
TEXT = st.text(max_size=40)  # excludes lone surrogates by default
FEW = settings(max_examples=40, deadline=None)

SIZES = c.sizeof_info()
PTR = SIZES["pointer"]
# Under AddressSanitizer malloc_usable_size is the requested size: glibc's
# chunk sizes are checked only without it.
GLIBC_MALLOC = not c.build_info()["sanitizer"] and c.build_info()["glibc"] is not None


def nominal(nbytes):
    """glibc's exact-fit chunk for a request of nbytes: what allocated_nominal counts."""
    return c.nominal_chunk_size(nbytes)


def heap_bytes(s):
    """Bytes a std::string of this str allocates on the heap (0 with SSO)."""
    n = len(s.encode("utf-8"))
    return 0 if n <= SIZES["sso_capacity"] else n + 1


def global_now():
    gc.collect()
    return c.global_counters()


def check_invariants(fp):
    assert set(fp) >= FOOTPRINT_KEYS
    assert fp["allocated"] >= fp["requested"]
    assert fp["allocated_nominal"] >= fp["requested"]
    if GLIBC_MALLOC:
        # glibc may hand out a free chunk whole when the rest would be < 32 bytes
        assert fp["allocated_nominal"] <= fp["allocated"] <= fp["allocated_nominal"] + 16 * fp["live_allocations"]
        # a chunk is its usable size plus the 8-byte header (16 for a mapping of its own)
        assert 8 * fp["live_allocations"] <= fp["allocated"] - fp["usable"] <= 16 * fp["live_allocations"]
    assert fp["peak_requested"] >= fp["requested"]
    assert fp["peak_allocated"] >= fp["allocated"]
    assert fp["total_allocations"] >= fp["live_allocations"]


# --------------------------------------------------------------------------
# module-level facts


def test_build_and_sizeof_info():
    info = c.build_info()
    for key in ("compiler", "cxx_standard", "sanitizer", "ndebug", "pybind11", "physical_memory"):
        assert key in info
    assert info["cplusplus"] >= 201703
    s = SIZES
    # our counted element types have exactly the layout of their std:: equivalents
    assert s["counted_string"] == s["std::string"] == 32
    assert s["Record"] == s["StdRecord"] == 8 + 8 + 8 + 32
    assert s["sso_capacity"] == 15
    # FACTS.md: map node = 32-byte header + payload; unordered_map<int64,int64> node = next + pair = 24;
    # string keys cache the hash (+8)
    assert s["map_node_int_int"] == 32 + 16
    assert s["hash_node_int_int"] == PTR + 16
    assert s["hash_node_int"] == PTR + 8
    assert s["hash_node_str_int"] == PTR + 32 + 8 + 8
    for name in ("map_node_int_int", "hash_node_int_int", "hash_node_int", "hash_node_str_int"):
        if "libstdcxx_" + name in s:  # libstdc++'s own nodes for the std::allocator containers
            assert s[name] == s["libstdcxx_" + name]


def test_usable_size_classes():
    # FACTS.md: malloc_usable_size classes 1-24 -> 24, 25-40 -> 40, 41-56 -> 56, in chunks of 32, 48, 64
    for lo, hi, usable in ((1, 24, 24), (25, 40, 40), (41, 56, 56)):
        for n in range(lo, hi + 1):
            assert c.nominal_usable_size(n) == usable and nominal(n) == usable + 8
    for n in (1, 24, 25, 40, 41, 56, 100, 1000):
        if GLIBC_MALLOC:
            assert c.nominal_usable_size(n) <= c.usable_size(n) <= c.nominal_usable_size(n) + 16
            assert nominal(n) <= c.chunk_size(n) <= nominal(n) + 16 and c.chunk_size(n) % 16 == 0
        else:
            assert c.usable_size(n) >= n


@pytest.mark.skipif(not GLIBC_MALLOC, reason="glibc's chunks only")
def test_a_block_above_the_mmap_threshold_is_its_whole_mapping():
    import mmap

    n = 64 * 2**20  # above glibc's dynamic mmap threshold (32 MiB at most): always mapped
    chunk = c.chunk_size(n)
    assert chunk % mmap.PAGESIZE == 0 and n + 8 <= chunk < n + 8 + mmap.PAGESIZE


def test_global_counter_keys():
    g = c.global_counters()
    assert set(g) == GLOBAL_KEYS
    c.reset_global_peak()
    g = c.global_counters()
    assert g["peak_requested"] == g["requested"]


# --------------------------------------------------------------------------
# analytic accounting


@pytest.mark.parametrize("cls", [c.IntVector, c.FloatVector])
@pytest.mark.parametrize("n", [1, 3, 5, 100, 1000])
def test_vector_reserve_is_exact(cls, n):
    v = cls()
    assert v.footprint()["requested"] == 0 and v.footprint()["live_allocations"] == 0
    v.reserve(n)
    fp = v.footprint()
    assert fp["requested"] == 8 * n
    assert fp["live_allocations"] == 1 == fp["total_allocations"]
    assert fp["allocated_nominal"] == nominal(8 * n)
    assert fp["sizeof"] == SIZES["std::vector<int64_t>"]
    assert fp["n"] == 0 and v.capacity() == n
    check_invariants(fp)


def test_vector_reserve_3_is_24_bytes():
    v = c.IntVector()
    v.reserve(3)
    fp = v.footprint()
    assert (fp["requested"], fp["allocated_nominal"]) == (24, 32)
    if GLIBC_MALLOC:
        assert fp["allocated"] in (32, 48)  # 48 only if glibc reuses a 48-byte free chunk whole
        assert fp["usable"] == fp["allocated"] - 8


def test_vector_from_list_is_exact_and_growth_is_counted():
    v = c.IntVector(list(range(10)))
    assert v.footprint()["requested"] == 80 and v.capacity() == 10
    w = c.IntVector()
    for i in range(100):
        w.append(i)
    fp = w.footprint()
    assert fp["requested"] == 8 * w.capacity()
    assert fp["live_allocations"] == 1
    assert fp["total_allocations"] > 1  # each reallocation counted
    assert fp["peak_requested"] > fp["requested"]  # old + new buffer were live together
    w.shrink_to_fit()
    assert w.footprint()["requested"] == 800
    w.reset_peak()
    assert w.footprint()["peak_requested"] == 800
    check_invariants(w.footprint())


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_tree_map_nodes(n):
    node = SIZES["map_node_int_int"]
    one = c.IntIntTreeMap({1: 1})
    assert one.footprint()["requested"] == node  # a single node, no other allocation
    m = c.IntIntTreeMap({k: -k for k in range(n)})
    fp = m.footprint()
    assert fp["live_allocations"] == n == fp["total_allocations"]
    assert fp["requested"] == n * node
    assert fp["allocated_nominal"] == n * nominal(node)
    assert fp["sizeof"] == SIZES["std::map<int64_t,int64_t>"]
    check_invariants(fp)


@pytest.mark.parametrize("n", [1, 10, 1000])
@pytest.mark.parametrize("how", ["dict", "setitem", "reserve"])
def test_hash_map_nodes_and_buckets(n, how):
    node = SIZES["hash_node_int_int"]
    if how == "dict":
        m = c.IntIntHashMap({k: k for k in range(n)})
    else:
        m = c.IntIntHashMap()
        if how == "reserve":
            m.reserve(n)
        for k in range(n):
            m[k] = k
    fp = m.footprint()
    assert m.bucket_count() > 1
    assert fp["live_allocations"] == n + 1  # n nodes + the bucket array
    assert fp["requested"] == n * node + m.bucket_count() * PTR
    assert fp["allocated_nominal"] == n * nominal(node) + nominal(m.bucket_count() * PTR)
    check_invariants(fp)
    m.shrink_to_fit()
    assert m.footprint()["requested"] == n * node + m.bucket_count() * PTR


def test_hash_set_and_str_map_nodes():
    s = c.IntHashSet(range(100))
    fp = s.footprint()
    assert fp["live_allocations"] == 101
    assert fp["requested"] == 100 * SIZES["hash_node_int"] + s.bucket_count() * PTR
    keys = ["k%d" % i for i in range(50)] + ["a long key, longer than fifteen %d" % i for i in range(50)]
    m = c.StrIntHashMap({k: i for i, k in enumerate(keys)})
    fp = m.footprint()
    assert fp["live_allocations"] == 100 + 50 + 1  # nodes + heap blocks of long keys + buckets
    assert fp["requested"] == (
        100 * SIZES["hash_node_str_int"] + sum(heap_bytes(k) for k in keys) + m.bucket_count() * PTR
    )
    check_invariants(fp)


def test_string_and_record_vectors_count_heap_strings():
    words = ["", "short", "x" * 15, "y" * 16, "é" * 8, "long " * 20]
    v = c.StrVector(words)
    fp = v.footprint()
    assert fp["requested"] == 32 * len(words) + sum(heap_bytes(w) for w in words)
    assert fp["live_allocations"] == 1 + sum(1 for w in words if heap_bytes(w))
    recs = [(i, i / 2, -i / 3, w) for i, w in enumerate(words)]
    r = c.RecordVector(recs)
    assert r.footprint()["requested"] == SIZES["Record"] * len(words) + sum(heap_bytes(w) for w in words)
    check_invariants(r.footprint())


def test_matrix_accounting():
    rows = [[1.0, 2.0, 3.0], [], [4.0]]
    m = c.FloatMatrix(rows)
    fp = m.footprint()
    assert fp["requested"] == 24 * 3 + 8 * 4
    assert fp["live_allocations"] == 3  # outer + 2 non-empty rows
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    mb = c.FloatMatrix.from_buffer(a)
    assert mb.footprint()["requested"] == 24 * 3 + 3 * 32
    assert mb == a.tolist()


ALL_BUILDERS = [
    lambda: c.IntVector(range(1000)),
    lambda: c.FloatVector([0.5] * 1000),
    lambda: c.IntIntHashMap({i: i for i in range(1000)}),
    lambda: c.IntIntTreeMap({i: i for i in range(1000)}),
    lambda: c.IntHashSet(range(1000)),
    lambda: c.StrVector(["s%d" % i * 5 for i in range(1000)]),
    lambda: c.StrIntHashMap({"key number %d, long" % i: i for i in range(1000)}),
    lambda: c.RecordVector([(i, 1.0, 2.0, "name %d" % i * 3) for i in range(1000)]),
    lambda: c.FloatMatrix([[float(i)] * 10 for i in range(100)]),
    lambda: c.BlockSet(40, 1000),
]


@pytest.mark.parametrize("build", ALL_BUILDERS)
def test_bytes_go_back_to_zero(build):
    before = global_now()
    obj = build()
    during = global_now()
    assert during["requested"] > before["requested"]
    assert during["live_allocations"] - before["live_allocations"] == obj.footprint()["live_allocations"]
    assert during["requested"] - before["requested"] == obj.footprint()["requested"]
    assert during["allocated"] - before["allocated"] == obj.footprint()["allocated"]
    if hasattr(obj, "clear"):
        obj.clear()
    del obj
    after = global_now()
    for key in ("requested", "allocated", "allocated_nominal", "live_allocations"):
        assert after[key] == before[key], key
    assert after["unscoped_allocations"] == 0


def test_lookups_of_long_keys_charge_nothing_to_the_container():
    m = c.StrIntHashMap({"a key that is long enough": 1})
    fp = m.footprint()
    assert m["a key that is long enough"] == 1
    assert "another key that is long enough" not in m
    assert m.get("a key that is long enough, but missing") is None
    assert m.footprint() == fp
    del m["a key that is long enough"]
    assert m.footprint()["live_allocations"] == 1  # the bucket array only
    assert c.global_counters()["unscoped_allocations"] == 0


# --------------------------------------------------------------------------
# BlockSet


def test_block_set_patterns():
    b = c.BlockSet(40, 100)
    fp = b.footprint()
    assert fp["requested"] == 4000 and fp["live_allocations"] == 100
    assert fp["allocated_nominal"] == 100 * nominal(40)
    assert b.free_every(2) == 50 and b.live() == 50
    assert b.live_indices() == list(range(1, 100, 2))
    assert b.free_every(5, offset=1) == 10
    assert b.keep_one_in(4) == 30 and len(b) == 10
    assert b.footprint()["requested"] == 400
    assert b.free_all() == 10 and b.footprint()["requested"] == 0
    assert b.footprint()["peak_requested"] == 4000 and b.footprint()["total_allocations"] == 100


def test_block_set_random_is_deterministic():
    a, b, d = c.BlockSet(16, 1000, touch=False), c.BlockSet(16, 1000), c.BlockSet(16, 1000)
    assert a.free_random(0.3, seed=7) == b.free_random(0.3, seed=7) == 300
    assert a.live_indices() == b.live_indices()
    d.free_random(0.3, seed=8)
    assert d.live_indices() != a.live_indices()
    assert a.free_random(1.0, 1) == 700 and a.live() == 0


# --------------------------------------------------------------------------
# equivalence with the Python structures (hypothesis)


def roundtrip_checks(obj, data, cls):
    assert obj.to_python() == data
    assert obj == data and data == obj and not (obj != data)
    assert len(obj) == len(data)
    assert obj == cls(obj.to_python())
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(obj, proto))
        assert type(back) is cls and back == obj and back.to_python() == data
        obj.shrink_to_fit() if hasattr(obj, "shrink_to_fit") else None
        back.shrink_to_fit() if hasattr(back, "shrink_to_fit") else None
        assert back.footprint()["requested"] == obj.footprint()["requested"]
        assert back.footprint()["live_allocations"] == obj.footprint()["live_allocations"]
    check_invariants(obj.footprint())


@FEW
@given(st.lists(INT64, max_size=60))
def test_int_vector_equivalence(data):
    v = c.IntVector(data)
    roundtrip_checks(v, data, c.IntVector)
    assert list(v) == data
    assert v == array.array("q", data)
    if data:
        assert v[-1] == data[-1] and data[0] in v


@FEW
@given(st.lists(FLOATS, max_size=60))
def test_float_vector_equivalence(data):
    v = c.FloatVector(data)
    roundtrip_checks(v, data, c.FloatVector)
    assert list(v) == data
    assert c.FloatVector.from_buffer(np.array(data, dtype=np.float64)) == v


@FEW
@given(st.lists(TEXT, max_size=30))
def test_str_vector_equivalence(data):
    v = c.StrVector(data)
    roundtrip_checks(v, data, c.StrVector)
    assert list(v) == data
    assert v.footprint()["requested"] == 32 * len(data) + sum(heap_bytes(s) for s in data)


@FEW
@given(st.dictionaries(INT64, INT64, max_size=60))
def test_int_maps_equivalence(data):
    h = c.IntIntHashMap(data)
    roundtrip_checks(h, data, c.IntIntHashMap)
    t = c.IntIntTreeMap(data.items())
    roundtrip_checks(t, data, c.IntIntTreeMap)
    assert list(t) == sorted(data) and list(t.to_python()) == sorted(data)
    assert set(h) == set(data)


@FEW
@given(st.dictionaries(TEXT, INT64, max_size=40))
def test_str_map_equivalence(data):
    roundtrip_checks(c.StrIntHashMap(data), data, c.StrIntHashMap)


@FEW
@given(st.sets(INT64, max_size=60))
def test_int_set_equivalence(data):
    s = c.IntHashSet(data)
    roundtrip_checks(s, data, c.IntHashSet)
    assert s == frozenset(data)
    assert c.IntHashSet.from_buffer(np.array(sorted(data), dtype=np.int64)) == s


@FEW
@given(st.lists(st.tuples(INT64, FLOATS, FLOATS, TEXT), max_size=30))
def test_record_vector_equivalence(data):
    r = c.RecordVector(data)
    roundtrip_checks(r, data, c.RecordVector)
    Rec = collections.namedtuple("Rec", "id x y name")
    assert c.RecordVector.from_objects(Rec(*t) for t in data) == r


@FEW
@given(st.lists(st.lists(FLOATS, max_size=8), max_size=12))
def test_matrix_equivalence(data):
    roundtrip_checks(c.FloatMatrix(data), data, c.FloatMatrix)


@pytest.mark.parametrize("build", ALL_BUILDERS[:-1])
def test_pickle_every_protocol(build):
    obj = build()
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(obj, proto))
        assert type(back) is type(obj) and back == obj
    assert copy.deepcopy(obj) == obj and copy.copy(obj) == obj


# --------------------------------------------------------------------------
# from_buffer and other behaviour


def test_from_buffer_copies_exactly():
    a = np.arange(1000, dtype=np.int64)
    v = c.IntVector.from_buffer(a)
    assert v == a.tolist() and v.footprint()["requested"] == 8000 and v.capacity() == 1000
    a[0] = 99  # a copy, not a view
    assert v[0] == 0
    assert c.IntVector(a) == a.tolist()  # the constructor takes the same fast path
    assert c.IntVector.from_buffer(memoryview(array.array("q", [1, 2]))) == [1, 2]
    assert c.IntVector.from_buffer(np.arange(3, dtype="<i8")) == [0, 1, 2]
    f = np.linspace(0, 1, 7)
    assert c.FloatVector.from_buffer(f) == f.tolist()
    assert c.FloatVector.from_buffer(np.empty(0)) == []
    # the constructor converts other dtypes element by element (from_buffer refuses them)
    assert c.IntVector(np.arange(5, dtype=np.int32)) == [0, 1, 2, 3, 4]
    assert c.FloatVector(np.arange(4, dtype=np.float32)[::2]) == [0.0, 2.0]


def test_nan_is_stored_but_never_equal():
    v = c.FloatVector([1.0, math.nan])
    assert math.isnan(v[1]) and math.isnan(v.to_python()[1])
    assert v != [1.0, math.nan]
    assert v != v
    assert math.isnan(pickle.loads(pickle.dumps(v))[1])


def test_bool_is_an_int():
    assert c.IntVector([True, False]) == [1, 0]
    assert c.IntVector([np.int64(5), np.int32(-3)]) == [5, -3]
    assert c.FloatVector([True, 2]) == [1.0, 2.0]


def test_eq_other_types_not_implemented():
    v = c.IntVector([1, 2])
    assert v.__eq__((1, 2)) is NotImplemented
    assert v.__eq__(c.FloatVector([1, 2])) is NotImplemented
    assert c.IntIntHashMap({1: 2}).__eq__([(1, 2)]) is NotImplemented
    assert c.IntIntHashMap({1: 2}) != c.IntIntTreeMap({1: 2})
    assert c.IntHashSet([1]).__eq__([1]) is NotImplemented
    assert v == c.IntVector([1, 2]) and v != c.IntVector([2, 1])
    assert v != "ab"


def test_lookups_follow_python_semantics():
    v = c.IntVector([1, 2, 3])
    assert 2 in v and 2.0 in v and 2.5 not in v and "2" not in v and 2**70 not in v
    m = c.IntIntHashMap({1: 10})
    assert m[1.0] == 10 and m.get(2) is None and m.get(2, 5) == 5 and "1" not in m
    s = c.StrVector(["a", "b"])
    assert "a" in s and b"a" not in s and 1 not in s
    r = c.RecordVector([(1, 1.0, 1.0, "x")])
    assert (1, 1.0, 1.0, "x") in r and (1, 1.0, 1.0) not in r and 5 not in r
    mat = c.FloatMatrix([[1.0, 2.0]])
    assert [1.0, 2.0] in mat and [1.0] not in mat
    assert mat[0] == [1.0, 2.0] and mat[0, 1] == 2.0 and mat[-1, -2] == 1.0


def test_mutation():
    v = c.IntVector()
    v.append(1)
    v.push_back(2)
    v.extend(range(3, 6))
    v[0] = 10
    v[-1] = 50
    assert v == [10, 2, 3, 4, 50]
    v.extend(v)  # like list.extend(itself): the elements there were
    assert v == [10, 2, 3, 4, 50] * 2
    sv = c.StrVector(["a string long enough for the heap"])
    sv.extend(sv)
    sv.extend(c.StrVector(["b"]))
    assert sv == ["a string long enough for the heap"] * 2 + ["b"]
    assert sv.footprint()["live_allocations"] == 3
    v.clear()
    assert len(v) == 0 and v.capacity() > 0
    v.shrink_to_fit()
    assert v.footprint()["requested"] == 0
    m = c.IntIntTreeMap()
    m[3] = 1
    m[1] = 2
    del m[3]
    assert m == {1: 2}
    s = c.IntHashSet()
    s.add(1)
    s.add(1)
    s.discard(2)
    assert s == {1}
    s.remove(1)
    assert len(s) == 0


def test_iteration_is_safe_under_mutation():
    v = c.IntVector(range(5))
    out = []
    for x in v:
        out.append(x)
        if x == 0:
            v.append(99)  # like a list: seen at the end
    assert out == [0, 1, 2, 3, 4, 99]
    it = iter(v)
    v.clear()
    assert list(it) == []
    for cls in (c.IntIntHashMap, c.IntIntTreeMap):
        m = cls({1: 1, 2: 2})
        with pytest.raises(RuntimeError):
            for k in m:
                m[k + 100] = 0
        m = cls({1: 1, 2: 2})
        for k in m:
            m[k] = 5  # changing values is fine, as in dict
        assert m == {1: 5, 2: 5}
    s = c.IntHashSet([1, 2])
    with pytest.raises(RuntimeError):
        for k in s:
            s.discard(k)


def test_repr_is_short():
    assert repr(c.IntVector([1, 2])) == "IntVector([1, 2])"
    r = repr(c.IntVector(range(1000)))
    assert len(r) < 60 and "n=1000" in r
    assert repr(c.IntIntTreeMap({2: 3, 1: 4})) == "IntIntTreeMap({1: 4, 2: 3})"
    assert "BlockSet" in repr(c.BlockSet(8, 2))
