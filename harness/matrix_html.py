"""The verdict matrix as HTML: the table (each cell its verdict, key figure, a small inline SVG chart
and a link to its evidence) and, per topic, the evidence each link points at. Self-contained: no
script, style sheet, font or image is loaded from anywhere (the charts are inline SVG)."""
from __future__ import annotations

import html
import math
from typing import List

from harness.matrix import Cell, Chart, Matrix, source_text

esc = html.escape
CSS = """
.matrix{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
.matrix td,.matrix th{border:1px solid #ccc;padding:3px 5px;vertical-align:top;text-align:left}
.matrix th{background:#f3f3f3;font-weight:600}.matrix th .src{font-weight:normal;color:#555;font-size:11px}
.matrix td.claim{max-width:22em}.matrix td.cell{min-width:9em;max-width:16em}
.matrix a{text-decoration:none;color:inherit}.matrix .key{display:block;color:#333;max-height:6em;overflow:auto}
.matrix td.claim,.matrix tr:first-child th:first-child{position:sticky;left:0;background:#fff;z-index:1}
td.v-confirmed{background:#e6f4ea}td.v-refuted{background:#fde8e8}td.v-partly{background:#fff4d6}
td.v-inconclusive{background:#f0f0f0}td.nm{background:#fafafa;color:#777}
.nm .why{display:block;font-size:11px;max-height:5.5em;overflow:auto}
svg.chart{display:block;margin-top:2px}svg.chart rect.bar{fill:#4a6fa5}
.evidence li{margin:.3em 0}.evidence .fig{color:#555;font-size:12px}
details>summary{cursor:pointer;font-size:1.2em;font-weight:600;margin:.4em 0}
"""
# A link to an evidence item inside a folded <details> opens it (on load and on every link followed)
SCRIPT = """<script>
function memharnessReveal() {
  var id = decodeURIComponent(location.hash.slice(1)), el = id && document.getElementById(id), target = el;
  for (; el; el = el.parentElement) { if (el.tagName === 'DETAILS') { el.open = true; } }
  if (target) { target.scrollIntoView(); }
}
window.addEventListener('hashchange', memharnessReveal);
window.addEventListener('DOMContentLoaded', memharnessReveal);
</script>"""


def svg(chart: Chart, width: int = 120, height: int = 26) -> str:
    """A bar per row of the chart's figure, with each bar's row and value as its tooltip."""
    values = [x for _, x in chart.bars]
    scale = (lambda x: math.log10(x)) if chart.log else (lambda x: x)
    lo = min(0.0, min(scale(x) for x in values)) if not chart.log else math.log10(min(values)) - 0.3
    hi = max(scale(x) for x in values)
    span = (hi - lo) or 1.0
    step = width / float(len(values))
    bars = []
    for i, (label, x) in enumerate(chart.bars):
        h = max(1.0, (scale(x) - lo) / span * (height - 2))
        bars.append("<rect class='bar' x='%.1f' y='%.1f' width='%.1f' height='%.1f'><title>%s: %s = %.4g</title></rect>"
                    % (i * step, height - h, max(step - 1, 0.8), h, esc(label), esc(chart.figure), x))
    left = chart.rows - len(chart.bars)
    title = "%s, one bar per row%s%s" % (chart.figure, ", log scale" if chart.log else "",
                                          ", first %d of %d rows" % (len(chart.bars), chart.rows) if left else "")
    return ("<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' role='img' "
            "aria-label='%s'><title>%s</title>%s</svg>" % (width, height, esc(title), esc(title), "".join(bars)))


def _cell(cell: Cell) -> str:
    link = "<a href='#%s' title='%s'>" % (esc(cell.anchor), esc(cell.evidence or cell.not_measured))
    if not cell.verdict:
        return ("<td class='cell nm'>%snot measured</a><span class='why'>%s</span></td>"
                % (link, esc(cell.not_measured)))
    chart = svg(cell.chart) if cell.chart else ""
    return ("<td class='cell v-%s'>%s<b>%s</b><span class='key'>%s</span></a>%s</td>"
            % (esc(cell.verdict), link, esc(cell.verdict), esc(cell.key), chart))


def table(matrix: Matrix) -> str:
    """The matrix's heading, where its figures come from, and the table."""
    head = "".join("<th>%s<br><span class='src'>%s</span></th>" % (esc(c.label), esc(source_text(c.source)))
                   for c in matrix.columns)
    parts = ["<h2 id='matrix-%s'>%s</h2>" % (esc(matrix.name), esc(matrix.title)),
             "<p class='note'>%s</p>" % esc(matrix.intro),
             "<div class='scroll'><table class='matrix' id='table-%s'><tr><th>claim</th>%s</tr>" % (esc(matrix.name), head)]
    for claim in matrix.claims:
        cells = "".join(_cell(matrix.cell(claim.id, col.id)) for col in matrix.columns)
        parts.append("<tr><td class='claim'>%s <span class='note'>(%s)</span></td>%s</tr>"
                     % (esc(claim.text), esc(claim.topic), cells))
    parts.append("</table></div>")
    return "\n".join(parts)


def evidence(matrix: Matrix, topic: str) -> List[str]:
    """Per column of the matrix, the evidence of the topic's claims: the targets of the cells' links."""
    claims = [c for c in matrix.claims if c.topic == topic]
    if not claims:
        return []
    parts = []
    for col in matrix.columns:
        parts.append("<h4>%s: %s</h4><ul class='evidence'>" % (esc(col.label), esc(source_text(col.source))))
        for claim in claims:
            cell = matrix.cell(claim.id, col.id)
            if cell.verdict:
                fig = ("<br><span class='fig'>%s</span>%s" % (esc(cell.chart.figure), svg(cell.chart, 360, 60))
                       if cell.chart else "")
                body = "<span class='v-%s'><b>%s</b></span>: %s%s" % (esc(cell.verdict), esc(cell.verdict),
                                                                     esc(cell.evidence), fig)
            else:
                body = "not measured: %s" % esc(cell.not_measured)
            source = "" if cell.source == col.source else " <span class='fig'>(%s)</span>" % esc(source_text(cell.source))
            parts.append("<li id='%s'>%s: %s%s</li>" % (esc(cell.anchor), esc(claim.text), body, source))
        parts.append("</ul>")
    return parts
