"""The report's document: the matrix measured in this run, the matrix of the kept asv results, then
the detail per topic (folded), written as Markdown, one self-contained HTML file, or the matrices
as JSON. Only what a column measured in this run is said to be measured in this run; every figure
of the kept results carries its machine, commits and commit dates."""
from __future__ import annotations

import base64
import html
import platform
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, TextIO, Tuple

from harness import matrix as mx
from harness import matrix_html
from harness.report import DEFAULT_RESULTS, TOPIC_ORDER, Target, outcomes

esc = html.escape
Column = Tuple[Target, List[Dict[str, Any]]]
LIVE_TITLE = "The verdict matrix, measured in this run"
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.v-confirmed{color:#1a7f37}.v-refuted{color:#cf222e}.v-partly{color:#9a6700}.v-inconclusive{color:#666}
img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:13px}
.scroll{overflow-x:auto}
"""


def _meta() -> Dict[str, str]:
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.node(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


@dataclass
class Document:
    meta: Dict[str, str]
    live: mx.Matrix
    columns: List[Column]
    versions: Optional[Dict[str, Any]]  # load_versions: {"matrix", "figures", "dir"} or {"dir", "error"}

    @classmethod
    def of(cls, columns: List[Column], names: List[str], versions: Optional[Dict[str, Any]]) -> "Document":
        meta = _meta()
        intro = ("Every measured cell of this matrix was measured in this run, in the environment its column "
                 "names (on %s); a claim that could not be measured there says why." % meta["machine"])
        live = mx.build("run", LIVE_TITLE, intro, {t.label: outcomes(e, names) for t, e in columns},
                        {t.label: t.source for t, _ in columns})
        return cls(meta, live, columns, versions)

    @property
    def kept(self) -> Optional[mx.Matrix]:
        got: Optional[mx.Matrix] = (self.versions or {}).get("matrix")
        return got

    def matrices(self) -> List[mx.Matrix]:
        return [self.live] + ([self.kept] if self.kept else [])

    def kept_note(self) -> str:
        """Why there is no kept-results matrix ("" where there is one)."""
        if self.versions is None:
            return "No asv results were found (%s/ does not exist); run the asv suites to keep some." % DEFAULT_RESULTS
        if self.versions.get("error"):
            return "Not loaded from %s/: %s" % (self.versions.get("dir", DEFAULT_RESULTS).rstrip("/"),
                                                 self.versions["error"])
        return ""

    def intro(self) -> str:
        return ("Written %(date)s on %(machine)s (%(platform)s). The first matrix was measured in this run; the "
                "second comes from kept asv results, not from this run (each column names the machine, commits "
                "and commit dates of its results); the detail per topic follows, folded." % self.meta)

    def render(self, fmt: str) -> str:
        return {"html": self.to_html, "markdown": self.to_markdown, "json": self.to_json}[fmt]()

    def to_json(self) -> str:
        return mx.to_json(self.matrices())

    def summary(self, out: TextIO) -> None:
        """One line per measured cell of this run's matrix (and each topic that could not run)."""
        for col in self.live.columns:
            where = " on %s" % col.label if len(self.live.columns) > 1 else ""
            for claim in self.live.claims:
                cell = self.live.cell(claim.id, col.id)
                if cell.verdict:
                    print("[%s] %s%s: %s" % (cell.verdict.upper(), claim.topic, where, claim.text), file=out)
        for target, entries in self.columns:
            for e in entries:
                if e["error"]:
                    print("[skipped] %s on %s: %s" % (e["topic"], target.label, e["error"]), file=out)
        if self.kept_note() and self.versions is not None:
            print("[not loaded] %s" % self.kept_note(), file=out)

    # ---------------------------------------------------------------- Markdown

    def to_markdown(self) -> str:
        from harness.output import markdown_table

        lines = ["# memharness report", "", self.intro(), ""] + mx.to_markdown(self.live) + [""]
        if self.kept:
            lines += mx.to_markdown(self.kept) + [""]
        else:
            lines += ["## Across versions (asv results)", "", self.kept_note(), ""]
        lines += ["## Detail per topic", ""]
        for topic in TOPIC_ORDER:
            lines += ["<details><summary>%s</summary>" % topic, ""]
            for target, entries in self.columns:
                for e in (e for e in entries if e["topic"] == topic):
                    lines += ["### %s on %s (%s)" % (topic, target.label, mx.source_text(target.source)), ""]
                    if e["error"]:
                        lines += ["Not measured: %s" % e["error"], ""]
                        continue
                    for name, df in e["result"].tables.items():
                        lines += ["#### %s" % name, "", markdown_table(df), ""]
                    lines += ["- " + n for n in e["result"].notes] + ["", "(%.1f s)" % e["seconds"], ""]
            for m in self.matrices():
                lines += _md_evidence(m, topic)
            lines += ["</details>", ""]
        if self.kept and self.versions:
            lines += ["## Every tracked figure (asv results)", "", self.kept.intro, "",
                      markdown_table(self.versions["figures"])]
        return "\n".join(lines) + "\n"

    # ---------------------------------------------------------------- HTML

    def to_html(self) -> str:
        parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>memharness report</title>",
                 "<style>%s%s</style>%s</head><body>" % (_CSS, matrix_html.CSS, matrix_html.SCRIPT),
                 "<h1>memharness report</h1>", "<p>%s</p>" % esc(self.intro()), matrix_html.table(self.live)]
        if self.kept:
            parts.append(matrix_html.table(self.kept))
        else:
            parts.append("<h2 id='matrix-asv'>Across versions (asv results)</h2><p class='note'>%s</p>"
                         % esc(self.kept_note()))
        parts.append("<h2 id='detail'>Detail per topic</h2>")
        for topic in TOPIC_ORDER:
            parts.append("<details id='topic-%s'><summary>%s</summary>" % (topic, topic))
            for target, entries in self.columns:
                for e in (e for e in entries if e["topic"] == topic):
                    parts += _html_entry(target, e)
            for m in self.matrices():
                parts.append("<h3>Evidence: %s</h3>" % esc(m.title))
                parts += matrix_html.evidence(m, topic)
            parts.append("</details>")
        if self.kept and self.versions:
            parts.append("<details id='kept-figures'><summary>Every tracked figure (asv results)</summary>"
                         "<p class='note'>%s</p><div class='scroll'>%s</div></details>" % (
                             esc(self.kept.intro), self.versions["figures"].to_html(
                                 index=False, float_format=lambda x: "%.4g" % x, na_rep="", border=0)))
        parts.append("</body></html>")
        return "\n".join(parts)


def _md_evidence(m: mx.Matrix, topic: str) -> List[str]:
    claims = [c for c in m.claims if c.topic == topic]
    lines = ["#### Evidence: %s" % m.title, ""] if claims else []
    for col in m.columns:
        for claim in claims:
            cell = m.cell(claim.id, col.id)
            body = "**%s**: %s" % (cell.verdict, cell.evidence) if cell.verdict else "not measured: %s" % cell.not_measured
            lines.append("- %s, %s: %s (%s)" % (col.label, claim.text, body, mx.source_text(cell.source)))
    return lines + ([""] if claims else [])


def _html_entry(target: Target, e: Dict[str, Any]) -> List[str]:
    parts = ["<h3>%s on %s</h3><p class='note'>%s</p>" % (esc(e["topic"]), esc(target.label),
                                                         esc(mx.source_text(target.source)))]
    if e["error"]:
        return parts + ["<p class='note'>Not measured: %s</p>" % esc(e["error"])]
    r = e["result"]
    for name, df in r.tables.items():
        parts.append("<h4>%s</h4><div class='scroll'>%s</div>" % (esc(name), df.to_html(
            index=False, float_format=lambda x: "%.4g" % x, na_rep="", border=0)))
    if e["png"]:
        parts.append("<img alt='%s plot' src='data:image/png;base64,%s'>" % (
            esc(e["topic"]), base64.b64encode(e["png"]).decode()))
    if r.notes:
        parts.append("<ul class='note'>%s</ul>" % "".join("<li>%s</li>" % esc(n) for n in r.notes))
    parts.append("<p class='note'>%.1f s</p>" % e["seconds"])
    return parts
