"""Theano-style borrow vs copy: time per call, and for copies GB/s and the fraction of the C++ limit
of the same kind (memcpy into a warm buffer, or allocate-and-copy), per backend. A borrow copies
nothing: its track_gbps and fractions are NaN (asv shows n/a), its time is time_operation.

Parametrised by backend x operation x borrow x size. A backend missing from the
environment (Theano 1.0.5 and PyTensor live in different asv environments)
skips by raising NotImplementedError in setup. Every track_ figure comes from
harness.topics.aliasing's own measurement (the same code as `memharness aliasing`).
The GPU class takes a device parameter; with no CUDA device its "gpu" half skips.
"""
import os

from harness.core import limits
from harness.errors import BackendMissing
from harness.topics.aliasing import backends, conformance, measure, workloads

SIZES = [4_000, 1_000_000, 64_000_000]
# Operations x backends x borrow at 64 MB took ~8 minutes per environment, and every parameter set costs a
# process of its own (~0.5 s on 2 cores, a skip included): Operations tracks 1e6 elements (8 MB, what the
# kept results have at every commit; 4e3 and 16e6 until the whole suite was made affordable), CallRate
# the call overhead on a small array, Reference and Limits every size. `memharness aliasing` measures
# 4e3 ... 64e6 (and --large up to 512e6).
OPERATION_SIZES = [1_000_000]
OPERATIONS = ["shared", "get_value", "set_value", "call", "update_pattern"]
_LOADED = {}


def _backend(name):
    if name not in _LOADED:
        try:
            _LOADED[name] = backends.load_backend(name)
        except BackendMissing as exc:
            _LOADED[name] = exc
    b = _LOADED[name]
    if isinstance(b, Exception):
        raise NotImplementedError(str(b))
    return b


class Operations:
    """Each operation on the CPU, borrow=False (copy) vs borrow=True."""

    params = [list(workloads.CPU_BACKENDS), OPERATIONS, [False, True], OPERATION_SIZES]
    param_names = ["backend", "operation", "borrow", "size"]
    timeout = 300

    def setup(self, backend, operation, borrow, size):
        if backend == "pytensor-jax":
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        self.b = _backend(backend)
        self.src = measure.make_array(size)
        self.func = measure.prepare_op(self.b, operation, borrow, self.src)
        self.func()  # compilation and first touch out of the figures

    def time_operation(self, backend, operation, borrow, size):
        self.func()

    def track_gbps(self, backend, operation, borrow, size):
        return measure.measure_op(self.b, operation, borrow, size, src=self.src)["gbps"]

    track_gbps.unit = "GB/s"

    def track_fraction_of_limit(self, backend, operation, borrow, size):
        return limits.tracked(measure.measure_op(self.b, operation, borrow, size, src=self.src,
                                                 limit_gbps=_limit(self.b.limit_for(operation, borrow), size)))

    track_fraction_of_limit.unit = "ratio"


class CallRate:
    """Compiled-function calls per second on a small array (the call overhead)."""

    params = [list(workloads.CPU_BACKENDS), [False, True]]
    param_names = ["backend", "borrow"]
    timeout = 120

    def setup(self, backend, borrow):
        if backend == "pytensor-jax":
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        self.b = _backend(backend)

    def track_calls_per_second(self, backend, borrow):
        return measure.measure_op(self.b, "call", borrow, 4_000)["calls_per_s"]

    track_calls_per_second.unit = "calls/s"


def _limit(name, size):
    """GB/s of a C++ limit at one size (None for an operation that copies nothing)."""
    if name is None:
        return None
    return next(r["gbps"] for r in measure.measure_limits(max(size // 8, 1) * 8) if r["limit"] == name)


class Reference:
    """numpy: copy vs view, and numpy.copyto into an existing array (through a Python call: a copy
    of its kind, not a limit)."""

    params = [SIZES]
    param_names = ["size"]

    def setup(self, size):
        self.b = backends.NumpyReference()
        self.src = measure.make_array(size)

    def time_copy(self, size):
        self.src.copy()

    def track_copyto_gbps(self, size):
        return measure.measure_op(self.b, "copyto", False, size, src=self.src)["gbps"]

    track_copyto_gbps.unit = "GB/s"

    def track_copy_fraction_of_limit(self, size):
        return limits.tracked(measure.measure_op(self.b, "copy", False, size, src=self.src,
                                                 limit_gbps=_limit(limits.ALLOC_COPY, size)))

    track_copy_fraction_of_limit.unit = "ratio"

    def track_copyto_fraction_of_limit(self, size):
        return limits.tracked(measure.measure_op(self.b, "copyto", False, size, src=self.src,
                                                 limit_gbps=_limit(limits.MEMCPY_WARM, size)))

    track_copyto_fraction_of_limit.unit = "ratio"


class Limits:
    """The C++ copy limits (no Python call in the timed loop): GB/s of the fastest sample."""

    params = [list(limits.LIMITS), SIZES]
    param_names = ["limit", "size"]

    def setup(self, limit, size):
        reason = limits.unavailable()
        if reason:
            raise NotImplementedError(reason)

    def track_gbps(self, limit, size):
        return limits.measure(limit, size)["gbps"]

    track_gbps.unit = "GB/s"


class Conformance:
    """Cases where a backend breaks the aliasing tutorial's promise, and cases that alias."""

    params = [list(workloads.CPU_BACKENDS) + list(workloads.GPU_BACKENDS)]
    param_names = ["backend"]
    timeout = 300

    def setup(self, backend):
        if backend == "pytensor-jax":
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
        self.rows = conformance.run_cases(_backend(backend))

    def track_broken_promises(self, backend):
        return sum(1 for r in self.rows if r["conforms"] is False)

    track_broken_promises.unit = "cases"

    def track_aliasing_results(self, backend):
        return sum(1 for r in self.rows if r["shares_memory"])

    track_aliasing_results.unit = "cases"


class DeviceOperations:
    """On a device: each operation as a fraction of its transfer limit (H2D, D2H, D2D).

    device="cpu" runs PyTensor's JAX mode on JAX's CPU device (the comparison
    point); device="gpu" needs CUDA (first touched here, in setup: asv's forkserver
    never holds a CUDA context when it forks). Its GB/s
    (track_gbps, not read by any claim) is not tracked since the whole suite was cut
    to what the claims read: `memharness aliasing --device gpu` prints it.
    """

    params = [["cpu", "gpu"], ["pytensor-jax", "cupy"],
              ["shared", "get_value", "get_value_internal", "set_value", "call"], [False, True],
              [64_000_000]]  # 1e6 too until the whole suite was made affordable
    param_names = ["device", "backend", "operation", "borrow", "size"]
    timeout = 300

    def setup(self, device, backend, operation, borrow, size):
        if device == "cpu" and backend == "cupy":
            raise NotImplementedError("the CuPy model needs a CUDA device")
        name = backend if device == "cpu" else ("pytensor-jax-gpu" if backend == "pytensor-jax" else "cupy")
        if backend == "pytensor-jax":
            os.environ.setdefault("JAX_PLATFORMS", "cpu" if device == "cpu" else "cuda")
        self.b = _backend(name)
        if operation not in self.b.operations:
            raise NotImplementedError("%s has no operation %s" % (name, operation))
        self.src = measure.make_array(size)
        self.limits = {}
        api = self.b.device_api()
        if api is not None:
            from harness.topics.aliasing.gpu import measure_device_limits

            self.limits = measure_device_limits(api, [size])[0]

    def track_fraction_of_limit(self, device, backend, operation, borrow, size):
        lim_name = self.b.limit_for(operation, borrow)
        limit = self.limits.get(lim_name, {}).get(size)
        if limit is None:
            limit = _limit(lim_name, size)
        return limits.tracked(measure.measure_op(self.b, operation, borrow, size, src=self.src, limit_gbps=limit))

    track_fraction_of_limit.unit = "ratio"

