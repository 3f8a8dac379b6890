"""Conformance: what each backend really aliases, against the tutorial's promises.

For every operation and flag combination we record whether the result shares
memory with the input or with the shared variable's storage
(``numpy.shares_memory`` for two numpy arrays, the buffers' address ranges for
JAX and CuPy arrays), whether it is the same object, and whether that matches
what Theano's aliasing tutorial ("Understanding Memory Aliasing for Speed and
Correctness") promises.

Promises (``PROMISES``):

* ``must not alias``: the result may not share memory with the other object.
* ``may alias``: any outcome conforms; the row tells what the backend did.
* ``is the internal object``: ``get_value(borrow=True, return_internal_type=True)``
  returns the stored object itself.
* ``is a numpy.ndarray``: ``get_value`` without ``return_internal_type`` returns
  an ndarray ("for tensor, it will always return a ndarray by default").

Child-side module: numpy and the backend only, CPython 3.8 syntax.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional

from harness.aliasing.backends import Backend, shares_memory, type_name

MUST_NOT = "must not alias"
MAY = "may alias"
INTERNAL = "is the internal object"
NDARRAY = "is a numpy.ndarray"
PROMISES = (MUST_NOT, MAY, INTERNAL, NDARRAY)

COLUMNS = ["backend", "case", "operation", "compared_with", "result_type", "same_object",
           "shares_memory", "promise", "conforms", "note"]


def judge(promise: str, shares: Optional[bool], same: bool, result_type: str) -> Optional[bool]:
    """Whether an observation keeps the promise; None when it cannot be told."""
    if promise == MAY:
        return True
    if promise == MUST_NOT:
        if same:
            return False
        return None if shares is None else not shares
    if promise == INTERNAL:
        return bool(same)
    if promise == NDARRAY:
        return result_type == "numpy.ndarray"
    raise ValueError("unknown promise %r" % promise)


def _row(backend: str, case: str, operation: str, result: Any, other: Any, compared_with: str,
         promise: str, note: str = "") -> Dict[str, Any]:
    shares = shares_memory(result, other) if other is not None else None
    same = other is not None and result is other
    rtype = type_name(result)
    return {
        "backend": backend,
        "case": case,
        "operation": operation,
        "compared_with": compared_with,
        "result_type": rtype,
        "same_object": bool(same),
        "shares_memory": shares,
        "promise": promise,
        "conforms": judge(promise, shares, same, rtype),
        "note": note,
    }


def _yes(flag: Optional[bool]) -> str:
    return "?" if flag is None else ("yes" if flag else "no")


def _add_one_inplace(v: Any) -> Any:
    """v + 1, in place where the array type allows it (numpy, CuPy), a new array otherwise (JAX)."""
    try:
        v += 1.0
    except (ValueError, TypeError):  # a read-only numpy view
        v = v + 1.0
    return v


def _cases(b: Backend, n: int) -> Iterator[Callable[[], List[Dict[str, Any]]]]:
    """Each case is a thunk returning its rows (a case that raises becomes a row saying so)."""
    import numpy as np

    name = b.name

    def vec(k: int = 0) -> Any:
        return np.arange(n, dtype=np.float64) + k

    def noncontig() -> Any:
        return np.arange(2 * n, dtype=np.float64)[::2]

    # -- constructor
    def shared_copy():
        v = vec()
        s = b.shared(v)
        return [_row(name, "shared/copy", "shared(v)", b.internal(s), v, "v", MUST_NOT)]

    def shared_borrow():
        v = vec()
        s = b.shared(v, borrow=True)
        return [_row(name, "shared/borrow", "shared(v, borrow=True)", b.internal(s), v, "v", MAY)]

    def shared_borrow_noncontig():
        v = noncontig()
        s = b.shared(v, borrow=True)
        st = b.internal(s)
        return [_row(name, "shared/borrow/non-contiguous", "shared(v[::2], borrow=True)", st, v, "v", MAY,
                     "stored C-contiguous: %s" % _yes(getattr(getattr(st, "flags", None), "c_contiguous", None)))]

    def two_shared():
        rows = []
        for borrow in (False, True):
            v = vec()
            s1, s2 = b.shared(v, borrow=borrow), b.shared(v, borrow=borrow)
            rows.append(_row(name, "shared/two from one array" + ("/borrow" if borrow else ""),
                             "shared(v%s) twice" % (", borrow=True" if borrow else ""),
                             b.internal(s1), b.internal(s2), "the other shared variable's storage", MUST_NOT,
                             "tutorial: a shared variable's buffer is never aliased to another shared variable"))
        return rows

    # -- get_value
    def get_values():
        rows = []
        s = b.shared(vec())
        for borrow in (False, True):
            for rit in (False, True):
                r = b.get_value(s, borrow=borrow, return_internal_type=rit)
                flags = ", ".join(f for f in ("borrow=True" if borrow else "", "return_internal_type=True" if rit else "") if f)
                promise = MAY if borrow else MUST_NOT
                if borrow and rit:
                    promise = INTERNAL
                case = "get_value" + ("/borrow" if borrow else "/copy") + ("/internal type" if rit else "")
                rows.append(_row(name, case, "get_value(%s)" % flags, r, b.internal(s), "internal storage", promise))
        return rows

    # -- set_value
    def set_values():
        rows = []
        for borrow in (False, True):
            s = b.shared(vec())
            w = vec(1)
            b.set_value(s, w, borrow=borrow)
            rows.append(_row(name, "set_value" + ("/borrow" if borrow else "/copy"),
                             "set_value(w%s)" % (", borrow=True" if borrow else ""), b.internal(s), w, "w",
                             MAY if borrow else MUST_NOT))
        s = b.shared(vec())
        w32 = vec(1).astype(np.float32)
        b.set_value(s, w32, borrow=True)
        st = b.internal(s)
        rows.append(_row(name, "set_value/borrow/dtype mismatch", "set_value(w.astype(float32), borrow=True)",
                         st, w32, "w (float32) into a float64 variable", MAY,
                         "stored dtype: %s" % getattr(st, "dtype", "?")))
        s = b.shared(vec())
        w = noncontig()
        b.set_value(s, w, borrow=True)
        st = b.internal(s)
        rows.append(_row(name, "set_value/borrow/non-contiguous", "set_value(w[::2], borrow=True)", st, w, "w", MAY,
                         "stored C-contiguous: %s" % _yes(getattr(getattr(st, "flags", None), "c_contiguous", None))))
        return rows

    def inplace_pattern():
        rows = []
        variants = [False, True] if "get_value_internal" in b.operations else [False]
        for rit in variants:
            s = b.shared(vec())
            before = b.internal(s)
            v = _add_one_inplace(b.get_value(s, borrow=True, return_internal_type=rit))
            b.set_value(s, v, borrow=True)
            rows.append(_row(name, "set_value/in-place pattern" + ("/internal type" if rit else ""),
                             "s.set_value(f(s.get_value(borrow=True%s)), borrow=True)"
                             % (", return_internal_type=True" if rit else ""),
                             b.internal(s), before, "storage before the update", MAY,
                             "f adds 1 in place where the value is mutable"))
        return rows

    # -- compiled functions: In / Out
    def identity():
        rows = []
        for ib in (False, True):
            for ob in (False, True):
                f = b.function_identity(ib, ob)
                x = vec()
                r = f(x)
                rows.append(_row(name, "function/identity/In(borrow=%s) Out(borrow=%s)" % (ib, ob),
                                 "function([In(x, borrow=%s)], Out(x, borrow=%s))(v)" % (ib, ob), r, x, "v (the input)",
                                 MAY if (ib and ob) else MUST_NOT,
                                 "In(borrow) without Out(borrow)" if (ib and not ob) else ""))
        return rows

    def out_borrow_two_calls():
        rows = []
        variants = [(True, True), (False, True)]
        if b.has_nogc:
            variants.insert(1, (True, False))
        for out_borrow, allow_gc in variants:
            f = b.function_double(out_borrow, allow_gc=allow_gc)
            r1 = f(vec())
            b.sync()
            kept = np.array(b.to_host(r1), copy=True)
            r2 = f(vec(5))
            b.sync()
            overwritten = not np.array_equal(b.to_host(r1), kept)
            gc = "" if allow_gc else ", linker without gc (allow_gc=False)"
            rows.append(_row(name, "function/Out(borrow=%s)/two calls%s" % (out_borrow, "" if allow_gc else "/no gc"),
                             "f = function([x], Out(2*x, borrow=%s)); r1 = f(a); r2 = f(b)%s" % (out_borrow, gc),
                             r2, r1, "r1 (the previous result)", MAY if out_borrow else MUST_NOT,
                             "r1 overwritten by the second call: %s" % _yes(overwritten)))
        return rows

    def return_shared():
        rows = []
        s = b.shared(vec())
        for ob in (False, True):
            f = b.function_return_shared(s, ob)
            r = f()
            rows.append(_row(name, "function/returns shared/Out(borrow=%s)" % ob,
                             "function([], Out(s, borrow=%s))()" % ob, r, b.internal(s), "internal storage",
                             MAY if ob else MUST_NOT))
        f, g = b.function_return_shared(s, True), b.function_return_shared(s, True)
        rf, rg = f(), g()
        rows.append(_row(name, "function/two functions/Out(s, borrow=True)",
                         "f() and g(), both function([], Out(s, borrow=True))", rf, rg, "g's result", MAY,
                         "both may return the one internal buffer"))
        return rows

    def after_update():
        s = b.shared(vec())
        f = b.function_update(s)
        f()
        b.sync()
        st = b.internal(s)
        rows = []
        for borrow in (False, True):
            r = b.get_value(s, borrow=borrow)
            rows.append(_row(name, "get_value after an update/%s" % ("borrow" if borrow else "copy"),
                             "function([], updates=[(s, s+1)])(); s.get_value(borrow=%s)" % borrow, r, st,
                             "internal storage", NDARRAY, "storage holds a %s" % type_name(st)))
        return rows

    yield from (shared_copy, shared_borrow, shared_borrow_noncontig, two_shared, get_values, set_values,
                inplace_pattern, identity, out_borrow_two_calls, return_shared, after_update)


def run_cases(b: Backend, n: int = 1024) -> List[Dict[str, Any]]:
    """All conformance rows for one loaded backend (arrays of ``n`` float64)."""
    rows: List[Dict[str, Any]] = []
    for case in _cases(b, n):
        try:
            rows.extend(case())
        except NotImplementedError:
            continue  # the backend has no such operation (the CuPy model compiles nothing)
        except Exception as exc:
            rows.append({
                "backend": b.name, "case": case.__name__, "operation": case.__name__, "compared_with": "",
                "result_type": "", "same_object": None, "shares_memory": None, "promise": "",
                "conforms": None, "note": "raised %s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""),
            })
    return rows
