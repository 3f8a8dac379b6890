"""Theano-style aliasing: what ``borrow`` really aliases, and what a copy costs.

Topic module of ``memharness aliasing``. Two results, for Theano 1.0.5 and
PyTensor (C/CVM, NUMBA and JAX linkers; on a GPU, PyTensor's JAX mode on CUDA
and a CuPy model of a device-resident shared variable):

1. conformance: for each operation and flag combination, whether the result
   shares memory with the input or with the shared variable's storage, whether
   it is the same object, and whether that keeps the tutorial's promise;
2. throughput: time and GB/s of each operation, borrow vs copy, as a fraction
   of ``numpy.copyto`` measured in the same run (on a GPU: of the transfer
   limits), and calls per second for small arrays.

Each backend runs in its own child process (``harness.core.children.run_child``),
with the environment it needs (``THEANO_FLAGS`` for Theano) and, when asked,
another interpreter (``--python theano=/path/to/venv/bin/python``).

Library API: ``run_topic(...)`` returns the raw rows as DataFrames; the asv
suite uses ``harness.aliasing.throughput`` and ``harness.aliasing.conformance``.
This package's import stays light (no numpy/pandas at import time): children
of other interpreters import it.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from harness.aliasing.backends import (CPU_BACKENDS, DESCRIPTION as BACKEND_DESCRIPTION, GPU_BACKENDS, INSTALL,
                                       presence, theano_env)
from harness.aliasing.throughput import DEFAULT_SIZES, LARGE_SIZES, MAX_OVERHEAD, OVERHEAD_SIZE
from harness.errors import ChildError, HarnessError

HELP = "Theano-style borrow vs copy: what aliases and what it costs (Theano 1.0.5, PyTensor C/NUMBA/JAX, GPU)"
DESCRIPTION = HELP + """

Prints two tables: conformance (does each operation alias, and does that keep
the Theano aliasing tutorial's promise) and throughput (time and GB/s of each
operation, borrow vs copy, as a fraction of numpy.copyto measured in the same
run), plus the limits, calls per second for small arrays and the harness's own
timing overhead. Backends that are not installed are skipped with a note
saying how to install them; the numpy reference (copy vs view) always runs.

Theano 1.0.5 needs CPython <= 3.11 and numpy 1.23 (3.8: numpy < 1.22): install
it in its own virtualenv and point --python at it, e.g.
  memharness aliasing --python theano=/tmp/v-theano/bin/python
"""

SIZE_LABEL = "size"


def _python_spec(text: str) -> "tuple[str, str]":
    """'PATH' (every backend) or 'BACKEND=PATH'."""
    backend, sep, path = text.partition("=")
    if not sep:
        backend, path = "*", text
    backend = backend.strip()
    if backend not in ("*",) + CPU_BACKENDS + GPU_BACKENDS:
        raise argparse.ArgumentTypeError("unknown backend %r in %r (choose from: %s)"
                                         % (backend, text, ", ".join(CPU_BACKENDS + GPU_BACKENDS)))
    path = os.path.expanduser(path.strip())
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError("%r is not an executable interpreter" % path)
    return backend, path


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not (v > 0 and v < 3600):
        raise argparse.ArgumentTypeError("%r must be between 0 and 3600" % text)
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.argtypes import choices_list, count, listof, nbytes

    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="cpu: Theano and PyTensor on the CPU (default); gpu: PyTensor's JAX mode on CUDA "
                             "and the CuPy model (needs a CUDA device)")
    parser.add_argument("--backends", type=choices_list(list(CPU_BACKENDS + GPU_BACKENDS), "backend"),
                        metavar="LIST",
                        help="comma-separated backends (default: %s; with --device gpu: %s)"
                             % (",".join(CPU_BACKENDS), ",".join(GPU_BACKENDS)))
    parser.add_argument("--python", type=_python_spec, action="append", default=[], metavar="[BACKEND=]PATH",
                        help="run a backend (or, without BACKEND=, every backend) under another interpreter, "
                             "e.g. theano=/tmp/v-theano/bin/python; repeatable")
    parser.add_argument("--sizes", type=listof(nbytes), metavar="LIST",
                        help="array sizes in bytes (default: 4KB,64KB,1MB,64MB)")
    parser.add_argument("--large", action="store_true",
                        help="add 16MB, 256MB and 512MB (needs about 3 GB free and several minutes)")
    parser.add_argument("--repeat", type=count, default=5, help="timing samples per figure (default 5)")
    parser.add_argument("--min-time", type=_positive_float, default=0.01, metavar="SECONDS",
                        help="shortest timed sample; loops are calibrated to it (default 0.01)")
    parser.add_argument("--only", choices=("conformance", "throughput"),
                        help="measure only one of the two results")
    parser.add_argument("--detail", action="store_true",
                        help="also print the long-form rows (always included with --format json/csv)")
    parser.add_argument("--timeout", type=_positive_float, default=600.0, metavar="SECONDS",
                        help="time limit of each backend's child process (default 600)")


# --------------------------------------------------------------------------
# Library API


def child_env(backend: str) -> Dict[str, str]:
    """Environment variables a backend's child process needs."""
    if backend == "theano":
        return theano_env()
    if backend == "pytensor-jax":
        return {"JAX_PLATFORMS": "cpu"}
    if backend == "pytensor-jax-gpu":
        return {"JAX_PLATFORMS": "cuda"}
    return {}


def gpu_unavailable_reason() -> Optional[str]:
    """None when a CUDA path works in this interpreter, else why not (one line)."""
    from harness.aliasing.gpu import detect_cuda

    info = detect_cuda()
    return None if info["available"] else (info["reason"] or "no CUDA device")


def run_topic(backends: Optional[Sequence[str]] = None, *, device: str = "cpu",
              sizes: Optional[Sequence[int]] = None, repeat: int = 5, min_time: float = 0.01,
              only: Optional[str] = None, pythons: Optional[Dict[str, str]] = None,
              timeout: float = 600.0, reference: bool = True,
              progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Measure every backend, each in a child process; return the raw rows.

    Returns {"conformance", "throughput", "limits", "overhead" (DataFrames),
    "notes" (skipped backends with the reason and the install command),
    "backends" ({name: versions, interpreter, seconds})}.
    """
    import pandas as pd
    from harness.core.memory import check_fits
    from harness.core.children import run_child

    if device not in ("cpu", "gpu"):
        raise HarnessError("unknown device %r (choose cpu or gpu)" % device)
    sizes = sorted(set(int(s) for s in (sizes or DEFAULT_SIZES)))
    pythons = dict(pythons or {})
    if backends is None:
        backends = CPU_BACKENDS if device == "cpu" else GPU_BACKENDS
    wrong = [b for b in backends if (b in GPU_BACKENDS) != (device == "gpu")]
    if wrong:
        raise HarnessError("backend%s %s belong%s to --device %s" % ("s" * (len(wrong) > 1), ", ".join(wrong),
                           "" if len(wrong) > 1 else "s", "gpu" if device == "cpu" else "cpu"))
    if device == "gpu" and not any(b in pythons or "*" in pythons for b in backends):
        why = gpu_unavailable_reason()
        if why:
            raise HarnessError("--device gpu: no CUDA device usable: %s" % why)
    # source, shared copy, get_value copy, call output and copyto's destination can be alive at once
    if only != "conformance":
        check_fits(5 * max(sizes), "aliasing at %d bytes per array" % max(sizes))

    todo = (["numpy"] if reference and device == "cpu" and only != "conformance" else []) + list(backends)
    notes: List[str] = []
    failed: List[str] = []
    results: List[Dict[str, Any]] = []
    meta: Dict[str, Any] = {}
    for name in todo:
        python = None if name == "numpy" else (pythons.get(name) or pythons.get("*"))
        if progress:
            progress(name)
        if python is None and name != "numpy":
            why = presence(name)
            if why:
                notes.append("%s skipped: %s; install with: %s" % (name, why, INSTALL[name]))
                continue
        kwargs = {"backend": name, "sizes": sizes, "repeat": repeat, "min_time": min_time,
                  "conformance": only != "throughput" and name != "numpy",
                  "throughput": only != "conformance"}
        try:
            res = run_child("harness.aliasing.throughput:measure_backend", kwargs, python=python,
                            env=child_env(name), timeout=timeout)
        except ChildError as exc:
            notes.append("%s failed: %s" % (name, exc))
            failed.append("%s: %s" % (name, exc))
            continue
        if "missing" in res:
            m = res["missing"]
            where = (" (interpreter %s)" % python) if python else ""
            notes.append("%s skipped%s: %s; install with: %s" % (name, where, m["reason"], m["install"]))
            continue
        results.append(res)
        meta[name] = {"versions": res.get("versions", {}), "python": (res.get("child") or {}).get("python"),
                      "interpreter": (res.get("child") or {}).get("executable"),
                      "seconds": round(float(res.get("seconds", 0.0)), 2)}

    if failed and not any(res.get("backend") != "numpy" for res in results):
        # every backend that could start failed: that is not a result, whatever the reference measured
        raise ChildError("every backend that was tried failed: %s" % "; ".join(failed))

    def frame(key: str) -> "pd.DataFrame":
        rows = [r for res in results for r in (res.get(key) or [])]
        return pd.DataFrame(rows)

    overhead = pd.DataFrame([dict(backend=res["backend"], **res["overhead"]) for res in results if res.get("overhead")])
    return {"conformance": frame("conformance"), "throughput": frame("throughput"), "limits": frame("limits"),
            "overhead": overhead, "notes": notes, "backends": meta, "sizes": sizes}


# --------------------------------------------------------------------------
# Tables for people


def conformance_table(rows: "Any") -> "Any":
    """One line a case, one column a backend: what happened, and [BREAKS PROMISE] where it does."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()

    def cell(r: Any) -> str:
        if r["note"].startswith("raised"):
            return r["note"]
        if r["promise"].startswith("is a numpy"):
            out = r["result_type"]
        elif r["same_object"]:
            out = "same object"
        elif r["shares_memory"] is None or r["shares_memory"] != r["shares_memory"]:
            out = "unknown (%s)" % r["result_type"]
        else:
            out = "shares memory" if r["shares_memory"] else "separate copy"
        if "overwritten by the second call: yes" in r["note"]:
            out += ", r1 overwritten"
        if r["conforms"] is False:
            out += " [BREAKS PROMISE]"
        return out

    df = rows.copy()
    df["outcome"] = df.apply(cell, axis=1)
    order = list(dict.fromkeys(df["case"]))
    wide = df.pivot_table(index=["case", "promise"], columns="backend", values="outcome", aggfunc="first")
    wide = wide.reindex(columns=[b for b in dict.fromkeys(df["backend"])])
    wide = wide.reset_index()
    wide["_order"] = wide["case"].map({c: i for i, c in enumerate(order)})
    wide = wide.sort_values("_order").drop(columns="_order").fillna("-")
    wide.columns.name = None
    return wide.reset_index(drop=True)


def throughput_table(rows: "Any") -> "Any":
    """Per backend, operation and size: copy vs borrow side by side."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    copy = rows[~rows["borrow"]].set_index(["backend", "operation", "bytes"])
    borrow = rows[rows["borrow"]].set_index(["backend", "operation", "bytes"])
    out = pd.DataFrame({
        "copy_us": copy["median_s"] * 1e6,
        "copy_GBps": copy["gbps"],
        "copy_vs_limit": copy["fraction_of_limit"],
        "limit": copy["limit"],
        "borrow_us": borrow["median_s"] * 1e6,
        "borrow_speedup": copy["median_s"] / borrow["median_s"],
    }).reset_index()
    from harness.aliasing.throughput import OPERATIONS

    order = {b: i for i, b in enumerate(dict.fromkeys(rows["backend"]))}
    ops = {o: i for i, o in enumerate(OPERATIONS)}
    out = out.sort_values(["backend", "operation", "bytes"], key=lambda s: s.map(order) if s.name == "backend"
                          else (s.map(ops) if s.name == "operation" else s))
    out.insert(2, SIZE_LABEL, out.pop("bytes").map(_size_label))
    return out.reset_index(drop=True)


def call_rate_table(rows: "Any", max_bytes: int = 64 * 1000) -> "Any":
    """Compiled-function calls per second for small arrays, copy vs borrow."""
    import pandas as pd

    if rows is None or len(rows) == 0:
        return pd.DataFrame()
    calls = rows[(rows["operation"] == "call") & (rows["bytes"] <= max_bytes)]
    if calls.empty:
        return pd.DataFrame()
    wide = calls.pivot_table(index=["backend", "bytes"], columns="borrow", values="calls_per_s", aggfunc="first")
    wide = wide.rename(columns={False: "calls_per_s_copy", True: "calls_per_s_borrow"}).reset_index()
    wide.columns.name = None
    order = {b: i for i, b in enumerate(dict.fromkeys(rows["backend"]))}
    wide = wide.sort_values(["backend", "bytes"], key=lambda s: s.map(order) if s.name == "backend" else s)
    wide.insert(1, SIZE_LABEL, wide.pop("bytes").map(_size_label))
    return wide.reset_index(drop=True)


def limits_table(limits: "Any") -> "Any":
    import pandas as pd

    if limits is None or len(limits) == 0:
        return pd.DataFrame()
    wide = limits.pivot_table(index=["backend", "limit"], columns="bytes", values="gbps", aggfunc="first")
    wide.columns = [_size_label(c) + " GB/s" for c in wide.columns]
    wide = wide.reset_index()
    order = {b: i for i, b in enumerate(dict.fromkeys(limits["backend"]))}
    return wide.sort_values(["backend", "limit"], key=lambda s: s.map(order) if s.name == "backend" else s,
                            kind="stable").reset_index(drop=True)


def overhead_table(rows: "Any", overhead: "Any") -> "Any":
    """Empty-callable time vs the slowest-to-time copy operation at 64 MB (or the largest size measured)."""
    import pandas as pd

    if overhead is None or len(overhead) == 0 or rows is None or len(rows) == 0:
        return pd.DataFrame()
    out = []
    for _, oh in overhead.iterrows():
        mine = rows[(rows["backend"] == oh["backend"]) & (~rows["borrow"])]
        if mine.empty:
            continue
        at = OVERHEAD_SIZE if (mine["bytes"] >= OVERHEAD_SIZE).any() else mine["bytes"].max()
        sel = mine[mine["bytes"] == (mine[mine["bytes"] >= at]["bytes"].min())]
        worst = sel.loc[(oh["median_s"] / sel["median_s"]).idxmax()]
        out.append({
            "backend": oh["backend"],
            "empty_call_ns": oh["median_s"] * 1e9,
            SIZE_LABEL: _size_label(worst["bytes"]),
            "fastest_copy_op": worst["operation"],
            "op_us": worst["median_s"] * 1e6,
            "overhead_fraction": oh["median_s"] / worst["median_s"],
            "under_5pct": bool(oh["median_s"] / worst["median_s"] < MAX_OVERHEAD),
        })
    return pd.DataFrame(out)


def _size_label(n: Any) -> str:
    n = int(n)
    for unit, div in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= div and n % div == 0:
            return "%d%s" % (n // div, unit)
    if n >= 10**6:
        return "%.1fMB" % (n / 1e6)
    if n >= 10**3:
        return "%.1fKB" % (n / 1e3)
    return "%dB" % n


# --------------------------------------------------------------------------
# Verdicts, from the figures of this run


def verdicts(conf: "Any", tput: "Any", overhead_df: "Any") -> List[Any]:
    from harness.output import Verdict

    out: List[Verdict] = []
    have_conf = conf is not None and len(conf) > 0

    def case(name: str) -> "Any":
        return conf[conf["case"] == name] if have_conf else conf

    def by_backend(df: "Any", col: str = "shares_memory") -> Dict[str, Any]:
        return {r["backend"]: r[col] for _, r in df.iterrows()}

    def listing(d: Dict[str, Any], yes: str, no: str) -> str:
        return "; ".join("%s: %s" % (b, yes if v else no) for b, v in d.items())

    def judge(d: Dict[str, Any]) -> str:
        vals = [bool(v) for v in d.values()]
        return "confirmed" if all(vals) else ("refuted" if not any(vals) else "partly")

    if have_conf and not case("shared/borrow").empty:
        d = by_backend(case("shared/borrow"))
        out.append(Verdict("shared(value, borrow=True) aliases value instead of deep-copying it", judge(d),
                           listing(d, "aliases", "copies")))
    if tput is not None and len(tput) > 0 and "shared" in set(tput["operation"]):
        sh = tput[tput["operation"] == "shared"]
        big = sh["bytes"].max()
        speed = {}
        for b, g in sh[sh["bytes"] == big].groupby("backend", sort=False):
            c, w = g[~g["borrow"]]["median_s"], g[g["borrow"]]["median_s"]
            if len(c) and len(w):
                speed[b] = float(c.iloc[0] / w.iloc[0])
        if speed:
            ok = {b: s >= 2 for b, s in speed.items()}
            out.append(Verdict("shared(value, borrow=True) is faster for large objects", judge(ok),
                               "at %s, borrow is %s faster than the copy" % (
                                   _size_label(big), "; ".join("%s: %.3gx" % (b, s) for b, s in speed.items()))))
    if have_conf:
        two = case("shared/two from one array/borrow")
        two_copy = case("shared/two from one array")
        if not two.empty:
            d = by_backend(two)
            d0 = by_backend(two_copy)
            aliased = [b for b, v in d.items() if v]
            verdict = "confirmed" if not aliased and not any(d0.values()) else ("partly" if not any(d0.values()) else "refuted")
            out.append(Verdict(
                "shared variables are never aliased to one another", verdict,
                "two shared(v) from one array: %s; two shared(v, borrow=True): %s" % (
                    listing(d0, "share memory", "separate"), listing(d, "share memory", "separate"))))
        g_int = case("get_value/borrow/internal type")
        g_copy = case("get_value/copy")
        if not g_int.empty and not g_copy.empty:
            d_int = by_backend(g_int, "same_object")
            d_copy = {b: not v for b, v in by_backend(g_copy).items()}
            ok = {b: bool(d_int.get(b)) and bool(d_copy.get(b)) for b in d_int}
            out.append(Verdict(
                "get_value(borrow=True, return_internal_type=True) returns the internal object; get_value() a copy",
                judge(ok), "internal object: %s; get_value() separate: %s" % (
                    listing(d_int, "yes", "no"), listing(d_copy, "yes", "no"))))
        sv = case("set_value/borrow")
        if not sv.empty:
            d = by_backend(sv)
            dm = by_backend(case("set_value/borrow/dtype mismatch"))
            nc = by_backend(case("set_value/borrow/non-contiguous"))
            verdict = judge(d)
            if verdict == "confirmed" and (not all(dm.values()) or not all(nc.values())):
                verdict = "partly"
            out.append(Verdict(
                "set_value(v, borrow=True) reuses v's buffer", verdict,
                "same dtype: %s; float32 into float64: %s; non-contiguous: %s" % (
                    listing(d, "reused", "copied"), listing(dm, "reused", "copied"), listing(nc, "reused", "copied"))))
        ip = case("set_value/in-place pattern")
        if not ip.empty:
            d = by_backend(ip)
            extra = ""
            if tput is not None and len(tput) > 0 and "update_pattern" in set(tput["operation"]):
                up = tput[tput["operation"] == "update_pattern"]
                big = up["bytes"].max()
                sp = []
                for b, g in up[up["bytes"] == big].groupby("backend", sort=False):
                    c, w = g[~g["borrow"]]["median_s"], g[g["borrow"]]["median_s"]
                    if len(c) and len(w):
                        sp.append("%s %.3gx" % (b, c.iloc[0] / w.iloc[0]))
                if sp:
                    extra = "; at %s it is faster than get_value()/set_value() copies by: %s" % (_size_label(big), ", ".join(sp))
            out.append(Verdict("s.set_value(f(s.get_value(borrow=True)), borrow=True) updates in place (keeps the buffer)",
                               judge(d), listing(d, "buffer kept", "new buffer") + extra))
        io = case("function/identity/In(borrow=True) Out(borrow=True)")
        if not io.empty:
            d = by_backend(io)
            in_only = by_backend(case("function/identity/In(borrow=True) Out(borrow=False)"))
            ob = by_backend(case("function/Out(borrow=True)/two calls"))
            ob_nogc = by_backend(case("function/Out(borrow=True)/two calls/no gc"))
            verdict = judge(d)
            if verdict == "confirmed" and not all(ob.values()):
                verdict = "partly"
            out.append(Verdict(
                "function([In(x, borrow=True)], Out(y, borrow=True)) reuses buffers", verdict,
                "output is the input (identity): %s; In(borrow) alone: %s; Out(borrow) output buffer reused "
                "across calls: %s%s" % (
                    listing(d, "yes", "no"), listing(in_only, "aliases", "still copies"), listing(ob, "yes", "no"),
                    ("; with a no-gc linker: " + listing(ob_nogc, "yes", "no")) if ob_nogc else "")))
        au = case("get_value after an update/copy")
        if not au.empty:
            d = by_backend(au, "conforms")
            types = by_backend(au, "result_type")
            out.append(Verdict("get_value() returns a numpy.ndarray, also after a compiled update", judge(d),
                               "; ".join("%s: %s" % (b, t) for b, t in types.items())))
    if overhead_df is not None and len(overhead_df) > 0:
        worst = overhead_df.loc[overhead_df["overhead_fraction"].idxmax()]
        out.append(Verdict(
            "the harness's own timing overhead is under 5% of a copy at 64 MB (or the largest size measured)",
            "confirmed" if bool(overhead_df["under_5pct"].all()) else "refuted",
            "empty callable through the same timing path: %.3g ns vs %s %s in %.4g us (%.2g%%, worst backend %s)" % (
                worst["empty_call_ns"], worst["fastest_copy_op"], worst[SIZE_LABEL], worst["op_us"],
                100 * worst["overhead_fraction"], worst["backend"])))
    return out


# --------------------------------------------------------------------------
# CLI


def run(args: argparse.Namespace) -> Any:
    from harness.output import TopicResult
    from harness.core.progress import Progress

    sizes = list(args.sizes or DEFAULT_SIZES)
    if args.large:
        sizes += [s for s in LARGE_SIZES if s not in sizes]
    pythons = dict(args.python or [])
    backends = args.backends
    device = args.device
    if backends is None:
        backends = list(CPU_BACKENDS if device == "cpu" else GPU_BACKENDS)
    total = len(backends) + (1 if device == "cpu" else 0)
    with Progress(total, "aliasing", enabled=not args.quiet) as prog:
        raw = run_topic(backends, device=device, sizes=sizes, repeat=args.repeat, min_time=args.min_time,
                        only=args.only, pythons=pythons, timeout=args.timeout, progress=prog.step)
    tables: Dict[str, Any] = {}
    conf, tput = raw["conformance"], raw["throughput"]
    oh = overhead_table(tput, raw["overhead"])
    if len(conf):
        tables["conformance"] = conformance_table(conf)
    if len(tput):
        tables["throughput"] = throughput_table(tput)
        rate = call_rate_table(tput)
        if len(rate):
            tables["calls per second (small arrays)"] = rate
    if len(raw["limits"]):
        tables["limits (GB/s)"] = limits_table(raw["limits"])
    if len(oh):
        tables["harness overhead"] = oh
    if args.detail or args.format in ("json", "csv"):
        if len(conf):
            tables["conformance rows"] = conf
        if len(tput):
            tables["throughput rows"] = tput
    notes = list(raw["notes"])
    for name, info in raw["backends"].items():
        v = ", ".join("%s %s" % kv for kv in info["versions"].items())
        notes.append("%s: %s [%s; Python %s, %.1f s]" % (name, BACKEND_DESCRIPTION.get(name, name), v,
                                                          info["python"], info["seconds"]))
    if len(tput):
        notes.append("GB/s counts the array's bytes once per call; copy_vs_limit is the copy's GB/s over the limit "
                     "measured in the same process at the same size (copyto: numpy.copyto into a preallocated "
                     "array); borrow_speedup = copy time / borrow time")
    result = TopicResult("aliasing", tables, verdicts(conf, tput, oh), notes,
                         meta={"device": device, "sizes": raw["sizes"], "backends": raw["backends"]})
    result._raw = raw  # for plot(); not part of the written output
    return result


def plot(result: Any, path: str) -> None:
    """GB/s vs size, one panel a backend; copy solid, borrow dotted, the copyto limit dashed."""
    import pandas as pd
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    raw = getattr(result, "_raw", None) or {}
    rows = raw.get("throughput")
    if rows is None:
        rows = result.tables.get("throughput rows")
    if rows is None or len(rows) == 0:
        raise HarnessError("nothing to plot: no throughput was measured in this run")
    rows = pd.DataFrame(rows)
    backends = list(dict.fromkeys(rows["backend"]))
    ncol = min(3, len(backends))
    nrow = (len(backends) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.0 * nrow), squeeze=False, constrained_layout=True)
    from harness.aliasing.throughput import OPERATIONS

    colors = {op: "C%d" % i for i, op in enumerate(OPERATIONS)}
    limits = raw.get("limits")
    for ax, b in zip(axes.flat, backends):
        mine = rows[rows["backend"] == b]
        for (op, borrow), g in mine.groupby(["operation", "borrow"], sort=False):
            g = g.sort_values("bytes")
            ax.plot(g["bytes"], g["gbps"], ":" if borrow else "-", marker="o", ms=3, color=colors.get(op),
                    label="%s (%s)" % (op, "borrow" if borrow else "copy"))
        if limits is not None:
            for i, (lim, g) in enumerate(limits[limits["backend"] == b].groupby("limit", sort=False)):
                g = g.sort_values("bytes")
                ax.plot(g["bytes"], g["gbps"], "--", color="k" if lim == "copyto" else "0.%d" % (3 + 2 * (i % 3)), lw=2,
                        label="limit: %s" % ("numpy.copyto (memcpy)" if lim == "copyto" else lim))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(b)
        ax.set_xlabel("array size (bytes)")
        ax.set_ylabel("GB/s")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(backends):]:
        ax.axis("off")
    fig.suptitle("memharness aliasing: throughput per operation (dotted: borrow; dashed: limit)")
    save_figure(fig, path)
    plt.close(fig)
