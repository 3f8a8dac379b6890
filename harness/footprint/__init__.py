"""``memharness footprint [-s SETUP] STMT [STMT ...]``: what your own code's values cost in memory.

Each statement's value is built in a fresh child process (after SETUP) and measured as the
containers topic measures its Python side (``harness.core.footprint.measure_build``): child side
in measure.py, parent side (rows, table, plot) in run.py, the typed API in ``harness.api``.

This package's ``__init__`` is imported by the children too: standard library only, 3.8 syntax.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover  (argparse stays out of the children, which import this package)
    import argparse

HELP = "measure your own code: the memory each statement's value retains, built in a fresh process"
DESCRIPTION = HELP + """

Each STMT is an expression (or an importable module:function, called with no
arguments) whose value is built in a fresh child process after SETUP, as
timeit takes them, and kept alive while it is measured:
  requested       bytes retained, as tracemalloc counts them (sizes asked for)
  allocated       bytes retained, as the allocators hand them out (pymalloc
                  blocks + glibc chunks, headers included)
  rss_growth      resident memory the child gained
  peak_requested  tracemalloc's peak while building (above the start)
  peak_rss        RSS high-water mark while building, above the start
  build_ms        time of one build (untraced)
  x_requested, x_allocated   ratio to the first statement
A statement that fails is listed with its error; the exit status is then 2.

example:
  memharness footprint -s 'import numpy as np; n = 10**6' '[*range(n)]' 'np.arange(n)' 'dict.fromkeys(range(n))'
"""


def add_arguments(parser: "argparse.ArgumentParser") -> None:
    # nargs="*" (checked in main): argparse would name a missing STMT before an unknown option
    parser.add_argument("stmts", nargs="*", metavar="STMT", help="expressions (or module:function) to measure")
    add_statement_arguments(parser, "seconds one statement may take, setup and both builds included (default: 60)",
                            "also draw bars of the bytes per statement (needs matplotlib)")


def add_statement_arguments(parser: "argparse.ArgumentParser", timeout_help: str, plot_help: str) -> None:
    """What the commands over a user's statements share (footprint, pickle-cost): -s, --python,
    --timeout, --format, --output, --plot, --quiet."""
    from harness.output import FORMATS

    parser.add_argument("-s", "--setup", action="append", default=[], metavar="SETUP",
                        help="statements run first in each child, not measured (may be given more than once)")
    parser.add_argument("--python", default=None, metavar="VERSIONS",
                        help="interpreters to run on: 'all', versions or paths, comma-separated (default: this one)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help=timeout_help)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument("--plot", metavar="FILE.png", help=plot_help)
    parser.add_argument("--quiet", "-q", action="store_true", help="no notes on stderr")


def checked_timeout(args: "argparse.Namespace") -> float:
    """--timeout (default run.DEFAULT_TIMEOUT), refused unless positive; the outputs checked too."""
    from harness.errors import HarnessError
    from harness.footprint import run
    from harness.output import check_outputs

    timeout = run.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if not timeout > 0:
        raise HarnessError("--timeout must be a positive number of seconds, got %g" % timeout)
    check_outputs(args.output, args.plot)
    return float(timeout)


def main(args: "argparse.Namespace") -> int:
    from harness.errors import HarnessError
    from harness.footprint import run
    from harness.output import TopicResult, emit, render

    if not args.stmts:
        raise HarnessError("give at least one statement to measure (see memharness footprint --help)")
    timeout = checked_timeout(args)
    df = run.frame(run.rows(args.stmts, "\n".join(args.setup), args.python, timeout))
    notes = []
    failed = df[df["error"].notna()]
    for _, r in df[df["printed"].fillna(0) > 0].iterrows() if "printed" in df.columns else []:
        notes.append("%r wrote %d characters to stdout (sent to stderr; printing is part of its build)"
                     % (r["stmt"], r["printed"]))
    table = run.display(df) if args.format in ("table", "markdown") else run.raw(df)
    result = TopicResult("footprint", {"footprint": table}, notes=notes,
                         meta={"setup": "\n".join(args.setup), "python": ", ".join(dict.fromkeys(df["python"]))})
    emit(render(result, args.format), args.output, args.plot, lambda path: run.plot(df, path), args.quiet)
    if args.format in ("csv", "json") and not args.quiet:
        for note in notes:
            print("note: " + note, file=sys.stderr)
    for _, r in failed.iterrows():
        print("memharness footprint: error: %r (Python %s): %s" % (r["stmt"], r["python"], r["error"]), file=sys.stderr)
    return 2 if len(failed) else 0
