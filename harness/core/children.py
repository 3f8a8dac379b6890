"""Child processes: every measurement that needs a clean heap runs in a fresh interpreter.

The request and the result cross a pipe as JSON, never as a pickle. A child imports nothing from
its working folder (a folder private to the run) and runs exactly the harness package its parent
runs, whichever interpreter it is, or, asked (``own``), the harness installed in that interpreter's
own environment (``harness.runner.measure_in``: a whole topic in a managed environment). Children
run in process groups of their own, so that Ctrl-C, SIGTERM or a timeout stops them and whatever
they forked.

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

from harness.errors import ChildError, HarnessError, MemoryGuardError

# The child's command line: ``python -c BOOTSTRAP INIT PATHS``. It takes the working folder
# off sys.path before it imports anything (``python -c`` puts it first, and ``-I``/``-P`` would
# also drop PYTHONMALLOC or not exist on 3.8-3.10), then loads the very ``harness`` package this
# process runs, by its file path, and runs ``harness.core._child``. Nothing is written to disk for it:
# no folder another user could plant a module in, no link two runs or two installs could share.
CHILD_BOOTSTRAP = (
    "import sys, os\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.') and os.path.abspath(p) != os.getcwd()]\n"
    "import importlib.machinery, importlib.util, json, runpy\n"
    "init, paths = sys.argv[1], json.loads(sys.argv[2])\n"
    "del sys.argv[1:]\n"
    # harness.* comes from the package's own folders and nowhere else: an editable install's
    # finder (or another install's) would otherwise answer for the submodules
    "class HarnessFinder:\n"
    "    @staticmethod\n"
    "    def find_spec(name, path=None, target=None):\n"
    "        if not name.startswith('harness.'):\n"
    "            return None\n"
    "        spec = importlib.machinery.PathFinder.find_spec(name, path)\n"
    "        if spec is None:\n"
    "            raise ModuleNotFoundError('No module named %r in %s' % (name, path), name=name)\n"
    "        return spec\n"
    "sys.meta_path.insert(0, HarnessFinder)\n"
    "spec = importlib.util.spec_from_file_location('harness', init, submodule_search_locations=paths)\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules['harness'] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "runpy.run_module('harness.core._child', run_name='__main__')\n"
)


# ``python -I -c OWN_BOOTSTRAP``: a child that runs the harness installed in ``python``'s own
# environment (its site-packages), not this process's: ``memharness envs`` environments and any
# interpreter with memharness installed. -I: no PYTHONPATH, no user site; the working folder is
# taken off sys.path as above (3.8-3.10 still put '' first under -I).
OWN_BOOTSTRAP = (
    "import sys, os, json\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.') and os.path.abspath(p) != os.getcwd()]\n"
    "try:\n"
    "    import harness\n"
    "except ImportError as exc:\n"
    "    sys.stdin.read()\n"
    "    print(json.dumps({'error': {'type': 'HarnessError', 'harness_error': True, 'message': '%s has no "
    "memharness installed (%s): make an environment with memharness envs create, or pip install the project "
    "into it' % (sys.executable, exc)}}))\n"
    "    sys.exit(1)\n"
    "import runpy\n"
    "runpy.run_module('harness.core._child', run_name='__main__')\n"
)


_FIXED_LAYOUT: List[List[str]] = []  # [the setarch prefix], or [[]] where the system refuses it


def fixed_layout_prefix() -> List[str]:
    """``setarch ARCH -R``: the child runs with its address space laid out the same every time.

    With address-space layout randomisation, the bytes pymalloc hands out while a structure is
    built moved by 64-80 bytes from one fresh process to the next (tables keyed by addresses
    probe, fill and resize differently), so a memory figure was not the same twice. Where setarch
    is missing or the system refuses the personality (some container sandboxes), children run as
    they are; MEMHARNESS_ASLR=1 keeps randomisation on (and str hashes random: see child_env).
    """
    if not _FIXED_LAYOUT:
        import platform
        import shutil

        prefix: List[str] = []
        tool = shutil.which("setarch")
        if tool and os.environ.get("MEMHARNESS_ASLR") != "1":
            candidate = [tool, platform.machine(), "-R"]
            try:
                ok = subprocess.run(candidate + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=10).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            prefix = candidate if ok else []
        _FIXED_LAYOUT.append(prefix)
    return list(_FIXED_LAYOUT[0])


def own_child_command(python: str) -> List[str]:
    """The argv that starts a child of ``python`` running the harness installed in its environment."""
    return fixed_layout_prefix() + [python, "-I", "-c", OWN_BOOTSTRAP]


def child_command(python: str) -> List[str]:
    """The argv that starts a measurement child of ``python`` running this harness package."""
    import harness

    init = os.path.abspath(harness.__file__)
    paths = [os.path.abspath(p) for p in harness.__path__]
    return fixed_layout_prefix() + [python, "-c", CHILD_BOOTSTRAP, init, json.dumps(paths)]


def child_env(python: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The child's environment: ours, plus ``extra``. Another interpreter gets no PYTHONPATH or
    PYTHONHOME of ours (they name this interpreter's folders); it sees only its standard library."""
    env = dict(os.environ)
    if not _same_interpreter(python):
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
    if os.environ.get("MEMHARNESS_ASLR") != "1":
        # str hashes fixed as the address layout is (fixed_layout_prefix): with a random hash secret
        # the bytes a build allocated moved by 64-80 B from one process to the next (tables of
        # strings probe and resize differently), so a figure was not the same twice
        env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra or {})
    return env


def _venv_root(python: str) -> Optional[str]:
    """The virtual environment ``python`` belongs to (the folder with pyvenv.cfg), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else None


def _same_interpreter(python: str) -> bool:
    """Same binary and same environment: a venv's python links to its base binary, so the
    binary alone does not tell two virtualenvs (or a venv and its base) apart."""
    return (os.path.realpath(python) == os.path.realpath(sys.executable)
            and _venv_root(python) == _venv_root(sys.executable))


_CWD: Optional[str] = None
_CWD_LOCK = threading.Lock()


def _remove_child_cwd() -> None:
    global _CWD
    path, _CWD = _CWD, None
    if path:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def _child_cwd() -> str:
    """An empty folder private to this run (``mkdtemp``: a new name, mode 0700), where children
    run; made once per process, removed at exit."""
    global _CWD
    with _CWD_LOCK:
        if _CWD is None or not os.path.isdir(_CWD):
            import atexit

            if _CWD is None:
                atexit.register(_remove_child_cwd)
            _CWD = tempfile.mkdtemp(prefix="memharness-cwd-")
        return _CWD


# Children alive right now (run_child may run in several threads at once), so that an
# interrupted caller can stop them all: stop_children().
_LIVE: "set[subprocess.Popen]" = set()
_LIVE_LOCK = threading.Lock()


def _signal_group(proc: "subprocess.Popen", sig: int) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)  # the group outlives its leader while members remain
        elif sig == signal.SIGINT:
            proc.terminate()
        else:
            proc.kill()
    except OSError:  # already gone
        pass


def _stop(proc: "subprocess.Popen", grace: float = 2.0, reap: bool = True) -> None:
    """Stop a child and whatever it started (it leads its own process group): SIGINT first,
    so that its ``finally`` blocks remove what it made (workspaces, forked copies), then
    SIGKILL of the whole group after ``grace`` seconds, or at once on a second Ctrl-C.
    ``reap``: also read its pipes and wait for it (only the thread that owns the child may)."""
    try:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGINT)
            if reap:
                try:
                    proc.communicate(timeout=grace)  # reads its pipes: a full pipe cannot block it
                except (subprocess.TimeoutExpired, OSError, ValueError):
                    pass
            else:
                deadline = time.monotonic() + grace
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.02)
    finally:
        _signal_group(proc, signal.SIGKILL)  # the group: forked copies outliving the child too
        if reap:
            try:
                proc.communicate()
            except (OSError, ValueError):
                proc.wait()


def stop_children() -> None:
    """Stop every child that run_child started and that is still running, those of other
    threads too (each owning thread then sees its child end, and raises ChildError)."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _stop(proc, grace=1.0, reap=False)


def run_child(
    func: str,
    kwargs: Optional[Dict[str, Any]] = None,
    *,
    python: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    timeout: float = 600.0,
    own: bool = False,
) -> Dict[str, Any]:
    """Call ``func`` ("harness.module:function") in a fresh interpreter; return its result.

    The request and the result cross the pipe as JSON, never as a pickle. The
    result dict gets a "child" entry (Python version, peak RSS). ``python``
    names another interpreter (its standard library is all the child may use);
    the child runs in an empty folder, so paths in ``kwargs`` must be absolute;
    ``env`` adds environment variables (e.g. PYTHONMALLOC). On Ctrl-C or a
    timeout the child is stopped, with every process it started (it runs in a
    process group of its own), before the exception propagates. ``own``: the child runs the
    harness installed in ``python``'s environment instead of this one (see OWN_BOOTSTRAP).
    """
    python = python or sys.executable
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ChildError("cannot start %s: not an executable file" % python)
    full_env = child_env(python, env)
    request = json.dumps({"func": func, "kwargs": kwargs or {}})
    try:
        proc = subprocess.Popen(
            own_child_command(python) if own else child_command(python),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=_child_cwd(),
            start_new_session=True,  # its own process group: stopped as a whole (see _stop)
        )
    except OSError as exc:
        raise ChildError("cannot start %s: %s" % (python, exc)) from None
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = proc.communicate(request.encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, grace=0.0)
        raise ChildError("%s did not finish within %.0f s" % (func, timeout)) from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    return _answer(func, python, proc.returncode, out, err)


def _answer(func: str, python: str, status: Optional[int], out: bytes, err: bytes) -> Dict[str, Any]:
    """The child's result, from the last line of its stdout (JSON), or the error it reported."""
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        reply = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ChildError(
            "%s: child %s exited with status %s and no result%s"
            % (func, python, status, (": " + " | ".join(tail)) if tail else "")
        ) from None
    if "error" in reply:
        e = reply["error"]
        if e.get("type") == "MemoryGuardError":
            raise MemoryGuardError(e["message"])
        if e.get("harness_error"):
            raise HarnessError(e["message"])
        raise ChildError("%s failed in %s: %s: %s" % (func, python, e.get("type"), e.get("message")))
    result = reply["result"]
    if isinstance(result, dict):
        result = dict(result)
        result.setdefault("child", reply.get("child"))
    return result
