"""The claims about what is pickled: ``__getstate__``/``__setstate__`` control it, passing the
whole ``__dict__`` less some entries works but is not robust, and pkl_utils' zips are
numpy-readable. Pure functions of the rows (see ``judging``)."""
from __future__ import annotations

from typing import Optional

from harness.claims import Judgement
from harness.core.units import format_bytes as _mib
from harness.topic import Rows
from harness.topics.pickle.judging import NO_TIMES, case_label, cases, good, holds_arrays, largest, of, timed
from harness.topics.pickle.methods import HIGHEST

SMALLER = 0.75  # pickled bytes below this share of the default way's: the cache was left out
GROWN = 1.25  # a subclass's pickle above this share of its base class's: its derived attribute went in


def rule_getstate(rows: Rows) -> Optional[Judgement]:
    frame = cases(rows)
    if frame is None:
        return None
    s = of(good(frame), "bytes", HIGHEST).set_index(["object", "size"])
    pairs = [k for k in s.index if k[0] == "cached-getstate" and ("cached-default", k[1]) in s.index]
    if not pairs:
        return "inconclusive", "needs cached-default and cached-getstate with dumps-p%d" % HIGHEST
    size = max(k[1] for k in pairs)
    a, d = s.loc[("cached-getstate", size)], s.loc[("cached-default", size)]
    r_bytes = a["pickled"] / d["pickled"]
    r_peak = a["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan")
    ev = "dumps-p%d, %s payload: pickled %s vs %s (%.2fx), resident dump peak %.2fx" % (
        HIGHEST, _mib(a["payload"]), _mib(a["pickled"]), _mib(d["pickled"]), r_bytes, r_peak)
    if timed(frame, "dump_s", "load_s"):
        ev += ", median dump time %.2fx, load time %.2fx" % (a["dump_s"] / d["dump_s"], a["load_s"] / d["load_s"])
    ev += " (the cache is rebuilt on load)"
    if ("cached-slots", size) in s.index:
        sl = s.loc[("cached-slots", size)]
        ev += "; __slots__ alone: pickled %.3fx, dump peak %.2fx of the default" % (
            sl["pickled"] / d["pickled"], sl["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan"))
    if not timed(frame, "dump_s", "load_s"):
        ev += "; " + NO_TIMES
    verdict = ("confirmed" if r_bytes < SMALLER and r_peak < SMALLER
               else ("partly" if r_bytes < SMALLER else "refuted"))
    return verdict, ev


def rule_dictstate(rows: Rows) -> Optional[Judgement]:
    """Works: the base class's ``__dict__``-less-the-cache pickle round-trips and is smaller than
    the default way's. Not robust: a subclass that adds a derived attribute of its own gets it
    pickled too (the copy of ``__dict__`` keeps every entry it was not told to remove), or its
    round trip fails. Both: confirmed; one: partly; neither: refuted."""
    frame = cases(rows)
    if frame is None:
        return None
    hp = of(frame, "bytes", HIGHEST)
    base = largest(hp[hp["object"] == "cached-dictcopy"])
    if base.empty:
        return None if "cached-dictcopy-sub" not in set(hp["object"]) else (
            "inconclusive", "needs cached-dictcopy with dumps-p%d" % HIGHEST)
    b = base.iloc[0]
    size = b["size"]
    default = good(hp[(hp["object"] == "cached-default") & (hp["size"] == size)])
    sub = hp[(hp["object"] == "cached-dictcopy-sub") & (hp["size"] == size)]
    if default.empty or sub.empty:
        return "inconclusive", "needs cached-default, cached-dictcopy and cached-dictcopy-sub at one size"
    d, s = default.iloc[0], sub.iloc[0]
    base_ok = b["error"] != b["error"] or b["error"] is None
    works = bool(base_ok and b["equal"] == True and b["pickled"] < SMALLER * d["pickled"])  # noqa: E712
    sub_ok = (s["error"] is None or s["error"] != s["error"]) and s["equal"] == True  # noqa: E712
    grown = s["pickled"] / b["pickled"] if b["pickled"] else float("nan")
    breaks = bool(not sub_ok or grown >= GROWN)
    ev = ("dumps-p%d, %s payload: __getstate__ = __dict__ less the cache %s (pickled %s, %.2fx the default "
          "way's %s%s); a subclass adding a derived attribute: %s" % (
              HIGHEST, _mib(b["payload"]), "works" if works else "does not work", _mib(b["pickled"]),
              b["pickled"] / d["pickled"], _mib(d["pickled"]),
              "" if base_ok and b["equal"] == True else ", round trip failed",  # noqa: E712
              ("round trip failed (%s)" % (s["error"] if isinstance(s["error"], str) else "a different object"))
              if not sub_ok else "pickled %s, %.2fx the base class's: the derived attribute %s" % (
                  _mib(s["pickled"]), grown, "went in too (not robust)" if breaks else "stayed out")))
    verdict = "confirmed" if works and breaks else ("partly" if works or breaks else "refuted")
    return verdict, ev, "%s; subclass %.2fx" % ("works" if works else "fails", grown)


def rule_pkl_utils(rows: Rows) -> Optional[Judgement]:
    """Judged on a real pkl_utils (Theano, or PyTensor <= 2.24) only; the harness's own
    numpy-readable zip (npzip) is reported as its own row, not as evidence for the library."""
    frame = cases(rows)
    if frame is None or "numpy_readable" not in frame.columns:
        return None  # rows that do not say (asv does not track it)
    g = good(frame)
    z = g[g["kind"].isin(["npzip", "pkl_utils"]) & holds_arrays(g)]
    real = z[z["kind"] == "pkl_utils"]
    items = []
    for _, r in largest(z).iterrows():
        name = "pkl_utils (%s)" % r["library"] if r["kind"] == "pkl_utils" else "the harness's own npzip"
        items.append("%s on %s: numpy-readable %s" % (name, case_label(r), "yes" if r["numpy_readable"] else "NO"))
    if real.empty:
        return "inconclusive", ("no pkl_utils ran (Theano, or PyTensor <= 2.24, is not installed where this ran, or its run "
                                "failed: see the topic's notes)%s"
                                % ("; not evidence for the library: " + "; ".join(items) if items else ""))
    readable = bool((real["numpy_readable"] == True).all())  # noqa: E712
    return ("confirmed" if readable else "refuted"), "; ".join(items)
