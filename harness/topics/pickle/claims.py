"""The pickle topic's claims: each a Claim object whose rule is a pure function of the rows.

Every rule reads the "cases" rows (one per object, size and method; bytes and seconds) and keeps
only the rows of methods that round-tripped (no error, equal). Rows rebuilt from asv results
(``TOPIC.from_asv``) hold bytes and peaks but no times: a rule then judges what the rows hold and
says so in its evidence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.claims import Claim, Judgement
from harness.core.units import format_bytes as _mib  # the one byte formatter
from harness.core.verdict import tally
from harness.topic import Rows, kind
from harness.topics.pickle.methods import DEFAULT, HIGHEST
from harness.topics.pickle.workloads import OBJECTS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MiB = float(1 << 20)
NO_TIMES = "times are not in these rows (asv tracks bytes and peaks)"
TIMES = ("cases.dump_s", "cases.load_s")


# --------------------------------------------------------------------------
# Helpers




def _case(r: Any) -> str:
    return "%s %s" % (r["object"], _mib(r["payload"]))


def _cases(rows: Rows) -> "Optional[pd.DataFrame]":
    """The "cases" rows, or None where there are none (the rows say nothing of pickling)."""
    frame = kind(rows, "cases")
    return None if frame.empty else frame


def _timed(frame: "pd.DataFrame", *columns: str) -> bool:
    """Whether the rows hold these time figures (a live run does; rows from asv results do not)."""
    return all(c in frame.columns and frame[c].notna().any() for c in columns)


def _good(frame: "pd.DataFrame") -> "pd.DataFrame":
    return frame[frame["error"].isna() & (frame["equal"] == True)]  # noqa: E712


def _of(frame: "pd.DataFrame", kind_: str, protocol: Optional[int] = None) -> "pd.DataFrame":
    """Rows of one kind of method ("bytes": pickle.dumps, "file": pickle.dump, "oob", ...), at one protocol."""
    sel = frame["kind"] == kind_
    if protocol is not None:
        sel &= frame["protocol"] == protocol
    return frame[sel]


def _largest(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Rows of the largest size measured of each object."""
    if frame.empty:
        return frame
    top = frame.groupby("object")["size"].transform("max")
    return frame[frame["size"] == top]


def _listing(items: List[str], limit: int = 4) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + " and %d more" % (len(items) - limit)


def _tied(value: float, best: float, iqr_v: float, iqr_b: float, rel: float) -> bool:
    return value <= best * (1 + rel) or value - best <= (iqr_v or 0) + (iqr_b or 0)


def _holds_arrays(frame: "pd.DataFrame", ndarray: bool = False) -> "pd.Series":
    attr = "is_ndarray" if ndarray else "has_arrays"
    return frame["object"].map(lambda n: getattr(OBJECTS[n], attr)).astype(bool)


# --------------------------------------------------------------------------
# HIGHEST_PROTOCOL is the smallest and fastest

_METRICS = (("smallest", "pickled", None, 0.01), ("fastest dump", "dump_min", "dump_iqr", 0.2),
            ("fastest load", "load_min", "load_iqr", 0.2))


def _protocols_compared(frame: "pd.DataFrame") -> "pd.DataFrame":
    """pickle.dumps rows of each object's largest size, of the objects measured at every protocol
    where there are such (the default run gives the C++ containers and PyTensor/Theano objects
    only the default and the highest protocol)."""
    g = _largest(_good(_of(frame, "bytes")))
    counts = g.groupby(["object", "size"])["protocol"].nunique()
    complete = counts[counts == HIGHEST + 1].index
    if len(complete):
        g = g.set_index(["object", "size"]).loc[complete].reset_index()
    return g


def _highest_cases(g: "pd.DataFrame", metrics: Tuple[Any, ...]) -> Tuple[Dict[str, Tuple[List[str], List[str]]],
                                                                        int, List[float]]:
    """Per metric: (objects where HIGHEST is best or tied, where it is not); the objects; the
    dump times at HIGHEST over the default protocol."""
    per_metric: Dict[str, Tuple[List[str], List[str]]] = {m[0]: ([], []) for m in metrics}
    vs_default: List[float] = []
    n_cases = 0
    for _, grp in g.groupby(["object", "size"], sort=False):
        byp = {int(r["protocol"]): r for _, r in grp.iterrows()}
        judged = False
        for metric, col, iqr, rel in metrics:
            have = {p: r for p, r in byp.items() if col in r and r[col] == r[col]}  # figures of this metric
            if HIGHEST not in have or len(have) < 2:
                continue
            judged = True
            h = have[HIGHEST]
            best_p = min(have, key=lambda p: have[p][col])
            b = have[best_p]
            label = _case(h)
            if _tied(h[col], b[col], h[iqr] if iqr else 0, b[iqr] if iqr else 0, rel):
                per_metric[metric][0].append(label)
            elif col == "pickled":
                per_metric[metric][1].append("%s (p%d %d B < p%d %d B)" % (label, best_p, b[col], HIGHEST, h[col]))
            else:
                per_metric[metric][1].append("%s (p%d %.3g ms < p%d %.3g ms)"
                                             % (label, best_p, b[col] * 1e3, HIGHEST, h[col] * 1e3))
        if not judged:
            continue
        n_cases += 1
        h = byp[HIGHEST]
        if DEFAULT in byp and DEFAULT != HIGHEST and "dump_s" in g.columns:
            vs_default.append(h["dump_s"] / byp[DEFAULT]["dump_s"])
    return per_metric, n_cases, vs_default


def rule_highest(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None:
        return None
    timed = _timed(frame, "dump_min", "load_min")
    g = _protocols_compared(frame)
    per_metric, n_cases, vs_default = _highest_cases(g, _METRICS if timed else _METRICS[:1])
    if not n_cases:
        return "inconclusive", "needs dumps-p0..p%d on at least one object (none measured)" % HIGHEST
    parts = []
    for metric, (ok, bad) in per_metric.items():
        if bad:
            parts.append("%s for %d of %d objects, not for %s" % (metric, len(ok), len(ok) + len(bad),
                                                                  _listing(bad, 3)))
        else:
            parts.append("%s for all %d objects" % (metric, len(ok)))
    # what HIGHEST buys over protocol 0 (size) and the default protocol (time)
    extra = []
    p0 = g[g["protocol"] == 0].set_index(["object", "size"])["pickled"]
    ph = g[g["protocol"] == HIGHEST].set_index(["object", "size"])["pickled"]
    ratio = (p0 / ph).dropna()
    if len(ratio):
        extra.append("protocol 0 is %.1f-%.1fx larger" % (ratio.min(), ratio.max()))
    if vs_default:
        extra.append("dump time at p%d / p%d: %.2f-%.2f" % (HIGHEST, DEFAULT, min(vs_default), max(vs_default)))
    if not timed:
        extra.append(NO_TIMES + ": judged on the size alone")
    bads = sum(bool(bad) for _, bad in per_metric.values())
    all_bad = not any(ok for ok, _ in per_metric.values())
    verdict = "confirmed" if bads == 0 else ("refuted" if all_bad else "partly")
    evidence = ("HIGHEST (protocol %d; ties: within 1%% in size, 20%% or the IQRs in best-of-samples time) is "
                % HIGHEST)
    return verdict, evidence + "; ".join(parts) + (". " + "; ".join(extra) if extra else ""), "; ".join(parts)


# --------------------------------------------------------------------------
# A file rather than bytes


def rule_file(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None:
        return None
    g = _good(frame)
    timed = _timed(frame, "dump_s")
    helps: List[str] = []
    no: List[str] = []
    best_saving: Optional[Tuple[float, str]] = None
    for p in sorted({HIGHEST, DEFAULT}, reverse=True):
        b = _of(g, "bytes", p).set_index(["object", "size"])
        f = _of(g, "file", p).set_index(["object", "size"])
        common = b.index.intersection(f.index)
        if len(common):
            break
    else:
        return "inconclusive", "needs dumps-pN and dump-pN of the same protocol (not measured)"
    for key in common:
        rb, rf = b.loc[key], f.loc[key]
        saving = rb["dump_peak"] - rf["dump_peak"]
        label = "%s %s" % (key[0], _mib(rb["payload"]))
        text = "%s: peak %s to a file vs %s to bytes" % (label, _mib(rf["dump_peak"]), _mib(rb["dump_peak"]))
        if timed:
            text += ", %.2gx the time" % (rf["dump_s"] / rb["dump_s"])
        if rf["dump_peak"] <= 0.5 * rb["dump_peak"] and saving >= 0.25 * rb["payload"]:
            helps.append(text)
        else:
            no.append(text)
        if best_saving is None or saving > best_saving[0]:
            best_saving = (saving, label)
    ev = "pickle.dump(protocol=%d) to a file vs pickle.dumps: " % p
    if best_saving:
        ev += "the file saves up to %s of peak (%s). " % (_mib(best_saving[0]), best_saving[1])
    if helps:
        ev += "Saves half the peak or more for %d case(s): %s. " % (len(helps), _listing(helps, 3))
    if no:
        ev += "Not for %d case(s): %s." % (len(no), _listing(no, 3))
    if not timed:
        ev = ev.strip() + " " + NO_TIMES + "."
    return tally(len(helps), len(helps) + len(no)), ev.strip()


# --------------------------------------------------------------------------
# Pickling takes an unnecessarily large chunk of memory


def rule_peak(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None:
        return None
    g = _good(frame)
    wasteful: List[str] = []
    fine: List[str] = []
    for _, grp in g.groupby(["object", "size"], sort=False):
        is_dumps = (grp["kind"] == "bytes") & (grp["protocol"] == DEFAULT)
        dumps = grp[is_dumps]
        others = grp[~is_dumps].dropna(subset=["dump_peak"])
        if dumps.empty or others.empty:
            continue
        d = dumps.iloc[0]
        best = others.iloc[int(others["dump_peak"].argmin())]  # the first lowest peak, as idxmin() finds it
        text = "%s: pickle.dumps %.2f copies, %s %.2f" % (_case(d), d["dump_copies"], best["method"],
                                                         best["dump_copies"])
        if d["dump_peak"] > 2 * best["dump_peak"] and d["dump_peak"] - best["dump_peak"] >= 0.5 * d["payload"]:
            wasteful.append(text)
        else:
            fine.append(text)
    if not wasteful and not fine:
        return "inconclusive", "needs dumps-p%d and another method on the same object" % DEFAULT
    ev = ("peak extra memory of pickle.dumps (protocol %d), in payload copies, vs the best other method "
          "measured: " % DEFAULT)
    if wasteful:
        ev += "more than twice the best (and half a payload or more) for %d case(s): %s. " % (
            len(wasteful), _listing(wasteful, 3))
    if fine:
        ev += "Near the best for %d case(s): %s." % (len(fine), _listing(fine, 3))
    return tally(len(wasteful), len(wasteful) + len(fine)), ev.strip()


# --------------------------------------------------------------------------
# __getstate__ / __setstate__


def rule_getstate(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None:
        return None
    s = _of(_good(frame), "bytes", HIGHEST).set_index(["object", "size"])
    pairs = [k for k in s.index if k[0] == "cached-getstate" and ("cached-default", k[1]) in s.index]
    if not pairs:
        return "inconclusive", "needs cached-default and cached-getstate with dumps-p%d" % HIGHEST
    size = max(k[1] for k in pairs)
    a, d = s.loc[("cached-getstate", size)], s.loc[("cached-default", size)]
    r_bytes = a["pickled"] / d["pickled"]
    r_peak = a["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan")
    ev = "dumps-p%d, %s payload: pickled %s vs %s (%.2fx), dump peak %.2fx" % (
        HIGHEST, _mib(a["payload"]), _mib(a["pickled"]), _mib(d["pickled"]), r_bytes, r_peak)
    if _timed(frame, "dump_s", "load_s"):
        ev += ", dump time %.2fx, load time %.2fx" % (a["dump_s"] / d["dump_s"], a["load_s"] / d["load_s"])
    ev += " (the cache is rebuilt on load)"
    if ("cached-slots", size) in s.index:
        sl = s.loc[("cached-slots", size)]
        ev += "; __slots__ alone: pickled %.3fx, dump peak %.2fx of the default" % (
            sl["pickled"] / d["pickled"], sl["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan"))
    if not _timed(frame, "dump_s", "load_s"):
        ev += "; " + NO_TIMES
    verdict = "confirmed" if r_bytes < 0.75 and r_peak < 0.75 else ("partly" if r_bytes < 0.75 else "refuted")
    return verdict, ev


# --------------------------------------------------------------------------
# Out-of-band buffers: zero copies


def _copies(value: float) -> str:
    return "%.3f" % value if value == value else "n/a"


def rule_oob(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None:
        return None
    g = _good(frame)
    o = g[(g["kind"] == "oob") & _holds_arrays(g)]
    if o.empty:
        return "inconclusive", "needs oob-p5 on an object holding numpy arrays"
    items = []
    zero = True
    for _, r in o.iterrows():
        inband = _of(g, "bytes", 5)
        inband = inband[(inband["object"] == r["object"]) & (inband["size"] == r["size"])]
        ref = (" (in-band dumps-p5: %.2f / %.2f)" % (inband.iloc[0]["dump_copies"], inband.iloc[0]["load_copies"])
               if not inband.empty else "")
        items.append("%s: dump %s, load %s copies%s" % (_case(r), _copies(r["dump_copies"]),
                                                        _copies(r["load_copies"]), ref))
        if not OBJECTS[r["object"]].is_ndarray:
            items[-1] += " (not judged: also holds data that stays in band)"
        elif r["payload"] >= MiB and (r["dump_copies"] > 0.05 or r["load_copies"] > 0.05):
            zero = False
    judged = o[_holds_arrays(o, ndarray=True)]
    verdict = "inconclusive" if judged.empty else ("confirmed" if zero else "refuted")
    return verdict, ("peak extra memory of a plain array in payload copies (zero copy: < 0.05 at 1 MiB and "
                     "above): " + "; ".join(items)), "; ".join(items)


# --------------------------------------------------------------------------
# pkl_utils-style zips are numpy-readable


def rule_pkl_utils(rows: Rows) -> Optional[Judgement]:
    frame = _cases(rows)
    if frame is None or "numpy_readable" not in frame.columns:
        return None  # rows that do not say (asv does not track it)
    g = _good(frame)
    z = g[g["kind"].isin(["npzip", "pkl_utils"]) & _holds_arrays(g)]
    if z.empty:
        return "inconclusive", "needs npzip or pkl_utils on an object holding numpy arrays"
    items = []
    readable = bool((z["numpy_readable"] == True).all())  # noqa: E712
    files = _of(g, "file", HIGHEST)
    for _, r in _largest(z).iterrows():
        ref = files[(files["object"] == r["object"]) & (files["size"] == r["size"])]
        name = r["method"] if r["kind"] == "npzip" else "pkl_utils (%s)" % r["library"]
        text = "%s %s: numpy-readable %s" % (name, _case(r), "yes" if r["numpy_readable"] else "NO")
        if not ref.empty:
            f = ref.iloc[0]
            text += ", vs dump-p%d to a file: %.3fx the bytes, %.2fx dump time, %.2fx load time, peak %s vs %s" % (
                HIGHEST, r["pickled"] / f["pickled"], r["dump_s"] / f["dump_s"], r["load_s"] / f["load_s"],
                _mib(r["dump_peak"]), _mib(f["dump_peak"]))
        items.append(text)
    if not (z["kind"] == "pkl_utils").any():
        items.append("no pkl_utils installed to compare (harness npzip only)")
    return ("confirmed" if readable else "refuted"), "; ".join(items)


# --------------------------------------------------------------------------
# The claims, in the order the topic reports them

PEAK = Claim("pickle.peak", "Pickling uses an unnecessarily large chunk of memory",
             ("cases.dump_peak", "cases.dump_copies", "cases.payload"), rule_peak)
FILE = Claim("pickle.file", "It is more efficient to serialise certain objects into a file than to bytes",
             ("cases.dump_peak", "cases.payload", "cases.dump_s"), rule_file)
GETSTATE = Claim("pickle.getstate",
                 "__getstate__/__setstate__ control what is pickled (drop a cache, rebuild it on load)",
                 ("cases.pickled", "cases.dump_peak") + TIMES, rule_getstate)
HIGHEST_SMALLEST_FASTEST = Claim(
    "pickle.highest", "Use protocol=pickle.HIGHEST_PROTOCOL (%d): it is the smallest and fastest" % HIGHEST,
    ("cases.pickled", "cases.dump_min", "cases.dump_iqr", "cases.load_min", "cases.load_iqr", "cases.dump_s"),
    rule_highest)
OOB = Claim("pickle.oob", "Protocol 5 out-of-band buffers (buffer_callback / buffers=) pickle arrays with zero copies",
            ("cases.dump_copies", "cases.load_copies", "cases.payload"), rule_oob)
PKL_UTILS = Claim("pickle.pkl_utils",
                  "pkl_utils-style dumps (a zip of a pickle plus one .npy per array) store arrays in a "
                  "numpy-readable form, good for sharing",
                  ("cases.numpy_readable", "cases.pickled", "cases.dump_peak") + TIMES, rule_pkl_utils)

CLAIMS = [PEAK, FILE, GETSTATE, HIGHEST_SMALLEST_FASTEST, OOB, PKL_UTILS]
