"""``memharness envs``: create, list, remove and locate the managed environments; print the matrix."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import List

from harness.envs import build, store
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
extension built for that Python: 1-3 minutes each) by uv when it is on PATH, else venv and pip.
An environment is reused while the project's version, its sources and the requirements are those
it was made from. Topics run in them with --python NAME, --python 3.12 or --python all.
"""


ACTIONS = ("create", "list", "remove", "path", "matrix")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=ACTIONS, default="list", metavar="ACTION",
                        help="create, list (the default), remove, path or matrix (see above)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="environments, or all: %s" % ", ".join(by_name()))
    parser.add_argument("--format", choices=("json", "github", "asv"), default="json",
                        help="of matrix: json (the list), github (the GitHub Actions matrix), asv (asv.conf.json's "
                             "lines) (default: json)")
    parser.add_argument("--quiet", "-q", action="store_true", help="create: no progress on stderr")


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


def create(names: List[str], quiet: bool) -> int:
    from harness.core.progress import Progress

    top = store.source_tree()
    specs = selected(names)
    store.root(create=True)
    failed = []
    with Progress(build.STEPS * len(specs), "envs create", enabled=not quiet) as progress:
        for spec in specs:
            try:
                done = build.create(spec, top, progress.step, _say)
            except HarnessError as exc:
                if len(specs) == 1:
                    raise
                failed.append(str(exc))
                continue
            print("%s: %s (%s)" % (spec.name, done, store.env_python(spec.name)))
    for line in failed:
        print("memharness envs create: error: %s" % line, file=sys.stderr)
    return 2 if failed else 0


def list_envs() -> int:
    try:
        top = store.source_tree()
    except HarnessError:
        top = None
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
    action, names = args.action, list(args.names)
    if action in ("list", "matrix") and names:
        raise HarnessError("envs %s takes no names (got %s)" % (action, " ".join(names)))
    if action == "create":
        return create(names, args.quiet)
    if action == "list":
        return list_envs()
    if action == "remove":
        if not names:
            raise HarnessError("envs remove: name the environments to remove, or all")
        return remove(names)
    if action == "path":
        from harness.envs import resolve

        if len(names) != 1 or names[0] not in by_name():
            raise HarnessError("envs path takes one environment of the matrix (%s)" % ", ".join(by_name()))
        print(resolve(names[0])[0].python)
        return 0
    sys.stdout.write(render(args.format))
    return 0
