"""The asv site built from results/ renders in a real browser (headless Chromium), with data.

``asv publish`` runs on a temporary copy of results/ (the working tree is not touched); the site is
served on 127.0.0.1 by http.server in a thread; Chromium loads the index and one graph page per topic
(containers, allocator, pickle, aliasing). The graph page's URL selects the parameter values that
have results, as a person would click them. Each page must load without a console error or an uncaught
exception (read from Chromium's log and from a probe script), stay on the site (asv sends the browser
to error.html when a library fails to load), fetch its data (index.json and the benchmark's graph
JSON, answered 200, holding numbers) and draw it: the probe, a small script added to the test's copy
of index.html, reads flot's plot object and reports the points drawn inside the axes. Screenshots go
to the test's tmp_path and are copied to artifacts/site/ (git-ignored) for a person to look at.

asv 0.6 loads jQuery, flot, bootstrap, stupidtable and md5 from CDNs. Where those hosts cannot be
reached (an offline machine), the test serves local copies instead, from $MEMHARNESS_ASV_VENDOR or
artifacts/asv-vendor/ (the ``asv/www/vendor`` folder of the asv 0.5.1 sdist: see the README, "The site"), and
blocks every other host. Skips, with the reason: no Chromium, no asv, no results in results/, a topic
without results, offline without the local copies.
"""
from __future__ import annotations

import http.server
import itertools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # publish + two Chromium starts per page: ~15-30 s

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "site"

# topic -> (benchmark module, graph pages to prefer, in order; else the first one with data)
TOPICS = {
    "containers": ("bench_containers", ["bench_containers.BytesPerElement.track_ratio_allocated"]),
    "allocator": ("bench_allocator", ["bench_allocator.Retention.track_arena_bytes_retained"]),
    "pickle": ("bench_pickle", ["bench_pickle.PickleMemory.track_dump_peak", "bench_pickle.PickleTime.time_dump"]),
    "aliasing": ("bench_aliasing", ["bench_aliasing.Operations.track_gbps", "bench_aliasing.Reference.track_copyto_gbps"]),
}

CDN_HOSTS = ("code.jquery.com", "cdnjs.cloudflare.com", "cdn.jsdelivr.net")
# basename of a CDN file in asv 0.6's index.html -> the asv 0.5.1 vendor file of the same library
VENDOR_FILES = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}
FETCH_VENDOR = ("pip download --no-deps --no-binary :all: asv==0.5.1 -d /tmp/asv051 && "
                "tar -xzf /tmp/asv051/asv-0.5.1.tar.gz -C /tmp/asv051 && "
                "cp -r /tmp/asv051/asv-0.5.1/asv/www/vendor artifacts/asv-vendor")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Added first in <head> of the test's copy of index.html: records errors, then every 250 ms writes
# what flot drew (per plot: series, points, points inside the axes) into a hidden <pre>.
PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push('uncaught: ' + e.message); });
  var consoleError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return consoleError.apply(console, arguments);
  };
  function probe() {
    var out = {errors: errors, plots: []};
    if (window.jQuery) {
      jQuery('#main-graph, .benchmark-plot').each(function () {
        var plot = jQuery(this).data('plot');
        if (!plot) { return; }
        var total = 0, drawn = 0, series = plot.getData();
        series.forEach(function (s) {
          var p = s.datapoints.points, n = s.datapoints.pointsize, y = s.yaxis, x = s.xaxis;
          for (var i = 0; i < p.length; i += n) {
            if (p[i] === null || p[i + 1] === null) { continue; }
            total++;
            if (p[i + 1] >= y.min && p[i + 1] <= y.max && p[i] >= x.min && p[i] <= x.max) { drawn++; }
          }
        });
        out.plots.push({id: this.id, series: series.length, points: total, drawn: drawn});
      });
    }
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


def load_conf() -> dict:
    """asv.conf.json (JSON with // comments on their own lines)."""
    text = (REPO / "asv.conf.json").read_text()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def result_files(results_dir: Path) -> list[Path]:
    return [p for p in sorted(results_dir.glob("*/*.json")) if p.name != "machine.json"]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flatten(x):
    for v in x:
        if isinstance(v, list):
            yield from _flatten(v)
        else:
            yield v


def measured(results_dir: Path) -> dict[str, set]:
    """benchmark name -> the parameter tuples (repr strings, as asv stores them) with a finite value."""
    out: dict[str, set] = {}
    for path in result_files(results_dir):
        data = json.loads(path.read_text())
        cols = data.get("result_columns", [])
        if "result" not in cols:
            continue
        i_res, i_par = cols.index("result"), cols.index("params") if "params" in cols else None
        for name, row in data.get("results", {}).items():
            if not isinstance(row, list) or len(row) <= i_res:
                continue
            values = row[i_res]
            params = row[i_par] if i_par is not None and len(row) > i_par and row[i_par] else []
            combos = list(itertools.product(*params)) if params else [()]
            values = values if isinstance(values, list) else [values]
            good = {c for c, v in zip(combos, values) if _is_number(v)}
            if good:
                out.setdefault(name, set()).update(good)
    return out


def graph_fragment(name: str, combos: set, param_names: list[str]) -> str:
    """asv's URL of a graph page with the parameter values that have results selected."""
    query = []
    for k, pname in enumerate(param_names):
        for value in sorted({c[k] for c in combos}):
            query.append("p-%s=%s" % (urllib.parse.quote(pname), urllib.parse.quote(value)))
    return "#" + name + ("?" + "&".join(query) if query else "")


def cdn_reachable() -> bool:
    for host in CDN_HOSTS:
        try:
            socket.getaddrinfo(host, 443)
            with socket.create_connection((host, 443), timeout=3):
                pass
        except OSError:
            return False
    return True


def vendor_dir() -> Path | None:
    for cand in (os.environ.get("MEMHARNESS_ASV_VENDOR"), str(REPO / "artifacts" / "asv-vendor")):
        if cand and all((Path(cand) / f).is_file() for f in VENDOR_FILES.values()):
            return Path(cand)
    return None


def localise_cdn(html_dir: Path, vendor: Path) -> list[str]:
    """Point the CDN <script>/<link> tags of the site's pages at local copies; the names replaced."""
    dest = html_dir / "_vendor"
    dest.mkdir(exist_ok=True)
    for f in VENDOR_FILES.values():
        shutil.copy(vendor / f, dest / f)
    replaced = []

    def sub(m):
        base = m.group(2).rsplit("/", 1)[-1]
        if base not in VENDOR_FILES:
            raise AssertionError("the site loads %s from a CDN: no local copy known for it" % m.group(2))
        replaced.append(base)
        return '%s="_vendor/%s"' % (m.group(1), VENDOR_FILES[base])

    cdn = r'(src|href)="(https://(?:%s)/[^"]+)"' % "|".join(map(re.escape, CDN_HOSTS))
    for page in html_dir.glob("*.html"):
        text = page.read_text()
        new = re.sub(cdn, sub, text)
        if new != text:  # the local copies are other builds: their hashes differ
            new = re.sub(r'\s+integrity="[^"]*"', "", new)
            page.write_text(new)
    return replaced


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


def render(exe: str, url: str, workdir: Path, name: str, offline: bool, size: str = "1400,1000") -> dict:
    """Load url twice in headless Chromium (DOM dump, then screenshot): the DOM, the PNG, and the
    console problems of Chromium's log (uncaught exceptions, console errors)."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=%s" % size,
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
    ]
    if offline:  # nothing leaves the machine: only the local server answers
        flags.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    out = {}
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
    out["problems"] = sorted(set(problems))
    return out


def run_chromium(exe: str, url: str, workdir: Path, name: str, offline: bool, size: str = "1400,1000") -> dict:
    """render(), and what the probe (PROBE, in the page) wrote: its errors join Chromium's console problems."""
    out = render(exe, url, workdir, name, offline, size)
    m = re.search(r'<pre id="memharness-probe"[^>]*>(.*?)</pre>', out["dom"], re.S)
    assert m, "the probe wrote nothing: the page's scripts did not run"
    import html as html_mod

    out["probe"] = json.loads(html_mod.unescape(m.group(1)))
    out["problems"] = out["problems"] + out["probe"]["errors"]
    return out


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium (install: apt-get install -y chromium; or set MEMHARNESS_CHROMIUM)")
    asv = asv_command()
    if asv is None:
        pytest.skip("asv is not installed (pip install -e '.[asv]')")
    conf = load_conf()
    results = REPO / conf.get("results_dir", "results")
    if not result_files(results):
        pytest.skip("no asv results in %s (run scripts/asv_matrix.sh, or asv run --python=same "
                    "--set-commit-hash $(git rev-parse HEAD))" % results)
    offline = not cdn_reachable()
    vendor = vendor_dir() if offline else None
    if offline and vendor is None:
        pytest.skip("the asv site loads its libraries from %s, unreachable here, and there are no local "
                    "copies in $MEMHARNESS_ASV_VENDOR or artifacts/asv-vendor/ (get them: %s)"
                    % (", ".join(CDN_HOSTS), FETCH_VENDOR))

    tmp = tmp_path_factory.mktemp("site")
    shutil.copytree(results, tmp / "results")
    conf.update(repo=str(REPO), benchmark_dir=str(REPO / conf.get("benchmark_dir", "benchmarks")),
                results_dir=str(tmp / "results"), html_dir=str(tmp / "html"), env_dir=str(tmp / "env"))
    (tmp / "asv.conf.json").write_text(json.dumps(conf))
    proc = subprocess.run([*asv, "publish", "--config", str(tmp / "asv.conf.json")],
                          capture_output=True, text=True, timeout=300, cwd=tmp)
    assert proc.returncode == 0, "asv publish failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
    html = tmp / "html"
    assert (html / "index.html").is_file() and (html / "index.json").is_file()
    replaced = localise_cdn(html, vendor) if offline else []
    index = html / "index.html"
    index.write_text(index.read_text().replace("<head>", "<head>\n" + PROBE, 1))

    server = Server(html)
    shots = tmp / "shots"
    shots.mkdir()
    try:
        yield {"exe": exe, "html": html, "server": server, "shots": shots, "offline": offline,
               "replaced": replaced, "measured": measured(tmp / "results"),
               "defined": [k for k in json.loads((tmp / "results" / "benchmarks.json").read_text()) if k != "version"],
               "index": json.loads((html / "index.json").read_text())}
    finally:
        server.close()
        if any(shots.glob("*.png")):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for png in shots.glob("*.png"):
                shutil.copy(png, ARTIFACTS / png.name)


def check_page(site, fragment: str, name: str) -> dict:
    server = site["server"]
    start = len(server.log)
    page = run_chromium(site["exe"], server.url + "index.html" + fragment, site["shots"], name, site["offline"])
    dom = page["dom"]
    requests = server.log[start:]
    # asv's index asks for a summary graph of every benchmark defined in benchmarks.json, also of those
    # that no kept result measured (e.g. left out of a --light matrix run): those 404s are expected.
    unmeasured = {"/graphs/summary/%s.json" % b for b in site.get("defined", ())} - {
        "/graphs/summary/%s.json" % b for b in site["measured"]}
    failed = [(p, code) for p, code in requests
              if code != 200 and p != "/favicon.ico" and not (code == 404 and p in unmeasured)]
    assert not failed, "requests that failed for %s: %s" % (name, failed)
    assert not page["problems"], "console errors on %s:\n%s" % (name, "\n".join(page["problems"]))
    assert "airspeed velocity error" not in dom and ("/error.html", 200) not in requests, \
        "asv sent the browser to its error page: a JavaScript library did not load"
    assert ("/index.json", 200) in requests, "index.json was not fetched: %s" % requests
    page["requests"] = requests
    return page


# ---------------------------------------------------------------------------------------------- tests

def test_index_lists_the_benchmarks(site):
    page = check_page(site, "", "index")
    dom = page["dom"]
    assert 'id="summarygrid-display"' in dom, "no summary grid in the index"
    names = set(re.findall(r'href="#(bench_[A-Za-z0-9_.]+)"', dom))
    assert names & set(site["measured"]), "the index links none of the measured benchmarks (%d links)" % len(names)
    shown = {n.split(".", 1)[0] for n in names}
    missing = {m for m, _ in TOPICS.values() if any(k.startswith(m + ".") for k in site["measured"])} - shown
    assert not missing, "the index leaves out measured topics: %s" % sorted(missing)


@pytest.mark.parametrize("topic", list(TOPICS))
def test_graph_page_of_each_topic(site, topic):
    module, preferred = TOPICS[topic]
    have = {n: c for n, c in site["measured"].items() if n.startswith(module + ".")}
    if not have:
        pytest.skip("no result with a value for %s in results/ (run the %s suite)" % (topic, module))
    name = next((p for p in preferred if p in have), sorted(have)[0])
    bench = site["index"]["benchmarks"][name]
    fragment = graph_fragment(name, have[name], bench.get("param_names", []))

    page = check_page(site, fragment, "graph-" + topic)
    dom, requests, probe = page["dom"], page["requests"], page["probe"]
    graph_json = [p for p, code in requests if p.startswith("/graphs/") and p.endswith("/%s.json" % name)]
    assert graph_json, "the page of %s fetched no graph data: %s" % (name, requests)
    values = []
    for p in graph_json:
        data = json.loads((site["html"] / p.lstrip("/")).read_text())
        # [[revision, value or [values]], ...]: the values, not the revisions
        values += [v for point in data for v in _flatten(point[1:]) if _is_number(v)]
    assert values, "the graph files of %s hold no number" % name
    assert "No data for this combination" not in dom, "asv says: no data for %s" % name
    main = [p for p in probe["plots"] if p["id"] == "main-graph"]
    assert main, "no plot drawn for %s (probe: %s)" % (name, probe)
    assert main[0]["drawn"] >= 1, "the plot of %s shows no point inside its axes (probe: %s)" % (name, main[0])
    assert main[0]["series"] >= 1
    assert re.search(r'class="legendLabel"', dom), "the plot of %s has no legend" % name
    assert name in dom, "the page does not name the benchmark %s" % name
