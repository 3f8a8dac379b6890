"""Measure your own code: what ``harness.api.footprint`` costs around a statement.

Each statement is built in a fresh child process (interpreter start, the harness's child bootstrap,
the allocator readings before and after, the RSS peak): that fixed cost per statement is what a user
pays on top of their own build. The target is under 0.5 s per statement on 2 cores; a trivial
statement (``0``) measures the overhead alone.
"""
import time

from harness import api


class FootprintOverhead:
    timeout = 300
    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0

    def setup(self):
        # one untimed call first: the timed one then pays what every statement pays (a fresh child,
        # the readings), not this process's first imports of pandas and the footprint modules
        # (with --quick, asv takes one sample and no warmup: 0.86 s cold against 0.27 s warm here)
        api.footprint(["0"])

    def time_one_trivial_statement(self):
        api.footprint(["0"])

    def track_seconds_per_statement(self):
        """Wall seconds per statement over four trivial statements in one call."""
        t0 = time.perf_counter()
        api.footprint(["0", "1", "2", "3"])
        return (time.perf_counter() - t0) / 4

    track_seconds_per_statement.unit = "seconds"
