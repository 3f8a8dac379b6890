"""``memharness export-pyperf RESULTS -o FILE``: the time figures of one commit as a pyperf BenchmarkSuite.

RESULTS is a results folder or one result file (read as ``memharness compare`` reads them). Each
time_ benchmark, parameter set and environment becomes one pyperf benchmark named
``benchmark(params) [environment]``; each result file of the commit is one pyperf run whose values
are asv's samples (``asv run --record-samples``) or, without them, asv's one result (its median).
The file is written with pyperf's own API, so ``python -m pyperf compare_to base.json new.json`` and
pyperf's other commands read it. Byte and count figures stay in ``memharness compare``: pyperf's
statistics are made for timings.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List

from harness.errors import HarnessError
from harness.resultset import ResultSet, load_set, short_env

HELP = "write the time figures of an asv result set as pyperf JSON (for pyperf compare_to)"
DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="asv results folder or result file")
    parser.add_argument("--output", "-o", required=True, metavar="FILE", help="the pyperf JSON file to write "
                        "(.json, or .json.gz compressed)")
    parser.add_argument("--commit", metavar="HASH", help="the commit to export (when RESULTS holds several)")
    parser.add_argument("--benchmarks", metavar="FILE", help="benchmarks.json to read the units from")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")


def _name(env: str, bench: str, params: str) -> str:
    return "%s%s [%s]" % (bench, "(%s)" % params if params else "", short_env(env))


def suite(rs: ResultSet) -> Any:
    """A pyperf.BenchmarkSuite of the time figures of ``rs``; None when it has none."""
    import pyperf

    benchmarks = []
    for (env, bench, params), fig in sorted(rs.figures.items()):
        if fig.kind != "time":
            continue
        values = [v for v in fig.runs if math.isfinite(v) and v > 0]
        if not values:
            continue
        meta: Dict[str, Any] = {"name": _name(env, bench, params), "unit": "second",
                                "commit_id": rs.commit, "description": "asv %s, environment %s" % (bench, env)}
        samples = [v for v in fig.samples if math.isfinite(v) and v > 0]
        runs: List[Any] = []
        if len(fig.runs) == 1 and samples:
            runs.append(pyperf.Run(samples, metadata=meta, collect_metadata=False))
        else:  # several result files: one run each, asv's value (their samples are pooled in fig.samples)
            runs += [pyperf.Run([v], metadata=meta, collect_metadata=False) for v in values]
        benchmarks.append(pyperf.Benchmark(runs))
    return pyperf.BenchmarkSuite(benchmarks) if benchmarks else None


def main(args: argparse.Namespace) -> int:
    from harness.output import check_writable, write_atomic

    try:
        import pyperf  # noqa: F401
    except ImportError:
        raise HarnessError("export-pyperf needs pyperf (pip install pyperf, or pip install 'memharness[asv]')") from None
    check_writable(args.output)
    rs = load_set(args.results, args.commit, args.benchmarks)
    s = suite(rs)
    if s is None:
        raise HarnessError("%s holds no time figure with a value for commit %s" % (args.results, rs.commit[:8]))
    import tempfile

    tmpdir = tempfile.mkdtemp(prefix="memharness-pyperf-")
    try:  # pyperf writes to a path (compressed when it ends in .gz): through a private folder, then atomically
        tmp = os.path.join(tmpdir, "suite.json.gz" if args.output.endswith(".gz") else "suite.json")
        s.dump(tmp, replace=True)
        with open(tmp, "rb") as fh:
            write_atomic(args.output, fh.read())
    finally:
        import shutil

        shutil.rmtree(tmpdir, ignore_errors=True)
    if not args.quiet:
        print("wrote %d pyperf benchmarks of commit %s to %s" % (len(s), rs.commit[:8], args.output), file=sys.stderr)
    return 0
