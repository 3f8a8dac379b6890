"""The topics, in the order the CLI and the report show them, and the command adapter over each."""
from __future__ import annotations

import argparse
import importlib
from typing import Any, Iterator, List

from harness.topic import Topic

TOPICS = {
    "containers": "harness.topics.containers",
    "allocator": "harness.topics.allocator",
    "pickle": "harness.topics.pickle",
    "aliasing": "harness.topics.aliasing",
}


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

    def plot(self, result: Any, path: str) -> None:
        self.topic.figure(result.rows, path)


def command(name: str) -> Command:
    """What the CLI and the report load for a topic."""
    return Command(topic(name))


def names() -> List[str]:
    return list(TOPICS)
