"""The containers topic: same data both sides, analytic C++ bytes, verdicts from measured ratios."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from harness import cpp, runner
from harness.core import memory
from harness.errors import MemoryGuardError
from harness.topics.containers import TOPIC, Options, claims, measure, workloads

pytestmark = pytest.mark.skipif(cpp.available() is not None, reason=str(cpp.available()))


def elements(names, sizes, jobs=None):
    """The topic's rows of one run, through the one runner."""
    return runner.measure(TOPIC, Options(names, sizes, jobs=jobs)).rows["elements"]


@pytest.mark.parametrize("name", list(workloads.WORKLOADS))
def test_both_sides_hold_the_same_data(name):
    w = workloads.WORKLOADS[name]
    if w.available():
        pytest.skip(w.available())
    n = 300
    py = w.build_python(n)
    c = workloads.build_cpp(w, n)
    expected = py
    if w.cpp_class == "RecordVector":
        expected = [tuple(r) if isinstance(r, tuple) else (r.id, r.x, r.y, r.name) for r in py]
    elif w.name in ("array_q", "numpy_int64"):
        expected = [int(x) for x in py]
    assert c.to_python() == (dict(expected) if isinstance(expected, dict) else expected)


def test_cpp_bytes_of_int_vector_are_the_analytic_count():
    n = 10_000
    row = measure.cpp_side("list_int", n)
    assert row["requested"] == 8 * n + row["sizeof"]
    assert row["live_allocations"] == 1


def test_cpp_tree_map_holds_one_node_per_key():
    n = 5_000
    row = measure.cpp_side("dict_int_int_tree", n)
    assert row["live_allocations"] == n
    # node = 32-byte header (colour + 3 pointers) + pair<const int64, int64>
    assert row["requested"] == n * (32 + 16) + row["sizeof"]


def test_compare_row_ratios_are_computed_from_the_measured_bytes():
    row = measure.compare("list_float", 2000)
    assert row["ratio_alloc"] == pytest.approx(row["py_alloc"] / row["cpp_alloc"])
    assert row["ratio_req"] == pytest.approx(row["py_req"] / row["cpp_req"])
    # a float is 24 bytes in a 32-byte pymalloc block, plus an 8-byte pointer in the list
    assert 40 <= row["py_alloc"] < 48


@pytest.mark.parametrize("ratio, verdict", [(2.99, "below 3x"), (3.0, "within 3-6x"), (6.0, "within 3-6x"),
                                            (6.01, "above 6x"), (float("nan"), "n/a")])
def test_ratio_verdict_bounds(ratio, verdict):
    assert claims.band(ratio) == verdict


def _rows(ratios):
    return {"elements": pd.DataFrame([{"workload": name, "n": n, "ratio_alloc": r, "reference": ref}
                                      for name, n, r, ref in ratios])}


@pytest.mark.parametrize("ratios, verdict", [
    ([("a", 1000, 4.0, False), ("b", 1000, 5.0, False)], "confirmed"),
    ([("a", 1000, 1.5, False), ("b", 1000, 8.0, False)], "refuted"),
    ([("a", 1000, 4.0, False), ("b", 1000, 2.0, False), ("ref", 1000, 1.0, True)], "partly"),
    ([("ref", 1000, 1.0, True)], "inconclusive"),
    ([("a", 1000, 9.0, False), ("a", 100000, 4.0, False)], "confirmed"),  # the largest n of each workload
])
def test_the_ratio_claim_follows_the_figures(ratios, verdict):
    v = claims.RATIO.judge(_rows(ratios))
    assert v.verdict == verdict and v.claim_id == "containers.ratio"
    if verdict == "partly":
        assert "a 4.0x" in v.evidence and "b 2.0x" in v.evidence and "ref" not in v.evidence


def test_the_ratio_claim_over_missing_figures_is_inconclusive():
    nan = float("nan")
    rows = _rows([("a", 1000, nan, False), ("b", 1000, nan, False)])
    rows["elements"]["alloc_note"] = "Python: not measured: mimalloc"
    v = claims.RATIO.judge(rows)
    assert v.verdict == "inconclusive" and "nan" not in v.evidence.lower()
    assert v.evidence.startswith("no allocated-bytes ratio was measured (a: Python: not measured: mimalloc")
    assert v.key == "not measured"
    # a workload not measured is left out and named; the others are judged
    some = claims.RATIO.judge(_rows([("a", 1000, 4.0, False), ("b", 1000, nan, False)]))
    assert some.verdict == "confirmed" and "not measured, left out: b: no allocated bytes in the rows" in some.evidence
    assert "nanx" not in some.evidence


def test_a_python_side_without_allocated_bytes_gives_nan_with_the_reason(monkeypatch):
    real = measure.children.run_child

    def no_mallinfo2(func, kwargs=None, **kw):
        got = real(func, kwargs, **kw)
        if func.endswith(":python_side"):  # what a child without mallinfo2 returns
            got.update(allocated=None, allocated_note="not measured: glibc's mallinfo2() is not available")
        return got

    monkeypatch.setattr(measure.children, "run_child", no_mallinfo2)
    rows = elements(["list_int", "set_int"], [1000])
    assert rows["py_alloc"].isna().all() and rows["ratio_alloc"].isna().all()
    assert (rows["alloc_note"] == "Python: not measured: glibc's mallinfo2() is not available").all()
    assert rows["cpp_alloc"].notna().all() and rows["py_req"].notna().all()
    v = claims.RATIO.judge({"elements": rows})
    assert v.verdict == "inconclusive" and "mallinfo2" in v.evidence and "nanx" not in v.evidence
    assert "alloc_note" in TOPIC.tables({"elements": rows}, None)["bytes per element"].columns


def test_the_ratio_claim_says_nothing_without_rows():
    assert claims.RATIO.judge({}) is None


def test_rows_rebuilt_from_asv_give_the_live_verdict():
    live = _rows([("list_int", 1000, 5.4, False), ("set_int", 100000, 2.3, False), ("array_q", 1000, 1.0, True)])
    tracked = pd.DataFrame([
        {"benchmark": "bench_containers.BytesPerElement.track_ratio_allocated", "args": (w, n), "value": r}
        for w, n, r in (("list_int", 1000, 5.4), ("set_int", 100000, 2.3), ("array_q", 1000, 1.0))
    ] + [{"benchmark": "bench_containers.BytesPerElement.track_python_allocated", "args": ("list_int", 1000),
          "value": 43.0},
         {"benchmark": "bench_containers.BytesPerElement.track_ratio_allocated", "args": ("nope", 1), "value": 9},
         {"benchmark": "bench_containers.BytesPerElement.track_ratio_allocated", "args": ("list_int", 10), "value": None}])
    rebuilt = TOPIC.from_asv(tracked)
    assert len(rebuilt["elements"]) == 3
    a, b = claims.RATIO.judge(live), claims.RATIO.judge(rebuilt)
    assert (a.verdict, a.evidence) == (b.verdict, b.evidence) == (a.verdict, a.evidence)
    assert a.verdict == "partly"


def test_guard_refuses_sizes_that_do_not_fit():
    with pytest.raises(MemoryGuardError, match="list_int n="):
        elements(["list_int"], [10**12])


def test_steps_side_by_side_give_the_figures_of_steps_one_by_one():
    exact = ["workload", "n", "py_req", "py_alloc", "cpp_req", "cpp_alloc", "ratio_alloc"]
    one = elements(["list_int", "dict_str_int", "set_int"], [1000, 3000], jobs=1)
    two = elements(["list_int", "dict_str_int", "set_int"], [1000, 3000], jobs=2)
    assert list(zip(two["workload"], two["n"])) == [(w, n) for w in ("list_int", "dict_str_int", "set_int")
                                                    for n in (1000, 3000)]
    assert one[exact].equals(two[exact])


def test_guard_counts_the_steps_that_run_at_once():
    n = 10**6
    need = 3 * workloads.WORKLOADS["list_int"].estimate_per_element * n
    if memory.available_memory() * 0.7 < 2 * need:
        pytest.skip("needs room for two steps of list_int at n=1e6")
    sizes = [n + i for i in range(int(memory.available_memory() * 0.7 // need) + 1)]  # one more than fits at once
    with pytest.raises(MemoryGuardError, match="%d at once" % len(sizes)):
        elements(["list_int"], sizes, jobs=len(sizes))


def test_plot_is_drawn_from_the_rows(tmp_path):
    pytest.importorskip("matplotlib")
    rows = {"elements": elements(["list_int", "set_int"], [1000, 3000])}
    path = tmp_path / "c.png"
    TOPIC.figure(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# An independent measurement of the C++ side, in glibc's own unit: mallinfo2 around the build, in a
# fresh process with glibc's tcache off (as the topic's children run: freed chunks are then free).
MALLINFO2_AROUND_BUILD = """
import gc, json, sys
from harness import _containers
from harness.core import memory
from harness.topics.containers.workloads import build_cpp, get_workload
w, n = get_workload(sys.argv[1]), int(sys.argv[2])
source = w.build_cpp_source(n)
warm = build_cpp(w, 10)  # pybind11's first-use state (type caches, its instance registry's table)
del warm
gc.collect()
before = memory.malloc_in_use()
c = build_cpp(w, n, source)
after = memory.malloc_in_use()
fp = c.footprint()
print(json.dumps({"mallinfo2": after - before, "allocated": fp["allocated"], "usable": fp["usable"],
                  "live": fp["live_allocations"], "sizeof": fp["sizeof"]}))
"""


def _mallinfo2_around_build(name, n):
    from harness.core import children, footprint

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, **footprint.measure_env())
    command = children.fixed_layout_prefix() + [sys.executable, "-c", MALLINFO2_AROUND_BUILD, name, str(n)]
    proc = subprocess.run(command, cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(memory.malloc_info() is None, reason="needs glibc's mallinfo2")
@pytest.mark.parametrize("name, per_element", [("dict_int_int", 40.63), ("set_int", 40.63), ("list_str_long", 96.03)])
def test_cpp_allocated_is_what_mallinfo2_counts_around_the_build(name, per_element):
    """cpp_alloc counts glibc chunks, headers included: mallinfo2 around the same build agrees, beside
    it only the chunk of the container object itself (made by pybind11's holder, not counted)."""
    from harness import _containers

    if measure.chunks_unknown(_containers.build_info()):
        pytest.skip(measure.chunks_unknown(_containers.build_info()))
    n = 100_000
    got = _mallinfo2_around_build(name, n)
    small = _mallinfo2_around_build(name, 1000)
    # beside the counted chunks, mallinfo2 sees only a fixed cost of the Python object (pybind11's
    # holder of the container, its instance-registry node): the same few hundred bytes at any n, give
    # or take one 16 B granule: glibc hands a chunk out whole when what would be left is under its
    # 32 B minimum, so the holder's chunks depend on the free lists the imports left (a topic's new
    # class attribute moved the n=1000 figure from 208 to 224 B on 2026-12-07)
    overhead = got["mallinfo2"] - got["allocated"]
    assert 0 <= overhead <= 256 and abs(small["mallinfo2"] - small["allocated"] - overhead) <= 16, (got, small)
    assert got["allocated"] - got["usable"] >= 8 * got["live"]  # usable size: 8 B less per chunk, or more
    assert abs(got["mallinfo2"] / n - per_element) < 0.05  # the independent figures (glibc 2.36)
    # the topic's own child (another heap history: a chunk reused whole may be 16 B bigger) agrees
    row = measure.children.run_child(measure.HERE + ":cpp_side", {"workload": name, "n": n})
    assert abs(row["allocated"] / row["n"] - got["mallinfo2"] / n) < 0.05
    assert abs(row["usable"] / row["n"] - got["mallinfo2"] / n) > 7.9  # the old unit: 8 B short per block
