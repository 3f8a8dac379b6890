"""Tests of the pickle topic: workloads, methods, the numpy-readable zip, the refusal to load
foreign data, measurement in child processes, verdicts, the command line."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import harness
from harness.claims import judge_all
from harness.core import timing
from harness.errors import HarnessError, MemoryGuardError
from harness.topics.pickle import (
    DEFAULT,
    DEFAULT_SIZES,
    HIGHEST,
    METHODS,
    OBJECTS,
    TOPIC,
    Artifact,
    Options,
    UntrustedData,
    Workspace,
    build_object,
    get_method,
    get_object,
    npzip_dump,
    numpy_readable,
    plan_cases,
    run,
)
from harness.topics.pickle import claims as pclaims
from harness.topics.pickle import peaks as pchild

KiB = 1024
MiB = 1 << 20
PY_OBJECTS = ["list-int", "dict-int-list", "list-str", "numpy", "cached-default", "cached-getstate", "cached-slots"]
REPO = Path(harness.__file__).resolve().parent.parent
SMALL = 64 * KiB


def verdicts(frame):
    return judge_all(pclaims.CLAIMS, {"cases": frame})


def _available(method: str):
    try:
        get_method(method).check_available()
        return True
    except HarnessError:
        return False


def _cpp_available(name: str) -> bool:
    try:
        get_object(name).build(64)
        return True
    except HarnessError:
        return False


# --------------------------------------------------------------------------
# Workloads and methods, in this process


def test_payload_is_the_information_itself():
    assert get_object("list-int").payload(MiB) == MiB
    assert len(build_object("list-int", 800)) == 100
    assert len(build_object("list-str", 160)) == 10 and all(len(s) == 16 for s in build_object("list-str", 160))
    d = build_object("dict-int-list", 400)
    assert len(d) == 10 and all(len(v) == 4 for v in d.values())
    a = build_object("numpy", MiB)
    assert a.dtype == np.float64 and a.nbytes == MiB
    c = build_object("cached-getstate", 80)
    assert len(c.data) == 10 and len(c.cache) == 10


@pytest.mark.parametrize("obj", PY_OBJECTS)
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_round_trips(obj, method):
    spec = get_object(obj)
    m = get_method(method)
    if m.applies(spec):
        pytest.skip(m.applies(spec))
    if not _available(method):
        pytest.skip("%s not installed" % method)
    if obj == "cached-slots" and m.protocol is not None and m.protocol < 2:
        with Workspace() as ws, pytest.raises(TypeError):
            m.dump(spec.build(4 * KiB), ws)
        return
    o = spec.build(4 * KiB)
    with Workspace() as ws:
        art = m.dump(o, ws)
        assert art.nbytes > 0
        back = m.load(art)
    assert back is not o
    assert spec.equal(o, back)


def test_equal_detects_a_difference():
    spec = get_object("cached-getstate")
    a, b = spec.build(800), spec.build(800)
    assert spec.equal(a, b)
    b.cache[-1.0] = 0
    assert not spec.equal(a, b)
    arr = build_object("numpy", 800)
    other = arr.copy()
    other[3] += 1
    assert not get_object("numpy").equal(arr, other)


def test_getstate_drops_and_rebuilds_the_cache():
    spec_d, spec_g = get_object("cached-default"), get_object("cached-getstate")
    d, g = spec_d.build(64 * KiB), spec_g.build(64 * KiB)
    bd, bg = pickle.dumps(d, protocol=HIGHEST), pickle.dumps(g, protocol=HIGHEST)
    assert len(bg) < 0.6 * len(bd)
    back = pickle.loads(bg)
    assert back.cache == g.cache and len(back.cache) == len(g.data)


def test_oob_keeps_array_data_out_of_band():
    a = build_object("numpy", SMALL)
    m = get_method("oob-p5")
    with Workspace() as ws:
        art = m.dump(a, ws)
        assert art.out_of_band == a.nbytes and len(art.data) < 1024
        back = m.load(art)
    assert np.shares_memory(back, a)  # zero copy both ways


@pytest.mark.skipif(not _cpp_available("IntVector"), reason="harness._containers not built")
@pytest.mark.parametrize("name", [n for n, s in OBJECTS.items() if s.family == "cpp"])
def test_cpp_containers_round_trip_at_protocol_2_and_up(name):
    if not _cpp_available(name):
        pytest.skip("%s not in this build" % name)
    spec = get_object(name)
    o = spec.build(4 * KiB)
    for p in range(2, HIGHEST + 1):
        assert spec.equal(o, pickle.loads(pickle.dumps(o, protocol=p)))


# --------------------------------------------------------------------------
# The numpy-readable zip


def test_npzip_is_readable_with_numpy_alone(tmp_path):
    a, b = np.arange(10.0), np.arange(12, dtype=np.int32).reshape(3, 4)
    obj = {"weights": a, "bias": b, "same": a, "meta": ["x", 1], "obj_array": np.array([None, 1], dtype=object)}
    path = str(tmp_path / "model.zip")
    names = npzip_dump(obj, path)
    assert names == ["array_0.npy", "array_1.npy"]  # `same` is stored once; object arrays are pickled
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["array_0.npy", "array_1.npy", "object.pkl"]
        assert zf.getinfo("object.pkl").file_size < 1024  # the arrays are not in the pickle
        extracted = [np.load(io.BytesIO(zf.read(n)), allow_pickle=False) for n in names]
    got = sorted(extracted, key=lambda x: x.size)
    assert np.array_equal(got[0], a) and np.array_equal(got[1], b) and got[1].dtype == np.int32
    with np.load(path, allow_pickle=False) as npz:  # numpy opens the zip itself, no pickle allowed
        assert {"array_0", "array_1"} <= set(npz.files)
    assert len(numpy_readable(path)) == 2
    with Workspace() as ws:  # the harness's own loader, on a zip it wrote in this run
        m = get_method("npzip")
        art = m.dump(obj, ws)
        back = m.load(art)
    assert back["same"] is back["weights"] and np.array_equal(back["bias"], b) and back["meta"] == ["x", 1]


# --------------------------------------------------------------------------
# Security: nothing the harness did not write in this run is ever loaded


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # loading this creates the marker file


def _evil_files(folder: Path, marker: Path):
    payload = pickle.dumps(_Evil(str(marker)))
    # the test's own check that this payload does what it says (we wrote it ourselves)
    check = folder / "check-marker"
    pickle.loads(pickle.dumps(_Evil(str(check)))).close()
    assert check.exists()
    check.unlink()
    names = ["data.pkl", "data.pickle", "object.pkl", "dump-p5.1", "numpy.npy", "model.zip"]
    for name in names[:-1]:
        (folder / name).write_bytes(payload)
    with zipfile.ZipFile(folder / "model.zip", "w") as zf:
        zf.writestr("object.pkl", payload)
    return [folder / n for n in names]


def test_artifacts_are_made_by_dump_only(tmp_path):
    marker = tmp_path / "pwned"
    files = _evil_files(tmp_path, marker)
    with pytest.raises(UntrustedData):
        Artifact(object(), path=str(files[0]))
    with pytest.raises(UntrustedData):
        Artifact(None, data=files[0].read_bytes())
    assert not marker.exists()


def test_a_file_changed_after_the_dump_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(str(marker)))
    for method in ("dump-p%d" % HIGHEST, "npzip"):
        m = get_method(method)
        with Workspace() as ws:
            art = m.dump([1, 2, 3], ws)
            if method == "npzip":
                with zipfile.ZipFile(art.path, "w") as zf:
                    zf.writestr("object.pkl", payload)
            else:
                Path(art.path).write_bytes(payload + b"\0" * 8)
            with pytest.raises(UntrustedData):
                m.load(art)
    assert not marker.exists()


def test_a_forged_or_discarded_artifact_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    m = get_method("dump-p%d" % HIGHEST)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(str(marker))))
    with Workspace() as ws:
        art = m.dump([1, 2, 3], ws)
        assert m.load(art) == [1, 2, 3]
        art.path = str(evil)  # same token, another path
        with pytest.raises(UntrustedData):
            m.load(art)
        art2 = m.dump([1], ws)
        art2.discard()
        with pytest.raises(UntrustedData):
            m.load(art2)
    b = get_method("dumps-p%d" % HIGHEST)
    art3 = b.dump([1], None)
    art3.discard()
    art3.data = evil.read_bytes()
    with pytest.raises(UntrustedData):
        b.load(art3)
    assert not marker.exists()


def test_the_pickle_command_takes_no_input_file(tmp_path):
    """Every option of `memharness pickle` that accepts a path names a file it writes
    (--output, --plot) or interpreters it runs (--python, --versions), never data it reads."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--output")
    parser.add_argument("--plot")
    TOPIC.add_arguments(parser)
    evil = _evil_files(tmp_path, tmp_path / "pwned")[0]
    takes_path = set()
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0:
            continue
        try:
            ns = parser.parse_args([action.option_strings[0], str(evil)])
        except SystemExit:
            continue
        takes_path.add(action.dest)
        assert getattr(ns, action.dest) == str(evil)
    assert takes_path <= {"output", "plot", "python", "versions"}, takes_path


def test_the_command_ignores_pickles_lying_around(tmp_path):
    marker = tmp_path / "pwned"
    _evil_files(tmp_path, marker)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "pickle", "--objects", "list-int,numpy", "--sizes", "16KiB",
         "--methods", "dumps-p%d,dump-p%d,npzip" % (HIGHEST, HIGHEST), "--format", "json", "-q"],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["topic"] == "pickle"
    assert not marker.exists()
    assert not list(tmp_path.glob("memharness-pickle-*"))  # its own files are gone


# --------------------------------------------------------------------------
# Planning and measuring in child processes


def test_default_plan():
    cases = plan_cases()
    sizes = {(o, s) for o, s, _ in cases}
    assert ("numpy", MiB) in sizes and ("list-int", 256 * KiB) in sizes
    assert not any(s > MiB for _, s in sizes)
    assert {o for o, _, _ in cases} == {o for o, spec in OBJECTS.items() if spec.family in
                                        ("python", "numpy", "class", "state")}  # C++, frameworks: --full
    for o, s, ms in cases:
        if OBJECTS[o].family in ("python", "numpy"):  # the objects of the protocol claims
            assert ["dumps-p%d" % p for p in range(HIGHEST + 1)] == ms[:HIGHEST + 1]
            assert "dump-p%d" % HIGHEST in ms
        else:  # the cached classes: their claims read dumps at HIGHEST
            assert ms == ["dumps-p%d" % HIGHEST]
        assert ("numpy.save" in ms) == (o == "numpy")
        assert ("oob-p5" in ms) == (OBJECTS[o].has_arrays and OBJECTS[o].family != "class")
    full = plan_cases(full=True)
    assert max(s for o, s, _ in full if o == "numpy") == 256 * MiB
    assert {o for o, _, _ in full} == set(OBJECTS)
    for o, s, ms in full:
        assert ["dumps-p%d" % p for p in range(HIGHEST + 1)] == ms[:HIGHEST + 1]
    assert plan_cases(["list-int"], [123], ["dumps-p0"]) == [("list-int", 123, ["dumps-p0"])]
    with pytest.raises(HarnessError):
        plan_cases(["nope"])
    with pytest.raises(HarnessError):
        plan_cases(["list-int"], methods=["dumps-p9"])
    assert DEFAULT_SIZES["numpy"] == (MiB,)


def test_in_fork_reports_results_errors_and_deaths():
    assert pchild.in_fork(lambda: {"x": 1}) == {"x": 1}
    assert pchild.in_fork(lambda: 1 / 0)["error"].startswith("ZeroDivisionError")
    died = pchild.in_fork(lambda: os.abort())
    assert died["error"].startswith("process died: killed by SIGABRT")
    with Workspace() as ws:  # the caller's folder, removed even when the forked copy dies in it
        pchild.in_fork(lambda: (Path(ws.file("x")).write_text("partial"), os.abort()))
        assert os.path.exists(ws.file("x"))
    assert not os.path.exists(ws.path)


def test_memory_guard_refuses_before_measuring():
    with pytest.raises(MemoryGuardError):
        measure_all(["numpy"], [1 << 49], ["dumps-p5"])


def measure_all(objects, sizes, methods, notes=None, **kw):
    """The "cases" rows of a run through the topic's runner (notes, if a list, gets the run's notes)."""
    frame, got = run(Options(objects=objects, sizes=sizes, methods=methods, **kw))
    if notes is not None:
        notes.extend(got)
    return frame


@pytest.fixture(scope="module")
def small_run():
    notes = []
    frame = measure_all(["list-int", "numpy", "cached-default", "cached-getstate", "cached-slots"], [SMALL],
                        ["dumps-p0", "dumps-p1", "dumps-p%d" % HIGHEST, "dump-p%d" % HIGHEST, "oob-p5", "npzip",
                         "numpy.save"], repeat=1, notes=notes)
    return frame, notes


def test_measure_all_rows(small_run):
    frame, notes = small_run
    ok = frame[frame["error"].isna()]
    assert (ok["equal"] == True).all()  # noqa: E712 - checked in every run
    assert set(frame[frame["method"] == "numpy.save"]["object"]) == {"numpy"}
    assert any("numpy.save takes arrays only" in n for n in notes)
    for col in ("pickled", "dump_s", "load_s", "dump_peak_traced", "load_peak_traced", "dump_peak_rss",
                "load_peak_rss", "dump_copies"):
        assert ok[col].notna().all(), col
    assert (ok["dump_s"] > 0).all() and (ok["pickled"] > 0).all()
    assert (ok["payload"] == SMALL).all()
    z = ok[ok["method"] == "npzip"]
    assert (z[z["object"] == "numpy"]["numpy_readable"] == True).all()  # noqa: E712
    slots_low = frame[(frame["object"] == "cached-slots") & frame["method"].isin(["dumps-p0", "dumps-p1"])]
    if sys.version_info < (3, 14):  # copyreg refuses __slots__ without __getstate__ below protocol 2
        assert slots_low["error"].str.startswith("TypeError").all()


def test_measured_figures_behave(small_run):
    frame, _ = small_run
    f = frame[frame["error"].isna()].set_index(["object", "method"])
    hp = "dumps-p%d" % HIGHEST
    assert f.loc[("list-int", "dumps-p0"), "pickled"] > 1.5 * f.loc[("list-int", hp), "pickled"]
    arr = f.xs("numpy")
    # in-band dumps hold the whole output; to a file or out of band, nothing of the payload's size
    assert arr.loc[hp, "dump_peak_traced"] >= SMALL
    assert arr.loc[hp, "load_peak_traced"] >= SMALL
    assert arr.loc["dump-p%d" % HIGHEST, "dump_peak_traced"] < 0.25 * arr.loc[hp, "dump_peak_traced"]
    assert arr.loc["oob-p5", "dump_peak_traced"] < 0.25 * arr.loc[hp, "dump_peak_traced"]
    assert arr.loc["oob-p5", "load_peak_traced"] < 0.25 * arr.loc[hp, "load_peak_traced"]
    assert arr.loc["oob-p5", "out_of_band"] == SMALL
    assert f.loc[("cached-getstate", hp), "pickled"] < 0.6 * f.loc[("cached-default", hp), "pickled"]


def test_verdicts_from_a_run(small_run):
    frame, _ = small_run
    by_id = {v.claim_id: v for v in verdicts(frame)}
    assert set(by_id) == {"pickle.peak", "pickle.file", "pickle.getstate", "pickle.highest", "pickle.oob",
                          "pickle.pkl_utils"}  # no __dict__-copy objects, no versions case in this run
    assert all(v.topic == "pickle" and v.evidence for v in by_id.values())
    f = frame[frame["error"].isna()].set_index(["object", "method"])
    hp = "dumps-p%d" % HIGHEST
    # the getstate verdict follows the measured bytes, whichever way they fall
    ratio = f.loc[("cached-getstate", hp), "pickled"] / f.loc[("cached-default", hp), "pickled"]
    assert ("%.2fx" % ratio) in by_id["pickle.getstate"].evidence
    assert by_id["pickle.getstate"].verdict in (("confirmed", "partly") if ratio < 0.75 else ("refuted",))
    # 64 KiB arrays: below the size at which zero copies can be told from one page
    assert by_id["pickle.oob"].verdict == "inconclusive"
    # no real pkl_utils here: the harness's own zip is no evidence for the library
    assert by_id["pickle.pkl_utils"].verdict == ("confirmed" if (frame["kind"] == "pkl_utils").any()
                                                 else "inconclusive")
    assert "npzip on numpy" in by_id["pickle.pkl_utils"].evidence
    # every time a verdict reads: samples of timing.PROCESSES processes
    ok = frame[frame["error"].isna()]
    assert (ok["dump_processes"] >= timing.PROCESSES).all() and (ok["load_processes"] >= timing.PROCESSES).all()
    assert all(len(v) == n for v, n in zip(ok["dump_values"], ok["dump_samples"]))


CRASH_PLUGIN = """
import os
import tracemalloc

from harness.topics.pickle.methods import HIGHEST, Method, register


class Crash(Method):
    def dump(self, obj, ws):
        if self.name == "crash-fork" or tracemalloc.is_tracing():
            os.abort()
        return super().dump(obj, ws)


register(Crash("crash-fork", "bytes", HIGHEST, "aborts on every dump: in the fork that measures RSS"))
register(Crash("crash-child", "bytes", HIGHEST, "aborts in the traced pass: the measuring child itself"))
"""


def test_a_crashing_method_costs_that_method_only(tmp_path, monkeypatch):
    (tmp_path / "memharness_crash_plugin.py").write_text(CRASH_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    methods = ["dumps-p%d" % DEFAULT, "crash-fork", "crash-child", "dumps-p%d" % HIGHEST]
    try:
        frame = measure_all(["list-int"], [16 * KiB], methods, repeat=3, plugins=["memharness_crash_plugin"])
    finally:
        for name in ("crash-fork", "crash-child"):
            METHODS.pop(name, None)
    rows = frame.set_index("method")
    assert list(rows.index) == methods  # one row each, in order
    assert rows.loc["crash-fork", "error"].startswith("process died: killed by SIGABRT")
    assert rows.loc["crash-child", "error"].startswith("child process died: killed by SIGABRT")
    for ok in ("dumps-p%d" % DEFAULT, "dumps-p%d" % HIGHEST):  # measured, fully, in both processes
        r = rows.loc[ok]
        assert not isinstance(r["error"], str) and r["equal"] == True  # noqa: E712
        assert r["pickled"] > 0 and r["dump_s"] > 0 and r["dump_processes"] == timing.PROCESSES


def test_missing_backend_is_a_note():
    for fw in ("pytensor", "theano"):
        try:
            __import__(fw)
            continue
        except Exception:
            pass
        notes = []
        frame = measure_all(["%s-shared" % fw, "list-int"], [4 * KiB], ["dumps-p5"], repeat=1, notes=notes)
        assert set(frame["object"]) == {"list-int"}
        assert any(n.startswith("%s-shared skipped" % fw) and "pip install" in n for n in notes)
        return
    pytest.skip("both PyTensor and Theano are installed")


@pytest.mark.skipif(not os.environ.get("MEMHARNESS_FRAMEWORK_PYTHON"),
                    reason="set MEMHARNESS_FRAMEWORK_PYTHON to a python with Theano or PyTensor")
def test_framework_objects_in_another_interpreter():
    python = os.environ["MEMHARNESS_FRAMEWORK_PYTHON"]
    notes = []
    frame = measure_all(["theano-shared", "theano-function", "pytensor-shared", "pytensor-function"], [64 * KiB],
                        ["dumps-p5", "npzip", "pkl_utils"], python=python, repeat=1, notes=notes)
    assert not frame.empty, notes
    ok = frame[frame["error"].isna()]
    assert (ok["equal"] == True).all()  # noqa: E712


# --------------------------------------------------------------------------
# Command line


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "harness", "pickle", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_json_and_plot(tmp_path):
    png = tmp_path / "p.png"
    proc = _cli("--objects", "list-int,numpy", "--sizes", "16KiB", "--methods",
                "dumps-p0,dumps-p%d,dump-p%d,oob-p5" % (HIGHEST, HIGHEST), "--repeat", "1", "--format", "json",
                "-q", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["verdicts"]) == 6
    assert {t for t in out["tables"]} == {"pickled size and time", "peak extra memory (copies = resident peak / payload)"}
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--objects", "nope"], "unknown object"),
    (["--methods", "dumps-p9"], "unknown method"),
    (["--sizes", "0"], "out of range"),
    (["--sizes", "lots"], "is not a size"),
    (["--repeat", "0"], "--repeat"),
    (["--python", "/nonexistent/python"], "not an executable"),
])
def test_cli_bad_input_is_one_line(args, message):
    proc = _cli(*(["--objects", "list-int", "--sizes", "1KiB", "--methods", "dumps-p5"] + args))
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_versions_case_through_the_runner():
    from harness import runner
    from harness.topics.pickle import tables

    got = runner.measure(TOPIC, Options(objects=[], versions="current"))
    assert kind_rows(got.rows, "cases").empty and len(got.rows["versions"]) == HIGHEST + 1
    by_id = {v.claim_id: v for v in judge_all(TOPIC.claims, got.rows)}
    assert set(by_id) == {"pickle.versions"} and by_id["pickle.versions"].verdict == "inconclusive"
    matrix = TOPIC.tables(got.rows, None)[tables.VERSIONS]
    assert list(matrix.iloc[0]) == [sys.version.split()[0], "0-%d" % HIGHEST]
    with pytest.raises(HarnessError):
        TOPIC.options(_topic_args(["--versions", "2.7"]))
    assert TOPIC.options(_topic_args([])).versions == "all"  # the default run (the report's)
    assert TOPIC.options(_topic_args(["--objects", "numpy"])).versions is None


def kind_rows(rows, name):
    from harness.topic import kind

    return kind(rows, name)


def _topic_args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    TOPIC.add_arguments(parser)
    return parser.parse_args(argv)


def test_cached_classes_share_one_child_and_a_crash_costs_its_object_only(tmp_path, monkeypatch):
    (tmp_path / "memharness_crash_plugin.py").write_text(CRASH_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    hp = "dumps-p%d" % HIGHEST
    plan = TOPIC.plan(Options(objects=["cached-default", "cached-getstate"], sizes=[16 * KiB]))
    assert [c.label for c in plan.cases] == ["cached classes 16.0 KiB (2 objects)"]
    from harness.topics.pickle.cases import group_rows
    from harness.topics.pickle.measure import load_plugins

    try:
        load_plugins([["memharness_crash_plugin", str(tmp_path)]])
        got = group_rows([["cached-default", 16 * KiB, [hp]], ["cached-getstate", 16 * KiB, ["crash-child", hp]]],
                         None, "", 3, 0.5, [["memharness_crash_plugin", str(tmp_path)]])
    finally:
        for name in ("crash-fork", "crash-child"):
            METHODS.pop(name, None)
    rows = {(r["object"], r["method"]): r for r in got["cases"]}
    assert set(rows) == {("cached-default", hp), ("cached-getstate", "crash-child"), ("cached-getstate", hp)}
    ok = rows[("cached-default", hp)]
    assert "error" not in ok and ok["equal"] and ok["dump_processes"] == timing.PROCESSES
    # the object's fork died in crash-child's traced pass: its methods say so, the other object is measured
    assert rows[("cached-getstate", "crash-child")]["error"].startswith("process died: killed by SIGABRT")
