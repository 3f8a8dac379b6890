"""memharness compare: byte figures to the byte, times beyond their measured noise, bad input exit 2."""
import json
import os

import pytest

from harness import cli

COLS = ["result", "params", "version", "started_at", "duration", "samples"]
DEFS = {
    "bench_x.Mem.track_bytes": ("track", "bytes"),
    "bench_x.Mem.track_arenas": ("track", "arenas"),
    "bench_x.Speed.time_dump": ("time", "seconds"),
    "bench_x.Speed.track_gbps": ("track", "GB/s"),
}


def write_set(root, values, commit="a" * 40, machine="box", samples=None, env="virtualenv-py3.11", kinds=None):
    """A results folder: values = {benchmark: [value per param 'a', 'b']}; samples likewise (lists);
    kinds: the benchmarks' (type, unit), DEFS unless given."""
    os.makedirs(os.path.join(root, machine), exist_ok=True)
    defs = {n: {"name": n, "type": t, "unit": u, "version": "v1", "params": [["'a'", "'b'"]], "param_names": ["k"]}
            for n, (t, u) in (kinds or DEFS).items()}
    with open(os.path.join(root, "benchmarks.json"), "w") as fh:
        json.dump(dict(defs, version=2), fh)
    with open(os.path.join(root, machine, "machine.json"), "w") as fh:
        json.dump({"machine": machine, "version": 1}, fh)
    results = {n: [v, [["'a'", "'b'"]], "v1", 1, 1.0, (samples or {}).get(n)] for n, v in values.items()}
    data = {"commit_hash": commit, "env_name": env, "date": 1, "params": {"python": "3.11"}, "python": "3.11",
            "requirements": {}, "env_vars": {}, "result_columns": COLS, "results": results, "durations": {},
            "version": 2}
    path = os.path.join(root, machine, "%s-%s.json" % (commit[:8], env))
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


BASE = {"bench_x.Mem.track_bytes": [1000, 2048], "bench_x.Mem.track_arenas": [3, 4],
        "bench_x.Speed.time_dump": [0.010, 0.020], "bench_x.Speed.track_gbps": [10.0, 20.0]}
SAMPLES = {"bench_x.Speed.time_dump": [[0.0097, 0.0100, 0.0104], [0.0195, 0.0200, 0.0206]]}  # IQR: 3.5% / 2.75%


def run(capsys, *argv):
    rc = cli.main(["compare", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def with_(**changes):
    new = {k: list(v) for k, v in BASE.items()}
    for name, (i, value) in changes.items():
        new["bench_x.%s" % name.replace("__", ".")][i] = value
    return new


def test_identical_sets_pass(tmp_path, capsys):
    write_set(tmp_path / "a", BASE, samples=SAMPLES)
    write_set(tmp_path / "b", BASE, commit="b" * 40, samples=SAMPLES)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 0, out
    assert out.startswith("OK: 0 of 8 figures fail")


@pytest.mark.parametrize("change", [{"Mem__track_bytes": (1, 2049)}, {"Mem__track_bytes": (0, 999)},
                                    {"Mem__track_arenas": (0, 4)}])
def test_a_changed_byte_figure_fails_to_the_byte(tmp_path, capsys, change):
    write_set(tmp_path / "a", BASE, samples=SAMPLES)
    write_set(tmp_path / "b", with_(**change), commit="b" * 40, samples=SAMPLES)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 1, out
    assert out.startswith("FAIL: 1 of 8")
    lines = out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("status ")) + 1:]
    assert [line.split()[0] for line in table] == ["changed"]


def test_a_lost_figure_fails(tmp_path, capsys):
    write_set(tmp_path / "a", BASE)
    write_set(tmp_path / "b", with_(Mem__track_bytes=(0, None)), commit="b" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 1 and "\nlost " in out


def test_a_noise_level_time_change_passes_with_the_measured_threshold(tmp_path, capsys):
    write_set(tmp_path / "a", BASE, samples=SAMPLES)
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.0103)), commit="b" * 40, samples=SAMPLES)  # +3% < 3.5%
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b", "--all")
    assert rc == 0, out
    assert "noise threshold measured for 2 time figures" in out and "NOT MEASURED for 2" in out
    row = next(line for line in out.splitlines() if "time_dump" in line and "'a'" in line)
    assert row.split()[0] == "same" and "measured: samples n=3" in row and " 3.5% " in row


def test_the_noise_resists_a_warm_up_sample():
    from harness.compare import noise
    from harness.resultset import Figure

    fig = Figure("time", "seconds", runs=[3.0e-6], samples=[49.3e-6, 4.4e-6, 2.2e-6, 2.6e-6, 1.9e-6, 5.6e-6, 3.0e-6,
                                                              3.0e-6, 2.9e-6, 4.1e-6])  # a real asv run's samples
    spread, source = noise(fig)
    assert 0.3 < spread < 0.7 and source == "samples n=10"
    assert noise(Figure("time", "seconds", runs=[1.0])) is None


def test_a_big_time_change_fails(tmp_path, capsys):
    write_set(tmp_path / "a", BASE, samples=SAMPLES)
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.0110)), commit="b" * 40, samples=SAMPLES)  # +10% > 3.5%
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 1, out
    assert "\nregressed " in out


def test_faster_and_a_higher_rate_pass_a_lower_rate_fails(tmp_path, capsys):
    write_set(tmp_path / "a", BASE)
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.005), Speed__track_gbps=(0, 15.0)), commit="b" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 0 and out.count("\nimproved ") == 2, out
    write_set(tmp_path / "c", with_(Speed__track_gbps=(1, 15.0)), commit="c" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "c")
    assert rc == 1 and "\nregressed " in out


def test_unmeasured_noise_uses_the_default_and_says_so(tmp_path, capsys):
    write_set(tmp_path / "a", BASE)
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.0108)), commit="b" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 0 and "noise NOT MEASURED for 4 time figures" in out and "default threshold 10%" in out
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b", "--time-threshold", "5")
    assert rc == 1 and "not measured: default" in out


def test_repeated_runs_of_one_commit_measure_the_noise(tmp_path, capsys):
    write_set(tmp_path / "a", BASE, machine="run-1")
    write_set(tmp_path / "a", with_(Speed__time_dump=(0, 0.0112)), machine="run-2")  # IQR 5.7% of the median 0.0106
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.0110)), commit="b" * 40)  # +3.8%
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b", "--time-threshold", "1", "--all")
    assert rc == 0, out
    assert "measured: runs n=2" in out


def test_byte_figures_that_differ_between_runs_of_one_commit_fail(tmp_path, capsys):
    write_set(tmp_path / "a", BASE, machine="run-1")
    write_set(tmp_path / "a", with_(Mem__track_bytes=(0, 1001)), machine="run-2")
    write_set(tmp_path / "b", BASE, commit="b" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b")
    assert rc == 1 and "\nunstable " in out


@pytest.mark.parametrize("unit, kind", [("bytes", "exact"), ("arenas", "exact"), ("bytes (RSS)", "other"),
                                        ("arenas (heap state)", "other"), ("pools (heap state)", "other"),
                                        ("GB/s", "rate"), ("ratio", "other")])
def test_a_qualified_count_is_not_exact(unit, kind):
    from harness.resultset import figure_kind

    assert figure_kind({"type": "track", "unit": unit}) == kind
    assert figure_kind({"type": "time", "unit": "seconds"}) == "time"


RSS = {"bench_x.Mem.track_rss": ("track", "bytes (RSS)")}


@pytest.mark.parametrize("new, status, rc", [(1_030_000, "same", 0), (0, "moved", 1), (2_000_000, "moved", 1)])
def test_an_rss_figure_is_gated_by_its_noise_not_to_the_byte(tmp_path, capsys, new, status, rc):
    """Two runs of the base commit measure the figure's spread (1.00 MB vs 1.05 MB: 5%): a change within it
    passes (1.03 MB), one beyond it fails, in either direction."""
    write_set(tmp_path / "a", {"bench_x.Mem.track_rss": [1_000_000, 4096]}, machine="run-1", kinds=RSS)
    write_set(tmp_path / "a", {"bench_x.Mem.track_rss": [1_050_000, 4096]}, machine="run-2", kinds=RSS)
    write_set(tmp_path / "b", {"bench_x.Mem.track_rss": [new, 4096]}, commit="b" * 40, kinds=RSS)
    got, out, _ = run(capsys, tmp_path / "a", tmp_path / "b", "--all")
    assert got == rc, out
    row = next(line for line in out.splitlines() if "track_rss" in line and "'a'" in line)
    assert row.split()[:2] == [status, "other"], row
    assert "unstable" not in out


def test_markdown_for_a_pull_request_and_two_commits_of_one_folder(tmp_path, capsys):
    write_set(tmp_path / "r", BASE)
    write_set(tmp_path / "r", with_(Mem__track_bytes=(0, 1008)), commit="b" * 40)
    rc, out, err = run(capsys, tmp_path / "r", tmp_path / "r")
    assert rc == 2 and "holds results of 2 commits" in err and len(err.splitlines()) == 1
    md = tmp_path / "summary.md"
    rc, out, _ = run(capsys, tmp_path / "r", tmp_path / "r", "--base-commit", "aaaa", "--new-commit", "bbbb",
                     "--markdown", md)
    assert rc == 1
    text = md.read_text()
    assert text.startswith("### memharness compare: FAIL: 1 of 8")
    assert "| changed | exact | py3.11 | bench_x.Mem.track_bytes | 'a' | 1000 | 1008 | +0.8% |" in text
    rc, out, _ = run(capsys, tmp_path / "r" / "box" / ("a" * 8 + "-virtualenv-py3.11.json"),
                     tmp_path / "r" / "box" / ("b" * 8 + "-virtualenv-py3.11.json"), "--format", "json")
    assert rc == 1 and json.loads(out)["rows"][0]["status"] == "changed"


def _hostile(tmp_path, how):
    good = write_set(tmp_path / "a", BASE)
    bad = tmp_path / "b"
    path = write_set(bad, BASE, commit="b" * 40)
    if how == "truncated":
        text = open(path).read()
        open(path, "w").write(text[: len(text) // 2])
    elif how == "not-asv":
        open(path, "w").write('{"hello": 1}')
    elif how == "samples":
        data = json.load(open(path))
        data["results"]["bench_x.Speed.time_dump"][5] = "oops"
        json.dump(data, open(path, "w"))
    elif how == "fifo":
        os.unlink(path)
        os.mkfifo(path)
    elif how == "symlink":
        os.unlink(path)
        os.symlink("/etc/passwd", path)
    elif how == "no-benchmarks":
        os.unlink(bad / "benchmarks.json")
        return good, path
    elif how == "machine-folder":
        return good, bad / "box"
    elif how == "missing":
        return good, tmp_path / "nowhere"
    return good, bad


@pytest.mark.parametrize("how", ["truncated", "not-asv", "samples", "fifo", "symlink", "no-benchmarks",
                                 "machine-folder", "missing"])
def test_hostile_or_corrupt_input_is_one_line_and_exit_2(tmp_path, capsys, how):
    good, bad = _hostile(tmp_path, how)
    rc, out, err = run(capsys, good, bad)
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("memharness compare: error: "), err
    assert "Traceback" not in err and out == ""


def test_exclude_leaves_benchmarks_out_and_says_so(tmp_path, capsys):
    write_set(tmp_path / "a", BASE)
    write_set(tmp_path / "b", with_(Mem__track_bytes=(0, 1001)), commit="b" * 40)
    rc, out, _ = run(capsys, tmp_path / "a", tmp_path / "b", "--exclude", r"\.track_bytes$")
    assert rc == 0 and "left out by --exclude: 2 figures" in out and "of 6 figures" in out
    rc, _, err = run(capsys, tmp_path / "a", tmp_path / "b", "--exclude", "(")
    assert rc == 2 and "--exclude" in err


def test_a_bad_threshold_is_refused(tmp_path, capsys):
    write_set(tmp_path / "a", BASE)
    for bad in ("0", "-5", "nan", "inf"):
        rc, _, err = run(capsys, tmp_path / "a", tmp_path / "a", "--time-threshold", bad)
        assert rc == 2 and "--time-threshold" in err


# ---------------------------------------------------------------------------------------------- pyperf


def test_time_figures_export_as_pyperf_json_that_compare_to_reads(tmp_path, capsys):
    pyperf = pytest.importorskip("pyperf", reason="pip install pyperf (in the asv extra)")
    import subprocess
    import sys

    write_set(tmp_path / "a", BASE, samples=SAMPLES)
    write_set(tmp_path / "b", with_(Speed__time_dump=(0, 0.0150)), commit="b" * 40,
              samples={"bench_x.Speed.time_dump": [[0.0148, 0.0150, 0.0152], [0.0195, 0.0200, 0.0206]]})
    for side in ("a", "b"):
        assert cli.main(["export-pyperf", str(tmp_path / side), "-o", str(tmp_path / ("%s.json" % side))]) == 0
    suite = pyperf.BenchmarkSuite.load(str(tmp_path / "a.json"))
    names = sorted(suite.get_benchmark_names())
    assert names == ["bench_x.Speed.time_dump('a') [py3.11]", "bench_x.Speed.time_dump('b') [py3.11]"]
    bench = suite.get_benchmark(names[0])
    assert bench.get_values() == (0.0097, 0.0100, 0.0104) and bench.get_unit() == "second"
    assert bench.get_metadata()["commit_id"] == "a" * 40
    proc = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(tmp_path / "a.json"),
                           str(tmp_path / "b.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "time_dump('a') [py3.11]" in proc.stdout and "1.50x slower" in proc.stdout, proc.stdout


def test_export_pyperf_without_time_figures_is_exit_2(tmp_path, capsys):
    pytest.importorskip("pyperf")
    write_set(tmp_path / "a", {k: [None, None] if "time_" in k else v for k, v in BASE.items()})
    rc = cli.main(["export-pyperf", str(tmp_path / "a"), "-o", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "no time figure" in err and not (tmp_path / "x.json").exists()


def test_a_lone_result_file_does_not_take_a_benchmarks_json_from_a_shared_folder(tmp_path, capsys):
    a = write_set(tmp_path / "a", BASE)
    b = write_set(tmp_path / "b", BASE, commit="b" * 40)
    loose = tmp_path / "shared" / "x"
    loose.mkdir(parents=True)
    os.rename(b, loose / "r.json")  # no machine.json beside it: not asv's layout
    (tmp_path / "shared" / "benchmarks.json").write_text("{}")  # what another user could plant
    rc, out, err = run(capsys, a, loose / "r.json")
    assert rc == 2 and "--benchmarks FILE" in err and len(err.strip().splitlines()) == 1, err
    rc, out, err = run(capsys, a, loose / "r.json", "--benchmarks", tmp_path / "a" / "benchmarks.json")
    assert rc == 0, out + err
