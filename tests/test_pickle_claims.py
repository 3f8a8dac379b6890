"""The pickle topic's claim rules on made-up rows: every verdict each rule can give, rows without
the figures a rule reads, and the rows that ``TOPIC.from_asv`` rebuilds from asv's tracked figures
judged as the equivalent live rows are."""
from __future__ import annotations

import pandas as pd
import pytest

from harness.claims import judge_all
from harness.topics.pickle import DEFAULT, HIGHEST, METHODS, TOPIC
from harness.topics.pickle import claims as pc

MiB = 1 << 20


def row(obj, method, size=MiB, **kw):
    """A live "cases" row: every figure present, one payload of everything, times of 1 ms."""
    m = METHODS[method]
    base = dict(object=obj, size=size, payload=size, method=method, kind=m.kind, protocol=m.protocol,
                pickled=size, dump_s=1e-3, dump_min=1e-3, dump_iqr=0.0, load_s=1e-3, load_min=1e-3, load_iqr=0.0,
                dump_peak=size, load_peak=size, dump_copies=1.0, load_copies=1.0, equal=True, error=None,
                numpy_readable=None, library=None)
    base.update(kw)
    for op in ("dump", "load"):
        if op + "_peak" in kw and op + "_copies" not in kw:
            base[op + "_copies"] = kw[op + "_peak"] / size
    return base


def verdict(claim, rows):
    got = claim.judge({"cases": pd.DataFrame(rows)})
    return got.verdict if got is not None else None


def tracked(figures):
    """asv's tracked frame: {(benchmark method, object, size, method): value}."""
    return pd.DataFrame([{"benchmark": "bench_pickle.PickleMemory." + bench, "args": (o, s, m), "value": v}
                         for (bench, o, s, m), v in figures.items()])


def test_every_claim_says_nothing_of_rows_without_pickling():
    assert judge_all(pc.CLAIMS, {}) == []
    assert judge_all(pc.CLAIMS, {"cases": pd.DataFrame()}) == []
    assert [c.id for c in TOPIC.claims] == ["pickle.peak", "pickle.file", "pickle.getstate", "pickle.highest",
                                            "pickle.oob", "pickle.pkl_utils"]
    assert all(f.startswith("cases.") for c in pc.CLAIMS for f in c.figures)


def test_peak():
    dumps, file = "dumps-p%d" % DEFAULT, "dump-p%d" % HIGHEST
    wasteful = [row("numpy", dumps, dump_peak=2.5 * MiB), row("numpy", file, dump_peak=0.01 * MiB)]
    fine = [row("list-str", dumps, dump_peak=3.0 * MiB), row("list-str", file, dump_peak=2.7 * MiB)]
    assert verdict(pc.PEAK, wasteful) == "confirmed"
    assert verdict(pc.PEAK, wasteful + fine) == "partly"
    assert verdict(pc.PEAK, fine) == "refuted"
    assert verdict(pc.PEAK, [row("numpy", dumps)]) == "inconclusive"


def test_file():
    p = max(HIGHEST, DEFAULT)
    helps = [row("numpy", "dumps-p%d" % p, dump_peak=1.5 * MiB), row("numpy", "dump-p%d" % p, dump_peak=0.01 * MiB)]
    no = [row("dict-int-list", "dumps-p%d" % p, dump_peak=3 * MiB), row("dict-int-list", "dump-p%d" % p,
                                                                         dump_peak=2.7 * MiB)]
    assert verdict(pc.FILE, helps) == "confirmed"
    assert verdict(pc.FILE, helps + no) == "partly"
    assert verdict(pc.FILE, no) == "refuted"
    assert verdict(pc.FILE, [row("numpy", "dumps-p%d" % p)]) == "inconclusive"


def test_getstate():
    hp = "dumps-p%d" % HIGHEST

    def pair(pickled, peak):
        return [row("cached-default", hp, pickled=2 * MiB, dump_peak=2 * MiB),
                row("cached-getstate", hp, pickled=pickled, dump_peak=peak)]

    assert verdict(pc.GETSTATE, pair(MiB, MiB)) == "confirmed"
    assert verdict(pc.GETSTATE, pair(MiB, 2 * MiB)) == "partly"
    assert verdict(pc.GETSTATE, pair(2 * MiB, MiB)) == "refuted"
    assert verdict(pc.GETSTATE, pair(MiB, MiB)[:1]) == "inconclusive"


def test_highest():
    every = range(HIGHEST + 1)
    best = [row("list-int", "dumps-p%d" % p, pickled=MiB * (2 if p == 0 else 1)) for p in every]
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, best) == "confirmed"
    slow = [row("list-str", "dumps-p%d" % p, dump_min=1e-3 if p == 2 else 5e-3) for p in every]
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, best + slow) == "partly"
    worst = [row("list-int", "dumps-p%d" % p, pickled=MiB * (2 if p == HIGHEST else 1),
                 dump_min=5e-3 if p == HIGHEST else 1e-3, load_min=5e-3 if p == HIGHEST else 1e-3) for p in every]
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, worst) == "refuted"
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, [row("list-int", "dump-p%d" % HIGHEST)]) == "inconclusive"


def test_oob():
    zero = [row("numpy", "oob-p5", dump_copies=0.001, load_copies=0.0)]
    assert verdict(pc.OOB, zero) == "confirmed"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=1.0, load_copies=0.0)]) == "refuted"
    assert verdict(pc.OOB, [row("numpy", "dumps-p5")]) == "inconclusive"
    # an object holding arrays and more is listed, not judged
    assert verdict(pc.OOB, [row("pytensor-shared", "oob-p5", dump_copies=1.0)]) == "inconclusive"


def test_pkl_utils():
    assert verdict(pc.PKL_UTILS, [row("numpy", "npzip", numpy_readable=True)]) == "confirmed"
    assert verdict(pc.PKL_UTILS, [row("numpy", "npzip", numpy_readable=False)]) == "refuted"
    assert verdict(pc.PKL_UTILS, [row("list-int", "npzip", numpy_readable=None)]) == "inconclusive"
    no_column = pd.DataFrame([row("numpy", "npzip")]).drop(columns=["numpy_readable"])
    assert pc.PKL_UTILS.judge({"cases": no_column}) is None  # rows that do not say (asv's)


def test_failed_round_trips_are_no_evidence():
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=0.0, equal=False)]) == "inconclusive"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=0.0, error="TypeError: x")]) == "inconclusive"


# --------------------------------------------------------------------------
# The rules' finer points (moved from test_pickling.py)


def _judge(claim):
    return lambda frame: claim.judge({"cases": frame})


verdict_peak, verdict_file, verdict_getstate = _judge(pc.PEAK), _judge(pc.FILE), _judge(pc.GETSTATE)
verdict_highest, verdict_oob, verdict_pkl_utils = (_judge(pc.HIGHEST_SMALLEST_FASTEST), _judge(pc.OOB),
                                                   _judge(pc.PKL_UTILS))


def test_highest_verdict_names_the_exceptions():
    rows = []
    for p in range(HIGHEST + 1):
        rows.append(row("list-int", "dumps-p%d" % p, pickled=MiB * (2 if p == 0 else 1)))
        rows.append(row("list-str", "dumps-p%d" % p, dump_min=1e-3 if p == 2 else 5e-3))
    v = verdict_highest(pd.DataFrame(rows))
    assert v.verdict == "partly"
    assert "list-str" in v.evidence and "p2" in v.evidence
    rows = [row("list-int", "dumps-p%d" % p) for p in range(HIGHEST + 1)]
    assert verdict_highest(pd.DataFrame(rows)).verdict == "confirmed"


def test_highest_verdict_judges_against_every_protocol_where_there_is_such_an_object():
    # list-int has every protocol, HIGHEST best; IntVector (the default run gives C++ containers
    # the default and the highest protocol only) has a faster DEFAULT: left out of the judgement
    rows = [row("list-int", "dumps-p%d" % p) for p in range(HIGHEST + 1)]
    partial = [row("IntVector", "dumps-p%d" % p, dump_min=1e-3 if p == DEFAULT else 5e-3) for p in {DEFAULT, HIGHEST}]
    v = verdict_highest(pd.DataFrame(rows + partial))
    assert v.verdict == "confirmed" and "IntVector" not in v.evidence and "all 1 objects" in v.evidence
    # with no object that has every protocol, the two it has are compared
    v = verdict_highest(pd.DataFrame(partial))
    assert v.verdict == "partly" and "IntVector" in v.evidence


def test_file_and_peak_verdicts():
    frame = pd.DataFrame([
        row("numpy", "dumps-p%d" % HIGHEST, dump_peak=1.5 * MiB),
        row("numpy", "dump-p%d" % HIGHEST, dump_peak=0.01 * MiB),
        row("numpy", "dumps-p%d" % DEFAULT, dump_peak=2.5 * MiB),
        row("dict-int-list", "dumps-p%d" % HIGHEST, dump_peak=3.0 * MiB),
        row("dict-int-list", "dump-p%d" % HIGHEST, dump_peak=2.7 * MiB),
        row("dict-int-list", "dumps-p%d" % DEFAULT, dump_peak=3.0 * MiB),
    ])
    v = verdict_file(frame)
    assert v.verdict == "partly" and "dict-int-list" in v.evidence.split("Not for")[1]
    assert verdict_peak(frame).verdict == "partly"
    only_numpy = frame[frame["object"] == "numpy"]
    assert verdict_file(only_numpy).verdict == "confirmed"
    assert verdict_peak(only_numpy).verdict == "confirmed"
    assert verdict_file(frame[frame["object"] == "dict-int-list"]).verdict == "refuted"


def test_verdicts_without_figures_are_inconclusive():
    empty = pd.DataFrame([row("list-int", "dumps-p0")])
    for f in (verdict_getstate, verdict_oob, verdict_pkl_utils, verdict_file):
        assert f(empty).verdict == "inconclusive"


def test_a_failed_round_trip_is_not_evidence():
    frame = pd.DataFrame([row("numpy", "oob-p5", dump_peak=0.0, load_copies=0.0, equal=False)])
    assert verdict_oob(frame).verdict == "inconclusive"


# --------------------------------------------------------------------------
# Rows rebuilt from asv results, judged by the same claims


def test_from_asv_rebuilds_the_rows_the_suite_tracks():
    got = TOPIC.from_asv(tracked({("track_pickled_bytes", "numpy", MiB, "oob-p5"): 1000,
                                  ("track_dump_peak", "numpy", MiB, "oob-p5"): 0.5 * MiB,
                                  ("track_load_copies", "numpy", MiB, "oob-p5"): 0.25,
                                  ("track_pickled_bytes", "nope", MiB, "oob-p5"): 1,  # unknown object
                                  ("track_pickled_bytes", "numpy", MiB, "dumps-p9"): 1,  # unknown method
                                  ("track_pickled_bytes", "numpy", 2 * MiB, "oob-p5"): True,  # not a number
                                  ("track_load_seconds", "numpy", 4 * MiB, "oob-p5"): 1.0}))  # not a figure
    frame = got["cases"]
    assert len(frame) == 1
    r = frame.iloc[0]
    assert (r["object"], r["size"], r["payload"], r["method"], r["kind"], r["protocol"]) == \
        ("numpy", MiB, MiB, "oob-p5", "oob", 5)
    assert r["pickled"] == 1000 and r["dump_copies"] == 0.5 and r["load_copies"] == 0.25
    assert bool(r["equal"]) and r["error"] is None  # the suite tracks round-tripped methods only


@pytest.mark.parametrize("load_copies, expected", [(0.0, "confirmed"), (1.0, "refuted")])
def test_oob_from_asv_is_judged_as_the_live_rows(load_copies, expected):
    figures, live = {}, []
    for size, dump_peak in ((MiB, 0.001 * MiB), (32 * MiB, 0.0)):
        figures[("track_dump_peak", "numpy", size, "oob-p5")] = dump_peak
        figures[("track_load_peak", "numpy", size, "oob-p5")] = load_copies * size
        live.append(row("numpy", "oob-p5", size=size, dump_peak=dump_peak, load_peak=load_copies * size))
    from_asv = pc.OOB.judge(TOPIC.from_asv(tracked(figures)))
    assert verdict(pc.OOB, live) == from_asv.verdict == expected
    assert from_asv.evidence == pc.OOB.judge({"cases": pd.DataFrame(live)}).evidence


@pytest.mark.parametrize("p4_bytes, expected", [(MiB, "confirmed"), (MiB // 2, "refuted")])
def test_highest_from_asv_judges_the_size_and_says_so(p4_bytes, expected):
    every = range(HIGHEST + 1)
    sizes = {p: (2 * MiB if p == 0 else p4_bytes if p == 4 and HIGHEST > 4 else MiB) for p in every}
    figures = {("track_pickled_bytes", "list-int", MiB, "dumps-p%d" % p): sizes[p] for p in every}
    from_asv = pc.HIGHEST_SMALLEST_FASTEST.judge(TOPIC.from_asv(tracked(figures)))
    # the equivalent live rows: the same sizes, and times where HIGHEST is as fast (confirmed) or
    # slower too (refuted), so that the size decides as it does alone
    slow = 1e-3 if expected == "confirmed" else 5e-3
    live = [row("list-int", "dumps-p%d" % p, pickled=sizes[p], dump_min=slow if p == HIGHEST else 1e-3,
                load_min=slow if p == HIGHEST else 1e-3) for p in every]
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, live) == from_asv.verdict == expected
    assert pc.NO_TIMES in from_asv.evidence and "fastest" not in from_asv.evidence
    assert pc.NO_TIMES not in pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(live)}).evidence


def test_from_asv_rows_are_judged_by_every_claim_that_has_their_figures():
    figures = {}
    for method, peak in (("dumps-p%d" % DEFAULT, 2.5 * MiB), ("dumps-p%d" % HIGHEST, 2.5 * MiB),
                         ("dump-p%d" % DEFAULT, 0.01 * MiB), ("dump-p%d" % HIGHEST, 0.01 * MiB)):
        figures[("track_pickled_bytes", "numpy", MiB, method)] = MiB
        figures[("track_dump_peak", "numpy", MiB, method)] = peak
    got = {v.claim_id: v for v in judge_all(pc.CLAIMS, TOPIC.from_asv(tracked(figures)))}
    assert got["pickle.peak"].verdict == "confirmed" and got["pickle.file"].verdict == "confirmed"
    assert "the time" not in got["pickle.file"].evidence and pc.NO_TIMES in got["pickle.file"].evidence
    assert "pickle.pkl_utils" not in got  # asv does not track numpy_readable
