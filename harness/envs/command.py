"""``memharness envs``: create, list, remove and locate the managed environments; print the matrix."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import List, Optional

from harness.envs import build, store, wheels
from harness.envs.matrix import EnvSpec, by_name, definition, render
from harness.errors import HarnessError

HELP = "managed environments of the matrix (CPython 3.8-3.13, Theano, PyTensor): create, list, remove, path, matrix"
DESCRIPTION = HELP + """

  memharness envs create [NAME ...|all]   make them (default: all); ready ones are reused
  memharness envs list                    every environment of the matrix and its state
  memharness envs remove [NAME ...|all]   delete them
  memharness envs path NAME               the interpreter of one (for scripts)
  memharness envs matrix [--format F]     the matrix: json (the list), github (GitHub Actions
                                          strategy.matrix), asv (the lines of asv.conf.json)

Where: $MEMHARNESS_ENVS_DIR, else $XDG_CACHE_HOME/memharness/envs, else ~/.cache/memharness/envs
(mode 0700). Each is a virtualenv with the project installed from this source tree (its C++
extension built for that Python: minutes each, most of it the build) by uv when it is on PATH, else venv and pip.
An environment is reused while the project's version, its sources and the requirements are those
it was made from. Topics run in them with --python NAME, --python 3.12 or --python all.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", metavar="DIR",
                        help="the folder of the environments (default: $MEMHARNESS_ENVS_DIR, else the cache folder)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    names = ", ".join(by_name())
    p = sub.add_parser("create", help="make environments (default: all of them)")
    p.add_argument("names", nargs="*", metavar="NAME", help="environments, or all: %s" % names)
    p.add_argument("--quiet", "-q", action="store_true", dest="quiet_create", help="no progress on stderr")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="environments made at once (default: 2 where there are 2 cores or more, else 1)")
    sub.add_parser("list", help="every environment of the matrix and its state (the default action)")
    p = sub.add_parser("remove", help="delete environments")
    p.add_argument("names", nargs="+", metavar="NAME", help="environments, or all")
    p = sub.add_parser("path", help="print the interpreter of an environment that is ready")
    p.add_argument("name", metavar="NAME")
    p = sub.add_parser("matrix", help="print the matrix's definition")
    p.add_argument("--format", choices=("json", "github", "asv"), default="json",
                   help="json: the list; github: the GitHub Actions matrix; asv: asv.conf.json's lines")


def selected(names: List[str]) -> List[EnvSpec]:
    """The environments named (or every one for 'all' or none), in the matrix's order."""
    specs = by_name()
    if not names or "all" in names:
        return definition()
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise HarnessError("no environment %s in the matrix (choose from: all, %s)"
                           % (", ".join(map(repr, unknown)), ", ".join(specs)))
    return [s for s in definition() if s.name in names]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def default_jobs() -> int:
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def create(names: List[str], quiet: bool, jobs: Optional[int] = None) -> int:
    """Make the environments named, ``jobs`` at a time: first one per CPython version (each builds
    that version's wheel), then the others, which install the wheel already built."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from harness.core.progress import Progress

    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise HarnessError("--jobs %d: give 1 or more" % jobs)
    top = store.source_tree()
    specs = selected(names)
    order = [s for s in specs if s.backend != "theano"] + [s for s in specs if s.backend == "theano"]
    store.root(create=True)
    wheels.uv_bin()  # before the threads: see its docstring
    failed, lock = [], threading.Lock()
    with Progress(build.STEPS * len(specs), "envs create", enabled=not quiet) as progress:
        def step(note: str) -> None:
            with lock:
                progress.step(note)

        def one(spec: EnvSpec) -> None:
            try:
                done = build.create(spec, top, step, _say)
            except HarnessError as exc:
                if len(specs) == 1:
                    raise
                with lock:
                    failed.append(str(exc))
                return
            with lock:
                print("%s: %s (%s)" % (spec.name, done, store.env_python(spec.name)), flush=True)

        if jobs == 1 or len(order) == 1:
            for spec in order:
                one(spec)
        else:
            pool = ThreadPoolExecutor(max_workers=jobs)
            try:
                for future in [pool.submit(one, spec) for spec in order]:
                    future.result()
            except BaseException:  # Ctrl-C, SIGTERM: stop what the threads run; they clean up
                build.stop_all(pool)
                raise
            pool.shutdown()
    for line in failed:
        print("memharness envs create: error: %s" % line, file=sys.stderr)
    return 2 if failed else 0


def list_envs() -> int:
    try:
        top = store.source_tree()
    except HarnessError:
        top = None
    store.root()  # a folder that cannot be used is an error before the table starts
    print("%-18s %-12s %-12s %-10s %s" % ("name", "state", "python", "backend", "interpreter / modes"))
    for spec in definition():
        state = store.status(spec, top)
        stamp = store.read_stamp(spec.name) or {}
        version = stamp.get("python_version") or spec.python
        extra = store.env_python(spec.name) if state != "not created" else ""
        if stamp.get("backend_version"):
            extra += "  %s %s%s" % (spec.backend, stamp["backend_version"],
                                    (" modes " + ",".join(stamp.get("modes") or [])) if spec.modes else "")
        print("%-18s %-12s %-12s %-10s %s" % (spec.name, state, version, spec.backend or "-", extra))
    print("folder: %s" % store.root())
    return 0


def remove(names: List[str]) -> int:
    for spec in selected(names):
        with store.locked(spec.name):
            gone = os.path.exists(store.env_dir(spec.name))
            shutil.rmtree(store.env_dir(spec.name), ignore_errors=True)
            log = build.log_path(spec.name)
            if os.path.exists(log):
                os.remove(log)
        print("%s: %s" % (spec.name, "removed" if gone else "not created"))
    return 0


def main(args: argparse.Namespace) -> int:
    if args.dir:
        os.environ["MEMHARNESS_ENVS_DIR"] = os.path.abspath(args.dir)
    action = args.action or "list"
    if action == "create":
        return create(list(args.names), args.quiet or args.quiet_create, args.jobs)
    if action == "list":
        return list_envs()
    if action == "remove":
        return remove(list(args.names))
    if action == "path":
        from harness.envs import resolve

        if args.name not in by_name():
            raise HarnessError("no environment %r in the matrix (choose from: %s)" % (args.name, ", ".join(by_name())))
        print(resolve(args.name)[0].python)
        return 0
    sys.stdout.write(render(args.format))
    return 0
