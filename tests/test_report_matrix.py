"""The verdict matrix (harness.matrix) on synthetic runs: a claim confirmed in one column, refuted in
another, not measured (and why) in others; the kept-results matrix and its labels; the writers;
and the report's --python option without managed environments."""
import json
import re

import pandas as pd
import pytest
from test_asvresults import MiB, results, write

from harness import asvresults, matrix, matrix_html, report, report_doc
from harness.claims import Claim, all_claims
from harness.runner import Measured
from harness.topic import Skip, kind


def small_rule(rows):
    df = kind(rows, "things")
    if df.empty:
        return None
    top = float(df["size"].max())
    return ("confirmed" if top < 10 else "refuted"), "largest size %g over %d things" % (top, len(df)), "max %g" % top


SMALL = Claim("demo.small", "things are small", ("things.size",), small_rule)
GPU = Claim("demo.gpu_copy", "a GPU copy is free", ("gpu.seconds",), lambda rows: None)
SRC = {label: {"run": "this run", "host": "h", "python": label, "date": "d"} for label in "ABCDE"}


def things(*sizes):
    return {"things": pd.DataFrame({"name": ["t%d" % i for i in range(len(sizes))], "size": list(sizes)})}


def demo_matrix():
    skips = [Skip("gpu", "no CUDA device"), Skip("theano", "not installed", "pip install theano")]
    columns = {
        "A": {"demo": Measured("demo", things(1.0, 2.0, 3.0))},
        "B": {"demo": Measured("demo", things(5.0, 50.0))},
        "C": {"demo": Measured("demo", {}, skips=skips, failures=["case x: child died"])},
        "D": {},
        "E": {"demo": "the topic could not run: numpy is missing"},
    }
    return matrix.build("run", "t", "intro", columns, SRC, claims=[SMALL, GPU])


def test_one_cell_per_claim_and_column_with_its_verdict_or_why_not():
    m = demo_matrix()
    assert [c.label for c in m.columns] == list("ABCDE") and [c.id for c in m.claims] == ["demo.small", "demo.gpu_copy"]
    a, b, c, d, e = (m.cell("demo.small", col.id) for col in m.columns)
    assert (a.verdict, a.key, a.evidence) == ("confirmed", "max 3", "largest size 3 over 3 things")
    assert (b.verdict, b.key) == ("refuted", "max 50")
    assert c.verdict is None and "things.size" in c.not_measured
    # no skip names this claim: each is listed, grouped by reason
    assert "gpu skipped (no CUDA device); theano skipped (not installed)" in c.not_measured
    assert "failed: case x: child died" in c.not_measured
    assert d.verdict is None and d.not_measured == "the demo topic was not run here"
    assert e.text() == "not measured: the topic could not run: numpy is missing"
    # the GPU claim's reason names the skip that concerns it (its words name "gpu"), not theano's
    gpu = m.cell("demo.gpu_copy", m.columns[2].id)
    assert "gpu skipped (no CUDA device)" in gpu.not_measured and "theano" not in gpu.not_measured
    assert m.measured() == 2
    assert len({cell.anchor for cell in m.cells.values()}) == len(m.cells)  # every cell its own target


def test_a_chart_holds_the_measured_figures_only():
    m = demo_matrix()
    a = m.cell("demo.small", "run0").chart
    assert a.figure == "things.size" and a.rows == 3 and [x for _, x in a.bars] == [1.0, 2.0, 3.0]
    assert a.bars[0][0] == "name=t0" and not a.log
    with_nan = matrix.chart(SMALL, things(1.0, float("nan"), 300.0))
    assert [x for _, x in with_nan.bars] == [1.0, 300.0] and with_nan.rows == 2 and with_nan.log
    assert m.cell("demo.small", "run2").chart is None  # nothing measured, nothing drawn
    svg = matrix_html.svg(a)
    assert svg.count("<rect") == 3 and "things.size, one bar per row" in svg and "name=t2: things.size = 3" in svg


def test_every_claim_gets_a_row_in_topic_order():
    claims = list(all_claims())
    m = matrix.build("run", "t", "i", {"A": {}}, {"A": SRC["A"]})
    assert [c.id for c in m.claims] == [c.id for c in claims]
    topics = [c.topic for c in m.claims]
    assert topics == sorted(topics, key=["containers", "allocator", "pickle", "aliasing"].index)
    assert all(not cell.verdict for cell in m.cells.values()) and len(m.cells) == len(claims)


def test_the_json_names_each_cells_source():
    data = json.loads(matrix.to_json([demo_matrix()]))
    assert [c["id"] for c in data["claims"]] == ["demo.small", "demo.gpu_copy"]
    assert [c["label"] for c in data["columns"]] == list("ABCDE")
    cells = {(c["claim"], c["column"]): c for c in data["cells"]}
    assert cells[("demo.small", "run0")]["verdict"] == "confirmed"
    assert cells[("demo.small", "run0")]["source"] == {"run": "this run", "host": "h", "python": "A", "date": "d"}
    assert cells[("demo.small", "run1")]["chart"]["bars"] == [["name=t0", 5.0], ["name=t1", 50.0]]
    assert cells[("demo.small", "run3")]["verdict"] is None and cells[("demo.small", "run3")]["not_measured"]


def test_markdown_and_html_tables():
    m = demo_matrix()
    md = "\n".join(matrix.to_markdown(m))
    assert "| claim | A | B | C | D | E |\n| --- | --- | --- | --- | --- | --- |" in md
    assert "| things are small (demo) | **confirmed**: max 3 | **refuted**: max 50 | not measured:" in md
    html = matrix_html.table(m)
    anchors = set(re.findall(r"href='#([^']+)'", html))
    assert len(anchors) == len(m.cells)
    targets = set(re.findall(r"id='([^']+)'", "\n".join(matrix_html.evidence(m, "demo"))))
    assert anchors <= targets  # every link of the table has its evidence


def test_the_kept_matrix_judges_each_environment_and_names_machine_commit_and_date(tmp_path):
    write(tmp_path, "3.8", results(256 * 1024, 4096, 5.0, 990.0, 0.01 * MiB), commit="1234567890abcdef",
          date=1700000000000)
    write(tmp_path, "3.12", results(MiB, 16384, 7.0, 1200.0, 0.5 * MiB), commit="fedcba0987654321",
          date=1710000000000)
    df = asvresults.load(str(tmp_path))
    columns, sources, per_topic = matrix.kept(df)
    assert list(columns) == ["3.8", "3.12"]
    assert sources["3.8"] == {"asv": "box", "commit": "12345678", "date": "2023-11-14"}
    assert sources["3.12"] == {"asv": "box", "commit": "fedcba09", "date": "2024-03-09"}
    kept = matrix.build("asv", "kept", "i", columns, sources, topic_sources=per_topic, absent=matrix.KEPT_ABSENT)
    arena = [kept.cell("allocator.arena", col.id) for col in kept.columns]
    assert [c.text() for c in arena] == ["confirmed: 256.0 KiB", "refuted: 1.0 MiB"]
    assert arena[0].source["asv"] == "box" and arena[0].source["commit"] == "12345678"
    blocks = kept.cell("allocator.blocks", "asv0")
    assert blocks.verdict is None and blocks.not_measured.startswith(matrix.KEPT_ABSENT)
    assert kept.cell("aliasing.shared_borrow", "asv0").not_measured.startswith("the kept asv results")
    figures = matrix.kept_figures(df)
    assert list(figures.columns) == ["benchmark", "params", "3.8", "3.12"]


def test_kept_columns_split_by_backend_and_machine():
    assert matrix.backend_of("virtualenv-py3.11-numpy1.23.5-scipy1.11.4-theano1.0.5-THEANO_FLAGSblas.ldflags=") \
        == "theano 1.0.5"
    assert matrix.backend_of("virtualenv-py3.12-numpy-pandas-psutil-pytensor") == "pytensor"
    assert matrix.backend_of("virtualenv-py3.9-numpy-pandas-psutil") == ""
    rows = [{"machine": m, "env_name": "py3.11-" + env, "python": "3.11", "commit": "c" * 40, "date": 1.7e12,
             "benchmark": "bench_x.S.track_y", "params": "", "args": (), "value": 1.0}
            for m, env in (("a", "theano1.0.5"), ("a", "pytensor"), ("b", "pytensor"))]
    labels = [label for label, _, _ in matrix.kept_labelled(pd.DataFrame(rows))]
    assert sorted(labels) == ["3.11 pytensor (a)", "3.11 pytensor (b)", "3.11 theano 1.0.5"]


def test_the_report_says_measured_in_this_run_only_of_this_runs_column(tmp_path):
    write(tmp_path, "3.9", results(256 * 1024, 4096, 5.0, 990.0, 0.0), commit="abcdef1234567890")
    versions = report.versions_table(str(tmp_path))
    target = report.Target("3.11.7", report.this_run("3.11.7"), report.measure_here(True))
    target.source["date"] = "2026-12-02 00:00:00 UTC"
    geometry = {"geometry": pd.DataFrame([{"python": "3.11.7", "allocator": "pymalloc", "arena_size": MiB}])}
    entry = {"topic": "allocator", "measured": Measured("allocator", geometry), "result": None, "png": None,
             "error": "synthetic", "seconds": 0.0}
    doc = report_doc.Document.of([(target, [entry])], ["allocator"], versions)
    live = doc.live.cell("allocator.arena", "run0")
    assert live.text() == "refuted: 1.0 MiB" and live.source["run"] == "this run"
    md = doc.to_markdown()
    live_part, kept_part = md.split("## Across versions (asv results)", 1)
    assert "measured in this run" in live_part and "3.11.7" in live_part
    assert "**confirmed**: 256.0 KiB" in kept_part and "asv results of box, commit abcdef12" in kept_part
    assert "not from this run" in kept_part
    cells = json.loads(doc.to_json())["cells"]
    assert {tuple(sorted(c["source"])) for c in cells} == {("date", "host", "python", "run"), ("asv", "commit", "date")}


def test_python_option_naming_no_environment_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEMHARNESS_ENVS_DIR", str(tmp_path / "envs"))
    monkeypatch.setattr(report, "measure_topic", lambda *a, **k: pytest.fail("measured without environments"))
    rc = main(["report", "--python", "py3.99-nope", "--topics", "containers", "-o", str(tmp_path / "r.html"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "py3.99-nope" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r.html").exists()


def test_output_paths_name_three_files_or_one_stream(tmp_path):
    base = str(tmp_path / "r")
    assert report.output_paths(base + ".html") == [("html", base + ".html"), ("markdown", base + ".md"),
                                                   ("json", base + ".json")]
    assert report.output_paths(base + ".json")[2] == ("json", base + ".json")
    assert report.output_paths(base + ".md")[1] == ("markdown", base + ".md")


def test_python_spec_makes_a_column_per_managed_environment(monkeypatch):
    """What the lead wires: harness.envs.resolve(spec) -> environments, each column measured by
    harness.runner.measure_in(python, topic name, options)."""
    import sys
    import types
    from collections import namedtuple

    from harness import runner

    env = namedtuple("Environment", "name python version backend")
    fake = types.ModuleType("harness.envs")
    fake.resolve = lambda spec: [env("py311", "/e/a/bin/python", "3.11.7", ""),
                                 env("py311-theano", "/e/b/bin/python", "3.11.7", "theano 1.0.5"),
                                 env("py311-theano-2", "/e/c/bin/python", "3.11.7", "theano 1.0.5")]
    calls = []
    monkeypatch.setitem(sys.modules, "harness.envs", fake)
    monkeypatch.setattr(runner, "measure_in", lambda python, name, options: calls.append((python, name, options)),
                        raising=False)
    got = report.targets("all")
    assert [t.label for t in got] == ["3.11.7", "3.11.7 theano 1.0.5", "3.11.7 theano 1.0.5 (py311-theano-2)"]
    assert got[1].source["run"] == "this run" and got[1].source["backend"] == "theano 1.0.5"
    got[1].measure("allocator", "opts")
    assert calls == [("/e/b/bin/python", "allocator", "opts")]


def test_asv_parameters_parsed_once_each_as_before():
    """expand parses each parameter value once (not once per combination): rows and args as before."""
    from harness import asvresults

    data = {"version": 2, "commit_hash": "0" * 40, "env_name": "e", "date": 0, "params": {}, "python": "3.12",
            "requirements": {}, "env_vars": {}, "durations": {},
            "result_columns": ["result", "params"],
            "results": {"b.T.track_x": [[1.0, 2.0, 3.0, 4.0], [["'list'", "'dict'"], ["1000", "not a literal("]]]}}
    rows = asvresults.expand(data, "x.json")
    assert [(r["params"], r["args"], r["value"]) for r in rows] == [
        ("'list', 1000", ("list", 1000), 1.0), ("'list', not a literal(", ("list", "not a literal("), 2.0),
        ("'dict', 1000", ("dict", 1000), 3.0), ("'dict', not a literal(", ("dict", "not a literal("), 4.0)]


def test_the_environments_all_leaves_out_are_named_on_stderr(monkeypatch, capsys):
    import sys
    import types
    from collections import namedtuple

    env = namedtuple("Environment", "name python version backend")

    class Found(list):
        notes = ["environments out of date: py3.9 (memharness envs create py3.9)"]

    fake = types.ModuleType("harness.envs")
    fake.resolve = lambda spec: Found([env("py3.12", "/e/a/bin/python", "3.12.1", "pytensor")])
    monkeypatch.setitem(sys.modules, "harness.envs", fake)
    assert [t.label for t in report.targets("all")] == ["3.12.1 pytensor"]
    assert capsys.readouterr().err == "report: left out: environments out of date: py3.9 (memharness envs create py3.9)\n"
