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
* ``safe unmodified``: the internal object, held and never modified, leaves the library's results
  right and is not changed under its holder (the row's ``conforms``: the results were right;
  ``overwritten``: the held object changed).

Child-side module: numpy and the backend only, CPython 3.8 syntax.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from harness.topics.aliasing.backends import Backend, shares_memory, type_name

MUST_NOT = "must not alias"
MAY = "may alias"
INTERNAL = "is the internal object"
NDARRAY = "is a numpy.ndarray"
SAFE = "safe unmodified"
PROMISES = (MUST_NOT, MAY, INTERNAL, NDARRAY, SAFE)


class CaseId:
    """The typed id of each conformance row (its ``case_id`` column): what the claims select on.

    The ``case`` column is the same case in words, for people; a rename there changes no verdict.
    A case that raised has the id of the group of cases it belongs to (``RAISED_IN``).
    """

    SHARED_COPY = "shared_copy"
    SHARED_BORROW = "shared_borrow"
    SHARED_BORROW_NONCONTIG = "shared_borrow_noncontig"
    TWO_SHARED_COPY = "two_shared_copy"
    TWO_SHARED_BORROW = "two_shared_borrow"
    GET_COPY = "get_copy"
    GET_COPY_INTERNAL = "get_copy_internal"
    GET_BORROW = "get_borrow"
    GET_BORROW_INTERNAL = "get_borrow_internal"
    SET_COPY = "set_copy"
    SET_BORROW = "set_borrow"
    SET_BORROW_DTYPE = "set_borrow_dtype"
    SET_BORROW_NONCONTIG = "set_borrow_noncontig"
    INPLACE = "inplace"
    INPLACE_INTERNAL = "inplace_internal"
    IDENTITY_COPY_COPY = "identity_copy_copy"  # function([In(x, borrow=False)], Out(x, borrow=False))
    IDENTITY_COPY_BORROW = "identity_copy_borrow"
    IDENTITY_BORROW_COPY = "identity_borrow_copy"
    IDENTITY_BORROW_BORROW = "identity_borrow_borrow"
    OUT_BORROW_TWO_CALLS = "out_borrow_two_calls"
    OUT_BORROW_TWO_CALLS_NOGC = "out_borrow_two_calls_nogc"
    OUT_COPY_TWO_CALLS = "out_copy_two_calls"
    RETURN_SHARED_COPY = "return_shared_copy"
    RETURN_SHARED_BORROW = "return_shared_borrow"
    TWO_FUNCTIONS_BORROW = "two_functions_borrow"
    AFTER_UPDATE_COPY = "after_update_copy"
    AFTER_UPDATE_BORROW = "after_update_borrow"
    GET_TWICE = "get_twice"  # get_value() twice: one object or two
    INTERNAL_HELD = "internal_held"  # the internal object held, unmodified, across a read and an update

    @staticmethod
    def identity(in_borrow: bool, out_borrow: bool) -> str:
        return "identity_%s_%s" % ("borrow" if in_borrow else "copy", "borrow" if out_borrow else "copy")


CASE_IDS = tuple(v for k, v in vars(CaseId).items() if k.isupper())

# The rows as the "conformance rows" table shows them; a row also has case_id, raised (the case
# raised an exception, told in note), overwritten (two-calls cases: was r1 overwritten by the
# second call; internal_held: was the held object changed; None elsewhere) and results_right
# (internal_held: were the library's results right while the object was held; None elsewhere)
COLUMNS = ["backend", "case", "operation", "compared_with", "result_type", "same_object",
           "shares_memory", "promise", "conforms", "note"]
ROW_COLUMNS = COLUMNS[:2] + ["case_id"] + COLUMNS[2:] + ["raised", "overwritten", "results_right"]


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
    if promise == SAFE:
        return None  # told by the case itself (internal_held): not by aliasing
    raise ValueError("unknown promise %r" % promise)


def _row(backend: str, case: str, case_id: str, operation: str, result: Any, other: Any, compared_with: str,
         promise: str, note: str = "", overwritten: Optional[bool] = None) -> Dict[str, Any]:
    shares = shares_memory(result, other) if other is not None else None
    same = other is not None and result is other
    rtype = type_name(result)
    return {
        "backend": backend,
        "case": case,
        "case_id": case_id,
        "operation": operation,
        "compared_with": compared_with,
        "result_type": rtype,
        "same_object": bool(same),
        "shares_memory": shares,
        "promise": promise,
        "conforms": judge(promise, shares, same, rtype),
        "note": note,
        "raised": False,
        "overwritten": overwritten,
        "results_right": None,
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


def _vec(n: int, k: int = 0) -> Any:
    import numpy as np

    return np.arange(n, dtype=np.float64) + k


def _noncontig(n: int) -> Any:
    import numpy as np

    return np.arange(2 * n, dtype=np.float64)[::2]


# -- constructor
def shared_copy(b: Backend, n: int) -> List[Dict[str, Any]]:
    v = _vec(n)
    s = b.shared(v)
    return [_row(b.name, "shared/copy", CaseId.SHARED_COPY, "shared(v)", b.internal(s), v, "v", MUST_NOT)]


def shared_borrow(b: Backend, n: int) -> List[Dict[str, Any]]:
    v = _vec(n)
    s = b.shared(v, borrow=True)
    return [_row(b.name, "shared/borrow", CaseId.SHARED_BORROW, "shared(v, borrow=True)", b.internal(s), v, "v", MAY)]


def shared_borrow_noncontig(b: Backend, n: int) -> List[Dict[str, Any]]:
    v = _noncontig(n)
    s = b.shared(v, borrow=True)
    st = b.internal(s)
    return [_row(b.name, "shared/borrow/non-contiguous", CaseId.SHARED_BORROW_NONCONTIG,
                 "shared(v[::2], borrow=True)", st, v, "v", MAY,
                 "stored C-contiguous: %s" % _yes(getattr(getattr(st, "flags", None), "c_contiguous", None)))]


def two_shared(b: Backend, n: int) -> List[Dict[str, Any]]:
    rows = []
    for borrow in (False, True):
        v = _vec(n)
        s1, s2 = b.shared(v, borrow=borrow), b.shared(v, borrow=borrow)
        rows.append(_row(b.name, "shared/two from one array" + ("/borrow" if borrow else ""),
                         CaseId.TWO_SHARED_BORROW if borrow else CaseId.TWO_SHARED_COPY,
                         "shared(v%s) twice" % (", borrow=True" if borrow else ""),
                         b.internal(s1), b.internal(s2), "the other shared variable's storage", MUST_NOT,
                         "tutorial: a shared variable's buffer is never aliased to another shared variable"))
    return rows


# -- get_value
def get_values(b: Backend, n: int) -> List[Dict[str, Any]]:
    rows = []
    s = b.shared(_vec(n))
    for borrow in (False, True):
        for rit in (False, True):
            r = b.get_value(s, borrow=borrow, return_internal_type=rit)
            flags = ", ".join(f for f in ("borrow=True" if borrow else "", "return_internal_type=True" if rit else "") if f)
            promise = MAY if borrow else MUST_NOT
            if borrow and rit:
                promise = INTERNAL
            case = "get_value" + ("/borrow" if borrow else "/copy") + ("/internal type" if rit else "")
            cid = "get_%s%s" % ("borrow" if borrow else "copy", "_internal" if rit else "")
            rows.append(_row(b.name, case, cid, "get_value(%s)" % flags, r, b.internal(s), "internal storage", promise))
    r1, r2 = b.get_value(s), b.get_value(s)
    rows.append(_row(b.name, "get_value/twice", CaseId.GET_TWICE, "r1 = get_value(); r2 = get_value()", r2, r1,
                     "r1", MUST_NOT, "one object: %s" % _yes(r1 is r2)))
    return rows


def internal_held(b: Backend, n: int) -> List[Dict[str, Any]]:
    """r = get_value(borrow=True, return_internal_type=True), never modified, held across a function
    that reads the variable and one that updates it: are the results right, and is r changed?"""
    import numpy as np

    s = b.shared(_vec(n))
    r = b.get_value(s, borrow=True, return_internal_type=True)
    snap = np.array(b.to_host(r), copy=True)
    read = b.function_return_shared(s, False)()
    b.function_update(s)()
    b.sync()
    right = bool(np.array_equal(b.to_host(read), snap) and np.array_equal(b.to_host(b.get_value(s)), snap + 1))
    overwritten = not np.array_equal(b.to_host(r), snap)
    row = _row(b.name, "get_value/internal type/held across an update", CaseId.INTERNAL_HELD,
               "r = get_value(borrow=True, return_internal_type=True); function([], s)(); "
               "function([], updates=[(s, s+1)])()", r, b.internal(s), "storage after the update", SAFE,
               "results right: %s; r changed by the update: %s" % (_yes(right), _yes(overwritten)), overwritten)
    row["conforms"] = right and not overwritten
    row["results_right"] = right
    return [row]


# -- set_value
def set_values(b: Backend, n: int) -> List[Dict[str, Any]]:
    import numpy as np

    rows = []
    for borrow in (False, True):
        s = b.shared(_vec(n))
        w = _vec(n, 1)
        b.set_value(s, w, borrow=borrow)
        rows.append(_row(b.name, "set_value" + ("/borrow" if borrow else "/copy"),
                         CaseId.SET_BORROW if borrow else CaseId.SET_COPY,
                         "set_value(w%s)" % (", borrow=True" if borrow else ""), b.internal(s), w, "w",
                         MAY if borrow else MUST_NOT))
    s = b.shared(_vec(n))
    w32 = _vec(n, 1).astype(np.float32)
    b.set_value(s, w32, borrow=True)
    st = b.internal(s)
    rows.append(_row(b.name, "set_value/borrow/dtype mismatch", CaseId.SET_BORROW_DTYPE,
                     "set_value(w.astype(float32), borrow=True)",
                     st, w32, "w (float32) into a float64 variable", MAY,
                     "stored dtype: %s" % getattr(st, "dtype", "?")))
    s = b.shared(_vec(n))
    w = _noncontig(n)
    b.set_value(s, w, borrow=True)
    st = b.internal(s)
    rows.append(_row(b.name, "set_value/borrow/non-contiguous", CaseId.SET_BORROW_NONCONTIG,
                     "set_value(w[::2], borrow=True)", st, w, "w", MAY,
                     "stored C-contiguous: %s" % _yes(getattr(getattr(st, "flags", None), "c_contiguous", None))))
    return rows


def inplace_pattern(b: Backend, n: int) -> List[Dict[str, Any]]:
    rows = []
    variants = [False, True] if "get_value_internal" in b.operations else [False]
    for rit in variants:
        s = b.shared(_vec(n))
        before = b.internal(s)
        v = _add_one_inplace(b.get_value(s, borrow=True, return_internal_type=rit))
        b.set_value(s, v, borrow=True)
        rows.append(_row(b.name, "set_value/in-place pattern" + ("/internal type" if rit else ""),
                         CaseId.INPLACE_INTERNAL if rit else CaseId.INPLACE,
                         "s.set_value(f(s.get_value(borrow=True%s)), borrow=True)"
                         % (", return_internal_type=True" if rit else ""),
                         b.internal(s), before, "storage before the update", MAY,
                         "f adds 1 in place where the value is mutable"))
    return rows


# -- compiled functions: In / Out
def identity(b: Backend, n: int) -> List[Dict[str, Any]]:
    rows = []
    for ib in (False, True):
        for ob in (False, True):
            f = b.function_identity(ib, ob)
            x = _vec(n)
            r = f(x)
            rows.append(_row(b.name, "function/identity/In(borrow=%s) Out(borrow=%s)" % (ib, ob), CaseId.identity(ib, ob),
                             "function([In(x, borrow=%s)], Out(x, borrow=%s))(v)" % (ib, ob), r, x, "v (the input)",
                             MAY if (ib and ob) else MUST_NOT,
                             "In(borrow) without Out(borrow)" if (ib and not ob) else ""))
    return rows


def out_borrow_two_calls(b: Backend, n: int) -> List[Dict[str, Any]]:
    import numpy as np

    rows = []
    variants = [(True, True), (False, True)]
    if b.has_nogc:
        variants.insert(1, (True, False))
    for out_borrow, allow_gc in variants:
        f = b.function_double(out_borrow, allow_gc=allow_gc)
        r1 = f(_vec(n))
        b.sync()
        kept = np.array(b.to_host(r1), copy=True)
        r2 = f(_vec(n, 5))
        b.sync()
        overwritten = not np.array_equal(b.to_host(r1), kept)
        gc = "" if allow_gc else ", linker without gc (allow_gc=False)"
        cid = (CaseId.OUT_COPY_TWO_CALLS if not out_borrow else
               CaseId.OUT_BORROW_TWO_CALLS if allow_gc else CaseId.OUT_BORROW_TWO_CALLS_NOGC)
        rows.append(_row(b.name, "function/Out(borrow=%s)/two calls%s" % (out_borrow, "" if allow_gc else "/no gc"), cid,
                         "f = function([x], Out(2*x, borrow=%s)); r1 = f(a); r2 = f(b)%s" % (out_borrow, gc),
                         r2, r1, "r1 (the previous result)", MAY if out_borrow else MUST_NOT,
                         "r1 overwritten by the second call: %s" % _yes(overwritten), overwritten))
    return rows


def return_shared(b: Backend, n: int) -> List[Dict[str, Any]]:
    rows = []
    s = b.shared(_vec(n))
    for ob in (False, True):
        f = b.function_return_shared(s, ob)
        r = f()
        rows.append(_row(b.name, "function/returns shared/Out(borrow=%s)" % ob,
                         CaseId.RETURN_SHARED_BORROW if ob else CaseId.RETURN_SHARED_COPY,
                         "function([], Out(s, borrow=%s))()" % ob, r, b.internal(s), "internal storage",
                         MAY if ob else MUST_NOT))
    f, g = b.function_return_shared(s, True), b.function_return_shared(s, True)
    rf, rg = f(), g()
    rows.append(_row(b.name, "function/two functions/Out(s, borrow=True)", CaseId.TWO_FUNCTIONS_BORROW,
                     "f() and g(), both function([], Out(s, borrow=True))", rf, rg, "g's result", MAY,
                     "both may return the one internal buffer"))
    return rows


def after_update(b: Backend, n: int) -> List[Dict[str, Any]]:
    s = b.shared(_vec(n))
    f = b.function_update(s)
    f()
    b.sync()
    st = b.internal(s)
    rows = []
    for borrow in (False, True):
        r = b.get_value(s, borrow=borrow)
        rows.append(_row(b.name, "get_value after an update/%s" % ("borrow" if borrow else "copy"),
                         CaseId.AFTER_UPDATE_BORROW if borrow else CaseId.AFTER_UPDATE_COPY,
                         "function([], updates=[(s, s+1)])(); s.get_value(borrow=%s)" % borrow, r, st,
                         "internal storage", NDARRAY, "storage holds a %s" % type_name(st)))
    return rows


# Each case returns its rows (a case that raises becomes a row saying so)
CASES = (shared_copy, shared_borrow, shared_borrow_noncontig, two_shared, get_values, set_values,
         inplace_pattern, identity, out_borrow_two_calls, return_shared, after_update, internal_held)


def run_cases(b: Backend, n: int = 1024) -> List[Dict[str, Any]]:
    """All conformance rows for one loaded backend (arrays of ``n`` float64)."""
    rows: List[Dict[str, Any]] = []
    for case in CASES:
        try:
            rows.extend(case(b, n))
        except NotImplementedError:
            continue  # the backend has no such operation (the CuPy model compiles nothing)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            rows.append({
                "backend": b.name, "case": case.__name__, "case_id": case.__name__, "operation": case.__name__,
                "compared_with": "", "result_type": "", "same_object": None, "shares_memory": None, "promise": "",
                "conforms": None, "note": "raised %s: %s" % (type(exc).__name__, first), "raised": True,
                "overwritten": None, "results_right": None,
            })
    return rows
