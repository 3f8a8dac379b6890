"""The stable Python API of memharness, for scripts, notebooks and the asv suites.

    >>> from harness import api
    >>> df = api.footprint(["[*range(n)]", "np.arange(n)"], setup="import numpy as np; n = 10**6")
    >>> api.compare({"tuple": "[(i, i * 0.5) for i in range(n)]", "numpy": "np.zeros(n, 'i8,f8')"},
    ...             setup="import numpy as np; n = 10**5", per="n")
    >>> api.plot(df, "footprint.png")

A statement is an expression string evaluated after ``setup`` (run first, as ``timeit`` takes
it; it may import, define classes and data), an importable ``"module:function"`` string, or a
function object that a child can import (not one defined in ``__main__``), called with no
arguments. Its value is built in a fresh child process of each interpreter and kept alive while
it is measured, through the same function as the containers topic's Python side, so the same
structure gives the same bytes. Figures (bytes, seconds):

* requested: bytes retained, as tracemalloc counts them (the sizes asked for);
* allocated: bytes retained as pymalloc blocks plus glibc chunks, headers included;
* rss_growth: resident memory the child gained; peak_requested / peak_rss: the highest
  tracemalloc total and RSS high-water mark while building, above the start;
* build_seconds: one untraced build (glibc's per-thread cache off, see harness.core.footprint).

A statement that fails (raises, does not parse, times out, runs out of memory) has NaN figures
and its one-line ``error``; the API warns for each and the other rows are measured as usual.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Mapping, Sequence, Union

from harness.errors import HarnessError
from harness.footprint import run
from harness.footprint.run import DEFAULT_TIMEOUT, Statement

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Python = Union[None, str, Sequence[str]]  # None: this interpreter; "all"; "3.8,3.12"; paths

__all__ = ["footprint", "compare", "plot", "pickle_cost", "Statement", "DEFAULT_TIMEOUT"]


def footprint(stmts: Union[Statement, Sequence[Statement]], setup: str = "", python: Python = None, *,
              timeout: float = DEFAULT_TIMEOUT) -> "pd.DataFrame":
    """The memory each statement's value retains, one row per statement and interpreter.

    Columns: python, stmt, requested, allocated, rss_growth, peak_requested, peak_rss (bytes),
    build_seconds, ratio_requested and ratio_allocated (to the first statement on the same
    interpreter), error (None where measured). ``python``: None (this interpreter), "all"
    (every CPython 3.8-3.13 found), or versions / paths, as a list or comma-separated.
    ``timeout``: seconds one statement's child may take.
    """
    if isinstance(stmts, str) or callable(stmts):
        stmts = [stmts]
    df = run.frame(run.rows(list(stmts), setup, python, timeout))
    for stmt, py, err in zip(df["stmt"], df["python"], df["error"]):
        if isinstance(err, str):
            warnings.warn("%r (Python %s): %s" % (stmt, py, err), RuntimeWarning, stacklevel=2)
    return df.drop(columns=["printed"], errors="ignore")


def compare(stmts: Union[Mapping[str, Statement], Sequence[Statement]], setup: str = "", python: Python = None, *,
            baseline: Union[None, int, str] = None, per: Union[None, int, str] = None,
            timeout: float = DEFAULT_TIMEOUT) -> "pd.DataFrame":
    """Several statements side by side: one row per statement (per interpreter), indexed by label.

    ``stmts``: {label: statement}, or a list (each statement is its own label). ``baseline``: the
    label or position the ratios are taken against (default: the first). ``per``: divide the byte
    figures by a count of items, given as a number or as the name of a setup variable ("n"),
    to read bytes per item. Columns: python (with several interpreters), requested, allocated,
    rss_growth, peak_requested, peak_rss, build_seconds, x_requested, x_allocated (ratios to the
    baseline on the same interpreter), error.
    """

    if isinstance(stmts, Mapping):
        labels, items = [str(k) for k in stmts], list(stmts.values())
    else:
        items = list(stmts)
        labels = [run.statement_text(s) for s in items]
    if len(set(labels)) != len(labels):
        raise HarnessError("compare: two statements share a label; name them with a dict")
    if baseline is None:
        base = 0
    elif isinstance(baseline, int):
        base = baseline
        if not -len(labels) <= base < len(labels):
            raise HarnessError("compare: baseline %d is not a position among %d statements" % (baseline, len(labels)))
    elif baseline in labels:
        base = labels.index(baseline)
    else:
        raise HarnessError("compare: baseline %r is none of the labels %s" % (baseline, labels))
    df = footprint(items, setup, python, timeout=timeout)
    count = _count(per, setup) if per is not None else 1
    df.insert(0, "label", labels * (len(df) // len(labels)))
    for col in ("requested", "allocated", "rss_growth", "peak_requested", "peak_rss"):
        df[col] = df[col] / count
    for fig in ("requested", "allocated"):
        ref = df.groupby("python", sort=False)[fig].transform(lambda s: s.iloc[base])
        df["x_" + fig] = (df[fig] / ref).where(ref > 0)
    keep = ["label", "python", "requested", "allocated", "rss_growth", "peak_requested", "peak_rss",
            "build_seconds", "x_requested", "x_allocated", "error"]
    out: pd.DataFrame = df[keep].set_index("label")
    if out["python"].nunique() == 1:
        out = out.drop(columns="python")
    return out


def _count(per: Union[int, str], setup: str) -> float:
    """``per`` as a number: itself, or the value a setup variable takes (run here, in this process)."""
    if isinstance(per, (int, float)) and not isinstance(per, bool):
        if per <= 0:
            raise HarnessError("compare: per must be a positive count, got %r" % per)
        return float(per)
    namespace: dict = {}
    exec(compile(setup, "<setup>", "exec"), namespace)
    value = namespace.get(str(per))
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise HarnessError("compare: per=%r: the setup gives it no positive number (%r)" % (per, value))
    return float(value)


def plot(df: "pd.DataFrame", path: str) -> None:
    """Draw what ``memharness footprint --plot`` draws: bars of the bytes each statement retains,
    one panel per interpreter, from a frame of ``footprint()`` (or ``compare()``). Needs matplotlib."""
    frame = df
    if "stmt" not in frame.columns:  # a compare() frame: its labels name the bars
        frame = frame.reset_index().rename(columns={"label": "stmt"})
        if "python" not in frame.columns:
            frame["python"] = ""
    run.plot(frame, path)


def pickle_cost(expr: str, setup: str = "", python: Python = None, *, methods: Union[None, Sequence[str]] = None,
                repeat: int = 3, timeout: float = DEFAULT_TIMEOUT) -> "pd.DataFrame":
    """What pickling the value of ``expr`` costs, one row per method (and interpreter), with the
    pickle topic's figures and definitions (``memharness pickle-cost``).

    ``expr`` is an expression evaluated after ``setup`` (or an importable "module:function")
    in fresh child processes, never an object passed in or loaded from a file. ``methods``:
    names of ``harness.topics.pickle.METHODS`` (default: all of them). Columns (bytes, seconds):
    object (the expression), payload, method, kind, protocol, pickled, in_band, out_of_band,
    dump_s / load_s (median of dump_values / load_values, the samples of timing.PROCESSES
    processes) with _iqr, _min, _max, _samples, _processes, dump_peak / load_peak (resident
    peaks), dump_untouched / load_untouched (what tracemalloc counted above them), dump_copies /
    load_copies (peak / payload), equal, error, python. ``harness.picklecost.run.plot(df, path)``
    draws what ``--plot`` draws. HarnessError, naming the expression, when it raises, does not
    parse, prints, runs past ``timeout`` seconds or asks for more memory than is free.
    """
    from harness.picklecost import run as pickle_run

    if not 1 <= repeat <= 100:
        raise HarnessError("pickle_cost: repeat must be between 1 and 100, got %r" % (repeat,))
    return pickle_run.frame(pickle_run.measure(expr, setup, python, methods, repeat, timeout))
