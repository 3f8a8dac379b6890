"""One small adapter per backend, all exposing the same operations.

An adapter wraps the Theano-style API of one library and one linker:
``shared(value, borrow)``, ``get_value(s, borrow, return_internal_type)``,
``set_value(s, value, borrow)``, ``internal(s)`` (the object the shared
variable holds), and compiled functions built with ``In``/``Out`` borrow flags.

Backends (``workloads.CPU_BACKENDS``, ``workloads.GPU_BACKENDS``):

* ``theano``: Theano 1.0.5 with its C/CVM linker (FAST_RUN). On numpy >= 1.22
  it fails at import unless ``THEANO_FLAGS`` holds ``blas.ldflags=``; the
  adapter adds that flag before importing Theano.
* ``pytensor-c``: PyTensor with the C/CVM linker.
* ``pytensor-numba``: PyTensor with the NUMBA linker (FAST_RUN's default from 3.0).
* ``pytensor-jax``: PyTensor's JAX mode on JAX's default device (the CPU here).
* GPU (``gpu.py``): ``pytensor-jax-gpu`` and ``cupy``.

A backend that cannot be loaded raises ``BackendMissing`` with the reason and
the install command. This module imports numpy lazily and is CPython 3.8
syntax: measurement children of other interpreters load it.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness.core.optional import INSTALL
from harness.errors import BackendMissing
from harness.topics.aliasing.workloads import CPU_BACKENDS, GPU_BACKENDS, cpu_limit, theano_env


def _missing(name: str, reason: str) -> BackendMissing:
    return BackendMissing(name, reason, INSTALL.get(name, ""))


# --------------------------------------------------------------------------
# Where an array's bytes live: for aliasing checks across numpy, JAX and CuPy


def _byte_bounds(a: Any) -> Tuple[int, int]:
    """[low, high) addresses spanned by a numpy array (any strides)."""
    ai = a.__array_interface__
    low = high = ai["data"][0]
    strides = ai["strides"] or _c_strides(a.shape, a.itemsize)
    if a.size == 0:
        return low, low
    for n, st in zip(a.shape, strides):
        ext = (n - 1) * st
        if ext < 0:
            low += ext
        else:
            high += ext
    return low, high + a.itemsize


def _c_strides(shape: Tuple[int, ...], itemsize: int) -> Tuple[int, ...]:
    out = []
    acc = itemsize
    for n in reversed(shape):
        out.append(acc)
        acc *= n
    return tuple(reversed(out))


def buffer_span(obj: Any) -> Optional[Tuple[str, int, int]]:
    """(memory space, low address, high address) of an array's buffer, or None.

    The space is "host" for numpy arrays and JAX CPU arrays, "cuda:N" for a
    CUDA device. Addresses in different spaces never overlap.
    """
    import numpy as np

    if isinstance(obj, np.ndarray):
        low, high = _byte_bounds(obj)
        return ("host", low, high)
    mod = type(obj).__module__ or ""
    if mod.startswith(("jax", "jaxlib")) and hasattr(obj, "unsafe_buffer_pointer"):
        try:
            ptr = int(obj.unsafe_buffer_pointer())
        except Exception:  # deleted or donated buffer
            return None
        dev = next(iter(obj.devices()))
        space = "host" if dev.platform == "cpu" else "%s:%d" % (dev.platform, dev.id)
        return (space, ptr, ptr + int(obj.nbytes))
    if mod.startswith("cupy"):
        ptr = int(obj.data.ptr)
        return ("cuda:%d" % obj.device.id, ptr, ptr + int(obj.nbytes))
    return None


def shares_memory(a: Any, b: Any) -> Optional[bool]:
    """Whether two arrays share bytes: exact for two numpy arrays, by address range otherwise.

    None when one of them is not an array whose buffer can be located.
    """
    import numpy as np

    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.shares_memory(a, b))
    sa, sb = buffer_span(a), buffer_span(b)
    if sa is None or sb is None:
        return None
    if sa[0] != sb[0]:
        return False
    return sa[1] < sb[2] and sb[1] < sa[2]


def type_name(obj: Any) -> str:
    t = type(obj)
    mod = (t.__module__ or "").split(".")[0]
    if mod == "jaxlib":
        mod = "jax"
    return "%s.%s" % (mod, "Array" if mod == "jax" else t.__name__) if mod != "builtins" else t.__name__


# --------------------------------------------------------------------------
# Adapters


class Backend:
    """The operations every backend exposes; subclasses fill them in."""

    name = "base"
    device = "cpu"
    # operations this backend can time: subset of workloads.OPERATIONS
    operations: Tuple[str, ...] = ("shared", "get_value", "set_value", "call", "update_pattern")
    has_nogc = False  # a linker variant that keeps output buffers between calls

    def versions(self) -> Dict[str, str]:
        import numpy as np

        return {"numpy": np.__version__}

    # shared variables
    def shared(self, value: Any, borrow: bool = False) -> Any:
        raise NotImplementedError

    def get_value(self, s: Any, borrow: bool = False, return_internal_type: bool = False) -> Any:
        return s.get_value(borrow=borrow, return_internal_type=return_internal_type)

    def set_value(self, s: Any, value: Any, borrow: bool = False) -> None:
        s.set_value(value, borrow=borrow)

    def internal(self, s: Any) -> Any:
        """The object the shared variable holds now (its storage cell)."""
        return s.container.storage[0]

    # compiled functions
    def function_identity(self, in_borrow: bool, out_borrow: bool, allow_gc: bool = True) -> Callable[[Any], Any]:
        raise NotImplementedError

    def function_double(self, out_borrow: bool, allow_gc: bool = True) -> Callable[[Any], Any]:
        raise NotImplementedError

    def function_return_shared(self, s: Any, out_borrow: bool) -> Callable[[], Any]:
        raise NotImplementedError

    def function_update(self, s: Any) -> Callable[[], Any]:
        raise NotImplementedError

    def timed_call(self, f: Callable[..., Any], x: Any) -> Callable[[], Any]:
        """``f(x)`` as a zero-argument callable that returns once the result is ready."""
        import functools

        return functools.partial(f, x)

    def limit_for(self, op: str, borrow: bool) -> Optional[str]:
        """The limit of the same kind an operation is compared with (on the CPU: the C++ limits of
        harness.core.limits), or None where it copies nothing (no GB/s, time per call only)."""
        return cpu_limit(op, borrow)

    def device_api(self) -> Any:
        """The device API (harness.topics.aliasing.gpu) whose transfer limits apply, or None on the CPU."""
        return None

    def to_host(self, x: Any) -> Any:
        """A numpy view or copy of a result, for checking values."""
        import numpy as np

        return np.asarray(x)

    def sync(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""


class TheanoLike(Backend):
    """Theano 1.0.5 or PyTensor, with one linker."""

    library = "theano"

    def __init__(self, name: str, library: str, mode: str, nogc_linker: Optional[str] = None) -> None:
        self.name = name
        self.library = library
        self.mode_name = mode
        self.nogc_linker = nogc_linker
        self.has_nogc = nogc_linker is not None
        if library == "theano":
            os.environ.update(theano_env())
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.lib = importlib.import_module(library)
                self.T = importlib.import_module(library + ".tensor")
        except Exception as exc:  # ImportError, or Theano's own failures on new numpy
            raise _missing(name, "import %s failed: %s: %s" % (library, type(exc).__name__, exc)) from None
        self.In = self.lib.In
        self.Out = self.lib.Out
        Mode = self.lib.compile.mode.Mode
        if mode in ("cvm", "cvm_nogc"):
            self._mode = Mode(linker=mode, optimizer="fast_run")
        else:
            self._mode = self.lib.compile.mode.get_mode(mode)
        self._nogc_mode = Mode(linker=nogc_linker, optimizer="fast_run") if nogc_linker else None
        self.linker = type(self._mode.linker).__name__
        self._check_linker()

    def _check_linker(self) -> None:
        """Compile a trivial graph now, so a broken linker is a skip, not a crash later."""
        try:
            x = self.T.dvector("x")
            self.lib.function([x], x + 1, mode=self._mode)
        except Exception as exc:
            raise _missing(self.name, "%s linker does not work: %s: %s" % (self.mode_name, type(exc).__name__, exc)) from None

    def versions(self) -> Dict[str, str]:
        out = super().versions()
        out[self.library] = getattr(self.lib, "__version__", "?")
        for extra in ("numba", "jax"):  # this backend's own (others may be loaded in the same process)
            if extra in self.name and extra in sys.modules:
                out[extra] = getattr(sys.modules[extra], "__version__", "?")
        out["linker"] = self.linker
        return out

    def shared(self, value: Any, borrow: bool = False) -> Any:
        return self.lib.shared(value, borrow=borrow)

    def _mode_for(self, allow_gc: bool) -> Any:
        if allow_gc or self._nogc_mode is None:
            return self._mode
        return self._nogc_mode

    def _compile(self, inputs: List[Any], outputs: Any, allow_gc: bool = True, updates: Any = None) -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.lib.function(inputs, outputs, mode=self._mode_for(allow_gc), updates=updates)

    def function_identity(self, in_borrow: bool, out_borrow: bool, allow_gc: bool = True) -> Any:
        x = self.T.dvector("x")
        return self._compile([self.In(x, borrow=in_borrow)], self.Out(x, borrow=out_borrow), allow_gc)

    def function_double(self, out_borrow: bool, allow_gc: bool = True) -> Any:
        x = self.T.dvector("x")
        return self._compile([self.In(x, borrow=True)], self.Out(x * 2, borrow=out_borrow), allow_gc)

    def function_return_shared(self, s: Any, out_borrow: bool) -> Any:
        return self._compile([], self.Out(s, borrow=out_borrow))

    def function_update(self, s: Any) -> Any:
        return self._compile([], [], updates=[(s, s + 1)])


class NumpyReference(Backend):
    """A dict-like holder with Theano's semantics done in plain numpy: the reference."""

    name = "numpy"

    class _Shared:
        def __init__(self, value: Any) -> None:
            self.container = type("Container", (), {})()
            self.container.storage = [value]

        def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
            v = self.container.storage[0]
            return v if borrow else v.copy()

        def set_value(self, value: Any, borrow: bool = False) -> None:
            import numpy as np

            self.container.storage[0] = value if borrow else np.array(value, copy=True)

    def shared(self, value: Any, borrow: bool = False) -> Any:
        import numpy as np

        return self._Shared(value if borrow else np.array(value, copy=True))

    def function_identity(self, in_borrow: bool, out_borrow: bool, allow_gc: bool = True) -> Any:
        import numpy as np

        if in_borrow and out_borrow:
            return lambda x: x
        return lambda x: np.array(x, copy=True)

    def function_double(self, out_borrow: bool, allow_gc: bool = True) -> Any:
        import numpy as np

        return lambda x: np.multiply(x, 2)

    def function_return_shared(self, s: Any, out_borrow: bool) -> Any:
        return (lambda: s.container.storage[0]) if out_borrow else (lambda: s.container.storage[0].copy())

    def function_update(self, s: Any) -> Any:
        def f() -> None:
            s.container.storage[0] = s.container.storage[0] + 1

        return f


def _pytensor_jax_mode(name: str, platform: str) -> "TheanoLike":
    try:
        import jax
    except Exception as exc:
        raise _missing(name, "import jax failed: %s" % exc) from None
    try:
        devices = jax.devices(platform)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # jax may raise with no message
        raise _missing(name, "JAX has no %r device: %s" % (platform, first)) from None
    if jax.default_backend() != platform:
        raise _missing(name, "JAX's default backend is %r, not %r (set JAX_PLATFORMS=%s)"
                       % (jax.default_backend(), platform, platform))
    b = PyTensorJax(name, "pytensor", "JAX")
    b.device = "cpu" if platform == "cpu" else "gpu"
    b.jax_device = devices[0]
    return b


class PyTensorJax(TheanoLike):
    """PyTensor's JAX mode: results are jax.Arrays, dispatched asynchronously."""

    jax_device: Any  # the jax.Device it runs on, set by _pytensor_jax_mode

    def timed_call(self, f: Callable[..., Any], x: Any) -> Callable[[], Any]:
        def call() -> Any:
            return f(x).block_until_ready()

        return call

    def to_host(self, x: Any) -> Any:
        import numpy as np

        return np.array(x, copy=True)

    @property
    def operations(self) -> Tuple[str, ...]:  # type: ignore[override]
        return Backend.operations + (("set_value_strided",) if self.device == "gpu" else ())

    def limit_for(self, op: str, borrow: bool) -> Optional[str]:
        # shared values stay on the host; a call uploads its input to the device, borrowed or not
        return "h2d pageable" if (self.device == "gpu" and op == "call") else cpu_limit(op, borrow)

    def device_api(self) -> Any:
        if self.device != "gpu":
            return None
        from harness.topics.aliasing.gpu import JaxAPI

        return JaxAPI(self.jax_device)


def load_backend(name: str) -> Backend:
    """The adapter for ``name``; BackendMissing (reason + install command) when it cannot run here."""
    if name == "numpy":
        return NumpyReference()
    if name == "theano":
        return TheanoLike("theano", "theano", "cvm", nogc_linker="cvm_nogc")
    if name == "pytensor-c":
        try:
            import pytensor
        except Exception as exc:
            raise _missing(name, "import pytensor failed: %s" % exc) from None
        if not pytensor.config.cxx:
            raise _missing(name, "no C++ compiler (pytensor.config.cxx is empty); install g++")
        return TheanoLike(name, "pytensor", "cvm", nogc_linker="cvm_nogc")
    if name == "pytensor-numba":
        try:
            import numba  # noqa: F401
        except Exception as exc:
            raise _missing(name, "import numba failed: %s" % exc) from None
        return TheanoLike(name, "pytensor", "NUMBA")
    if name == "pytensor-jax":
        return _pytensor_jax_mode(name, "cpu")
    if name == "pytensor-jax-gpu":
        return _pytensor_jax_mode(name, "cuda")
    if name == "cupy":
        from harness.topics.aliasing.gpu import CupyShared

        return CupyShared.load()
    raise _missing(name, "unknown backend (choose from: numpy, %s, %s)" % (", ".join(CPU_BACKENDS), ", ".join(GPU_BACKENDS)))
