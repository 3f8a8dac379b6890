"""The ``memharness`` command: a thin layer over the topics' library API.

Each topic module (see TOPICS) provides:
  HELP: str                                   one line for --help
  add_arguments(parser) -> None               its own options
  run(args) -> harness.output.TopicResult     measure, in this run
  plot(result, path) -> None                  draw the --plot figure
The common options --format, --output, --plot and --quiet are added here.
Errors the user can fix print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from typing import Iterator, List, Optional

from harness import __version__
from harness.errors import HarnessError
from harness.output import FORMATS

TOPICS = ("containers", "allocator", "pickle", "aliasing")  # harness.registry: where each lives
# Commands that are not a single topic: name -> module with add_arguments(parser) and main(args) -> int
COMMANDS = {
    "report": "harness.report",
    "merge-results": "harness.merge",
    "claims": "harness.claims_cmd",
    "footprint": "harness.footprint",
    "pickle-cost": "harness.picklecost",
    "compare": "harness.compare",
    "export-pyperf": "harness.pyperf_export",
    "site": "harness.site",
    "envs": "harness.envs.command",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line: 'memharness X: error: ... (see --help)'."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        self.exit(2, "%s: error: %s (see %s --help)\n" % (self.prog, message, self.prog))


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return exc  # a command whose module this build does not have


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memharness",
        description="Measure what Python structures, pickling and Theano-style aliasing cost in memory and copies.",
    )
    parser.add_argument("--version", action="version", version="memharness " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    common.add_argument("--output", "-o", metavar="FILE", help="write the output to FILE instead of stdout")
    common.add_argument("--plot", metavar="FILE.png", help="also draw a plot to FILE.png (needs matplotlib)")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    from harness import registry

    for name, module_name in [(t, "") for t in TOPICS] + list(COMMANDS.items()):
        mod = registry.command(name) if name in TOPICS else _load(module_name)
        if isinstance(mod, Exception):
            continue
        p = sub.add_parser(
            name,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            parents=[common] if name in TOPICS else [],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(_module=mod, _kind="topic" if name in TOPICS else "command")
    return parser


def run_topic(mod, args: argparse.Namespace) -> int:
    from harness.output import check_outputs, emit, render

    check_outputs(args.output, args.plot)
    result = mod.run(args)
    emit(render(result, args.format), args.output, args.plot, lambda path: mod.plot(result, path), args.quiet)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread: a run stops on them as on Ctrl-C (children
    stopped, temporary folders removed, no partial output), with status 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _termination_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated for the time of the run (a signal that is ignored,
    as under nohup, stays ignored)."""
    saved = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            saved[sig] = signal.signal(sig, _raise_terminated)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        with _termination_as_interrupt():
            if args._kind == "topic":
                return run_topic(args._module, args)
            return int(args._module.main(args) or 0)
    except HarnessError as exc:
        print("memharness %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2
    except Terminated as exc:
        print("memharness %s: terminated by %s" % (args.command, signal.Signals(exc.signum).name), file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("memharness %s: interrupted" % args.command, file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
