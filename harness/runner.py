"""The one runner: from a topic's plan to its rows.

It owns what every topic needs around its measurements: cases run ``plan.jobs`` at a time (each
case starts child processes of its own), the memory guard over the cases that run at once,
progress stepped from the main thread as cases finish, Ctrl-C and SIGTERM (every child of every
case stopped before the interrupt goes on), skips (a case that raises BackendMissing) and
failures (a case whose child died: its label and error, the other cases go on). A run in which
cases failed and none of the plan's essential cases measured anything fails with ChildError.
"""
from __future__ import annotations

import importlib
import platform
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from harness.core import children, memory
from harness.core.progress import Progress
from harness.errors import BackendMissing, ChildError
from harness.topic import SKIPS, Plan, Row, Rows, Skip, Topic, frames


@dataclass
class Measured:
    """What a run of one topic measured: rows by kind, in plan order, and what it could not."""

    topic: str
    rows: Rows
    skips: List[Skip] = field(default_factory=list)
    failures: List[str] = field(default_factory=list)  # "case label: error"
    notes: List[str] = field(default_factory=list)
    seconds: float = 0.0
    python: str = field(default_factory=platform.python_version)  # the CPython that measured

    def all_notes(self) -> List[str]:
        return list(self.notes) + [s.note() for s in self.skips] + ["failed: %s" % f for f in self.failures]


def guard(plan: Plan, topic: str) -> None:
    """Refuse, before anything runs, a plan whose ``jobs`` largest cases would not fit at once."""
    biggest = sorted(plan.cases, key=lambda c: c.estimate, reverse=True)[: max(plan.jobs, 1)]
    need = sum(c.estimate for c in biggest)
    if need > 0:
        names = ", ".join(c.label for c in biggest[:3]) + (", ..." if len(biggest) > 3 else "")
        at_once = ", %d at once" % len(biggest) if len(biggest) > 1 else ""
        memory.check_fits(need, "%s: %s%s" % (topic, names, at_once))


def measure(topic: Topic, options: Any, *, quiet: bool = True) -> Measured:
    """Plan, guard, run every case and gather the rows; see the module's docstring."""
    t0 = time.perf_counter()
    plan = topic.plan(options)
    guard(plan, topic.name)
    got: Dict[int, Mapping[str, List[Row]]] = {}
    skips: List[Skip] = list(plan.skips)
    failures: List[str] = []
    with Progress(len(plan.cases), topic.name, enabled=not quiet) as progress:
        with ThreadPoolExecutor(max_workers=max(1, plan.jobs)) as pool:
            futures: Dict[Future, int] = {pool.submit(topic.execute, c, options): i for i, c in enumerate(plan.cases)}
            try:
                for fut in as_completed(futures):  # progress from this thread only, as cases finish
                    i = futures[fut]
                    progress.step(plan.cases[i].label)
                    try:
                        answer = dict(fut.result())
                        skips.extend(Skip(**r) for r in answer.pop(SKIPS, ()))  # parts of the case (topic.SKIPS)
                        got[i] = answer
                    except BackendMissing as exc:
                        skips.append(Skip(plan.cases[i].label, "%s: %s" % (exc.backend, exc.reason), exc.install))
                    except ChildError as exc:
                        failures.append("%s: %s" % (plan.cases[i].label, exc))
            except BaseException:
                for f in futures:
                    f.cancel()
                children.stop_children()  # those of the other threads too: the pool waits for them
                raise
    by_kind: Dict[str, List[Row]] = {}
    for i in sorted(got):
        for k, rows in got[i].items():
            by_kind.setdefault(k, []).extend(rows)
    essential = set(plan.essential or [c.label for c in plan.cases])
    if failures and not any(any(rows for rows in got[i].values()) for i in got if plan.cases[i].label in essential):
        raise ChildError("nothing was measured: every case that was tried failed: %s" % "; ".join(failures))
    measured = topic.finish(frames(by_kind), options)
    return Measured(topic.name, measured, skips, failures, list(plan.notes), time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# A topic in another interpreter: that interpreter's own installed harness runs it

MEASURE_IN_TIMEOUT = 6 * 3600.0  # seconds: a whole topic, --full included


def measure_in(python: str, topic_name: str, options: Any, *, environ: Optional[Dict[str, str]] = None,
               timeout: float = MEASURE_IN_TIMEOUT) -> Measured:
    """``measure`` of one topic, run by the harness installed in ``python``'s own environment (a
    ``memharness envs`` environment, or any interpreter with memharness installed), in a child
    started as harness.core.children starts them (nothing imported from a working folder; stopped
    with everything it started on Ctrl-C or SIGTERM). ``options`` (the topic's Options dataclass)
    goes as JSON, the rows, skips, failures and notes come back as JSON; ``environ``: variables the
    run needs (THEANO_FLAGS). This very interpreter: ``measure`` itself."""
    from harness import registry

    if children._same_interpreter(python):
        return measure(registry.topic(topic_name), options)
    reply = children.run_child("harness.runner:measure_json", {"topic": topic_name, "options": asdict(options)},
                               python=python, env=environ, timeout=timeout, own=True)
    return from_json(reply)


def _jsonable(value: Any) -> Any:
    """Rows' values as JSON: numpy scalars as numbers, tuples as lists, anything else as text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        try:
            return _jsonable(value.item())
        except (ValueError, TypeError):
            pass
    return str(value)


def measure_json(topic: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The child's side of ``measure_in``: the topic's Options rebuilt from JSON, measured here."""
    from harness import registry

    cls = importlib.import_module(registry.TOPICS[topic]).Options
    got = measure(registry.topic(topic), cls(**options))
    return {"topic": got.topic, "python": got.python, "seconds": got.seconds, "notes": list(got.notes),
            "failures": list(got.failures), "skips": [asdict(s) for s in got.skips],
            "rows": {k: {"columns": [str(c) for c in df.columns], "data": _jsonable(df.values.tolist())}
                     for k, df in got.rows.items()}}


def from_json(reply: Dict[str, Any]) -> Measured:
    import pandas as pd

    rows = {k: pd.DataFrame(v["data"], columns=v["columns"]) for k, v in reply["rows"].items()}
    return Measured(reply["topic"], rows, [Skip(**s) for s in reply["skips"]], list(reply["failures"]),
                    list(reply["notes"]), float(reply["seconds"]), str(reply["python"]))
