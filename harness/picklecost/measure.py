"""The child side of ``memharness pickle-cost``: run the setup, build the expression's value (in
this fresh process, from the user's own code; never loaded from a file), then measure every
method on it with the pickle topic's own ``measure.measure_built``: the same figures, the same
definitions.

The setup and the expression are handled by ``harness.footprint.measure`` (the same namespace,
"module:function" references, stdout counting and one-line errors as ``memharness footprint``).
The object's payload is counted as the pickle topic counts it (8 bytes per int or float, the
UTF-8 length of a str, the bytes of a buffer or array), walking what it holds.

Standard library only and CPython 3.8 syntax: this runs under every interpreter of --python.
"""
from __future__ import annotations

import pickle
import signal
import sys
from typing import Any, Dict, List, Optional

from harness.core.footprint import limit_address_space
from harness.footprint.measure import _builder, _error, _stdout_back, _stdout_to_file, function_ref
from harness.topics.pickle.measure import measure_built, versions

HIGHEST = pickle.HIGHEST_PROTOCOL


def _is_array(obj: Any) -> bool:
    np = sys.modules.get("numpy")  # an array can only exist where numpy was imported
    return np is not None and isinstance(obj, np.ndarray)


def _children(o: Any) -> Optional[List[Any]]:
    """What a container or an instance holds, or None for a value with nothing inside to walk."""
    if isinstance(o, dict):
        return list(o.keys()) + list(o.values())
    if isinstance(o, (list, tuple, set, frozenset)):
        return list(o)
    held: List[Any] = []
    if hasattr(o, "__dict__") and isinstance(vars(o), dict):
        held += list(vars(o).values())
    for cls in type(o).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(o, slot):
                held.append(getattr(o, slot))
    return held if held or hasattr(o, "__dict__") else None


def payload_bytes(obj: Any) -> int:
    """The information ``obj`` holds, in bytes, as the pickle topic counts its payloads: 8 per int
    (more for ints beyond 64 bits) and float, the UTF-8 length of a str, the length of a buffer,
    an array's nbytes; containers and instances count what they hold (each object once). A
    value with nothing to walk (an extension type) counts its pickled state at HIGHEST_PROTOCOL."""
    total, seen, stack = 0, set(), [obj]
    while stack:
        o = stack.pop()
        if o is None or isinstance(o, bool):
            continue
        if isinstance(o, (int, float)):
            total += max(8, (abs(int(o)).bit_length() + 7) // 8) if isinstance(o, int) else 8
            continue
        if isinstance(o, str):
            total += len(o.encode("utf-8", "surrogatepass"))
            continue
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, (bytes, bytearray, memoryview)):
            total += memoryview(o).nbytes
        elif _is_array(o):
            if o.dtype.hasobject:
                stack.extend(o.ravel().tolist())
            else:
                total += int(o.nbytes)
        else:
            held = _children(o)
            if held is None:
                total += len(pickle.dumps(o, protocol=HIGHEST))
            else:
                stack.extend(held)
    return total


def same(a: Any, b: Any, depth: int = 0) -> bool:
    """Whether a loaded copy ``b`` equals the original ``a``: arrays by value, containers item by
    item, instances without an ``__eq__`` of their own by their attributes."""
    if type(a) is not type(b):
        return False
    if depth > 200:
        return pickle.dumps(a, protocol=HIGHEST) == pickle.dumps(b, protocol=HIGHEST)
    if _is_array(a):
        np = sys.modules["numpy"]
        return a.dtype == b.dtype and a.shape == b.shape and bool(
            np.array_equal(a, b, equal_nan=not a.dtype.hasobject and a.dtype.kind in "fc"))
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, depth + 1) for x, y in zip(a, b))
    if type(a).__eq__ is object.__eq__:
        held_a, held_b = _children(a), _children(b)
        if held_a is not None and held_b is not None:
            return same(held_a, held_b, depth + 1)
        return pickle.dumps(a, protocol=HIGHEST) == pickle.dumps(b, protocol=HIGHEST)
    got = a == b
    return got if isinstance(got, bool) else bool(getattr(got, "all", lambda: got)())


class UserSpec:
    """The ``ObjectSpec`` part that ``measure_built`` and the methods read, for a user's object."""

    family = "user"

    def __init__(self, expr: str, obj: Any) -> None:
        self.name = expr
        self.is_ndarray = _is_array(obj)
        self.has_arrays = self.is_ndarray or _holds_array(obj)

    def equal(self, a: Any, b: Any) -> bool:
        return same(a, b)


def _holds_array(obj: Any) -> bool:
    stack, seen = [obj], set()
    while stack:
        o = stack.pop()
        if _is_array(o):
            return True
        if id(o) in seen or isinstance(o, (str, bytes, int, float)):
            continue
        seen.add(id(o))
        stack.extend(_children(o) or [])
    return False


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def build(expr: str, setup: str, timeout: float, stage: List[str]) -> Any:
    """The setup, then the expression's value, within ``timeout`` seconds (SIGALRM), stdout
    counted; ``stage[0]`` says which of the two was running ("setup", "expression")."""
    saved = sys.stdout
    out = _stdout_to_file()
    old = signal.signal(signal.SIGALRM, _alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        stage[0] = "setup"
        make = _builder(expr, setup, [])
        stage[0] = "expression"
        obj = make()
    finally:
        if old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        printed = _stdout_back(out, saved)
    if printed:
        raise ValueError("it wrote %d characters to stdout: pickle-cost measures a value, not output "
                         "(print nothing in the setup or the expression)" % printed)
    return obj


def measure(expr: str, setup: str = "", methods: Optional[List[str]] = None, repeat: int = 3,
            max_time: float = 0.5, journal: Optional[str] = None, timed_only: bool = False,
            timeout: float = 60.0) -> Dict[str, Any]:
    """The rows of ``methods`` on the value of ``expr`` (see ``measure_built``), with its payload;
    or {"error", "stage"} when the setup or the expression fails (raises, does not parse, prints,
    runs past ``timeout`` seconds, or asks for more memory than the guard allows)."""
    limit_address_space()
    try:
        if function_ref(expr) is None:
            compile(expr, "<expression>", "eval")
    except SyntaxError as exc:
        return _error("expression", exc)
    stage = ["setup"]
    try:
        obj = build(expr, setup, timeout, stage)
    except _Timeout:
        return {"error": "did not finish within %g s (--timeout)" % timeout, "stage": stage[0]}
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and MemoryError too: the user's code failed
        return _error(stage[0], exc)
    spec = UserSpec(expr, obj)
    rows = measure_built(spec, obj, list(methods or []), repeat, max_time, journal, timed_only)
    return {"payload": payload_bytes(obj), "rows": rows, "versions": versions()}
