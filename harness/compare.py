"""``memharness compare BASE NEW``: a regression gate over two asv result sets (a base commit, a change).

BASE and NEW are results folders or single result files (see harness.resultset), read through
the checking reader of harness.asvresults. A figure is one benchmark, parameter set and environment.

* Byte and count figures (track_ benchmarks whose unit in benchmarks.json is bytes or a count) are
  deterministic: any change fails, to the byte. So does a figure that BASE measured and NEW lost.
* Time figures (time_ benchmarks; track_ rates per second, where lower is worse; ratios and other
  units, in both directions) fail only beyond a noise threshold: the spread, interquartile range over
  median, of the repeated measurements of one commit that the sets hold (asv's --record-samples samples, or
  several result files of one commit and environment), the larger of BASE's and NEW's. A figure with
  no repeats on either side gets --time-threshold (default 10%) and is labelled "not measured".

Output: a table (or --format markdown/json), and --markdown FILE for a pull-request comment or a
job summary. --exclude REGEX leaves benchmarks out (a byte figure that is not deterministic yet,
say); the output counts what it left out. Exit status: 1 on a regression or a changed byte figure, 0 otherwise, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from typing import Any, Dict, List, Optional, Pattern, Sequence, Tuple

from harness.errors import HarnessError
from harness.resultset import DIRECTION, Figure, ResultSet, load_set, short_env

HELP = "compare two asv result sets: fails on any changed byte figure, on times beyond the measured noise"
DESCRIPTION = __doc__
DEFAULT_TIME_THRESHOLD = 10.0  # percent, for figures whose noise the sets do not measure
FAILING = ("changed", "lost", "unstable", "regressed", "moved")
MAX_ROWS = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="results folder or result file of the base commit")
    parser.add_argument("new", metavar="NEW", help="results folder or result file of the change")
    parser.add_argument("--base-commit", metavar="HASH", help="the commit of BASE to use (when it holds several)")
    parser.add_argument("--new-commit", metavar="HASH", help="the commit of NEW to use (when it holds several)")
    parser.add_argument("--benchmarks", metavar="FILE", help="benchmarks.json to read the units from (default: "
                        "the one of each results folder)")
    parser.add_argument("--time-threshold", type=float, default=DEFAULT_TIME_THRESHOLD, metavar="PERCENT",
                        help="noise threshold in percent, for figures whose repeats the sets do not hold "
                        "(default: %g)" % DEFAULT_TIME_THRESHOLD)
    parser.add_argument("--format", choices=("table", "markdown", "json"), default="table",
                        help="output format (default: table)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE "
                        "(e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--all", action="store_true", help="list every figure, not only those that moved")
    parser.add_argument("--exclude", action="append", default=[], metavar="REGEX",
                        help="leave out the benchmarks whose name matches REGEX (re.search; repeatable); the "
                        "output counts them")


def _finite(values: List[float]) -> List[float]:
    return [v for v in values if not math.isnan(v)]


def noise(fig: Figure) -> Optional[Tuple[float, str]]:
    """The relative spread of one commit's repeated measurements of ``fig``, and where it came from.

    The interquartile range over the median: robust to the odd sample (asv's first, a warm-up, can be
    ten times the rest), where the full range would make any change look like noise.
    """
    for values, what in ((fig.samples, "samples"), (_finite(fig.runs), "runs")):
        if len(values) >= 2:
            mid = statistics.median(values)
            if mid != 0 and math.isfinite(mid):
                q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
                return (q3 - q1) / abs(mid), "%s n=%d" % (what, len(values))
    return None


def _relative(base: float, new: float) -> float:
    if base == new:
        return 0.0
    return new / base - 1.0 if base != 0 else math.copysign(math.inf, new)


def compare_figure(base: Figure, new: Figure, default: float) -> Optional[Dict[str, Any]]:
    """One row: values, change, threshold and status; None when neither side has a value."""
    b, n = _finite(base.runs), _finite(new.runs)
    if not b and not n:
        return None
    row: Dict[str, Any] = {"kind": base.kind, "unit": base.unit, "base": statistics.median(b) if b else None,
                           "new": statistics.median(n) if n else None, "change": None, "threshold": None,
                           "noise": "", "note": "benchmark code changed" if base.version != new.version else ""}
    if not n:
        row["status"] = "lost"
        return row
    if not b:
        row["status"] = "new"
        return row
    row["change"] = _relative(row["base"], row["new"])
    if base.kind == "exact":
        row["noise"] = "exact: any change fails"
        row["status"] = ("unstable" if len(set(b)) > 1 or len(set(n)) > 1 else
                         "same" if b[0] == n[0] else "changed")
        if row["status"] == "unstable":
            row["note"] = "repeated runs of one commit differ: %s / %s" % (sorted(set(b)), sorted(set(n)))
        return row
    spreads = [s for s in (noise(base), noise(new)) if s is not None]
    if spreads:
        threshold, source = max(spreads)
        row["noise"] = "measured: " + source
    else:
        threshold = default
        row["noise"] = "not measured: default"
    row["threshold"] = threshold
    direction = DIRECTION[base.kind]
    worse = direction * row["change"] if direction else abs(row["change"])
    better = -direction * row["change"] if direction else 0.0
    row["status"] = (("regressed" if direction else "moved") if worse > threshold else
                     "improved" if better > threshold else "same")
    return row


def compare_sets(base: ResultSet, new: ResultSet, default: float,
                 exclude: Sequence[Pattern[str]] = ()) -> Tuple[List[Dict[str, Any]], Dict[str, int]]:
    rows = []
    excluded = 0
    for key in sorted(set(base.figures) & set(new.figures)):
        if any(p.search(key[1]) for p in exclude):
            excluded += 1
            continue
        row = compare_figure(base.figures[key], new.figures[key], default)
        if row is not None:
            rows.append(dict(zip(("env", "benchmark", "params"), key), **row))
    order = {s: i for i, s in enumerate(FAILING + ("improved", "new", "same"))}
    rows.sort(key=lambda r: (order[r["status"]], r["benchmark"], r["env"], r["params"]))
    counts = {"only_base": len(set(base.figures) - set(new.figures)),
              "only_new": len(set(new.figures) - set(base.figures)), "excluded": excluded}
    return rows, counts


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "exact" and float(value).is_integer():
        return "%d" % value
    return "%.6g" % value


def _pct(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "%+.1f%%" % (100 * value) if math.isfinite(value) else ("+inf" if value > 0 else "-inf")


def summary(rows: List[Dict[str, Any]], counts: Dict[str, int], base: ResultSet, new: ResultSet,
            default: float) -> List[str]:
    failed = [r for r in rows if r["status"] in FAILING]
    exact = [r for r in rows if r["kind"] == "exact"]
    timed = [r for r in rows if r["kind"] != "exact" and r["threshold"] is not None]
    unmeasured = [r for r in timed if r["noise"].startswith("not measured")]
    by_status: Dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    lines = [
        "%s: %d of %d figures fail (%s)" % ("FAIL" if failed else "OK", len(failed), len(rows),
                                           ", ".join("%d %s" % (c, s) for s, c in sorted(by_status.items()))),
        "BASE %s: commit %s (%d result files); NEW %s: commit %s (%d result files)"
        % (base.path, base.commit[:8], base.files, new.path, new.commit[:8], new.files),
        "%d byte/count figures compared to the byte; %d time figures compared beyond their noise" % (len(exact), len(timed)),
    ]
    if timed:
        lines.append("noise threshold measured for %d time figures (spread of repeated runs or samples of one commit)"
                     % (len(timed) - len(unmeasured)))
    if unmeasured:
        lines.append("noise NOT MEASURED for %d time figures (no repeated runs or samples of one commit in BASE or "
                     "NEW): default threshold %g%% (--time-threshold); asv run --record-samples, or a rerun with "
                     "--append-samples, measures it" % (len(unmeasured), default * 100))
    if counts.get("excluded"):
        lines.append("left out by --exclude: %d figures" % counts["excluded"])
    if counts["only_base"] or counts["only_new"]:
        lines.append("not compared: %d figures only in BASE, %d only in NEW (benchmarks or environments not run on "
                     "both sides)" % (counts["only_base"], counts["only_new"]))
    return lines


COLUMNS = ("status", "kind", "env", "benchmark", "params", "base", "new", "change", "threshold", "noise", "note")


def _cells(r: Dict[str, Any]) -> List[str]:
    return [r["status"], r["kind"], short_env(r["env"]), r["benchmark"], r["params"], _fmt(r["base"], r["kind"]),
            _fmt(r["new"], r["kind"]), _pct(r["change"]), _pct(r["threshold"]).lstrip("+"), r["noise"], r["note"]]


def render_table(lines: List[str], rows: List[Dict[str, Any]]) -> str:
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    body = ["  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells] if rows else []
    return "\n".join(lines + [""] + body) + "\n"


def render_markdown(lines: List[str], rows: List[Dict[str, Any]]) -> str:
    out = ["### memharness compare: " + lines[0], ""] + ["- " + line for line in lines[1:]] + [""]
    if rows:
        out += ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
        for r in rows[:MAX_ROWS]:
            out.append("| " + " | ".join(c.replace("|", "\\|") or " " for c in _cells(r)) + " |")
        if len(rows) > MAX_ROWS:
            out.append("\n%d more rows: run memharness compare with --format table" % (len(rows) - MAX_ROWS))
    return "\n".join(out) + "\n"


def main(args: argparse.Namespace) -> int:
    from harness.output import check_writable, write_atomic

    if not (math.isfinite(args.time_threshold) and args.time_threshold > 0):
        raise HarnessError("--time-threshold must be a percentage above 0 (got %s)" % args.time_threshold)
    for path in (args.output, args.markdown):
        if path:
            check_writable(path)
    default = args.time_threshold / 100.0
    try:
        exclude = [re.compile(x) for x in args.exclude]
    except re.error as exc:
        raise HarnessError("--exclude: not a regular expression (%s)" % exc) from None
    base = load_set(args.base, args.base_commit, args.benchmarks)
    new = load_set(args.new, args.new_commit, args.benchmarks)
    rows, counts = compare_sets(base, new, default, exclude)
    if not rows:
        raise HarnessError("%s and %s have no figure in common: nothing to compare" % (args.base, args.new))
    lines = summary(rows, counts, base, new, default)
    shown = rows if args.all else [r for r in rows if r["status"] != "same"]
    if args.format == "json":
        safe = [{k: _pct(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()} for r in rows]
        text = json.dumps({"summary": lines, "rows": safe}, indent=1, allow_nan=False) + "\n"
    else:
        text = (render_markdown if args.format == "markdown" else render_table)(lines, shown)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if args.markdown:
        write_atomic(args.markdown, render_markdown(lines, shown))
    return 1 if any(r["status"] in FAILING for r in rows) else 0
