"""``memharness report``: every topic, judged claim by claim, in one HTML + Markdown + JSON report.

The report measures every topic (default, quick sizes, or ``--full``) in each column: the current
interpreter, or the managed environments ``--python SPEC`` names. It writes the verdict matrix
first (``harness.matrix``: one row per claim, one column per environment, measured in this run),
then the same matrix from the kept asv results in ``results/`` (each column one machine and asv
environment, labelled with its commits and their dates, judged by the same claim objects), then
the detail per topic (tables, plots, notes, the evidence of every cell), folded.
The results are read and checked before any topic is measured: a bad ``--results DIR`` stops the
report at once (exit status 2); an unusable ``results/`` found in the working folder (the default)
leaves the run and the report whole, with that section marked as not loaded and why.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness.errors import HarnessError

HELP = "run every topic and write the verdict matrix, one HTML + Markdown + JSON report"
DESCRIPTION = HELP + """

Topics whose optional backends are missing still run with what is installed;
each claim they cannot judge says "not measured" and why, and the detail lists
what was skipped and how to install it. Quick sizes by default; --full adds the
large sizes. --python SPEC measures in managed environments (see memharness
envs) instead of the current interpreter, one column each.

-o FILE names one of the three files the report writes; the others go beside
it. FILE ending in .md (or .markdown) gets the Markdown, FILE ending in .json
the matrix as JSON, any other FILE the HTML; the others take FILE with its
suffix replaced by .html, .md and .json. A symbolic link is written through
(the file it points to is replaced); a character device or FIFO
(-o /dev/stdout) gets one file only, written to it directly, chosen by its
suffix (the HTML by default).
"""
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".json": "json"}
TOPIC_ORDER = ("containers", "allocator", "pickle", "aliasing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="report.html", metavar="FILE",
                        help="the HTML report (default: report.html), the Markdown (.md) and the matrix as JSON "
                             "(.json) beside it; FILE.md or FILE.json names that one instead; a device or FIFO "
                             "(/dev/stdout) gets one of the three, by its suffix")
    parser.add_argument("--topics", default=",".join(TOPIC_ORDER), metavar="LIST",
                        help="topics to include, comma-separated (default: %s)" % ",".join(TOPIC_ORDER))
    parser.add_argument("--python", default=None, metavar="SPEC",
                        help="measure in the managed environments SPEC names (all: every one), a column each "
                             "(default: the current interpreter)")
    parser.add_argument("--full", action="store_true", help="the large sizes too (takes much longer)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="asv results folder read for the kept-results matrix, checked before anything is "
                             "measured (default: results, where it exists; if it cannot be used, the section "
                             "says so and why)")
    parser.add_argument("--no-plots", action="store_true", help="leave the plots out")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def topic_args(mod: Any, full: bool, quiet: bool) -> argparse.Namespace:
    """The topic's own defaults, as its CLI would parse them."""
    p = argparse.ArgumentParser(add_help=False)
    mod.add_arguments(p)
    args = p.parse_args([])
    if full and hasattr(args, "full"):
        args.full = True
    args.quiet = quiet
    args.format = "table"
    args.output = None
    args.plot = None
    return args


def _plot_png(mod: Any, result: Any) -> Optional[bytes]:
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".png")
    os.close(fd)
    try:
        mod.plot(result, path)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------
# Columns: where the topics are measured

# (topic name, the topic's options) -> runner.Measured: one environment's way of measuring a topic
Measure = Callable[[str, Any], Any]


@dataclass
class Target:
    """One column of the matrix: its label, its source (this run, where, when) and how it measures."""

    label: str
    source: Dict[str, str]
    measure: Measure


def this_run(python: str, **extra: str) -> Dict[str, str]:
    """The source of a column measured in this run (its date is set when its last topic is done)."""
    return dict({"run": "this run", "host": platform.node(), "python": python, "date": ""}, **extra)


def measure_here(quiet: bool) -> Measure:
    """Measure a topic on the current interpreter, through the one runner."""
    def measure(name: str, options: Any) -> Any:
        from harness import registry, runner

        return runner.measure(registry.topic(name), options, quiet=quiet)
    return measure


def targets(spec: Optional[str], quiet: bool) -> List[Target]:
    """The columns to measure: the current interpreter (``spec`` None), or each managed environment
    that ``harness.envs.resolve(spec)`` names, measured by ``harness.runner.measure_in``."""
    if spec is None:
        python = platform.python_version()
        return [Target(python, this_run(python), measure_here(quiet))]
    envs = importlib.import_module("harness.envs")  # (through sys.modules: a test puts a stand-in there)
    measure_in = importlib.import_module("harness.runner").measure_in
    out: List[Target] = []
    for env in envs.resolve(spec):
        label = " ".join(str(x) for x in (env.version, env.backend) if x)
        if label in [t.label for t in out]:
            label = "%s (%s)" % (label, env.name)
        out.append(Target(label, this_run(str(env.version), backend=str(env.backend or "")),
                          functools.partial(measure_in, env.python)))  # measure_in(python, topic name, options)
    return out


def run_topics(names: List[str], full: bool, quiet: bool, plots: bool,
               measure: Optional[Measure] = None) -> List[Dict[str, Any]]:
    """Measure each topic (``measure``: on the current interpreter by default); a topic that cannot
    run becomes a note, not a failure of the report. Each entry: topic, measured (runner.Measured),
    result (its TopicResult), png, error, seconds."""
    from harness import registry
    from harness.core.progress import Progress

    measure = measure or measure_here(quiet)
    out = []
    with Progress(len(names), "report", enabled=not quiet) as progress:
        for name in names:
            progress.step(name)
            entry: Dict[str, Any] = {"topic": name, "measured": None, "result": None, "png": None, "error": None,
                                     "seconds": 0.0}
            t0 = time.perf_counter()
            try:
                mod = registry.command(name)
                options = mod.topic.options(topic_args(mod, full, quiet))
                entry["measured"] = measure(name, options)
                entry["result"] = mod.result(entry["measured"], options)
                if plots:
                    try:
                        entry["png"] = _plot_png(mod, entry["result"])
                    except HarnessError as exc:  # e.g. matplotlib missing
                        entry["result"].notes.append("plot skipped: %s" % exc)
            except HarnessError as exc:  # BackendMissing too: the topic's note says what to install
                entry["error"] = str(exc)
            entry["seconds"] = time.perf_counter() - t0
            out.append(entry)
    return out


def measure_columns(columns: List[Target], names: List[str], full: bool, quiet: bool,
                    plots: bool) -> List[Tuple[Target, List[Dict[str, Any]]]]:
    """Every topic in every column, column after column; each column's date: when it was done."""
    out = []
    for target in columns:
        if not quiet and len(columns) > 1:
            print("report: measuring on %s" % target.label, file=sys.stderr)
        entries = run_topics(names, full, quiet, plots, target.measure)
        target.source["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        out.append((target, entries))
    return out


def outcomes(entries: List[Dict[str, Any]], names: List[str]) -> Dict[str, Any]:
    """topic -> its Measured, or why it did not run here (for the matrix)."""
    out: Dict[str, Any] = {t: "left out of this report (--topics %s)" % ",".join(names)
                           for t in TOPIC_ORDER if t not in names}
    for e in entries:
        out[e["topic"]] = e["measured"] if e["measured"] is not None else "the topic could not run: %s" % e["error"]
    return out


# --------------------------------------------------------------------------
# Kept asv results


DEFAULT_RESULTS = "results"
VERSIONS_INTRO = ("From the asv results in results/ (every machine; the newest commit measured in each asv "
                  "environment), not from this run: each column names its machine, commits and commit dates.")


def versions_table(results_dir: str) -> Optional[Dict[str, Any]]:
    """The kept asv results: {"matrix": the verdict matrix of the kept results (one column per machine
    and asv environment), "figures": every track_ benchmark and parameter set per column}."""
    from harness import asvresults, matrix

    if not os.path.isdir(results_dir):
        return None
    df = asvresults.load(results_dir)
    if df is None or df.empty:
        return None
    try:
        columns, sources, per_topic = matrix.kept(df)
        intro = VERSIONS_INTRO.replace("results/", results_dir.rstrip("/") + "/")
        kept = matrix.build("asv", "Across versions (asv results)", intro, columns, sources, topic_sources=per_topic,
                            absent=matrix.KEPT_ABSENT)
        return {"matrix": kept, "figures": matrix.kept_figures(df)}
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # values that passed the checks but not pandas
        raise HarnessError("%s: the asv results could not be tabled (%s: %s)"
                           % (results_dir, type(exc).__name__, exc)) from None


def load_versions(results: Optional[str]) -> Optional[Dict[str, Any]]:
    """The kept-results section's data, read before anything is measured.

    ``results`` given (--results DIR): it must be a folder with asv results, else a HarnessError.
    None: ``results/`` in the working folder, where it exists; if it cannot be used, the section
    is {"error": why}, and the report is written all the same.
    """
    if results is not None:
        if not os.path.isdir(results):
            raise HarnessError("--results %s is not a folder" % results)
        versions = versions_table(results)
        if versions is None:
            raise HarnessError("--results %s holds no asv result files (expected %s/<machine>/<commit>-<env>.json)"
                               % (results, results))
        versions["dir"] = results
        return versions
    if not os.path.isdir(DEFAULT_RESULTS):
        return None
    try:
        versions = versions_table(DEFAULT_RESULTS)
    except HarnessError as exc:
        return {"dir": DEFAULT_RESULTS, "error": str(exc)}
    if versions is None:
        return {"dir": DEFAULT_RESULTS, "error": "%s/ holds no asv result files" % DEFAULT_RESULTS}
    versions["dir"] = DEFAULT_RESULTS
    return versions


def output_paths(output: str) -> List[Tuple[str, str]]:
    """The (format, path) of each file that ``-o output`` writes (see DESCRIPTION)."""
    from harness.output import is_stream

    base, ext = os.path.splitext(output)
    named = SUFFIXES.get(ext.lower(), "html")
    if is_stream(output):
        return [(named, output)]
    paths = [(fmt, output if fmt == named else base + suffix)
             for fmt, suffix in (("html", ".html"), ("markdown", ".md"), ("json", ".json"))]
    real = [os.path.realpath(p) for _, p in paths]
    if len(set(real)) < len(real):
        raise HarnessError("-o %s: two of the report's files would go to the same place (%s)"
                           % (output, ", ".join(real)))
    return paths


def main(args: argparse.Namespace) -> int:
    from harness import report_doc
    from harness.output import check_writable, write_atomic

    names = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = [t for t in names if t not in TOPIC_ORDER]
    if unknown or not names:
        raise HarnessError("unknown topic %s (choose from: %s)" % (", ".join(map(repr, unknown)) or "''",
                                                                   ", ".join(TOPIC_ORDER)))
    paths = output_paths(args.output)
    for _, path in paths:
        check_writable(path)
    columns = targets(getattr(args, "python", None), args.quiet)
    versions = load_versions(args.results)  # before the long part: a bad --results stops here
    plots = not args.no_plots
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            plots = False
    t0 = time.perf_counter()
    doc = report_doc.Document.of(measure_columns(columns, names, args.full, args.quiet, plots), names, versions)
    for fmt, path in paths:
        write_atomic(path, doc.render(fmt))
    if not args.quiet:
        doc.summary(sys.stderr)
        print("wrote %s in %.1f s" % (" and ".join(p for _, p in paths), time.perf_counter() - t0), file=sys.stderr)
    return 0
