"""``memharness report``: every topic, judged claim by claim, in one HTML + Markdown + JSON report.

The report measures every topic in each column (the current interpreter, or the managed
environments ``--python SPEC`` names): as its claims need (each topic's ``report_args``), or with
``--full`` as its command does by default, plus its large sizes. The timed topics run first, one
at a time with nothing beside them, the others after them (``harness.lanes``). It writes the verdict matrix
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
what was skipped and how to install it. Each topic is measured as its claims
need (containers at its largest n, aliasing at 4KB and 64MB with pickle's
samples: each topic's detail names the options); --full measures as the topic
commands do by default, plus their large sizes. The timed topics run first, one
at a time, with nothing beside them; the byte counts, tables and plots after
them (see the README, "Nothing beside a timing"). --python SPEC measures in
managed environments (see memharness envs) instead of the current interpreter,
one column each.

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
    parser.add_argument("--full", action="store_true",
                        help="measure as the topic commands do by default, and their large sizes (much longer)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="asv results folder read for the kept-results matrix, checked before anything is "
                             "measured (default: results, where it exists; if it cannot be used, the section "
                             "says so and why)")
    parser.add_argument("--no-plots", action="store_true", help="leave the plots out")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def topic_args(mod: Any, full: bool, quiet: bool) -> argparse.Namespace:
    """The topic's options as its CLI would parse them: its ``report_args`` (what its claims read),
    or with ``full`` its own defaults and its --full where it has one."""
    p = argparse.ArgumentParser(add_help=False)
    mod.add_arguments(p)
    args = p.parse_args([] if full else list(report_args(mod)))
    if full and hasattr(args, "full"):
        args.full = True
    args.quiet = quiet
    args.format = "table"
    args.output = None
    args.plot = None
    return args


def report_args(mod: Any) -> List[str]:
    return list(mod.topic.report_args)


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


def measure_here(quiet: bool = True) -> Measure:
    """Measure a topic on the current interpreter, through the one runner (its own progress off
    unless ``quiet`` is False: the report's lanes would interleave it; the report shows its steps)."""
    def measure(name: str, options: Any) -> Any:
        from harness import registry, runner

        return runner.measure(registry.topic(name), options, quiet=quiet)
    return measure


def targets(spec: Optional[str]) -> List[Target]:
    """The columns to measure: the current interpreter (``spec`` None), or each managed environment
    that ``harness.envs.resolve(spec)`` names, measured by ``harness.runner.measure_in``."""
    if spec is None:
        python = platform.python_version()
        return [Target(python, this_run(python), measure_here())]
    envs = importlib.import_module("harness.envs")  # (through sys.modules: a test puts a stand-in there)
    measure_in = importlib.import_module("harness.runner").measure_in
    out: List[Target] = []
    found = envs.resolve(spec)
    for note in getattr(found, "notes", ()):  # what ``all`` left out and why
        print("report: left out: %s" % note, file=sys.stderr)
    for env in found:
        label = " ".join(str(x) for x in (env.version, env.backend) if x)
        if label in [t.label for t in out]:
            label = "%s (%s)" % (label, env.name)
        out.append(Target(label, this_run(str(env.version), backend=str(env.backend or "")),
                          functools.partial(measure_in, env.python)))  # measure_in(python, topic name, options)
    return out


def run_topic(name: str, full: bool, quiet: bool, plots: bool, measure: Measure) -> Dict[str, Any]:
    """Measure one topic with ``measure`` and render it (``render``); a topic that cannot run
    becomes a note, not a failure of the report."""
    entry, follow = measure_topic(name, full, quiet, plots, measure)
    if follow is not None:
        follow()
    return entry


def measure_topic(name: str, full: bool, quiet: bool, plots: bool,
                  measure: Measure) -> Tuple[Dict[str, Any], Optional[Callable[[], None]]]:
    """(the entry: topic, measured (runner.Measured), result (its TopicResult, once rendered),
    png, error, seconds; the job that renders it, None where the topic could not run)."""
    from harness import registry

    entry: Dict[str, Any] = {"topic": name, "measured": None, "result": None, "png": None, "error": None,
                             "seconds": 0.0}
    t0 = time.perf_counter()
    try:
        mod = registry.command(name)
        options = mod.topic.options(topic_args(mod, full, quiet))
        entry["measured"] = measure(name, options)
    except HarnessError as exc:  # BackendMissing too: the topic's note says what to install
        entry["error"] = str(exc)
        return entry, None
    finally:
        entry["seconds"] = time.perf_counter() - t0
    return entry, functools.partial(render, entry, mod, options, full, plots)


def render(entry: Dict[str, Any], mod: Any, options: Any, full: bool, plots: bool) -> None:
    """The entry's result (tables, notes) and plot, from what was measured."""
    try:
        entry["result"] = mod.result(entry["measured"], options)
    except HarnessError as exc:
        entry["error"] = str(exc)
        return
    if report_args(mod) and not full:
        entry["result"].notes.insert(0, "measured as the report measures it unless --full (what its claims "
                                        "read): memharness %s %s" % (entry["topic"], " ".join(report_args(mod))))
    if plots:
        try:
            entry["png"] = _plot_png(mod, entry["result"])
        except HarnessError as exc:  # e.g. matplotlib missing
            entry["result"].notes.append("plot skipped: %s" % exc)


def is_timed(name: str) -> bool:
    from harness import registry

    return registry.topic(name).timed


def measure_columns(columns: List[Target], names: List[str], full: bool, quiet: bool,
                    plots: bool) -> List[Tuple[Target, List[Dict[str, Any]]]]:
    """Every topic in every column (harness.lanes): first the timed topics, one at a time, column
    after column, with nothing beside them; then the others (byte counts), column after column,
    while another thread renders the tables and plots of all. Each column's date: when its last
    topic was measured."""
    from harness import lanes
    from harness.core.progress import Progress

    entries: List[Dict[str, Dict[str, Any]]] = [{} for _ in columns]  # filled by this thread only
    progress = Progress(len(columns) * len(names), "report", enabled=not quiet)

    def job(i: int, name: str) -> Callable[[], Optional[Callable[[], None]]]:
        def run() -> Optional[Callable[[], None]]:
            target = columns[i]
            progress.step("%s: %s" % (target.label, name) if len(columns) > 1 else name)
            entry, follow = measure_topic(name, full, quiet, plots, target.measure)
            entries[i][name] = entry
            if len(entries[i]) == len(names):
                target.source["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            return follow
        return run

    timed = [n for n in names if is_timed(n)]
    with progress:
        lanes.run([job(i, n) for i in range(len(columns)) for n in timed],
                  [job(i, n) for i in range(len(columns)) for n in names if n not in timed])
    return [(target, [got[n] for n in names]) for target, got in zip(columns, entries)]


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
    columns = targets(getattr(args, "python", None))
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
