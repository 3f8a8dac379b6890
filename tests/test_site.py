"""The published site works offline in a real browser (headless Chromium), with data drawn.

``asv publish`` runs on a temporary copy of results/ (the working tree is not touched), then
``memharness site`` installs asv-tachyon's UI over it (its assets come from its wheel; the repository
holds no third-party file: checked). The site is served on 127.0.0.1 by http.server in a thread, and
Chromium is cut off from every other host. Each page must load without a console error or an
uncaught exception, ask only for graphs of environments that exist (asv-tachyon 0.5.8 asked for
none that did: see harness.site), and draw: a probe added to the test's copy of index.html counts,
per canvas, the coloured pixels (series; grid lines and text are grey) and writes them into a hidden
<pre> that the DOM dump carries. Checked: the index (overview tiles: sparklines of every topic), one
graph page per topic (containers, allocator, pickle, aliasing), and the environments side by side
(asv-tachyon's Compare view, one column per environment). Screenshots go to artifacts/site/
(git-ignored) for a person to look at. Skips, with the reason: no Chromium, no asv or asv-tachyon,
no results in results/, a topic without results.
"""
from __future__ import annotations

import html as html_mod
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from conftest import asv_conf

from harness.site import busiest_first, graph_folder

slow = pytest.mark.slow  # the browser tests: publish (~30 s) + two Chromium starts per page, ~2 min in all

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "site"

# topic -> (benchmark module, graph pages to prefer, in order; else the first one with data)
TOPICS = {
    "containers": ("bench_containers", ["bench_containers.BytesPerElement.track_ratio_allocated"]),
    "allocator": ("bench_allocator", ["bench_allocator.Retention.track_arena_bytes_retained"]),
    "pickle": ("bench_pickle", ["bench_pickle.PickleMemory.track_dump_peak", "bench_pickle.PickleTime.time_dump"]),
    "aliasing": ("bench_aliasing", ["bench_aliasing.Operations.track_gbps", "bench_aliasing.Reference.track_copyto_gbps"]),
}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# asv-tachyon asks for these optional files; asv publish writes none of them (and /samples/ only for
# results run with --record-samples)
OPTIONAL = {"/commits.json", "/profiles.json", "/regressions-ignore.json", "/favicon.ico"}

# Added first in <head> of the test's copy of index.html: records errors, then every 250 ms writes,
# per canvas, the benchmark of its tile (if any) and how many of its pixels are coloured.
PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    // a browser's notice, not the page's error: a resize observed while layout settles (tall windows)
    if (/^ResizeObserver loop/.test(e.message)) { return; }
    errors.push('uncaught: ' + e.message);
  });
  window.addEventListener('unhandledrejection', function (e) { errors.push('unhandled: ' + e.reason); });
  var consoleError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return consoleError.apply(console, arguments);
  };
  function coloured(canvas) {
    var ctx = canvas.getContext('2d'), n = 0;
    if (!ctx || !canvas.width || !canvas.height) { return 0; }
    var d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (var i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) { n++; }
    }
    return n;
  }
  function probe() {
    var out = {errors: errors, canvases: []};
    document.querySelectorAll('canvas').forEach(function (c) {
      var tile = c.closest('[data-bench]');
      out.canvases.push({bench: tile ? tile.getAttribute('data-bench') : '', cls: c.className, coloured: coloured(c)});
    });
    if (document.body) {
      var el = document.getElementById('memharness-probe');
      if (!el) {
        el = document.createElement('pre');
        el.id = 'memharness-probe';
        el.style.display = 'none';
        document.body.appendChild(el);
      }
      el.textContent = JSON.stringify(out);
    }
  }
  setInterval(probe, 250);
})();
</script>"""


# ---------------------------------------------------------------------------------------------- helpers

def find_chromium() -> str | None:
    env = os.environ.get("MEMHARNESS_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def asv_command() -> list[str] | None:
    import importlib.util

    if importlib.util.find_spec("asv") is not None:
        return [sys.executable, "-m", "asv"]
    path = shutil.which("asv")
    return [path] if path else None


def result_files(results_dir: Path) -> list[Path]:
    return [p for p in sorted(results_dir.glob("*/*.json")) if p.name != "machine.json"]




class Server:
    """http.server in a thread, on 127.0.0.1, recording (path, status) of each request."""

    def __init__(self, root: Path):
        log = self.log = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def log_request(self, code="-", size="-"):
                log.append((urllib.parse.unquote(self.path.split("?")[0]), int(code) if str(code).isdigit() else code))

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_chromium(exe: str, url: str, workdir: Path, name: str, height: int = 1400) -> dict:
    """Load url twice, offline (DOM dump, then screenshot): the DOM, the PNG, console problems, the probe."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,%d" % height,
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline: only the local server answers
    ]
    out: dict = {}
    problems = []
    for mode in ("dom", "png"):
        profile = workdir / ("profile-%s-%s" % (name, mode))
        profile.mkdir()
        png = workdir / ("%s.png" % name)
        action = ["--dump-dom"] if mode == "dom" else ["--screenshot=%s" % png]
        proc = subprocess.run([exe, *flags, "--user-data-dir=%s" % profile, *action, url],
                              capture_output=True, text=True, timeout=120)
        for line in proc.stderr.splitlines():
            if "Uncaught" in line or ("CONSOLE" in line and "ERROR" in line):
                problems.append(line.strip())
        shutil.rmtree(profile, ignore_errors=True)
        if mode == "dom":
            assert proc.returncode == 0, "chromium failed on %s: %s" % (url, proc.stderr[-2000:])
            out["dom"] = proc.stdout
        else:
            assert png.is_file() and png.stat().st_size > 1000, "no screenshot of %s: %s" % (url, proc.stderr[-2000:])
            out["png"] = png
    m = re.search(r'<pre id="memharness-probe"[^>]*>(.*?)</pre>', out["dom"], re.S)
    assert m, "the probe wrote nothing: the page's scripts did not run"
    out["probe"] = json.loads(html_mod.unescape(m.group(1)))
    out["problems"] = sorted(set(problems)) + out["probe"]["errors"]
    return out


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium (install: apt-get update && apt-get install -y chromium; or set MEMHARNESS_CHROMIUM)")
    asv = asv_command()
    if asv is None:
        pytest.skip("asv is not installed (pip install -e '.[asv]')")
    pytest.importorskip("asv_tachyon", reason="asv-tachyon is not installed (pip install -e '.[asv]')")
    conf = asv_conf()
    results = REPO / conf.get("results_dir", "results")
    if not result_files(results):
        pytest.skip("no asv results in %s (run scripts/asv_matrix.sh, or asv run --python=same "
                    "--set-commit-hash $(git rev-parse HEAD))" % results)

    tmp = tmp_path_factory.mktemp("site")
    shutil.copytree(results, tmp / "results")
    conf.update(repo=str(REPO), benchmark_dir=str(REPO / conf.get("benchmark_dir", "benchmarks")),
                results_dir=str(tmp / "results"), html_dir=str(tmp / "html"), env_dir=str(tmp / "env"))
    (tmp / "asv.conf.json").write_text(json.dumps(conf))
    proc = subprocess.run([*asv, "publish", "--config", str(tmp / "asv.conf.json")],
                          capture_output=True, text=True, timeout=300, cwd=tmp)
    assert proc.returncode == 0, "asv publish failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
    html = tmp / "html"
    proc = subprocess.run([sys.executable, "-m", "harness", "site", str(html)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, "memharness site failed: %s" % proc.stderr
    index = html / "index.html"
    index.write_text(index.read_text().replace("<head>", "<head>\n" + PROBE, 1))

    server = Server(html)
    shots = tmp / "shots"
    shots.mkdir()
    try:
        yield {"exe": exe, "html": html, "server": server, "shots": shots,
               "index": json.loads((html / "index.json").read_text())}
    finally:
        server.close()
        if any(shots.glob("*.png")):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for png in shots.glob("*.png"):
                shutil.copy(png, ARTIFACTS / png.name)


def _commits(graph: Path) -> int:
    """Commits with a value in one graph file of asv publish (0 where there is none)."""
    if not graph.is_file():
        return 0
    points = json.loads(graph.read_text())
    return sum(1 for _, value in points if value is not None and value != [] and
               (not isinstance(value, list) or any(isinstance(v, (int, float)) for v in value)))


def check_page(site, fragment: str, name: str, height: int = 1400) -> dict:
    server = site["server"]
    start = len(server.log)
    page = run_chromium(site["exe"], server.url + "index.html" + fragment, site["shots"], name, height)
    requests = server.log[start:]
    html = site["html"]
    # a graph that the environment did not measure (a --light run, a backend it lacks) is a 404; a graph
    # of an environment that does not exist (the folder is missing) is the UI's fault
    wrong_env = [p for p, code in requests if p.startswith("/graphs/") and not (html / p.lstrip("/")).parent.is_dir()]
    assert not wrong_env, "%s asked for graphs of environments that do not exist: %s" % (name, wrong_env[:3])
    failed = [(p, code) for p, code in requests
              if code != 200 and p not in OPTIONAL and not (code == 404 and p.startswith(("/graphs/", "/samples/")))]
    assert not failed, "requests that failed for %s: %s" % (name, failed)
    assert not page["problems"], "console errors on %s:\n%s" % (name, "\n".join(page["problems"]))
    assert ("/index.json", 200) in requests, "index.json was not fetched: %s" % requests
    page["requests"] = requests
    return page


# ---------------------------------------------------------------------------------------------- tests

def test_nulls_of_the_index_become_the_string_asv_tachyon_builds_asvs_paths_from():
    from harness.site import nulls_as_strings

    index = {"params": {"python": ["3.11", "3.8"], "pytensor": ["", None], "theano": ["1.0.5", None]},
             "graph_param_list": [{"python": "3.11", "pytensor": None, "theano": "1.0.5"},
                                  {"python": "3.8", "pytensor": "", "theano": None}]}
    assert nulls_as_strings(index) == 4
    assert index["params"]["pytensor"] == ["", "null"] and index["params"]["python"] == ["3.11", "3.8"]
    assert [graph_folder(c) for c in index["graph_param_list"]] == [
        "graphs/pytensor-null/python-3.11/theano-1.0.5", "graphs/pytensor/python-3.8/theano-null"]


@pytest.mark.parametrize("content", [None, "{oops", '{"project": "x"}'])
def test_memharness_site_refuses_what_is_not_a_published_site(tmp_path, capsys, content):
    from harness import cli

    if content is not None:
        (tmp_path / "index.json").write_text(content)
    assert cli.main(["site", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memharness site: error: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "assets").exists()


def test_the_repository_holds_no_third_party_web_files():
    tracked = subprocess.run(["git", "ls-files", "*.js", "*.css", "*.woff", "*.woff2", "*.map"], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert not tracked, "web assets tracked in the repository: %s" % tracked


@slow
def test_index_draws_sparklines_of_every_topic(site):
    # the overview renders the tiles in view only (a tall window), and draws each when its data has come:
    # on a busy machine a tile can still be blank when Chromium dumps the page, so a second load is allowed
    for attempt in range(2):
        page = check_page(site, "", "index", height=6000)
        drawn = {c["bench"] for c in page["probe"]["canvases"] if c["bench"] and c["coloured"] > 0}
        if {m for m, _ in TOPICS.values()} <= {b.split(".", 1)[0] for b in drawn}:
            break
    assert drawn, "no tile of the overview drew a sparkline (probe: %s)" % page["probe"]["canvases"][:5]
    # a sparkline needs two commits: a tile whose graph in the environment shown has one point (a benchmark
    # measured at one commit only) shows its value and no line
    folder = site["html"] / graph_folder(site["index"]["graph_param_list"][0])
    shown = {b for b in re.findall(r'data-bench="([^"]+)"', page["dom"]) if _commits(folder / (b + ".json")) >= 2}
    missing = [topic for topic, (module, _) in TOPICS.items()
               if any(b.startswith(module + ".") for b in shown) and not any(b.startswith(module + ".") for b in drawn)]
    assert not missing, "the overview draws no sparkline for %s" % missing
    graphs = [p for p, code in page["requests"] if p.startswith("/graphs/") and code == 200]
    assert len(graphs) >= len(drawn), "fewer graph files fetched (%d) than tiles drawn (%d)" % (len(graphs), len(drawn))


@slow
@pytest.mark.parametrize("topic", list(TOPICS))
def test_graph_page_of_each_topic(site, topic):
    module, preferred = TOPICS[topic]
    folder = site["html"] / graph_folder(site["index"]["graph_param_list"][0])  # the environment shown first
    have = sorted(p.name[:-5] for p in folder.glob(module + ".*.json"))
    if not have:
        pytest.skip("no result of %s in the first environment (%s)" % (module, folder.name))
    name = next((p for p in preferred if p in have), have[0])
    # the parameter sets with a value, as a person would pick them (the page shows the first three otherwise)
    points = json.loads((folder / (name + ".json")).read_text())
    measured = sorted({i for _, values in points for i, v in enumerate(values if isinstance(values, list) else [values])
                       if isinstance(v, (int, float))})
    assert measured, "the graph file of %s holds no number" % name
    fragment = "#view=explore&bench=%s&params=%s" % (urllib.parse.quote(name), ",".join(map(str, measured[:3])))
    page = check_page(site, fragment, "graph-" + topic, height=4200)  # tall: the chart is below 640 chips
    fetched = [p for p, code in page["requests"] if p.endswith("/%s.json" % name) and code == 200]
    assert fetched, "the page of %s fetched no graph data: %s" % (name, page["requests"][-10:])
    assert name in page["dom"]
    plots = [c for c in page["probe"]["canvases"] if not c["bench"]]
    assert plots and max(c["coloured"] for c in plots) > 50, "the graph of %s drew no series (probe: %s)" % (name, plots)
    revisions = set(site["index"]["revision_to_hash"].values())
    shown = set(re.findall(r">([0-9a-f]{8})<", page["dom"]))
    assert shown & {h[:8] for h in revisions}, "the page lists no measured commit for %s" % name


@slow
def test_environments_side_by_side(site):
    envs = site["index"]["graph_param_list"]
    page = check_page(site, "#view=compare&pairMode=env&envs=" + ",".join(map(str, range(len(envs)))), "compare-envs")
    heads = re.findall(r"<th>(.*?)</th>", page["dom"])
    columns = [h for h in heads if "python=" in h]
    assert len(columns) == len(envs), "the compare view shows %d environment columns, not %d" % (len(columns), len(envs))
    pythons = {re.search(r"python=([0-9.]+)", h).group(1) for h in columns}
    assert pythons == {e["python"] for e in envs}
    assert re.search(r'<td class="mono[^"]*">[0-9.]+ ?[a-zA-Z/]', page["dom"]), "the compare table shows no value"


def test_the_environment_with_the_most_graphs_is_shown_first(tmp_path):
    """asv-tachyon's overview shows the environment made of each parameter's first value: the one whose
    graphs hold the most data points goes first (the first of them on a tie), in graph_param_list and params."""
    theano = {"python": "3.11", "theano": "1.0.5", "pytensor": "null", "machine": "devbox"}
    pytensor = {"python": "3.12", "theano": "null", "pytensor": "", "machine": "devbox"}
    index = {"graph_param_list": [theano, pytensor],
             "params": {"python": ["3.11", "3.12"], "theano": ["1.0.5", "null"], "pytensor": ["null", ""],
                        "machine": ["devbox"]}}
    for combo, n in ((theano, 1), (pytensor, 3)):  # graph files of 1 and 3 points
        folder = tmp_path.joinpath(*graph_folder(combo).split("/"))
        folder.mkdir(parents=True)
        for i in range(2):
            (folder / ("bench_%d.json" % i)).write_text(json.dumps([[j, 1.0] for j in range(n)]))
    assert busiest_first(index, str(tmp_path)) is pytensor
    assert index["graph_param_list"] == [pytensor, theano]
    assert index["params"] == {"python": ["3.12", "3.11"], "theano": ["null", "1.0.5"], "pytensor": ["", "null"],
                               "machine": ["devbox"]}
    (tmp_path.joinpath(*graph_folder(theano).split("/")) / "bench_9.json").write_text(json.dumps([[j, 1] for j in range(4)]))
    (tmp_path.joinpath(*graph_folder(theano).split("/")) / "bench_8.json").write_text("not json")  # ignored
    assert busiest_first(index, str(tmp_path)) is pytensor  # 6 points (2 + 4) and 6: the first stays first
    (tmp_path.joinpath(*graph_folder(theano).split("/")) / "bench_7.json").write_text(json.dumps([[0, 1]]))
    assert busiest_first(index, str(tmp_path)) is theano  # 7 points against 6
    assert busiest_first({"graph_param_list": [], "params": {}}, str(tmp_path)) is None
