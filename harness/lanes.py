"""Two phases for a long run: what times something alone, then the rest two at a time.

A timing is only fair on a quiet machine. On this project's 2-core machine, work on the other core
(the containers and allocator topics of other environments, even in the idle scheduling class,
which gives the core back whenever a timed process wants it) made aliasing's times 24% slower
and pickle's 21% (medians over their figures), against 2.6% and 8.5% between two quiet runs
(``scripts/lane_noise.py``; README, "Nothing beside a timing"). So the jobs whose figures include a
time run first, one at a time, in the calling thread, with nothing else running. A byte count
does not depend on what else runs (the allocator hands out the same blocks however fast it goes),
and neither do tables and plots: those jobs run after, two at once, the measuring ones in the
calling thread and the rendering ones (what each job hands on, by returning it) in another.

Ctrl-C, SIGTERM or an error stops both: the measuring thread's children are stopped as
``harness.core.children.run_child`` stops them, the rendering thread (which starts none) is told to
stop and joined, and the exception goes on.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Optional, Sequence

Job = Callable[[], None]
MeasureJob = Callable[[], Optional[Job]]  # may return a job that renders what it measured


class _Renderer(threading.Thread):
    """Runs the jobs put in ``jobs`` one at a time until it gets None."""

    def __init__(self) -> None:
        super().__init__(name="memharness-render", daemon=True)
        self.jobs: "queue.Queue[Optional[Job]]" = queue.Queue()
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                job = self.jobs.get()
                if job is None:
                    return
                job()
        except BaseException as exc:  # handed to the calling thread, which raises it
            self.error = exc


def run(timed: Sequence[MeasureJob], untimed: Sequence[MeasureJob]) -> None:
    """Run ``timed`` one after another with nothing beside them; then ``untimed`` one after another
    in this thread while another renders what every job handed on (see the module's docstring).
    An exception in a job stops both and is raised here."""
    renderer = _Renderer()
    held = [job() for job in timed]  # nothing else runs: not even a plot
    for follow in held:
        if follow is not None:
            renderer.jobs.put(follow)
    renderer.start()
    try:
        for job in untimed:
            if renderer.error is not None:
                break
            follow = job()
            if follow is not None:
                renderer.jobs.put(follow)
        renderer.jobs.put(None)
        _join(renderer)
    except BaseException:  # this thread's children are stopped already (run_child); the renderer starts none
        renderer.stop.set()
        renderer.jobs.put(None)
        _join(renderer)
        raise
    if renderer.error is not None:
        raise renderer.error


def _join(thread: threading.Thread) -> None:
    """Wait for the thread, waking often enough that Ctrl-C and SIGTERM reach this one."""
    while thread.is_alive():
        thread.join(0.2)
