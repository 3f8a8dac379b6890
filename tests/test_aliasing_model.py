"""The Theano memory-model claims on synthetic rows (every verdict each rule can give, and "not
measured" with the reason for the GPU ones), the limits' arithmetic, the join of several timed
children, and the throughput table's treatment of borrows and flagged copies."""
from __future__ import annotations

import pandas as pd
import pytest
from test_aliasing_claims import conf, samples, tput

import harness.topics.aliasing as al
from harness.claims import judge_all
from harness.core import limits as L
from harness.topics.aliasing import conformance as C
from harness.topics.aliasing import tables as TB
from harness.topics.aliasing import timed
from harness.topics.aliasing.claims import CLAIMS
from harness.topics.aliasing.claims_model import DEFAULT_FLAG_CASES
from harness.topics.aliasing.conformance import CaseId

BY_ID = {c.id: c for c in CLAIMS}


def judged(claim_id, rows):
    return BY_ID[claim_id].judge(rows)


# ---------------------------------------------------------------- Theano's own memory space


@pytest.mark.parametrize("a_overlaps,b_overlaps,expected", [
    ((), (), "confirmed"), ((CaseId.GET_COPY,), (CaseId.SHARED_COPY,), "refuted"),
    ((), (CaseId.OUT_COPY_TWO_CALLS,), "partly")])
def test_own_memory(a_overlaps, b_overlaps, expected):
    cases = [(b, cid, cid in over) for b, over in (("a", a_overlaps), ("b", b_overlaps)) for cid in DEFAULT_FLAG_CASES]
    v = judged("aliasing.own_memory", conf(*cases))
    assert v.verdict == expected
    assert ("b: " + (", ".join(b_overlaps) or "nothing")) in v.evidence


def test_own_memory_skips_what_cannot_be_told_and_ignores_borrowed_cases():
    rows = conf(("a", CaseId.SHARED_COPY, None), ("a", CaseId.SHARED_BORROW, True))
    assert judged("aliasing.own_memory", rows) is None  # nothing told with default flags
    rows = conf(("a", CaseId.SHARED_COPY, None), ("a", CaseId.GET_COPY, False), ("a", CaseId.SHARED_BORROW, True))
    assert judged("aliasing.own_memory", rows).verdict == "confirmed"
    # the same object is an overlap even where shares_memory says False (a foreign type)
    assert judged("aliasing.own_memory", conf(("a", CaseId.GET_COPY, False, True))).verdict == "refuted"


# ---------------------------------------------------------------- the internal object, held


def held(backend, right, changed, internal=True):
    rows = conf((backend, CaseId.INTERNAL_HELD, True), (backend, CaseId.GET_BORROW_INTERNAL, True, internal))
    df = rows["conformance"]
    df.loc[df["case_id"] == CaseId.INTERNAL_HELD, "results_right"] = right
    df.loc[df["case_id"] == CaseId.INTERNAL_HELD, "overwritten"] = changed
    return df


@pytest.mark.parametrize("states,expected", [
    ([(True, False)], "confirmed"),
    ([(True, True)], "refuted"),  # the library overwrote the held object in place
    ([(False, False)], "refuted"),  # wrong results while it was held
    ([(True, False), (True, True)], "partly")])
def test_internal_safe(states, expected):
    df = pd.concat([held("be%d" % i, r, c) for i, (r, c) in enumerate(states)], ignore_index=True)
    v = judged("aliasing.internal_safe", {"conformance": df})
    assert v.verdict == expected
    r, c = states[0]
    assert v.evidence.startswith("be0: internal object yes, results right %s, r changed by an update %s" % (
        "yes" if r else "no", "yes" if c else "no"))


def test_internal_safe_needs_the_internal_object():
    v = judged("aliasing.internal_safe", {"conformance": held("a", True, False, internal=False)})
    assert v.verdict == "refuted" and "internal object no" in v.evidence


def test_internal_safe_without_the_internal_case_is_not_a_pass():
    df = held("a", True, False)
    v = judged("aliasing.internal_safe", {"conformance": df[df["case_id"] != CaseId.GET_BORROW_INTERNAL]})
    assert v.verdict == "inconclusive" and v.evidence.startswith("not measured")


# ---------------------------------------------------------------- get_value(), twice


@pytest.mark.parametrize("same,expected", [((True, True), "confirmed"), ((False, False), "refuted"),
                                           ((True, False), "partly")])
def test_get_value_same(same, expected):
    rows = conf(("a", CaseId.GET_TWICE, False, same[0]), ("b", CaseId.GET_TWICE, False, same[1]),
                ("a", CaseId.GET_BORROW, True, True), ("a", CaseId.GET_COPY, False, False))
    v = judged("aliasing.get_value_same", rows)
    assert v.verdict == expected
    assert v.evidence.startswith("a: get_value() twice gives one object %s, the stored object no; "
                                 "get_value(borrow=True) is the stored object yes" % ("yes" if same[0] else "no"))


# ---------------------------------------------------------------- the GPU claims


def devices(cuda, reason="", device="cpu"):
    return pd.DataFrame([{"device": device, "cuda": cuda, "reason": reason}])


GPU = ("aliasing.gpu_borrow_useless", "aliasing.gpu_contiguous")


@pytest.mark.parametrize("claim_id", GPU)
def test_gpu_claims_without_a_device_say_not_measured(claim_id):
    why = "no CUDA device: no /dev/nvidia* device node and no nvidia-smi on PATH"
    v = judged(claim_id, {"devices": devices(False, why)})
    assert v.verdict == "inconclusive" and v.evidence == "not measured: " + why
    v = judged(claim_id, {"devices": devices(True)})
    assert v.verdict == "inconclusive" and "--device gpu measures it" in v.evidence
    assert judged(claim_id, {}) is None  # rows that say nothing about devices (asv)
    # the CuPy model alone is no evidence about a library
    model = {"throughput": tput("shared", {"cupy": (2.0, 1.0)}), "devices": devices(True, device="gpu")}
    v = judged(claim_id, model)
    assert v.verdict == "inconclusive" and v.evidence.startswith("only the CuPy model ran")


@pytest.mark.parametrize("times,aliases,expected", [
    ({"pytensor-jax-gpu": (1.0, 1.0)}, False, "confirmed"),  # no aliasing, no significant difference
    ({"pytensor-jax-gpu": (3.0, 1.0)}, False, "refuted"),  # borrow significantly faster
    ({"pytensor-jax-gpu": (1.0, 1.0)}, True, "refuted"),  # borrow aliased the host value
])
def test_gpu_borrow_useless(times, aliases, expected):
    rows = conf(("pytensor-jax-gpu", CaseId.SHARED_BORROW, aliases))
    rows["throughput"] = tput("shared", times)
    v = judged("aliasing.gpu_borrow_useless", rows)
    assert v.verdict == expected and v.evidence.startswith(
        "pytensor-jax-gpu: shared(v, borrow=True) aliases v %s; at 64MB copy/borrow time" % ("yes" if aliases else "no"))


def test_gpu_borrow_useless_partly_across_backends():
    # two real GPU backends (a second name stands in for another library)
    import harness.topics.aliasing.claims_model as M

    rows = conf(("pytensor-jax-gpu", CaseId.SHARED_BORROW, False), ("other-gpu", CaseId.SHARED_BORROW, False))
    rows["throughput"] = pd.concat([tput("shared", {"pytensor-jax-gpu": (1.0, 1.0)}),
                                    tput("shared", {"other-gpu": (3.0, 1.0)})], ignore_index=True)
    old = M.GPU_BACKENDS
    M.GPU_BACKENDS = old + ("other-gpu",)
    try:
        v = judged("aliasing.gpu_borrow_useless", rows)
        assert v.verdict == "partly" and "other-gpu: shared(v, borrow=True) aliases v no; at 64MB copy/borrow time 3x, " \
            "borrow faster (p=" in v.evidence
        # the alias never measured, or speed samples that cannot be tested: no verdict, not "useless"
        unmeasured = {"throughput": rows["throughput"]}
        v = judged("aliasing.gpu_borrow_useless", unmeasured)
        assert v.verdict == "inconclusive" and "was not measured" in v.evidence
        medians = dict(rows, throughput=tput("shared", {"pytensor-jax-gpu": (1.0, 1.0)}).assign(values=None))
        v = judged("aliasing.gpu_borrow_useless", medians)
        assert v.verdict == "inconclusive" and "speed not tested" in v.evidence
    finally:
        M.GPU_BACKENDS = old


def strided(b, contiguous, strided_s, n=10):
    rows = []
    for op, t in (("set_value", contiguous), ("set_value_strided", strided_s)):
        rows.append({"backend": b, "device": "gpu", "operation": op, "borrow": False, "bytes": 64_000_000,
                     "median_s": t, "values": samples(t, n) if n else None})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("times,expected", [((1.0, 2.0), "confirmed"), ((1.0, 1.0), "refuted"),
                                            ((2.0, 1.0), "refuted")])
def test_gpu_contiguous(times, expected):
    v = judged("aliasing.gpu_contiguous", {"throughput": strided("pytensor-jax-gpu", *times)})
    assert v.verdict == expected
    assert v.evidence.startswith("pytensor-jax-gpu: at 64MB strided/contiguous set_value time %.3gx, strided %s" % (
        times[1] / times[0], "slower" if expected == "confirmed" else "not slower"))


def test_gpu_contiguous_partly_across_backends(monkeypatch):
    import harness.topics.aliasing.claims_model as M

    monkeypatch.setattr(M, "GPU_BACKENDS", M.GPU_BACKENDS + ("other-gpu",))
    rows = pd.concat([strided("pytensor-jax-gpu", 1.0, 2.0), strided("other-gpu", 1.0, 1.0)], ignore_index=True)
    v = judged("aliasing.gpu_contiguous", {"throughput": rows})
    assert v.verdict == "partly" and "other-gpu: at 64MB strided/contiguous set_value time 1x, strided not slower" in v.evidence


def test_gpu_contiguous_inconclusive_without_the_timings():
    v = judged("aliasing.gpu_contiguous", {"throughput": tput("shared", {"pytensor-jax-gpu": (1.0, 1.0)})})
    assert v.verdict == "inconclusive" and v.evidence.startswith("no strided and contiguous set_value timed on")
    v = judged("aliasing.gpu_contiguous", {"throughput": strided("pytensor-jax-gpu", 1.0, 2.0, n=0)})
    assert v.verdict == "inconclusive" and "too few samples" in v.evidence


def test_finish_adds_the_devices_row(monkeypatch):
    import harness.topics.aliasing.gpu as G

    monkeypatch.setattr(G, "no_device_reason", lambda: "no CUDA device: none here")
    dev = al.TOPIC.finish({}, al.Options(sizes=[4000]))["devices"].iloc[0]
    assert dev["device"] == "cpu" and not dev["cuda"] and dev["reason"] == "no CUDA device: none here"
    monkeypatch.setattr(G, "no_device_reason", lambda: None)
    assert bool(al.TOPIC.finish({}, al.Options(sizes=[4000]))["devices"].iloc[0]["cuda"])


# ---------------------------------------------------------------- several timed children joined


def child(op_values, limit_values, overhead_values):
    return {
        "throughput": [{"backend": "x", "device": "cpu", "operation": "copy", "borrow": False, "bytes": 8000,
                        "limit": L.ALLOC_COPY, "values": op_values, "runs": [op_values], "number": 10,
                        "warmups": 1, "processes": 1, "median_s": -1.0}],
        "limits": [{"limit": L.ALLOC_COPY, "bytes": 8000, "values": limit_values, "runs": [limit_values],
                    "number": 50, "warmups": 1, "processes": 1, "gbps": -1.0}],
        "overhead": [{"bytes": 8000, "values": overhead_values, "runs": [overhead_values], "number": 1000,
                      "warmups": 1, "processes": 1, "median_s": -1.0}],
    }


def test_join_merges_the_samples_of_every_child_then_derives_the_figures():
    out = timed.join([child([4e-6, 2e-6], [1e-6, 3e-6], [1e-8, 3e-8]), child([3e-6, 1e-6], [5e-7, 2e-6], [2e-8, 4e-8])])
    (row,), (lim,) = out["throughput"], out["limits"]
    assert row["processes"] == 2 and row["runs"] == [[4e-6, 2e-6], [3e-6, 1e-6]] and row["samples"] == 4
    assert row["median_s"] == pytest.approx(2.5e-6) and row["min_s"] == 1e-6  # the -1 of each child is gone
    assert lim["min_s"] == 5e-7 and lim["gbps"] == pytest.approx(8000 / 5e-7 / 1e9)  # fastest of both children
    assert row["limit_gbps"] == lim["gbps"] and row["gbps"] == pytest.approx(8000 / 2.5e-6 / 1e9)
    assert row["fraction_of_limit"] == pytest.approx(row["gbps"] / lim["gbps"])
    assert [(oh["bytes"], oh["processes"]) for oh in out["overhead"]] == [(8000, 2)]
    assert out["overhead"][0]["median_s"] == pytest.approx(2.5e-8)
    assert row["harness_overhead"] == pytest.approx(2.5e-8 / 2.5e-6)


# ---------------------------------------------------------------- the throughput table


def test_throughput_table_borrows_have_no_gbps_and_flagged_copies_say_so():
    rows = tput("copy", {"x": (4e-6, 1e-6)}, nbytes=4000)
    rows["iqr_s"] = 0.0
    rows["limit"] = [L.ALLOC_COPY, None]
    rows["gbps"] = [1e-3, float("nan")]
    rows["fraction_of_limit"] = [1.2, float("nan")]
    rows["limit_flag"] = [L.FLAG, ""]
    t = TB.throughput_table(rows).iloc[0]
    assert t["check"] == L.FLAG and t["limit"] == "alloc+copy" and t["borrow_speedup"] == pytest.approx(4.0)
    assert t["borrow_vs_copy"].startswith("borrow faster (p=")
    assert "borrow_GBps" not in TB.throughput_table(rows).columns


# ---------------------------------------------------------------- tables and verdicts from rows


def _conf_rows(shares_by_backend):
    rows = []
    for b, shares in shares_by_backend.items():
        for case, cid, promise in (("shared/borrow", CaseId.SHARED_BORROW, C.MAY),
                                   ("shared/two from one array", CaseId.TWO_SHARED_COPY, C.MUST_NOT),
                                   ("shared/two from one array/borrow", CaseId.TWO_SHARED_BORROW, C.MUST_NOT)):
            s = shares if "borrow" in case else False
            rows.append({"backend": b, "case": case, "case_id": cid, "operation": case, "compared_with": "v",
                         "result_type": "numpy.ndarray", "same_object": False, "shares_memory": s,
                         "promise": promise, "conforms": C.judge(promise, s, False, "numpy.ndarray"), "note": "",
                         "raised": False, "overwritten": None})
    return pd.DataFrame(rows)


def test_conformance_table_marks_broken_promises():
    wide = TB.conformance_table(_conf_rows({"a": True, "b": False}))
    assert list(wide.columns) == ["case", "promise", "a", "b"]
    row = wide[wide["case"] == "shared/two from one array/borrow"].iloc[0]
    assert row["a"] == "shares memory [BREAKS PROMISE]" and row["b"] == "separate copy"


def test_verdicts_follow_the_rows():
    v = {x.claim: x for x in judge_all(CLAIMS, {"conformance": _conf_rows({"a": True, "b": False})})}
    assert v["shared(value, borrow=True) aliases value instead of deep-copying it"].verdict == "partly"
    assert v["shared variables are never aliased to one another"].verdict == "partly"
    v = {x.claim: x for x in judge_all(CLAIMS, {"conformance": _conf_rows({"a": False})})}
    assert v["shared(value, borrow=True) aliases value instead of deep-copying it"].verdict == "refuted"
    assert v["shared variables are never aliased to one another"].verdict == "confirmed"


def test_throughput_table_speedup_is_copy_over_borrow():
    rows = pd.DataFrame([
        {"backend": "x", "operation": "shared", "borrow": False, "bytes": 1000, "median_s": 4e-6, "gbps": 0.25,
         "fraction_of_limit": 0.1, "limit": "copyto"},
        {"backend": "x", "operation": "shared", "borrow": True, "bytes": 1000, "median_s": 1e-6, "gbps": 1.0,
         "fraction_of_limit": 0.4, "limit": "copyto"},
    ])
    t = TB.throughput_table(rows)
    assert t.loc[0, "borrow_speedup"] == pytest.approx(4.0)
    assert t.loc[0, "size"] == "1KB" and t.loc[0, "copy_us"] == pytest.approx(4.0)
