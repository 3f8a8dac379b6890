"""pymalloc geometry and retention after frees, as track_ figures.

Run in an asv matrix over CPython versions, the arena and pool sizes step up at
3.10 (256 KiB -> 1 MiB arenas, 4 KiB -> 16 KiB pools), and the arenas retained
after each free pattern follow. Every figure comes from the allocator topic
(harness.topics.allocator), measured in fresh child processes of the interpreter asv runs.
Geometry's sizes are constants of the build (exact); what is found by probing or retained after a
free depends on the heap's state (the child's imports, ASLR) and moves by an arena or a pool between
runs of one commit: those units carry "(heap state)" or "(RSS)", which ``memharness compare`` gates by
noise (harness.resultset.figure_kind).
"""
from harness import runner
from harness.topics.allocator import TOPIC, Options, measure, workloads
from harness.topics.allocator.tables import retention_table

PATTERNS = list(workloads.PATTERNS)
N = 100_000
SIZE = 64


class Geometry:
    """Arena size, pool size, pool header, read from sys._debugmallocstats()."""

    timeout = 120

    def setup_cache(self):
        return measure.geometry()

    def setup(self, geo):
        if geo.get("allocator") != "pymalloc":
            raise NotImplementedError("pymalloc is not in use here (%s)" % geo.get("allocator"))

    def track_arena_size(self, geo):
        return geo["arena_size"]

    track_arena_size.unit = "bytes"

    def track_pool_size(self, geo):
        return geo["pool_size"]

    track_pool_size.unit = "bytes"

    def track_pool_header(self, geo):
        return geo["pool_header_size"]

    track_pool_header.unit = "bytes"

    def track_pools_per_arena_seen(self, geo):
        """Fresh pools found one after another in an arena, from block addresses."""
        return (geo.get("probe") or {}).get("pools_per_arena")

    track_pools_per_arena_seen.unit = "pools (heap state)"


def _missing(value):
    return value is None or value != value  # None or NaN


def _retention(allocators):
    steps = runner.measure(TOPIC, Options(allocators=allocators, sizes=[SIZE], patterns=PATTERNS, n=N)).rows["steps"]
    table = retention_table(steps)
    out = {}
    for row in table.to_dict(orient="records"):
        freed = steps[(steps["allocator"] == row["allocator"]) & (steps["pattern"] == row["pattern"])
                      & (steps["step"] == "freed")].iloc[0]
        row["held_freed"] = float(freed["held_delta"])
        row["rss_freed_bytes"] = float(freed["rss_delta"])
        out[(row["pattern"], row["allocator"])] = row
    return out


class Retention:
    """What pymalloc keeps after N 64-byte objects are freed in each pattern."""

    params = (PATTERNS,)
    param_names = ["pattern"]
    timeout = 300

    def setup_cache(self):
        return _retention(["pymalloc", "malloc"])

    def setup(self, rows, pattern):
        if (pattern, "pymalloc") not in rows or _missing(rows[(pattern, "pymalloc")]["arenas_start"]):
            raise NotImplementedError("pymalloc is not in use here")

    def track_arenas_retained(self, rows, pattern):
        """Arenas still in use after the free, above those in use at the start."""
        r = rows[(pattern, "pymalloc")]
        return r["arenas_freed"] - r["arenas_start"]

    track_arenas_retained.unit = "arenas (heap state)"

    def track_arena_bytes_retained(self, rows, pattern):
        return rows[(pattern, "pymalloc")]["held_freed"]

    track_arena_bytes_retained.unit = "bytes (heap state)"

    def track_rss_retained(self, rows, pattern):
        return rows[(pattern, "pymalloc")]["rss_freed_bytes"]

    track_rss_retained.unit = "bytes (RSS)"

    def track_rss_retained_malloc(self, rows, pattern):
        """The same under PYTHONMALLOC=malloc (glibc holds what it frees)."""
        if (pattern, "malloc") not in rows:
            raise NotImplementedError("no PYTHONMALLOC=malloc figures")
        return rows[(pattern, "malloc")]["rss_freed_bytes"]

    track_rss_retained_malloc.unit = "bytes (RSS)"

    def track_arenas_added_by_other_class(self, rows, pattern):
        """Arenas added when as many objects as were freed come back one size class larger."""
        r = rows[(pattern, "pymalloc")]
        return r["arenas_other"] - r["arenas_freed"]

    track_arenas_added_by_other_class.unit = "arenas (heap state)"


class RetainedPerLive:
    """Retained / live after the free: arena bytes above the start over bytes of live objects."""

    params = ([p for p in PATTERNS if p != "free_all"],)  # nothing lives after free_all
    param_names = ["pattern"]
    timeout = 300

    def setup_cache(self):
        return _retention(["pymalloc"])

    def setup(self, rows, pattern):
        if (pattern, "pymalloc") not in rows or _missing(rows[(pattern, "pymalloc")]["ratio"]):
            raise NotImplementedError("pymalloc is not in use here")

    def track_retained_live_ratio(self, rows, pattern):
        return rows[(pattern, "pymalloc")]["ratio"]

    track_retained_live_ratio.unit = "ratio"
