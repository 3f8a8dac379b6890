"""Can anything run beside a timing? What the report's memory topics do to the timed figures.

``memharness report`` runs its timed topics (pickle, aliasing) first, one at a time, with nothing
beside them, and the memory-only ones (containers, allocator) after (``harness.lanes``). This
measures what running those beside them would do, in the kindest form: in one environment, the
timed topics as the report measures them, ``--rounds`` times alone and as often with the memory
topics of the other environments running over and over in a thread of the idle scheduling class
(Linux ``SCHED_IDLE``: its processes get a core only when no timed process wants one),
alternating. Per figure (a median time per call) it compares beside with alone, against how much
two alone rounds differ, and says whether the claims' verdicts changed.

    python scripts/lane_noise.py [--env py3.12] [--rounds 3] [--topics pickle,aliasing]

Prints a table; the README's "Nothing beside a timing" holds its runs. Needs the environments of
``memharness envs create all``. About a minute a round for both topics.
"""
from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

from harness import claims, envs, registry, report, runner

VALUES = {"throughput": (("backend", "operation", "borrow", "bytes"), ("median_s",)),
          "cases": (("object", "size", "method"), ("dump_s", "load_s"))}


def figures(measured: Any) -> Dict[Tuple[Any, ...], float]:
    """(kind, key..., column) -> seconds, for every time per call the run measured."""
    out: Dict[Tuple[Any, ...], float] = {}
    for kind, (keys, values) in VALUES.items():
        df = measured.rows.get(kind)
        if df is None or df.empty:
            continue
        for _, r in df.iterrows():
            for v in values:
                x = r.get(v)
                if isinstance(x, float) and x == x and x > 0:
                    out[(kind,) + tuple(r[k] for k in keys) + (v,)] = x
    return out


class Load(threading.Thread):
    """The memory lane: the memory topics of other environments, in the idle class, until stopped."""

    def __init__(self, pythons: List[str]) -> None:
        super().__init__(daemon=True)
        self.pythons, self.stop, self.jobs = pythons, threading.Event(), 0

    def run(self) -> None:
        import os

        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread and what it starts
        while not self.stop.is_set():
            for python in self.pythons:
                for name in ("containers", "allocator"):
                    if self.stop.is_set():
                        return
                    report.run_topic(name, False, True, False, functools.partial(runner.measure_in, python))
                    self.jobs += 1


def measure(python: str, topics: List[str]) -> Tuple[Dict[Tuple[Any, ...], float], Dict[str, str]]:
    got, verdicts = {}, {}
    for name in topics:
        e = report.run_topic(name, False, True, False, functools.partial(runner.measure_in, python))
        if e["measured"] is None:
            raise SystemExit("%s could not run: %s" % (name, e["error"]))
        got.update(figures(e["measured"]))
        for v in claims.judge_all(list(registry.topic(name).claims), e["measured"].rows):
            verdicts[v.claim_id] = v.verdict
    return got, verdicts


def tally(verdicts: List[Any]) -> str:
    return ", ".join("%s %d" % (v, verdicts.count(v)) for v in sorted(set(map(str, verdicts))))


def log_ratio(a: float, b: float) -> float:
    return math.log(a / b)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="py3.12", help="the environment whose timed topics are measured")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--topics", default="pickle,aliasing", help="the timed topics to measure (default: both)")
    args = p.parse_args()
    target = envs.resolve(args.env)[0]
    others = [e.python for e in envs.resolve("all") if e.name != target.name]
    runs: Dict[str, List[Dict[Tuple[Any, ...], float]]] = {"alone": [], "beside": []}
    verdicts: Dict[str, List[Dict[str, str]]] = {"alone": [], "beside": []}
    t0 = time.time()
    for i in range(args.rounds):
        for mode in ("alone", "beside"):
            load = Load(others) if mode == "beside" else None
            if load:
                load.start()
                time.sleep(2.0)  # the lane at work before the first timing
            got, v = measure(target.python, args.topics.split(","))
            if load:
                load.stop.set()
                load.join()
            runs[mode].append(got)
            verdicts[mode].append(v)
            print("round %d %s: %d figures%s (%.0f s)" % (i + 1, mode, len(got), ", %d memory topics beside" %
                                                          load.jobs if load else "", time.time() - t0),
                  file=sys.stderr)
    keys = sorted(set.intersection(*(set(r) for rs in runs.values() for r in rs)), key=str)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in keys} for m, rs in runs.items()}
    rows = []
    for kind in VALUES:
        ks = [k for k in keys if k[0] == kind]
        for label, sel in (("all", ks), ("64 MB", [k for k in ks if 64_000_000 in k]),
                           ("4 KB", [k for k in ks if 4000 in k])):
            if not sel:
                continue
            noise = [abs(log_ratio(runs["alone"][0][k], runs["alone"][1][k])) for k in sel]
            shift = [log_ratio(med["beside"][k], med["alone"][k]) for k in sel]
            rows.append((kind, label, len(sel), statistics.median(noise), statistics.median(shift),
                         statistics.median(abs(s) for s in shift), sum(s > 0 for s in shift)))
    print("| figures | sizes | n | alone vs alone: median abs. log ratio | beside vs alone: median log ratio "
          "(bias) | median abs. log ratio | beside slower |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind, label, n, noise, bias, spread, slower in rows:
        print("| %s | %s | %d | %.3f | %+.3f | %.3f | %d of %d |" % (kind, label, n, noise, bias, spread, slower, n))
    changed = sorted({c for m in ("alone", "beside") for v in verdicts[m] for c in v
                      if len({vv.get(c) for mm in ("alone", "beside") for vv in verdicts[mm]}) > 1})
    print("\nverdicts that differ between any two runs: %s" % (", ".join(changed) or "none"))
    for c in changed:
        print("  %s: alone %s; beside %s" % (c, tally([v.get(c) for v in verdicts["alone"]]),
                                             tally([v.get(c) for v in verdicts["beside"]])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
