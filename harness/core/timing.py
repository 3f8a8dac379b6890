"""Time: calibrated loops, warmups, samples from several processes, and whether two differ.

The discipline is pyperf's (https://pyperf.readthedocs.io/en/latest/run_benchmark.html): loops
calibrated so that one sample lasts at least ``min_time`` (timer resolution and call overhead
then stay small against it), warmup samples that are measured and thrown away (caches, lazy
imports, the first page faults), several samples per process, and samples from at least
``PROCESSES`` processes, because a process's own layout and state bias all its samples alike.
A topic that a verdict rests on runs its timed child ``PROCESSES`` times and joins the results
with :func:`merge`; :func:`compare` says whether two sets of samples differ significantly
(a two-sided Mann-Whitney U test from scipy) before any verdict calls one faster.

pyperf's own Runner is not used to take the samples: it drives benchmarks through its command
line and spawns one worker process per run, while here the timed call sits inside a child that
also measures memory and must time exactly one structure built once. Its JSON format is used for
export (``to_pyperf``), so ``python -m pyperf compare_to`` reads the figures.

:func:`time_call`, :func:`summarize` and :func:`merge` are standard library only and CPython 3.8
syntax (children of every interpreter import them); :func:`compare` and :func:`to_pyperf` run in
the parent and import scipy and pyperf when called.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

PROCESSES = 2  # timed children per figure that a verdict reads (pyperf's minimum is 2 as well)
WARMUPS = 1  # samples taken and dropped before the timed ones, per process
ALPHA = 0.01  # significance level of compare()


def time_call(
    func: Callable[[], Any],
    *,
    repeat: int = 5,
    min_time: float = 0.05,
    max_time: float = 10.0,
    setup: Optional[Callable[[], Any]] = None,
    warmups: int = WARMUPS,
) -> Dict[str, Any]:
    """Time ``func()``: calibrated loops, ``warmups`` dropped samples, then ``repeat`` samples.

    Each sample runs ``number`` calls, ``number`` chosen (doubling, then scaled) so a sample lasts
    at least ``min_time``; the calibration samples count as warmups. Samples stop early once
    ``max_time`` has passed (at least one is always taken). ``setup`` (untimed) runs before every
    sample. Returns the per-call seconds of every sample (``values``) and their summary
    (:func:`summarize`).
    """
    number, spent = _calibrate(func, min_time, setup)
    for _ in range(max(0, warmups - spent)):
        _sample(func, number, setup)
    values: List[float] = []
    deadline = time.perf_counter() + max_time
    while len(values) < max(1, repeat) and (not values or time.perf_counter() < deadline):
        values.append(_sample(func, number, setup))
    out = summarize(values, number=number)
    out["warmups"] = max(warmups, spent)
    return out


def _sample(func: Callable[[], Any], number: int, setup: Optional[Callable[[], Any]]) -> float:
    if setup:
        setup()
    t0 = time.perf_counter()
    for _ in range(number):
        func()
    return (time.perf_counter() - t0) / number


def _calibrate(func: Callable[[], Any], min_time: float, setup: Optional[Callable[[], Any]]) -> "tuple[int, int]":
    """(calls per sample, calibration samples taken): the first ``number`` whose sample lasts min_time."""
    number, taken = 1, 0
    while True:
        dt = _sample(func, number, setup) * number
        taken += 1
        if dt >= min_time or number >= 1 << 20:
            return number, taken
        number = max(number * 2, int(number * min_time / max(dt, 1e-9) * 1.2))


def summarize(samples: Iterable[float], number: int = 1, processes: int = 1) -> Dict[str, Any]:
    """The samples (per-call seconds) and their median, min, max, IQR, mean and stdev."""
    values = [float(v) for v in samples]
    if not values:
        raise ValueError("no samples to summarize")
    s = sorted(values)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    return {
        "values": values,
        "median": statistics.median(s),
        "min": s[0],
        "max": s[-1],
        "iqr": q[2] - q[0],
        "mean": statistics.fmean(s) if hasattr(statistics, "fmean") else statistics.mean(s),
        "stdev": statistics.stdev(s) if len(s) >= 2 else float("nan"),
        "samples": len(s),
        "number": number,
        "processes": processes,
        "runs": [values],  # the samples of each process, in order (pyperf: one Run per process)
    }


def merge(timings: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The samples of several processes' :func:`time_call` results as one summary."""
    if not timings:
        raise ValueError("no timings to merge")
    values = [v for t in timings for v in t["values"]]
    out = summarize(values, number=min(int(t["number"]) for t in timings),
                    processes=sum(int(t.get("processes", 1)) for t in timings))
    out["warmups"] = sum(int(t.get("warmups", 0)) for t in timings)
    out["runs"] = [list(r) for t in timings for r in t.get("runs", [t["values"]])]
    return out


def compare(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Dict[str, Any]:
    """Do the samples ``a`` and ``b`` (seconds) differ? A two-sided Mann-Whitney U test.

    Returns ``ratio`` (median b / median a), ``p`` (NaN when there are too few samples to test),
    ``significant`` (p < alpha) and ``faster``: "a", "b", or None when the difference is not
    significant (a tie is a tie).
    """
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = mb / ma if ma > 0 else float("nan")
    smallest = smallest_p(len(a), len(b))
    if smallest >= alpha:
        return {"ratio": ratio, "p": float("nan"), "significant": False, "faster": None,
                "why": "too few samples to test (%d and %d: the smallest p they can give is %.3g, not below %g)"
                       % (len(a), len(b), smallest, alpha)}
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(list(a), list(b), alternative="two-sided").pvalue)
    significant = p < alpha
    faster = ("a" if ma < mb else "b") if significant and ma != mb else None
    return {"ratio": ratio, "p": p, "significant": significant and faster is not None, "faster": faster, "why": ""}


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p a Mann-Whitney test of n1 against n2 samples can give (every sample
    of one below every sample of the other): 2 / C(n1 + n2, n1); 1 where either side is empty."""
    import math

    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1)) if hasattr(math, "comb") else min(
        1.0, 2.0 * math.factorial(n1) * math.factorial(n2) / math.factorial(n1 + n2))


def to_pyperf(name: str, timing: Mapping[str, Any], metadata: Optional[Mapping[str, Any]] = None) -> Any:
    """One :func:`time_call` / :func:`merge` result as a ``pyperf.Benchmark`` (values in seconds,
    loops = calls per sample), e.g. to ``pyperf.BenchmarkSuite([...]).dump(path)``."""
    import pyperf

    meta = {"name": name, "unit": "second", "loops": int(timing["number"])}
    meta.update(metadata or {})
    runs = [pyperf.Run([float(v) for v in values], metadata=meta, collect_metadata=False)
            for values in timing.get("runs", [timing["values"]])]
    return pyperf.Benchmark(runs)
