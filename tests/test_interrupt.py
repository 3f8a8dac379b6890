"""Ctrl-C during a long run: exit status 130, one line "interrupted", no half-written output,
no temporary files, and no process left behind (children, and what they forked, included).

Each test starts ``python -m harness ...`` in a session of its own, waits until the measurement
child processes it wants exist, then sends SIGINT either to the harness process alone (``kill
-INT pid``) or to its whole process group (what a terminal's Ctrl-C does). Every process the run
starts inherits a unique environment variable, so survivors are found even once they have been
re-parented away from the harness.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX signals and process groups")


def tagged(tag):
    """Every live process (not a zombie) whose environment carries the tag."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("MEMHARNESS_TEST_TAG") == tag and p.status() not in (psutil.STATUS_ZOMBIE,
                                                                                      psutil.STATUS_DEAD):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _as_from_a_terminal():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def interrupt(tmp_path, args, *, min_descendants, to_group, wait_limit=90.0, sig=signal.SIGINT):
    """Run the command until it has ``min_descendants`` processes below it, then send it ``sig``.
    Returns (returncode, stderr, the output folder's listing, survivors, descendants seen); the
    run's temp folder (TMPDIR) is tmp_path/tmp, and what is left there is added to the listing."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    tag = uuid.uuid4().hex
    env = dict(os.environ, MEMHARNESS_TEST_TAG=tag, PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(tmp_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *args, "--output", str(out_dir / "result.csv"), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
        # as from a terminal: a run started in the background by a non-interactive shell (nohup, &)
        # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt; under nohup SIGHUP
        # too, and the run rightly keeps it ignored (a CI run under nohup failed the SIGHUP case)
        preexec_fn=_as_from_a_terminal,
    )
    try:
        me = psutil.Process(proc.pid)
        seen = []
        deadline = time.monotonic() + wait_limit
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = me.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            if len(seen) >= min_descendants:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be interrupted: %s" % proc.stderr.read()[-500:]
        assert len(seen) >= min_descendants, "no measurement child within %.0f s" % wait_limit
        if to_group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    survivors = tagged(tag)
    # SIGKILLed processes take a moment to disappear; a forked copy left running would go on
    # for seconds (until its measurement ends), so this grace is short on purpose
    deadline = time.monotonic() + 0.5
    while survivors and time.monotonic() < deadline:
        time.sleep(0.05)
        survivors = tagged(tag)
    for p in survivors:  # do not leave them to the next test
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    left = sorted(os.listdir(out_dir)) + sorted("tmp/" + n for n in os.listdir(tmp_dir))
    return proc.returncode, err.decode("utf-8", "replace"), left, survivors, seen


def check(name, result, sig=signal.SIGINT):
    rc, err, files, survivors, _ = result
    lines = err.strip().splitlines()
    if sig == signal.SIGINT:
        assert rc == 130, err
        assert lines == ["memharness %s: interrupted" % name], err
    else:
        assert rc == 128 + sig, err
        assert lines == ["memharness %s: terminated by %s" % (name, signal.Signals(sig).name)], err
    assert files == [], "half-written or temporary files left: %s" % files
    assert survivors == [], "processes left behind: %s" % [(p.pid, p.cmdline()) for p in survivors]


@pytest.mark.parametrize("to_group", [False, True], ids=["kill-pid", "ctrl-c-group"])
def test_interrupt_containers(tmp_path, to_group):
    result = interrupt(tmp_path, ["containers", "--sizes", "1e6"], min_descendants=1, to_group=to_group)
    check("containers", result)


def test_interrupt_allocator_stops_the_children_of_every_worker_thread(tmp_path):
    # two children at once (--jobs 2), each waited for by its own thread: SIGINT reaches only
    # the main thread, which must stop the other threads' children instead of waiting for them
    result = interrupt(tmp_path, ["allocator", "--n", "1e6", "--jobs", "2", "--allocators", "pymalloc,malloc"],
                       min_descendants=2, to_group=False)
    check("allocator", result)


def test_interrupt_pickle_stops_the_forked_copies_too(tmp_path):
    # the pickle child forks a copy of itself for its RSS measurements: wait for that grandchild
    pytest.importorskip("numpy")
    result = interrupt(tmp_path, ["pickle", "--objects", "numpy", "--sizes", "64MB", "--methods", "dumps-p2"],
                       min_descendants=2, to_group=False)
    check("pickle", result)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_termination_stops_the_children_and_removes_the_temp_folders(tmp_path, sig):
    # kill -TERM (a service manager, a batch scheduler) or a closed terminal (SIGHUP) must stop the
    # run as Ctrl-C does: before, the pickle child ran on as an orphan and its journal stayed in TMPDIR
    pytest.importorskip("numpy")
    result = interrupt(tmp_path, ["pickle", "--objects", "numpy", "--sizes", "64MB", "--methods", "dumps-p2"],
                       min_descendants=2, to_group=False, sig=sig)
    check("pickle", result, sig=sig)
