"""Reading asv's result files (results/<machine>/<commit>-<env>.json, version 2) with pandas.

Only JSON is read; a file that is not valid asv JSON gives a HarnessError
naming the file, never a traceback.
"""
from __future__ import annotations

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
            rows.append({"benchmark": bench, "params": ", ".join(combo), "value": value})
    return rows


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
    d = df[df["benchmark"].str.split(".").str[-1].str.startswith(prefix) & df["value"].notna()]
    if d.empty:
        return d
    d = d.sort_values("date").groupby(["benchmark", "params", "python"], as_index=False).last()
    table = d.pivot_table(index=["benchmark", "params"], columns="python", values="value", aggfunc="last")
    table.columns = ["Python %s" % c for c in table.columns]
    return table.reset_index()
