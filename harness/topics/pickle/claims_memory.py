"""The claims about memory: pickling takes an unnecessarily large chunk of it, a file is more
efficient than bytes for certain objects, and out-of-band buffers copy nothing. Pure functions of
the rows (see ``judging``). Peaks are resident peaks (RSS high-water above the start); what
tracemalloc counted above them (buffers reserved and never touched) is reported apart."""
from __future__ import annotations

from typing import List, Optional, Tuple

from harness.claims import Judgement
from harness.core.units import format_bytes as _mib
from harness.core.verdict import tally
from harness.topic import Rows
from harness.topics.pickle.judging import (
    NO_TIMES,
    MiB,
    case_label,
    cases,
    faster,
    good,
    holds_arrays,
    listing,
    of,
    samples,
)
from harness.topics.pickle.methods import DEFAULT, HIGHEST
from harness.topics.pickle.workloads import OBJECTS

WASTE = 0.5  # payloads of resident memory above what must exist: "an unnecessarily large chunk"...
FLOOR = 256 << 10  # ...and this many bytes: pickle's fixed buffers (a 64 KiB frame, a file's buffer) are not it
JOBS = (("bytes", "pickle.dumps"), ("file", "pickle.dump to a file"))


def _copies(value: float) -> str:
    return "%.2f" % value if value == value else "n/a"


def unnecessary(r: dict) -> float:
    """Resident peak above what must exist besides the object: the pickle's bytes for dumps
    (its length), nothing for a file (the bytes go to the file)."""
    necessary = float(r["pickled"]) if r["kind"] == "bytes" else 0.0
    return float(r["dump_peak"]) - necessary


def rule_peak(rows: Rows) -> Optional[Judgement]:
    frame = cases(rows)
    if frame is None:
        return None
    g = good(frame)
    g = g[g["kind"].isin([k for k, _ in JOBS]) & g["protocol"].isin([DEFAULT, HIGHEST]) & g["dump_peak"].notna()]
    wasteful: List[str] = []
    fine: List[str] = []
    for r in g.to_dict(orient="records"):
        waste = unnecessary(r)
        extra = waste / r["payload"]
        text = "%s %s p%d: %s copies resident, %s above %s" % (
            case_label(r), "dumps" if r["kind"] == "bytes" else "file", r["protocol"], _copies(r["dump_copies"]),
            _copies(extra), "the pickle's own bytes" if r["kind"] == "bytes" else "zero (a file needs no copy)")
        untouched = r.get("dump_untouched")
        if untouched is not None and untouched == untouched and untouched >= 0.05 * r["payload"]:
            text += " (tracemalloc: %s more, reserved and never touched)" % _copies(untouched / r["payload"])
        (wasteful if extra >= WASTE and waste >= FLOOR else fine).append(text)
    if not wasteful and not fine:
        return "inconclusive", "needs dumps-p%d or dump-p%d with its resident peak" % (DEFAULT, HIGHEST)
    ev = ("resident peak of pickle.dumps / pickle.dump (protocols %s) in payload copies, against what must "
          "exist (the object, plus the pickle's bytes for dumps): " % "/".join(map(str, sorted({DEFAULT, HIGHEST}))))
    if wasteful:
        ev += "%.1f payload (and %s) or more unnecessary for %d case(s): %s. " % (
            WASTE, _mib(FLOOR), len(wasteful), listing(wasteful, 4))
    if fine:
        ev += "Less for %d case(s): %s." % (len(fine), listing(fine, 4))
    return tally(len(wasteful), len(wasteful) + len(fine)), ev.strip()


# --------------------------------------------------------------------------
# A file rather than bytes


def _file_pairs(g: "object") -> Tuple[Optional[int], list]:
    """The protocol (HIGHEST first) at which some objects have both dumps and dump, and the pairs."""
    for p in sorted({HIGHEST, DEFAULT}, reverse=True):
        b = {(r["object"], r["size"]): r for r in of(g, "bytes", p).to_dict(orient="records")}  # type: ignore[arg-type]
        f = {(r["object"], r["size"]): r for r in of(g, "file", p).to_dict(orient="records")}  # type: ignore[arg-type]
        common = [k for k in b if k in f]
        if common:
            return p, [(b[k], f[k]) for k in common]
    return None, []


def rule_file(rows: Rows) -> Optional[Judgement]:
    frame = cases(rows)
    if frame is None:
        return None
    p, pairs = _file_pairs(good(frame))
    if p is None:
        return "inconclusive", "needs dumps-pN and dump-pN of the same protocol (not measured)"
    helps: List[str] = []
    tradeoff: List[str] = []
    no: List[str] = []
    with_times = False
    unmeasured = [case_label(rb) for rb, rf in pairs if not (rb["dump_peak"] == rb["dump_peak"]
                                                              and rf["dump_peak"] == rf["dump_peak"])]
    pairs = [(rb, rf) for rb, rf in pairs if case_label(rb) not in unmeasured]
    if not pairs:
        return "inconclusive", "not measured: the resident dump peak of %s" % ", ".join(unmeasured)
    for rb, rf in pairs:
        saving = rb["dump_peak"] - rf["dump_peak"]
        text = "%s: resident peak %s to a file vs %s to bytes" % (case_label(rb), _mib(rf["dump_peak"]),
                                                                   _mib(rb["dump_peak"]))
        tb, tf = samples(rb, "dump"), samples(rf, "dump")
        quicker = None
        if tb and tf:
            with_times = True
            quicker = faster(tb, tf)
            text += ", time %s" % {"a": "significantly slower", "b": "significantly faster",
                                   None: "no significant difference"}[quicker]
        if not (rf["dump_peak"] <= 0.5 * rb["dump_peak"] and saving >= 0.25 * rb["payload"]):
            no.append(text)
        elif quicker == "a":
            tradeoff.append(text)
        else:
            helps.append(text)
    ev = "pickle.dump(protocol=%d) to a file vs pickle.dumps, the same object and protocol: " % p
    for what, items in (("half the peak or less and at least a quarter payload saved, no slower", helps),
                        ("saves memory but significantly slower", tradeoff), ("no such saving", no)):
        if items:
            ev += "%s for %d case(s): %s. " % (what, len(items), listing(items, 3))
    if not with_times:
        ev += NO_TIMES + "."
    if unmeasured:
        ev += "Not judged (resident peak not measured): %s." % ", ".join(unmeasured)
    # "certain objects": one object for which the file is the better way confirms the words
    verdict = "confirmed" if helps else ("partly" if tradeoff else "refuted")
    key = "file more efficient for %d of %d" % (len(helps), len(pairs))
    if tradeoff:
        key += ", less memory but slower for %d" % len(tradeoff)
    return verdict, ev.strip(), key


# --------------------------------------------------------------------------
# Out-of-band buffers: zero copies


def rule_oob(rows: Rows) -> Optional[Judgement]:
    frame = cases(rows)
    if frame is None:
        return None
    g = good(frame)
    o = g[(g["kind"] == "oob") & holds_arrays(g)]
    if o.empty:
        return "inconclusive", "needs oob-p5 on an object holding numpy arrays"
    items = []
    zero = True
    for _, r in o.iterrows():
        inband = of(g, "bytes", 5)
        inband = inband[(inband["object"] == r["object"]) & (inband["size"] == r["size"])]
        ref = (" (in-band dumps-p5: %.2f / %.2f)" % (inband.iloc[0]["dump_copies"], inband.iloc[0]["load_copies"])
               if not inband.empty else "")
        items.append("%s: dump %s, load %s copies%s" % (case_label(r), _copies3(r["dump_copies"]),
                                                        _copies3(r["load_copies"]), ref))
        if not OBJECTS[r["object"]].is_ndarray:
            items[-1] += " (not judged: also holds data that stays in band)"
        elif r["payload"] < MiB:
            items[-1] += " (not judged: below 1 MiB a page is more than 0.05 copies)"
        elif not r["dump_copies"] == r["dump_copies"]:
            items[-1] += " (not judged: the dump's copies not measured)"
        elif r["dump_copies"] > 0.05 or r["load_copies"] > 0.05:  # a load not measured (NaN) judges the dump alone
            zero = False
    judged = o[holds_arrays(o, ndarray=True) & (o["payload"] >= MiB) & o["dump_copies"].notna()]
    verdict = "inconclusive" if judged.empty else ("confirmed" if zero else "refuted")
    return verdict, ("resident peak of a plain array in payload copies (zero copy: < 0.05 at 1 MiB and "
                     "above): " + "; ".join(items)), "; ".join(items)


def _copies3(value: float) -> str:
    return "%.3f" % value if value == value else "n/a"
