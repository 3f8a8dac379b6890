"""Another local user, a second install, concurrent runs: nothing planted is imported or run.

Each test plants what a hostile user of this machine could plant (modules named like the standard
library, a folder named ``harness``, a ``.pth`` file) where a run of memharness used to look, owned
by another user where the test runs as root, and shows that the run neither imports nor runs it.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

import pytest
from conftest import find_python, run_cli

import harness
from harness import errors
from harness.core import children, memory

NOBODY = 65534
# modules a child imports before or while it measures; each planted copy leaves a trace and fails
PLANTED_MODULES = ("json", "runpy", "platform", "traceback", "statistics", "tracemalloc", "ctypes", "signal")


def plant(folder, marker):
    """A folder as another user would leave it: world-writable, theirs, full of modules that run code."""
    folder.mkdir(parents=True, exist_ok=True)
    code = "open(%r, 'a').write(__name__ + '\\n')\nraise SystemExit('planted module ran')\n" % str(marker)
    for name in PLANTED_MODULES:
        (folder / (name + ".py")).write_text(code)
    (folder / "harness").mkdir(exist_ok=True)  # a folder named like the package (was: IsADirectoryError)
    (folder / "harness" / "__init__.py").write_text(code)
    (folder / "harness" / "_child.py").write_text(code)
    (folder / "sitecustomize.py").write_text(code)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o777)
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
    return folder


def test_the_folders_of_earlier_versions_planted_by_another_user_are_never_used(tmp_path):
    # Earlier versions ran children in $TMPDIR/memharness-cwd-<uid> and put
    # $TMPDIR/memharness-shim-<uid> on PYTHONPATH, accepting them whoever had made them.
    marker = tmp_path / "ran.txt"
    tmp = tmp_path / "tmp"
    uid = os.getuid()
    plant(tmp / ("memharness-cwd-%d" % uid), marker)
    plant(tmp / ("memharness-shim-%d" % uid), marker)
    proc = run_cli("containers", "--workloads", "list_int", "--sizes", "1000", "--format", "json", "--quiet",
                   env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "planted code ran: %s" % marker.read_text()
    assert json.loads(proc.stdout)["tables"]["bytes per element"][0]["py_alloc"] > 0, proc.stdout[:300]


def test_another_interpreter_never_imports_a_planted_shim(tmp_path):
    other = find_python("3.8") or find_python("3.13")
    if other is None:
        pytest.skip("needs CPython 3.8 or 3.13 besides this one (pyenv install 3.8)")
    marker = tmp_path / "ran.txt"
    tmp = tmp_path / "tmp"
    plant(tmp / ("memharness-shim-%d" % os.getuid()), marker)
    proc = run_cli("allocator", "--python", other, "--n", "2000", "--allocators", "pymalloc",
                   "--patterns", "free_all", "--format", "json", "--quiet", env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "planted code ran: %s" % marker.read_text()


@pytest.mark.parametrize("which", ["this", "other"])
def test_a_child_imports_nothing_from_its_working_folder(tmp_path, monkeypatch, which):
    # even if its working folder were hostile, the child does not look there for modules
    python = sys.executable
    if which == "other":
        python = find_python("3.8") or find_python("3.13")
        if python is None:
            pytest.skip("needs CPython 3.8 or 3.13 besides this one (pyenv install 3.8)")
    marker = tmp_path / "ran.txt"
    hostile = plant(tmp_path / "cwd", marker)
    monkeypatch.setattr(children, "_child_cwd", lambda: str(hostile))
    reply = children.run_child("harness.core.memory:allocated_now", python=python)
    assert not marker.exists(), "planted code ran: %s" % marker.read_text()
    assert reply["child"]["harness"] == os.path.dirname(os.path.abspath(harness.__file__))


def test_the_childrens_folder_is_private_to_the_run():
    script = "from harness.core import children; import os; p = children._child_cwd(); print(p); print(oct(os.stat(p).st_mode))"
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    (a, mode_a), (b, mode_b) = runs
    assert a != b, "two runs share one folder"
    assert stat.S_IMODE(int(mode_a, 8)) == 0o700 and stat.S_IMODE(int(mode_b, 8)) == 0o700
    assert not os.path.exists(a) and not os.path.exists(b), "the folder outlives its run"


def test_children_of_two_interpreters_start_at_once_on_a_fresh_temp_folder(tmp_path, monkeypatch):
    # the shim link used to be made by every worker thread under one temp name: FileExistsError
    other = find_python("3.8") or find_python("3.13")
    if other is None:
        pytest.skip("needs CPython 3.8 or 3.13 besides this one (pyenv install 3.8)")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(children, "_CWD", None)
    errors, replies = [], []

    def one(python):
        try:
            replies.append(children.run_child("harness.core.memory:allocated_now", python=python)["child"]["python"])
        except Exception as exc:  # collected: the assertion below shows them
            errors.append(repr(exc))

    threads = [threading.Thread(target=one, args=(p,)) for p in [other, sys.executable] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(replies) == 8
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(children._CWD)]  # nothing else in the temp folder


def test_a_child_runs_the_harness_of_its_own_install_not_anothers(tmp_path):
    # Two installs on one machine: the child of a run from the second one answered from the first.
    # The second install here is a copy of the package, run without site (so the first install's
    # editable finder cannot reach it); it has a function the first install does not.
    other = tmp_path / "second-install"
    shutil.copytree(os.path.dirname(harness.__file__), other / "harness",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    with open(other / "harness" / "core" / "memory.py", "a") as fh:
        fh.write("\n\ndef where():\n    import harness\n    return {'file': harness.__file__}\n")
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from harness.core import children\n"
              "print(children.run_child('harness.core.memory:where')['file'])\n") % str(other)
    proc = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-800:]
    assert proc.stdout.strip() == str(other / "harness" / "__init__.py")


GPU_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "gpu_figures.sh")
FAKE_PYTHON = """#!/usr/bin/env bash
# records how gpu_figures.sh calls python, makes what it asks for, and stops the script at the first
# real measurement step (python reading a program from stdin)
echo "$0 $*" >> "$FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi
if [ "$1" = "-" ]; then exit 3; fi
exit 0
"""


@pytest.mark.parametrize("mode", ["venv", "wheels"])
def test_gpu_figures_script_uses_a_private_folder_for_its_venv_and_site(tmp_path, mode):
    marker = tmp_path / "ran.txt"
    tmp = tmp_path / "tmp"
    for name in ("memharness-gpu-venv", "memharness-gpu-site"):  # the fixed names it used to take
        folder = plant(tmp / name, marker)
        (folder / "evil.pth").write_text("import os; open(%r, 'a').write('pth ran\\n')\n" % str(marker))
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    log = tmp_path / "log"
    env = dict(os.environ, TMPDIR=str(tmp), PYTHON=str(fake), FAKE_LOG=str(log), MACHINE="test-machine")
    env.pop("VENV", None)
    if mode == "wheels":
        wheels = tmp_path / "wheels"
        wheels.mkdir()
        (wheels / "x-1-py3-none-any.whl").write_text("")
        env["WHEELS"] = str(wheels)
    repo = tmp_path / "repo"
    shutil.copytree(os.path.dirname(GPU_SCRIPT), repo / "scripts")
    proc = subprocess.run(["bash", str(repo / "scripts" / "gpu_figures.sh")], capture_output=True, text=True,
                          env=env, cwd=repo, timeout=60)
    assert proc.returncode == 3, proc.stderr  # stopped by the fake at the CUDA detection step
    calls = log.read_text()
    used = [w for w in calls.split() if w.startswith(str(tmp))]
    assert used, calls
    for path in used:
        assert "memharness-gpu-venv" not in path and "memharness-gpu-site" not in path, calls
        assert not os.path.exists(path), "the private folder outlived the run: %s" % path
    assert not marker.exists(), marker.read_text()
    assert sorted(os.listdir(tmp)) == ["memharness-gpu-site", "memharness-gpu-venv"]  # untouched, nothing left


def test_gpu_figures_script_refuses_a_venv_others_can_write(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    venv.chmod(0o777)
    env = dict(os.environ, VENV=str(venv), PYTHON="/bin/false", TMPDIR=str(tmp_path))
    proc = subprocess.run(["bash", GPU_SCRIPT, "test-machine"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "not yours alone" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------
# Limits: cgroups, numbers too big for the machine, runs that measured nothing


def _cgroup_tree(tmp_path, layout):
    """A fake /proc/self/cgroup and /sys/fs/cgroup: layout maps cgroup folder -> (limit, usage)."""
    root = tmp_path / "sys"
    for folder, (limit_name, limit, usage_name, usage) in layout.items():
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        (d / limit_name).write_text("%s\n" % limit)
        (d / usage_name).write_text("%s\n" % usage)
    return root


def test_cgroup_v2_limit_of_the_process_or_an_ancestor_caps_free_memory(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("0::/job/step\n")
    root = _cgroup_tree(tmp_path, {
        "job": ("memory.max", 1 << 30, "memory.current", 600 << 20),           # the parent: 424 MiB left
        "job/step": ("memory.max", "max", "memory.current", 100 << 20),        # no limit of its own
    })
    assert memory.cgroup_headroom(str(proc), str(root)) == (1 << 30) - (600 << 20)


def test_cgroup_v1_memory_limit_caps_free_memory_and_no_limit_is_none(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/box\n3:cpuset:/\n")
    v1 = {"memory/box": ("memory.limit_in_bytes", 512 << 20, "memory.usage_in_bytes", 12 << 20),
          "memory": ("memory.limit_in_bytes", 9223372036854771712, "memory.usage_in_bytes", 1 << 30)}
    assert memory.cgroup_headroom(str(proc), str(_cgroup_tree(tmp_path, v1))) == 500 << 20
    proc.write_text("4:memory:/\n")
    assert memory.cgroup_headroom(str(proc), str(tmp_path / "sys")) is None  # 2^63-4096 is "no limit"


def test_the_memory_guard_refuses_what_the_cgroup_cannot_hold(monkeypatch):
    monkeypatch.setattr(memory, "cgroup_headroom", lambda: 512 << 20)
    with pytest.raises(errors.MemoryGuardError, match="cgroup memory limit"):
        memory.check_fits(1 << 30, "a 1 GiB workload")
    memory.check_fits(256 << 20, "a 256 MiB workload")  # 70% of 512 MiB is enough


@pytest.mark.parametrize("args", [
    ["containers", "--sizes", "inf"], ["containers", "--sizes", "1e400"], ["containers", "--jobs", "1e400"],
    ["allocator", "--n", "1e400"], ["aliasing", "--repeat", "1e400"], ["pickle", "--sizes", "nan"],
    ["allocator", "--python", ""], ["allocator", "--python", "3.7"], ["allocator", "--python", "3.14"],
    ["containers", "--plot", "x.unknownext"], ["containers", "--plot", "noextension"],
])
def test_numbers_and_names_out_of_range_are_one_line_errors_before_anything_runs(args):
    proc = run_cli(*args, "--quiet", timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_a_size_given_twice_is_measured_once():
    proc = run_cli("containers", "--workloads", "list_int,list_int", "--sizes", "1000,1e3", "--format", "json",
                   "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["tables"]["bytes per element"]
    assert [(r["workload"], r["n"]) for r in rows] == [("list_int", 1000)]


def test_an_aliasing_run_whose_every_backend_failed_is_not_a_success(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'this interpreter is broken' >&2\nexit 1\n")
    broken.chmod(0o755)
    proc = run_cli("aliasing", "--backends", "pytensor-c", "--python", "pytensor-c=%s" % broken, "--sizes", "4KB",
                   "--quiet", timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "every case that was tried failed: pytensor-c" in proc.stderr and "Traceback" not in proc.stderr


def test_a_pickle_run_whose_every_method_was_killed_is_not_a_success(monkeypatch):
    pytest.importorskip("pandas")
    import argparse

    from harness import registry
    from harness.errors import ChildError
    from harness.topics.pickle import TOPIC, cases

    def killed(func, kwargs, methods, *args, **kw):  # every child killed by SIGKILL (the kernel's OOM killer, say)
        return {"payload": kwargs["size"], "versions": {"python": None},
                "rows": [{"method": m, "kind": "bytes", "protocol": int(m[-1]),
                          "error": "child process died: killed by SIGKILL"} for m in methods]}

    monkeypatch.setattr(cases, "measure_processes", killed)
    args = argparse.Namespace(repeat=1, python=None, quiet=True, objects=["numpy"], sizes=[1 << 20],
                              methods=["dumps-p4", "dumps-p5"], full=False)
    with pytest.raises(ChildError, match="every method failed.*SIGKILL"):
        registry.Command(TOPIC).run(args)


# --------------------------------------------------------------------------
# No command unpickles anything in the process that reads its input


AUDITED = """
import json, sys
events = []


def hook(event, args):
    # every pickle that could run code must look up a global: find_class raises this event
    if event == "pickle.find_class":
        events.append("%s %r" % (event, args)[:160])


sys.addaudithook(hook)
from harness.cli import main

try:
    rc = main(sys.argv[1:])
finally:
    sys.stderr.write("AUDIT " + json.dumps(events) + "\\n")
sys.exit(rc)
"""


@pytest.mark.parametrize("args", [
    ["containers", "--workloads", "list_int,dict_str_int", "--sizes", "1000"],
    ["allocator", "--n", "2000", "--patterns", "free_all"],
    ["pickle", "--objects", "list-int,numpy,cached-default", "--sizes", "16KiB"],
    ["aliasing", "--sizes", "4KB"],
    ["footprint", "-s", "import numpy as np", "np.arange(1000)", "[1, 2, 3]"],
    ["pickle-cost", "-s", "import numpy as np", "{'a': np.arange(1000)}", "--methods", "dumps-p5,oob-p5,npzip"],
    ["merge-results", "RESULTS", "--into", "DEST"],
    ["claims"],
], ids=lambda a: a[0])
def test_no_command_unpickles_in_the_process_that_reads_its_input(tmp_path, args):
    # a folder full of pickles that would run code, where the command runs: none of them is loaded
    marker = tmp_path / "ran.txt"
    evil = "cos\nsystem\n(S'echo pwned > %s'\ntR." % marker
    for name in ("result.pkl", "cache.pickle", "data.npy", "benchmarks.json.pkl"):
        (tmp_path / name).write_text(evil)
    results = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")
    args = [results if a == "RESULTS" else str(tmp_path / "dest") if a == "DEST" else a for a in args]
    proc = subprocess.run([sys.executable, "-c", AUDITED, *args, "--quiet"] if args[0] not in ("claims", "merge-results")
                          else [sys.executable, "-c", AUDITED, *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    audit = [line for line in proc.stderr.splitlines() if line.startswith("AUDIT ")]
    assert proc.returncode == 0, proc.stderr[-600:]
    assert audit and json.loads(audit[-1][6:]) == [], audit
    assert not marker.exists()


def test_the_audit_sees_an_unpickling():
    code = AUDITED.split("from harness.cli import main")[0] + (
        "import collections, pickle\npickle.loads(pickle.dumps(collections.OrderedDict(a=1)))\n"
        "sys.stderr.write('AUDIT ' + json.dumps(events) + '\\n')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    events = json.loads([ln for ln in proc.stderr.splitlines() if ln.startswith("AUDIT ")][-1][6:])
    assert events and "OrderedDict" in events[0]
