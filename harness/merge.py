"""``memharness merge-results``: merge asv results of several machines or shards into one folder.

asv leaves this open (asv issue #1362): each run writes ``results/benchmarks.json``
and ``results/<machine>/<commit>-<env>.json``, and one ``asv publish`` reads one
folder. This merges source folders into a destination so one site shows them all:

* benchmarks.json: union of the benchmark definitions; the same name with a
  different definition (code version, parameters, unit) is a conflict.
* <machine>/machine.json: taken once; the same machine name describing other
  hardware is a conflict.
* result files: a file that exists on both sides (two shards of one machine,
  same commit and environment) is merged benchmark by benchmark; a benchmark
  measured on both sides with different figures is a conflict.

Any conflict stops the merge before anything is written, with a message that
names the files and the benchmark. Nothing is ever dropped: every result of
every source is in the destination after a merge, or the merge did not happen.
Files are written atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Tuple

from harness.asvresults import SKIP_FILES, read_json, read_result_file
from harness.errors import HarnessError

HELP = "merge asv results of several machines or shards into one results folder"
DESCRIPTION = __doc__


class MergeConflict(HarnessError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="asv results folders to merge in")
    parser.add_argument("--into", required=True, metavar="DEST", help="the results folder to merge into (created if missing)")
    parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def _benchmarks_conflict(name: str, a: Dict[str, Any], b: Dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return "benchmark %s is defined differently (%s)" % (name, ", ".join(keys))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def plan(sources: List[str], dest: str) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, int]]:
    """Every file the destination will hold after the merge (path -> JSON), and counts.

    Raises MergeConflict before anything is written.
    """
    for src in sources:
        if not os.path.isdir(src):
            raise HarnessError("%s is not a folder" % src)
        if os.path.realpath(src) == os.path.realpath(dest):
            raise HarnessError("source %s is the destination itself" % src)
    out: Dict[str, Dict[str, Any]] = {}
    origin: Dict[str, str] = {}
    counts = {"files": 0, "benchmarks": 0, "results": 0, "merged_files": 0}

    def existing(rel: str):
        if rel in out:
            return out[rel]
        path = os.path.join(dest, rel)
        if os.path.exists(path):
            data = read_json(path) if os.path.basename(rel) in SKIP_FILES else read_result_file(path)
            out[rel] = data
            origin[rel] = path
            return data
        return None

    for src in sources:
        # benchmark definitions
        bpath = os.path.join(src, "benchmarks.json")
        if os.path.exists(bpath):
            bench = read_json(bpath)
            have = existing("benchmarks.json")
            merged = dict(have) if have else {}
            for name, definition in bench.items():
                if name == "version":
                    if have and have.get("version") not in (None, definition):
                        raise MergeConflict("%s has benchmarks.json version %r, %s has %r"
                                            % (bpath, definition, origin["benchmarks.json"], have.get("version")))
                    merged[name] = definition
                    continue
                if name in merged and _canonical(merged[name]) != _canonical(definition):
                    raise MergeConflict("%s and %s: %s; run both with the same benchmark code"
                                        % (bpath, origin["benchmarks.json"],
                                           _benchmarks_conflict(name, merged[name], definition)))
                if name not in merged:
                    counts["benchmarks"] += 1
                merged[name] = definition
            out["benchmarks.json"] = merged
            origin["benchmarks.json"] = bpath
        # machines
        for machine in sorted(os.listdir(src)):
            mdir = os.path.join(src, machine)
            if not os.path.isdir(mdir):
                continue
            for name in sorted(os.listdir(mdir)):
                if not name.endswith(".json"):
                    continue
                path = os.path.join(mdir, name)
                rel = os.path.join(machine, name)
                if name == "machine.json":
                    data = read_json(path)
                    have = existing(rel)
                    if have is not None and _canonical(have) != _canonical(data):
                        raise MergeConflict("machine %r is described differently in %s and %s; rename one "
                                            "machine (asv machine --machine NAME)" % (machine, path, origin[rel]))
                    out[rel] = data
                    origin[rel] = path
                    continue
                data = read_result_file(path)
                have = existing(rel)
                counts["results"] += len(data["results"])
                if have is None:
                    out[rel] = data
                    origin[rel] = path
                    counts["files"] += 1
                    continue
                out[rel] = _merge_result(have, data, origin[rel], path)
                origin[rel] = "%s + %s" % (origin[rel], path)
                counts["merged_files"] += 1
    return out, counts


def _merge_result(a: Dict[str, Any], b: Dict[str, Any], pa: str, pb: str) -> Dict[str, Any]:
    """Two shards of one result file (same machine, commit and environment)."""
    for key in ("commit_hash", "env_name", "params", "python", "requirements", "result_columns"):
        if _canonical(a.get(key)) != _canonical(b.get(key)):
            raise MergeConflict("%s and %s have the same name but different %r; they are not shards of one run"
                                % (pa, pb, key))
    merged = dict(a)
    merged["results"] = dict(a["results"])
    for name, row in b["results"].items():
        if name in merged["results"]:
            ra, rb = merged["results"][name], row
            # figures must agree; timings of a rerun differ and are a conflict too
            if _canonical(ra[:1]) != _canonical(rb[:1]) or _canonical(ra[1:3]) != _canonical(rb[1:3]):
                raise MergeConflict("benchmark %s was measured in both %s and %s with different results; "
                                    "keep one of the two files" % (name, pa, pb))
        merged["results"][name] = row
    merged["durations"] = dict(a.get("durations") or {}, **(b.get("durations") or {}))
    merged["date"] = max(a.get("date") or 0, b.get("date") or 0)
    return merged


def write(files: Dict[str, Dict[str, Any]], dest: str) -> None:
    from harness.output import write_atomic

    for rel, data in sorted(files.items()):
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path) or dest, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=None, separators=(",", ":"), sort_keys=True) + "\n")


def merge(sources: List[str], dest: str, dry_run: bool = False) -> Dict[str, int]:
    """Merge ``sources`` into ``dest``; returns counts. Raises MergeConflict, writing nothing."""
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise HarnessError("--into %s is not a folder" % dest)
    files, counts = plan(sources, dest)
    if not dry_run:
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as exc:
            raise HarnessError("cannot create the folder %s: %s" % (dest, exc.strerror or exc)) from None
        write(files, dest)
    return counts


def main(args: argparse.Namespace) -> int:
    counts = merge(args.sources, args.into, args.dry_run)
    if not args.quiet:
        print("%s %d result files (%d merged from shards), %d benchmark results, %d new benchmark definitions into %s"
              % ("would merge" if args.dry_run else "merged", counts["files"] + counts["merged_files"],
                 counts["merged_files"], counts["results"], counts["benchmarks"], args.into), file=sys.stderr)
    return 0
