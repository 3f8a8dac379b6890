"""``memharness site HTML_DIR``: the site ``asv publish`` wrote, made to work with no network.

asv 0.6's pages load jQuery, flot, bootstrap, stupidtable and md5 from CDNs: offline they end on
asv's error page. This installs asv-tachyon's UI (its scripts, styles and fonts come inside its
wheel: nothing is fetched, nothing is copied into this repository) over the same published data
(index.json, graphs/), keeping asv's page as index.legacy.html.

It also works around a bug of asv-tachyon 0.5.8 that left every overview tile of these results
without a sparkline: its page state keeps only the environment parameters whose value is not null
(``Ov``/``Xg`` in its bundle drop them), and fills a dropped one with the parameter's first value in
index.json. asv writes null for a requirement an environment does not install (no PyTensor in the
Theano environments, no scipy pin outside them, no THEANO_FLAGS), so every environment of this
matrix was turned into one that does not exist (``pytensor`` instead of ``pytensor-null`` in the
graph's path) and every graph request answered 404. asv-tachyon builds the path of a value "null"
exactly as asv names the folder of a null (``pytensor-null``), so the nulls of index.json's
``params`` and ``graph_param_list`` are written as the string "null": the state keeps them and the
paths are asv's own.

The overview shows one environment: the one made of each parameter's first value in index.json. asv's
order put first an environment of the kept results (Theano on 3.11) that the subset runs tracked few
suites in, so the tiles of containers and pickle stayed blank. The environment whose graphs hold the
most data points is put first (``busiest_first``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Dict, Optional

from harness.errors import HarnessError

HELP = "make the published asv site work offline (asv-tachyon's UI over asv publish's data)"
DESCRIPTION = __doc__
MAX_GRAPH_BYTES = 64 << 20  # a graph file larger than this is not read (it counts no point)
INSTALL = "pip install asv-tachyon (in the asv extra: pip install 'memharness[asv]')"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("html", nargs="?", default="html", metavar="HTML_DIR",
                        help="the folder asv publish wrote (default: html)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def nulls_as_strings(index: Dict[str, Any]) -> int:
    """Write the null parameter values of an asv index.json as "null" (see the module's text); how many."""
    count = 0
    params = index.get("params")
    if isinstance(params, dict):
        for name, values in params.items():
            if isinstance(values, list):
                count += sum(v is None for v in values)
                params[name] = ["null" if v is None else v for v in values]
    combos = index.get("graph_param_list")
    if isinstance(combos, list):
        for combo in combos:
            if isinstance(combo, dict):
                for name, value in combo.items():
                    if value is None:
                        combo[name] = "null"
                        count += 1
    return count


def graph_folder(combo: Dict[str, Any]) -> str:
    """asv's graph folder of one environment (a graph_param_list entry): its sorted name-value parts."""
    parts = sorted(k if v == "" else "%s-%s" % (k, "null" if v is None else v) for k, v in combo.items())
    return "/".join(["graphs"] + parts)


def _points(folder: str) -> int:
    """Data points in the graph files of one environment's folder: (commit, value) pairs, summed."""
    total = 0
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if not (name.endswith(".json") and os.path.isfile(path) and not os.path.islink(path)):
            continue
        try:
            if os.path.getsize(path) > MAX_GRAPH_BYTES:
                continue
            with open(path, "rb") as fh:
                points = json.loads(fh.read().decode("utf-8"))
        except (OSError, ValueError, RecursionError):  # unreadable or not JSON: no points
            continue
        total += len(points) if isinstance(points, list) else 0
    return total


def busiest_first(index: Dict[str, Any], html: str) -> Optional[Dict[str, Any]]:
    """Put first, in graph_param_list and in each parameter's values, the environment whose graphs hold
    the most data points (the first of those on a tie): the one the overview shows, where a sparkline
    needs two commits or more. Returns it (None if there is none)."""
    combos = [c for c in index.get("graph_param_list") or [] if isinstance(c, dict)]
    if not combos:
        return None
    counts = [_points(os.path.join(html, *graph_folder(combo).split("/"))) for combo in combos]
    best = combos[counts.index(max(counts))]
    index["graph_param_list"] = [best] + [c for c in index["graph_param_list"] if c is not best]
    params = index.get("params") or {}
    for name, value in best.items():
        values = params.get(name)
        if isinstance(values, list) and value in values:
            params[name] = [value] + [v for v in values if v != value]
    return best


def make_offline(html: str) -> int:
    """Install asv-tachyon into ``html`` and fix its index.json; the number of nulls rewritten."""
    from harness.asvresults import read_json
    from harness.output import write_atomic

    index_path = os.path.join(html, "index.json")
    if not os.path.isdir(html) or not os.path.lexists(index_path):
        raise HarnessError("%s holds no index.json: run asv publish first" % html)
    index = read_json(index_path)
    if not isinstance(index.get("graph_param_list"), list) or not isinstance(index.get("params"), dict):
        raise HarnessError("%s is not the index.json of asv publish (no params / graph_param_list)" % index_path)
    try:
        import asv_tachyon  # noqa: F401
    except ImportError:
        raise HarnessError("the offline site needs asv-tachyon: %s" % INSTALL) from None
    # -I: the working folder (and PYTHONPATH) stay off the path, so no asv_tachyon.py lying there runs
    try:
        proc = subprocess.run([sys.executable, "-I", "-m", "asv_tachyon", "install", html], capture_output=True,
                              text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise HarnessError("asv-tachyon install %s took over 300 s: stopped" % html) from None
    if proc.returncode != 0:
        raise HarnessError("asv-tachyon install %s failed: %s" % (html, (proc.stderr or proc.stdout).strip()[-500:]))
    fixed = nulls_as_strings(index)
    busiest_first(index, html)
    write_atomic(index_path, json.dumps(index, separators=(",", ":")))
    return fixed


def main(args: argparse.Namespace) -> int:
    fixed = make_offline(args.html)
    if not args.quiet:
        print("installed asv-tachyon's UI into %s (%d null parameter values written as \"null\"); serve it with "
              "asv-tachyon serve %s, or any static server" % (args.html, fixed, args.html), file=sys.stderr)
    return 0
