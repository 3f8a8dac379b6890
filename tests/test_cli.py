"""The memharness command: help, one-line errors with exit status 2, outputs."""
import json
import os

import pandas as pd
import pytest

from harness import cli
from harness.topics.containers import claims

COMMANDS = sorted(set(cli.TOPICS) | set(cli.COMMANDS))


def present(name):
    return name in cli.build_parser()._subparsers._group_actions[0].choices


def test_top_level_help_lists_the_commands(cli):
    r = cli("--help")
    assert r.returncode == 0
    for name in ("containers",):
        assert name in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_accurate_help(cli, name):
    if not present(name):
        pytest.skip("%s is not in this build" % name)
    r = cli(name, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: memharness %s" % name in r.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_unknown_option_is_one_line_and_status_2(cli, name):
    if not present(name):
        pytest.skip("%s is not in this build" % name)
    extra = {"merge-results": ["somewhere", "--into", "elsewhere"], "compare": ["a", "b"],
             "export-pyperf": ["results", "-o", "out.json"]}.get(name, [])
    r = cli(name, *extra, "--no-such-option")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_command(cli):
    r = cli("frobnicate")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["--sizes", "abc"], "not a number"),
    (["--sizes", "-5"], "whole count"),
    (["--sizes", "1.5"], "whole count"),
    (["--workloads", "list_int,nope"], "unknown workload 'nope'"),
    (["--format", "xml"], "invalid choice"),
])
def test_containers_bad_values(cli, args, needle):
    r = cli("containers", *args)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_unwritable_output_is_refused_before_running(cli, tmp_path):
    r = cli("containers", "--sizes", "1000", "--workloads", "list_int", "--output", str(tmp_path / "missing" / "x.csv"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_sizes_that_do_not_fit_are_refused_before_building(cli):
    r = cli("containers", "--sizes", "1e12", "--workloads", "list_int")
    assert r.returncode == 2
    assert "free" in r.stderr and "Traceback" not in r.stderr


def test_containers_json_output_to_file(cli, tmp_path):
    from harness import _containers

    out = tmp_path / "c.json"
    r = cli("containers", "--sizes", "1000", "--workloads", "list_float,dict_int_int",
            "--format", "json", "--output", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    rows = {r["workload"]: r for r in data["tables"]["bytes per element"]}
    assert set(rows) == {"list_float", "dict_int_int"}
    for row in rows.values():
        assert abs(row["ratio_alloc"] - row["py_alloc"] / row["cpp_alloc"]) < 1e-9
        assert row["verdict"] == claims.band(row["ratio_alloc"])
    # the figures, against what they must be independently of the harness's arithmetic
    fl, d = rows["list_float"], rows["dict_int_int"]
    # 24-byte floats in 32-byte pymalloc blocks, plus the list's 8-byte pointers (a glibc chunk)
    assert 40 <= fl["py_alloc"] < 41.5 and 32 < fl["py_req"] < 33.5
    # C++: one block of 8000 bytes in its glibc chunk (the exact fit, or 16 bytes more), plus the vector
    fits = _containers.nominal_chunk_size(8000) + _containers.sizeof_info()["std::vector<int64_t>"]
    assert fits <= round(fl["cpp_alloc"] * 1000) <= fits + 16
    # chunks, not usable sizes: 8 bytes of header per block (1 block; 1000 nodes and the bucket array)
    assert round((fl["cpp_alloc"] - fl["cpp_usable"]) * 1000) == 8
    assert round((d["cpp_alloc"] - d["cpp_usable"]) * 1000) == 8 * 1001
    # the verdict is the claim's rule on these very rows
    table = pd.DataFrame([dict(r, reference=False) for r in rows.values()])
    expected = claims.RATIO.judge({"elements": table})
    got = data["verdicts"][0]
    assert (got["claim_id"], got["verdict"], got["evidence"]) == ("containers.ratio", expected.verdict,
                                                                   expected.evidence)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("fmt, needle", [("csv", "workload,"), ("markdown", "| workload |"), ("table", "== bytes per element ==")])
def test_containers_formats(cli, fmt, needle):
    r = cli("containers", "--sizes", "1000", "--workloads", "list_int", "--format", fmt, "--quiet")
    assert r.returncode == 0, r.stderr
    assert needle in r.stdout


def test_progress_goes_to_stderr_not_stdout(cli):
    r = cli("containers", "--sizes", "1000", "--workloads", "list_int", "--format", "csv")
    assert r.returncode == 0
    assert "[1/1]" in r.stderr and "[1/1]" not in r.stdout
