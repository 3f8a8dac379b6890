"""asv benchmarks of the C++ containers (``harness._containers``).

- time to build each container from the equivalent Python structure;
- C++ bytes per element, counted exactly by the counting allocator;
- bulk construction from a 64 MiB buffer (``from_buffer``) against
  ``numpy.copyto`` of the same buffer, and its bandwidth as a fraction of
  copyto's, measured within one call.
"""
from __future__ import annotations

import time

try:
    import numpy as np
except ImportError:  # keep the suite importable; setup() skips
    np = None

try:
    from harness import _containers as cpp
except ImportError:
    cpp = None

from harness.topics.containers.workloads import WORKLOADS, elements

from .common import require_cpp, require_numpy


def _require(numpy=False):
    require_cpp()
    if numpy:
        require_numpy()


# The data of the CLI's containers topic: each container is built from the data of the first
# workload of `memharness containers` that uses it (list_int for IntVector, set_int for
# IntHashSet, ...), so the two measure the same thing.
_WORKLOAD = {}
for _w in WORKLOADS.values():
    if not _w.reference:
        _WORKLOAD.setdefault(_w.cpp_class, _w)
KINDS = list(_WORKLOAD)


def _data(kind, n):
    return _WORKLOAD[kind].build_cpp_source(n)


def _elements(kind, n):
    return elements(_WORKLOAD[kind], n)


class Construct:
    """Build each container from its Python counterpart."""

    params = (KINDS, [100_000])
    param_names = ["container", "n"]

    def setup(self, kind, n):
        _require()
        self.cls = getattr(cpp, kind)
        self.data = _data(kind, n)
        self.obj = self.cls(self.data)  # for time_to_python

    def time_construct(self, kind, n):
        self.cls(self.data)

    def time_to_python(self, kind, n):
        self.obj.to_python()



class BytesPerElement:
    """C++ bytes per element: heap bytes of the container (exact) plus sizeof
    of the std:: container object. "requested" counts n * sizeof(T) per
    allocation; "allocated_nominal" counts glibc's exact-fit chunk, header included
    (deterministic; the real chunk can exceed it by the heap's history). Until commit
    af510bc it counted that chunk's usable size: 8 B less per allocation."""

    params = (KINDS, [1_000, 100_000], ["requested", "allocated_nominal"])
    param_names = ["container", "n", "bytes"]
    unit = "bytes"

    def setup(self, kind, n, which):
        _require()
        self.cls = getattr(cpp, kind)
        self.data = _data(kind, n)

    def track_cpp_bytes_per_element(self, kind, n, which):
        obj = self.cls(self.data)
        fp = obj.footprint()
        return (fp[which] + fp["sizeof"]) / _elements(kind, n)

    track_cpp_bytes_per_element.unit = "bytes"


class BulkCopy:
    """from_buffer (allocate + memcpy, GIL released) of a 64 MiB array against
    numpy.copyto into an existing array of the same size."""

    params = (["IntVector", "FloatVector"],)
    param_names = ["container"]
    nbytes = 64 * 2**20
    repeats = 7

    def setup(self, kind):
        _require(numpy=True)
        dtype = np.int64 if kind == "IntVector" else np.float64
        self.cls = getattr(cpp, kind)
        self.src = np.arange(self.nbytes // 8, dtype=dtype)
        self.dst = np.empty_like(self.src)
        np.copyto(self.dst, self.src)  # fault the destination's pages in before timing

    def time_from_buffer(self, kind):
        self.cls.from_buffer(self.src)

    def time_numpy_copyto(self, kind):
        np.copyto(self.dst, self.src)

    def track_from_buffer_fraction_of_copyto(self, kind):
        """Bandwidth of from_buffer / bandwidth of numpy.copyto, best of
        `repeats` each, interleaved in the same call (the issue asks >= 0.5)."""
        best_copy = best_build = float("inf")
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            np.copyto(self.dst, self.src)
            best_copy = min(best_copy, time.perf_counter() - t0)
            t0 = time.perf_counter()
            obj = self.cls.from_buffer(self.src)
            best_build = min(best_build, time.perf_counter() - t0)
            del obj  # freed outside the timed region
        return best_copy / best_build

    track_from_buffer_fraction_of_copyto.unit = "ratio"
