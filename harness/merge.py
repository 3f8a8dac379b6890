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

Every file is read and checked as the report reads it (harness.asvresults):
regular files only, size and shape checked. A source must be a results folder
(benchmarks.json and one folder per machine), not one machine's folder, and of
the same project as the destination (their benchmarks share a module). The
destination is locked (flock on the folder itself) from the first read to the
last write: a second merge into it waits up to --wait seconds, then gives up
naming the holder. Temporary files that a killed merge left behind are removed
by the next merge, under the lock; SIGTERM removes its own before it exits.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from harness.asvresults import SKIP_FILES, read_benchmarks_file, read_machine_file, read_result_file
from harness.errors import HarnessError

HELP = "merge asv results of several machines or shards into one results folder"
DESCRIPTION = __doc__


LOCK_WAIT = 60.0


class MergeConflict(HarnessError):
    pass


def _lock_holder(fd: int) -> str:
    """Who holds the flock on ``fd``'s file, from /proc/locks ("pid N"), or "" when unknown."""
    st = os.fstat(fd)
    inode = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if "->" not in fields and "FLOCK" in fields and inode in fields:
                    return "pid %s" % fields[fields.index(inode) - 1]
    except OSError:
        pass
    return ""


@contextlib.contextmanager
def locked(dest: str, wait: float = LOCK_WAIT, on_wait: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Hold an exclusive flock on the folder ``dest`` itself (no lock file: nothing to leave behind).

    Waits up to ``wait`` seconds for another holder, saying so once through ``on_wait``; then a HarnessError
    that names the holder. The kernel drops the lock when the process ends, however it ends.
    """
    try:
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise HarnessError("cannot lock %s: %s" % (dest, exc.strerror or exc)) from None
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise HarnessError("cannot lock %s: %s" % (dest, exc.strerror or exc)) from None
            holder = _lock_holder(fd)
            if time.monotonic() >= deadline:
                raise HarnessError("another merge into %s is running (%s); let it finish and merge again, or "
                                   "give --wait SECONDS" % (dest, holder or "its process is not known"))
            if not told and on_wait is not None:
                on_wait("waiting for another merge into %s to finish (%s)" % (dest, holder or "holder not known"))
                told = True
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def remove_leftovers(dest: str) -> int:
    """Remove the temporary files of writes that were killed before their rename (hold the lock)."""
    from harness.output import is_temp_name

    removed = 0
    folders = [dest] + [os.path.join(dest, d) for d in sorted(os.listdir(dest))
                        if os.path.isdir(os.path.join(dest, d)) and not os.path.islink(os.path.join(dest, d))]
    for folder in folders:
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if is_temp_name(name) and not os.path.isdir(path):
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise HarnessError("cannot remove %s, left by a merge that was killed: %s"
                                       % (path, exc.strerror or exc)) from None
    return removed


def _modules(names: Any) -> Set[str]:
    """The suites' module names of asv benchmark names ("bench_pickle.PickleMemory.track_x" -> bench_pickle)."""
    return {name.split(".", 1)[0] for name in names if name != "version"}


def check_source(src: str) -> List[Tuple[str, str]]:
    """The (machine, file name) of every result file of the results folder ``src``; a HarnessError
    when ``src`` is not one (one machine's folder given instead, or a folder with no asv results)."""
    if not os.path.isdir(src):
        raise HarnessError("%s is not a folder" % src)
    expected = ("expected an asv results folder: benchmarks.json and one folder per machine, "
                "each with machine.json and <commit>-<env>.json files")
    try:
        top = sorted(os.listdir(src))
        if "machine.json" in top or any(n.endswith(".json") and n not in SKIP_FILES for n in top):
            raise HarnessError("%s looks like the folder of one machine (it holds %s directly); %s, such as %s"
                               % (src, "machine.json" if "machine.json" in top else "result files", expected,
                                  os.path.dirname(os.path.abspath(src))))
        found, machines = [], 0
        for machine in top:
            mdir = os.path.join(src, machine)
            if not os.path.isdir(mdir):
                continue
            names = sorted(os.listdir(mdir))
            machines += "machine.json" in names
            found += [(machine, n) for n in names if n.endswith(".json") and n not in SKIP_FILES]
    except OSError as exc:
        raise HarnessError("cannot read %s: %s" % (src, exc.strerror or exc)) from None
    if not found and not machines and "benchmarks.json" not in top:
        raise HarnessError("%s holds no asv results; %s" % (src, expected))
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="asv results folders to merge in")
    parser.add_argument("--into", required=True, metavar="DEST", help="the results folder to merge into (created if missing)")
    parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    parser.add_argument("--wait", type=float, default=LOCK_WAIT, metavar="SECONDS",
                        help="how long to wait for another merge into DEST to finish (default: %g; 0: give up "
                             "at once)" % LOCK_WAIT)
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def _benchmarks_conflict(name: str, a: Dict[str, Any], b: Dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return "benchmark %s is defined differently (%s)" % (name, ", ".join(keys))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Merge:
    """The destination's files as the merge builds them (path -> JSON), where each came from, counts."""

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.out: Dict[str, Dict[str, Any]] = {}
        self.origin: Dict[str, str] = {}
        self.counts = {"files": 0, "benchmarks": 0, "results": 0, "merged_files": 0}

    def existing(self, rel: str) -> Optional[Dict[str, Any]]:
        """The file ``rel`` as merged so far, or as the destination holds it, or None."""
        if rel in self.out:
            return self.out[rel]
        path = os.path.join(self.dest, rel)
        if not os.path.lexists(path):
            return None
        name = os.path.basename(rel)
        reader = {"benchmarks.json": read_benchmarks_file, "machine.json": read_machine_file}.get(name)
        data = (reader or read_result_file)(path)
        self.out[rel] = data
        self.origin[rel] = path
        return data

    def add_benchmarks(self, bpath: str, bench: Dict[str, Any]) -> None:
        have = self.existing("benchmarks.json")
        merged = dict(have) if have else {}
        for name, definition in bench.items():
            if name == "version":
                if have and have.get("version") not in (None, definition):
                    raise MergeConflict("%s has benchmarks.json version %r, %s has %r"
                                        % (bpath, definition, self.origin["benchmarks.json"], have.get("version")))
                merged[name] = definition
                continue
            if name in merged and _canonical(merged[name]) != _canonical(definition):
                raise MergeConflict("%s and %s: %s; run both with the same benchmark code"
                                    % (bpath, self.origin["benchmarks.json"],
                                       _benchmarks_conflict(name, merged[name], definition)))
            if name not in merged:
                self.counts["benchmarks"] += 1
            merged[name] = definition
        self.out["benchmarks.json"] = merged
        self.origin["benchmarks.json"] = bpath

    def add_machines(self, src: str) -> None:
        for machine in sorted(os.listdir(src)):
            mpath = os.path.join(src, machine, "machine.json")
            if not os.path.lexists(mpath):
                continue
            rel = os.path.join(machine, "machine.json")
            data = read_machine_file(mpath)
            have = self.existing(rel)
            if have is not None and _canonical(have) != _canonical(data):
                raise MergeConflict("machine %r is described differently in %s and %s; rename one "
                                    "machine (asv machine --machine NAME)" % (machine, mpath, self.origin[rel]))
            self.out[rel] = data
            self.origin[rel] = mpath

    def add_results(self, src: str, results: List[Tuple[str, str, Dict[str, Any]]]) -> None:
        for machine, name, data in results:
            path = os.path.join(src, machine, name)
            rel = os.path.join(machine, name)
            have = self.existing(rel)
            self.counts["results"] += len(data["results"])
            if have is None:
                self.out[rel] = data
                self.origin[rel] = path
                self.counts["files"] += 1
                continue
            self.out[rel] = _merge_result(have, data, self.origin[rel], path)
            self.origin[rel] = "%s + %s" % (self.origin[rel], path)
            self.counts["merged_files"] += 1


def plan(sources: List[str], dest: str) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, int]]:
    """Every file the destination will hold after the merge (path -> JSON), and counts.

    Raises MergeConflict before anything is written.
    """
    listed = {}
    for src in sources:
        if os.path.realpath(src) == os.path.realpath(dest):
            raise HarnessError("source %s is the destination itself" % src)
        listed[src] = check_source(src)
    m = _Merge(dest)
    have_defs = m.existing("benchmarks.json")
    project = _modules(have_defs or ())  # the suites of the destination, then of every source merged
    for src in sources:
        bpath = os.path.join(src, "benchmarks.json")
        bench = read_benchmarks_file(bpath) if os.path.lexists(bpath) else None
        results = [(machine, name, read_result_file(os.path.join(src, machine, name))) for machine, name in listed[src]]
        theirs = _modules(bench or ()) | {mod for _, _, data in results for mod in _modules(data["results"])}
        if project and theirs and not project & theirs:
            raise MergeConflict("%s holds results of another project: its benchmarks (modules %s) share no module "
                                "with those of %s (%s); merge results of one project only"
                                % (src, ", ".join(sorted(theirs)[:5]),
                                   dest if have_defs else ", ".join(sources[:sources.index(src)]),
                                   ", ".join(sorted(project)[:5])))
        project |= theirs
        if bench is not None:
            m.add_benchmarks(bpath, bench)
        m.add_machines(src)
        m.add_results(src, results)
    return m.out, m.counts


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


def merge(sources: List[str], dest: str, dry_run: bool = False, wait: float = LOCK_WAIT,
          on_wait: Optional[Callable[[str], None]] = None) -> Dict[str, int]:
    """Merge ``sources`` into ``dest``; returns counts. Raises MergeConflict, writing nothing.

    ``dest`` is locked from the first read to the last write (see ``locked``).
    """
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise HarnessError("--into %s is not a folder" % dest)
    if not os.path.isdir(dest):
        files, counts = plan(sources, dest)  # conflicts before the folder is created
        if dry_run:
            return counts
        try:
            os.makedirs(dest, exist_ok=True)
        except OSError as exc:
            raise HarnessError("cannot create the folder %s: %s" % (dest, exc.strerror or exc)) from None
    with locked(os.path.realpath(dest), wait, on_wait):
        if not dry_run:
            remove_leftovers(dest)
        files, counts = plan(sources, dest)  # again, under the lock: another merge may have written meanwhile
        if not dry_run:
            write(files, dest)
    return counts


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) while the merge runs, so that write_atomic removes its temporary file."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(args: argparse.Namespace) -> int:
    if not args.wait >= 0:
        raise HarnessError("--wait must be a number of seconds, 0 or more (got %s)" % args.wait)
    with _sigterm_unwinds():
        counts = merge(args.sources, args.into, args.dry_run, args.wait,
                       None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True)))
    if not args.quiet:
        print("%s %d result files (%d merged from shards), %d benchmark results, %d new benchmark definitions into %s"
              % ("would merge" if args.dry_run else "merged", counts["files"] + counts["merged_files"],
                 counts["merged_files"], counts["results"], counts["benchmarks"], args.into), file=sys.stderr)
    return 0
