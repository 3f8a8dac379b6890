"""The claims about Theano's memory model beyond the aliasing flags themselves (issue 16's list):
its own memory space, the internal object held unmodified, get_value()'s object, and the two GPU
claims. Pure functions of the rows, like ``claims.py``.

The GPU claims read the GPU backends' rows, never the CuPy model's (``workloads.GPU_MODEL``: a
model of Theano's old GPU backend does what it was written to do, which is no evidence about a
library). Without them they say "not measured" and why, from the ``devices`` row the topic's
``finish`` adds (no CUDA device, or a run on the CPU): never a guess.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.claims import Claim
from harness.claims import Judgement as ClaimJudgement
from harness.core.units import size_label
from harness.topic import kind
from harness.topics.aliasing.conformance import CaseId
from harness.topics.aliasing.reading import agree, by_backend, p_text, significance
from harness.topics.aliasing.workloads import GPU_BACKENDS, GPU_MODEL

if TYPE_CHECKING:  # pragma: no cover

    from harness.topic import Rows

Judgement = Optional[ClaimJudgement]

# The cases with every flag at its default: what Theano holds or returns against what the caller holds
DEFAULT_FLAG_CASES = (CaseId.SHARED_COPY, CaseId.GET_COPY, CaseId.SET_COPY, CaseId.IDENTITY_COPY_COPY,
                      CaseId.RETURN_SHARED_COPY, CaseId.OUT_COPY_TWO_CALLS)


def own_memory(rows: "Rows") -> Judgement:
    """With default flags, does anything the library holds or returns overlap the caller's arrays?"""
    overlaps: Dict[str, List[str]] = {}
    for cid in DEFAULT_FLAG_CASES:
        same = by_backend(rows, cid, "same_object")
        for b, shares in by_backend(rows, cid).items():
            if shares is None or shares != shares:  # cannot be told (a buffer that cannot be located)
                continue
            overlaps.setdefault(b, [])
            if shares or same.get(b):
                overlaps[b].append(cid)
    if not overlaps:
        return None
    return agree({b: not o for b, o in overlaps.items()}), "default flags, what overlaps the caller's arrays: " + "; ".join(
        "%s: %s" % (b, ", ".join(o) or "nothing") for b, o in overlaps.items())


def internal_safe(rows: "Rows") -> Judgement:
    """The internal object held unmodified across a read and an update: results right, r unchanged."""
    right = by_backend(rows, CaseId.INTERNAL_HELD, "results_right")
    if not right:
        return None
    changed = by_backend(rows, CaseId.INTERNAL_HELD, "overwritten")
    internal = by_backend(rows, CaseId.GET_BORROW_INTERNAL, "same_object")
    # a backend counts only where every part was measured: an unmeasured part is no pass
    ok = {b: bool(right[b]) and not bool(changed[b]) and bool(internal[b])
          for b in right if b in changed and b in internal}
    if not ok:
        return "inconclusive", "not measured: the held internal object and get_value(borrow=True, " \
                               "return_internal_type=True) on one backend (%s)" % ", ".join(right)
    return agree(ok), "; ".join("%s: internal object %s, results right %s, r changed by an update %s" % (
        b, _yn(internal.get(b)), _yn(right[b]), _yn(changed.get(b))) for b in right)


def get_value_same(rows: "Rows") -> Judgement:
    """Two get_value() calls: one object? (and is it the stored one; get_value(borrow=True)'s is)."""
    twice = by_backend(rows, CaseId.GET_TWICE, "same_object")
    if not twice:
        return None
    stored = by_backend(rows, CaseId.GET_COPY, "same_object")
    borrowed = by_backend(rows, CaseId.GET_BORROW, "same_object")
    return agree(twice), "; ".join("%s: get_value() twice gives one object %s, the stored object %s; "
                                   "get_value(borrow=True) is the stored object %s" % (
                                       b, _yn(v), _yn(stored.get(b)), _yn(borrowed.get(b))) for b, v in twice.items())


def _yn(v: Any) -> str:
    return "?" if v is None or v != v else ("yes" if v else "no")


def gpu_backends(rows: "Rows") -> Tuple[List[str], Optional[str]]:
    """(the GPU backends with rows, not the model; or [] and why the GPU claims were not measured,
    None when the rows say nothing about devices at all)."""
    seen = [b for k in ("conformance", "throughput") if "backend" in kind(rows, k)
            for b in dict.fromkeys(kind(rows, k)["backend"]) if b in GPU_BACKENDS]
    real = list(dict.fromkeys(b for b in seen if b != GPU_MODEL))
    if real:
        return real, None
    if seen:
        return [], ("only the CuPy model ran (a model of Theano's GPU backend behaves as written: no evidence "
                    "about a library); PyTensor's JAX mode on CUDA measures it")
    dev = kind(rows, "devices")
    if dev.empty:
        return [], None
    d = dev.iloc[0]
    if not bool(d["cuda"]):
        return [], "not measured: %s" % (d["reason"] or "no CUDA device")
    return [], "not measured: this run measured the CPU (memharness aliasing --device gpu measures it)"


def _gpu_pair(rows: "Rows", b: str, op_a: Tuple[str, bool], op_b: Tuple[str, bool]) -> Optional[Tuple[int, Any, Any]]:
    """(largest size, row of op_a, row of op_b) of one backend, where both were timed there."""
    t = kind(rows, "throughput")
    if t.empty:
        return None
    mine = t[t["backend"] == b]
    a = mine[(mine["operation"] == op_a[0]) & (mine["borrow"] == op_a[1])]
    c = mine[(mine["operation"] == op_b[0]) & (mine["borrow"] == op_b[1])]
    both = sorted(set(a["bytes"]) & set(c["bytes"]))
    if not both:
        return None
    n = both[-1]
    return int(n), a[a["bytes"] == n].iloc[0], c[c["bytes"] == n].iloc[0]


def gpu_borrow_useless(rows: "Rows") -> Judgement:
    """On a GPU backend: shared(v, borrow=True) of a host value neither aliases v nor is significantly
    faster than the copy. Useless on every GPU backend: confirmed."""
    real, why = gpu_backends(rows)
    if not real:
        return None if why is None else ("inconclusive", why)
    aliases = by_backend(rows, CaseId.SHARED_BORROW)
    useless: Dict[str, bool] = {}
    words = []
    for b in real:
        pair = _gpu_pair(rows, b, ("shared", True), ("shared", False))
        alias = aliases.get(b)
        if pair is None or alias is None or alias != alias:  # both halves measured, or no verdict here
            words.append("%s: not judged (%s)" % (b, "no copy and borrow timed" if pair is None
                                                  else "whether shared(v, borrow=True) aliases v was not measured"))
            continue
        c = significance(pair[1], pair[2])
        if c["p"] != c["p"]:  # untested (one median each, as in kept asv results): no verdict on speed
            words.append("%s: aliases v %s; speed not tested: %s" % (b, _yn(alias), c["why"]))
            continue
        faster = c["faster"] == "a"
        useless[b] = not alias and not faster
        words.append("%s: shared(v, borrow=True) aliases v %s; at %s copy/borrow time %.3gx, borrow %s (%s)" % (
            b, _yn(alias), size_label(pair[0]), c["ratio"], "faster" if faster else "not faster", p_text(c)))
    if not useless:
        return "inconclusive", "no GPU backend had both halves measured: " + "; ".join(words or real)
    return agree(useless), "; ".join(words)


def gpu_contiguous(rows: "Rows") -> Judgement:
    """On a GPU backend: set_value of a strided host value significantly slower than of a contiguous
    one (the extra copy the advice avoids): confirmed where it is, refuted where no difference."""
    real, why = gpu_backends(rows)
    if not real:
        return None if why is None else ("inconclusive", why)
    slower: Dict[str, bool] = {}
    words = []
    for b in real:
        pair = _gpu_pair(rows, b, ("set_value", False), ("set_value_strided", False))
        if pair is None:
            continue
        c = significance(pair[1], pair[2])
        if c["p"] != c["p"]:
            words.append("%s: %s" % (b, c["why"]))
            continue
        slower[b] = c["faster"] == "a"
        words.append("%s: at %s strided/contiguous set_value time %.3gx, %s (%s)" % (
            b, size_label(pair[0]), c["ratio"], "strided slower" if slower[b] else "strided not slower", p_text(c)))
    if not slower:
        return "inconclusive", "no strided and contiguous set_value timed on: %s%s" % (
            ", ".join(real), ("; " + "; ".join(words)) if words else "")
    return agree(slower), "; ".join(words)


_CONF = ("conformance.case_id", "conformance.backend")
MODEL_CLAIMS = [
    Claim("aliasing.own_memory", "Theano manages its memory apart from Python: its own memory space, which with "
          "default flags does not overlap the Python variables other code creates",
          _CONF + ("conformance.shares_memory", "conformance.same_object"), own_memory),
    Claim("aliasing.internal_safe",
          "get_value(borrow=True, return_internal_type=True) returns the internal object and is safe when not modified",
          _CONF + ("conformance.results_right", "conformance.overwritten", "conformance.same_object"), internal_safe),
    Claim("aliasing.get_value_same", "get_value() returns the same object",
          _CONF + ("conformance.same_object",), get_value_same),
    Claim("aliasing.gpu_borrow_useless", "borrow is useless with GPUs (a host value is copied to the device either way)",
          _CONF + ("conformance.shares_memory", "throughput.median_s", "throughput.values", "devices.cuda"),
          gpu_borrow_useless),
    Claim("aliasing.gpu_contiguous",
          "assign contiguous values to a GPU shared variable (a strided value costs an extra copy)",
          ("throughput.operation", "throughput.median_s", "throughput.values", "devices.cuda"), gpu_contiguous),
]
