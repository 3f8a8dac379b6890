"""Time: calibrated loops and their summary (the CLI's timer; asv times with its own)."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Dict, Iterable, List, Optional


def time_call(
    func: Callable[[], Any],
    *,
    repeat: int = 5,
    min_time: float = 0.05,
    max_time: float = 10.0,
    setup: Optional[Callable[[], Any]] = None,
) -> Dict[str, float]:
    """Time ``func()`` like pyperf/timeit: calibrated loops, several samples.

    Each sample runs ``number`` calls, ``number`` chosen so a sample lasts at
    least ``min_time``. Returns per-call seconds: median, min, max, the
    interquartile spread, the number of samples and calls per sample.
    ``setup`` (untimed) runs before every sample.
    """
    if setup:
        setup()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 20:
            break
        number = max(number * 2, int(number * min_time / max(dt, 1e-9) * 1.2))
    samples: List[float] = [dt / number]
    deadline = time.perf_counter() + max_time
    while len(samples) < repeat and time.perf_counter() < deadline:
        if setup:
            setup()
        t0 = time.perf_counter()
        for _ in range(number):
            func()
        samples.append((time.perf_counter() - t0) / number)
    return summarize(samples, number=number)


def summarize(samples: Iterable[float], number: int = 1) -> Dict[str, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0], s[0], s[0]]
    return {
        "median": statistics.median(s),
        "min": s[0],
        "max": s[-1],
        "iqr": q[2] - q[0],
        "samples": len(s),
        "number": number,
    }
