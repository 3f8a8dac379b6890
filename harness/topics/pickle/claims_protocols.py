"""The claims about protocols: HIGHEST_PROTOCOL is the smallest and fastest, and which protocols
each CPython can read. Pure functions of the rows (see ``judging``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.claims import Judgement
from harness.topic import Rows, kind
from harness.topics.pickle.judging import (
    NO_TIMES,
    case_label,
    cases,
    faster,
    good,
    largest,
    listing,
    ms,
    of,
    samples,
)
from harness.topics.pickle.methods import HIGHEST

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Outcome = Tuple[str, str]  # ("yes" | "tie" | "no", what was found)


def _protocols_compared(frame: "pd.DataFrame") -> "pd.DataFrame":
    """pickle.dumps rows of each object's largest size, of the objects measured at every protocol
    where there are such (the C++ containers and PyTensor/Theano objects may have only the
    default and the highest protocol)."""
    g = largest(good(of(frame, "bytes")))
    counts = g.groupby(["object", "size"])["protocol"].nunique()
    complete = counts[counts == HIGHEST + 1].index
    if len(complete):
        g = g.set_index(["object", "size"]).loc[complete].reset_index()
    return g


def _plist(protocols: List[int]) -> str:
    return ", ".join("p%d" % p for p in sorted(protocols))


def size_outcome(byp: Dict[int, Any]) -> Optional[Outcome]:
    """Is HIGHEST the smallest, in exact bytes? Several protocols can share the minimum (a tie)."""
    sizes = {p: int(r["pickled"]) for p, r in byp.items() if r["pickled"] == r["pickled"]}
    if HIGHEST not in sizes or len(sizes) < 2:
        return None
    low = min(sizes.values())
    smallest = [p for p, v in sizes.items() if v == low]
    if smallest == [HIGHEST]:
        second = min(v for p, v in sizes.items() if p != HIGHEST)
        return "yes", "p%d smallest (%d B; next %d B)" % (HIGHEST, low, second)
    if HIGHEST in smallest:
        return "tie", "smallest %s, the same %d B" % (_plist(smallest), low)
    return "no", "smallest %s (%d B), p%d %d B" % (_plist(smallest), low, HIGHEST, sizes[HIGHEST])


def time_outcome(byp: Dict[int, Any], op: str) -> Optional[Outcome]:
    """Is HIGHEST's ``op`` significantly faster than every other protocol's (Mann-Whitney,
    timing.compare)? A protocol significantly faster than HIGHEST makes it "no"; no significant
    difference from some protocol is a tie."""
    h = samples(byp[HIGHEST], op) if HIGHEST in byp else None
    others: Dict[int, List[float]] = {}
    for p, r in byp.items():
        got = samples(r, op) if p != HIGHEST else None
        if got:
            others[p] = got
    if not h or not others:
        return None
    won = {p: faster(h, v) for p, v in others.items()}
    beat = [p for p, f in won.items() if f == "b"]
    if beat:
        return "no", "%s: %s faster than p%d (%s)" % (op, _plist(beat), HIGHEST, ", ".join(
            "%s vs %s" % (ms(others[p]), ms(h)) for p in sorted(beat)[:2]))
    ties = [p for p, f in won.items() if f is None]
    if ties:
        return "tie", "%s: no significant difference from %s" % (op, _plist(ties))
    return "yes", "%s: p%d significantly faster than every other (%s)" % (op, HIGHEST, ms(h))


def outcome_verdict(outcomes: List[str]) -> str:
    """HIGHEST wins everywhere: confirmed; wins somewhere and ties or loses elsewhere: partly;
    never wins and loses somewhere: refuted; ties everywhere: inconclusive (no difference)."""
    yes, no = outcomes.count("yes"), outcomes.count("no")
    if yes and yes == len(outcomes):
        return "confirmed"
    if yes:
        return "partly"
    return "refuted" if no else "inconclusive"


def rule_highest(rows: Rows) -> Optional[Judgement]:
    frame = cases(rows)
    if frame is None:
        return None
    g = _protocols_compared(frame)
    with_times = "dump_values" in g.columns and g["dump_values"].notna().any()
    outcomes: List[str] = []
    counts: Dict[str, Dict[str, int]] = {}
    items = []
    for _, grp in g.groupby(["object", "size"], sort=False):
        byp = {int(r["protocol"]): r for _, r in grp.iterrows()}
        maybe = [("size", size_outcome(byp))]
        if with_times:
            maybe += [(op, time_outcome(byp, op)) for op in ("dump", "load")]
        found = [(m, o) for m, o in maybe if o is not None]
        if not found:
            continue
        for metric, (verdict, _) in found:
            outcomes.append(verdict)
            counts.setdefault(metric, {"yes": 0, "tie": 0, "no": 0})[verdict] += 1
        items.append("%s: %s" % (case_label(grp.iloc[0]), "; ".join(text for _, (_, text) in found)))
    if not outcomes:
        return "inconclusive", "needs dumps-p0..p%d on at least one object (none measured)" % HIGHEST
    key = "; ".join("%s: best %d, tied %d, not %d" % (m, c["yes"], c["tie"], c["no"]) for m, c in counts.items())
    evidence = ("HIGHEST_PROTOCOL (p%d) against every other protocol, per object (size in exact bytes; time "
                "faster only where a Mann-Whitney test on the samples of %s is significant): %s. %s"
                % (HIGHEST, "both" if with_times else "-", key, "; ".join(items)))
    if not with_times:
        evidence += ". " + NO_TIMES + ": judged on the size alone"
    return outcome_verdict(outcomes), evidence, key


# --------------------------------------------------------------------------
# Which protocols each CPython can read


def _versions(rows: Rows) -> "Optional[pd.DataFrame]":
    frame = kind(rows, "versions")
    return None if frame.empty else frame


def rule_versions(rows: Rows) -> Optional[Judgement]:
    frame = _versions(rows)
    if frame is None:
        return None
    pythons = sorted(set(frame["writer"]) | set(frame["reader"]), key=lambda v: [int(x) for x in v.split(".")])
    cross = frame[frame["writer"] != frame["reader"]]
    if cross.empty:
        return "inconclusive", ("only one CPython (%s) was found to write and read pickles, so nothing was loaded "
                                "across versions (install others, e.g. pyenv install 3.8)" % ", ".join(pythons))
    holds, breaks = 0, []
    for r in cross.to_dict(orient="records"):
        expected = int(r["protocol"]) <= int(r["reader_highest"])
        read = bool(r["loaded"]) and bool(r["equal"])
        if read == expected:
            holds += 1
        else:
            breaks.append("p%d of %s in %s: %s" % (r["protocol"], r["writer"], r["reader"],
                                                   r["error"] or ("loaded a different object" if r["loaded"]
                                                                  else "loaded, above its HIGHEST_PROTOCOL")))
    highest = {v: int(h) for v, h in zip(frame["writer"], frame["writer_highest"])}
    total = holds + len(breaks)
    key = "%d of %d loads across %d CPythons as expected" % (holds, total, len(pythons))
    evidence = ("each of CPython %s wrote the same data at every protocol it has (HIGHEST_PROTOCOL %s) and "
                "every other loaded it: %s" % (", ".join(pythons), "/".join(str(highest[v]) for v in pythons
                                                                               if v in highest), key))
    if breaks:
        evidence += "; not as expected: " + listing(breaks, 4)
    else:
        evidence += " (every protocol up to the reader's HIGHEST_PROTOCOL loaded and compared equal)"
    verdict = "confirmed" if not breaks else ("refuted" if holds == 0 else "partly")
    return verdict, evidence, key
