"""``memharness pickle``: options, tables, verdicts computed from the figures, the plot."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from harness.errors import ChildError, HarnessError
from harness.output import TopicResult, Verdict
from harness.pickling.methods import DEFAULT, HIGHEST, METHODS
from harness.pickling.objects import OBJECTS

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    import pandas as pd

MiB = float(1 << 20)
TOPIC = "pickle"


def add_arguments(parser: "argparse.ArgumentParser") -> None:
    from harness import argtypes

    parser.add_argument("--objects", type=argtypes.choices_list(list(OBJECTS), "object"), metavar="LIST",
                        help="comma-separated objects, or 'all' (default: all; those that cannot be built here "
                             "are skipped with a note)")
    parser.add_argument("--methods", type=argtypes.choices_list(list(METHODS), "method"), metavar="LIST",
                        help="comma-separated methods, or 'all' (default: see above)")
    parser.add_argument("--sizes", type=argtypes.listof(argtypes.nbytes), metavar="LIST",
                        help="payload sizes for every object, e.g. 1MB,64MB,512MiB (default: see above)")
    parser.add_argument("--full", action="store_true",
                        help="larger sizes (numpy to 256 MiB, others to 16 MiB) and every method on every object")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="timing samples per dump and load (default 3)")
    parser.add_argument("--python", metavar="PATH",
                        help="interpreter that builds and measures the objects (default: this one), e.g. a "
                             "virtualenv with Theano or PyTensor")


def run(args: "argparse.Namespace") -> TopicResult:
    from harness.pickling import measure_all
    from harness.core.progress import Progress

    if args.repeat < 1 or args.repeat > 100:
        raise HarnessError("--repeat must be between 1 and 100, got %d" % args.repeat)
    python = getattr(args, "python", None)
    if python:
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise HarnessError("--python %s is not an executable file" % python)
    notes: List[str] = []
    progress = Progress(0, "pickle", enabled=not args.quiet)
    t0 = time.perf_counter()
    with progress:
        frame = measure_all(args.objects, args.sizes, args.methods, full=args.full, python=python,
                            repeat=args.repeat, progress=progress, notes=notes)
    elapsed = time.perf_counter() - t0
    if frame.empty:
        raise HarnessError("nothing could be measured: " + ("; ".join(notes) or "no cases"))
    if frame["error"].notna().all():  # e.g. every child killed by SIGKILL (the kernel's OOM killer)
        raise ChildError("every method failed; first: %s" % frame["error"].dropna().iloc[0])
    py = frame["python"].iloc[0]
    import platform

    meta: Dict[str, Any] = {"python": py, "measured_python": py, "seconds": round(elapsed, 1),
                            "highest_protocol": HIGHEST, "default_protocol": DEFAULT}
    if py != platform.python_version():
        meta["driver_python"] = platform.python_version()
    libs = sorted({x for x in frame["library"].dropna()})
    if libs:
        meta["libraries"] = libs
    return TopicResult(topic=TOPIC, tables=display_tables(frame), verdicts=verdicts(frame), notes=notes,
                       meta=meta)


# --------------------------------------------------------------------------
# Tables


def display_tables(frame: "pd.DataFrame") -> Dict[str, "pd.DataFrame"]:
    """Two readable tables (MiB, ms) from the raw frame (bytes, seconds)."""
    import pandas as pd

    f = frame
    sizes = pd.DataFrame({
        "object": f["object"], "payload_MiB": f["payload"] / MiB, "method": f["method"],
        "pickled_MiB": f["pickled"] / MiB, "pickled/payload": f["pickled"] / f["payload"],
        "dump_ms": f["dump_s"] * 1e3, "dump_iqr_ms": f["dump_iqr"] * 1e3,
        "load_ms": f["load_s"] * 1e3, "load_iqr_ms": f["load_iqr"] * 1e3, "equal": f["equal"],
    })
    if f["numpy_readable"].notna().any():
        sizes["numpy_readable"] = f["numpy_readable"]
    if f["error"].notna().any():
        sizes["error"] = f["error"].map(_short_error)
    peaks = pd.DataFrame({
        "object": f["object"], "payload_MiB": f["payload"] / MiB, "method": f["method"],
        "dump_traced_MiB": f["dump_peak_traced"] / MiB, "dump_rss_MiB": f["dump_peak_rss"] / MiB,
        "load_traced_MiB": f["load_peak_traced"] / MiB, "load_rss_MiB": f["load_peak_rss"] / MiB,
        "dump_copies": f["dump_copies"], "load_copies": f["load_copies"],
    })
    return {"pickled size and time": sizes.reset_index(drop=True),
            "peak extra memory (copies = max(traced, RSS) / payload)": peaks.reset_index(drop=True)}


def _short_error(error: Any) -> Any:
    """'TypeError: long text' -> 'TypeError'; 'process died: killed by SIGABRT: ...' -> 'died (SIGABRT)'."""
    if not isinstance(error, str):
        return error
    if error.startswith("process died: ") or error.startswith("child process died: "):
        how = error.split("died: ", 1)[1].split(":", 1)[0]
        return "died (%s)" % how.replace("killed by ", "")
    return error.split(":", 1)[0] + " (see notes)"


# --------------------------------------------------------------------------
# Verdicts


def _mib(n: float) -> str:
    return "%.1f MiB" % (n / MiB) if abs(n) >= 0.1 * MiB else "%.0f KiB" % (n / 1024.0)


def _case(r: Any) -> str:
    return "%s %s" % (r["object"], _mib(r["payload"]))


def _good(frame: "pd.DataFrame") -> "pd.DataFrame":
    return frame[frame["error"].isna() & (frame["equal"] == True)]  # noqa: E712


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


def _summary(scope: str, good: List[str], bad: List[str]) -> str:
    if not bad:
        return "confirmed"
    if not good:
        return "refuted"
    return "partly"


def verdict_highest(frame: "pd.DataFrame") -> Verdict:
    claim = "Use protocol=pickle.HIGHEST_PROTOCOL (%d): it is the smallest and fastest" % HIGHEST
    g = _largest(_good(frame[frame["kind"] == "bytes"]))
    # judged against every protocol where some object has them all (the default run gives the
    # C++ containers and PyTensor/Theano objects only the default and the highest protocol)
    counts = g.groupby(["object", "size"])["protocol"].nunique()
    complete = counts[counts == HIGHEST + 1].index
    if len(complete):
        g = g.set_index(["object", "size"]).loc[complete].reset_index()
    per_metric: Dict[str, Tuple[List[str], List[str]]] = {"smallest": ([], []), "fastest dump": ([], []),
                                                         "fastest load": ([], [])}
    vs_default: List[float] = []
    n_cases = 0
    for (obj, size), grp in g.groupby(["object", "size"], sort=False):
        byp = {int(r["protocol"]): r for _, r in grp.iterrows()}
        if HIGHEST not in byp or len(byp) < 2:
            continue
        n_cases += 1
        h = byp[HIGHEST]
        if DEFAULT in byp and DEFAULT != HIGHEST:
            vs_default.append(h["dump_s"] / byp[DEFAULT]["dump_s"])
        for metric, col, iqr, rel in (("smallest", "pickled", None, 0.01), ("fastest dump", "dump_min", "dump_iqr", 0.2),
                                      ("fastest load", "load_min", "load_iqr", 0.2)):
            best_p = min(byp, key=lambda p: byp[p][col])
            b = byp[best_p]
            ok = _tied(h[col], b[col], h[iqr] if iqr else 0, b[iqr] if iqr else 0, rel)
            label = _case(h)
            if ok:
                per_metric[metric][0].append(label)
            else:
                if col == "pickled":
                    per_metric[metric][1].append("%s (p%d %d B < p%d %d B)" % (label, best_p, b[col], HIGHEST, h[col]))
                else:
                    per_metric[metric][1].append("%s (p%d %.3g ms < p%d %.3g ms)"
                                                 % (label, best_p, b[col] * 1e3, HIGHEST, h[col] * 1e3))
    if not n_cases:
        return Verdict(claim, "inconclusive", "needs dumps-p0..p%d on at least one object (none measured)" % HIGHEST)
    parts = []
    goods = bads = 0
    for metric, (ok, bad) in per_metric.items():
        goods += bool(ok)
        bads += bool(bad)
        if bad:
            parts.append("%s for %d of %d objects, not for %s" % (metric, len(ok), n_cases, _listing(bad, 3)))
        else:
            parts.append("%s for all %d objects" % (metric, n_cases))
    # what HIGHEST buys over protocol 0 (size) and the default protocol (time)
    extra = []
    p0 = g[g["protocol"] == 0].set_index(["object", "size"])["pickled"]
    ph = g[g["protocol"] == HIGHEST].set_index(["object", "size"])["pickled"]
    ratio = (p0 / ph).dropna()
    if len(ratio):
        extra.append("protocol 0 is %.1f-%.1fx larger" % (ratio.min(), ratio.max()))
    if vs_default:
        extra.append("dump time at p%d / p%d: %.2f-%.2f" % (HIGHEST, DEFAULT, min(vs_default), max(vs_default)))
    all_bad = not any(per_metric[m][0] for m in per_metric)
    verdict = "confirmed" if bads == 0 else ("refuted" if all_bad else "partly")
    evidence = ("HIGHEST (protocol %d; ties: within 1%% in size, 20%% or the IQRs in best-of-samples time) is "
                % HIGHEST)
    evidence += "; ".join(parts) + (". " + "; ".join(extra) if extra else "")
    return Verdict(claim, verdict, evidence)


def verdict_file(frame: "pd.DataFrame") -> Verdict:
    claim = "It is more efficient to serialise certain objects into a file than to bytes"
    g = _good(frame)
    helps: List[str] = []
    no: List[str] = []
    best_saving: Optional[Tuple[float, str]] = None
    for p in sorted({HIGHEST, DEFAULT}, reverse=True):
        b = g[g["method"] == "dumps-p%d" % p].set_index(["object", "size"])
        f = g[g["method"] == "dump-p%d" % p].set_index(["object", "size"])
        common = b.index.intersection(f.index)
        if len(common):
            break
    else:
        return Verdict(claim, "inconclusive", "needs dumps-pN and dump-pN of the same protocol (not measured)")
    for key in common:
        rb, rf = b.loc[key], f.loc[key]
        saving = rb["dump_peak"] - rf["dump_peak"]
        label = "%s %s" % (key[0], _mib(rb["payload"]))
        text = "%s: peak %s to a file vs %s to bytes, %.2gx the time" % (
            label, _mib(rf["dump_peak"]), _mib(rb["dump_peak"]), rf["dump_s"] / rb["dump_s"])
        if rf["dump_peak"] <= 0.5 * rb["dump_peak"] and saving >= 0.25 * rb["payload"]:
            helps.append(text)
        else:
            no.append(text)
        if best_saving is None or saving > best_saving[0]:
            best_saving = (saving, label)
    verdict = "confirmed" if not no else ("refuted" if not helps else "partly")
    ev = "pickle.dump(protocol=%d) to a file vs pickle.dumps: " % p
    if best_saving:
        ev += "the file saves up to %s of peak (%s). " % (_mib(best_saving[0]), best_saving[1])
    if helps:
        ev += "Saves half the peak or more for %d case(s): %s. " % (len(helps), _listing(helps, 3))
    if no:
        ev += "Not for %d case(s): %s." % (len(no), _listing(no, 3))
    return Verdict(claim, verdict, ev.strip())


def verdict_peak(frame: "pd.DataFrame") -> Verdict:
    claim = "Pickling uses an unnecessarily large chunk of memory"
    g = _good(frame)
    method = "dumps-p%d" % DEFAULT
    wasteful: List[str] = []
    fine: List[str] = []
    for (obj, size), grp in g.groupby(["object", "size"], sort=False):
        d = grp[grp["method"] == method]
        others = grp[grp["method"] != method].dropna(subset=["dump_peak"])
        if d.empty or others.empty:
            continue
        d = d.iloc[0]
        best = others.loc[others["dump_peak"].idxmin()]
        text = "%s: pickle.dumps %.2f copies, %s %.2f" % (_case(d), d["dump_copies"], best["method"],
                                                         best["dump_copies"])
        if d["dump_peak"] > 2 * best["dump_peak"] and d["dump_peak"] - best["dump_peak"] >= 0.5 * d["payload"]:
            wasteful.append(text)
        else:
            fine.append(text)
    if not wasteful and not fine:
        return Verdict(claim, "inconclusive", "needs %s and another method on the same object" % method)
    verdict = "confirmed" if not fine else ("refuted" if not wasteful else "partly")
    ev = ("peak extra memory of pickle.dumps (protocol %d), in payload copies, vs the best other method "
          "measured: " % DEFAULT)
    if wasteful:
        ev += "more than twice the best (and half a payload or more) for %d case(s): %s. " % (
            len(wasteful), _listing(wasteful, 3))
    if fine:
        ev += "Near the best for %d case(s): %s." % (len(fine), _listing(fine, 3))
    return Verdict(claim, verdict, ev.strip())


def verdict_getstate(frame: "pd.DataFrame") -> Verdict:
    claim = "__getstate__/__setstate__ control what is pickled (drop a cache, rebuild it on load)"
    g = _good(frame)
    method = "dumps-p%d" % HIGHEST
    s = g[g["method"] == method].set_index(["object", "size"])
    pairs = [k for k in s.index if k[0] == "cached-getstate" and ("cached-default", k[1]) in s.index]
    if not pairs:
        return Verdict(claim, "inconclusive", "needs cached-default and cached-getstate with %s" % method)
    size = max(k[1] for k in pairs)
    a, d = s.loc[("cached-getstate", size)], s.loc[("cached-default", size)]
    r_bytes = a["pickled"] / d["pickled"]
    r_peak = a["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan")
    ev = ("%s, %s payload: pickled %s vs %s (%.2fx), dump peak %.2fx, dump time %.2fx, load time %.2fx "
          "(the cache is rebuilt on load)" % (method, _mib(a["payload"]), _mib(a["pickled"]), _mib(d["pickled"]),
                                              r_bytes, r_peak, a["dump_s"] / d["dump_s"], a["load_s"] / d["load_s"]))
    if ("cached-slots", size) in s.index:
        sl = s.loc[("cached-slots", size)]
        ev += "; __slots__ alone: pickled %.3fx, dump peak %.2fx of the default" % (
            sl["pickled"] / d["pickled"], sl["dump_peak"] / d["dump_peak"] if d["dump_peak"] else float("nan"))
    verdict = "confirmed" if r_bytes < 0.75 and r_peak < 0.75 else ("partly" if r_bytes < 0.75 else "refuted")
    return Verdict(claim, verdict, ev)


def verdict_oob(frame: "pd.DataFrame") -> Verdict:
    claim = "Protocol 5 out-of-band buffers (buffer_callback / buffers=) pickle arrays with zero copies"
    g = _good(frame)
    o = g[(g["method"] == "oob-p5") & g["object"].map(lambda n: OBJECTS[n].has_arrays).astype(bool)]
    if o.empty:
        return Verdict(claim, "inconclusive", "needs oob-p5 on an object holding numpy arrays")
    items = []
    zero = True
    for _, r in o.iterrows():
        inband = g[(g["object"] == r["object"]) & (g["size"] == r["size"]) & (g["method"] == "dumps-p5")]
        ref = (" (in-band dumps-p5: %.2f / %.2f)" % (inband.iloc[0]["dump_copies"], inband.iloc[0]["load_copies"])
               if not inband.empty else "")
        items.append("%s: dump %.3f, load %.3f copies%s" % (_case(r), r["dump_copies"], r["load_copies"], ref))
        if not OBJECTS[r["object"]].is_ndarray:
            items[-1] += " (not judged: also holds data that stays in band)"
        elif r["payload"] >= MiB and (r["dump_copies"] > 0.05 or r["load_copies"] > 0.05):
            zero = False
    judged = o[o["object"].map(lambda n: OBJECTS[n].is_ndarray).astype(bool)]
    verdict = "inconclusive" if judged.empty else ("confirmed" if zero else "refuted")
    return Verdict(claim, verdict, "peak extra memory of a plain array in payload copies (zero copy: < 0.05 "
                                   "at 1 MiB and above): " + "; ".join(items))


def verdict_pkl_utils(frame: "pd.DataFrame") -> Verdict:
    claim = ("pkl_utils-style dumps (a zip of a pickle plus one .npy per array) store arrays in a "
             "numpy-readable form, good for sharing")
    g = _good(frame)
    z = g[g["method"].isin(["npzip", "pkl_utils"]) & g["object"].map(lambda n: OBJECTS[n].has_arrays).astype(bool)]
    if z.empty:
        return Verdict(claim, "inconclusive", "needs npzip or pkl_utils on an object holding numpy arrays")
    items = []
    readable = bool((z["numpy_readable"] == True).all())  # noqa: E712
    for _, r in _largest(z).iterrows():
        ref = g[(g["object"] == r["object"]) & (g["size"] == r["size"]) & (g["method"] == "dump-p%d" % HIGHEST)]
        name = r["method"] if r["method"] == "npzip" else "pkl_utils (%s)" % r["library"]
        text = "%s %s: numpy-readable %s" % (name, _case(r), "yes" if r["numpy_readable"] else "NO")
        if not ref.empty:
            f = ref.iloc[0]
            text += ", vs dump-p%d to a file: %.3fx the bytes, %.2fx dump time, %.2fx load time, peak %s vs %s" % (
                HIGHEST, r["pickled"] / f["pickled"], r["dump_s"] / f["dump_s"], r["load_s"] / f["load_s"],
                _mib(r["dump_peak"]), _mib(f["dump_peak"]))
        items.append(text)
    if not (z["method"] == "pkl_utils").any():
        items.append("no pkl_utils installed to compare (harness npzip only)")
    return Verdict(claim, "confirmed" if readable else "refuted", "; ".join(items))


def verdicts(frame: "pd.DataFrame") -> List[Verdict]:
    """Every claim of the pickle topic, judged from ``frame`` (the output of ``measure_all``)."""
    out = [verdict_peak(frame), verdict_file(frame), verdict_getstate(frame), verdict_highest(frame),
           verdict_oob(frame), verdict_pkl_utils(frame)]
    for v in out:
        v.topic = TOPIC
    return out


# --------------------------------------------------------------------------
# Plot


def plot(result: TopicResult, path: str) -> None:
    """Four panels: size and dump speed per protocol, peak copies per method, file vs bytes."""
    import pandas as pd

    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    sizes = result.tables["pickled size and time"]
    peaks = result.tables["peak extra memory (copies = max(traced, RSS) / payload)"]
    df = sizes.merge(peaks, on=["object", "payload_MiB", "method"], how="left")
    df = df[df.get("error", pd.Series([None] * len(df), index=df.index)).isna()]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax1, ax2, ax3, ax4 = axes.ravel()
    top = df[df["payload_MiB"] == df.groupby("object")["payload_MiB"].transform("max")]
    prot = top[top["method"].str.startswith("dumps-p")].copy()
    prot["protocol"] = prot["method"].str[7:].astype(int)
    colors = plt.get_cmap("tab20").colors
    markers = "os^vD<>ph*"
    for i, (obj, grp) in enumerate(prot.groupby("object", sort=False)):
        grp = grp.sort_values("protocol")
        style = dict(marker=markers[i % len(markers)], color=colors[i % len(colors)], label=obj)
        ax1.plot(grp["protocol"], grp["pickled/payload"], **style)
        ax2.plot(grp["protocol"], grp["payload_MiB"] / (grp["dump_ms"] / 1e3), **style)
    ax1.set(xlabel="protocol (pickle.dumps)", ylabel="pickled bytes / payload", title="Pickled size")
    ax2.set(xlabel="protocol (pickle.dumps)", ylabel="payload MiB/s", yscale="log", title="Dump speed")
    ax1.legend(fontsize=6, ncol=2)
    arrays = df[df["object"] == "numpy"]
    if not arrays.empty:
        big = arrays[arrays["payload_MiB"] == arrays["payload_MiB"].max()]
        xs = range(len(big))
        ax3.bar([x - 0.2 for x in xs], big["dump_copies"], width=0.4, label="dump")
        ax3.bar([x + 0.2 for x in xs], big["load_copies"], width=0.4, label="load")
        ax3.set_xticks(list(xs))
        ax3.set_xticklabels(big["method"], rotation=60, fontsize=7)
        ax3.set(ylabel="peak extra / payload", title="numpy %.0f MiB: copies at the peak" % big["payload_MiB"].iloc[0])
        ax3.legend()
    b = top[top["method"] == "dumps-p%d" % HIGHEST].set_index("object")["dump_copies"]
    f = top[top["method"] == "dump-p%d" % HIGHEST].set_index("object")["dump_copies"]
    common = [o for o in b.index if o in f.index]
    if common:
        xs = range(len(common))
        ax4.bar([x - 0.2 for x in xs], [b[o] for o in common], width=0.4, label="dumps (bytes)")
        ax4.bar([x + 0.2 for x in xs], [f[o] for o in common], width=0.4, label="dump (file)")
        ax4.set_xticks(list(xs))
        ax4.set_xticklabels(common, rotation=60, fontsize=7)
        ax4.set(ylabel="dump peak extra / payload", title="File vs bytes, protocol %d" % HIGHEST)
        ax4.legend()
    fig.suptitle("memharness pickle (Python %s)" % result.meta.get("measured_python", result.meta.get("python")))
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
