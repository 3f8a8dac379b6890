"""Reading asv's result files (results/<machine>/<commit>-<env>.json, version 2) with pandas.

Only JSON is read, from regular files only (never through a symbolic link, never a FIFO or a
device), of at most MAX_FILE_BYTES; its shape is checked (check_result_file) before anything
uses it, by the report and by merge-results alike. A file that is not valid asv JSON gives a
HarnessError naming the file and what is wrong, never a traceback.
"""
from __future__ import annotations

import ast
import errno
import itertools
import json
import os
import stat
from typing import Any, Dict, Iterator, List, Optional, Tuple

from harness.errors import HarnessError

RESULTS_API_VERSION = 2
SKIP_FILES = {"benchmarks.json", "machine.json"}
# Caps on what a result file may make this process do: asv writes files of a few hundred KB and
# benchmarks of a few hundred parameter combinations (640 at most in results/)
MAX_FILE_BYTES = 64 << 20
MAX_COMBINATIONS = 100_000
MAX_DEPTH = 64
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _read_bytes(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (never through a symbolic link), at most ``limit``.

    O_NONBLOCK: opening a FIFO returns at once (and fstat refuses it) instead of waiting for a writer.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HarnessError("%s is a symbolic link; asv results are read from regular files only" % path) from None
        raise HarnessError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise HarnessError("%s is %s; asv results are read from regular files only" % (path, kind))
        if st.st_size > limit:
            raise HarnessError("%s is %d bytes; an asv results file may hold at most %d MiB"
                               % (path, st.st_size, limit >> 20))
        chunks, size = [], 0
        while size <= limit:  # the file may grow while it is read
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise HarnessError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise HarnessError("%s grew past %d MiB while it was read" % (path, limit >> 20))
    return b"".join(chunks)


def _too_deep(data: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit`` (checked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for item in items:
            if isinstance(item, (dict, list)):
                if depth >= limit:
                    return True
                stack.append((item, depth + 1))
    return False


def read_json(path: str) -> Dict[str, Any]:
    """A JSON object from the regular file ``path``, or a HarnessError that names the file."""
    raw = _read_bytes(path, MAX_FILE_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise HarnessError("%s: JSON nested too deeply" % path) from None
    except (ValueError, MemoryError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise HarnessError("%s is not valid JSON (truncated or corrupt?): %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise HarnessError("%s: expected a JSON object, found %s" % (path, _kind(data)))
    if _too_deep(data, MAX_DEPTH):
        raise HarnessError("%s: JSON nested more than %d deep" % (path, MAX_DEPTH))
    return data


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_params(params: Any, where: str) -> int:
    """asv's parameter lists (a list of lists of reprs) checked; the number of their combinations."""
    if params is None:
        return 1
    if not isinstance(params, list) or not all(isinstance(p, list) for p in params):
        raise HarnessError("%s: params must be a list of lists, found %s" % (where, _kind(params)))
    combos = 1
    for values in params:
        bad = [v for v in values if not isinstance(v, str)]
        if bad or not values:
            raise HarnessError("%s: parameter values must be strings (their repr), found %s"
                               % (where, _kind(bad[0]) if bad else "an empty list"))
        combos *= len(values)
        if combos > MAX_COMBINATIONS:
            raise HarnessError("%s: more than %d parameter combinations" % (where, MAX_COMBINATIONS))
    return combos


def check_result_file(data: Dict[str, Any], path: str) -> Dict[str, Any]:
    """``data`` if it has the shape of an asv result file (version 2), else a HarnessError naming the fault.

    Everything this module, the report and merge-results use is checked here, so that what one
    accepts the others do too.
    """
    version = data.get("version")
    if version != RESULTS_API_VERSION:
        raise HarnessError("%s: unknown asv result format version %r (this reads version %d)"
                           % (path, version, RESULTS_API_VERSION))
    for key, kind in (("results", dict), ("result_columns", list), ("params", dict)):
        if not isinstance(data.get(key), kind):
            raise HarnessError("%s: not an asv result file (missing or bad %r)" % (path, key))
    for key in ("commit_hash", "env_name"):
        if not isinstance(data.get(key), str):
            raise HarnessError("%s: not an asv result file (%s must be a string)" % (path, key))
    if data.get("date") is not None and not _is_number(data["date"]):
        raise HarnessError("%s: date must be a number (milliseconds), found %s" % (path, _kind(data["date"])))
    for key in ("durations", "requirements", "env_vars"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise HarnessError("%s: %s must be an object, found %s" % (path, key, _kind(data[key])))
    python = data.get("python", data["params"].get("python"))
    if python is not None and not isinstance(python, (str, int, float)):
        raise HarnessError("%s: python must be a version string, found %s" % (path, _kind(python)))
    cols = data["result_columns"]
    if not all(isinstance(c, str) for c in cols) or "result" not in cols:
        raise HarnessError("%s: result_columns must be a list of column names including 'result'" % path)
    for bench, row in data["results"].items():
        where = "%s: benchmark %s" % (path, bench)
        if not isinstance(row, list) or not row or len(row) > len(cols):
            raise HarnessError("%s has a malformed result row (expected a list of up to %d columns, found %s)"
                               % (where, len(cols), _kind(row) if not isinstance(row, list) else
                                  "%d values" % len(row)))
        fields = dict(zip(cols, row))
        combos = check_params(fields.get("params"), where)
        values = fields.get("result")
        count = len(values) if isinstance(values, list) else 1
        if count != combos:
            raise HarnessError("%s has %d results for %d parameter combinations" % (where, count, combos))
    return data


def read_result_file(path: str) -> Dict[str, Any]:
    """An asv result file, checked for the fields this module uses."""
    return check_result_file(read_json(path), path)


def read_benchmarks_file(path: str) -> Dict[str, Any]:
    """asv's benchmarks.json: {"version": N, name: definition object, ...}, checked."""
    data = read_json(path)
    if not _is_number(data.get("version")):
        raise HarnessError("%s: not an asv benchmarks.json (no version number)" % path)
    for name, definition in data.items():
        if name == "version":
            continue
        where = "%s: benchmark %s" % (path, name)
        if not isinstance(definition, dict):
            raise HarnessError("%s: the definition must be an object, found %s" % (where, _kind(definition)))
        check_params(definition.get("params") or None, where)
    return data


def read_machine_file(path: str) -> Dict[str, Any]:
    """asv's <machine>/machine.json, checked."""
    data = read_json(path)
    if not isinstance(data.get("machine", ""), str):
        raise HarnessError("%s: not an asv machine.json (machine must be a string)" % path)
    return data


def iter_result_files(results_dir: str) -> Iterator[Tuple[str, str]]:
    """(machine, path) of every result file under ``results_dir``."""
    try:
        machines = sorted(os.listdir(results_dir))
        found = []
        for machine in machines:
            mdir = os.path.join(results_dir, machine)
            if os.path.isdir(mdir):
                found += [(machine, os.path.join(mdir, name)) for name in sorted(os.listdir(mdir))
                          if name.endswith(".json") and name not in SKIP_FILES]
    except OSError as exc:
        raise HarnessError("cannot read %s: %s" % (exc.filename or results_dir, exc.strerror or exc)) from None
    yield from found


def expand(data: Dict[str, Any], path: str = "") -> List[Dict[str, Any]]:
    """One dict per benchmark and parameter combination of a loaded result file."""
    check_result_file(data, path)  # cheap; and the combinations are counted before they are made
    cols = data["result_columns"]
    rows = []
    for bench, row in data["results"].items():
        fields = dict(zip(cols, row))
        values = fields.get("result")
        params = fields.get("params") or []
        # each parameter value parsed once, not once per combination it is in (the report's load time)
        dims = [[(c, _literal(c)) for c in dim] for dim in params]
        combos = itertools.product(*dims) if dims else [()]
        if not isinstance(values, list):
            values = [values]
        for combo, value in zip(combos, values):
            rows.append({"benchmark": bench, "params": ", ".join(c for c, _ in combo), "value": value,
                         "args": tuple(v for _, v in combo)})
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










def claims_by_version(df: Any) -> Any:
    """One row per claim that asv tracks: its verdict and key figure per Python version (newest commit).

    Each topic rebuilds its rows from the tracked figures of one Python version (``from_asv``)
    and its claim objects judge them, as they judge a live run's rows. Columns: topic, claim,
    figure (the row columns the rule reads), then "Python X.Y" for every version with results,
    in version order ("" where a version has no figure of that claim); None when no claim has data.
    """
    import pandas as pd

    from harness import registry
    from harness.claims import judge_all

    newest = _newest(df)
    versions = sorted(set(df["python"].astype(str)), key=version_key)
    rows: Dict[str, Dict[str, str]] = {}
    for topic in registry.topics():
        for py in versions:
            tracked = newest[newest["python"].astype(str) == py]
            for v in judge_all(list(topic.claims), topic.from_asv(tracked)):
                claim = next(c for c in topic.claims if c.id == v.claim_id)
                row = rows.setdefault(v.claim_id, {"topic": v.topic, "claim": v.claim, "figure": ", ".join(claim.figures)})
                row["Python %s" % py] = "%s: %s" % (v.verdict, v.key)
    if not rows:
        return None
    columns = ["topic", "claim", "figure"] + ["Python %s" % v for v in versions]
    return pd.DataFrame(list(rows.values())).reindex(columns=columns).astype(object).fillna("")
