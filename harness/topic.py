"""The shape every topic follows.

A topic is an object with the same stages, each a small piece of its folder
``harness/topics/<name>/``:

    options (a dataclass: the CLI and the asv suites both build it)
      -> plan(options): the cases, each JSON-able with its memory estimate, and the skips
      -> execute(case, options): runs in the parent, starts the child processes that
         measure, and returns rows in raw units (bytes, seconds, counts), by kind
      -> tables(rows, options), figure(rows, path) and the topic's claims: pure
         functions of the rows

``harness.runner`` owns everything between plan and rows (processes, jobs, progress, the
memory guard, Ctrl-C, skips); ``harness.claims`` holds the claim objects every consumer uses.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.claims import Claim

Row = Dict[str, Any]
# A kind of rows ``execute`` may return that are not figures: each row (what, reason, install) is a
# part of the case that could not run there, and the runner makes it a Skip (e.g. one backend of
# several measured in one process, not installed in that interpreter)
SKIPS = "skipped"
# A topic's rows: one table of raw figures per kind of row ("elements", "steps", "throughput", ...)
Rows = Dict[str, "pd.DataFrame"]


@dataclass(frozen=True)
class Case:
    """One unit of measurement work: what ``execute`` needs, as JSON-able parameters."""

    label: str  # what progress shows, unique within a plan: "list_int n=1000"
    params: Dict[str, Any]
    estimate: float = 0.0  # bytes of memory it may take at its peak, for the guard


@dataclass(frozen=True)
class Skip:
    """Something a run could not measure: what, why, and the command that installs what is missing."""

    what: str
    reason: str
    install: str = ""

    def note(self) -> str:
        return "%s skipped: %s%s" % (self.what, self.reason, ("; install with: %s" % self.install) if self.install else "")


@dataclass
class Plan:
    """The cases of a run, in the order their rows are reported, and what is skipped."""

    cases: List[Case]
    skips: List[Skip] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    jobs: int = 1  # cases that may run at once (each in child processes of its own)
    # the labels of the cases whose rows make a result (default: every case). A run in which cases
    # failed and none of these measured anything fails (e.g. aliasing: the numpy reference alone
    # is not a result when every backend that was tried failed)
    essential: List[str] = field(default_factory=list)


class Topic(Protocol):
    """What the CLI, the report, the asv reader and the suites know of a topic."""

    name: str
    help: str
    description: str
    claims: Sequence["Claim"]
    # whether any of its figures is a time: the report runs such topics first, one at a time, with
    # nothing beside them, and the others (byte counts only) after them (harness.lanes)
    timed: bool
    # the options (command-line words) the report measures it with, unless --full: what its
    # claims read, where that is less than the command's defaults
    report_args: Sequence[str]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def options(self, args: argparse.Namespace) -> Any: ...

    def plan(self, options: Any) -> Plan: ...

    def execute(self, case: Case, options: Any) -> Mapping[str, List[Row]]: ...

    def finish(self, rows: Rows, options: Any) -> Rows: ...

    def tables(self, rows: Rows, options: Any) -> Dict[str, "pd.DataFrame"]: ...

    def figure(self, rows: Rows, path: str) -> None: ...

    def meta(self, rows: Rows, options: Any) -> Dict[str, Any]: ...

    def notes(self, rows: Rows, options: Any) -> List[str]:
        """What the run says besides its tables, from its rows (after the plan's notes, skips and
        failures): e.g. which backend versions were measured."""
        ...

    def from_asv(self, tracked: "pd.DataFrame") -> Rows:
        """The topic's rows rebuilt from kept asv results of one Python version: ``tracked`` has the
        newest value of each of the topic's benchmarks and parameter sets (columns benchmark, e.g.
        "bench_containers.BytesPerElement.track_ratio_allocated"; args, the parameter values as a
        tuple; value). Only the kinds and columns the suites track are filled; the claims judge
        them with the same rules as a live run's rows."""
        ...


def frames(rows_by_kind: Mapping[str, List[Row]]) -> Rows:
    """Lists of row dicts -> one DataFrame per kind (kinds with no rows give empty frames)."""
    import pandas as pd

    return {kind: pd.DataFrame(rows) for kind, rows in rows_by_kind.items()}


def kind(rows: Rows, name: str) -> "pd.DataFrame":
    """The rows of one kind (an empty frame when the run has none)."""
    import pandas as pd

    got: Optional[pd.DataFrame] = rows.get(name)
    return got if got is not None else pd.DataFrame()
