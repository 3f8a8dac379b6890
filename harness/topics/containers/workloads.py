"""The containers topic's workloads: a Python structure as a user would build it and the C++
container of ``harness._containers`` holding the same values, from the same deterministic data;
and the walks the timing suites share (iterate, lookup)."""
from __future__ import annotations

import array
import sys
from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from harness.errors import HarnessError

DEFAULT_SIZES = (1000, 100_000)
FULL_SIZES = (1000, 10_000, 100_000, 1_000_000, 10_000_000)
PRIME = 1_000_000_007  # ints below 2**30: one 30-bit digit each, beyond the small-int cache
MATRIX_COLS = 16


# --------------------------------------------------------------------------
# Deterministic data, the same for both sides


def int_value(i: int) -> int:
    return (i * 7919) % PRIME + 1000


def float_value(i: int) -> float:
    return i * 0.5 + 0.25


def short_str(i: int) -> str:
    return "k%07d" % i  # 8 characters: inside std::string's 15-character SSO buffer


def long_str(i: int) -> str:
    return "%010d-the-quick-brown-fox-jumps-over-the-lazy-dog" % i  # 54 characters


Point = namedtuple("Point", "id x y name")


class PlainRecord:
    def __init__(self, id: int, x: float, y: float, name: str) -> None:
        self.id = id
        self.x = x
        self.y = y
        self.name = name


class SlotsRecord:
    __slots__ = ("id", "x", "y", "name")

    def __init__(self, id: int, x: float, y: float, name: str) -> None:
        self.id = id
        self.x = x
        self.y = y
        self.name = name


if sys.version_info >= (3, 10):
    @dataclass(slots=True)
    class DataRecord:
        id: int
        x: float
        y: float
        name: str
else:  # pragma: no cover - workload skipped before 3.10
    DataRecord = None


def record_fields(i: int):
    return (i, float_value(i), i * 0.25, short_str(i))


def record_payload(n: int) -> int:
    return sum(24 + len(short_str(i)) for i in range(n))


# --------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True)
class Workload:
    """A Python structure and its C++ equivalent, built from the same data."""

    name: str  # a key for the command line: letters, digits, underscores
    cpp_class: str  # class in harness._containers
    build_python: Callable[[int], Any]
    build_cpp_source: Callable[[int], Any]  # the data handed to the C++ constructor
    payload: Callable[[int], int]
    description: str
    kind: str = "sequence"  # sequence | mapping | set: how iterate/lookup work
    reference: bool = False  # a compact Python layout shown for reference, not part of the claim
    min_python: tuple = (3, 8)
    cpp_from: str = "iterable"  # iterable | buffer | objects
    estimate_per_element: int = 200  # a generous upper bound, for the memory guard only

    @property
    def python_type(self) -> str:
        """The Python structure, as the description names it: 'list[int]'."""
        return self.description.split(" vs ")[0]

    @property
    def cpp_type(self) -> str:
        return self.description.split(" vs ")[1].split(" (")[0]

    def available(self) -> Optional[str]:
        """None if this workload runs on this interpreter, else the reason it does not."""
        if sys.version_info < self.min_python:
            return "needs Python %d.%d+" % self.min_python
        return None


def numpy_module():
    import numpy

    return numpy


def _records(cls: Any) -> Callable[[int], list]:
    return lambda n: [cls(*record_fields(i)) for i in range(n)]


def _matrix(n: int) -> list:
    rows = max(n // MATRIX_COLS, 1)
    return [[float_value(r * MATRIX_COLS + c) for c in range(MATRIX_COLS)] for r in range(rows)]


def _matrix_elements(n: int) -> int:
    return max(n // MATRIX_COLS, 1) * MATRIX_COLS


_WORKLOADS: List[Workload] = [
    Workload("list_int", "IntVector", lambda n: [int_value(i) for i in range(n)],
             lambda n: [int_value(i) for i in range(n)], lambda n: 8 * n, "list[int] vs std::vector<int64_t>"),
    Workload("array_q", "IntVector", lambda n: array.array("q", (int_value(i) for i in range(n))),
             lambda n: [int_value(i) for i in range(n)], lambda n: 8 * n, "array('q') vs std::vector<int64_t>",
             reference=True),
    Workload("numpy_int64", "IntVector",
             lambda n: (numpy_module().arange(n, dtype=numpy_module().int64) * 7919) % PRIME + 1000,
             lambda n: (numpy_module().arange(n, dtype=numpy_module().int64) * 7919) % PRIME + 1000,
             lambda n: 8 * n, "numpy int64 array vs std::vector<int64_t> (bulk copy)", reference=True,
             cpp_from="buffer"),
    Workload("list_float", "FloatVector", lambda n: [float_value(i) for i in range(n)],
             lambda n: [float_value(i) for i in range(n)], lambda n: 8 * n, "list[float] vs std::vector<double>"),
    Workload("dict_int_int", "IntIntHashMap", lambda n: {int_value(i): i + 1000 for i in range(n)},
             lambda n: {int_value(i): i + 1000 for i in range(n)}, lambda n: 16 * n,
             "dict[int,int] vs std::unordered_map<int64_t,int64_t>", kind="mapping"),
    Workload("dict_int_int_tree", "IntIntTreeMap", lambda n: {int_value(i): i + 1000 for i in range(n)},
             lambda n: {int_value(i): i + 1000 for i in range(n)}, lambda n: 16 * n,
             "dict[int,int] vs std::map<int64_t,int64_t>", kind="mapping"),
    Workload("set_int", "IntHashSet", lambda n: {int_value(i) for i in range(n)},
             lambda n: {int_value(i) for i in range(n)}, lambda n: 8 * n, "set[int] vs std::unordered_set<int64_t>",
             kind="set"),
    Workload("list_str_short", "StrVector", lambda n: [short_str(i) for i in range(n)],
             lambda n: [short_str(i) for i in range(n)], lambda n: sum(len(short_str(i)) for i in range(n)),
             "list[str], 8 chars vs std::vector<std::string> (SSO: no heap per string)"),
    Workload("list_str_long", "StrVector", lambda n: [long_str(i) for i in range(n)],
             lambda n: [long_str(i) for i in range(n)], lambda n: sum(len(long_str(i)) for i in range(n)),
             "list[str], 54 chars vs std::vector<std::string> (one heap block per string)", estimate_per_element=400),
    Workload("dict_str_int", "StrIntHashMap", lambda n: {short_str(i): i for i in range(n)},
             lambda n: {short_str(i): i for i in range(n)}, lambda n: sum(8 + len(short_str(i)) for i in range(n)),
             "dict[str,int] vs std::unordered_map<std::string,int64_t>", kind="mapping", estimate_per_element=300),
    Workload("records_tuple", "RecordVector", lambda n: [record_fields(i) for i in range(n)],
             lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[tuple] vs std::vector<Record>", estimate_per_element=400),
    Workload("records_namedtuple", "RecordVector", _records(Point), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[namedtuple] vs std::vector<Record>", estimate_per_element=400),
    Workload("records_class", "RecordVector", _records(PlainRecord), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[object], plain class vs std::vector<Record>", estimate_per_element=600),
    Workload("records_slots", "RecordVector", _records(SlotsRecord), lambda n: [record_fields(i) for i in range(n)],
             record_payload, "list[object], __slots__ class vs std::vector<Record>", estimate_per_element=400),
    Workload("records_dataclass", "RecordVector", _records(DataRecord) if DataRecord is not None else (lambda n: []),
             lambda n: [record_fields(i) for i in range(n)], record_payload,
             "list[dataclass(slots=True)] vs std::vector<Record>", min_python=(3, 10),
             estimate_per_element=400),
    Workload("list_list_float", "FloatMatrix", _matrix, _matrix, lambda n: 8 * _matrix_elements(n),
             "list[list[float]], 16 per row vs std::vector<std::vector<double>>"),
]
WORKLOADS: Dict[str, Workload] = {w.name: w for w in _WORKLOADS}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise HarnessError("unknown workload %r (choose from: %s)" % (name, ", ".join(WORKLOADS))) from None


def elements(workload: Workload, n: int) -> int:
    """Elements actually held at size n (a matrix holds whole rows)."""
    return _matrix_elements(n) if workload.cpp_class == "FloatMatrix" else n


def build_cpp(workload: Workload, n: int, source: Any = None) -> Any:
    """The C++ container holding the workload's data at size n."""
    from harness import _containers

    cls = getattr(_containers, workload.cpp_class)
    source = workload.build_cpp_source(n) if source is None else source
    if workload.cpp_from == "buffer":
        return cls.from_buffer(source)
    return cls(source)


def estimate(workload: Workload, n: int) -> float:
    """A generous upper bound of the bytes one step (both sides, one at a time) may take."""
    return 3.0 * workload.estimate_per_element * n


def iterate(obj: Any) -> int:
    """Walk every element once; returns the count."""
    count = 0
    for _ in obj:
        count += 1
    return count


def lookup_keys(workload: Workload, n: int, k: int = 1000) -> list:
    """k keys (mappings, sets) or indices (sequences) that are present at size n."""
    m = len(workload.build_cpp_source(n)) if workload.cpp_class == "FloatMatrix" else n
    step = max(m // k, 1)
    idx = list(range(0, m, step))[:k]
    if workload.kind == "mapping":
        src = workload.build_cpp_source(n)
        keys = list(src)
        return [keys[i] for i in idx]
    if workload.kind == "set":
        return [int_value(i) for i in idx]
    return idx


def lookup(obj: Any, keys: list) -> int:
    """Look every key up once (``obj[k]`` for sequences and mappings, ``in`` for sets)."""
    found = 0
    if isinstance(obj, (set, frozenset)) or type(obj).__name__ == "IntHashSet":
        for k in keys:
            found += k in obj
    else:
        for k in keys:
            obj[k]
            found += 1
    return found
