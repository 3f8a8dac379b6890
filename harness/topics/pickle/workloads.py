"""The objects the pickle topic serialises, built to a payload size in bytes.

Each object is described by an ``ObjectSpec``: how to build it for a payload
of about ``size`` bytes, how many payload bytes it really holds, and how to
tell that a loaded copy equals the original (checked in every run).

Payload: the information itself (8 bytes per int64 or float64, the UTF-8
length of a string; a cache that can be rebuilt is not payload).

Standard library only at import time (numpy, the C++ extension, PyTensor and
Theano are imported when an object that needs them is built), CPython 3.8
syntax: measurement children of other interpreters import this module.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness.core.optional import INSTALL
from harness.errors import BackendMissing, HarnessError

PRIME = 1_000_000_007  # ints below 2**30 (one 30-bit digit), beyond the small-int cache
STR_LEN = 16  # characters of each list[str] / StrVector string (ASCII: 1 byte each)
NAME_LEN = 8  # characters of each record's name
MATRIX_COLS = 16
THEANO_FLAGS_DEFAULT = "blas.ldflags="


# --------------------------------------------------------------------------
# Deterministic data


def int_value(i: int) -> int:
    return (i * 7919) % PRIME + 1000


def float_value(i: int) -> float:
    return i * 0.5 + 0.25


def str_value(i: int) -> str:
    return "s%0*d" % (STR_LEN - 1, i)


def name_value(i: int) -> str:
    return "n%0*d" % (NAME_LEN - 1, i % 10 ** (NAME_LEN - 1))


def record_value(i: int) -> Tuple[int, float, float, str]:
    return (i, float_value(i), i * 0.25, name_value(i))


# --------------------------------------------------------------------------
# A class with a large, rebuildable cache, in three flavours


def build_cache(data: List[float]) -> Dict[float, int]:
    """The derived structure: a value -> position index over ``data``."""
    return {x: i for i, x in enumerate(data)}


class _DataAndCache:
    """Equality of the cached models: same class, same data, same cache (a round trip must rebuild it)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.data == other.data  # type: ignore[attr-defined]
                and self.cache == other.cache)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class CachedModel(_DataAndCache):
    """Data plus a large derived cache; pickled the default way (both go in)."""

    def __init__(self, data: List[float]) -> None:
        self.data = data
        self.cache = build_cache(data)


class CachedModelGetstate(CachedModel):
    """The same, but ``__getstate__`` drops the cache and ``__setstate__`` rebuilds it."""

    def __getstate__(self) -> Dict[str, Any]:
        return {"data": self.data}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.data = state["data"]
        self.cache = build_cache(self.data)


class CachedModelDictcopy(CachedModel):
    """The same, with the seed's way: ``__getstate__`` passes the whole ``__dict__`` less the cache."""

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        del state["cache"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.cache = build_cache(self.data)


class CachedModelDictcopySub(CachedModelDictcopy):
    """A subclass that adds a derived attribute of its own (the data ranked): the base class's
    ``__getstate__`` does not know of it, so it goes into every pickle with the data."""

    def __init__(self, data: List[float]) -> None:
        super().__init__(data)
        self.ranked = sorted(data)

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.ranked == other.ranked  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class CachedModelSlots(_DataAndCache):
    """The same data and cache in ``__slots__`` (no instance ``__dict__``), pickled the default way."""

    __slots__ = ("data", "cache")

    def __init__(self, data: List[float]) -> None:
        self.data = data
        self.cache = build_cache(data)


# --------------------------------------------------------------------------
# Object specifications


class ObjectSpec:
    """How to build one kind of object for a payload size, and compare copies of it."""

    def __init__(
        self,
        name: str,
        family: str,
        per_item: int,
        build_items: Callable[[int], Any],
        description: str,
        *,
        equal: Optional[Callable[[Any, Any], bool]] = None,
        has_arrays: bool = False,
        is_ndarray: bool = False,
        mem_factor: float = 16.0,
        backend: Optional[str] = None,
    ) -> None:
        self.name = name
        self.family = family  # python | class | numpy | cpp | pytensor | theano
        self.per_item = per_item  # payload bytes per item
        self._build_items = build_items  # n items -> object
        self.description = description
        self._equal = equal
        self.has_arrays = has_arrays  # holds numpy arrays (out-of-band / npy entries matter)
        self.is_ndarray = is_ndarray  # is a plain numpy.ndarray (numpy.save applies)
        self.mem_factor = mem_factor  # peak memory of a measurement / payload, generous (memory guard)
        self.backend = backend  # module that must be importable, if any

    def items(self, size: int) -> int:
        return max(1, int(size) // self.per_item)

    def payload(self, size: int) -> int:
        return self.items(size) * self.per_item

    def build(self, size: int) -> Any:
        """The object for a payload of about ``size`` bytes (BackendMissing if it cannot be built here)."""
        return self._build_items(self.items(size))

    def equal(self, a: Any, b: Any) -> bool:
        if self._equal is not None:
            return bool(self._equal(a, b))
        return type(a) is type(b) and bool(a == b)

    def __repr__(self) -> str:
        return "ObjectSpec(%r)" % self.name


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise BackendMissing("numpy", "not installed in %s" % sys.executable, INSTALL["numpy"]) from None
    return numpy


def _float_array(n: int) -> Any:
    np = _numpy()
    return np.random.default_rng(20240607).random(n)  # incompressible, like real measurements


def _arrays_equal(a: Any, b: Any) -> bool:
    np = _numpy()
    return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
            and bool(np.array_equal(a, b)))


# C++ containers: class name -> (payload bytes per item, Python counterpart builder)
CPP_CONTAINERS: Dict[str, Tuple[int, Callable[[int], Any], str]] = {
    "IntVector": (8, lambda n: [int_value(i) for i in range(n)], "std::vector<int64_t>"),
    "FloatVector": (8, lambda n: [float_value(i) for i in range(n)], "std::vector<double>"),
    "IntIntHashMap": (16, lambda n: {int_value(i): i for i in range(n)}, "std::unordered_map<int64_t,int64_t>"),
    "IntIntTreeMap": (16, lambda n: {int_value(i): i for i in range(n)}, "std::map<int64_t,int64_t>"),
    "IntHashSet": (8, lambda n: {int_value(i) for i in range(n)}, "std::unordered_set<int64_t>"),
    "StrVector": (STR_LEN, lambda n: [str_value(i) for i in range(n)], "std::vector<std::string>"),
    "StrIntHashMap": (STR_LEN + 8, lambda n: {str_value(i): i for i in range(n)},
                      "std::unordered_map<std::string,int64_t>"),
    "RecordVector": (24 + NAME_LEN, lambda n: [record_value(i) for i in range(n)],
                     "std::vector<Record{int64,double,double,string}>"),
    "FloatMatrix": (8 * MATRIX_COLS,
                    lambda n: [[float_value(r * MATRIX_COLS + c) for c in range(MATRIX_COLS)] for r in range(n)],
                    "std::vector<std::vector<double>> (rows of %d)" % MATRIX_COLS),
}


def cpp_class(name: str) -> Any:
    """The class ``name`` of ``harness._containers``, or BackendMissing."""
    try:
        module = importlib.import_module("harness._containers")
    except ImportError as exc:
        raise BackendMissing("harness._containers", "not built (%s)" % exc, INSTALL["cpp"]) from None
    cls = getattr(module, name, None)
    if cls is None:
        raise BackendMissing("harness._containers.%s" % name, "not in this build of the extension", INSTALL["cpp"])
    return cls


def _cpp_builder(name: str) -> Callable[[int], Any]:
    source = CPP_CONTAINERS[name][1]

    def build(n: int) -> Any:
        cls = cpp_class(name)
        return cls(source(n))

    return build


# --------------------------------------------------------------------------
# PyTensor / Theano objects (where installed)

_FRAMEWORK_INSTALL = {"pytensor": "pytensor", "theano": "theano-objects"}  # keys of core.optional.INSTALL


def framework(name: str) -> Any:
    """Import PyTensor or Theano, or raise BackendMissing with the reason and the install command."""
    if importlib.util.find_spec(name) is None:
        raise BackendMissing(name, "not installed in %s" % sys.executable, INSTALL[_FRAMEWORK_INSTALL[name]])
    if name == "theano":
        os.environ.setdefault("THEANO_FLAGS", THEANO_FLAGS_DEFAULT)
    try:
        return importlib.import_module(name)
    except Exception as exc:  # an old Theano fails at import in many ways
        raise BackendMissing(name, "import failed: %s: %s" % (type(exc).__name__, exc),
                             INSTALL[_FRAMEWORK_INSTALL[name]]) from None


def _shared_builder(fw: str) -> Callable[[int], Any]:
    def build(n: int) -> Any:
        lib = framework(fw)
        return lib.shared(_float_array(n), name="w")

    return build


def _shared_equal(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a.name == b.name
            and _arrays_equal(a.get_value(borrow=True), b.get_value(borrow=True)))


def _function_builder(fw: str) -> Callable[[int], Any]:
    def build(n: int) -> Any:
        lib = framework(fw)
        tensor = importlib.import_module("pytensor.tensor" if fw == "pytensor" else "theano.tensor")
        x = tensor.dvector("x")
        w = lib.shared(_float_array(n), name="w")
        # FAST_COMPILE: a C/Python linker that pickles on every version (no JIT backend)
        return lib.function([x], x * w + 1.0, mode="FAST_COMPILE")

    return build


def _function_equal(a: Any, b: Any) -> bool:
    """Two compiled functions are equal when they give the same output on the same input."""
    np = _numpy()
    if type(a) is not type(b):
        return False
    n = a.get_shared()[0].get_value(borrow=True).shape[0]
    x = np.linspace(-1.0, 1.0, n)
    return bool(np.array_equal(a(x), b(x)))


# --------------------------------------------------------------------------
# The registry

_SPECS: List[ObjectSpec] = [
    ObjectSpec("list-int", "python", 8, lambda n: [int_value(i) for i in range(n)],
               "list of ints below 2**30 (payload 8 B each)", mem_factor=24),
    ObjectSpec("dict-int-list", "python", 40, lambda n: {int_value(i): [i, i + 1, i + 2, i + 3] for i in range(n)},
               "dict int -> list of 4 ints (payload 40 B an entry)", mem_factor=24),
    ObjectSpec("list-str", "python", STR_LEN, lambda n: [str_value(i) for i in range(n)],
               "list of %d-character ASCII str (payload %d B each)" % (STR_LEN, STR_LEN), mem_factor=24),
    ObjectSpec("numpy", "numpy", 8, _float_array, "numpy float64 array (random values)",
               equal=_arrays_equal, has_arrays=True, is_ndarray=True, mem_factor=6, backend="numpy"),
    ObjectSpec("cached-default", "class", 8, lambda n: CachedModel([float_value(i) for i in range(n)]),
               "object: list of floats + a dict cache over it, pickled the default way", mem_factor=40),
    ObjectSpec("cached-getstate", "class", 8, lambda n: CachedModelGetstate([float_value(i) for i in range(n)]),
               "the same with __getstate__/__setstate__ that drop and rebuild the cache", mem_factor=40),
    ObjectSpec("cached-dictcopy", "state", 8, lambda n: CachedModelDictcopy([float_value(i) for i in range(n)]),
               "the same with __getstate__ = the whole __dict__ less the cache entry", mem_factor=40),
    ObjectSpec("cached-dictcopy-sub", "state", 8,
               lambda n: CachedModelDictcopySub([float_value(i) for i in range(n)]),
               "a subclass of cached-dictcopy that adds a derived attribute (the data ranked)", mem_factor=48),
    ObjectSpec("cached-slots", "class", 8, lambda n: CachedModelSlots([float_value(i) for i in range(n)]),
               "the same data and cache in __slots__, pickled the default way", mem_factor=40),
]
for _name, (_per, _src, _what) in CPP_CONTAINERS.items():
    _SPECS.append(ObjectSpec(_name, "cpp", _per, _cpp_builder(_name),
                             "harness._containers.%s (%s), compact binary __getstate__" % (_name, _what),
                             mem_factor=24, backend="harness._containers"))
_FW_NAMES = {"pytensor": "PyTensor", "theano": "Theano"}
for _fw in ("pytensor", "theano"):
    _SPECS.append(ObjectSpec("%s-shared" % _fw, _fw, 8, _shared_builder(_fw),
                             "%s shared variable holding a float64 array" % _FW_NAMES[_fw],
                             equal=_shared_equal, has_arrays=True, mem_factor=8, backend=_fw))
    _SPECS.append(ObjectSpec("%s-function" % _fw, _fw, 8, _function_builder(_fw),
                             "%s compiled function x * w + 1 (w: shared float64 array)" % _FW_NAMES[_fw],
                             equal=_function_equal, has_arrays=True, mem_factor=12, backend=_fw))

OBJECTS: Dict[str, ObjectSpec] = {s.name: s for s in _SPECS}


def get_object(name: str) -> ObjectSpec:
    try:
        return OBJECTS[name]
    except KeyError:
        raise HarnessError("unknown object %r (choose from: %s)" % (name, ", ".join(OBJECTS))) from None


def build_object(name: str, size: int) -> Any:
    """Public helper: the object ``name`` for a payload of about ``size`` bytes."""
    return get_object(name).build(size)
