"""The aliasing topic's claims: what Theano's aliasing tutorial promises, judged from the rows.

Conformance claims select rows by ``case_id`` (``conformance.CaseId``), never by the case's words.
Each rule is a pure function of the rows (``conformance``, ``throughput``, ``overhead``) and
returns ``(verdict, evidence)``, or None where the rows hold none of the cases it is about.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.claims import Claim
from harness.core.units import size_label
from harness.core.verdict import tally
from harness.topic import kind
from harness.topics.aliasing.conformance import CaseId
from harness.topics.aliasing.workloads import BORROW_FASTER, MAX_OVERHEAD, OVERHEAD_SIZE

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows

Judgement = Optional[Tuple[str, str]]


# --------------------------------------------------------------------------
# Reading the rows


def case_rows(rows: "Rows", case_id: str) -> "pd.DataFrame":
    """The conformance rows of one case (every backend), or an empty frame."""
    conf = kind(rows, "conformance")
    if conf.empty or "case_id" not in conf:
        return conf.iloc[0:0]
    return conf[conf["case_id"] == case_id]


def by_backend(rows: "Rows", case_id: str, col: str = "shares_memory") -> Dict[str, Any]:
    """{backend: the column's value} for one case."""
    return {r["backend"]: r[col] for _, r in case_rows(rows, case_id).iterrows()}


def _listing(d: Dict[str, Any], yes: str, no: str) -> str:
    return "; ".join("%s: %s" % (b, yes if v else no) for b, v in d.items())


def _judge(d: Dict[str, Any]) -> str:
    """Every backend agrees: confirmed; none: refuted; some: partly."""
    return tally(sum(bool(v) for v in d.values()), len(d))


def borrow_speedups(rows: "Rows", operation: str) -> Tuple[Optional[int], Dict[str, float]]:
    """(largest size timed, {backend: copy time / borrow time there}) of one timed operation."""
    tput = kind(rows, "throughput")
    if tput.empty or operation not in set(tput["operation"]):
        return None, {}
    op = tput[tput["operation"] == operation]
    big = op["bytes"].max()
    speed: Dict[str, float] = {}
    for b, g in op[op["bytes"] == big].groupby("backend", sort=False):
        c, w = g[~g["borrow"]]["median_s"], g[g["borrow"]]["median_s"]
        if len(c) and len(w):
            speed[b] = float(c.iloc[0] / w.iloc[0])
    return int(big), speed


def overhead_shares(rows: "Rows") -> List[Dict[str, Any]]:
    """Per backend: the empty callable's time against the fastest copy operation at 64 MB (or the
    largest size measured), in seconds, and their ratio (raw figures of the overhead claim)."""
    overhead, tput = kind(rows, "overhead"), kind(rows, "throughput")
    if overhead.empty or tput.empty:
        return []
    out = []
    for _, oh in overhead.iterrows():
        mine = tput[(tput["backend"] == oh["backend"]) & (~tput["borrow"])]
        if mine.empty:
            continue
        at = OVERHEAD_SIZE if (mine["bytes"] >= OVERHEAD_SIZE).any() else mine["bytes"].max()
        sel = mine[mine["bytes"] == (mine[mine["bytes"] >= at]["bytes"].min())]
        worst = sel.loc[(oh["median_s"] / sel["median_s"]).idxmax()]
        out.append({"backend": oh["backend"], "empty_call_s": oh["median_s"], "bytes": worst["bytes"],
                    "operation": worst["operation"], "op_s": worst["median_s"],
                    "fraction": oh["median_s"] / worst["median_s"]})
    return out


# --------------------------------------------------------------------------
# The rules


def shared_borrow_aliases(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.SHARED_BORROW)
    if not d:
        return None
    return _judge(d), _listing(d, "aliases", "copies")


def shared_borrow_faster(rows: "Rows") -> Judgement:
    big, speed = borrow_speedups(rows, "shared")
    if big is None or not speed:  # no size timed implies no speedups
        return None
    ok = {b: s >= BORROW_FASTER for b, s in speed.items()}
    return _judge(ok), "at %s, borrow is %s faster than the copy" % (
        size_label(big), "; ".join("%s: %.3gx" % (b, s) for b, s in speed.items()))


def shared_never_aliased(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.TWO_SHARED_BORROW)
    if not d:
        return None
    d0 = by_backend(rows, CaseId.TWO_SHARED_COPY)
    aliased = [b for b, v in d.items() if v]
    copies_alias = any(d0.values())
    verdict = "confirmed" if not aliased and not copies_alias else ("partly" if not copies_alias else "refuted")
    return verdict, "two shared(v) from one array: %s; two shared(v, borrow=True): %s" % (
        _listing(d0, "share memory", "separate"), _listing(d, "share memory", "separate"))


def get_value_internal(rows: "Rows") -> Judgement:
    d_int = by_backend(rows, CaseId.GET_BORROW_INTERNAL, "same_object")
    d_copy = {b: not v for b, v in by_backend(rows, CaseId.GET_COPY).items()}
    if not d_int or not d_copy:
        return None
    ok = {b: bool(d_int.get(b)) and bool(d_copy.get(b)) for b in d_int}
    return _judge(ok), "internal object: %s; get_value() separate: %s" % (
        _listing(d_int, "yes", "no"), _listing(d_copy, "yes", "no"))


def set_value_borrow(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.SET_BORROW)
    if not d:
        return None
    dm = by_backend(rows, CaseId.SET_BORROW_DTYPE)
    nc = by_backend(rows, CaseId.SET_BORROW_NONCONTIG)
    verdict = _judge(d)
    if verdict == "confirmed" and (not all(dm.values()) or not all(nc.values())):
        verdict = "partly"
    return verdict, "same dtype: %s; float32 into float64: %s; non-contiguous: %s" % (
        _listing(d, "reused", "copied"), _listing(dm, "reused", "copied"), _listing(nc, "reused", "copied"))


def inplace_update(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.INPLACE)
    if not d:
        return None
    big, speed = borrow_speedups(rows, "update_pattern")
    extra = ""
    if big is not None and speed:  # no size timed implies no speedups
        extra = "; at %s it is faster than get_value()/set_value() copies by: %s" % (
            size_label(big), ", ".join("%s %.3gx" % (b, s) for b, s in speed.items()))
    return _judge(d), _listing(d, "buffer kept", "new buffer") + extra


def in_out_borrow(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.IDENTITY_BORROW_BORROW)
    if not d:
        return None
    in_only = by_backend(rows, CaseId.IDENTITY_BORROW_COPY)
    ob = by_backend(rows, CaseId.OUT_BORROW_TWO_CALLS)
    ob_nogc = by_backend(rows, CaseId.OUT_BORROW_TWO_CALLS_NOGC)
    verdict = _judge(d)
    if verdict == "confirmed" and not all(ob.values()):
        verdict = "partly"
    return verdict, ("output is the input (identity): %s; In(borrow) alone: %s; Out(borrow) output buffer reused "
                     "across calls: %s%s" % (
                         _listing(d, "yes", "no"), _listing(in_only, "aliases", "still copies"),
                         _listing(ob, "yes", "no"),
                         ("; with a no-gc linker: " + _listing(ob_nogc, "yes", "no")) if ob_nogc else ""))


def ndarray_after_update(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.AFTER_UPDATE_COPY, "conforms")
    if not d:
        return None
    types = by_backend(rows, CaseId.AFTER_UPDATE_COPY, "result_type")
    return _judge(d), "; ".join("%s: %s" % (b, t) for b, t in types.items())


def timing_overhead(rows: "Rows") -> Judgement:
    shares = overhead_shares(rows)
    if not shares:
        return None
    worst = max(shares, key=lambda r: r["fraction"])  # the first of equals, as idxmax
    ok = all(r["fraction"] < MAX_OVERHEAD for r in shares)
    return ("confirmed" if ok else "refuted",
            "empty callable through the same timing path: %.3g ns vs %s %s in %.4g us (%.2g%%, worst backend %s)" % (
                worst["empty_call_s"] * 1e9, worst["operation"], size_label(worst["bytes"]), worst["op_s"] * 1e6,
                100 * worst["fraction"], worst["backend"]))


_CONF = ("conformance.case_id", "conformance.backend")
CLAIMS = [
    Claim("aliasing.shared_borrow", "shared(value, borrow=True) aliases value instead of deep-copying it",
          _CONF + ("conformance.shares_memory",), shared_borrow_aliases),
    Claim("aliasing.shared_borrow_faster", "shared(value, borrow=True) is faster for large objects",
          ("throughput.operation", "throughput.borrow", "throughput.bytes", "throughput.median_s"),
          shared_borrow_faster),
    Claim("aliasing.shared_not_aliased", "shared variables are never aliased to one another",
          _CONF + ("conformance.shares_memory",), shared_never_aliased),
    Claim("aliasing.get_value_internal",
          "get_value(borrow=True, return_internal_type=True) returns the internal object; get_value() a copy",
          _CONF + ("conformance.same_object", "conformance.shares_memory"), get_value_internal),
    Claim("aliasing.set_value_borrow", "set_value(v, borrow=True) reuses v's buffer",
          _CONF + ("conformance.shares_memory",), set_value_borrow),
    Claim("aliasing.inplace_update",
          "s.set_value(f(s.get_value(borrow=True)), borrow=True) updates in place (keeps the buffer)",
          _CONF + ("conformance.shares_memory", "throughput.median_s"), inplace_update),
    Claim("aliasing.in_out_borrow", "function([In(x, borrow=True)], Out(y, borrow=True)) reuses buffers",
          _CONF + ("conformance.shares_memory",), in_out_borrow),
    Claim("aliasing.get_value_ndarray", "get_value() returns a numpy.ndarray, also after a compiled update",
          _CONF + ("conformance.conforms", "conformance.result_type"), ndarray_after_update),
    Claim("aliasing.timing_overhead",
          "the harness's own timing overhead is under 5% of a copy at 64 MB (or the largest size measured)",
          ("overhead.median_s", "throughput.median_s", "throughput.bytes"), timing_overhead),
]
