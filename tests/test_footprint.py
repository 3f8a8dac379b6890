"""memharness footprint and harness.api: the CLI, bad input, the API, other interpreters, the
examples, and the same bytes as the containers topic for the same structure."""
import json
import os
import subprocess
import sys

import pytest
from conftest import find_python, run_cli

from harness.core import memory
from harness.core.interpreters import VERSIONS
from harness.errors import HarnessError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(proc):
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)["tables"]["footprint"]


def test_cli_json_has_the_figures_and_the_ratio_to_the_first():
    proc = run_cli("footprint", "-s", "n = 10000", "[0] * n", "[0] * (2 * n)", "bytes(n)", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc)
    assert [r["stmt"] for r in rows] == ["[0] * n", "[0] * (2 * n)", "bytes(n)"]
    for r in rows:
        for k in ("requested", "allocated", "rss_growth", "peak_requested", "build_seconds"):
            assert r[k] is not None, (k, r)
        assert r["error"] is None
    one, two, raw = rows
    assert 8 * 10000 <= one["requested"] < 8 * 10000 + 100  # the pointer array and the list header
    assert one["allocated"] >= one["requested"]
    assert one["ratio_requested"] == 1.0
    assert two["ratio_requested"] == pytest.approx(two["requested"] / one["requested"])
    assert two["ratio_allocated"] == pytest.approx(two["allocated"] / one["allocated"])
    assert 10000 <= raw["requested"] < 10000 + 100


def test_cli_table_names_every_statement():
    proc = run_cli("footprint", "-s", "import numpy as np; n = 10**5", "[*range(n)]", "np.arange(n)",
                   "dict.fromkeys(range(n))")
    assert proc.returncode == 0, proc.stderr
    for stmt in ("[*range(n)]", "np.arange(n)", "dict.fromkeys(range(n))", "x_allocated", "MiB"):
        assert stmt in proc.stdout


def test_bad_statements_fail_alone_in_one_line_each_with_status_2():
    free = memory.available_memory()
    guard = "bytes(%d)" % int(0.85 * free)  # lazily zeroed pages: only the child's cap refuses it
    bad = {"1/0": "ZeroDivisionError", "x y": "SyntaxError", "bytearray(2**50)": "MemoryError",
           guard: "MemoryError", "__import__('time').sleep(60)": "did not finish within 3 s"}
    proc = run_cli("footprint", "--timeout", "3", "--format", "json", "[1, 2, 3]", *bad)
    assert proc.returncode == 2, proc.stderr
    rows = _rows(proc)
    assert rows[0]["error"] is None and rows[0]["requested"] > 0
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == len(bad), proc.stderr
    for row, (stmt, what) in zip(rows[1:], bad.items()):
        assert row["stmt"] == stmt
        assert what in row["error"], row
        assert row["requested"] is None and row["allocated"] is None  # not measured as 0
        assert any(repr(stmt) in line and what in line for line in errors), (stmt, proc.stderr)


def test_a_setup_that_fails_is_named_as_the_setup():
    proc = run_cli("footprint", "-s", "import no_such_module_here", "[1]", "--format", "json")
    assert proc.returncode == 2
    assert "setup failed: ModuleNotFoundError" in _rows(proc)[0]["error"]


def test_printing_does_not_corrupt_the_answer():
    proc = run_cli("footprint", "print('hello ' * 3) or [1, 2]", "[3]", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc)
    assert rows[0]["requested"] > 0 and rows[0]["error"] is None
    assert "wrote" in proc.stderr and "stdout" in proc.stderr


def test_api_footprint_compare_and_plot(tmp_path):
    pytest.importorskip("pandas")
    from harness import api

    df = api.footprint(["[0] * 1000", "collections:OrderedDict"], setup="import collections")
    assert list(df["stmt"]) == ["[0] * 1000", "collections:OrderedDict"]
    assert df["error"].isna().all()
    assert df["requested"][0] >= 8000 and df["requested"][1] > 0
    with pytest.warns(RuntimeWarning, match="ZeroDivisionError"):
        bad = api.footprint("1/0")
    assert bad["requested"].isna().all() and "ZeroDivisionError" in bad["error"][0]

    cmp = api.compare({"small": "[0] * n", "big": "[0] * (4 * n)"}, setup="n = 1000", baseline="big", per="n")
    assert list(cmp.index) == ["small", "big"]
    assert cmp.loc["big", "x_requested"] == 1.0
    assert cmp.loc["small", "x_requested"] == pytest.approx(cmp.loc["small", "requested"] / cmp.loc["big", "requested"])
    assert 8 <= cmp.loc["small", "requested"] < 9  # bytes per item
    pytest.importorskip("matplotlib")
    api.plot(df, str(tmp_path / "fp.png"))
    api.plot(cmp, str(tmp_path / "cmp.png"))
    assert (tmp_path / "fp.png").stat().st_size > 1000 and (tmp_path / "cmp.png").stat().st_size > 1000


def test_same_structure_same_bytes_as_the_containers_topic():
    """The API and the containers topic's list_int measure through one function: requested and
    allocated bytes equal to the byte. (The footprint child used to wrap sys.stdout in an object of a
    class of its own, which made its allocated bytes depend on the address-space layout: 80 B more in
    about one process in five under randomisation; it now prints to a file of the io module.)"""
    from harness import api
    from harness.topics.containers import measure

    n = 100_000
    df = api.footprint("[int_value(i) for i in range(n)]",
                       setup="from harness.topics.containers.workloads import int_value; n = %d" % n)
    row = measure.compare("list_int", n)
    assert int(df["requested"][0]) == round(row["py_req"] * row["n"])
    assert int(df["allocated"][0]) == round(row["py_alloc"] * row["n"])
    assert df["note"].isna().all()  # both measured


def _other_python():
    here = "%d.%d" % sys.version_info[:2]
    for v in VERSIONS:
        if v != here:
            path = find_python(v)
            if path:
                return v, path
    return None, None


def test_python_option_runs_another_interpreter():
    version, path = _other_python()
    if path is None:
        pytest.skip("no CPython 3.8-3.13 other than this one is installed")
    proc = run_cli("footprint", "--python", "current,%s" % version, "[0] * 1000", "list(range(500))",
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(proc)
    pythons = list(dict.fromkeys(r["python"] for r in rows))
    assert len(pythons) == 2 and pythons[1].startswith(version + ".")
    assert all(r["error"] is None and r["requested"] > 0 for r in rows)
    assert [r["ratio_requested"] for r in rows][::2] == [1.0, 1.0]  # each interpreter's own first


@pytest.mark.parametrize("script,args", [("records.py", ["20000"]), ("arrays.py", ["5000", "16"])])
def test_example_scripts_run_and_print_a_table(tmp_path, script, args):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "x_allocated" in proc.stdout and "requested" in proc.stdout
    assert len(proc.stdout.splitlines()) >= 5


def test_a_module_in_a_folder_others_may_write_is_refused(tmp_path, monkeypatch):
    from harness.core import modpath

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "planted_mod.py").write_text("def f():\n    return [0] * 10\n")
    shared.chmod(0o777)
    monkeypatch.syspath_prepend(str(shared))
    with pytest.raises(HarnessError, match="other users may write to"):
        modpath.module_folder("planted_mod")
    shared.chmod(0o755)
    assert modpath.module_folder("planted_mod") == str(shared)


def test_the_module_folder_goes_last_on_the_childs_path(monkeypatch):
    from harness.core import modpath

    monkeypatch.setattr(sys, "path", ["/std", "/site"])
    modpath.add_folders(["/mine", "/std"])
    assert sys.path == ["/std", "/site", "/mine"]
