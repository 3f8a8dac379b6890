"""The verdict matrix: one row per claim, one column per environment, from what each measured.

A column is one environment's runs of the topics, ``{topic name -> runner.Measured}`` (or, for a
topic that could not run there, the reason in words), with its source: a run of this session
(``{"run": "this run", "host", "python", "date"}``) or kept asv results (``{"asv": machine,
"commit", "date"}``). Every claim of ``harness.claims.all_claims()`` gets a row, in topic order;
each cell is the claim object's verdict on that column's rows with its key figure and evidence,
or "not measured" and why (the topic did not run there, or its rows hold none of the claim's
figures: the run's skips say which backend or device was missing). A cell's chart holds the
claim's first figure that the rows measured, one bar per row: measured values only.

Writers: ``to_json`` (the schema of ``as_dict``) and ``to_markdown`` here; the HTML in
``harness.matrix_html``. ``kept(df)`` builds the columns of kept asv results (``asvresults.load``),
one per machine and asv environment, each topic's rows rebuilt by its ``from_asv``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from harness.claims import Claim, Verdict, all_claims
from harness.runner import Measured
from harness.topic import kind

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

Source = Dict[str, str]
# a topic's outcome in one column: what it measured, or why it could not run there
Outcome = Union[Measured, str]
CHART_BARS = 40  # bars drawn at most per chart (the chart says how many rows it leaves out)
LABEL_COLUMNS = 3  # row columns (not numbers) that name a bar
ABSENT = "nothing this claim is about was measured"
KEPT_ABSENT = "the kept asv results hold nothing this claim is about"


@dataclass
class Column:
    id: str  # safe in an HTML id: "run0", "asv3"
    label: str  # "3.11.7", "3.11.7 theano 1.0.5", "3.11 pytensor (asv)"
    source: Source


@dataclass
class Chart:
    """One figure of a claim's rows: a bar per row (its label and value), as measured."""

    figure: str  # "elements.ratio_alloc"
    bars: List[Tuple[str, float]]
    rows: int  # rows with a value (more than the bars when the chart leaves some out)
    log: bool = False  # the values span more than 100x: drawn on a log scale


@dataclass
class Cell:
    claim: str  # claim id
    column: str  # column id
    anchor: str  # the id of its evidence in the detail
    source: Source
    verdict: Optional[str] = None  # None: not measured
    key: str = ""
    evidence: str = ""
    not_measured: str = ""  # why, when verdict is None
    chart: Optional[Chart] = None

    def text(self) -> str:
        """The cell as words: "confirmed: 2.9-5.6x" or "not measured: why"."""
        return "%s: %s" % (self.verdict, self.key) if self.verdict else "not measured: %s" % self.not_measured


@dataclass
class Matrix:
    name: str  # "run" or "asv": the prefix of its column ids and anchors
    title: str
    intro: str  # where its figures come from, in words
    claims: List[Claim]
    columns: List[Column]
    cells: Dict[Tuple[str, str], Cell] = field(default_factory=dict)  # (claim id, column id) -> cell

    def cell(self, claim_id: str, column_id: str) -> Cell:
        return self.cells[(claim_id, column_id)]

    def measured(self) -> int:
        return sum(1 for c in self.cells.values() if c.verdict)


def anchor(matrix: str, column: str, claim_id: str) -> str:
    return "ev-%s-%s-%s" % (matrix, column, re.sub(r"[^A-Za-z0-9_-]", "-", claim_id))


# --------------------------------------------------------------------------
# Building


def build(name: str, title: str, intro: str, columns: Mapping[str, Mapping[str, Outcome]],
          sources: Mapping[str, Source], claims: Optional[Sequence[Claim]] = None,
          topic_sources: Optional[Mapping[str, Mapping[str, Source]]] = None, absent: str = ABSENT) -> Matrix:
    """The matrix of ``columns`` (label -> {topic -> Measured or why it did not run}), in their order.

    ``sources`` gives each label's source, ``topic_sources`` (label -> topic -> source) a topic's own
    where it differs (kept results: the commits of that topic's figures); ``claims`` defaults to
    every claim of every topic; ``absent`` says why a claim whose figures are not in the rows has no
    verdict.
    """
    matrix = Matrix(name, title, intro, list(all_claims()) if claims is None else list(claims), [])
    for i, (label, outcomes) in enumerate(columns.items()):
        column = Column("%s%d" % (name, i), label, dict(sources[label]))
        matrix.columns.append(column)
        for claim in matrix.claims:
            cell = judge_cell(claim, outcomes.get(claim.topic), column, name, absent)
            cell.source = dict((topic_sources or {}).get(label, {}).get(claim.topic, column.source))
            matrix.cells[(claim.id, column.id)] = cell
    return matrix


def judge_cell(claim: Claim, outcome: Optional[Outcome], column: Column, matrix: str, absent: str = ABSENT) -> Cell:
    cell = Cell(claim.id, column.id, anchor(matrix, column.id, claim.id), column.source)
    if outcome is None:
        cell.not_measured = "the %s topic was not run here" % claim.topic
        return cell
    if isinstance(outcome, str):
        cell.not_measured = outcome
        return cell
    verdict: Optional[Verdict] = claim.judge(outcome.rows)
    if verdict is None:
        cell.not_measured = why_not(claim, outcome, absent)
        return cell
    cell.verdict, cell.key, cell.evidence = verdict.verdict, verdict.key, verdict.evidence
    cell.chart = chart(claim, outcome.rows)
    return cell


def why_not(claim: Claim, measured: Measured, absent: str = ABSENT) -> str:
    """Why a run's rows hold nothing this claim is about: the skips that concern it (those that name
    a word of the claim, e.g. "gpu" or "pkl_utils"; else every skip of the run), and its failures."""
    words = set(re.findall(r"[a-z0-9_]+", (claim.id + " " + claim.text).lower()))
    skips = measured.skips
    named = [s for s in skips if set(w for w in re.findall(r"[a-z0-9_]+", s.what.lower()) if len(w) > 2) & words]
    grouped: Dict[str, List[str]] = {}
    for s in named or skips:
        grouped.setdefault(s.reason, []).append(s.what)
    parts = ["%s skipped (%s)" % (", ".join(whats), reason) for reason, whats in grouped.items()]
    parts += ["failed: %s" % f for f in measured.failures]
    return "%s (it reads %s)%s" % (absent, ", ".join(claim.figures), "; " + "; ".join(parts) if parts else "")


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _label(row: Mapping[str, Any], figure: str, index: int) -> str:
    names = [k for k, v in row.items() if k != figure and v is not None and v == v and not isinstance(v, float)]
    return ", ".join("%s=%s" % (k, row[k]) for k in names[:LABEL_COLUMNS]) or "row %d" % (index + 1)


def chart(claim: Claim, rows: Mapping[str, "pd.DataFrame"]) -> Optional[Chart]:
    """The claim's first figure (``kind.column``) with measured values in two rows or more, a bar per row."""
    for figure in claim.figures:
        k, _, col = figure.partition(".")
        df = kind(dict(rows), k)
        if df.empty or col not in df.columns:
            continue
        bars = []
        for i, row in enumerate(df.to_dict(orient="records")):
            x = _number(row.get(col))
            if x is not None:
                bars.append((_label({str(c): v for c, v in row.items()}, col, i), x))
        if len(bars) > 1:  # one bar compares nothing: its figure is in the cell already
            positive = [abs(x) for _, x in bars if x]
            log = bool(positive) and all(x > 0 for _, x in bars) and max(positive) > 100 * min(positive)
            return Chart(figure, bars[:CHART_BARS], len(bars), log)
    return None


# --------------------------------------------------------------------------
# Kept asv results


def backend_of(env_name: str) -> str:
    """The Theano-style library an asv environment holds, from its name: "theano 1.0.5", "pytensor", ""."""
    from harness.topics.aliasing.workloads import CPU_BACKENDS

    libraries = sorted({b.split("-")[0] for b in CPU_BACKENDS})
    for token in env_name.split("-"):
        m = re.match(r"^(%s)(\d[\w.]*)?$" % "|".join(map(re.escape, libraries)), token)
        if m:
            return m.group(1) + (" " + m.group(2) if m.group(2) else "")
    return ""


def _day(ms: Any) -> str:
    import time

    x = _number(ms)
    return time.strftime("%Y-%m-%d", time.gmtime(x / 1000.0)) if x is not None else "unknown date"


def _joined(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(values))


def kept_groups(df: "pd.DataFrame") -> List[Tuple[str, str, "pd.DataFrame"]]:
    """(machine, env_name, newest value of each benchmark and parameter set) of each asv environment,
    in Python version order."""
    from harness.asvresults import version_key

    d = df[df["value"].notna()]
    out = []
    for (machine, env), g in d.groupby(["machine", "env_name"], sort=False):
        newest = g.sort_values("date").groupby(["benchmark", "params"], as_index=False).last()
        out.append((str(machine), str(env), newest))
    return sorted(out, key=lambda t: (version_key(str(t[2]["python"].iloc[0])), backend_of(t[1]), t[0]))


def kept_labelled(df: "pd.DataFrame") -> List[Tuple[str, str, "pd.DataFrame"]]:
    """(label, machine, newest values) of each kept column: "3.11 theano 1.0.5", with the machine
    where two machines hold the same environment."""
    groups = kept_groups(df)
    labels = [" ".join(x for x in (str(t["python"].iloc[0]), backend_of(env)) if x) for _, env, t in groups]
    return [(label + (" (%s)" % machine if labels.count(label) > 1 else ""), machine, tracked)
            for label, (machine, _, tracked) in zip(labels, groups)]


def kept_figures(df: "pd.DataFrame", prefix: str = "track_") -> "pd.DataFrame":
    """Every track_ benchmark and parameter set (rows) in each kept column (the newest value)."""
    import pandas as pd

    table: Dict[Tuple[str, str], Dict[str, Any]] = {}
    labels = []
    for label, _, tracked in kept_labelled(df):
        labels.append(label)
        own = tracked[tracked["benchmark"].astype(str).str.split(".").str[-1].str.startswith(prefix)]
        for bench, params, value in zip(own["benchmark"], own["params"], own["value"]):
            table.setdefault((str(bench), str(params)), {"benchmark": bench, "params": params})[label] = value
    rows = [table[k] for k in sorted(table)]
    return pd.DataFrame(rows).reindex(columns=["benchmark", "params"] + labels)


def kept_source(machine: str, tracked: "pd.DataFrame") -> Source:
    """Machine, commits (8 hex digits each) and commit dates of the results a column or cell rests on."""
    newest_first = tracked.sort_values("date", ascending=False)
    return {"asv": machine, "commit": _joined(str(c)[:8] for c in newest_first["commit"]),
            "date": _joined(_day(t) for t in newest_first["date"])}


def kept(df: "pd.DataFrame") -> Tuple[Dict[str, Dict[str, Outcome]], Dict[str, Source], Dict[str, Dict[str, Source]]]:
    """Columns of kept asv results: (label -> {topic -> rows rebuilt by from_asv}, label -> source,
    label -> {topic -> the source of that topic's figures alone})."""
    from harness import registry

    columns: Dict[str, Dict[str, Outcome]] = {}
    sources: Dict[str, Source] = {}
    per_topic: Dict[str, Dict[str, Source]] = {}
    for label, machine, tracked in kept_labelled(df):
        sources[label] = kept_source(machine, tracked)
        columns[label], per_topic[label] = {}, {}
        for topic in registry.topics():
            own = tracked[tracked["benchmark"].astype(str).str.startswith("bench_%s." % topic.name)]
            per_topic[label][topic.name] = kept_source(machine, own if len(own) else tracked)
            rows = topic.from_asv(tracked)
            if any(len(v) for v in rows.values()):
                columns[label][topic.name] = Measured(topic.name, rows)
            else:
                columns[label][topic.name] = "the kept asv results of this environment track no figure of this topic"
    return columns, sources, per_topic


def source_text(source: Source) -> str:
    """A source in words: "this run on HOST, Python X, DATE" or "asv results of MACHINE, commit C (DATE)"."""
    if "asv" in source:
        return "asv results of %s, commit %s (commit date %s)" % (source["asv"], source["commit"], source["date"])
    return "%s on %s, Python %s, %s" % (source["run"], source.get("host", "?"), source.get("python", "?"),
                                        source.get("date", "?"))


# --------------------------------------------------------------------------
# Writers: JSON and Markdown


def as_dict(matrices: Sequence[Matrix]) -> Dict[str, Any]:
    """{"claims": [...], "columns": [...], "cells": [...]} of every matrix (columns name theirs)."""
    claims: Dict[str, Claim] = {}
    for m in matrices:
        claims.update((c.id, c) for c in m.claims)
    return {
        "claims": [{"id": c.id, "topic": c.topic, "text": c.text, "figures": list(c.figures)} for c in claims.values()],
        "columns": [{"id": col.id, "matrix": m.name, "label": col.label, "source": col.source}
                    for m in matrices for col in m.columns],
        "cells": [{"claim": cell.claim, "column": cell.column, "verdict": cell.verdict, "key": cell.key,
                   "evidence": cell.evidence, "not_measured": cell.not_measured or None, "source": cell.source,
                   "chart": None if cell.chart is None else {"figure": cell.chart.figure, "rows": cell.chart.rows,
                                                            "bars": [list(b) for b in cell.chart.bars]}}
                  for m in matrices for cell in m.cells.values()],
    }


def to_json(matrices: Sequence[Matrix]) -> str:
    import json

    return json.dumps(as_dict(matrices), indent=1) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(matrix: Matrix) -> List[str]:
    """The matrix as Markdown lines: its title, where it comes from, the table."""
    lines = ["## %s" % matrix.title, "", matrix.intro, ""]
    for col in matrix.columns:
        lines.append("- **%s**: %s" % (_md(col.label), _md(source_text(col.source))))
    lines += ["", "| claim | %s |" % " | ".join(_md(c.label) for c in matrix.columns),
              "| --- |" + " --- |" * len(matrix.columns)]
    for claim in matrix.claims:
        cells = [matrix.cell(claim.id, col.id) for col in matrix.columns]
        lines.append("| %s (%s) | %s |" % (_md(claim.text), claim.topic, " | ".join(
            "**%s**: %s" % (c.verdict, _md(c.key)) if c.verdict else "not measured: %s" % _md(c.not_measured)
            for c in cells)))
    return lines
