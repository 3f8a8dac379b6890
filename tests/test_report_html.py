"""The report's HTML in a real browser (headless Chromium, offline): it is one self-contained file
(no script, style, font or image from anywhere else), the verdict matrices render, every link
resolves to an element of the page, a link into the folded detail opens it, and the page logs no
console error (Chromium's log and the probe script of test_site, added to a copy of the page).
Screenshots go to the test's tmp folder and to artifacts/report/ (git-ignored) for a person to
look at. Skips, with the reason, where Chromium is absent."""
from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pandas as pd
import pytest
from test_asvresults import MiB, results, write
from test_site import PROBE, find_chromium, run_chromium

from harness import report, report_doc
from harness.claims import all_claims
from harness.output import TopicResult
from harness.runner import Measured
from harness.topic import Skip

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "report"
INSTALL = "apt-get update && apt-get install -y chromium (or set MEMHARNESS_CHROMIUM)"


@pytest.fixture(scope="module")
def chromium():
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium: install it with %s" % INSTALL)
    return exe


class Links(html.parser.HTMLParser):
    """Every id, and every src/href, of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id":
                self.ids.add(v)
            elif k in ("src", "href", "srcset", "data", "poster", "action") and v is not None:
                self.refs.append((tag, k, v))


def check_self_contained(text: str) -> Links:
    links = Links()
    links.feed(text)
    outside = [r for r in links.refs if not (r[2].startswith("#") or (r[1] == "src" and r[2].startswith("data:")))]
    assert not outside, "resources or links that leave the page: %s" % outside[:5]
    broken = sorted({v[1:] for _, _, v in links.refs if v.startswith("#") and v[1:] not in links.ids})
    assert not broken, "links to no element: %s" % broken[:5]
    styles = " ".join(re.findall(r"<style[^>]*>(.*?)</style>", text, re.S))
    assert "@import" not in styles and not re.search(r"url\(\s*['\"]?(?!data:)", styles), "the CSS loads a resource"
    return links


def show(exe: str, page: Path, tmp: Path, name: str, fragment: str = "", size: str = "1400,1800") -> dict:
    """The page in Chromium (a copy with the probe in <head>): DOM, screenshot, console problems."""
    probed = tmp / ("%s.probed.html" % name)
    probed.write_text(page.read_text().replace("<head>", "<head>\n" + PROBE, 1))
    got = run_chromium(exe, probed.as_uri() + fragment, tmp, name, height=int(size.split(",")[1]))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(got["png"], ARTIFACTS / got["png"].name)
    print("screenshot: %s (and %s)" % (got["png"], ARTIFACTS / got["png"].name))
    assert not got["problems"], "console errors:\n%s" % "\n".join(got["problems"])
    return got


def synthetic_report(tmp: Path) -> Path:
    """A report without measuring: one live column (allocator rows, containers that could not run,
    aliasing without its backends) and the kept results of two versions."""
    write(str(tmp / "results"), "3.8", results(256 * 1024, 4096, 5.0, 990.0, 0.01 * MiB))
    write(str(tmp / "results"), "3.12", results(MiB, 16384, 7.0, 1200.0, 0.5 * MiB), commit="fedcba0987654321")
    versions = report.versions_table(str(tmp / "results"))
    versions["dir"] = str(tmp / "results")
    target = report.Target("3.11.7", report.this_run("3.11.7"), report.measure_here(True))
    target.source["date"] = "2026-12-02 00:00:00 UTC"
    geometry = pd.DataFrame([{"python": "3.11.7", "allocator": "pymalloc", "arena_size": MiB, "pool_size": 16384}])
    aliasing = Measured("aliasing", {}, skips=[Skip("theano", "module 'theano' is not installed", "pip install theano")])
    entries = [
        {"topic": "containers", "measured": None, "result": None, "png": None, "seconds": 0.0,
         "error": "containers is not available: the C++ extension is not built"},
        {"topic": "allocator", "measured": Measured("allocator", {"geometry": geometry}), "png": None, "error": None,
         "result": TopicResult("allocator", {"geometry": geometry}, [], ["synthetic rows"]), "seconds": 0.1},
        {"topic": "aliasing", "measured": aliasing, "png": None, "error": None, "seconds": 0.1,
         "result": TopicResult("aliasing", {}, [], aliasing.all_notes())},
    ]
    doc = report_doc.Document.of([(target, entries)], ["containers", "allocator", "aliasing"], versions)
    page = tmp / "report.html"
    page.write_text(doc.to_html())
    return page


def check_matrices(dom: str, kept_columns: Optional[int]) -> None:
    """This run's matrix (one column) and, unless ``kept_columns`` is None, the kept results' one."""
    claims = len(list(all_claims()))
    for name, columns in (("run", 1), ("asv", kept_columns)):
        if columns is None:
            continue
        m = re.search(r'<table class="matrix" id="table-%s">(.*?)</table>' % name, dom, re.S)
        assert m, "no %s matrix in the rendered page" % name
        rows = re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)
        assert len(rows) == claims + 1, "%s matrix: %d rows for %d claims" % (name, len(rows) - 1, claims)
        assert all(len(re.findall(r"<td", r)) == columns + 1 for r in rows[1:])


def test_the_report_renders_self_contained_with_every_link_resolved(chromium, tmp_path):
    page = synthetic_report(tmp_path)
    check_self_contained(page.read_text())
    got = show(chromium, page, tmp_path, "matrix")
    dom = got["dom"]
    check_matrices(dom, kept_columns=2)
    assert "<b>refuted</b><span class=\"key\">1.0 MiB</span>" in dom  # this run's arena, 1 MiB
    assert "asv results of box, commit fedcba09" in dom and "not from this run" in dom
    assert re.search(r"<svg class=\"chart\"[^>]*>.*?<rect", dom, re.S), "no chart drawn"
    assert not re.search(r'<details id="topic-[a-z]+" open', dom), "the detail is not folded"


def test_a_link_into_the_folded_detail_opens_it(chromium, tmp_path):
    page = synthetic_report(tmp_path)
    text = page.read_text()
    anchor = re.search(r"href='#(ev-asv-asv1-allocator-arena)'", text).group(1)
    probed = tmp_path / "fragment.html"
    probed.write_text(text.replace("<head>", "<head>\n" + PROBE, 1))
    # headless Chromium's screenshot of a page scrolled to a fragment comes out blank: the DOM only
    got = run_chromium(chromium, probed.as_uri() + "#" + anchor, tmp_path, "fragment")
    assert not got["problems"], "console errors:\n%s" % "\n".join(got["problems"])
    m = re.search(r'<details id="topic-allocator"( open="")?', got["dom"])
    assert m and m.group(1), "following #%s left its topic folded" % anchor
    assert re.search(r'<li id="%s">pymalloc arenas are 256 KB: <span class="v-refuted">' % anchor, got["dom"])
    # the detail, unfolded, for a person to look at
    opened = tmp_path / "detail.html"
    opened.write_text(text.replace("<details id='topic-allocator'>", "<details id='topic-allocator' open>"))
    show(chromium, opened, tmp_path, "detail", size="1400,3200")


@pytest.mark.slow  # measures the allocator topic: ~10-20 s
def test_a_real_report_renders(chromium, tmp_path):
    out = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "harness", "report", "--topics", "allocator", "-o", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    links = check_self_contained(out.read_text())
    assert any(tag == "img" for tag, _, _ in links.refs), "the allocator plot is missing"
    got = show(chromium, out, tmp_path, "real")
    kept = len(re.findall(r"<th>[^<]*<br><span class=\"src\">asv results", got["dom"]))
    check_matrices(got["dom"], kept_columns=kept or None)
