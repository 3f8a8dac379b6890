"""``memharness report``: every topic on this Python, one HTML + Markdown report.

Runs each topic with its default (quick) sizes, or ``--full``; collects the
tables, the plots (PNG, embedded in the HTML) and every verdict into a
"claims" section. Where asv results exist in ``results/``, the claims that the
asv suites track are judged again on every Python version measured there (the
newest commit of each), and every tracked figure is tabled per version.
The results are read and checked before any topic is measured: a bad
``--results DIR`` stops the report at once (exit status 2); an unusable
``results/`` found in the working folder (the default) leaves the run and the
report whole, with that section marked as not loaded and why.
"""
from __future__ import annotations

import argparse
import base64
import html
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from harness.errors import HarnessError

HELP = "run every topic on this Python and write one HTML + Markdown report"
DESCRIPTION = HELP + """

Topics whose optional backends are missing still run with what is installed;
the report lists what was skipped and how to install it. Quick sizes by
default (under a minute); --full adds the large sizes.

-o FILE names one of the two files the report writes; the other goes beside
it. FILE ending in .md (or .markdown) gets the Markdown and FILE.html the
HTML; any other FILE gets the HTML and the Markdown goes to FILE with its
suffix replaced by .md. A symbolic link is written through (the file it
points to is replaced); a character device or FIFO (-o /dev/stdout) gets one
file only, written to it directly: the Markdown if FILE ends in .md, else the
HTML.
"""
MARKDOWN_SUFFIXES = (".md", ".markdown")
TOPIC_ORDER = ("containers", "allocator", "pickle", "aliasing")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="report.html", metavar="FILE",
                        help="the HTML report (default: report.html), the Markdown beside it (.md); FILE.md "
                             "names the Markdown instead, the HTML beside it (.html); a device or FIFO "
                             "(/dev/stdout) gets one of the two, by its suffix")
    parser.add_argument("--topics", default=",".join(TOPIC_ORDER), metavar="LIST",
                        help="topics to include, comma-separated (default: %s)" % ",".join(TOPIC_ORDER))
    parser.add_argument("--full", action="store_true", help="the large sizes too (takes much longer)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help="asv results folder read for the per-version section, checked before anything is "
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


def run_topics(names: List[str], full: bool, quiet: bool, plots: bool) -> List[Dict[str, Any]]:
    """Run each topic; a topic that cannot run becomes a note, not a failure of the report."""
    from harness import registry
    from harness.core.progress import Progress

    out = []
    with Progress(len(names), "report", enabled=not quiet) as progress:
        for name in names:
            progress.step(name)
            entry: Dict[str, Any] = {"topic": name, "result": None, "png": None, "error": None, "seconds": 0.0}
            t0 = time.perf_counter()
            try:
                mod = registry.command(name)
                entry["result"] = mod.run(topic_args(mod, full, quiet))
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


# --------------------------------------------------------------------------
# asv results from other versions


DEFAULT_RESULTS = "results"
VERSIONS_INTRO = ("From the asv results in results/ (every machine; the newest commit measured for each "
                  "Python version), not from this run.")


def versions_table(results_dir: str) -> Optional[Dict[str, Any]]:
    """asv results per Python version, newest commit of each: {"claims": the claims asv tracks,
    judged per version (or None), "figures": every track_ benchmark and parameter set}."""
    from harness import asvresults

    if not os.path.isdir(results_dir):
        return None
    df = asvresults.load(results_dir)
    if df is None or df.empty:
        return None
    try:
        return {"claims": asvresults.claims_by_version(df), "figures": asvresults.per_version(df)}
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # values that passed the checks but not pandas
        raise HarnessError("%s: the asv results could not be tabled (%s: %s)"
                           % (results_dir, type(exc).__name__, exc)) from None


def load_versions(results: Optional[str]) -> Optional[Dict[str, Any]]:
    """The per-version section's data, read before anything is measured.

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


def _versions_intro(versions: Dict[str, Any]) -> str:
    return VERSIONS_INTRO.replace("results/", versions.get("dir", DEFAULT_RESULTS).rstrip("/") + "/")


def _not_loaded(versions: Dict[str, Any]) -> str:
    return "Not loaded from %s/: %s" % (versions.get("dir", DEFAULT_RESULTS).rstrip("/"), versions["error"])


def output_paths(output: str) -> List[Tuple[str, str]]:
    """The (format, path) of each file that ``-o output`` writes (see DESCRIPTION)."""
    from harness.output import is_stream

    base, ext = os.path.splitext(output)
    markdown = ext.lower() in MARKDOWN_SUFFIXES
    if is_stream(output):
        return [("markdown" if markdown else "html", output)]
    paths = [("html", base + ".html"), ("markdown", output)] if markdown else [("html", output), ("markdown", base + ".md")]
    if os.path.realpath(paths[0][1]) == os.path.realpath(paths[1][1]):
        raise HarnessError("-o %s: the HTML and the Markdown would both go to %s" % (output, os.path.realpath(output)))
    return paths


# --------------------------------------------------------------------------
# Writing


def _meta() -> Dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.node(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def to_markdown(entries: List[Dict[str, Any]], versions: Optional[Any], meta: Dict[str, str]) -> str:
    from harness.output import markdown_table

    lines = ["# memharness report", "",
             "Python %(python)s (%(implementation)s) on %(platform)s, %(machine)s, %(date)s." % meta, "",
             "## Claims", "", "| topic | claim | verdict | evidence |", "| --- | --- | --- | --- |"]
    for e in entries:
        for v in (e["result"].verdicts if e["result"] else []):
            lines.append("| %s | %s | **%s** | %s |" % (e["topic"], v.claim, v.verdict, v.evidence.replace("|", "\\|")))
    if versions is not None and versions.get("claims") is not None:
        lines += ["", "The claims that asv tracks, judged on every Python version measured: see "
                  "[Claims by Python version](#claims-by-python-version)."]
    for e in entries:
        lines += ["", "## %s" % e["topic"], ""]
        if e["error"]:
            lines.append("Not measured: %s" % e["error"])
            continue
        r = e["result"]
        for name, df in r.tables.items():
            lines += ["### %s" % name, "", markdown_table(df), ""]
        for n in r.notes:
            lines.append("- " + n)
        lines.append("")
        lines.append("(%.1f s)" % e["seconds"])
    if versions is not None and versions.get("error"):
        lines += ["", "## Across versions (asv results)", "", _not_loaded(versions)]
    elif versions is not None:
        lines += ["", "## Across versions (asv results)", "", _versions_intro(versions), ""]
        if versions["claims"] is not None:
            lines += ["### Claims by Python version", "", markdown_table(versions["claims"]), ""]
        lines += ["### Every tracked figure", "", markdown_table(versions["figures"])]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.confirmed{color:#1a7f37;font-weight:bold}.refuted{color:#cf222e;font-weight:bold}
.partly{color:#9a6700;font-weight:bold}.inconclusive{color:#666;font-weight:bold}
img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:13px}
.scroll{overflow-x:auto}
"""


def to_html(entries: List[Dict[str, Any]], versions: Optional[Any], meta: Dict[str, str]) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>memharness report</title>",
             "<style>%s</style></head><body>" % _CSS,
             "<h1>memharness report</h1>",
             "<p>Python %s (%s) on %s, %s, %s. Every figure below was measured in this run.</p>" % tuple(
                 esc(meta[k]) for k in ("python", "implementation", "platform", "machine", "date")),
             "<h2 id='claims'>Claims</h2><table><tr><th>topic</th><th>claim</th><th>verdict</th><th>evidence</th></tr>"]
    for e in entries:
        for v in (e["result"].verdicts if e["result"] else []):
            parts.append("<tr><td>%s</td><td style='text-align:left'>%s</td><td class='%s'>%s</td>"
                         "<td style='text-align:left'>%s</td></tr>" % (
                             esc(e["topic"]), esc(v.claim), esc(v.verdict), esc(v.verdict), esc(v.evidence)))
    parts.append("</table>")
    if versions is not None and versions.get("claims") is not None:
        parts.append("<p>The claims that asv tracks, judged on every Python version measured: see "
                     "<a href='#claims-by-version'>Claims by Python version</a>.</p>")
    for e in entries:
        parts.append("<h2 id='%s'>%s</h2>" % (esc(e["topic"]), esc(e["topic"])))
        if e["error"]:
            parts.append("<p class='note'>Not measured: %s</p>" % esc(e["error"]))
            continue
        r = e["result"]
        for name, df in r.tables.items():
            parts.append("<h3>%s</h3>" % esc(name))
            parts.append("<div class='scroll'>%s</div>" % df.to_html(
                index=False, float_format=lambda x: "%.4g" % x, na_rep="", border=0))
        if e["png"]:
            parts.append("<img alt='%s plot' src='data:image/png;base64,%s'>" % (
                esc(e["topic"]), base64.b64encode(e["png"]).decode()))
        if r.notes:
            parts.append("<ul class='note'>%s</ul>" % "".join("<li>%s</li>" % esc(n) for n in r.notes))
        parts.append("<p class='note'>%.1f s</p>" % e["seconds"])
    if versions is not None and versions.get("error"):
        parts.append("<h2 id='versions'>Across versions (asv results)</h2><p class='note'>%s</p>"
                     % esc(_not_loaded(versions)))
    elif versions is not None:
        parts.append("<h2 id='versions'>Across versions (asv results)</h2><p class='note'>%s</p>"
                     % esc(_versions_intro(versions)))
        if versions["claims"] is not None:
            parts.append("<h3 id='claims-by-version'>Claims by Python version</h3><div class='scroll'><table><tr>%s</tr>" % "".join(
                "<th>%s</th>" % esc(c) for c in versions["claims"].columns))
            for row in versions["claims"].itertuples(index=False):
                cells = []
                for col, value in zip(versions["claims"].columns, row):
                    verdict = value.split(":", 1)[0] if col.startswith("Python ") else ""
                    cls = " class='%s'" % verdict if verdict in ("confirmed", "refuted", "partly") else ""
                    cells.append("<td style='text-align:left'%s>%s</td>" % (cls, esc(str(value))))
                parts.append("<tr>%s</tr>" % "".join(cells))
            parts.append("</table></div>")
        parts.append("<h3>Every tracked figure</h3><div class='scroll'>%s</div>" % versions["figures"].to_html(
            index=False, float_format=lambda x: "%.4g" % x, na_rep="", border=0))
    parts.append("</body></html>")
    return "\n".join(parts)


def main(args: argparse.Namespace) -> int:
    from harness.output import check_writable, write_atomic

    names = [t.strip() for t in args.topics.split(",") if t.strip()]
    unknown = [t for t in names if t not in TOPIC_ORDER]
    if unknown or not names:
        raise HarnessError("unknown topic %s (choose from: %s)" % (", ".join(map(repr, unknown)) or "''",
                                                                   ", ".join(TOPIC_ORDER)))
    paths = output_paths(args.output)
    for _, path in paths:
        check_writable(path)
    versions = load_versions(args.results)  # before the long part: a bad --results stops here
    plots = not args.no_plots
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            plots = False
    t0 = time.perf_counter()
    entries = run_topics(names, args.full, args.quiet, plots)
    meta = _meta()
    render = {"html": to_html, "markdown": to_markdown}
    for fmt, path in paths:
        write_atomic(path, render[fmt](entries, versions, meta))
    if not args.quiet:
        for e in entries:
            r = e["result"]
            for v in (r.verdicts if r else []):
                print("[%s] %s: %s" % (v.verdict.upper(), e["topic"], v.claim), file=sys.stderr)
            if e["error"]:
                print("[skipped] %s: %s" % (e["topic"], e["error"]), file=sys.stderr)
        if versions is not None and versions.get("error"):
            print("[not loaded] %s" % _not_loaded(versions), file=sys.stderr)
        print("wrote %s in %.1f s" % (" and ".join(p for _, p in paths), time.perf_counter() - t0), file=sys.stderr)
    return 0
