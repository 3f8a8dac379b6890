"""The containers topic: same data both sides, analytic C++ bytes, verdicts from measured ratios."""
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
