"""The parent side of ``memharness footprint`` and ``harness.api``: each statement measured in a
fresh child of each interpreter, its row (raw units: bytes, seconds) or its error, the ratios to
the first statement, the display table and the bar plot."""
from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Sequence, Union

from harness.core import children, footprint
from harness.core.interpreters import Interpreter, find_interpreters
from harness.core.units import format_bytes
from harness.errors import ChildError, HarnessError
from harness.footprint.measure import function_ref

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CHILD = "harness.footprint.measure:statement"
DEFAULT_TIMEOUT = 60.0  # seconds a statement (its setup and both builds) may take
# A statement: an expression string, "module:function", or an importable function object
Statement = Union[str, Callable[[], Any]]
FIGURES = ("requested", "allocated", "rss_growth", "peak_requested", "peak_rss", "build_seconds")
COLUMNS = ("python", "stmt") + FIGURES + ("ratio_requested", "ratio_allocated", "error")


def statement_text(stmt: Statement) -> str:
    """A statement as the child takes it: the expression itself, or "module:function"."""
    if callable(stmt):
        module, qualname = getattr(stmt, "__module__", None), getattr(stmt, "__qualname__", "")
        if not module or module == "__main__" or "<" in qualname:
            raise HarnessError("%r cannot be imported by a child process (defined in %s); put it in a module "
                               "or pass an expression string" % (stmt, module or "no module"))
        return "%s:%s" % (module, qualname)
    if not isinstance(stmt, str):
        raise HarnessError("a statement is an expression string, 'module:function' or a function, got %r" % (stmt,))
    if not stmt.strip():
        raise HarnessError("empty statement")
    return stmt


def module_paths(stmt: str) -> List[str]:
    """Where this process finds the module of a "module:function" statement (the sys.path entry
    it lives under, harness.core.modpath), so that the child finds the same one; [] for an
    expression or an unknown module."""
    from harness.core.modpath import module_folder

    ref = function_ref(stmt)
    folder = module_folder(ref.partition(":")[0]) if ref is not None else None
    return [folder] if folder else []


def measure_statement(stmt: str, setup: str, interpreter: Interpreter,
                      timeout: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
    """One row: the statement's figures in a fresh child of ``interpreter``, or its error."""
    row: Dict[str, Any] = {"python": interpreter.version, "stmt": stmt}
    same = interpreter.spec == "current" or interpreter.path == sys.executable
    kwargs = {"stmt": stmt, "setup": setup, "paths": module_paths(stmt) if same else []}
    t0 = time.monotonic()
    try:
        got = children.run_child(CHILD, kwargs, python=interpreter.path, env=footprint.measure_env(), timeout=timeout)
    except ChildError as exc:
        if time.monotonic() - t0 >= timeout:
            row["error"] = "did not finish within %g s (--timeout)" % timeout
        else:
            row["error"] = str(exc)
        return row
    except HarnessError as exc:  # the memory guard
        row["error"] = str(exc)
        return row
    if "error" in got:
        row["error"] = ("setup failed: " if got.get("stage") == "setup" else "") + got["error"]
        return row
    for k in FIGURES:
        row[k] = got.get(k)
    row["note"] = got.get("allocated_note") or None  # why allocated is not measured (NaN)
    row["printed"] = got.get("printed", 0)
    return row


def interpreters(python: Union[None, str, Sequence[str]]) -> List[Interpreter]:
    """--python as given: None (this interpreter), 'all', '3.8', '3.8,3.12', a path, or a list."""
    if python is None:
        specs: List[str] = ["current"]
    elif isinstance(python, str):
        specs = [p.strip() for p in python.split(",") if p.strip()]
    else:
        specs = list(python)
    found, notes = find_interpreters(specs)
    if not found:
        raise HarnessError("no interpreter to run on: %s" % "; ".join(notes))
    return found


def rows(stmts: Sequence[Statement], setup: str = "", python: Union[None, str, Sequence[str]] = None,
         timeout: float = DEFAULT_TIMEOUT) -> List[Dict[str, Any]]:
    """Every statement on every interpreter, interpreter by interpreter, in the order given."""
    texts = [statement_text(s) for s in stmts]
    if not texts:
        raise HarnessError("no statement to measure")
    out = []
    for it in interpreters(python):
        for text in texts:
            out.append(measure_statement(text, setup, it, timeout))
    return out


def frame(rows_: List[Dict[str, Any]]) -> "pd.DataFrame":
    """Rows -> a DataFrame with COLUMNS (bytes, seconds; NaN where not measured) and the ratios
    of requested and allocated bytes to the first statement run on the same interpreter."""
    import pandas as pd

    df = pd.DataFrame(rows_)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    for col in FIGURES:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for fig in ("requested", "allocated"):
        first = df.groupby("python", sort=False)[fig].transform(lambda s: s.iloc[0])  # NaN if it failed
        ratio = df[fig] / first
        df["ratio_" + fig] = ratio.where(first > 0)  # no ratio to nothing (a first value of 0 bytes)
    df["error"] = pd.Series([e if isinstance(e, str) else None for e in df["error"]], index=df.index, dtype=object)
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[list(COLUMNS) + extra].reset_index(drop=True)


def raw(df: "pd.DataFrame") -> "pd.DataFrame":
    """The frame as JSON and CSV write it: byte counts as integers, None where not measured."""
    out = df.drop(columns=["printed"], errors="ignore").copy()
    for col in FIGURES:
        if col != "build_seconds":
            out[col] = [None if v != v else int(v) for v in out[col]]
    return out


def _bytes(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format_bytes(v)


def display(df: "pd.DataFrame") -> "pd.DataFrame":
    """The table people read: sizes with units, ratios as 1.00x, times in ms, the error in place."""
    import pandas as pd

    def ratio(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.2fx" % v

    def ms(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else "%.3g" % (v * 1000)

    out = pd.DataFrame({
        "python": df["python"],
        "statement": df["stmt"],
        "requested": df["requested"].map(_bytes),
        "allocated": df["allocated"].map(_bytes),
        "rss_growth": df["rss_growth"].map(_bytes),
        "peak_requested": df["peak_requested"].map(_bytes),
        "peak_rss": df["peak_rss"].map(_bytes),
        "build_ms": df["build_seconds"].map(ms),
        "x_requested": df["ratio_requested"].map(ratio),
        "x_allocated": df["ratio_allocated"].map(ratio),
    })
    if df["error"].notna().any():
        out["error"] = df["error"].fillna("")
    if "note" in df.columns and df["note"].notna().any():
        out["note"] = df["note"].fillna("")
    if df["python"].nunique() == 1:
        out = out.drop(columns="python")
    return out


def plot(df: "pd.DataFrame", path: str) -> None:
    """Bars of the bytes each statement retains (requested, allocated, RSS growth), one panel per
    interpreter; a statement that failed has no bars and says so in its label."""
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    pythons = list(dict.fromkeys(df["python"]))
    if df[["requested", "allocated"]].notna().to_numpy().sum() == 0:
        raise HarnessError("nothing to plot: no statement was measured")
    fig, axes = plt.subplots(len(pythons), 1, figsize=(max(6.0, 1.6 * df["stmt"].nunique() + 2), 3.6 * len(pythons)),
                             squeeze=False)
    for ax, py in zip(axes[:, 0], pythons):
        d = df[df["python"] == py].reset_index(drop=True)
        xs = range(len(d))
        width = 0.27
        for k, (col, label) in enumerate((("requested", "requested (tracemalloc)"),
                                          ("allocated", "allocated (pymalloc + malloc)"),
                                          ("rss_growth", "RSS growth"))):
            ax.bar([x + (k - 1) * width for x in xs], d[col].fillna(0) / 2**20, width, label=label)
        labels = [s if len(s) <= 30 else s[:27] + "..." for s in d["stmt"]]
        labels = [lab + ("\n(failed)" if isinstance(e, str) else "") for lab, e in zip(labels, d["error"])]
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_ylabel("MiB retained")
        ax.set_title("Python %s" % py, fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("memharness footprint: memory each statement's value retains")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
