"""``memharness pickle-cost [-s SETUP] EXPR``: what pickling your own object costs, per protocol
and method, with the pickle topic's figures and definitions.

The object EXPR builds is made in a fresh child process (after SETUP, as ``timeit`` takes it),
from the user's own code, never loaded from a file; child side in measure.py, parent side in
run.py, the typed API in ``harness.api.pickle_cost``.

This package's ``__init__`` is imported by the children too: standard library only, 3.8 syntax.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:  # pragma: no cover
    import argparse

HELP = "measure your own code: what pickling the value of an expression costs, per protocol and method"
DESCRIPTION = HELP + """

EXPR (an expression, or an importable module:function called with no arguments)
is evaluated in a fresh child process after SETUP; its value is pickled by every
method of `memharness pickle` (dumps and dump at every protocol, protocol 5 out
of band, numpy.save for arrays, the harness's numpy-readable zip, pkl_utils where
installed), with the same figures:
  pickled        serialised bytes (in-band + out-of-band; file size for files)
  dump/load ms   median of the samples of %d processes (calibrated loops,
                 warmups dropped), with the IQR
  peak RSS       resident peak (RSS high-water mark above the start) of one dump
                 and one load, in a process forked right after the build
  untouched      what tracemalloc counted above the resident peak (buffers
                 reserved and never touched)
  copies         resident peak / payload (payload: 8 bytes per int and float,
                 the UTF-8 length of a str, the bytes of a buffer or an array)
  equal          the loaded object equals the original
An expression that raises, does not parse, prints, runs past --timeout or asks for
more memory than is free is a one-line error, exit status 2.

example:
  memharness pickle-cost -s 'import numpy as np' '{k: np.ones(2**17) for k in "abcd"}'
"""


def add_arguments(parser: "argparse.ArgumentParser") -> None:
    from harness import argtypes
    from harness.footprint import add_statement_arguments
    from harness.topics.pickle.methods import METHODS

    parser.add_argument("expr", nargs="?", metavar="EXPR", help="expression (or module:function) whose value to pickle")
    parser.add_argument("--methods", type=argtypes.choices_list(list(METHODS), "method"), metavar="LIST",
                        help="comma-separated methods, or 'all' (default: all)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="timing samples per dump and load in each process (default 3)")
    add_statement_arguments(parser, "seconds the setup and the expression may take to build the object (default: 60)",
                            "also draw the pickle topic's figure (needs matplotlib)")


def main(args: "argparse.Namespace") -> int:
    from harness.errors import HarnessError
    from harness.footprint import checked_timeout
    from harness.output import TopicResult, emit, render
    from harness.picklecost import run
    from harness.topics.pickle import tables

    if not args.expr:
        raise HarnessError("give an expression whose value to pickle (see memharness pickle-cost --help)")
    if not 1 <= args.repeat <= 100:
        raise HarnessError("--repeat must be between 1 and 100, got %d" % args.repeat)
    timeout = checked_timeout(args)
    rows = run.measure(args.expr, "\n".join(args.setup), args.python, args.methods, args.repeat, timeout)
    df = run.frame(rows)
    frames = {"cases": df}
    for k in ("not_applicable", "skipped"):
        import pandas as pd

        frames[k] = pd.DataFrame(rows[k])
    shown = _shown(frames) if args.format in ("table", "markdown") else {"pickle-cost": df}
    notes = tables.notes(frames)
    result = TopicResult("pickle-cost", shown, notes=notes,
                         meta={"expression": args.expr, "setup": "\n".join(args.setup),
                               "python": ", ".join(dict.fromkeys(df["python"].dropna()))})
    emit(render(result, args.format), args.output, args.plot, lambda path: run.plot(df, path), args.quiet)
    if args.format in ("csv", "json") and not args.quiet:
        for note in notes:
            print("note: " + note, file=sys.stderr)
    return 0


def _shown(frames: Dict[str, Any]) -> Dict[str, Any]:
    """The pickle topic's tables of these rows; with several interpreters, one block per
    interpreter in each table, its first column the CPython version that measured."""
    import pandas as pd

    from harness.topics.pickle import tables

    df = frames["cases"]
    pythons = list(dict.fromkeys(df["python"].dropna())) if "python" in df.columns else []
    if len(pythons) < 2:
        return tables.tables(frames)
    parts: Dict[str, List[Any]] = {}
    for py in pythons:
        for name, table in tables.tables(dict(frames, cases=df[df["python"] == py])).items():
            table = table.copy()
            table.insert(0, "python", py)
            parts.setdefault(name, []).append(table)
    return {name: pd.concat(got, ignore_index=True) for name, got in parts.items()}

