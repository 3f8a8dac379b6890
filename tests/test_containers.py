"""The containers topic: same data both sides, analytic C++ bytes, verdicts from measured ratios."""
import pandas as pd
import pytest

from harness.core import memory
from harness import containers, cpp
from harness.errors import MemoryGuardError

pytestmark = pytest.mark.skipif(cpp.available() is not None, reason=str(cpp.available()))


@pytest.mark.parametrize("name", list(containers.WORKLOADS))
def test_both_sides_hold_the_same_data(name):
    w = containers.WORKLOADS[name]
    if w.available():
        pytest.skip(w.available())
    n = 300
    py = w.build_python(n)
    c = containers.build_cpp(w, n)
    expected = py
    if w.cpp_class == "RecordVector":
        expected = [tuple(r) if isinstance(r, tuple) else (r.id, r.x, r.y, r.name) for r in py]
    elif w.name in ("array_q", "numpy_int64"):
        expected = [int(x) for x in py]
    assert c.to_python() == (dict(expected) if isinstance(expected, dict) else expected)


def test_cpp_bytes_of_int_vector_are_the_analytic_count():
    n = 10_000
    row = containers.measure_cpp("list_int", n)
    assert row["requested"] == 8 * n + row["sizeof"]
    assert row["live_allocations"] == 1


def test_cpp_tree_map_holds_one_node_per_key():
    n = 5_000
    row = containers.measure_cpp("dict_int_int_tree", n)
    assert row["live_allocations"] == n
    # node = 32-byte header (colour + 3 pointers) + pair<const int64, int64>
    assert row["requested"] == n * (32 + 16) + row["sizeof"]


def test_compare_row_ratios_are_computed_from_the_measured_bytes():
    row = containers.compare("list_float", 2000)
    assert row["ratio_alloc"] == pytest.approx(row["py_alloc"] / row["cpp_alloc"])
    assert row["ratio_req"] == pytest.approx(row["py_req"] / row["cpp_req"])
    # a float is 24 bytes in a 32-byte pymalloc block, plus an 8-byte pointer in the list
    assert 40 <= row["py_alloc"] < 48
    assert row["verdict"] == containers.ratio_verdict(row["ratio_alloc"])


@pytest.mark.parametrize("ratio, verdict", [(2.99, "below 3x"), (3.0, "within 3-6x"), (6.0, "within 3-6x"),
                                            (6.01, "above 6x"), (float("nan"), "n/a")])
def test_ratio_verdict_bounds(ratio, verdict):
    assert containers.ratio_verdict(ratio) == verdict


def _rows(ratios):
    return pd.DataFrame([
        {"workload": name, "n": 1000, "ratio_alloc": r, "verdict": containers.ratio_verdict(r), "reference": ref}
        for name, r, ref in ratios
    ])


def test_judge_follows_the_figures():
    assert containers.judge(_rows([("a", 4.0, False), ("b", 5.0, False)])).verdict == "confirmed"
    assert containers.judge(_rows([("a", 1.5, False), ("b", 8.0, False)])).verdict == "refuted"
    v = containers.judge(_rows([("a", 4.0, False), ("b", 2.0, False), ("ref", 1.0, True)]))
    assert v.verdict == "partly" and "a 4.0x" in v.evidence and "b 2.0x" in v.evidence and "ref" not in v.evidence


def test_judge_uses_the_largest_size_of_each_workload():
    df = pd.DataFrame([
        {"workload": "a", "n": 1000, "ratio_alloc": 9.0, "verdict": "above 6x", "reference": False},
        {"workload": "a", "n": 100000, "ratio_alloc": 4.0, "verdict": "within 3-6x", "reference": False},
    ])
    assert containers.judge(df).verdict == "confirmed"


def test_guard_refuses_sizes_that_do_not_fit():
    with pytest.raises(MemoryGuardError, match="list_int at n="):
        containers.measure_all(["list_int"], [10**12])


def test_steps_side_by_side_give_the_figures_of_steps_one_by_one():
    exact = ["workload", "n", "py_req", "py_alloc", "cpp_req", "cpp_alloc", "ratio_alloc"]
    one = containers.measure_all(["list_int", "dict_str_int", "set_int"], [1000, 3000], jobs=1)
    two = containers.measure_all(["list_int", "dict_str_int", "set_int"], [1000, 3000], jobs=2)
    assert list(zip(two["workload"], two["n"])) == [(w, n) for w in ("list_int", "dict_str_int", "set_int")
                                                    for n in (1000, 3000)]
    assert one[exact].equals(two[exact])


def test_guard_counts_the_steps_that_run_at_once():
    n = 10**6
    need = 3 * containers.WORKLOADS["list_int"].estimate_per_element * n
    jobs = int(memory.available_memory() // need) + 1  # one more than fits
    with pytest.raises(MemoryGuardError, match="%d at once" % jobs):
        containers.measure_all(["list_int"], [n], jobs=jobs)


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from harness.output import TopicResult

    df = containers.measure_all(["list_int", "set_int"], [1000, 3000])
    res = TopicResult("containers", {"bytes per element": df.drop(columns=["reference"])})
    path = tmp_path / "c.png"
    containers.plot(res, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
