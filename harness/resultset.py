"""One asv result set of one commit, as ``memharness compare`` and ``export-pyperf`` read it.

A result set is a results folder (benchmarks.json and one folder per machine) or one result file
(``<machine>/<commit>-<env>.json``, with the benchmarks.json of its results folder, or one given).
Everything is read through harness.asvresults' checking reader. Figures are keyed by environment,
benchmark and parameters; each keeps every value that the set holds for that commit:

* ``runs``: one value per result file of that commit and environment (several machine folders of
  one commit are repeated runs, e.g. ``asv run --machine run-2`` on the same host);
* ``samples``: the raw samples asv keeps with ``--record-samples`` (``--append-samples`` adds the
  samples of a rerun of the commit to them).

The kind of a figure comes from its definition in benchmarks.json (asv's "type" and "unit"):
``exact`` for track_ benchmarks counted in bytes or in whole things (cases, arenas, pools...),
deterministic, compared to the byte; ``time`` for time_ benchmarks (higher is worse); ``rate`` for
track_ benchmarks per second (lower is worse); ``other`` for the rest (ratios, peak memory), which
vary with the run and are compared as times are, in both directions.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from harness.asvresults import read_benchmarks_file, read_result_file
from harness.errors import HarnessError

# units of deterministic figures: bytes, and counts of whole things
EXACT_UNITS = frozenset({"bytes", "byte", "b", "count", "counts", "cases", "arenas", "pools", "blocks",
                         "objects", "elements", "items", "calls", "pages"})
# direction of a change that is worse: +1 a higher value, -1 a lower one, 0 either
DIRECTION = {"exact": 0, "time": 1, "rate": -1, "other": 0}

Key = Tuple[str, str, str]  # (environment, benchmark, parameters)


def figure_kind(definition: Optional[Dict[str, Any]]) -> str:
    """exact, time, rate or other, from a benchmarks.json definition.

    A track_ figure is exact when its unit is a count (EXACT_UNITS) and nothing more. A unit with a
    qualifier in parentheses, "bytes (RSS)" or "arenas (heap state)", names where a count comes from
    when that source is not deterministic (the resident set, the heap's state after a free): such a
    figure is "other", gated by the noise of repeated runs like a time, in either direction. asv
    keeps only the unit of a benchmark's attributes in benchmarks.json, so the suites say it there."""
    if not isinstance(definition, dict):
        return "other"
    btype, unit = definition.get("type"), str(definition.get("unit") or "").strip().lower()
    if btype == "time":
        return "time"
    if btype == "track" and unit in EXACT_UNITS:  # "bytes (rss)" is not in it: a qualified count
        return "exact"
    if btype == "track" and unit.endswith("/s"):
        return "rate"
    return "other"


@dataclass
class Figure:
    kind: str
    unit: str
    runs: List[float] = field(default_factory=list)  # one value per result file; NaN: not measured
    samples: List[float] = field(default_factory=list)
    version: str = ""  # the benchmark code's version (asv's hash)


@dataclass
class ResultSet:
    path: str
    commit: str
    figures: Dict[Key, Figure]
    files: int


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan  # null: skipped or failed


def _files(path: str) -> Tuple[List[str], str]:
    """The result files of ``path`` (a results folder or one file) and the benchmarks.json to use."""
    from harness.merge import check_source

    if os.path.isdir(path):
        found = check_source(path)
        if not found:
            raise HarnessError("%s holds no asv result files" % path)
        return [os.path.join(path, machine, name) for machine, name in found], os.path.join(path, "benchmarks.json")
    if not os.path.lexists(path):
        raise HarnessError("%s does not exist" % path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(os.path.join(folder, "machine.json")):
        # not asv's layout (results/<machine>/<file>): a benchmarks.json two folders up could be
        # anyone's (/tmp/benchmarks.json for /tmp/x/r.json), and it decides what is gated to the byte
        return [path], ""
    return [path], os.path.join(os.path.dirname(folder), "benchmarks.json")


def _pick_commit(loaded: List[Tuple[str, Dict[str, Any]]], path: str, commit: Optional[str]) -> str:
    commits = sorted({data["commit_hash"] for _, data in loaded})
    if commit:
        hits = [c for c in commits if c.startswith(commit.lower())]
        if len(hits) != 1:
            raise HarnessError("%s: %s commit %s (it holds %s)" % (path, "no" if not hits else "more than one",
                                                                  commit, ", ".join(c[:8] for c in commits)))
        return hits[0]
    if len(commits) != 1:
        raise HarnessError("%s holds results of %d commits (%s); choose one with --base-commit/--new-commit"
                           % (path, len(commits), ", ".join(c[:8] for c in commits[:10])))
    return commits[0]


def _add_file(figures: Dict[Key, Figure], data: Dict[str, Any], defs: Dict[str, Any], path: str) -> None:
    cols = data["result_columns"]
    env = data["env_name"]
    for bench, row in data["results"].items():
        fields = dict(zip(cols, row))
        params = fields.get("params") or []
        combos = list(itertools.product(*params)) if params else [()]
        values = fields.get("result")
        values = values if isinstance(values, list) else [values]
        samples = fields.get("samples")
        if samples is not None and (not isinstance(samples, list) or len(samples) != len(combos)):
            raise HarnessError("%s: benchmark %s: samples must be a list of one list per parameter combination"
                               % (path, bench))
        definition = defs.get(bench)
        for i, (combo, value) in enumerate(zip(combos, values)):
            key = (env, bench, ", ".join(combo))
            fig = figures.setdefault(key, Figure(figure_kind(definition), str((definition or {}).get("unit") or ""),
                                                 version=str(fields.get("version") or "")))
            fig.runs.append(_number(value))
            if samples is not None and samples[i] is not None:
                if not isinstance(samples[i], list):
                    raise HarnessError("%s: benchmark %s: samples must be lists of numbers" % (path, bench))
                fig.samples += [v for v in map(_number, samples[i]) if not math.isnan(v)]


def load_set(path: str, commit: Optional[str] = None, benchmarks: Optional[str] = None) -> ResultSet:
    """The figures of one commit of the result set ``path``; a HarnessError on anything malformed."""
    files, bpath = _files(path)
    bpath = benchmarks or bpath
    if not bpath:
        raise HarnessError("%s is not in an asv results folder (no machine.json beside it): give its benchmarks.json "
                           "with --benchmarks FILE (it says which figures are bytes and which are times)" % path)
    if not os.path.lexists(bpath):
        raise HarnessError("no benchmarks.json for %s (looked for %s; give one with --benchmarks FILE): it says "
                           "which figures are bytes and which are times" % (path, bpath))
    defs = read_benchmarks_file(bpath)
    loaded = [(f, read_result_file(f)) for f in files]
    chosen = _pick_commit(loaded, path, commit)
    figures: Dict[Key, Figure] = {}
    used = 0
    for fpath, data in loaded:
        if data["commit_hash"] == chosen:
            _add_file(figures, data, defs, fpath)
            used += 1
    return ResultSet(path, chosen, figures, used)


def short_env(env: str) -> str:
    """asv's environment name without the environment type ("virtualenv-py3.11-numpy" -> "py3.11-numpy")."""
    for prefix in ("virtualenv-", "conda-", "mamba-", "rattler-", "existing-"):
        if env.startswith(prefix):
            return env[len(prefix):]
    return env
