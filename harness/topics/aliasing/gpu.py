"""GPU: a CuPy model of a device-resident shared variable, and the transfer limits.

Theano's old GPU backend kept a shared variable's value on the device. The
model here (``DeviceShared``) does what its tutorial describes:

* constructor: upload (``borrow`` has no effect for a host value; a device
  value is kept with ``borrow=True``, copied on the device otherwise);
* ``get_value(borrow=False)`` and ``get_value(borrow=True)``: download into a
  fresh host ndarray;
* ``get_value(..., return_internal_type=True)``: the device array itself with
  ``borrow=True``, a device copy with ``borrow=False`` (no download);
* ``set_value(device_array, borrow=True)``: kept; ``borrow=False``: device copy;
* ``set_value(host_array)``: upload; a non-contiguous host array (or one of
  another dtype) needs an extra host copy first.

Every transfer and copy is counted in ``DeviceShared.counters``, so the
adapter's logic can be checked anywhere the device API runs: on a CUDA device
with CuPy (``CupyAPI``), or on JAX's CPU device (``JaxAPI``) in tests.

The limits, measured in the same run: host-to-device and device-to-host copy
bandwidth from pageable and from pinned host memory, and device-to-device.

Detection (``detect_cuda``) never raises: with no CUDA device everything GPU
is skipped with the reason. Child-side module: numpy and the device library
only, CPython 3.8 syntax.
"""
from __future__ import annotations

import functools
import os
import shutil
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from harness.core.optional import INSTALL
from harness.core.timing import time_call
from harness.topics.aliasing.backends import Backend, _missing

LIMITS = ("h2d pageable", "h2d pinned", "d2h pageable", "d2h pinned", "d2d")


# --------------------------------------------------------------------------
# Detection (the only place where the libraries' absence can be simulated)


def _import_cupy() -> Any:
    import cupy

    return cupy


def _import_jax() -> Any:
    import jax

    return jax


def _device_nodes() -> List[str]:
    try:
        return sorted(n for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    except OSError:
        return []


def no_device_reason() -> Optional[str]:
    """Why no CUDA device can be here, told without importing a library (no /dev/nvidia* node and no
    nvidia-smi), or None when one may be (``detect_cuda`` then says whether a library reaches it)."""
    if _device_nodes() or shutil.which("nvidia-smi"):
        return None
    return "no CUDA device: no /dev/nvidia* device node and no nvidia-smi on PATH"


def detect_cuda(check_jax: bool = True) -> Dict[str, Any]:
    """Which CUDA paths work here. Never raises.

    Returns {"available", "cupy", "jax" (each None or a device description),
    "reason" (why not, when something is missing), "nodes", "nvidia_smi"}.
    """
    reasons: List[str] = []
    info: Dict[str, Any] = {"cupy": None, "jax": None, "nodes": _device_nodes(),
                            "nvidia_smi": shutil.which("nvidia-smi")}
    try:
        cp = _import_cupy()
        n = int(cp.cuda.runtime.getDeviceCount())
        if n > 0:
            props = cp.cuda.runtime.getDeviceProperties(0)
            name = props.get("name", b"?")
            info["cupy"] = "%s (%d device%s)" % (name.decode() if isinstance(name, bytes) else name, n, "s" * (n > 1))
        else:
            reasons.append("CuPy sees no CUDA device")
    except ImportError:
        reasons.append("CuPy is not installed (%s)" % INSTALL["cupy"].split(" (")[0])
    except Exception as exc:
        reasons.append("CuPy cannot reach a CUDA device (%s)" % str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if check_jax:
        try:
            jax = _import_jax()
            devs = jax.devices("cuda")
            info["jax"] = "%s (%d device%s)" % (getattr(devs[0], "device_kind", "cuda"), len(devs), "s" * (len(devs) > 1))
        except ImportError:
            reasons.append("JAX is not installed (%s)" % INSTALL["pytensor-jax-gpu"].split(" (")[0])
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            reasons.append("JAX has no CUDA backend (%s; %s)" % (first, INSTALL["pytensor-jax-gpu"].split(" (")[0]))
    if not info["nodes"] and not info["nvidia_smi"]:
        reasons.append("no /dev/nvidia* device node and no nvidia-smi on PATH")
    info["available"] = bool(info["cupy"] or info["jax"])
    info["reason"] = "; ".join(reasons)
    return info


# --------------------------------------------------------------------------
# Device APIs: the few operations the model needs


class DeviceAPI:
    name = "device"
    space = "device"
    has_pinned = False

    def upload(self, host: Any) -> Any:
        raise NotImplementedError

    def download(self, dev: Any) -> Any:
        raise NotImplementedError

    def device_copy(self, dev: Any) -> Any:
        raise NotImplementedError

    def astype(self, dev: Any, dtype: Any) -> Any:
        raise NotImplementedError

    def is_device(self, x: Any) -> bool:
        raise NotImplementedError

    def sync(self) -> None:
        pass

    # limits: return zero-argument callables copying nbytes, state built here
    def limit_ops(self, nbytes: int) -> Dict[str, Callable[[], Any]]:
        raise NotImplementedError


class CupyAPI(DeviceAPI):
    """CuPy on the current CUDA device."""

    name = "cupy"
    has_pinned = True

    def __init__(self, cupy: Any = None) -> None:
        self.cp = cupy or _import_cupy()
        self.space = "cuda:%d" % self.cp.cuda.Device().id

    def upload(self, host: Any) -> Any:
        return self.cp.asarray(host)

    def download(self, dev: Any) -> Any:
        return self.cp.asnumpy(dev)

    def device_copy(self, dev: Any) -> Any:
        return dev.copy()

    def astype(self, dev: Any, dtype: Any) -> Any:
        return dev.astype(dtype)

    def is_device(self, x: Any) -> bool:
        return isinstance(x, self.cp.ndarray)

    def sync(self) -> None:
        self.cp.cuda.get_current_stream().synchronize()

    def limit_ops(self, nbytes: int) -> Dict[str, Callable[[], Any]]:
        import cupyx
        import numpy as np

        n = max(nbytes // 8, 1)
        host = np.ones(n)
        pinned = cupyx.empty_pinned((n,), dtype=np.float64)
        pinned[...] = 1.0
        dev = self.cp.ones(n)
        dev2 = self.cp.empty_like(dev)
        return {
            "h2d pageable": functools.partial(dev.set, host),
            "h2d pinned": functools.partial(dev.set, pinned),
            "d2h pageable": functools.partial(dev.get, out=host),
            "d2h pinned": functools.partial(dev.get, out=pinned),
            "d2d": functools.partial(self.cp.copyto, dev2, dev),
        }


class JaxAPI(DeviceAPI):
    """JAX on one device (its CPU device in tests, a CUDA device on a GPU machine)."""

    name = "jax"

    def __init__(self, device: Any = None, jax: Any = None) -> None:
        self.jax = jax or _import_jax()
        self.jax.config.update("jax_enable_x64", True)  # float64 stays float64, as in PyTensor's JAX mode
        self.device = device or self.jax.devices()[0]
        self.space = "host" if self.device.platform == "cpu" else "%s:%d" % (self.device.platform, self.device.id)

    def upload(self, host: Any) -> Any:
        if self.device.platform == "cpu":
            # JAX's CPU client adopts a 64-byte aligned numpy buffer instead of copying it
            # (measured with JAX 0.10, even with may_alias=False): a modelled transfer must copy.
            import numpy as np

            host = np.array(host, copy=True)
        out = self.jax.device_put(host, self.device)
        return out.block_until_ready()

    def download(self, dev: Any) -> Any:
        import numpy as np

        return np.array(dev, copy=True)  # np.asarray may be a read-only view of a CPU buffer

    def device_copy(self, dev: Any) -> Any:
        import jax.numpy as jnp

        return jnp.array(dev, copy=True).block_until_ready()

    def astype(self, dev: Any, dtype: Any) -> Any:
        return dev.astype(dtype).block_until_ready()

    def is_device(self, x: Any) -> bool:
        return isinstance(x, self.jax.Array)

    def limit_ops(self, nbytes: int) -> Dict[str, Callable[[], Any]]:
        import numpy as np

        n = max(nbytes // 8, 1)
        host = np.ones(n)
        dev = self.upload(host)
        return {
            "h2d pageable": functools.partial(self.upload, host),
            "d2h pageable": functools.partial(self.download, dev),
            "d2d": functools.partial(self.device_copy, dev),
        }


# --------------------------------------------------------------------------
# The model of a device-resident shared variable


class _Container:
    def __init__(self, value: Any) -> None:
        self.storage = [value]


class DeviceShared:
    """A shared variable whose value lives on a device (Theano's old GPU backend, modelled)."""

    def __init__(self, api: DeviceAPI, value: Any, borrow: bool = False) -> None:
        import numpy as np

        self.api = api
        self.counters = {"uploads": 0, "downloads": 0, "host_copies": 0, "device_copies": 0}
        self.dtype = np.dtype(value.dtype)
        self.container = _Container(None)
        self.container.storage[0] = self._filter(value, borrow)

    def _filter(self, value: Any, borrow: bool) -> Any:
        import numpy as np

        api, c = self.api, self.counters
        if api.is_device(value):
            if np.dtype(value.dtype) != self.dtype:
                c["device_copies"] += 1
                return api.astype(value, self.dtype)
            if borrow:
                return value
            c["device_copies"] += 1
            return api.device_copy(value)
        host = np.asarray(value)
        if host.dtype != self.dtype or not host.flags.c_contiguous:
            c["host_copies"] += 1  # the old GPU backend needed C-contiguous host data of its dtype
            host = np.ascontiguousarray(host, dtype=self.dtype)
        c["uploads"] += 1
        return api.upload(host)

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        dev = self.container.storage[0]
        if return_internal_type:
            if borrow:
                return dev
            self.counters["device_copies"] += 1
            return self.api.device_copy(dev)
        self.counters["downloads"] += 1
        return self.api.download(dev)

    def set_value(self, value: Any, borrow: bool = False) -> None:
        self.container.storage[0] = self._filter(value, borrow)


class CupyShared(Backend):
    """Adapter: the device-resident model on CuPy (or on any DeviceAPI)."""

    name = "cupy"
    device = "gpu"
    operations = ("shared", "get_value", "get_value_internal", "set_value", "set_value_strided", "update_pattern")

    def __init__(self, api: DeviceAPI, name: str = "cupy") -> None:
        self.api = api
        self.name = name
        self.device = "cpu" if api.space == "host" else "gpu"

    @classmethod
    def load(cls) -> "CupyShared":
        info = detect_cuda(check_jax=False)
        if not info["cupy"]:
            raise _missing("cupy", info["reason"] or "no CUDA device")
        return cls(CupyAPI())

    def versions(self) -> Dict[str, str]:
        out = super().versions()
        mod = getattr(self.api, "cp", None) or getattr(self.api, "jax", None)
        out[self.api.name] = getattr(mod, "__version__", "?")
        return out

    def shared(self, value: Any, borrow: bool = False) -> Any:
        return DeviceShared(self.api, value, borrow)

    def sync(self) -> None:
        self.api.sync()

    def to_host(self, x: Any) -> Any:
        return self.api.download(x) if self.api.is_device(x) else x

    def limit_for(self, op: str, borrow: bool) -> Optional[str]:
        """Host values are uploaded and get_value() downloads, borrowed or not (the model's rules);
        the internal device array is copied on the device unless borrowed; the update pattern
        downloads and uploads (no single limit: time per call only)."""
        if op in ("shared", "set_value", "set_value_strided"):
            return "h2d pageable"
        if op == "get_value":
            return "d2h pageable"
        if op == "get_value_internal":
            return None if borrow else "d2d"
        return None

    def device_api(self) -> DeviceAPI:
        return self.api


def measure_device_limits(api: DeviceAPI, sizes: Sequence[int], repeat: int = 5,
                          min_time: float = 0.01) -> Tuple[Dict[str, Dict[int, float]], List[Dict[str, Any]]]:
    """Transfer bandwidths at each size: ({limit: {nbytes: GB/s}}, rows)."""
    by_limit: Dict[str, Dict[int, float]] = {}
    rows: List[Dict[str, Any]] = []
    for nbytes in sizes:
        ops = api.limit_ops(nbytes)
        for lim, func in ops.items():
            def synced(func: Callable[[], Any] = func) -> None:
                func()
                api.sync()

            synced()
            t = time_call(synced, repeat=repeat, min_time=min_time)
            nb = max(nbytes // 8, 1) * 8
            gbps = nb / t["min"] / 1e9  # a limit: the fastest sample (see measure.measure_limit)
            by_limit.setdefault(lim, {})[nbytes] = gbps
            rows.append({"limit": lim, "device": api.space, "bytes": nb, "median_s": t["median"],
                         "min_s": t["min"], "iqr_s": t["iqr"], "gbps": gbps, "values": t["values"],
                         "number": t["number"], "warmups": t["warmups"]})
        del ops
    return by_limit, rows
