"""The topics, in the order the CLI and the report show them, and the command adapter over each."""
from __future__ import annotations

import argparse
import importlib
from typing import Any, Dict, Iterator, List, Tuple

from harness.topic import Topic

TOPICS = {
    "containers": "harness.topics.containers",
    "allocator": "harness.topics.allocator",
    "pickle": "harness.topics.pickle",
    "aliasing": "harness.topics.aliasing",
}
# topics whose --python names the environments the whole topic runs in (harness.envs.resolve); the
# allocator's and aliasing's --python name the interpreters of their own children instead
RUNS_IN_ENVS = ("containers", "pickle")


def topic(name: str) -> Topic:
    """The Topic object of one topic (its package's ``TOPIC``)."""
    found: Topic = importlib.import_module(TOPICS[name]).TOPIC
    return found


def topics() -> Iterator[Topic]:
    for name in TOPICS:
        yield topic(name)


class Command:
    """A topic as the CLI and the report drive it: its arguments, a run from parsed arguments to
    a TopicResult (through the one runner), and its figure from that result's rows."""

    def __init__(self, t: Topic) -> None:
        self.topic = t
        self.HELP = t.help
        self.DESCRIPTION = t.description

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        self.topic.add_arguments(parser)

    def run(self, args: argparse.Namespace) -> Any:
        from harness import runner

        options = self.topic.options(args)
        if self.topic.name in RUNS_IN_ENVS and getattr(args, "python", None):
            return self.run_in_envs(args, options)
        return self.result(runner.measure(self.topic, options, quiet=getattr(args, "quiet", True)), options)

    def result(self, got: Any, options: Any) -> Any:
        """The TopicResult of a run's ``runner.Measured`` (wherever it was measured): tables,
        verdicts, notes (the plan's, skips, failures, the topic's own) and meta."""
        from harness.claims import judge_all
        from harness.output import TopicResult

        notes = got.all_notes() + list(self.topic.notes(got.rows, options))
        result = TopicResult(self.topic.name, self.topic.tables(got.rows, options),
                             judge_all(list(self.topic.claims), got.rows), notes,
                             meta=self.topic.meta(got.rows, options))
        result.meta.setdefault("seconds", round(got.seconds, 1))
        result.rows = got.rows
        return result

    def run_in_envs(self, args: argparse.Namespace, options: Any) -> Any:
        """The topic in each environment ``--python`` names (harness.envs.resolve), each by the
        harness installed there (runner.measure_in): the same tables, each row with the env and
        python it was measured in, the verdicts and notes of each environment marked with its name."""
        import sys

        from harness import envs, runner
        from harness.errors import HarnessError

        found = envs.resolve(args.python)
        if len(found) > 1 and getattr(args, "plot", None):
            raise HarnessError("--plot draws one environment's figure: give one --python, or leave --plot out")
        parts = []
        for env in found:
            if not getattr(args, "quiet", True):
                print("%s: measuring in %s (CPython %s, %s)" % (self.topic.name, env.name, env.version, env.python),
                      file=sys.stderr, flush=True)
            parts.append((env, runner.measure_in(env.python, self.topic.name, options, environ=env.environ)))
        return self.combine(parts, options, found.notes)

    def combine(self, parts: List[Tuple[Any, Any]], options: Any, notes: List[str]) -> Any:
        """One TopicResult from (Environment, Measured) pairs."""
        import pandas as pd

        from harness.claims import judge_all
        from harness.output import TopicResult

        tables: Dict[str, List[Any]] = {}
        rows: Dict[str, List[Any]] = {}
        verdicts, all_notes = [], list(notes)
        for env, got in parts:
            for name, df in self.topic.tables(got.rows, options).items():
                tables.setdefault(name, []).append(_tagged(df, env.name, got.python))
            for kind, df in got.rows.items():
                rows.setdefault(kind, []).append(_tagged(df, env.name, got.python))
            for v in judge_all(list(self.topic.claims), got.rows):
                v.evidence = "%s: %s" % (env.name, v.evidence)
                verdicts.append(v)
            all_notes += ["%s: %s" % (env.name, n) for n in got.all_notes() + list(self.topic.notes(got.rows, options))]
        meta = {"python": ", ".join(got.python for _, got in parts),
                "environments": [dict(name=e.name, python=e.python, version=got.python, backend=e.backend,
                                      seconds=round(got.seconds, 1)) for e, got in parts],
                "seconds": round(sum(got.seconds for _, got in parts), 1)}
        result = TopicResult(self.topic.name, {k: pd.concat(v, ignore_index=True) for k, v in tables.items()},
                             verdicts, all_notes, meta=meta)
        result.rows = {k: pd.concat(v, ignore_index=True) for k, v in rows.items()}
        return result

    def plot(self, result: Any, path: str) -> None:
        self.topic.figure(result.rows, path)


def _tagged(df: Any, env: str, version: str) -> Any:
    """``df`` with the environment and the CPython version it was measured in as its first columns,
    ``env`` and ``cpython`` (a topic's own ``python`` column may name something else: containers'
    Python structure)."""
    df = df.copy()
    df.insert(0, "cpython", version)
    df.insert(0, "env", env)
    return df


def command(name: str) -> Command:
    """What the CLI and the report load for a topic."""
    return Command(topic(name))


def names() -> List[str]:
    return list(TOPICS)
