"""harness.lanes: the timed jobs first with nothing beside them, then the rest, rendering beside."""
from __future__ import annotations

import threading
import time

import pytest

from harness import lanes


def test_timed_jobs_run_first_alone_then_the_untimed_with_the_rendering_beside():
    seen = []
    main = threading.get_ident()
    busy = threading.Event()  # set while a timed job runs

    def job(name, timed=False):
        def run():
            if timed:
                busy.set()
            seen.append((name, threading.get_ident() == main, time.perf_counter()))
            time.sleep(0.05)
            busy.clear()

            def render():
                assert not busy.is_set(), "a render ran beside a timed job"
                seen.append(("render " + name, threading.get_ident() == main, time.perf_counter()))
            return render
        return run

    lanes.run([job("aliasing", True), job("pickle", True)], [job("containers"), job("allocator")])
    here = {name: on_main for name, on_main, _ in seen}
    at = {name: t for name, _, t in seen}
    assert here == {"aliasing": True, "pickle": True, "containers": True, "allocator": True,
                    "render aliasing": False, "render pickle": False, "render containers": False,
                    "render allocator": False}
    assert at["aliasing"] < at["pickle"] < at["containers"] < at["allocator"]
    assert min(t for name, t in at.items() if name.startswith("render")) > at["pickle"] + 0.04
    order = [name for name, _, _ in seen if name.startswith("render")]
    assert order == ["render aliasing", "render pickle", "render containers", "render allocator"]


def test_an_error_in_a_render_is_raised_in_the_caller_and_stops_the_measuring():
    ran = []

    def boom():
        raise ValueError("broken plot")

    def untimed(i):
        def job():
            time.sleep(0.05)
            ran.append(i)
        return job

    with pytest.raises(ValueError, match="broken plot"):
        lanes.run([lambda: boom], [untimed(i) for i in range(40)])
    assert len(ran) < 40


def test_an_interrupt_stops_the_renderer_and_goes_on_to_the_caller():
    rendered = []
    started = threading.Event()

    def slow_render():
        started.set()
        time.sleep(0.3)
        rendered.append(1)

    def interrupted():
        started.wait(5)
        raise KeyboardInterrupt

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        lanes.run([lambda: slow_render] + [lambda: slow_render] * 5, [interrupted])
    assert time.perf_counter() - t0 < 5 and len(rendered) <= 2


def test_the_report_times_alone_first_and_renders_after(monkeypatch):
    """report.measure_columns: aliasing and pickle (timed) of every column first, then containers
    and allocator, all measured in the calling thread; every topic rendered in the other thread,
    after the timed ones; entries back in the topics' order, each column dated."""
    from harness import report
    from harness.runner import Measured

    main = threading.get_ident()
    seen, rendered = [], []

    def measure(label):
        def m(name, options):
            seen.append((label, name, threading.get_ident() == main))
            return Measured(name, {})
        return m

    monkeypatch.setattr(report, "render", lambda entry, *a: rendered.append((entry["topic"], len(seen)))
                        or entry.update(result="rendered"))
    columns = [report.Target(label, report.this_run(label), measure(label)) for label in ("a", "b")]
    got = report.measure_columns(columns, list(report.TOPIC_ORDER), False, True, False)
    assert seen == [("a", "pickle", True), ("a", "aliasing", True), ("b", "pickle", True), ("b", "aliasing", True),
                    ("a", "containers", True), ("a", "allocator", True), ("b", "containers", True),
                    ("b", "allocator", True)]
    assert len(rendered) == 8 and min(after for _, after in rendered) >= 4  # none before the timed ones ended
    for target, entries in got:
        assert [e["topic"] for e in entries] == list(report.TOPIC_ORDER)
        assert {e["result"] for e in entries} == {"rendered"} and target.source["date"].endswith("UTC")


def test_the_report_measures_aliasing_at_the_sizes_its_claims_read_unless_full():
    from harness import registry, report
    from harness.topics.aliasing import workloads as W

    mod = registry.command("aliasing")
    quick = mod.topic.options(report.topic_args(mod, False, True))
    assert list(quick.sizes) == list(W.REPORT_SIZES) and (quick.repeat, quick.min_time) == (3, 0.005)
    full = mod.topic.options(report.topic_args(mod, True, True))
    assert list(full.sizes) == list(W.DEFAULT_SIZES) and (full.repeat, full.min_time) == (5, 0.01)
    assert W.REPORT_SIZES == (min(W.DEFAULT_SIZES), max(W.DEFAULT_SIZES))
    containers = registry.command("containers")
    assert containers.topic.options(report.topic_args(containers, False, True)).size_list() == [100_000]
