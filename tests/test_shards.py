"""Shard and merge for real: two asv runs of one commit, each with half the benchmarks, into separate
results folders, merged with ``memharness merge-results``, publish the same data as one run of both.

The cheapest real asv run: ``asv run --python=same --quick --set-commit-hash HEAD`` (the interpreter
running the tests, no environment to build) of two deterministic figures of the allocator (pymalloc's
arena and pool sizes), split by ``--bench``. Everything happens in a temporary folder with its own
asv.conf.json and its own HOME (asv keeps the machine in ~/.asv-machine.json): the repository's
results/ and the user's asv machine are not touched.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import asv_conf

from harness import merge

# three asv runs (benchmark discovery each) and two publishes: 43 s on 2 busy cores, under the 60 s that
# would make it a slow test

REPO = Path(__file__).resolve().parents[1]
SHARDS = ["^bench_allocator\\.Geometry\\.track_arena_size$", "^bench_allocator\\.Geometry\\.track_pool_size$"]


def asv(tmp: Path, results: str, *args: str) -> None:
    conf = asv_conf()
    conf.update(repo=str(REPO), benchmark_dir=str(REPO / "benchmarks"), results_dir=str(tmp / results),
                html_dir=str(tmp / ("html-" + results)), env_dir=str(tmp / "env"),
                branches=["HEAD"])  # publish graphs the commits of a branch: the checked-out one, whatever its name
    path = tmp / ("asv-%s.conf.json" % results)
    path.write_text(json.dumps(conf))
    env = dict(os.environ, HOME=str(tmp / "home"))
    if subprocess.run([sys.executable, "-c", "import harness.errors"], cwd=tmp, capture_output=True).returncode:
        env["ASV_PYTHONPATH"] = str(REPO)  # harness not installed (a source tree): asv drops PYTHONPATH, not this
    proc = subprocess.run([sys.executable, "-m", "asv", args[0], "--config", str(path), *args[1:]], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, "asv %s failed:\n%s\n%s" % (" ".join(args), proc.stdout[-3000:], proc.stderr[-3000:])


def published(html: Path) -> dict:
    """Every data file asv publish wrote (index.json and the graphs), path -> JSON; not info.json's timestamp
    (when publish ran)."""
    data = {str(p.relative_to(html)): json.loads(p.read_text()) for p in sorted(html.rglob("*.json"))}
    data["info.json"].pop("timestamp")
    return data


def test_two_shards_merged_publish_what_one_run_publishes(tmp_path):
    pytest.importorskip("asv", reason="pip install -e '.[asv]'")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    if not commit:
        pytest.skip("not a git checkout")
    (tmp_path / "home").mkdir()
    asv(tmp_path, "one", "machine", "--yes", "--machine", "shardbox")
    run = ["run", "--python=same", "--quick", "--machine", "shardbox", "--set-commit-hash", commit]
    asv(tmp_path, "shard-a", *run, "--bench", SHARDS[0])
    asv(tmp_path, "shard-b", *run, "--bench", SHARDS[1])
    asv(tmp_path, "one", *run, "--bench", SHARDS[0], "--bench", SHARDS[1])

    merge.merge([str(tmp_path / "shard-a"), str(tmp_path / "shard-b")], str(tmp_path / "merged"))
    asv(tmp_path, "merged", "publish")
    asv(tmp_path, "one", "publish")

    got, want = published(tmp_path / "html-merged"), published(tmp_path / "html-one")
    assert sorted(got) == sorted(want)
    assert got == want
    graphs = [k for k in want if k.endswith(("track_arena_size.json", "track_pool_size.json")) and "summary" not in k]
    assert len(graphs) == 2, graphs
    values = [point[1] for k in graphs for point in want[k]]
    assert all(isinstance(v, (int, float)) and v > 0 for v in values), values
    # the gate reads real asv output: the merged shards against the one run, figure by figure (deterministic bytes)
    from harness import cli

    assert cli.main(["compare", str(tmp_path / "merged"), str(tmp_path / "one"), "--all"]) == 0
    shutil.rmtree(tmp_path / "env", ignore_errors=True)
