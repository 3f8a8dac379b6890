"""How memory and time are measured: the one module every topic uses.

Definitions (also in the README):

* requested bytes: bytes retained after building a structure, as counted by
  tracemalloc. tracemalloc records the sizes asked of Python's allocators, not
  pymalloc's 16-byte size classes, malloc headers, free pools or arenas.
* allocated bytes: what the allocators really hand out for the same structure:
  the growth of pymalloc's "bytes in allocated blocks" (``sys._debugmallocstats``)
  plus the growth of glibc's in-use bytes (``mallinfo2``: chunk sizes including
  headers, and mmapped chunks) for the requests pymalloc passes on to malloc.
* RSS growth: the resident set size gained by building the structure in a
  fresh child process; it includes everything (free pools, arena slack, pages).
* peak bytes: tracemalloc's peak during an operation, or the RSS high-water
  mark of a child process (``VmHWM``, reset through ``/proc/self/clear_refs``).

Everything here that a child process of another interpreter may import is
standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from typing import Any, Callable, Dict, Iterable, List, Optional

from harness.errors import ChildError, HarnessError, MemoryGuardError

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# --------------------------------------------------------------------------
# Process memory: RSS, high-water mark, free memory


def current_rss() -> int:
    """Resident set size of this process, in bytes."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_SIZE
    except OSError:
        import psutil  # not on Linux: fall back to psutil

        return int(psutil.Process().memory_info().rss)


def peak_rss() -> int:
    """High-water mark of the resident set size (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0). Returns False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _read_int(path: str) -> Optional[int]:
    """An integer file of /proc or /sys ('max' and unreadable files give None)."""
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cgroup_headroom(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> Optional[int]:
    """Bytes this process's cgroups let it (and its children) still take: the smallest
    ``limit - usage`` over its memory cgroup and every ancestor (v2: memory.max - memory.current;
    v1: memory.limit_in_bytes - memory.usage_in_bytes). None where no limit is set."""
    try:
        with open(proc) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best: Optional[int] = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2 unified hierarchy
            base, limit_f, usage_f = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_f, usage_f = os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        rel = path.strip("/")
        while True:
            folder = os.path.join(base, rel) if rel else base
            limit, usage = _read_int(os.path.join(folder, limit_f)), _read_int(os.path.join(folder, usage_f))
            if limit is not None and usage is not None and limit < 1 << 60:  # v1 says "no limit" as 2^63-4096
                best = limit - usage if best is None else min(best, limit - usage)
            if not rel:
                break
            rel = os.path.dirname(rel)
    return None if best is None else max(best, 0)


def available_memory() -> int:
    """Memory a workload can take now without swapping or being killed: the kernel's MemAvailable,
    capped by what this process's cgroups (a container, a systemd slice, a batch job) have left."""
    avail: Optional[int] = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        import psutil

        avail = int(psutil.virtual_memory().available)
    headroom = cgroup_headroom()
    return avail if headroom is None else min(avail, headroom)


def format_bytes(n: float) -> str:
    """Human-readable size with binary prefixes: 1536 -> '1.5 KiB'."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "%.1f TiB" % n  # pragma: no cover


def check_fits(need_bytes: float, what: str, fraction: float = 0.7) -> None:
    """Refuse, before anything is built, a workload that would not fit.

    ``need_bytes`` is the workload's own estimate of its peak; it must stay
    below ``fraction`` of the memory available now.
    """
    avail = available_memory()
    if need_bytes > fraction * avail:
        where = " (within this process's cgroup memory limit)" if cgroup_headroom() == avail else ""
        raise MemoryGuardError(
            "%s needs about %s but only %s is free%s (limit %d%% of free memory); "
            "choose a smaller size" % (what, format_bytes(need_bytes), format_bytes(avail), where, fraction * 100)
        )


# --------------------------------------------------------------------------
# glibc and pymalloc counters

_libc = None


def _get_libc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            _libc = ctypes.CDLL(name)
        except OSError:
            _libc = False
    return _libc


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
    ]


def malloc_in_use() -> Optional[int]:
    """Bytes glibc malloc has handed out and not got back (uordblks + hblkhd), or None."""
    info = malloc_info()
    return None if info is None else info["uordblks"] + info["hblkhd"]


def malloc_info() -> Optional[Dict[str, int]]:
    """glibc's ``mallinfo2()`` fields, in bytes (arena, hblkhd, uordblks, fordblks, keepcost, ...), or None.

    ``arena + hblkhd`` is what glibc holds from the OS (heap plus mmapped
    chunks); ``uordblks + hblkhd`` is what it has handed out.
    """
    libc = _get_libc()
    if not libc or not hasattr(libc, "mallinfo2"):
        return None
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name, _ in _Mallinfo2._fields_}


def malloc_trim() -> bool:
    """Ask glibc to give freed memory back to the OS (``malloc_trim(0)``)."""
    libc = _get_libc()
    if not libc or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)
    return True


def capture_debugmallocstats() -> str:
    """The text ``sys._debugmallocstats()`` writes to file descriptor 2.

    It bypasses ``sys.stderr``, so fd 2 is pointed at a temporary file for the
    call. Returns '' where the interpreter has no such function.
    """
    if not hasattr(sys, "_debugmallocstats"):
        return ""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def pymalloc_allocated_blocks() -> Optional[int]:
    """pymalloc's "bytes in allocated blocks", or None when pymalloc is not in use.

    Read with ``harness.mallocstats.parse`` (lenient: a report of a format it
    does not know still yields the figure if the line is there).
    """
    from harness import mallocstats

    text = capture_debugmallocstats()
    if not text:
        return None
    try:
        return mallocstats.parse(text, strict=False).bytes_in_allocated_blocks
    except mallocstats.UnknownFormatError:
        return None


def allocated_now() -> Dict[str, Optional[int]]:
    """Both allocator counters at this instant (after a full collection)."""
    gc.collect()
    return {"pymalloc": pymalloc_allocated_blocks(), "malloc": malloc_in_use()}


def _delta(after: Optional[int], before: Optional[int]) -> Optional[int]:
    return None if after is None or before is None else after - before


# --------------------------------------------------------------------------
# Retained memory of a structure, in this process


def measure_retained(build: Callable[[], Any], *, rss: bool = True) -> Dict[str, Any]:
    """Memory retained by ``build()``'s result, measured three ways in this process.

    The structure is built twice: once with tracemalloc off (allocator counters
    and RSS, undisturbed by tracemalloc's own bookkeeping), once with it on
    (requested bytes and the peak during the build). ``build`` must create the
    objects itself, deterministically, so both builds are the same.

    Returns requested, peak_requested, allocated (None where a counter is
    missing), allocated_pymalloc, allocated_malloc and rss_growth (bytes).
    For RSS growth to mean anything, call this in a fresh child process.
    """
    if tracemalloc.is_tracing():
        raise HarnessError("measure_retained() needs tracemalloc to be off when it starts")
    gc.collect()
    # The first reading allocates caches of its own; after it, each reading keeps
    # the same few bytes. Two readings with nothing between them measure that
    # cost; the structure is built between the second and a third reading, in
    # the same pattern, so (r3 - r2) - (r2 - r1) is the structure alone.
    rss0 = current_rss()
    allocated_now()
    r1 = allocated_now()
    r2 = allocated_now()
    obj = build()
    r3 = allocated_now()
    rss1 = current_rss()
    del obj
    gc.collect()

    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak() if hasattr(tracemalloc, "reset_peak") else None
        obj = build()
        gc.collect()
        cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del obj
    gc.collect()

    alloc_py = _delta(_delta(r3["pymalloc"], r2["pymalloc"]), _delta(r2["pymalloc"], r1["pymalloc"]))
    alloc_c = _delta(_delta(r3["malloc"], r2["malloc"]), _delta(r2["malloc"], r1["malloc"]))
    if alloc_c is None:
        allocated = None
    else:
        allocated = alloc_c + (alloc_py or 0)
    return {
        "requested": cur - base,
        "peak_requested": peak - base,
        "allocated": allocated,
        "allocated_pymalloc": alloc_py,
        "allocated_malloc": alloc_c,
        "rss_growth": (rss1 - rss0) if rss else None,
    }


def measure_peak(operation: Callable[[], Any]) -> Dict[str, Any]:
    """Peak extra memory while ``operation()`` runs, in this process.

    tracemalloc peak (requested bytes above the start) and the RSS high-water
    mark above the RSS at the start (run in a child process for the latter to
    mean anything). The operation runs twice: untraced for RSS, traced for
    tracemalloc. Returns the operation's (second) result under "value".
    """
    gc.collect()
    rss0 = current_rss()
    reset_ok = reset_peak_rss()
    value = operation()
    hwm = peak_rss()
    del value
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        value = operation()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "peak_requested": peak - base,
        "peak_rss": (hwm - rss0) if reset_ok else None,
        "value": value,
    }


# --------------------------------------------------------------------------
# Child processes


# The child's command line: ``python -c BOOTSTRAP INIT PATHS``. It takes the working folder
# off sys.path before it imports anything (``python -c`` puts it first, and ``-I``/``-P`` would
# also drop PYTHONMALLOC or not exist on 3.8-3.10), then loads the very ``harness`` package this
# process runs, by its file path, and runs ``harness._child``. Nothing is written to disk for it:
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
    "runpy.run_module('harness._child', run_name='__main__')\n"
)


def child_command(python: str) -> List[str]:
    """The argv that starts a measurement child of ``python`` running this harness package."""
    import harness

    init = os.path.abspath(harness.__file__)
    paths = [os.path.abspath(p) for p in harness.__path__]
    return [python, "-c", CHILD_BOOTSTRAP, init, json.dumps(paths)]


def child_env(python: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The child's environment: ours, plus ``extra``. Another interpreter gets no PYTHONPATH or
    PYTHONHOME of ours (they name this interpreter's folders); it sees only its standard library."""
    env = dict(os.environ)
    if not _same_interpreter(python):
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
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
) -> Dict[str, Any]:
    """Call ``func`` ("harness.module:function") in a fresh interpreter; return its result.

    The request and the result cross the pipe as JSON, never as a pickle. The
    result dict gets a "child" entry (Python version, peak RSS). ``python``
    names another interpreter (its standard library is all the child may use);
    the child runs in an empty folder, so paths in ``kwargs`` must be absolute;
    ``env`` adds environment variables (e.g. PYTHONMALLOC). On Ctrl-C or a
    timeout the child is stopped, with every process it started (it runs in a
    process group of its own), before the exception propagates.
    """
    python = python or sys.executable
    full_env = child_env(python, env)
    request = json.dumps({"func": func, "kwargs": kwargs or {}})
    try:
        proc = subprocess.Popen(
            child_command(python),
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
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        reply = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ChildError(
            "%s: child %s exited with status %s and no result%s"
            % (func, python, proc.returncode, (": " + " | ".join(tail)) if tail else "")
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


# --------------------------------------------------------------------------
# Time


def time_call(
    func: Callable[[], Any],
    *,
    repeat: int = 5,
    min_time: float = 0.05,
    max_time: float = 10.0,
    setup: Optional[Callable[[], Any]] = None,
) -> Dict[str, float]:
    """Time ``func()`` like pyperf/timeit: calibrated loops, several samples.

    Each sample runs ``number`` calls, ``number`` chosen so a sample lasts at
    least ``min_time``. Returns per-call seconds: median, min, max, the
    interquartile spread, the number of samples and calls per sample.
    ``setup`` (untimed) runs before every sample.
    """
    if setup:
        setup()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 20:
            break
        number = max(number * 2, int(number * min_time / max(dt, 1e-9) * 1.2))
    samples: List[float] = [dt / number]
    deadline = time.perf_counter() + max_time
    while len(samples) < repeat and time.perf_counter() < deadline:
        if setup:
            setup()
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - t0) / number)
    return summarize(samples, number=number)


def summarize(samples: Iterable[float], number: int = 1) -> Dict[str, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    return {
        "median": statistics.median(s),
        "min": s[0],
        "max": s[-1],
        "iqr": q[2] - q[0],
        "samples": len(s),
        "number": number,
    }
