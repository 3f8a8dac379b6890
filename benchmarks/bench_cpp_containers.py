"""asv benchmarks of the C++ containers (``harness._containers``).

- time to build each container from the equivalent Python structure;
- C++ bytes per element, counted exactly by the counting allocator;
- the bulk path on a 64 MiB buffer, like against like: ``from_buffer``
  (allocates) against numpy's allocating copy and the C++ allocate-and-copy
  limit, ``copy_from_buffer`` (into an existing container) against
  ``numpy.copyto`` and the C++ memcpy-warm limit.
"""
from __future__ import annotations

try:
    import numpy as np
except ImportError:  # keep the suite importable; setup() skips
    np = None

try:
    from harness import _containers as cpp
except ImportError:
    cpp = None

from harness.core import limits
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
# one container of each shape for the times (a parameter set costs a process of its own, ~0.5 s)
TIMED_KINDS = [k for k in ("IntVector", "IntIntHashMap", "StrVector", "RecordVector") if k in KINDS]


def _data(kind, n):
    return _WORKLOAD[kind].build_cpp_source(n)


def _elements(kind, n):
    return elements(_WORKLOAD[kind], n)


class Construct:
    """Build each container from its Python counterpart."""

    params = (TIMED_KINDS, [100_000])
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

    params = (KINDS, [100_000], ["requested", "allocated_nominal"])  # n = 1000 too until the suite was cut
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
    """The bulk path on a 64 MiB array, like against like (harness.topics.containers.bulk):
    from_buffer (allocates) against numpy's allocating copy and the C++ alloc+copy limit;
    copy_from_buffer (into the existing container) against numpy.copyto and the C++ memcpy-warm
    limit. The fractions are GB/s over the limit of the same kind measured in the same process.
    (track_from_buffer_fraction_of_copyto, which set an allocating copy against one into a warm
    buffer, is gone: its history is of an unlike comparison.)"""

    params = (["IntVector", "FloatVector"],)
    param_names = ["container"]
    nbytes = 64 * 2**20
    timeout = 300

    def setup_cache(self):
        _require(numpy=True)
        from harness.topics.containers.bulk import bulk_copy

        return {kind: {r["operation"]: r for r in bulk_copy(kind, self.nbytes)["rows"]} for kind in self.params[0]}

    def setup(self, figures, kind):
        _require(numpy=True)
        from harness.topics.containers.bulk import operations

        self.ops = operations(kind, self.nbytes)

    def time_from_buffer(self, figures, kind):
        self.ops["from_buffer"]()

    def time_numpy_copy(self, figures, kind):
        self.ops["numpy copy"]()

    def time_copy_from_buffer(self, figures, kind):
        self.ops["copy_from_buffer"]()

    def time_numpy_copyto(self, figures, kind):
        self.ops["numpy.copyto"]()

    def track_from_buffer_fraction_of_alloc_copy(self, figures, kind):
        """from_buffer's GB/s over the C++ allocate-and-copy limit's."""
        return limits.tracked(figures[kind]["from_buffer"])

    track_from_buffer_fraction_of_alloc_copy.unit = "ratio"

    def track_from_buffer_vs_numpy_copy(self, figures, kind):
        """numpy's a.copy() time / from_buffer's (above 1: from_buffer is faster)."""
        return figures[kind]["from_buffer"]["vs_numpy"]

    track_from_buffer_vs_numpy_copy.unit = "ratio"

    def track_copy_from_buffer_fraction_of_memcpy(self, figures, kind):
        """copy_from_buffer's GB/s over the C++ memcpy-into-a-warm-buffer limit's."""
        return limits.tracked(figures[kind]["copy_from_buffer"])

    track_copy_from_buffer_fraction_of_memcpy.unit = "ratio"

    def track_copy_from_buffer_vs_numpy_copyto(self, figures, kind):
        """numpy.copyto's time / copy_from_buffer's (above 1: copy_from_buffer is faster)."""
        return figures[kind]["copy_from_buffer"]["vs_numpy"]

    track_copy_from_buffer_vs_numpy_copyto.unit = "ratio"
