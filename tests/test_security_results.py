"""Hostile and careless input to merge-results and the report's results section, concurrent merges,
killed merges, and where the report's -o writes (symbolic links, devices, FIFOs)."""
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from harness import asvresults, merge, report
from harness.cli import main as cli_main
from harness.errors import HarnessError
from harness.output import write_atomic

COLS = ["result", "params", "version", "started_at", "duration"]
PARAMS = [["'a'", "'b'"]]


def result_file(machine="box", commit="abcdef1234567890", env="py3.11", python="3.11", results=None, **extra):
    data = {
        "commit_hash": commit, "env_name": env, "date": 1700000000000, "params": {"machine": machine, "python": python},
        "python": python, "requirements": {}, "env_vars": {}, "result_columns": COLS, "durations": {}, "version": 2,
        "results": {n: [vals, PARAMS, "v1", 1700000000000, 1.0] for n, vals in (results or {}).items()},
    }
    data.update(extra)
    return data


def make_source(root, benchmarks, files, machine="box"):
    """A results folder: benchmarks.json of ``benchmarks``, and {file name: JSON or raw text} in root/machine."""
    os.makedirs(os.path.join(root, machine), exist_ok=True)
    defs = {n: {"name": n, "version": "v1", "type": "track", "unit": "bytes", "params": PARAMS,
                "param_names": ["kind"]} for n in benchmarks}
    with open(os.path.join(root, "benchmarks.json"), "w") as fh:
        json.dump(dict(defs, version=2), fh)
    with open(os.path.join(root, machine, "machine.json"), "w") as fh:
        json.dump({"machine": machine, "version": 1}, fh)
    for name, data in files.items():
        with open(os.path.join(root, machine, name), "w") as fh:
            fh.write(data if isinstance(data, str) else json.dumps(data))
    return str(root)


def benchmarks_in(root):
    return sorted((m, b) for m, path in asvresults.iter_result_files(str(root))
                  for b in asvresults.read_result_file(path)["results"])


def run_py(code, timeout=20):
    """Run ``code`` in a fresh interpreter with 3 GiB of address space: a hang or a runaway read
    fails the test instead of the machine."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    try:
        return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        pytest.fail("hung for %d s" % timeout)


def errors_of_load_and_merge(src, dest, timeout=20):
    """What asvresults.load(src) (the report's reader) and merge.merge([src], dest) say, in run_py:
    "ERROR <message>" or "no error" for each."""
    r = run_py("""
        from harness import asvresults, merge
        from harness.errors import HarnessError
        for call in (lambda: asvresults.load(%r), lambda: merge.merge([%r], %r)):
            try:
                call()
                print("no error")
            except HarnessError as exc:
                print("ERROR", exc)
    """ % (src, src, dest), timeout=timeout)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 2, r.stdout + r.stderr
    return lines


# --------------------------------------------------------------------------
# 10: hand-made asv JSON: shapes, depth, sizes, combinations, files that are not files

GOOD = {"b.track_x": [1.0, 2.0]}
HOSTILE_ROWS = {
    "a row that is 5": (lambda d: d["results"].update({"b.track_x": 5}), "malformed result row"),
    "a row that is {}": (lambda d: d["results"].update({"b.track_x": {}}), "malformed result row"),
    "a date that is a string": (lambda d: d.update(date="yesterday"), "date must be a number"),
    "integer params": (lambda d: d["results"]["b.track_x"].__setitem__(1, [[1, 2]]), "must be strings"),
    "a null param value": (lambda d: d["results"]["b.track_x"].__setitem__(1, [[None, "'b'"]]), "must be strings"),
    "params that are not lists": (lambda d: d["results"]["b.track_x"].__setitem__(1, 5), "list of lists"),
    "a commit that is a number": (lambda d: d.update(commit_hash=5), "commit_hash must be a string"),
    "durations that are a list": (lambda d: d.update(durations=[1]), "durations must be an object"),
    "too few results": (lambda d: d["results"]["b.track_x"].__setitem__(0, [1.0]), "1 results for 2"),
}


def hostile(case):
    data = result_file(results=GOOD)
    HOSTILE_ROWS[case][0](data)
    return data


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_hostile_result_file_is_one_error_in_the_report_and_in_merge(tmp_path, case):
    src = make_source(tmp_path / "src", ["b.track_x"], {"abcdef12-py3.11.json": hostile(case)})
    needle = HOSTILE_ROWS[case][1]
    with pytest.raises(HarnessError, match=needle) as info:
        asvresults.load(src)
    assert "abcdef12-py3.11.json" in str(info.value)
    with pytest.raises(HarnessError, match=needle):
        report.versions_table(src)
    # merge-results refuses what the report refuses (a shard on each side, so both are read and merged)
    dest = make_source(tmp_path / "dest", ["b.track_x"], {"abcdef12-py3.11.json": result_file(results={})})
    with pytest.raises(HarnessError, match=needle):
        merge.merge([src], dest)


def test_json_nested_100k_deep_is_an_error_not_a_recursion(tmp_path):
    text = '{"results": ' + "[" * 100000 + "]" * 100000 + "}"
    src = make_source(tmp_path / "src", ["b.track_x"], {"abcdef12-py3.11.json": text})
    for call in (lambda: asvresults.load(src), lambda: merge.merge([src], str(tmp_path / "d"))):
        with pytest.raises(HarnessError, match="nested too deeply"):
            call()
    deep = result_file(results={"b.track_x": [json.loads("[" * 200 + "]" * 200), 1.0]})
    make_source(tmp_path / "src2", ["b.track_x"], {"abcdef12-py3.11.json": deep})
    with pytest.raises(HarnessError, match="nested more than 64 deep"):
        asvresults.load(str(tmp_path / "src2"))


def test_a_benchmark_definition_that_is_5_is_an_error(tmp_path):
    a = make_source(tmp_path / "a", ["b.track_x"], {"abcdef12-py3.11.json": result_file(results=GOOD)})
    b = make_source(tmp_path / "b", [], {}, machine="other")
    defs = json.loads((tmp_path / "b" / "benchmarks.json").read_text())
    defs["b.track_x"] = 5
    (tmp_path / "b" / "benchmarks.json").write_text(json.dumps(defs))
    with pytest.raises(HarnessError, match="benchmark b.track_x: the definition must be an object"):
        merge.merge([a, b], str(tmp_path / "d"))


def test_a_string_date_in_two_shards_is_an_error_not_a_type_error(tmp_path):
    a = make_source(tmp_path / "a", ["b.track_x"], {"abcdef12-py3.11.json": result_file(results=GOOD)})
    b = make_source(tmp_path / "b", ["b.track_y"],
                    {"abcdef12-py3.11.json": result_file(results={"b.track_y": [1.0, 2.0]}, date="x")})
    with pytest.raises(HarnessError, match="date must be a number"):
        merge.merge([a, b], str(tmp_path / "d"))


def test_combinations_are_counted_before_they_are_made(tmp_path):
    # 48 KB: 8 parameters of 40 values each, 6.5e12 combinations
    params = [["'%d-%s'" % (i, "x" * 140) for i in range(40)] for _ in range(8)]
    data = result_file(results={"b.track_x": [1.0]})
    data["results"]["b.track_x"][1] = params
    src = make_source(tmp_path / "src", ["b.track_x"], {"abcdef12-py3.11.json": data})
    lines = errors_of_load_and_merge(src, str(tmp_path / "d"))
    assert all(l.startswith("ERROR") and "more than 100000 parameter combinations" in l for l in lines), lines


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo", "bigger than 64 MiB"])
def test_files_that_are_not_small_regular_files_are_refused_at_once(tmp_path, kind):
    src = make_source(tmp_path / "src", ["b.track_x"], {})
    path = os.path.join(src, "box", "abcdef12-py3.11.json")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to /dev/zero":
        os.symlink("/dev/zero", path)
    else:
        with open(path, "wb") as fh:
            fh.truncate((64 << 20) + 1)  # sparse
    needle = {"fifo": "is a FIFO", "symlink to /dev/zero": "is a symbolic link",
              "bigger than 64 MiB": "at most 64 MiB"}[kind]
    t0 = time.monotonic()
    lines = errors_of_load_and_merge(src, str(tmp_path / "d"), timeout=15)
    assert all(l.startswith("ERROR") and needle in l and path in l for l in lines), lines
    assert time.monotonic() - t0 < 10


def test_the_kept_results_pass_the_checks():
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")
    paths = [path for _, path in asvresults.iter_result_files(root)]
    assert len(paths) > 10
    for path in paths:
        asvresults.expand(asvresults.read_result_file(path), path)
    asvresults.read_benchmarks_file(os.path.join(root, "benchmarks.json"))


# --------------------------------------------------------------------------
# 15: what merge-results takes as a source; leftovers of a killed merge

THIS = ["bench_containers.BytesPerElement.track_ratio_allocated"]


def test_another_projects_results_are_refused(tmp_path, capsys):
    dest = make_source(tmp_path / "dest", THIS, {"abcdef12-py3.11.json": result_file(results={THIS[0]: [1.0, 2.0]})})
    other = make_source(tmp_path / "other", ["benchmarks.TimeSuite.time_keys"],
                        {"12345678-py3.11.json": result_file(commit="1234567890abcdef",
                                                             results={"benchmarks.TimeSuite.time_keys": [1.0, 2.0]})})
    rc = cli_main(["merge-results", other, "--into", dest, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "another project" in err and "benchmarks" in err
    assert not os.path.exists(os.path.join(dest, "box", "12345678-py3.11.json"))


def test_a_machine_folder_as_source_says_what_was_expected(tmp_path, capsys):
    src = make_source(tmp_path / "src", THIS, {"abcdef12-py3.11.json": result_file(results={THIS[0]: [1.0, 2.0]})})
    rc = cli_main(["merge-results", os.path.join(src, "box"), "--into", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "looks like the folder of one machine" in err and "expected an asv results folder" in err
    (tmp_path / "empty").mkdir()
    rc = cli_main(["merge-results", str(tmp_path / "empty"), "--into", str(tmp_path / "d"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "holds no asv results" in err, err
    assert not (tmp_path / "d").exists()


KILLED_MERGE = """
    import os, signal, sys
    real_replace = os.replace
    def replace(src, dst):  # killed between writing the temporary file and its rename
        os.kill(os.getpid(), signal.%s)
        real_replace(src, dst)
    os.replace = replace
    from harness.cli import main
    sys.exit(main(sys.argv[1:]))
"""


def leftovers(root):
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(".tmp")]


def test_the_next_merge_removes_what_a_killed_merge_left(tmp_path):
    src = make_source(tmp_path / "src", THIS, {"abcdef12-py3.11.json": result_file(results={THIS[0]: [1.0, 2.0]})})
    dest = str(tmp_path / "dest")
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_MERGE % "SIGKILL"), "merge-results", src,
                        "--into", dest, "--quiet"], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL
    assert leftovers(dest)  # a hidden temporary file, where the kill left it
    assert cli_main(["merge-results", src, "--into", dest, "--quiet"]) == 0
    assert leftovers(dest) == []
    assert benchmarks_in(dest) == benchmarks_in(src)


def test_sigterm_mid_merge_leaves_no_temporary_file(tmp_path):
    src = make_source(tmp_path / "src", THIS, {"abcdef12-py3.11.json": result_file(results={THIS[0]: [1.0, 2.0]})})
    dest = str(tmp_path / "dest")
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_MERGE % "SIGTERM"), "merge-results", src,
                        "--into", dest, "--quiet"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert leftovers(dest) == []


# --------------------------------------------------------------------------
# 6: two merges into one destination at once


def shards(root, count, bench, machine="box"):
    """``count`` result files of one machine (one per commit), each with the benchmark ``bench``."""
    files = {"%08x-py3.11.json" % i: result_file(commit="%08x" % i + "0" * 8, results={bench: [1.0, 2.0]})
             for i in range(count)}
    return make_source(root, [bench], files, machine=machine)


def test_a_merge_waits_for_the_one_under_way_and_loses_nothing(tmp_path, monkeypatch):
    a = shards(tmp_path / "a", 20, "b.track_from_a")
    b = shards(tmp_path / "b", 20, "b.track_from_b")
    dest = str(tmp_path / "dest")
    os.mkdir(dest)
    planned, go, waited = threading.Event(), threading.Event(), []
    real_write = merge.write

    def write(files, into):  # the first merge has read the destination, and pauses before it writes
        if threading.current_thread().name == "first":
            planned.set()
            go.wait(10)
        real_write(files, into)

    monkeypatch.setattr(merge, "write", write)
    errors = []

    def run(src, **kw):
        try:
            merge.merge([src], dest, **kw)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=run, args=(a,), name="first")
    first.start()
    assert planned.wait(10)
    second = threading.Thread(target=run, args=(b,), kwargs={"wait": 20, "on_wait": waited.append}, name="second")
    second.start()
    time.sleep(0.5)  # the second merge reads and writes now, unless it waits for the first
    go.set()
    first.join(20)
    second.join(20)
    assert not errors, errors
    assert waited and "waiting for another merge into" in waited[0]
    assert benchmarks_in(dest) == sorted(benchmarks_in(a) + benchmarks_in(b))


def test_two_concurrent_merge_commands_keep_every_benchmark(tmp_path):
    a = shards(tmp_path / "a", 150, "b.track_from_a")
    b = shards(tmp_path / "b", 150, "b.track_from_b")
    dest = str(tmp_path / "dest")
    procs = [subprocess.Popen([sys.executable, "-m", "harness", "merge-results", src, "--into", dest, "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for src in (a, b)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert benchmarks_in(dest) == sorted(benchmarks_in(a) + benchmarks_in(b))


def test_a_held_lock_with_no_wait_is_refused_naming_the_holder(tmp_path, capsys):
    a = shards(tmp_path / "a", 1, "b.track_x")
    dest = tmp_path / "dest"
    dest.mkdir()
    with merge.locked(str(dest), wait=0):
        rc = cli_main(["merge-results", a, "--into", str(dest), "--wait", "0", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "another merge into %s is running (pid %d)" % (dest, os.getpid()) in err
    assert os.listdir(dest) == []
    assert cli_main(["merge-results", a, "--into", str(dest), "--quiet"]) == 0  # released
    assert sorted(os.listdir(dest)) == ["benchmarks.json", "box"]  # no lock file left in the results


# --------------------------------------------------------------------------
# 9: the report reads --results before it measures anything


@pytest.fixture
def no_topics(monkeypatch, tmp_path):
    """report.main without the measurements, in a working folder with no results/: records whether they started."""
    monkeypatch.chdir(tmp_path)
    calls = []
    entry = {"measured": None, "result": None, "png": None, "error": "not measured (a test)", "seconds": 0.0}
    monkeypatch.setattr(report, "measure_topic", lambda name, *a, **k: (calls.append(name) or dict(entry, topic=name),
                                                                        None))
    return calls


def bad_results(root):
    return make_source(root, ["b.track_x"], {"abcdef12-py3.11.json": hostile("integer params")})


def test_a_bad_results_option_stops_the_report_before_measuring(tmp_path, capsys, no_topics):
    bad = bad_results(tmp_path / "bad")
    out = str(tmp_path / "r.html")
    for results, needle in ((bad, "must be strings"), (str(tmp_path / "missing"), "is not a folder"),
                            (os.path.join(bad, "box"), "holds no asv result files")):
        rc = cli_main(["report", "--topics", "containers", "-o", out, "--quiet", "--results", results])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert no_topics == []
    assert not os.path.exists(out)


@pytest.mark.parametrize("kind", ["integer params", "not asv"])
def test_an_unusable_default_results_folder_is_noted_in_the_report(tmp_path, capsys, monkeypatch, no_topics, kind):
    monkeypatch.chdir(tmp_path)
    if kind == "integer params":
        bad_results(tmp_path / "results")
    else:  # an unrelated results/ folder in the working folder
        (tmp_path / "results" / "run1").mkdir(parents=True)
        (tmp_path / "results" / "run1" / "scores.json").write_text('{"accuracy": 0.9}')
    rc = cli_main(["report", "--topics", "containers", "-o", "r.html"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert no_topics, "the topics were measured"
    md = (tmp_path / "r.md").read_text()
    html = (tmp_path / "r.html").read_text()
    why = "must be strings" if kind == "integer params" else "unknown asv result format version None"
    assert "## Across versions (asv results)" in md and "Not loaded from results/:" in md and why in md
    assert "Not loaded from results/:" in html
    assert "[not loaded]" in err


def test_a_good_results_folder_is_tabled(tmp_path, no_topics, capsys):
    src = make_source(tmp_path / "src", ["b.track_x"], {"abcdef12-py3.11.json": result_file(results=GOOD)})
    assert cli_main(["report", "--topics", "containers", "-o", str(tmp_path / "r.md"), "--results", src,
                     "--quiet"]) == 0
    md = (tmp_path / "r.md").read_text()
    assert "From the asv results in %s/" % src in md and "| b.track_x | 'a' | 1 |" in md


# --------------------------------------------------------------------------
# 11: where -o writes


def test_o_md_gets_the_markdown_and_the_html_goes_beside_it(tmp_path, no_topics, capsys):
    assert cli_main(["report", "--topics", "containers", "-o", str(tmp_path / "r.md"), "--quiet"]) == 0
    assert (tmp_path / "r.md").read_text().startswith("# memharness report")
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert cli_main(["report", "--topics", "containers", "-o", str(tmp_path / "s.html"), "--quiet"]) == 0
    assert (tmp_path / "s.md").read_text().startswith("# memharness report")
    assert (tmp_path / "s.html").read_text().startswith("<!DOCTYPE html>")


def test_o_through_a_symbolic_link_writes_its_target(tmp_path, no_topics, capsys):
    (tmp_path / "site").mkdir()
    target = tmp_path / "site" / "report.html"
    target.write_text("stale")
    target.chmod(0o640)
    link = tmp_path / "latest.html"
    link.symlink_to(target)
    assert cli_main(["report", "--topics", "containers", "-o", str(link), "--quiet"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file replaced keeps its permissions
    assert (tmp_path / "latest.md").read_text().startswith("# memharness report")


def read_fifo(path):
    """A reader of the FIFO ``path`` in another process; returns a function giving what it read."""
    proc = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)

    def result():
        try:
            return proc.communicate(timeout=10)[0]
        finally:
            proc.kill()
    return result


def test_write_atomic_writes_to_a_fifo_and_through_a_link_to_it_never_replacing_it(tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"  # as /dev/stdout is a link to where the output goes
    link.symlink_to(fifo)
    for path in (fifo, link):
        got = read_fifo(fifo)
        try:
            write_atomic(str(path), "hello\n")
        finally:
            data = got()
        assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
        assert data == b"hello\n"
    assert sorted(os.listdir(tmp_path)) == ["out.fifo", "stdout"]


def test_report_o_to_a_fifo_writes_one_file_into_it(tmp_path, no_topics, capsys):
    fifo = tmp_path / "stdout"
    os.mkfifo(fifo)
    got = read_fifo(fifo)
    try:
        rc = cli_main(["report", "--topics", "containers", "-o", str(fifo), "--quiet"])
    finally:
        data = got()
    assert rc == 0, capsys.readouterr().err
    assert data.startswith(b"<!DOCTYPE html>")
    assert sorted(os.listdir(tmp_path)) == ["stdout"]  # no stdout.md beside it


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_write_atomic_writes_to_a_character_device_in_place(tmp_path):
    null = tmp_path / "null"  # a /dev/null of our own, in the test's folder
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_atomic(str(null), "discarded\n")
    st = os.stat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(os.listdir(tmp_path)) == ["null"]
