"""The environment matrix (one definition, asv.conf.json equal to it), the managed environments of
``memharness envs`` (folder, stamps, lock, SIGTERM, offline) and topics run in another interpreter
(``--python``, ``harness.runner.measure_in``).

One environment is made for real (py3.12, or the first other CPython of the matrix found here) in
the user's cache folder, where ``memharness envs`` keeps them, so a second run reuses it; building
its C++ extension takes 1-3 minutes the first time. The other environments are the slow tests.
"""
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness import envs
from harness.envs import matrix, store
from harness.errors import HarnessError
from tests.conftest import find_python, run_cli

ROOT = Path(__file__).resolve().parent.parent


def load_asv_conf():
    lines = (ROOT / "asv.conf.json").read_text().splitlines()
    return json.loads("\n".join(ln for ln in lines if not ln.lstrip().startswith("//")))


# --------------------------------------------------------------------------
# The definition


def test_asv_conf_is_the_definition():
    conf, want = load_asv_conf(), matrix.asv_config()
    for key in ("pythons", "matrix", "exclude", "include"):
        assert conf[key] == want[key], "asv.conf.json's %s: regenerate with memharness envs matrix --format asv" % key
    # what --format asv prints is those very lines
    printed = json.loads("{" + matrix.render("asv").rstrip().rstrip(",") + "}")
    assert printed == want


def test_the_matrix():
    defs = matrix.definition()
    names = [e.name for e in defs]
    assert len(set(names)) == len(names)
    assert len(defs) == 8  # the environments of the asv results kept in results/devbox
    assert [e.name for e in defs if e.backend != "theano"] == ["py3.8", "py3.9", "py3.10", "py3.11", "py3.12", "py3.13"]
    assert [e.name for e in defs if e.backend == "theano"] == ["py3.8-theano", "py3.11-theano"]
    assert [e.python for e in defs if e.backend == "pytensor"] == ["3.10", "3.11", "3.12", "3.13"]
    for e in defs:
        assert e.name == "py%s%s" % (e.python, "-theano" if e.backend == "theano" else "")
        assert all(r.count("==") <= 1 and "<" not in r and ">" not in r for r in e.requirements)
        if e.backend == "theano":
            assert "theano==1.0.5" in e.requirements and e.environ == {"THEANO_FLAGS": "blas.ldflags="}
            assert [r for r in e.requirements if r.startswith("numpy==")], e
            assert e.extras == (("setuptools", "75.3.2"),)  # pkl_utils imports pkg_resources
        if e.backend == "pytensor":
            assert {"pytensor", "numba", "jax"} <= set(e.requirements) and e.modes == ("C", "NUMBA", "JAX")
            assert [n for n, _ in e.extras] == ["numba", "jax"]  # outside asv's name


def test_asv_names_are_those_of_the_kept_results():
    from asv import config, environment

    conf = config.Config.load(str(ROOT / "asv.conf.json"))
    names = set()
    for combo in environment.iter_matrix(conf.environment_type, conf.pythons, conf):
        req = {k: v for (t, k), v in combo.items() if t == "req"}
        names.add(environment.get_env_name(conf.environment_type, combo[("python", None)], req,
                                           {k: v for k, v in combo.items() if k[0] in ("env", "env_nobuild")}))
    kept = {p.name.split("-", 1)[1][:-len(".json")] for p in (ROOT / "results" / "devbox").glob("*-virtualenv-*.json")}
    assert names == kept


def test_extras_go_only_where_their_backend_is():
    have = {"numpy", "pandas", "psutil", "pytensor"}
    assert matrix.extras_here("3.12", have.__contains__) == ["numba", "jax"]
    assert matrix.extras_here("3.9", have.__contains__) == []
    theano = {"numpy", "scipy", "pandas", "psutil", "theano"}
    assert matrix.extras_here("3.11", theano.__contains__) == ["setuptools==75.3.2"]


def test_matrix_command_formats():
    proc = run_cli("envs", "matrix", "--format", "github")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 1  # one line, for $GITHUB_OUTPUT
    got = json.loads(proc.stdout)["include"]
    assert [(g["name"], g["python"], g["backend"]) for g in got] == \
        [(e.name, e.python, e.backend or "") for e in matrix.definition()]
    proc = run_cli("envs", "matrix")
    assert [e["name"] for e in json.loads(proc.stdout)] == [e.name for e in matrix.definition()]


# --------------------------------------------------------------------------
# The folder, stamps, resolve


@pytest.fixture
def envroot(tmp_path, monkeypatch):
    folder = tmp_path / "envs"
    monkeypatch.setenv("MEMHARNESS_ENVS_DIR", str(folder))
    return folder


def fake_ready(name, python=sys.executable):
    """An environment that looks made: its interpreter (a link) and an up-to-date stamp."""
    spec = matrix.by_name()[name]
    bin_dir = Path(store.env_dir(name)) / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(python)
    store.write_stamp(name, dict(store.wanted(spec, store.source_tree()), python_version=spec.python + ".0"))
    return spec


def test_folder_is_private(envroot):
    store.root(create=True)
    assert envroot.stat().st_mode & 0o777 == 0o700
    envroot.chmod(0o777)
    with pytest.raises(HarnessError, match="writable by others"):
        store.root()


def test_resolve(envroot):
    with pytest.raises(HarnessError, match="no environment of the matrix is made yet.*envs create all"):
        envs.resolve("all")
    with pytest.raises(HarnessError, match="py3.12 is not created: make it with memharness envs create py3.12"):
        envs.resolve("py3.12")
    fake_ready("py3.12")
    got = envs.resolve("all")
    assert [(e.name, e.version, e.backend) for e in got] == [("py3.12", "3.12.0", "pytensor")]
    assert got[0].python == store.env_python("py3.12")
    assert len(got.notes) == 1 and "not created" in got.notes[0] and "memharness envs create py3.8 " in got.notes[0]
    assert [e.name for e in envs.resolve(["3.12", "py3.12", got[0].python])] == ["py3.12"]  # each once
    assert envs.resolve("current")[0].python == sys.executable
    mine = ".".join(platform.python_version().split(".")[:2])
    if mine != "3.12":
        assert envs.resolve(mine)[0].name == "current"  # its environment not made: this interpreter
    # out of date: another version, sources or requirements than the stamp's
    stamp = store.read_stamp("py3.12")
    store.write_stamp("py3.12", dict(stamp, hash="0" * 64))
    assert store.status(matrix.by_name()["py3.12"], store.source_tree()) == "out of date"
    with pytest.raises(HarnessError, match="out of date"):
        envs.resolve("py3.12")
    os.remove(os.path.join(store.env_dir("py3.12"), store.STAMP))
    assert store.status(matrix.by_name()["py3.12"], store.source_tree()) == "incomplete"


@pytest.mark.parametrize("spec, needle", [
    ("py2.7", "not an environment"), ("", "empty name"), ("3.7", "no environment of the matrix has CPython 3.7"),
    ("/nonexistent/python", "not an executable file"), ("theano", "not an environment"),
])
def test_resolve_refuses(envroot, spec, needle):
    with pytest.raises(HarnessError, match=needle):
        envs.resolve(spec)


def test_theano_env_carries_its_flags(envroot):
    fake_ready("py3.11-theano")
    env = envs.resolve("py3.11-theano")[0]
    assert env.backend == "theano" and env.environ == {"THEANO_FLAGS": "blas.ldflags="}
    assert envs.resolve(env.python)[0].name == "py3.11-theano"  # its path names it too


def test_lock_makes_a_second_create_wait(envroot):
    said, held = [], threading.Event()

    def first():
        with store.locked("py3.12"):
            held.set()
            time.sleep(0.5)

    t = threading.Thread(target=first)
    t.start()
    held.wait()
    t0 = time.monotonic()
    with store.locked("py3.12", said.append):
        waited = time.monotonic() - t0
    t.join()
    assert waited > 0.3 and said and "waiting" in said[0]


def test_installer_messages():
    from harness.envs.build import why_failed

    assert why_failed("ERROR: No matching distribution found for scikit-build-core>=0.8\n") == "scikit-build-core>=0.8"
    assert why_failed("  × Failed to fetch: `https://pypi.org/simple/numpy/`\n") == "https://pypi.org/simple/numpy/"
    assert why_failed("WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(...)': "
                      "/simple/numpy/\n") == "/simple/numpy/"
    assert why_failed("error: command 'g++' failed: No such file or directory") is None


def test_a_failed_build_names_its_first_error(tmp_path):
    from harness.envs.build import _run

    out = "  error: subprocess-exited-with-error\n  CMake Error at CMakeLists.txt:3: no compiler\nERROR: Could not build wheels"
    with pytest.raises(HarnessError, match=r"py3.12: installing the project failed \(status 1\): CMake Error at "
                                           r"CMakeLists.txt:3: no compiler; log: "):
        _run(["sh", "-c", "printf '%s\\n' \"$0\"; exit 1", out], str(tmp_path / "log"), "installing the project",
             "py3.12")


def test_uv_when_present_else_venv_and_pip(envroot, monkeypatch):
    from harness.envs import build

    ran = []
    monkeypatch.setattr(build, "_run", lambda cmd, *a, **k: ran.append(cmd))
    spec = matrix.by_name()["py3.8-theano"]
    for which in ("uv", None):
        monkeypatch.setattr(build.wheels, "uv_bin", lambda w=which: w)
        build._make_venv("/x/python3.8", "/e/py3.8-theano", "log", spec.name)
        build._install(spec, "/src", "log")
    py = store.env_python(spec.name)
    assert ran == [
        ["uv", "venv", "--python", "/x/python3.8", "/e/py3.8-theano"],
        ["uv", "pip", "install", "--python", py, "/src"] + spec.requirements,
        ["/x/python3.8", "-m", "venv", "/e/py3.8-theano"],
        [py, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", "/src"] + spec.requirements,
    ]
    assert "numpy==1.21.6" in spec.requirements and "theano==1.0.5" in spec.requirements


def test_one_wheel_per_python_and_sources(envroot, monkeypatch):
    from harness.envs import wheels

    built = []

    def run(cmd, what):
        built.append(cmd)
        out = cmd[cmd.index("--out-dir") + 1] if "--out-dir" in cmd else cmd[cmd.index("-w") + 1]
        open(os.path.join(out, "memharness-0-cp312-cp312-linux_x86_64.whl"), "w").close()

    monkeypatch.setattr(wheels, "uv_bin", lambda: None)
    first = wheels.wheel("3.12", "/e/python", "/src", "a" * 64, run, print)
    assert wheels.wheel("3.12", "/e/python", "/src", "a" * 64, run, print) == first  # the second env of 3.12
    assert len(built) == 1 and built[0][:3] == ["/e/python", "-m", "pip"] and first.startswith(str(envroot))
    wheels.wheel("3.11", "/e/python", "/src", "a" * 64, run, print)
    newer = wheels.wheel("3.12", "/e/python", "/src", "b" * 64, run, print)  # the sources changed
    assert len(built) == 3 and os.path.exists(newer) and not os.path.exists(first)  # the old one pruned
    assert wheels.cached("a" * 64, "3.11")  # another version's is kept
    monkeypatch.setattr(wheels, "uv_bin", lambda: "/u/uv")
    assert wheels.build_command("/e/python", "/src", "/o")[:4] == ["/u/uv", "build", "--wheel", "--python"]


def offline_env(envroot):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(MEMHARNESS_ENVS_DIR=str(envroot), PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_RETRIES="0", PIP_TIMEOUT="2", PIP_NO_CACHE_DIR="1", UV_OFFLINE="1",
               UV_CACHE_DIR=os.path.join(str(envroot), ".uv-cache"))  # empty: with uv's cache warm, offline works
    return env


def other_python():
    """A CPython of the matrix other than this one (3.12 first), or None."""
    mine = ".".join(platform.python_version().split(".")[:2])
    for v in ["3.12", "3.13", "3.10", "3.9", "3.8", "3.11"]:
        if v != mine and find_python(v):
            return v
    return None


def test_offline_create_is_one_line_and_status_2(envroot):
    v = other_python() or pytest.skip("no other CPython of the matrix here")
    proc = subprocess.run([sys.executable, "-m", "harness", "envs", "create", "-q", "py" + v], capture_output=True,
                          text=True, timeout=300, env=offline_env(envroot))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not fetch" in lines[0] and "log:" in lines[0], proc.stderr
    assert not os.path.exists(os.path.join(str(envroot), "py" + v))  # nothing half-made left


def test_sigterm_mid_create_leaves_nothing_ready(envroot):
    v = other_python() or pytest.skip("no other CPython of the matrix here")
    env = dict(os.environ, MEMHARNESS_ENVS_DIR=str(envroot))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "envs", "create", "py" + v], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    log = envroot / ("py%s.log" % v)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and "pip install" in log.read_text()
                                               or "uv pip install" in (log.read_text() if log.exists() else "")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated by SIGTERM" in err
    spec = matrix.by_name()["py" + v]
    assert store.status(spec, store.source_tree()) == "not created"


def test_no_harness_in_the_interpreter_is_one_line():
    v = other_python() or pytest.skip("no other CPython of the matrix here")
    from harness.core import children

    with pytest.raises(HarnessError, match="has no memharness installed.*memharness envs create"):
        children.run_child("harness.core.memory:allocated_now", python=find_python(v), own=True)


def test_source_tree_is_required(monkeypatch, tmp_path):
    import harness

    monkeypatch.setattr(harness, "__file__", str(tmp_path / "site-packages" / "harness" / "__init__.py"))
    with pytest.raises(HarnessError, match="installed copy.*clone the repository"):
        store.source_tree()


# --------------------------------------------------------------------------
# Topics in a real environment


@pytest.fixture(scope="module")
def made():
    """One environment made for real (reused when it is ready); skipped, with pip's reason, offline."""
    v = other_python() or pytest.skip("no other CPython of the matrix here")
    name = "py" + v
    proc = run_cli("envs", "create", "-q", name, timeout=900)
    if proc.returncode != 0:
        if "could not fetch" in proc.stderr:
            pytest.skip(proc.stderr.strip())
        pytest.fail(proc.stderr)
    again = run_cli("envs", "create", "-q", name)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr
    return envs.resolve(name)[0]


def test_containers_in_another_env(made):
    proc = run_cli("containers", "--python", made.name + ",current", "--sizes", "1000", "--workloads", "list_int",
                   "--format", "json", "-q")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    rows = [r for table in out["tables"].values() for r in table]
    assert {r["env"] for r in rows} == {made.name, "current"}
    assert {r["cpython"] for r in rows if r["env"] == made.name} == {made.version}
    assert {r["cpython"] for r in rows if r["env"] == "current"} == {platform.python_version()}
    assert all(list(r)[:2] == ["env", "cpython"] for r in rows)
    assert [e["name"] for e in out["meta"]["environments"]] == [made.name, "current"]
    assert any(v["evidence"].startswith(made.name + ": ") for v in out["verdicts"])
    plain = json.loads(run_cli("containers", "--sizes", "1000", "--workloads", "list_int", "--format", "json",
                               "-q").stdout)
    assert set(out["tables"]) == set(plain["tables"])  # the same tables


def test_pickle_in_another_env(made):
    proc = run_cli("pickle", "--python", made.name, "--objects", "list-int", "--sizes", "16KiB", "--methods",
                   "dumps-p4,dumps-p5", "--repeat", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    assert made.name in proc.stdout and made.version in proc.stdout


def test_measure_in_runs_the_envs_own_harness(made):
    from harness import runner
    from harness.core import children
    from harness.topics.containers import Options

    got = runner.measure_in(made.python, "containers", Options(workloads=["list_int"], sizes=[1000]))
    assert got.python == made.version and len(got.rows["elements"]) == 1
    child = children.run_child("harness.core.memory:allocated_now", python=made.python, own=True)["child"]
    assert os.path.realpath(child["harness"]).startswith(os.path.realpath(store.env_dir(made.name)))
    assert child["python"] == made.version
    # the allocator takes the environment by name too
    from harness.core.interpreters import find_interpreter

    assert find_interpreter(made.name).path == made.python


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in matrix.definition()])
def test_every_environment(name):
    """Make every environment of the matrix and run containers in it (1-3 minutes each, more for
    the PyTensor ones)."""
    spec = matrix.by_name()[name]
    if not find_python(spec.python):
        pytest.skip("CPython %s is not installed here" % spec.python)
    proc = run_cli("envs", "create", "-q", name, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("containers", "--python", name, "--sizes", "1000", "--workloads", "list_int", "-q")
    assert proc.returncode == 0 and name in proc.stdout, proc.stderr


@pytest.mark.parametrize("action", [["list"], ["create", "py3.13"]])
def test_a_dir_that_is_a_file_or_others_may_write_is_one_line(tmp_path, action):
    afile = tmp_path / "afile"
    afile.write_text("")
    proc = run_cli("envs", "--dir", str(afile), *action, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "not a folder" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    proc = run_cli("envs", "--dir", str(open_dir), "list", timeout=60)
    assert proc.returncode == 2 and "writable by others" in proc.stderr and proc.stdout == "", proc.stderr
