"""The aliasing topic's claims on synthetic rows: every verdict each rule can give, rows picked by
case_id (never by the case's words), and the same verdict from rows rebuilt from asv results."""
from __future__ import annotations

import argparse

import pandas as pd
import pytest

import harness.topics.aliasing as al
from harness.errors import ChildError
from harness.topic import Case, Plan, Skip, Topic
from harness.topics.aliasing import workloads as W
from harness.topics.aliasing.claims import CLAIMS
from harness.topics.aliasing.conformance import CASE_IDS, CaseId

BY_ID = {c.id: c for c in CLAIMS}


def conf(*cases):
    """Conformance rows: (backend, case_id, shares_memory[, same_object[, conforms[, result_type]]])."""
    rows = []
    for c in cases:
        backend, cid, shares = c[:3]
        same = c[3] if len(c) > 3 else False
        conforms = c[4] if len(c) > 4 else True
        rtype = c[5] if len(c) > 5 else "numpy.ndarray"
        rows.append({"backend": backend, "case": "words for %s" % cid, "case_id": cid, "operation": cid,
                     "compared_with": "v", "result_type": rtype, "same_object": same, "shares_memory": shares,
                     "promise": "may alias", "conforms": conforms, "note": "", "raised": False,
                     "overwritten": None})
    return {"conformance": pd.DataFrame(rows)}


def samples(t, n=10, spread=0.01):
    """n samples around t seconds (deterministic, +-spread)."""
    return [t * (1 + spread * ((i * 7) % n - n / 2) / n) for i in range(n)]


def tput(op, times, nbytes=64_000_000, n=10):
    """Throughput rows of one operation: {backend: (copy seconds, borrow seconds)}, each with n samples
    around its time (n=0: no samples, as rows rebuilt from asv results)."""
    rows = []
    for b, (c, w) in times.items():
        for borrow, t in ((False, c), (True, w)):
            r = {"backend": b, "device": "cpu", "operation": op, "borrow": borrow, "bytes": nbytes,
                 "median_s": t, "gbps": nbytes / t / 1e9}
            if n:
                r["values"] = samples(t, n)
            rows.append(r)
    return pd.DataFrame(rows)


def verdict(claim_id, rows):
    got = BY_ID[claim_id].judge(rows)
    return None if got is None else got.verdict


def test_claim_ids_and_figures():
    assert [c.id for c in CLAIMS] == [
        "aliasing.shared_borrow", "aliasing.shared_borrow_faster", "aliasing.shared_not_aliased",
        "aliasing.get_value_internal", "aliasing.set_value_borrow", "aliasing.inplace_update",
        "aliasing.in_out_borrow", "aliasing.get_value_ndarray", "aliasing.timing_overhead",
        "aliasing.own_memory", "aliasing.internal_safe", "aliasing.get_value_same", "aliasing.gpu_borrow_useless",
        "aliasing.gpu_contiguous"]
    kinds = {"conformance", "throughput", "overhead", "devices"}
    assert all(f.split(".")[0] in kinds for c in CLAIMS for f in c.figures)
    assert len(set(CASE_IDS)) == len(CASE_IDS)


def test_no_rows_no_verdict():
    assert [c.judge({}) for c in CLAIMS] == [None] * len(CLAIMS)
    assert [c.judge(conf(("a", CaseId.SHARED_BORROW_NONCONTIG, False))) for c in CLAIMS] == [None] * len(CLAIMS)


@pytest.mark.parametrize("shares,expected", [((True, True), "confirmed"), ((False, False), "refuted"),
                                             ((True, False), "partly")])
def test_shared_borrow(shares, expected):
    rows = conf(("a", CaseId.SHARED_BORROW, shares[0]), ("b", CaseId.SHARED_BORROW, shares[1]))
    assert verdict("aliasing.shared_borrow", rows) == expected


def test_a_renamed_case_keeps_its_verdict():
    rows = conf(("a", CaseId.SHARED_BORROW, True))
    rows["conformance"]["case"] = "shared, borrowed (renamed)"
    v = BY_ID["aliasing.shared_borrow"].judge(rows)
    assert v.verdict == "confirmed" and v.evidence == "a: aliases"


@pytest.mark.parametrize("times,expected", [
    ({"a": (4.0, 1.0)}, "confirmed"),
    ({"a": (1.0, 1.0)}, "refuted"),  # a tie: no significant difference is not faster
    ({"a": (1.0, 1.1)}, "refuted"),  # borrow slower
    ({"a": (1.5, 1.0), "b": (1.0, 1.0)}, "partly"),  # 1.5x, well apart: faster whatever the threshold
])
def test_shared_borrow_faster(times, expected):
    v = BY_ID["aliasing.shared_borrow_faster"].judge({"throughput": tput("shared", times)})
    assert v.verdict == expected and v.evidence.startswith("at 64MB, copy time / borrow time: a: ")
    said = {"confirmed": "borrow faster", "partly": "borrow faster"}.get(expected)
    assert said is None or "a: %.3gx, %s (p=" % (times["a"][0] / times["a"][1], said) in v.evidence


def test_shared_borrow_faster_needs_a_significant_difference():
    # 4x on medians, but samples that overlap: no significant difference, so not "faster"
    rows = tput("shared", {"a": (4.0, 1.0)})
    rows.at[0, "values"] = [4.0, 0.5, 4.0, 0.5, 4.0, 0.5]
    rows.at[1, "values"] = [1.0, 4.5, 1.0, 4.5, 1.0, 4.5]
    v = BY_ID["aliasing.shared_borrow_faster"].judge({"throughput": rows})
    assert v.verdict == "refuted" and "no significant difference" in v.evidence
    # no samples at all (one figure, as asv keeps): too few to test
    v = BY_ID["aliasing.shared_borrow_faster"].judge({"throughput": tput("shared", {"a": (4.0, 1.0)}, n=0)})
    assert v.verdict == "inconclusive" and "too few samples" in v.evidence


def test_shared_borrow_faster_from_asv_is_the_live_verdict():
    # asv keeps one figure per benchmark: the rows rebuilt from it hold no samples, and a live run
    # of one figure each gets the same verdict: inconclusive, never a time comparison without a test
    live = {"throughput": tput("shared", {"pytensor-c": (4e-3, 1e-3), "theano": (1e-3, 1e-3)}, 16_000_000, n=0)}
    tracked = pd.DataFrame([
        {"benchmark": "bench_aliasing.Operations.time_operation", "args": (b, "shared", borrow, 16_000_000),
         "value": t}
        for b, (c, w) in {"pytensor-c": (4e-3, 1e-3), "theano": (1e-3, 1e-3)}.items()
        for borrow, t in ((False, c), (True, w))] + [
        {"benchmark": "bench_aliasing.Operations.track_gbps", "args": ("theano", "shared", True, 16_000_000),
         "value": 1.0},  # the older figure is not used where time_operation is there
        {"benchmark": "bench_aliasing.Operations.track_gbps", "args": ("theano", "shared", True, 4_000),
         "value": float("nan")},  # no figure: left out
        {"benchmark": "bench_aliasing.CallRate.track_calls_per_second", "args": ("theano", True), "value": 1e6}])
    rebuilt = al.TOPIC.from_asv(tracked)
    assert sorted(rebuilt["throughput"]["median_s"]) == [1e-3, 1e-3, 1e-3, 4e-3]
    want, got = BY_ID["aliasing.shared_borrow_faster"].judge(live), BY_ID["aliasing.shared_borrow_faster"].judge(rebuilt)
    assert got.verdict == want.verdict == "inconclusive" and got.evidence == want.evidence
    assert [c.judge(rebuilt) is None for c in CLAIMS].count(False) == 1  # nothing else is tracked


@pytest.mark.parametrize("copy,borrow,expected", [(False, False, "confirmed"), (False, True, "partly"),
                                                  (True, True, "refuted")])
def test_shared_never_aliased(copy, borrow, expected):
    rows = conf(("a", CaseId.TWO_SHARED_COPY, copy), ("a", CaseId.TWO_SHARED_BORROW, borrow))
    assert verdict("aliasing.shared_not_aliased", rows) == expected


@pytest.mark.parametrize("internal,copy_shares,expected", [
    ((True, True), (False, False), "confirmed"), ((False, False), (False, False), "refuted"),
    ((True, True), (False, True), "partly")])
def test_get_value_internal(internal, copy_shares, expected):
    rows = conf(("a", CaseId.GET_BORROW_INTERNAL, True, internal[0]), ("b", CaseId.GET_BORROW_INTERNAL, True, internal[1]),
                ("a", CaseId.GET_COPY, copy_shares[0]), ("b", CaseId.GET_COPY, copy_shares[1]))
    assert verdict("aliasing.get_value_internal", rows) == expected
    assert verdict("aliasing.get_value_internal", conf(("a", CaseId.GET_BORROW_INTERNAL, True, True))) is None


@pytest.mark.parametrize("same,dtype,expected", [(True, True, "confirmed"), (True, False, "partly"),
                                                 (False, False, "refuted")])
def test_set_value_borrow(same, dtype, expected):
    rows = conf(("a", CaseId.SET_BORROW, same), ("a", CaseId.SET_BORROW_DTYPE, dtype),
                ("a", CaseId.SET_BORROW_NONCONTIG, True))
    assert verdict("aliasing.set_value_borrow", rows) == expected


@pytest.mark.parametrize("kept,expected", [((True, True), "confirmed"), ((False, False), "refuted"),
                                           ((True, False), "partly")])
def test_inplace_update(kept, expected):
    rows = conf(("a", CaseId.INPLACE, kept[0]), ("b", CaseId.INPLACE, kept[1]))
    rows["throughput"] = tput("update_pattern", {"a": (3.0, 1.0)})
    v = BY_ID["aliasing.inplace_update"].judge(rows)
    assert v.verdict == expected and v.evidence.endswith("at 64MB it is faster than get_value()/set_value() "
                                                         "copies by: a 3x")


@pytest.mark.parametrize("identity,reused,expected", [(True, True, "confirmed"), (True, False, "partly"),
                                                      (False, True, "refuted")])
def test_in_out_borrow(identity, reused, expected):
    rows = conf(("a", CaseId.IDENTITY_BORROW_BORROW, identity), ("a", CaseId.IDENTITY_BORROW_COPY, False),
                ("a", CaseId.OUT_BORROW_TWO_CALLS, reused))
    v = BY_ID["aliasing.in_out_borrow"].judge(rows)
    assert v.verdict == expected and "no-gc" not in v.evidence


@pytest.mark.parametrize("conforms,expected", [((True, True), "confirmed"), ((False, None), "refuted"),
                                               ((True, False), "partly")])
def test_get_value_ndarray(conforms, expected):
    rows = conf(("a", CaseId.AFTER_UPDATE_COPY, False, False, conforms[0]),
                ("b", CaseId.AFTER_UPDATE_COPY, False, False, conforms[1], "jax.Array"),
                ("b", CaseId.AFTER_UPDATE_BORROW, False, False, True))
    v = BY_ID["aliasing.get_value_ndarray"].judge(rows)
    assert v.verdict == expected and v.evidence == "a: numpy.ndarray; b: jax.Array"


@pytest.mark.parametrize("empty_call,expected,under", [(1e-9, "confirmed", "4KB, 64MB"), (1e-1, "refuted", "no size"),
                                                       (2e-8, "partly", "64MB")])
def test_timing_overhead(empty_call, expected, under):
    # the fastest operation at each size is a borrow (100 ns at 4 KB, 1 us at 64 MB), and the
    # verdict reads it, not the slow copy at 64 MB
    t = pd.concat([tput("copy", {"a": (1e-2, 1e-6)}), tput("call", {"a": (2e-3, 1e-5)}),
                   tput("copy", {"a": (1e-6, 1e-7)}, nbytes=4000)], ignore_index=True)
    rows = {"throughput": t, "overhead": pd.DataFrame([{"backend": "a", "median_s": empty_call, "iqr_s": 0.0}])}
    v = BY_ID["aliasing.timing_overhead"].judge(rows)
    assert v.verdict == expected and v.evidence.startswith("under 5%% at: %s; over at: " % under)
    if expected == "partly":
        assert v.evidence.endswith("over at: 4KB (a copy borrow: 20 ns of 100 ns, 20%)")


def test_timing_overhead_reads_the_overhead_measured_at_each_size():
    t = pd.concat([tput("copy", {"a": (1e-2, 1e-6)}), tput("copy", {"a": (1e-6, 1e-7)}, nbytes=4000)],
                  ignore_index=True)
    oh = pd.DataFrame([{"backend": "a", "bytes": 4000, "median_s": 1e-9}, {"backend": "a", "bytes": 64_000_000,
                                                                           "median_s": 1e-6}])
    v = BY_ID["aliasing.timing_overhead"].judge({"throughput": t, "overhead": oh})
    assert v.verdict == "partly" and v.evidence.startswith("under 5% at: 4KB; over at: 64MB (a copy borrow: 1e+03 ns")


# ---------------------------------------------------------------- the Topic object


def test_topic_has_every_method_of_the_protocol():
    for name in [n for n in dir(Topic) if not n.startswith("_")]:
        assert hasattr(al.TOPIC, name), name
    assert al.TOPIC.name == "aliasing" and al.TOPIC.claims is CLAIMS


def test_plan_skips_what_is_missing_with_its_install_command(monkeypatch):
    monkeypatch.setattr(W, "presence", lambda name: "not here")
    p = al.TOPIC.plan(al.Options(sizes=[4000]))
    assert [c.label for c in p.cases] == ["numpy"] and p.jobs == 1
    assert [s.what for s in p.skips] == list(W.CPU_BACKENDS)
    assert p.skips[0].note().startswith("theano skipped: not here; install with: python3.11 -m venv V")
    conf_only = al.TOPIC.plan(al.Options(only="conformance"))
    assert conf_only.cases == [] and all(c.estimate == 0 for c in conf_only.cases)


def test_every_backend_failing_fails_the_run(monkeypatch):
    # the numpy reference alone is no result when every backend that was tried failed; a backend
    # that is skipped (not installed) has not failed
    from harness import runner

    o = al.Options(backends=["pytensor-c"], pythons={"pytensor-c": "/bin/false"}, sizes=[4000])
    p = al.TOPIC.plan(o)
    assert [c.params["python"] for c in p.cases] == [None, "/bin/false"] and p.essential == ["pytensor-c"]
    import harness.topics.aliasing.measure as M

    def run(backends, *a, **k):
        if backends != ["numpy"]:
            raise ChildError("child died")
        return {"backends": [{"backend": "numpy"}]}

    monkeypatch.setattr(M, "run_backends", run)
    with pytest.raises(ChildError, match="every case that was tried failed: pytensor-c: child died"):
        runner.measure(al.TOPIC, o)
    monkeypatch.setattr(al.TOPIC, "plan", lambda o: Plan(p.cases[:1], [Skip("pytensor-c", "not installed")],
                                                         jobs=1, essential=[]))
    assert len(runner.measure(al.TOPIC, o).rows["backends"]) == 1  # skipped is not failed


def test_options_from_arguments_and_notes():
    args = argparse.Namespace(backends=None, device="cpu", sizes=[64000, 4000, 4000], large=True, repeat=2,
                              min_time=0.01, only=None, python=[("theano", "/x")], timeout=9.0, detail=False,
                              format="json")
    o = al.TOPIC.options(args)
    assert o.sizes == sorted({4000, 64000} | set(W.LARGE_SIZES)) and o.detail and o.python_of("theano") == "/x"
    assert o.python_of("numpy") is None and o.backends == list(W.CPU_BACKENDS)
    rows = {"backends": pd.DataFrame([{"backend": "numpy", "versions": {"numpy": "2.0"}, "python": "3.11.7",
                                       "interpreter": "/p", "seconds": 2.07}]),
            "throughput": tput("copy", {"numpy": (1.0, 1.0)})}
    assert al.TOPIC.meta(rows, o)["backends"] == {"numpy": {"versions": {"numpy": "2.0"}, "python": "3.11.7",
                                                            "interpreter": "/p", "seconds": 2.07}}
    notes = al.TOPIC.notes(rows, o)
    assert notes[0].startswith("numpy: numpy reference: ") and notes[0].endswith("[numpy 2.0; Python 3.11.7, 2.1 s]")
    assert notes[1] == al.GBPS_NOTE and notes[2].startswith("transparent huge pages (")


def test_execute_turns_a_child_that_lacks_the_backend_into_backend_missing():
    from harness.errors import BackendMissing

    case = Case("tensorflow", {"backends": ["tensorflow"], "python": None, "conformance": True, "throughput": False})
    with pytest.raises(BackendMissing) as exc:
        al.TOPIC.execute(case, al.Options(sizes=[8]))
    assert exc.value.reason.startswith("unknown backend")
