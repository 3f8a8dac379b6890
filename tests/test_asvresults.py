"""The claims asv tracks, judged per Python version from result files, and their place in the report."""
import json
import os

from harness import asvresults, report

COLS = ["result", "params", "version", "started_at", "duration"]


def write(root, python, results, commit="abcdef1234567890", date=1700000000000):
    """A result file of one environment: results = {benchmark: (values, params)}."""
    os.makedirs(os.path.join(root, "box"), exist_ok=True)
    data = {
        "commit_hash": commit, "env_name": "py" + python, "date": date, "python": python,
        "params": {"machine": "box", "python": python}, "requirements": {}, "env_vars": {},
        "result_columns": COLS, "version": 2, "durations": {},
        "results": {name: [values, params, "v1", date, 1.0] for name, (values, params) in results.items()},
    }
    with open(os.path.join(root, "box", "%s-py%s.json" % (commit[:8], python)), "w") as fh:
        json.dump(data, fh)


RATIO = "bench_containers.BytesPerElement.track_ratio_allocated"
ARENA = "bench_allocator.Geometry.track_arena_size"
POOL = "bench_allocator.Geometry.track_pool_size"
BYTES = "bench_pickle.PickleMemory.track_pickled_bytes"
PEAK = "bench_pickle.PickleMemory.track_dump_peak"
MiB = 1 << 20


def results(arena, pool, list_int_ratio, p5_bytes, oob_peak):
    workloads = ["'list_int'", "'set_int'", "'array_q'"]  # array_q: a reference, never judged
    return {
        # largest n decides: list_int 1e3 is 9x (ignored), 1e5 is list_int_ratio; set_int 2.3x; array_q 1.0x
        RATIO: ([9.0, list_int_ratio, 2.3, 2.3, 1.0, 1.0], [workloads, ["1000", "100000"]]),
        ARENA: (arena, []),
        POOL: (pool, []),
        BYTES: ([1000.0, p5_bytes, None], [["'list-int'"], ["1048576"], ["'dumps-p4'", "'dumps-p5'", "'oob-p5'"]]),
        PEAK: ([5e5, 4e5, oob_peak], [["'numpy'"], ["1048576"], ["'dumps-p4'", "'dumps-p5'", "'oob-p5'"]]),
    }


def test_claims_are_judged_per_version_in_version_order(tmp_path):
    write(tmp_path, "3.8", results(256 * 1024, 4096, 5.0, 990.0, 0.01 * MiB))
    write(tmp_path, "3.12", results(MiB, 16384, 7.0, 1200.0, 0.5 * MiB))
    table = asvresults.claims_by_version(asvresults.load(str(tmp_path)))
    assert list(table.columns) == ["topic", "claim", "figure", "Python 3.8", "Python 3.12"]
    rows = {r["claim"]: r for r in table.to_dict("records")}
    ratio = rows["Python structures use 3-6x more memory than the equivalent C++ structures"]
    assert ratio["Python 3.8"] == "partly: 2.3-5.0x, 1 of 2 workloads within"
    assert ratio["Python 3.12"] == "refuted: 2.3-7.0x, 0 of 2 workloads within"
    assert rows["pymalloc arenas are 256 KB"]["Python 3.8"] == "confirmed: 256.0 KiB"
    assert rows["pymalloc arenas are 256 KB"]["Python 3.12"] == "refuted: 1.0 MiB"
    assert rows["arenas are divided into 4 KB pools"]["Python 3.12"] == "refuted: 16.0 KiB"
    from harness.topics.pickle.claims import HIGHEST_SMALLEST_FASTEST, OOB

    smallest = rows[HIGHEST_SMALLEST_FASTEST.text]  # the live run's claim, judged on the sizes asv tracks
    assert smallest["Python 3.8"] == "confirmed: size: best 1, tied 0, not 0"
    assert smallest["Python 3.12"] == "refuted: size: best 0, tied 0, not 1"
    oob = rows[OOB.text]
    assert oob["Python 3.8"].startswith("confirmed: numpy 1.0 MiB: dump 0.010")
    assert oob["Python 3.12"].startswith("refuted: numpy 1.0 MiB: dump 0.500")


def test_the_newest_commit_of_each_version_decides(tmp_path):
    write(tmp_path, "3.11", results(256 * 1024, 4096, 5.0, 990.0, 0.0), commit="1" * 16, date=1700000000000)
    write(tmp_path, "3.11", results(MiB, 16384, 5.0, 990.0, 0.0), commit="2" * 16, date=1700000999000)
    rows = {r["claim"]: r for r in asvresults.claims_by_version(asvresults.load(str(tmp_path))).to_dict("records")}
    assert rows["pymalloc arenas are 256 KB"]["Python 3.11"] == "refuted: 1.0 MiB"


def test_claims_without_their_benchmarks_are_left_out(tmp_path):
    write(tmp_path, "3.11", {"bench_other.Suite.track_x": (1.0, [])})
    assert asvresults.claims_by_version(asvresults.load(str(tmp_path))) is None
    write(tmp_path, "3.9", {ARENA: (262144, [])})
    table = asvresults.claims_by_version(asvresults.load(str(tmp_path)))
    assert table["claim"].tolist() == ["pymalloc arenas are 256 KB"]
    assert table["Python 3.11"].tolist() == [""]  # 3.11 has results, but not of this claim


def test_the_report_shows_the_claims_by_version(tmp_path):
    from harness import report_doc

    write(tmp_path, "3.9", results(256 * 1024, 4096, 5.0, 990.0, 0.0))
    versions = report.versions_table(str(tmp_path))
    doc = report_doc.Document.of([], [], versions)
    md = doc.to_markdown()
    assert "## Across versions (asv results)" in md and "| pymalloc arenas are 256 KB (allocator) | **confirmed**: 256.0 KiB |" in md
    assert "<b>confirmed</b><span class='key'>256.0 KiB</span>" in doc.to_html()
    assert report.versions_table(str(tmp_path / "none")) is None


def test_odd_values_in_a_result_file_are_passed_over(tmp_path):
    # a hand-edited or foreign file: strings and lists where numbers belong, odd parameters
    write(tmp_path, "3.11", {
        RATIO: (["x", 4.0, [1], 2.3], [["'list_int'", "'set_int'"], ["'big'", "100000"]]),
        ARENA: ("large", []),
        POOL: (4096, []),
        BYTES: ([1000.0, "?"], [["'list-int'"], ["1048576"], ["'dumps-pX'", "'dumps-p5'"]]),
        PEAK: ([1.0], [["'numpy'"], ["'huge'"], ["'oob-p5'"]]),
    })
    rows = {r["claim"]: r for r in asvresults.claims_by_version(asvresults.load(str(tmp_path))).to_dict("records")}
    assert set(rows) == {"arenas are divided into 4 KB pools",
                         "Python structures use 3-6x more memory than the equivalent C++ structures"}
    assert rows["arenas are divided into 4 KB pools"]["Python 3.11"] == "confirmed: 4.0 KiB"
    assert rows["Python structures use 3-6x more memory than the equivalent C++ structures"]["Python 3.11"] == \
        "partly: 2.3-4.0x, 1 of 2 workloads within"
