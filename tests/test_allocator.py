"""pymalloc workloads: retention after frees, the malloc and C++ comparisons, interpreters, verdicts, CLI."""
import json
import os
import sys

import pandas as pd
import pytest

from harness import allocator
from harness.core import interpreters
from harness.errors import HarnessError

N = 100_000


@pytest.fixture(scope="module")
def runs():
    """Each pattern once on this interpreter under pymalloc (a fresh child each)."""
    if os.environ.get("PYTHONMALLOC"):
        pytest.skip("PYTHONMALLOC is set")
    return {p: allocator.run_workload(p, 64, N) for p in allocator.PATTERNS}


def steps_of(res):
    return {s["step"]: s for s in res["steps"]}


def test_every_step_is_recorded(runs):
    for pattern, res in runs.items():
        assert [s["step"] for s in res["steps"]] == list(allocator.STEPS)
        st = steps_of(res)
        assert st["allocated"]["live_objects"] == N
        assert st["allocated"]["live_requested"] == 64 * N  # 64-byte requests, measured with getsizeof
        assert res["blocks"] == [64]
        # the interpreter's own short-lived objects move a few dozen blocks either way
        assert abs(st["allocated"]["class_blocks"]["64"] - st["start"]["class_blocks"]["64"] - N) < 200
        assert abs(st["allocated"]["blocks_bytes"] - st["start"]["blocks_bytes"] - 64 * N) < 0.01 * 64 * N


def test_free_patterns_free_what_they_say(runs):
    live = {p: steps_of(r)["freed"]["live_objects"] for p, r in runs.items()}
    assert live == {"free_all": 0, "free_every_2nd": N // 2, "keep_1_in_1000": N // 1000, "free_random_half": N // 2}


def test_after_freeing_everything_arenas_fall_back_near_the_start(runs):
    st = steps_of(runs["free_all"])
    used = st["allocated"]["arenas"] - st["start"]["arenas"]
    assert used >= 5
    assert st["freed"]["arenas"] - st["start"]["arenas"] <= 1  # 3.9+ keeps one empty arena
    assert st["freed"]["rss"] < st["allocated"]["rss"] - 0.5 * used * (st["allocated"]["arena_bytes"] // st["allocated"]["arenas"])


def test_keeping_one_in_1000_pins_the_arenas(runs):
    st = steps_of(runs["keep_1_in_1000"])
    assert st["freed"]["arenas"] >= st["allocated"]["arenas"] - 1
    assert st["freed"]["blocks_bytes"] - st["start"]["blocks_bytes"] < 0.01 * 64 * N
    assert st["freed"]["rss"] > st["allocated"]["rss"] - 1024 * 1024


def test_freed_blocks_are_reused_by_their_class_only(runs):
    st = steps_of(runs["free_every_2nd"])
    assert st["freed"]["arenas"] == st["allocated"]["arenas"]  # no pool emptied
    assert st["refill_same"]["arenas"] <= st["allocated"]["arenas"] + 1
    used = st["allocated"]["arenas"] - st["start"]["arenas"]
    assert st["refill_other"]["arenas"] - st["refill_same"]["arenas"] >= 0.3 * used


def test_malloc_trim_does_not_touch_pymalloc_arenas(runs):
    for res in runs.values():
        st = steps_of(res)
        assert st["trimmed"]["arenas"] == st["freed"]["arenas"]


def test_under_pythonmalloc_malloc_there_are_no_arenas_and_glibc_holds():
    res = allocator.run_workload("free_all", 64, N, allocator="malloc")
    assert res["allocator"] == "malloc" and res["blocks"] == []
    st = steps_of(res)
    assert st["allocated"].get("arenas") is None
    assert st["allocated"]["malloc_in_use"] - st["start"]["malloc_in_use"] >= 64 * N
    assert st["freed"]["malloc_in_use"] - st["start"]["malloc_in_use"] < 0.1 * 64 * N


def test_mixed_sizes_use_several_classes():
    res = allocator.run_workload("free_every_2nd", allocator.MIXED, 20_000)
    assert len(set(res["blocks"])) == len(allocator.MIXED_SIZES)
    assert all(r <= b < r + 16 for r, b in zip(allocator.MIXED_SIZES, res["blocks"]))
    st = steps_of(res)
    for b in res["blocks"]:
        assert abs(st["allocated"]["class_blocks"][str(b)] - st["start"]["class_blocks"][str(b)] - 20_000 // 5) < 200


def test_cpp_side_frees_in_the_same_patterns():
    reason = allocator.cpp_missing()
    if reason:
        pytest.skip(reason)
    res = allocator.run_workload("keep_1_in_1000", 64, N, allocator="c++")
    st = steps_of(res)
    assert st["allocated"]["live_objects"] == N and st["allocated"]["live_requested"] == 64 * N
    assert st["allocated"]["cpp_allocated"] >= 64 * N
    assert st["freed"]["live_objects"] == N // 1000
    res = allocator.run_workload("free_random_half", allocator.MIXED, 10_000, allocator="c++")
    assert steps_of(res)["freed"]["live_objects"] == 5_000


def test_probe_layout_finds_pools_and_arenas_in_synthetic_addresses():
    def layout(pool, header, stride, pools_per_arena, arenas, lost_first=0):
        addrs = []
        per_pool = (pool - header) // stride
        base = 1 << 40
        for a in range(arenas):
            arena = base - a * (pools_per_arena + 3) * pool  # new arenas lower down, as mmap does
            for p in range(lost_first, pools_per_arena):
                addrs += [arena + p * pool + header + i * stride for i in range(per_pool)]
        return addrs

    got = allocator.probe_layout(layout(4096, 48, 64, 64, 6))
    assert (got["stride"], got["pool_size"], got["pool_header"], got["pools_per_arena"]) == (64, 4096, 48, 64)
    got = allocator.probe_layout(layout(16384, 48, 80, 64, 4, lost_first=1))
    assert (got["stride"], got["pool_size"], got["pool_header"], got["pools_per_arena"]) == (80, 16384, 48, 63)
    assert got["blocks_per_pool"] == (16384 - 48) // 80


def test_bad_input_is_refused_clearly():
    with pytest.raises(HarnessError, match="pattern"):
        allocator.run_workload("free_some", 64, N)
    with pytest.raises(HarnessError, match="too small"):
        allocator.run_workload("free_all", 64, 10)
    with pytest.raises(HarnessError, match="too small"):
        allocator.run_workload("free_all", 20, 5000)  # a bytes object needs more than 20 bytes
    with pytest.raises(HarnessError, match="allocator"):
        allocator.measure_all(allocators=["jemalloc"])


def test_interpreters_are_found_or_refused():
    cur = interpreters.find_interpreter("current")
    assert cur.path == sys.executable
    v = "%d.%d" % sys.version_info[:2]
    assert interpreters.find_interpreter(v).path == sys.executable
    assert interpreters.find_interpreter(sys.executable).version == cur.version
    with pytest.raises(HarnessError, match="outside the supported range 3.8-3.13"):
        interpreters.find_interpreter("3.99")
    with pytest.raises(HarnessError, match="give a version"):
        interpreters.find_interpreter("banana")
    with pytest.raises(HarnessError, match="not a CPython"):
        interpreters.find_interpreter("/bin/true")
    found, notes = interpreters.find_interpreters(["all"])
    assert cur.version in [f.version for f in found]
    assert len(found) + len(notes) == len(interpreters.VERSIONS)
    assert all(f.version.startswith(tuple(interpreters.VERSIONS)) for f in found)


def test_a_foreign_interpreter_runs_the_workloads():
    from conftest import find_python

    other = [v for v in ("3.8", "3.13") if v != "%d.%d" % sys.version_info[:2] and find_python(v)]
    if not other:
        pytest.skip("no other CPython installed")
    it = interpreters.find_interpreter(other[0])
    res = allocator.run_workload("keep_1_in_1000", 64, 20_000, python=it.path)
    assert res["child"]["python"] == it.version
    st = steps_of(res)
    assert st["freed"]["live_objects"] == 20
    assert st["freed"]["arenas"] >= st["allocated"]["arenas"] - 1


def _table(rows):
    base = {"python": "X", "objects": "64 B", "block": 64}
    return pd.DataFrame([dict(base, **r) for r in rows])


def test_verdicts_follow_the_figures():
    geo = {"arena_size": 262144, "pool_size": 4096, "pool_header_size": 48, "alignment": 16,
           "small_block_threshold": 512, "request": 50, "block": 64, "n": 1000, "class_blocks_added": 1000,
           "probe": {"stride": 64, "pool_size": 4096, "pools_per_arena": 64}}
    arenas = dict(arenas_start=2, arenas_alloc=12, arenas_trim=0, rss_alloc=10.0, rss_trim=0.0, rss_same=0.0,
                  rss_other=0.0, ratio=None)
    table = _table([
        dict(arenas, allocator="pymalloc", pattern="free_all", arenas_freed=3, arenas_same=12, arenas_other=13, rss_freed=1.0),
        dict(arenas, allocator="pymalloc", pattern="keep_1_in_1000", arenas_freed=12, arenas_same=12, arenas_other=13,
             rss_freed=10.0, ratio=900.0),
        dict(arenas, allocator="pymalloc", pattern="free_every_2nd", arenas_freed=12, arenas_same=12, arenas_other=17,
             rss_freed=10.0),
    ])
    got = {r["claim"]: r["verdict"] for r in allocator.judge_version("X", geo, table, "64 B")}
    c = allocator.CLAIMS
    assert got[c["arena"]] == "confirmed" and got[c["pool"]] == "confirmed" and got[c["blocks"]] == "confirmed"
    assert got[c["reuse"]] == "confirmed" and got[c["buildup"]] == "confirmed" and got[c["kept"]] == "partly"

    geo2 = dict(geo, arena_size=1048576, pool_size=16384, probe={"stride": 48, "pool_size": 16384})
    table.loc[table["pattern"] == "free_all", "arenas_freed"] = 12  # nothing given back
    table.loc[table["pattern"] == "free_every_2nd", "arenas_other"] = 12  # no build-up
    table.loc[table["pattern"] == "free_every_2nd", "arenas_same"] = 20  # no reuse
    got = {r["claim"]: r["verdict"] for r in allocator.judge_version("X", geo2, table, "64 B")}
    assert got[c["arena"]] == "refuted" and got[c["pool"]] == "refuted" and got[c["blocks"]] == "refuted"
    assert got[c["kept"]] == "confirmed" and got[c["buildup"]] == "refuted" and got[c["reuse"]] == "refuted"

    rows = allocator.judge_version("3.8", geo, table, "64 B") + allocator.judge_version("3.12", geo2, table, "64 B")
    overall = {v.claim: v for v in allocator._overall(rows)}
    assert overall[c["arena"]].verdict == "partly"
    assert "confirmed on 3.8" in overall[c["arena"]].evidence and "refuted on 3.12" in overall[c["arena"]].evidence
    vt = allocator.verdict_table(rows)
    assert list(vt.columns) == ["claim", "3.8", "3.12"]
    assert vt.set_index("claim").loc[c["arena"]].tolist() == ["confirmed", "refuted"]


def test_run_topic_measures_and_judges_this_interpreter(tmp_path):
    result = allocator.run_topic(None, allocators=["pymalloc", "malloc"], sizes=[64],
                                 patterns=["free_all", "free_every_2nd", "keep_1_in_1000"], n=N, jobs=2)
    geo = result.tables["geometry"]
    assert len(geo) == 1 and geo["probe_pool"].iloc[0] == geo["pool_size"].iloc[0]
    ret = result.tables["retention"]
    assert len(ret) == 6 and set(ret["allocator"]) == {"pymalloc", "malloc"}
    claims = {v.claim: v.verdict for v in result.verdicts}
    size_claim = allocator.CLAIMS["arena"]
    assert claims[size_claim] == ("confirmed" if sys.version_info < (3, 10) else "refuted")
    assert claims[allocator.CLAIMS["kept"]] == "partly"
    assert claims[allocator.CLAIMS["buildup"]] == "confirmed"
    assert allocator.CLAIMS["glibc"] in claims
    path = tmp_path / "rss.png"
    allocator.plot(result, str(path))
    assert path.stat().st_size > 1000


def test_cli_json(cli, tmp_path):
    out = tmp_path / "a.json"
    proc = cli("allocator", "--objects", "64", "--patterns", "free_all,keep_1_in_1000", "--allocators", "pymalloc",
               "--format", "json", "--output", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["topic"] == "allocator"
    assert {"geometry", "retention", "verdicts"} <= set(data["tables"])
    assert any(v["claim"] == allocator.CLAIMS["arena"] for v in data["verdicts"])


def test_cli_refuses_bad_options(cli):
    proc = cli("allocator", "--objects", "10")
    assert proc.returncode == 2 and "out of range" in proc.stderr
    proc = cli("allocator", "--python", "3.99", "--quiet")
    assert proc.returncode == 2 and "outside the supported range" in proc.stderr
