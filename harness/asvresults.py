"""Reading asv's result files (results/<machine>/<commit>-<env>.json, version 2) with pandas.

Only JSON is read; a file that is not valid asv JSON gives a HarnessError
naming the file, never a traceback.
"""
from __future__ import annotations

import ast
import itertools
import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

from harness.errors import HarnessError

RESULTS_API_VERSION = 2
SKIP_FILES = {"benchmarks.json", "machine.json"}


def read_json(path: str) -> Dict[str, Any]:
    """A JSON object from ``path``, or a HarnessError that names the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise HarnessError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError("%s is not valid JSON (truncated or corrupt?): %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise HarnessError("%s: expected a JSON object, found %s" % (path, type(data).__name__))
    return data


def read_result_file(path: str) -> Dict[str, Any]:
    """An asv result file, checked for the fields this module uses."""
    data = read_json(path)
    version = data.get("version")
    if version != RESULTS_API_VERSION:
        raise HarnessError("%s: unknown asv result format version %r (this reads version %d)"
                           % (path, version, RESULTS_API_VERSION))
    for key, kind in (("results", dict), ("result_columns", list), ("params", dict)):
        if not isinstance(data.get(key), kind):
            raise HarnessError("%s: not an asv result file (missing or bad %r)" % (path, key))
    if "commit_hash" not in data or "env_name" not in data:
        raise HarnessError("%s: not an asv result file (no commit_hash/env_name)" % path)
    return data


def iter_result_files(results_dir: str) -> Iterator[Tuple[str, str]]:
    """(machine, path) of every result file under ``results_dir``."""
    for machine in sorted(os.listdir(results_dir)):
        mdir = os.path.join(results_dir, machine)
        if not os.path.isdir(mdir):
            continue
        for name in sorted(os.listdir(mdir)):
            if name.endswith(".json") and name not in SKIP_FILES:
                yield machine, os.path.join(mdir, name)


def expand(data: Dict[str, Any], path: str = "") -> List[Dict[str, Any]]:
    """One dict per benchmark and parameter combination of a loaded result file."""
    cols = data["result_columns"]
    rows = []
    for bench, row in data["results"].items():
        if not isinstance(row, list) or not row:
            raise HarnessError("%s: benchmark %s has a malformed result row" % (path, bench))
        fields = dict(zip(cols, row))
        values = fields.get("result")
        params = fields.get("params") or []
        combos = list(itertools.product(*params)) if params else [()]
        if not isinstance(values, list):
            values = [values]
        if len(values) != len(combos):
            raise HarnessError("%s: benchmark %s has %d results for %d parameter combinations"
                               % (path, bench, len(values), len(combos)))
        for combo, value in zip(combos, values):
            rows.append({"benchmark": bench, "params": ", ".join(combo), "value": value,
                         "args": tuple(_literal(c) for c in combo)})
    return rows


def _literal(text: Any) -> Any:
    """A parameter as asv stores it (its repr) back as a value: literals only, else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def version_key(version: str) -> Tuple[Any, ...]:
    """'3.10' after '3.9': numeric parts compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in str(version).split("."))


def load(results_dir: str) -> Optional[Any]:
    """Every result under ``results_dir`` as a DataFrame, or None when there are none.

    Columns: machine, commit, env_name, python, date, benchmark, params, value.
    """
    import pandas as pd

    records = []
    for machine, path in iter_result_files(results_dir):
        data = read_result_file(path)
        meta = {
            "machine": machine,
            "commit": data["commit_hash"],
            "env_name": data["env_name"],
            "python": str(data.get("python") or data["params"].get("python", "")),
            "date": data.get("date"),
        }
        for row in expand(data, path):
            row.update(meta)
            records.append(row)
    if not records:
        return None
    return pd.DataFrame(records)


def per_version(df: Any, prefix: str = "track_") -> Any:
    """Latest value of each track_ benchmark and parameter set, one column per Python version."""
    d = _newest(df[df["benchmark"].str.split(".").str[-1].str.startswith(prefix)])
    if d.empty:
        return d
    table = d.pivot_table(index=["benchmark", "params"], columns="python", values="value", aggfunc="last")
    table = table[sorted(table.columns, key=version_key)]
    table.columns = ["Python %s" % c for c in table.columns]
    return table.reset_index()


# --------------------------------------------------------------------------
# The claims whose figures the asv suites track, judged per Python version


def _newest(df: Any) -> Any:
    """Rows with a value: the newest commit's per benchmark, parameter set and Python version."""
    d = df[df["value"].notna()]
    if d.empty:
        return d
    return d.sort_values("date").groupby(["benchmark", "params", "python"], as_index=False).last()


def _latest(df: Any, benchmark: str) -> Any:
    """_newest of the rows of one benchmark."""
    return _newest(df[df["benchmark"] == benchmark])


def _num(value: Any) -> Optional[float]:
    """A result or parameter as a finite number, else None (a hand-edited file may hold anything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _verdict(ok: int, total: int) -> str:
    return "confirmed" if ok == total else ("refuted" if ok == 0 else "partly")


def _kib(n: float) -> str:
    return "%g MiB" % (n / 2**20) if n >= 2**20 else "%g KiB" % (n / 1024)


def _claim_ratio(df: Any) -> Tuple[str, str, str, Dict[str, str]]:
    from harness.containers import CLAIM, CLAIM_HIGH, CLAIM_LOW, WORKLOADS

    out: Dict[str, str] = {}
    d = _latest(df, "bench_containers.BytesPerElement.track_ratio_allocated")
    for py, g in (d.groupby("python") if len(d) else []):
        largest: Dict[str, Tuple[float, float]] = {}
        for args, value in zip(g["args"], g["value"]):
            if len(args) != 2 or args[0] not in WORKLOADS or WORKLOADS[args[0]].reference:
                continue
            n, ratio = _num(args[1]), _num(value)
            if n is not None and ratio is not None and (args[0] not in largest or n > largest[args[0]][0]):
                largest[args[0]] = (n, ratio)
        if largest:
            ratios = [r for _, r in largest.values()]
            ok = sum(CLAIM_LOW <= r <= CLAIM_HIGH for r in ratios)
            out[py] = "%s: %.1f-%.1fx, %d of %d workloads within" % (
                _verdict(ok, len(ratios)), min(ratios), max(ratios), ok, len(ratios))
    return "containers", CLAIM, "Python/C++ allocated bytes at each workload's largest n", out


def _claim_geometry(df: Any, what: str) -> Tuple[str, str, str, Dict[str, str]]:
    from harness.allocator import CLAIMS, FOLKLORE_ARENA, FOLKLORE_POOL

    expected = FOLKLORE_ARENA if what == "arena" else FOLKLORE_POOL
    d = _latest(df, "bench_allocator.Geometry.track_%s_size" % what)
    sizes = {py: _num(v) for py, v in zip(d["python"], d["value"])} if len(d) else {}
    out = {py: "%s: %s" % ("confirmed" if size == expected else "refuted", _kib(size))
           for py, size in sizes.items() if size is not None}
    return "allocator", CLAIMS[what], "%s size (sys._debugmallocstats)" % what, out


def _claim_highest_smallest(df: Any) -> Tuple[str, str, str, Dict[str, str]]:
    out: Dict[str, str] = {}
    d = _latest(df, "bench_pickle.PickleMemory.track_pickled_bytes")
    for py, g in (d.groupby("python") if len(d) else []):
        cases: Dict[Tuple[Any, Any], Dict[int, float]] = {}
        for args, value in zip(g["args"], g["value"]):
            if (len(args) == 3 and isinstance(args[2], str) and args[2].startswith("dumps-p")
                    and args[2][7:].isdigit() and _num(value) is not None):
                cases.setdefault((args[0], args[1]), {})[int(args[2][7:])] = _num(value)  # type: ignore[assignment]
        cases = {k: v for k, v in cases.items() if len(v) >= 2}
        if cases:
            ok = sum(v[max(v)] <= 1.01 * min(v.values()) for v in cases.values())
            protocols = sorted({p for v in cases.values() for p in v})
            out[py] = "%s: p%d smallest for %d of %d objects (of p%s)" % (
                _verdict(ok, len(cases)), protocols[-1], ok, len(cases), ", p".join(map(str, protocols)))
    return ("pickle", "Use protocol=pickle.HIGHEST_PROTOCOL: it is the smallest (the size half of the claim)",
            "pickled bytes of dumps at each protocol measured", out)


def _claim_oob(df: Any) -> Tuple[str, str, str, Dict[str, str]]:
    out: Dict[str, str] = {}
    d = _latest(df, "bench_pickle.PickleMemory.track_dump_peak")
    for py, g in (d.groupby("python") if len(d) else []):
        copies = [(args[1], _num(v) / args[1]) for args, v in zip(g["args"], g["value"])  # type: ignore[operator]
                  if len(args) == 3 and args[0] == "numpy" and args[2] == "oob-p5" and _num(args[1])
                  and _num(v) is not None]
        if copies:
            ok = sum(c < 0.05 for _, c in copies)
            out[py] = "%s: %s" % (_verdict(ok, len(copies)), ", ".join(
                "%.3f copies at %s" % (c, _kib(size)) for size, c in sorted(copies)))
    return ("pickle", "Protocol 5 out-of-band buffers pickle arrays with zero copies",
            "dump peak / payload of a numpy array, oob-p5", out)


def claims_by_version(df: Any) -> Any:
    """One row per claim that asv tracks: its verdict and figure per Python version (newest commit).

    Columns: topic, claim, figure, then "Python X.Y" for every version with results, in version
    order ("" where a version has no figure of that claim); None when no claim has data.
    """
    import pandas as pd

    rows = []
    for topic, claim, figure, cells in (_claim_ratio(df), _claim_geometry(df, "arena"), _claim_geometry(df, "pool"),
                                        _claim_highest_smallest(df), _claim_oob(df)):
        if cells:
            row = {"topic": topic, "claim": claim, "figure": figure}
            row.update({"Python %s" % py: text for py, text in cells.items()})
            rows.append(row)
    if not rows:
        return None
    versions = ["Python %s" % v for v in sorted(set(df["python"].astype(str)), key=version_key)]
    return pd.DataFrame(rows).reindex(columns=["topic", "claim", "figure"] + versions).astype(object).fillna("")
