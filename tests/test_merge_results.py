"""merge-results: two machine folders, two shards of one machine, conflicts refused, nothing lost."""
import json
import os

import pytest

from harness import asvresults, merge
from harness.errors import HarnessError

COLS = ["result", "params", "version", "started_at", "duration"]


def bench_def(name, version="v1"):
    return {"name": name, "version": version, "type": "track", "unit": "bytes",
            "params": [["'a'", "'b'"]], "param_names": ["kind"]}


def write_results(root, machine, benchmarks, results, commit="abcdef1234567890", env="virtualenv-py3.11",
                  python="3.11", cpu="x"):
    os.makedirs(os.path.join(root, machine), exist_ok=True)
    with open(os.path.join(root, "benchmarks.json"), "w") as fh:
        json.dump(dict({n: bench_def(n, v) for n, v in benchmarks.items()}, version=2), fh)
    with open(os.path.join(root, machine, "machine.json"), "w") as fh:
        json.dump({"machine": machine, "cpu": cpu, "version": 1}, fh)
    data = {
        "commit_hash": commit, "env_name": env, "date": 1700000000000, "params": {"machine": machine, "python": python},
        "python": python, "requirements": {}, "env_vars": {}, "result_columns": COLS,
        "results": {n: [vals, [["'a'", "'b'"]], "v1", 1700000000000, 1.0] for n, vals in results.items()},
        "durations": {}, "version": 2,
    }
    path = os.path.join(root, machine, "%s-%s.json" % (commit[:8], env))
    with open(path, "w") as fh:
        json.dump(data, fh)
    return path


def all_results(root):
    df = asvresults.load(root)
    return sorted(zip(df["machine"], df["benchmark"], df["params"], df["value"].map(repr)))


def test_two_machines_merge_into_one_folder(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    write_results(a, "cpu-box", {"bench.track_x": "v1"}, {"bench.track_x": [1.0, 2.0]})
    write_results(b, "gpu-box", {"bench.track_x": "v1", "bench.track_gpu": "v1"},
                  {"bench.track_x": [3.0, 4.0], "bench.track_gpu": [5.0, None]})
    merge.merge([str(a), str(b)], str(dest))
    got = all_results(dest)
    assert got == sorted(all_results(a) + all_results(b))
    defs = json.loads((dest / "benchmarks.json").read_text())
    assert set(defs) == {"bench.track_x", "bench.track_gpu", "version"}
    assert (dest / "gpu-box" / "machine.json").exists() and (dest / "cpu-box" / "machine.json").exists()


def test_two_shards_of_one_machine_merge_benchmark_by_benchmark(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    write_results(b, "box", {"s.track_two": "v1"}, {"s.track_two": [3.0, 4.0]})
    merge.merge([str(a), str(b)], str(dest))
    files = [f for f in os.listdir(dest / "box") if f != "machine.json"]
    assert len(files) == 1
    assert all_results(dest) == sorted(all_results(a) + all_results(b))


def test_merging_twice_is_idempotent(tmp_path):
    a, dest = tmp_path / "a", tmp_path / "dest"
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    merge.merge([str(a)], str(dest))
    merge.merge([str(a)], str(dest))
    assert all_results(dest) == all_results(a)


def test_conflicting_benchmark_definitions_are_refused_and_nothing_written(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    write_results(a, "m1", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    write_results(b, "m2", {"s.track_one": "v2"}, {"s.track_one": [1.0, 2.0]})
    with pytest.raises(merge.MergeConflict, match="s.track_one is defined differently .*version"):
        merge.merge([str(a), str(b)], str(dest))
    assert not dest.exists()


def test_same_benchmark_with_different_figures_in_two_shards_is_refused(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    write_results(b, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 9.0]})
    with pytest.raises(merge.MergeConflict, match="measured in both"):
        merge.merge([str(a), str(b)], str(dest))


def test_same_machine_name_on_other_hardware_is_refused(tmp_path):
    a, b, dest = tmp_path / "a", tmp_path / "b", tmp_path / "dest"
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]}, cpu="intel")
    write_results(b, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]}, commit="1234567890abcdef", cpu="amd")
    with pytest.raises(merge.MergeConflict, match="machine 'box' is described differently"):
        merge.merge([str(a), str(b)], str(dest))


def test_corrupt_result_file_is_named_in_the_error(tmp_path):
    a, dest = tmp_path / "a", tmp_path / "dest"
    path = write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    with open(path, "r+") as fh:
        text = fh.read()
        fh.seek(0)
        fh.write(text[: len(text) // 2])
        fh.truncate()
    with pytest.raises(HarnessError, match="not valid JSON") as info:
        merge.merge([str(a)], str(dest))
    assert os.path.basename(path) in str(info.value)


def test_unknown_result_format_version_is_refused(tmp_path):
    a = tmp_path / "a"
    path = write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    data = json.loads(open(path).read())
    data["version"] = 99
    open(path, "w").write(json.dumps(data))
    with pytest.raises(HarnessError, match="unknown asv result format version 99"):
        asvresults.load(str(a))


def test_cli_merge_conflict_is_one_line_exit_2(cli, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_results(a, "m1", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]})
    write_results(b, "m2", {"s.track_one": "v2"}, {"s.track_one": [1.0, 2.0]})
    r = cli("merge-results", str(a), str(b), "--into", str(tmp_path / "d"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "defined differently" in r.stderr


def test_per_version_table_has_a_column_per_python(tmp_path):
    a = tmp_path / "a"
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [1.0, 2.0]}, env="py3.8", python="3.8")
    write_results(a, "box", {"s.track_one": "v1"}, {"s.track_one": [3.0, 4.0]}, env="py3.12", python="3.12")
    table = asvresults.per_version(asvresults.load(str(a)))
    assert list(table.columns) == ["benchmark", "params", "Python 3.8", "Python 3.12"]  # version order
    assert table["Python 3.8"].tolist() == [1.0, 2.0]
