"""memharness aliasing: the machinery, with no backend needed (numpy reference only).

Tests that need Theano, PyTensor or JAX are in test_aliasing_backends.py and
skip (with the reason and the install command) where those are missing.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.core.optional import INSTALL
from harness.errors import BackendMissing, HarnessError
from harness.topics.aliasing import backends as B
from harness.topics.aliasing import conformance as C
from harness.topics.aliasing import gpu as G
from harness.topics.aliasing import measure as T
from harness.topics.aliasing import workloads as W
from harness.topics.aliasing.conformance import CaseId

TINY = ["--sizes", "4KB,64KB", "--repeat", "2", "--min-time", "0.001", "-q"]


def _rc(argv):
    """main()'s exit status; argparse's own errors exit through SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _numpy_byte_bounds(a):
    fn = getattr(getattr(np.lib, "array_utils", None), "byte_bounds", None) or np.byte_bounds
    return fn(a)


# ---------------------------------------------------------------- where bytes live


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), start=st.integers(0, 5), step=st.sampled_from([1, 2, 3, -1, -2]),
       cols=st.integers(1, 4), transpose=st.booleans())
def test_byte_bounds_match_numpy(n, start, step, cols, transpose):
    base = np.arange(n * cols * 4, dtype=np.float64).reshape(n * 4, cols)
    a = base[start::step]
    if transpose:
        a = a.T
    if a.size == 0:
        return
    assert B._byte_bounds(a) == tuple(_numpy_byte_bounds(a))


def test_shares_memory_views_copies_and_foreign_objects():
    a = np.arange(100.0)
    assert B.shares_memory(a, a[10:20]) is True
    assert B.shares_memory(a[::2], a[1::2]) is False  # interleaved: exact answer, not bounds overlap
    assert B.shares_memory(a, a.copy()) is False
    assert B.shares_memory(a, [1, 2]) is None  # not an array: cannot be told
    assert B.buffer_span(a)[0] == "host"


def test_type_names():
    assert B.type_name(np.zeros(2)) == "numpy.ndarray"
    assert B.type_name(3) == "int"


# ---------------------------------------------------------------- promises


@pytest.mark.parametrize("promise,shares,same,rtype,expected", [
    (C.MUST_NOT, False, False, "numpy.ndarray", True),
    (C.MUST_NOT, True, False, "numpy.ndarray", False),
    (C.MUST_NOT, None, True, "x", False),  # the same object aliases, whatever the buffer check says
    (C.MUST_NOT, None, False, "x", None),  # unknown stays unknown
    (C.MAY, True, True, "numpy.ndarray", True),
    (C.MAY, False, False, "numpy.ndarray", True),
    (C.INTERNAL, True, False, "numpy.ndarray", False),
    (C.INTERNAL, True, True, "numpy.ndarray", True),
    (C.NDARRAY, False, False, "jax.Array", False),
    (C.NDARRAY, False, False, "numpy.ndarray", True),
])
def test_judge(promise, shares, same, rtype, expected):
    assert C.judge(promise, shares, same, rtype) is expected


def test_judge_rejects_unknown_promise():
    with pytest.raises(ValueError):
        C.judge("should alias", True, True, "numpy.ndarray")


def test_reference_conformance_rows_are_consistent():
    rows = C.run_cases(B.NumpyReference(), n=64)
    df = pd.DataFrame(rows)
    assert list(df.columns) == C.ROW_COLUMNS
    assert df["case"].is_unique and df["case_id"].is_unique and set(df["case_id"]) <= set(C.CASE_IDS)
    for r in rows:
        if r["promise"] == C.SAFE:  # told by the case: results right and the held object unchanged
            assert r["conforms"] == (r["results_right"] and not r["overwritten"])
        else:
            assert r["conforms"] == C.judge(r["promise"], r["shares_memory"], r["same_object"], r["result_type"])
    by = df.set_index("case_id")
    # the reference does what it says: borrow aliases, copies do not
    assert bool(by.loc[CaseId.SHARED_BORROW, "same_object"]) and not by.loc[CaseId.SHARED_COPY, "shares_memory"]
    assert not by.loc[CaseId.TWO_SHARED_BORROW, "conforms"]
    assert "r1 overwritten by the second call: no" in by.loc[CaseId.OUT_BORROW_TWO_CALLS, "note"]
    assert by.loc[CaseId.OUT_BORROW_TWO_CALLS, "overwritten"] is False
    assert by.loc[CaseId.SHARED_COPY, "overwritten"] is None and not df["raised"].any()
    # the reference's update makes a new array: the held internal object keeps its values
    assert by.loc[CaseId.INTERNAL_HELD, "results_right"] is True and by.loc[CaseId.INTERNAL_HELD, "overwritten"] is False
    assert not by.loc[CaseId.GET_TWICE, "same_object"] and by.loc[CaseId.GET_BORROW, "same_object"]


def test_a_case_that_raises_becomes_a_row():
    class Broken(B.NumpyReference):
        name = "broken"

        def set_value(self, s, value, borrow=False):
            raise RuntimeError("nope")

    rows = C.run_cases(Broken(), n=8)
    bad = [r for r in rows if r["raised"]]
    assert bad and all(r["conforms"] is None and r["note"].startswith("raised") for r in bad)
    assert {r["case_id"] for r in bad} == {"set_values", "inplace_pattern"}  # the group that raised
    assert any("RuntimeError: nope" in r["note"] for r in bad)


def test_operations_a_backend_lacks_are_left_out():
    class NoFunctions(B.NumpyReference):
        name = "nofunc"

        def function_identity(self, *a, **k):
            raise NotImplementedError

    cases = {r["case_id"] for r in C.run_cases(NoFunctions(), n=8)}
    assert not any(c.startswith("identity_") for c in cases)
    assert CaseId.SHARED_COPY in cases


# ---------------------------------------------------------------- throughput


class _Sleeper(B.NumpyReference):
    """A backend whose shared() takes a known time: the figures can be checked against it."""

    name = "sleeper"
    operations = ("shared",)
    PAUSE = 0.002

    def shared(self, value, borrow=False):
        import time

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < self.PAUSE:  # busy: a sleep may overshoot by milliseconds
            pass
        return super().shared(value, borrow)


def test_measure_op_figures_are_consistent():
    # a call known to last PAUSE seconds: time per call, GB/s of the bytes copied and the fractions
    # follow from it (a per-sample total, a mean over loops or a wrong byte count would not)
    b = _Sleeper()
    # loops of about 25 calls a sample (min_time 50 ms): a sample's total read as a call's time is 25x
    # off; a loaded machine (a call ends once its 2 ms have passed and it runs again) stays within 6x
    row = T.measure_op(b, "shared", False, 64_000, repeat=3, min_time=0.05, limit_gbps=10.0, overhead_s=1e-4)
    assert row["bytes"] == 64_000 and row["samples"] == len(row["values"]) == 3 and row["limit"] == "alloc+copy"
    assert row["number"] >= 10 and b.PAUSE <= row["median_s"] < 6 * b.PAUSE and row["min_s"] <= row["median_s"]
    assert 64_000 / (6 * b.PAUSE) / 1e9 < row["gbps"] <= 64_000 / b.PAUSE / 1e9
    assert row["fraction_of_limit"] == pytest.approx(row["gbps"] / 10.0) and row["limit_flag"] == ""
    assert 1e-4 / (6 * b.PAUSE) < row["harness_overhead"] <= 1e-4 / b.PAUSE
    # a borrow copies nothing: a time per call, never GB/s
    borrow = T.measure_op(b, "shared", True, 64_000, repeat=3, min_time=0.001, limit_gbps=10.0)
    assert borrow["limit"] is None and borrow["median_s"] >= b.PAUSE
    assert np.isnan(borrow["gbps"]) and borrow["gbps_why"].startswith("not measured: copies nothing")
    assert np.isnan(borrow["fraction_of_limit"])


def test_prepare_op_copy_vs_view():
    b = B.NumpyReference()
    src = T.make_array(8000)
    assert src.nbytes == 8000 and src.sum() == 1000
    assert np.shares_memory(T.prepare_op(b, "copy", True, src)(), src)
    assert not np.shares_memory(T.prepare_op(b, "copy", False, src)(), src)


def test_prepare_op_rejects_unknown_and_unsupported():
    b = B.NumpyReference()
    with pytest.raises(HarnessError, match="unknown operation"):
        T.prepare_op(b, "teleport", False, T.make_array(8))
    with pytest.raises(NotImplementedError):
        T.prepare_op(b, "set_value", False, T.make_array(8))  # the numpy reference times copy and call only


def test_measure_limit_uses_fastest_sample(monkeypatch):
    # samples out of order: the fastest is neither the first, the last nor the median
    from harness import _containers
    from harness.core import limits as L

    fake = {"values": [0.004, 0.001, 0.003, 0.002, 0.005], "number": 7, "warmups": 2, "faults_per_call": 0.5,
            "timer": "t"}
    monkeypatch.setattr(_containers, "copy_limit", lambda kind, n, repeat, min_time: dict(fake, kind=kind))
    lim = L.measure(L.ALLOC_COPY, 64_000)
    assert lim["min_s"] == 0.001 and lim["median_s"] == 0.003 and lim["number"] == 7
    assert lim["gbps"] == pytest.approx(64_000 / 0.001 / 1e9) and lim["faults_per_call"] == 0.5
    assert lim["limit"] == "alloc+copy" and lim["thp"] == L.thp_mode()


def test_measure_backend_reports_missing_instead_of_raising():
    out = T.measure_backend("no-such-backend", sizes=[8])
    assert out["missing"]["reason"].startswith("unknown backend")


def test_measure_backend_numpy_reference():
    out = T.measure_backend("numpy", sizes=[4000], repeat=2, min_time=0.001, conformance=False)
    ops = {(r["operation"], r["borrow"]) for r in out["throughput"]}
    assert ops == {("copy", False), ("copy", True), ("copyto", False), ("call", False), ("call", True)}
    # before and after the operations: the join takes the fastest sample of both
    assert [(lim["limit"], lim["bytes"]) for lim in out["limits"]] == [("memcpy warm", 4000), ("alloc+copy", 4000)] * 2
    limit_of = {(r["operation"], r["borrow"]): r["limit"] for r in out["throughput"]}
    assert limit_of[("copyto", False)] == "memcpy warm" and limit_of[("copy", False)] == "alloc+copy"
    assert limit_of[("copy", True)] is None
    assert [(oh["bytes"], oh["median_s"] > 0) for oh in out["overhead"]] == [(4000, True)] * 2  # before and after


# ---------------------------------------------------------------- backends: presence, environment


def test_presence_names_missing_module(monkeypatch):
    monkeypatch.setattr(W, "library_of", lambda name: "surely_not_a_module_xyz")
    why = W.presence("pytensor-c")
    assert "surely_not_a_module_xyz" in why and sys.executable in why


def test_unknown_backend_is_backend_missing():
    with pytest.raises(BackendMissing, match="unknown backend"):
        B.load_backend("tensorflow")


def test_theano_env_adds_blas_flag_once():
    assert W.theano_env({})["THEANO_FLAGS"] == "blas.ldflags="
    assert W.theano_env({"THEANO_FLAGS": "floatX=float32"})["THEANO_FLAGS"] == "floatX=float32,blas.ldflags="
    assert W.theano_env({"THEANO_FLAGS": "blas.ldflags=-lblas"})["THEANO_FLAGS"] == "blas.ldflags=-lblas"
    assert W.child_env("pytensor-jax") == {"JAX_PLATFORMS": "cpu"}


def test_every_backend_has_an_install_command():
    for name in W.CPU_BACKENDS + W.GPU_BACKENDS:
        assert "pip install" in INSTALL[name]


# ---------------------------------------------------------------- GPU detection (absence mocked at the boundary only)


def _no_gpu_libraries(monkeypatch):
    def missing(name):
        def imp():
            raise ImportError("No module named %r" % name)
        return imp

    monkeypatch.setattr(G, "_import_cupy", missing("cupy"))
    monkeypatch.setattr(G, "_import_jax", missing("jax"))


def test_detect_cuda_without_libraries(monkeypatch):
    _no_gpu_libraries(monkeypatch)
    info = G.detect_cuda()
    assert info["available"] is False and info["cupy"] is None and info["jax"] is None
    assert "CuPy is not installed (pip install cupy-cuda12x)" in info["reason"]
    assert "JAX is not installed" in info["reason"]


def test_cupy_backend_missing_says_why(monkeypatch):
    _no_gpu_libraries(monkeypatch)
    with pytest.raises(BackendMissing) as exc:
        B.load_backend("cupy")
    assert exc.value.install.startswith("pip install cupy-cuda12x")
    out = T.measure_backend("cupy", sizes=[8])
    assert "CuPy is not installed" in out["missing"]["reason"]


def test_device_gpu_is_a_one_line_error(monkeypatch, capsys):
    _no_gpu_libraries(monkeypatch)
    assert main(["aliasing", "--device", "gpu"] + TINY) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device usable" in err[0] and "cupy-cuda12x" in err[0]


def test_device_gpu_without_cuda_in_this_environment(capsys):
    if G.detect_cuda()["available"]:
        pytest.skip("a CUDA device is present: the GPU suite runs instead (tests/test_aliasing_backends.py)")
    assert main(["aliasing", "--device", "gpu"] + TINY) == 2
    assert "no CUDA device" in capsys.readouterr().err


# ---------------------------------------------------------------- CLI


def test_cli_without_backends_prints_reference_and_install_notes(monkeypatch, capsys):
    monkeypatch.setattr(W, "presence", lambda name: "module 'x' is not installed")
    assert main(["aliasing", "--format", "json"] + TINY) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["topic"] == "aliasing"
    assert {"throughput", "limits (GB/s)", "harness overhead", "throughput rows"} <= set(out["tables"])
    rows = out["tables"]["throughput rows"]
    assert {r["backend"] for r in rows} == {"numpy"} and {r["bytes"] for r in rows} == {4000, 64000}
    for name in W.CPU_BACKENDS:
        assert ("%s skipped: module 'x' is not installed; install with: %s" % (name, INSTALL[name])) in out["notes"]
    # the overhead verdict follows the overhead table, size by size, and names the sizes
    table = out["tables"]["harness overhead"]
    assert sorted(r["size"] for r in table) == ["4KB", "64KB"]
    under = [r["size"] for r in table if r["under_5pct"]]
    assert all(r["under_5pct"] == (r["overhead_fraction"] < 0.05) for r in table)
    v = next(v for v in out["verdicts"] if v["claim"].startswith("the harness's own timing overhead"))
    assert v["verdict"] == ("confirmed" if len(under) == 2 else "refuted" if not under else "partly")
    assert v["evidence"].startswith("under 5%% at: %s;" % (", ".join(under) or "no size"))
    # every copy is a fraction of the C++ limit of its kind, flagged above 1.05; a borrow has no GB/s
    for r in rows:
        assert (r["gbps"] is None) == r["borrow"] and ("values" not in r)
        assert r["limit"] == (None if r["borrow"] else "memcpy warm" if r["operation"] == "copyto" else "alloc+copy")
        assert r["borrow"] or (r["limit_flag"] != "") == (r["fraction_of_limit"] > 1.05)
    limits = out["tables"]["limits (GB/s)"]
    assert sorted(r["limit"] for r in limits) == ["alloc+copy", "memcpy warm"]
    assert out["meta"]["processes"] == 2 and out["meta"]["transparent_hugepages"]
    if G.no_device_reason():  # no CUDA device: the GPU claims say so, never a guess
        gpu = [v for v in out["verdicts"] if v["claim_id"].startswith("aliasing.gpu_")]
        assert len(gpu) == 2 and all(v["verdict"] == "inconclusive" and v["evidence"].startswith(
            "not measured: no CUDA device") for v in gpu)


def test_cli_child_reports_missing_backend_from_given_interpreter(capsys):
    try:
        import theano  # noqa: F401
        pytest.skip("theano is importable here")
    except Exception:
        pass
    rc = main(["aliasing", "--backends", "theano", "--python", "theano=" + sys.executable, "--only", "conformance",
               "--format", "json"] + TINY)
    assert rc == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any(n.startswith("theano skipped: interpreter %s: " % sys.executable) and INSTALL["theano"] in n
               for n in notes)


@pytest.mark.parametrize("argv,message", [
    (["--python", "/no/such/python"], "not an executable interpreter"),
    (["--python", "tensorflow=/bin/sh"], "unknown backend"),
    (["--backends", "theano,nope"], "unknown backend"),
    (["--sizes", "100000GB"], "choose a smaller size"),
    (["--backends", "cupy"], "belongs to --device gpu"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert _rc(["aliasing"] + argv + ["-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_plot_writes_png(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(W, "presence", lambda name: "not installed")
    png = tmp_path / "alias.png"
    assert main(["aliasing", "--plot", str(png)] + TINY) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "== throughput ==" in capsys.readouterr().out


# --------------------------------------------------------------------------
# The backends of one interpreter: one case, measured together in each process


def test_the_backends_of_one_interpreter_are_one_case(monkeypatch):
    import harness.topics.aliasing as al

    monkeypatch.setattr(W, "presence", lambda name: None)
    p = al.TOPIC.plan(al.Options(sizes=[4000]))
    names = ["numpy"] + list(W.CPU_BACKENDS)
    assert [c.params["backends"] for c in p.cases] == [names] and p.essential == [", ".join(names)]
    apart = al.TOPIC.plan(al.Options(sizes=[4000], pythons={"theano": sys.executable}))
    assert [c.params["backends"] for c in apart.cases] == [[n for n in names if n != "theano"], ["theano"]]
    only = al.TOPIC.plan(al.Options(sizes=[4000], backends=[]))
    assert [c.label for c in only.cases] == ["numpy"] and only.essential == []


def test_measure_backends_shares_the_limits_and_reports_what_cannot_load():
    out = T.measure_backends(["numpy", "no-such-backend"], sizes=[4000], repeat=2, min_time=0.001)
    assert out["missing"]["no-such-backend"]["reason"].startswith("unknown backend")
    mine = out["backends"]["numpy"]
    assert {(r["operation"], r["borrow"]) for r in mine["throughput"]} == {
        ("copy", False), ("copy", True), ("copyto", False), ("call", False), ("call", True)}
    assert [(lim["limit"], lim["backend"]) for lim in mine["limits"]] == [
        ("memcpy warm", "numpy"), ("alloc+copy", "numpy")] * 2  # before and after the operations
    assert len(mine["overhead"]) == 2 and mine["seconds"] >= mine["load_s"] > 0


def test_a_backend_of_a_group_that_cannot_load_is_a_skip_and_the_others_are_measured(monkeypatch):
    """theano grouped with the numpy reference (the presence check fooled): the child cannot load
    it, so it is a skip with the child's reason and the install command; numpy's rows stay."""
    import harness.topics.aliasing as al
    from harness import runner

    monkeypatch.setattr(W, "presence", lambda name: None)
    got = runner.measure(al.TOPIC, al.Options(backends=["theano"], sizes=[4000], repeat=2, min_time=0.001))
    assert set(got.rows["throughput"]["backend"]) == {"numpy"} and not got.failures
    (skip,) = got.skips
    assert skip.what == "theano" and "theano" in skip.reason and skip.install == INSTALL["theano"]
    assert skip.reason.startswith("interpreter %s: " % sys.executable)
