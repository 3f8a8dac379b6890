"""The asv suites, read as asv's discovery reads them (no benchmark is run): the figures the topics' asv
readers and claims use exist under their kept names, the whole suite stays affordable in processes, and
the counts that are not deterministic say so in their unit (what ``memharness compare`` gates by)."""
import importlib
import inspect
import math

import pytest

from harness.resultset import figure_kind
from harness.topics.allocator import ASV_GEOMETRY
from harness.topics.containers import SUITE as CONTAINERS
from harness.topics.containers import TRACKED
from harness.topics.pickle.cases import ASV_CLASS as PICKLE

SUITES = ["bench_aliasing", "bench_allocator", "bench_containers", "bench_cpp_containers", "bench_footprint",
          "bench_pickle"]
# asv starts one process per parameter set of each benchmark (about 0.5 s on 2 cores, a skip included), and
# `asv run --quick` of the whole suite is to take at most 5 minutes on 2 cores: the processes are its cost
PROCESSES = 500  # 464 when the suites were cut (README, "Running the matrix")


def benchmarks():
    """{name: (class, method)} of every benchmark asv would find (time_, track_, mem_, peakmem_ methods)."""
    found = {}
    for suite in SUITES:
        module = importlib.import_module("benchmarks." + suite)
        for cname, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for mname, func in inspect.getmembers(cls, inspect.isfunction):
                if mname.startswith(("time_", "track_", "mem_", "peakmem_")):
                    found["%s.%s.%s" % (suite, cname, mname)] = (cls, func)
    return found


def parameter_sets(cls):
    params = getattr(cls, "params", None)
    if not params:
        return 1
    if not isinstance(params[0], (list, tuple)):  # one parameter given as a flat list
        return len(params)
    return math.prod(len(p) for p in params)


def test_the_figures_the_topics_read_are_tracked():
    names = benchmarks()
    read = ([CONTAINERS + m for m in TRACKED if TRACKED[m] == "ratio_alloc"] + list(ASV_GEOMETRY)
            + [PICKLE + m for m in ("track_pickled_bytes", "track_dump_peak", "track_load_peak")]
            + ["bench_aliasing.Operations.time_operation", "bench_pickle.PickleTime.time_dump",
               "bench_aliasing.Operations.track_gbps"])
    assert [n for n in read if n not in names] == []


def test_the_claims_cases_are_in_the_grids():
    from benchmarks import bench_aliasing, bench_containers, bench_pickle

    assert {"list-int", "numpy", "cached-default", "cached-getstate"} <= set(bench_pickle.OBJECTS)
    assert {"dumps-p4", "dumps-p5", "dump-p5", "oob-p5"} <= set(bench_pickle.METHODS)  # default, highest, file, oob
    assert max(bench_containers.SIZES) == 100_000  # the containers claims read the largest n
    assert set(bench_containers.WORKLOADS) == set(bench_containers.workloads.WORKLOADS)
    assert 1_000_000 in bench_aliasing.OPERATION_SIZES  # what the kept results have at every commit


def test_the_whole_suite_starts_few_enough_processes():
    per_suite = {}
    for name, (cls, _) in benchmarks().items():
        per_suite[name.split(".")[0]] = per_suite.get(name.split(".")[0], 0) + parameter_sets(cls)
    assert sum(per_suite.values()) <= PROCESSES, per_suite


@pytest.mark.parametrize("name, kind", [
    ("bench_allocator.Geometry.track_arena_size", "exact"),
    ("bench_allocator.Geometry.track_pool_size", "exact"),
    ("bench_allocator.Geometry.track_pools_per_arena_seen", "other"),  # 63 vs 64 between runs
    ("bench_allocator.Retention.track_rss_retained", "other"),
    ("bench_allocator.Retention.track_rss_retained_malloc", "other"),
    ("bench_allocator.Retention.track_arena_bytes_retained", "other"),  # free_all: 0 B vs 1.05 MB
    ("bench_allocator.Retention.track_arenas_retained", "other"),
    ("bench_pickle.PickleMemory.track_dump_peak", "other"),
    ("bench_pickle.PickleMemory.track_pickled_bytes", "exact"),
    ("bench_containers.BytesPerElement.track_cpp_allocated", "exact"),
    ("bench_cpp_containers.BytesPerElement.track_cpp_bytes_per_element", "exact"),
])
def test_counts_from_the_heap_state_or_rss_are_gated_by_noise(name, kind):
    _, func = benchmarks()[name]
    assert figure_kind({"type": "track", "unit": getattr(func, "unit", "unit")}) == kind


def test_the_suites_import_no_backend_and_start_no_thread_for_asvs_forkserver(tmp_path):
    """asv.conf.json's launch_method is forkserver: one process imports every suite, then forks once per
    benchmark (about 0.5 s saved a parameter set against spawn: the whole suite ran in 64 s instead of
    161 s here). That is safe only while importing the suites starts no thread and initialises no
    CUDA: no backend (JAX, CuPy, PyTensor, Theano, numba) may be imported before a benchmark's setup."""
    import os
    import subprocess
    import sys

    from conftest import asv_conf

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert asv_conf()["launch_method"] == "forkserver"
    code = ("import sys, threading, importlib; sys.path.insert(0, %r)\n"
            "for s in %r: importlib.import_module('benchmarks.' + s)\n"
            "print(sorted(m for m in ('jax', 'cupy', 'pytensor', 'theano', 'numba', 'torch') if m in sys.modules))\n"
            "print(threading.active_count())" % (root, SUITES + ["bench_report"]))
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True, text=True, check=True)
    backends, threads = out.stdout.split("\n")[:2]
    assert backends == "[]"
    assert threads == "1"
