"""`memharness pickle-cost` and `harness.api.pickle_cost`: the user's own object, pickled by every
method of the pickle topic with its figures (the same bytes as the topic for the same structure),
bad input as one line and exit 2, the example script; and the cross-version protocol rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import harness
from harness import api
from harness.core import timing
from harness.core.interpreters import find_interpreter, find_interpreters
from harness.errors import HarnessError
from harness.picklecost.measure import payload_bytes, same
from harness.topic import frames
from harness.topics.pickle import HIGHEST, Options, run
from harness.topics.pickle.claims import VERSIONS
from harness.topics.pickle.versions import versions_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(harness.__file__)))
METHODS = ["dumps-p0", "dumps-p%d" % HIGHEST, "dump-p%d" % HIGHEST]


def _cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "harness", "pickle-cost", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_the_api_gives_the_topics_bytes_for_the_same_structure():
    n = 2048
    mine = api.pickle_cost("[int_value(i) for i in range(n)]", setup="from harness.topics.pickle.workloads "
                           "import int_value\nn = %d" % n, methods=METHODS).set_index("method")
    topic, _ = run(Options(objects=["list-int"], sizes=[8 * n], methods=METHODS, repeat=1))
    topic = topic.set_index("method")
    for m in METHODS:
        assert mine.loc[m, "pickled"] == topic.loc[m, "pickled"], m
        assert mine.loc[m, "payload"] == topic.loc[m, "payload"] == 8 * n
    assert (mine["equal"] == True).all()  # noqa: E712
    assert (mine["dump_processes"] == timing.PROCESSES).all() and (mine["dump_samples"] >= 6).all()
    arr = api.pickle_cost("np.random.default_rng(20240607).random(n)", setup="import numpy as np\nn = 4096",
                          methods=["dumps-p%d" % HIGHEST, "numpy.save"]).set_index("method")
    topic, _ = run(Options(objects=["numpy"], sizes=[8 * 4096], methods=["dumps-p%d" % HIGHEST, "numpy.save"],
                           repeat=1))
    assert list(arr["pickled"]) == list(topic["pickled"]) and (arr["payload"] == 8 * 4096).all()


def test_payload_and_equality_of_a_users_object():
    class Slotted:
        __slots__ = ("a", "b")

        def __init__(self):
            self.a, self.b = 1, "xyz"

    assert payload_bytes([1, 2.0, "h\u00e9", b"1234", None, True]) == 8 + 8 + 3 + 4
    assert payload_bytes({"ab": np.zeros(10)}) == 2 + 80
    shared = [1, 2]
    assert payload_bytes([shared, shared]) == 16  # each object once
    assert payload_bytes(Slotted()) == 8 + 3
    d = {"a": np.arange(3.0), "b": [np.nan]}
    assert same(d, {"a": np.arange(3.0), "b": [np.nan]}) is False  # nan != nan in a list, as Python says
    assert same({"a": np.array([np.nan])}, {"a": np.array([np.nan])})  # arrays compare by value, nan too
    assert not same({"a": np.arange(3.0)}, {"a": np.arange(3)})  # dtype differs


def test_cli_table_json_and_plot(tmp_path):
    png = tmp_path / "p.png"
    proc = _cli("-s", "import numpy as np", "{k: np.ones(4096) for k in 'ab'}", "--methods",
                "dumps-p4,dumps-p5,oob-p5,numpy.save", "--format", "json", "-q", "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    rows = out["tables"]["pickle-cost"]
    assert [r["method"] for r in rows] == ["dumps-p4", "dumps-p5", "oob-p5"]  # numpy.save: arrays only
    oob = rows[2]
    assert oob["out_of_band"] == 2 * 4096 * 8 and oob["equal"] is True and oob["payload"] == 2 + 2 * 4096 * 8
    assert any("numpy.save takes arrays only" in n for n in out["notes"])
    assert png.stat().st_size > 10_000
    table = _cli("[0.5] * 1000", "--methods", "dumps-p5")
    assert table.returncode == 0 and "peak extra memory" in table.stdout and "dumps-p5" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["1/0"], "ZeroDivisionError"),
    (["[1,"], "SyntaxError"),
    (["print('hi') or 1"], "wrote 3 characters to stdout"),
    (["--timeout", "1", "[x for x in iter(int, 1)]"], "did not finish within 1 s"),
    (["bytearray(1 << 50)"], "MemoryError"),
    (["-s", "import nope_no_such_module", "1"], "setup failed: ModuleNotFoundError"),
    ([], "give an expression"),
    (["--methods", "dumps-p9", "1"], "unknown method"),
])
def test_bad_input_is_one_line_naming_the_expression(args, message):
    proc = _cli(*(["--methods", "dumps-p5"] + args if "--methods" not in args else args))
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert message in proc.stderr and len([ln for ln in err if "error" in ln]) == 1, proc.stderr
    if args and not args[0].startswith("--methods"):
        assert repr(args[-1]) in proc.stderr


def test_the_api_raises_naming_the_expression():
    with pytest.raises(HarnessError, match=r"'1/0' \(Python [\d.]+\): ZeroDivisionError"):
        api.pickle_cost("1/0", methods=["dumps-p5"])
    with pytest.raises(HarnessError, match="repeat"):
        api.pickle_cost("1", repeat=0)


def test_the_command_takes_no_input_file(tmp_path):
    import argparse

    from harness import picklecost

    parser = argparse.ArgumentParser()
    picklecost.add_arguments(parser)
    takes_path = set()
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0:
            continue
        try:
            parser.parse_args([action.option_strings[0], str(tmp_path / "x.pkl"), "1"])
        except SystemExit:
            continue
        takes_path.add(action.dest)
    # an output, a plot, interpreters, and code (the setup) the user types: never data to load
    assert takes_path <= {"output", "plot", "python", "setup"}, takes_path


def test_example_script_runs_and_prints_a_table(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "pickle_arrays.py"), "3", "0.25"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "dumps-p4" in proc.stdout and "oob-p5" in proc.stdout and "dump_copies" in lines[1]
    oob = next(ln for ln in lines if ln.startswith("oob-p5")).split()
    assert int(oob[3]) == 3 * 2**18  # out_of_band: the three arrays' bytes


# --------------------------------------------------------------------------
# Which protocols each CPython reads, measured


def test_versions_with_one_interpreter_is_inconclusive_and_says_why():
    rows = versions_rows([find_interpreter("current")])
    v = VERSIONS.judge(frames(rows))
    assert v.verdict == "inconclusive" and "only one CPython" in v.evidence
    assert len(rows["versions"]) == HIGHEST + 1 and all(r["loaded"] and r["equal"] for r in rows["versions"])


def test_versions_across_interpreters_loads_every_protocol():
    found, _ = find_interpreters(["all"])
    others = [it for it in found if it.path != sys.executable and it.version.split(".")[:2] !=
              list(map(str, sys.version_info[:2]))]
    if not others:
        pytest.skip("no CPython 3.8-3.13 other than this one is installed")
    oldest = min(others, key=lambda it: [int(x) for x in it.version.split(".")])  # 3.8 where installed
    rows = versions_rows([find_interpreter("current"), oldest])
    v = VERSIONS.judge(frames(rows))
    cross = [r for r in rows["versions"] if r["writer"] != r["reader"]]
    assert len(cross) == 2 * (HIGHEST + 1)
    expected = "confirmed" if all(r["loaded"] and r["equal"] for r in cross) else v.verdict
    assert v.verdict == expected and oldest.version in v.evidence


def test_several_interpreters_are_told_apart_in_every_table():
    others = [it for it in find_interpreters(["all"])[0] if it.version.rsplit(".", 1)[0] != "%d.%d" % sys.version_info[:2]]
    if not others:
        pytest.skip("no other CPython 3.8-3.13 installed here")
    proc = _cli("--python", "current," + others[0].path, "[*range(100)]", "--methods", "dumps-p%d" % HIGHEST,
                "--format", "markdown", "-q")
    assert proc.returncode == 0, proc.stderr
    tables = [t for t in proc.stdout.split("\n\n") if t.strip().startswith("|")]
    assert tables, proc.stdout
    for table in tables:
        lines = table.strip().splitlines()
        assert lines[0].split("|")[1].strip() == "python"
        assert {line.split("|")[1].strip() for line in lines[2:]} == {
            "%d.%d.%d" % sys.version_info[:3], others[0].version}
