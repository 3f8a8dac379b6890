"""memharness aliasing against the real backends: Theano 1.0.5, PyTensor (C, NUMBA, JAX), the device model.

Each backend that is not installed in the interpreter running pytest is skipped
with the reason and the install command. Run these in the backends' own
environments, e.g.::

    THEANO_FLAGS=blas.ldflags= PYTHONPATH=. /tmp/v-theano/bin/python -m pytest -m "slow or not slow" tests/test_aliasing_backends.py
    PYTHONPATH=. /tmp/v-pytensor/bin/python -m pytest tests/test_aliasing_backends.py

Theano compiles C code with g++ on first use: its tests are marked slow.
The checks here compare the harness's rows with what the library does when
asked directly, so they test the harness, not a fixed belief about a library.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.core.optional import INSTALL
from harness.errors import BackendMissing
from harness.topics.aliasing import backends as B
from harness.topics.aliasing import conformance as C
from harness.topics.aliasing import gpu as G
from harness.topics.aliasing import measure as T
from harness.topics.aliasing.conformance import CaseId

BACKENDS = [pytest.param("theano", marks=pytest.mark.slow), "pytensor-c", "pytensor-numba", "pytensor-jax"]


def _load(name):
    try:
        return B.load_backend(name)
    except BackendMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request):
    if request.param == "pytensor-jax":
        jax = pytest.importorskip("jax", reason="pytensor-jax needs jax: " + INSTALL["pytensor-jax"])
        if jax.default_backend() != "cpu":
            pytest.skip("JAX's default device is not the CPU here (run with JAX_PLATFORMS=cpu)")
    return _load(request.param)


@pytest.fixture(scope="module")
def rows(backend):
    return {r["case_id"]: r for r in C.run_cases(backend, n=256)}


def test_no_case_raises(rows):
    assert [r["note"] for r in rows.values() if r["raised"]] == []


def test_rows_are_judged_by_the_rules(rows):
    for r in rows.values():
        if r["promise"] == C.SAFE:  # told by the case: results right and the held object unchanged
            assert r["conforms"] == (r["results_right"] and not r["overwritten"])
        else:
            assert r["conforms"] == C.judge(r["promise"], r["shares_memory"], r["same_object"], r["result_type"])


def test_the_held_internal_object_row_matches_the_library(backend, rows):
    # read the library directly: does its update change the held internal object in place?
    s = backend.shared(np.arange(8.0))
    r = backend.get_value(s, borrow=True, return_internal_type=True)
    before = np.array(backend.to_host(r), copy=True)
    backend.function_update(s)()
    backend.sync()
    changed = not np.array_equal(backend.to_host(r), before)
    row = rows[CaseId.INTERNAL_HELD]
    assert row["overwritten"] == changed and row["results_right"] is True
    twice = rows[CaseId.GET_TWICE]
    assert twice["same_object"] == (backend.get_value(s) is backend.get_value(s))


def test_constructor_rows_match_the_library(backend, rows):
    v = np.arange(256.0)
    s = backend.shared(v, borrow=True)
    assert rows[CaseId.SHARED_BORROW]["shares_memory"] == np.shares_memory(s.get_value(borrow=True), v)
    s = backend.shared(v)
    assert rows[CaseId.SHARED_COPY]["shares_memory"] == np.shares_memory(s.get_value(borrow=True), v)


def test_set_value_dtype_mismatch_row_matches_the_library(backend, rows):
    s = backend.shared(np.zeros(256))
    w = np.ones(256, dtype=np.float32)
    s.set_value(w, borrow=True)
    stored = s.get_value(borrow=True)
    assert stored.dtype == np.float64  # the variable keeps its dtype: a cast, so a new buffer
    assert rows[CaseId.SET_BORROW_DTYPE]["shares_memory"] == np.shares_memory(stored, w)


def test_internal_type_row(backend, rows):
    s = backend.shared(np.arange(4.0))
    same = s.get_value(borrow=True, return_internal_type=True) is s.container.storage[0]
    assert rows[CaseId.GET_BORROW_INTERNAL]["same_object"] == same


def test_out_borrow_two_calls_row_matches_the_library(backend, rows):
    f = backend.function_double(True)
    r1 = f(np.arange(8.0))
    kept = np.array(r1, copy=True)
    f(np.arange(8.0) + 5)
    overwritten = not np.array_equal(np.asarray(r1), kept)
    row = rows[CaseId.OUT_BORROW_TWO_CALLS]
    assert row["overwritten"] is overwritten and row["note"].endswith("yes" if overwritten else "no")
    if backend.has_nogc:
        assert CaseId.OUT_BORROW_TWO_CALLS_NOGC in rows


def test_after_update_row_reports_the_stored_type(backend, rows):
    s = backend.shared(np.arange(4.0))
    backend.function_update(s)()
    stored = B.type_name(s.container.storage[0])
    assert rows[CaseId.AFTER_UPDATE_COPY]["note"] == "storage holds a " + stored
    assert rows[CaseId.AFTER_UPDATE_COPY]["conforms"] == (B.type_name(s.get_value()) == "numpy.ndarray")


def test_throughput_every_operation(backend):
    out = T.measure_throughput(backend, [4000], repeat=2, min_time=0.001)
    got = {(r["operation"], r["borrow"]) for r in out["throughput"]}
    assert got == {(op, b) for op in backend.operations for b in (False, True)}
    first = {}
    for lim in out["limits"]:  # measured before the operations (and again after them)
        first.setdefault(lim["limit"], lim["gbps"])
    for r in out["throughput"]:
        if r["borrow"]:  # copies nothing: a time per call, no GB/s
            assert r["limit"] is None and np.isnan(r["gbps"]) and r["median_s"] > 0
        else:
            assert r["limit"] == "alloc+copy" and r["gbps"] > 0
            assert r["fraction_of_limit"] == pytest.approx(r["gbps"] / first["alloc+copy"])


def test_call_borrow_returns_the_input_where_the_table_says_so(backend, rows):
    src = T.make_array(4000)
    r = T.prepare_op(backend, "call", True, src)()
    aliased = B.shares_memory(r, src)
    assert rows[CaseId.IDENTITY_BORROW_BORROW]["shares_memory"] == aliased


# ---------------------------------------------------------------- the device model, on JAX's CPU device


@pytest.fixture(scope="module")
def jax_cpu_api():
    jax = pytest.importorskip("jax", reason="the device model's CPU tests use JAX: pip install jax")
    return G.JaxAPI(jax.devices("cpu")[0])


def test_device_model_counts_transfers(jax_cpu_api):
    model = G.CupyShared(jax_cpu_api, name="model")
    s = model.shared(np.arange(20.0)[::2])  # non-contiguous: one extra host copy, then one upload
    assert s.counters == {"uploads": 1, "downloads": 0, "host_copies": 1, "device_copies": 0}
    dev = s.get_value(borrow=True, return_internal_type=True)
    assert dev is s.container.storage[0] and jax_cpu_api.is_device(dev)
    host = s.get_value(borrow=True)
    assert isinstance(host, np.ndarray) and s.counters["downloads"] == 1
    np.testing.assert_array_equal(host, np.arange(20.0)[::2])
    s.set_value(dev, borrow=True)
    assert s.container.storage[0] is dev and s.counters["device_copies"] == 0
    s.set_value(dev, borrow=False)
    assert s.container.storage[0] is not dev and s.counters["device_copies"] == 1
    s.set_value(np.ones(10, dtype=np.float32), borrow=True)  # another dtype: host cast, then upload
    assert s.counters["host_copies"] == 2 and s.counters["uploads"] == 2
    assert str(s.container.storage[0].dtype) == "float64"


def test_device_model_conformance_on_cpu(jax_cpu_api):
    rows = {r["case_id"]: r for r in C.run_cases(G.CupyShared(jax_cpu_api, name="model"), n=64)}
    assert rows[CaseId.GET_BORROW_INTERNAL]["conforms"] is True
    assert rows[CaseId.GET_BORROW]["result_type"] == "numpy.ndarray"  # a download, never the device array
    assert rows[CaseId.SHARED_BORROW]["shares_memory"] is False  # borrow has no effect: an upload
    assert not any(r["case"].startswith("function/") for r in rows.values())  # the model compiles nothing


def test_device_limits_and_fractions_on_cpu(jax_cpu_api):
    limits, lrows = G.measure_device_limits(jax_cpu_api, [8000], repeat=2, min_time=0.001)
    assert set(limits) == {"h2d pageable", "d2h pageable", "d2d"}
    model = G.CupyShared(jax_cpu_api, name="model")
    out = T.measure_throughput(model, [8000], repeat=2, min_time=0.001, limits=limits)
    up = [r for r in out["throughput"] if r["operation"] == "shared" and not r["borrow"]][0]
    assert up["limit"] == "h2d pageable"
    assert up["fraction_of_limit"] == pytest.approx(up["gbps"] / limits["h2d pageable"][8000])


# ---------------------------------------------------------------- a real CUDA device


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "pytensor-jax-gpu"])
def test_gpu_backend(name):
    info = G.detect_cuda()
    if not info["available"]:
        pytest.skip("no CUDA device: " + info["reason"])
    out = T.measure_backend(name, sizes=[1 << 20], repeat=2, min_time=0.001)
    if "missing" in out:
        pytest.skip(out["missing"]["reason"])
    assert all(r["conforms"] is not False or r["promise"] != C.INTERNAL for r in out["conformance"])
    assert {r["limit"] for r in out["limits"]} >= {"h2d pageable", "d2h pageable", "d2d"}


@pytest.mark.parametrize("message", ["", "Unknown backend: 'cuda' requested, but no platforms that are instances of cuda are present."])
def test_jax_without_the_device_is_a_skip_with_the_reason(monkeypatch, message):
    """JAX installed but without the platform asked for (no CUDA here): a BackendMissing that says so,
    also when jax raises with no message at all (that was an IndexError: asv's GPU cases failed)."""
    import sys
    import types

    fake = types.ModuleType("jax")

    def devices(platform=None):
        raise RuntimeError(message)

    fake.devices = devices  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "jax", fake)
    with pytest.raises(BackendMissing) as info:
        B._pytensor_jax_mode("pytensor-jax-gpu", "cuda")
    assert "JAX has no 'cuda' device: " + (message or "RuntimeError") in str(info.value)
