"""The aliasing topic's claims: what Theano's aliasing tutorial promises, judged from the rows.

Conformance claims select rows by ``case_id`` (``conformance.CaseId``), never by the case's words.
Each rule is a pure function of the rows (``conformance``, ``throughput``, ``overhead``) and
returns ``(verdict, evidence)``, or None where the rows hold none of the cases it is about.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from harness.claims import Claim
from harness.claims import Judgement as ClaimJudgement
from harness.core.units import size_label
from harness.core.verdict import tally
from harness.topic import kind
from harness.topics.aliasing.claims_model import MODEL_CLAIMS
from harness.topics.aliasing.conformance import CaseId
from harness.topics.aliasing.reading import agree, borrow_pairs, borrow_speedups, by_backend, listing, p_text, significance
from harness.topics.aliasing.workloads import MAX_OVERHEAD

if TYPE_CHECKING:  # pragma: no cover

    from harness.topic import Rows

Judgement = Optional[ClaimJudgement]


def overhead_shares(rows: "Rows") -> List[Dict[str, Any]]:
    """Per backend and size: the empty callable's time (measured at that size; a row without a size
    applies to every size) against the fastest operation timed there through the same path (copy or
    borrow), in seconds, and their ratio."""
    overhead, tput = kind(rows, "overhead"), kind(rows, "throughput")
    if overhead.empty or tput.empty:
        return []
    out = []
    for b, ohs in overhead.groupby("backend", sort=False):
        at = {int(n): float(m) for n, m in zip(ohs["bytes"], ohs["median_s"]) if n == n} if "bytes" in ohs else {}
        anywhere = None if at else ohs["median_s"].iloc[0]
        mine = tput[tput["backend"] == b]
        for nbytes in sorted(set(int(n) for n in mine["bytes"])):
            oh = at.get(nbytes, anywhere)
            if oh is None:
                continue
            g = mine[mine["bytes"] == nbytes]
            fastest = g.iloc[int(g["median_s"].to_numpy().argmin())]
            out.append({"backend": b, "empty_call_s": oh, "bytes": nbytes, "operation": fastest["operation"],
                        "borrow": bool(fastest["borrow"]), "op_s": fastest["median_s"],
                        "fraction": oh / fastest["median_s"]})
    return out


# --------------------------------------------------------------------------
# The rules


def shared_borrow_aliases(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.SHARED_BORROW)
    if not d:
        return None
    return agree(d), listing(d, "aliases", "copies")


def shared_borrow_faster(rows: "Rows") -> Judgement:
    """Per backend at the largest size: borrow faster, slower or no significant difference
    (timing.compare on every sample of both); every backend faster: confirmed, none: refuted."""
    big, pairs = borrow_pairs(rows, "shared")
    if big is None or not pairs:
        return None
    tests = {b: significance(w, c) for b, (c, w) in pairs.items()}
    if not any(t["p"] == t["p"] for t in tests.values()):
        return "inconclusive", "at %s, too few samples to test a difference (%s)" % (
            size_label(big), "; ".join("%s: %s" % (b, t["why"]) for b, t in tests.items()))
    said = {"a": "borrow faster", "b": "borrow slower", None: "no significant difference"}
    # a backend whose samples could not be tested is left out of the verdict (named in the evidence)
    verdict = agree({b: t["faster"] == "a" for b, t in tests.items() if t["p"] == t["p"]})
    return verdict, "at %s, copy time / borrow time: %s" % (size_label(big), "; ".join(
        "%s: %.3gx, %s (%s)" % (b, t["ratio"], said[t["faster"]] if t["p"] == t["p"] else "not tested: " + t["why"],
                                p_text(t)) for b, t in tests.items())), \
        "; ".join("%s %.3gx" % (b, t["ratio"]) for b, t in tests.items())


def shared_never_aliased(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.TWO_SHARED_BORROW)
    if not d:
        return None
    d0 = by_backend(rows, CaseId.TWO_SHARED_COPY)
    aliased = [b for b, v in d.items() if v]
    copies_alias = any(d0.values())
    verdict = "confirmed" if not aliased and not copies_alias else ("partly" if not copies_alias else "refuted")
    return verdict, "two shared(v) from one array: %s; two shared(v, borrow=True): %s" % (
        listing(d0, "share memory", "separate"), listing(d, "share memory", "separate"))


def get_value_internal(rows: "Rows") -> Judgement:
    d_int = by_backend(rows, CaseId.GET_BORROW_INTERNAL, "same_object")
    d_copy = {b: not v for b, v in by_backend(rows, CaseId.GET_COPY).items()}
    if not d_int or not d_copy:
        return None
    ok = {b: bool(d_int.get(b)) and bool(d_copy.get(b)) for b in d_int}
    return agree(ok), "internal object: %s; get_value() separate: %s" % (
        listing(d_int, "yes", "no"), listing(d_copy, "yes", "no"))


def set_value_borrow(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.SET_BORROW)
    if not d:
        return None
    dm = by_backend(rows, CaseId.SET_BORROW_DTYPE)
    nc = by_backend(rows, CaseId.SET_BORROW_NONCONTIG)
    verdict = agree(d)
    if verdict == "confirmed" and (not all(dm.values()) or not all(nc.values())):
        verdict = "partly"
    return verdict, "same dtype: %s; float32 into float64: %s; non-contiguous: %s" % (
        listing(d, "reused", "copied"), listing(dm, "reused", "copied"), listing(nc, "reused", "copied"))


def inplace_update(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.INPLACE)
    if not d:
        return None
    big, speed = borrow_speedups(rows, "update_pattern")
    extra = ""
    if big is not None and speed:  # no size timed implies no speedups
        extra = "; at %s it is faster than get_value()/set_value() copies by: %s" % (
            size_label(big), ", ".join("%s %.3gx" % (b, s) for b, s in speed.items()))
    return agree(d), listing(d, "buffer kept", "new buffer") + extra


def in_out_borrow(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.IDENTITY_BORROW_BORROW)
    if not d:
        return None
    in_only = by_backend(rows, CaseId.IDENTITY_BORROW_COPY)
    ob = by_backend(rows, CaseId.OUT_BORROW_TWO_CALLS)
    ob_nogc = by_backend(rows, CaseId.OUT_BORROW_TWO_CALLS_NOGC)
    verdict = agree(d)
    if verdict == "confirmed" and not all(ob.values()):
        verdict = "partly"
    return verdict, ("output is the input (identity): %s; In(borrow) alone: %s; Out(borrow) output buffer reused "
                     "across calls: %s%s" % (
                         listing(d, "yes", "no"), listing(in_only, "aliases", "still copies"),
                         listing(ob, "yes", "no"),
                         ("; with a no-gc linker: " + listing(ob_nogc, "yes", "no")) if ob_nogc else ""))


def ndarray_after_update(rows: "Rows") -> Judgement:
    d = by_backend(rows, CaseId.AFTER_UPDATE_COPY, "conforms")
    if not d:
        return None
    types = by_backend(rows, CaseId.AFTER_UPDATE_COPY, "result_type")
    return agree(d), "; ".join("%s: %s" % (b, t) for b, t in types.items())


def timing_overhead(rows: "Rows") -> Judgement:
    """The sizes where the empty call stays under MAX_OVERHEAD of the fastest operation timed there
    (every backend): all of them confirmed, none refuted, some partly."""
    shares = overhead_shares(rows)
    if not shares:
        return None
    by_size: Dict[int, List[Dict[str, Any]]] = {}
    for r in shares:
        by_size.setdefault(r["bytes"], []).append(r)
    under = [n for n, rs in by_size.items() if all(r["fraction"] < MAX_OVERHEAD for r in rs)]
    over = [n for n in by_size if n not in under]
    worst = {n: max(by_size[n], key=lambda r: r["fraction"]) for n in over}
    text = "under %d%% at: %s; over at: %s" % (
        round(100 * MAX_OVERHEAD), ", ".join(size_label(n) for n in under) or "no size", "; ".join(
            "%s (%s %s%s: %.3g ns of %.3g ns, %.2g%%)" % (
                size_label(n), w["backend"], w["operation"], " borrow" if w["borrow"] else "",
                w["empty_call_s"] * 1e9, w["op_s"] * 1e9, 100 * w["fraction"]) for n, w in worst.items()) or "no size")
    return tally(len(under), len(by_size)), text


_CONF = ("conformance.case_id", "conformance.backend")
CLAIMS = [
    Claim("aliasing.shared_borrow", "shared(value, borrow=True) aliases value instead of deep-copying it",
          _CONF + ("conformance.shares_memory",), shared_borrow_aliases),
    Claim("aliasing.shared_borrow_faster", "shared(value, borrow=True) is faster for large objects",
          ("throughput.operation", "throughput.borrow", "throughput.bytes", "throughput.median_s",
           "throughput.values"), shared_borrow_faster),
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
          "the harness's own timing overhead is under 5% of the fastest operation it times, at every size",
          ("overhead.median_s", "throughput.median_s", "throughput.bytes", "throughput.operation"), timing_overhead),
] + MODEL_CLAIMS
