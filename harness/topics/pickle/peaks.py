"""How the pickle topic reads a peak, inside its measurement child: the RSS high-water mark of one
operation (in a process forked for it, ``in_fork``: a heap no other measurement has used) and
tracemalloc's peak.

Standard library only at import time, CPython 3.8 syntax.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tempfile
import warnings
from typing import Any, Callable, Dict

from harness.core import memory


def _settle() -> None:
    gc.collect()
    gc.collect()
    memory.malloc_trim()


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0][:200] if text else "")


def rss_file() -> int:
    """Resident file-backed pages of this process (RssFile, bytes; 0 where unknown)."""
    return memory.status_bytes("RssFile") or 0


def _rss_peak(op: Callable[[], Any]) -> Any:
    """(result of op(), RSS high-water above the start, or None where it cannot be reset).

    Library code pages that the operation touches for the first time (file-backed:
    a forked process faults them in again) are not the operation's memory: the
    growth of RssFile over the operation is taken off.
    """
    _settle()
    file0 = rss_file()
    rss0 = memory.current_rss()
    ok = memory.reset_peak_rss()
    value = op()
    hwm = memory.peak_rss()
    code = max(rss_file() - file0, 0)
    return value, (max(hwm - rss0 - code, 0) if ok else None)


def _traced_peak(op: Callable[[], Any]) -> Any:
    """(result of op(), tracemalloc peak above the start)."""
    _settle()
    value, peak = memory.traced_peak(op)
    return value, max(peak, 0)


def in_fork(func: Callable[[], Dict[str, Any]]) -> Dict[str, Any]:
    """``func()`` run in a forked copy of this process; its JSON-able result.

    If the copy dies, {"error": "process died: killed by SIGABRT: <its last
    stderr line>"}. Where there is no fork (not POSIX), ``func()`` runs here.
    """
    if not hasattr(os, "fork"):
        return func()
    sys.stdout.flush()
    sys.stderr.flush()
    rfd, wfd = os.pipe()
    with tempfile.TemporaryFile() as err, warnings.catch_warnings():
        # 3.12+ warns that forking a process with threads (numpy's BLAS pool) may deadlock;
        # the copy runs only pickle and file I/O and leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
        if pid == 0:  # the copy
            status = 0
            try:
                os.close(rfd)
                os.dup2(err.fileno(), 2)
                import faulthandler

                faulthandler.disable()  # its report of a crash would go to the parent's stderr
                try:
                    out = func()
                except BaseException as exc:  # noqa: BLE001 - reported as data
                    out = {"error": _error_text(exc)}
                data = json.dumps(out).encode()
                while data:
                    data = data[os.write(wfd, data):]
            except BaseException:  # noqa: BLE001
                status = 1
            finally:
                os._exit(status)
        os.close(wfd)
        chunks = []
        while True:
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        if chunks and status == 0:
            return json.loads(b"".join(chunks).decode())
        err.seek(0)
        last = [ln.strip() for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            how = "killed by %s" % signal.Signals(sig).name
        except ValueError:
            how = "killed by signal %d" % sig
    else:
        how = "exit status %d" % os.WEXITSTATUS(status)
    return {"error": "process died: %s%s" % (how, (": " + " | ".join(last[-2:])[:240]) if last else "")}
