"""How long ``memharness report`` takes: the README's first command's cost, tracked per commit.

``track_seconds_current``: ``memharness report`` on the interpreter of the asv environment (each topic
as its claims need, every topic, the kept results of this checkout's results/ when they are there), wall-clock
seconds of the whole command, in a child process started in a private temporary folder. The
issue's target: at most 45 s on 2 idle cores.

``track_seconds_all``: ``memharness report --python all`` over the managed environments that are
ready (``memharness envs create all``); skipped (NotImplementedError, asv shows it as skipped) where
none is. Target: at most 5 minutes on 2 idle cores once the environments exist. It measures the
whole matrix, not the asv environment it runs in, and costs minutes: it runs only where
MEMHARNESS_BENCH_REPORT_ALL=1 is set (in one asv environment, not in each of the matrix's eight,
which would measure the same figure eight times and put the whole suite far past its 5 minutes).

Both are one run each (``repeat = 1``, ``number = 1``): a report is minutes of machine time, and
its seconds are the figure, not a statistic of many runs.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

OPT_IN = "MEMHARNESS_BENCH_REPORT_ALL"
RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")


def _report_seconds(*extra):
    tmp = tempfile.mkdtemp(prefix="memharness-bench-report-")
    try:
        cmd = [sys.executable, "-m", "harness", "report", "-q", "-o", os.path.join(tmp, "report.html")]
        if os.path.isdir(RESULTS):
            cmd += ["--results", RESULTS]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd + list(extra), cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=1800)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError("memharness report failed (%d): %s" % (proc.returncode, proc.stderr.decode()[-500:]))
        return seconds
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Report:
    timeout = 1800
    repeat = 1
    number = 1

    def setup(self):
        try:
            import harness.report  # noqa: F401
        except ImportError as exc:
            raise NotImplementedError("memharness is not importable here: %s" % exc) from None

    def track_seconds_current(self):
        return _report_seconds()

    track_seconds_current.unit = "seconds"


class ReportAll:
    timeout = 1800
    repeat = 1
    number = 1

    def setup(self):
        if os.environ.get(OPT_IN) != "1":
            raise NotImplementedError("the whole matrix's report is measured only where %s=1 is set "
                                      "(minutes of machine time; one asv environment is enough)" % OPT_IN)
        try:
            from harness import envs

            envs.resolve("all")
        except Exception as exc:  # HarnessError: no environment is ready; ImportError: no envs here
            raise NotImplementedError("no managed environment is ready: %s" % exc) from None

    def track_seconds_all(self):
        return _report_seconds("--python", "all")

    track_seconds_all.unit = "seconds"
