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


def times(center=1e-3, n=6):
    """n timing samples (seconds) spread by 0.1% around ``center``: two such sets with the same
    center show no significant difference; with centers 5x apart, a significant one."""
    return [center * (1 + 0.001 * i) for i in range(n)]


def row(obj, method, size=MiB, **kw):
    """A live "cases" row: every figure present, one payload of everything, times of 1 ms."""
    m = METHODS[method]
    base = dict(object=obj, size=size, payload=size, method=method, kind=m.kind, protocol=m.protocol,
                pickled=size, dump_s=1e-3, dump_iqr=0.0, load_s=1e-3, load_iqr=0.0,
                dump_values=times(), load_values=times(), dump_peak=size, load_peak=size, dump_untouched=0.0,
                dump_copies=1.0, load_copies=1.0, equal=True, error=None, numpy_readable=None, library=None)
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
    assert [c.id for c in TOPIC.claims] == ["pickle.peak", "pickle.file", "pickle.getstate", "pickle.dictstate",
                                            "pickle.highest", "pickle.versions", "pickle.oob", "pickle.pkl_utils"]
    assert all(f.split(".")[0] in ("cases", "versions") for c in pc.CLAIMS for f in c.figures)


# --------------------------------------------------------------------------
# Pickling uses an unnecessarily large chunk of memory: resident peak above what must exist


def test_peak():
    dumps = "dumps-p%d" % DEFAULT
    # protocol 4 dumps of an array: the pickle (1 payload) and a copy of the data (1 more)
    wasteful = [row("numpy", dumps, pickled=MiB, dump_peak=2 * MiB)]
    # protocol 5: the pickle's own bytes only
    fine = [row("numpy", "dumps-p%d" % HIGHEST, pickled=MiB, dump_peak=MiB)]
    assert verdict(pc.PEAK, wasteful) == "confirmed"
    assert verdict(pc.PEAK, wasteful + fine) == "partly"
    assert verdict(pc.PEAK, fine) == "refuted"
    assert verdict(pc.PEAK, [row("numpy", "oob-p5")]) == "inconclusive"


def test_peak_counts_what_a_file_needs_as_nothing():
    # a file holds the pickle on disk: 0.6 payload resident is 0.6 unnecessary; 0.1 is not much
    assert verdict(pc.PEAK, [row("numpy", "dump-p%d" % HIGHEST, dump_peak=0.6 * MiB)]) == "confirmed"
    assert verdict(pc.PEAK, [row("numpy", "dump-p%d" % HIGHEST, dump_peak=0.1 * MiB)]) == "refuted"


def test_peak_leaves_pickles_fixed_buffers_out():
    # 0.56 payload of a 256 KiB object is 144 KiB: pickle's own frame and buffers, not a chunk
    small = 256 * 1024
    r = row("list-int", "dump-p%d" % HIGHEST, size=small, dump_peak=0.56 * small)
    assert verdict(pc.PEAK, [r]) == "refuted"
    assert verdict(pc.PEAK, [dict(r, dump_peak=3 * small)]) == "confirmed"


def test_peak_reports_tracemalloc_reserve_apart_and_judges_the_resident_peak():
    # tracemalloc counted half a payload more (an output buffer reserved, never touched): said, not judged
    r = row("numpy", "dumps-p%d" % HIGHEST, pickled=MiB, dump_peak=MiB, dump_untouched=0.5 * MiB)
    got = pc.PEAK.judge({"cases": pd.DataFrame([r])})
    assert got.verdict == "refuted"
    assert "0.50 more, reserved and never touched" in got.evidence and "1.00 copies resident" in got.evidence


# --------------------------------------------------------------------------
# A file rather than bytes, like with like


def test_file():
    p = max(HIGHEST, DEFAULT)
    helps = [row("numpy", "dumps-p%d" % p, dump_peak=1.5 * MiB), row("numpy", "dump-p%d" % p, dump_peak=0.01 * MiB)]
    slower = [row("list-int", "dumps-p%d" % p, dump_peak=1.5 * MiB),
              row("list-int", "dump-p%d" % p, dump_peak=0.01 * MiB, dump_values=times(5e-3))]
    no = [row("dict-int-list", "dumps-p%d" % p, dump_peak=3 * MiB), row("dict-int-list", "dump-p%d" % p,
                                                                         dump_peak=2.7 * MiB)]
    assert verdict(pc.FILE, helps) == "confirmed"
    assert verdict(pc.FILE, helps + no) == "confirmed"  # "certain objects": where it helps, it does
    assert verdict(pc.FILE, slower + no) == "partly"  # saves memory, but significantly slower
    assert verdict(pc.FILE, no) == "refuted"
    nan = float("nan")
    unmeasured = [row("numpy", "dumps-p%d" % p, dump_peak=nan), row("numpy", "dump-p%d" % p, dump_peak=nan)]
    assert verdict(pc.FILE, unmeasured) == "inconclusive"  # never "no saving" over NaN
    assert verdict(pc.FILE, unmeasured + no) == "refuted"  # the NaN pair is left out, named
    assert verdict(pc.FILE, [row("numpy", "dumps-p%d" % p)]) == "inconclusive"
    ev = pc.FILE.judge({"cases": pd.DataFrame(helps + slower + no)}).evidence
    assert "significantly slower" in ev and "no significant difference" in ev


def test_getstate():
    hp = "dumps-p%d" % HIGHEST

    def pair(pickled, peak):
        return [row("cached-default", hp, pickled=2 * MiB, dump_peak=2 * MiB),
                row("cached-getstate", hp, pickled=pickled, dump_peak=peak)]

    assert verdict(pc.GETSTATE, pair(MiB, MiB)) == "confirmed"
    assert verdict(pc.GETSTATE, pair(MiB, 2 * MiB)) == "partly"
    assert verdict(pc.GETSTATE, pair(2 * MiB, MiB)) == "refuted"
    assert verdict(pc.GETSTATE, pair(MiB, MiB)[:1]) == "inconclusive"


# --------------------------------------------------------------------------
# The whole __dict__ less some entries: works, but not robust


def _dictstate(base_bytes, sub_bytes, **sub):
    hp = "dumps-p%d" % HIGHEST
    return [row("cached-default", hp, pickled=3 * MiB), row("cached-dictcopy", hp, pickled=base_bytes),
            row("cached-dictcopy-sub", hp, pickled=sub_bytes, **sub)]


def test_dictstate():
    # the base class leaves the cache out; the subclass's derived attribute goes in (2x the bytes)
    assert verdict(pc.DICTSTATE, _dictstate(MiB, 2 * MiB)) == "confirmed"
    assert verdict(pc.DICTSTATE, _dictstate(MiB, 1.1 * MiB)) == "partly"  # robust here after all
    assert verdict(pc.DICTSTATE, _dictstate(3 * MiB, 6 * MiB)) == "partly"  # breaks, but never worked
    assert verdict(pc.DICTSTATE, _dictstate(3 * MiB, 3 * MiB)) == "refuted"
    assert verdict(pc.DICTSTATE, _dictstate(MiB, MiB, equal=False)) == "confirmed"  # a failed round trip
    assert verdict(pc.DICTSTATE, _dictstate(MiB, 2 * MiB)[:2]) == "inconclusive"
    assert pc.DICTSTATE.judge({"cases": pd.DataFrame([row("numpy", "dumps-p5")])}) is None
    ev = pc.DICTSTATE.judge({"cases": pd.DataFrame(_dictstate(MiB, 2 * MiB))}).evidence
    assert "went in too (not robust)" in ev and "2.00x the base class's" in ev


# --------------------------------------------------------------------------
# HIGHEST_PROTOCOL is the smallest and fastest: exact bytes, significant times, ties are ties


def _protocols(obj, sizes, dump=None, load=None):
    """Rows of every protocol: bytes from ``sizes`` (p -> B), time centers from dump/load (p -> s)."""
    return [row(obj, "dumps-p%d" % p, pickled=sizes(p), dump_values=times((dump or {}).get(p, 1e-3)),
                load_values=times((load or {}).get(p, 1e-3))) for p in range(HIGHEST + 1)]


def test_highest():
    fast = {p: (1e-3 if p == HIGHEST else 5e-3) for p in range(HIGHEST + 1)}
    slow = {p: (5e-3 if p == HIGHEST else 1e-3) for p in range(HIGHEST + 1)}
    best = _protocols("list-int", lambda p: MiB if p == HIGHEST else MiB + 8, fast, fast)
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, best) == "confirmed"
    tied = _protocols("list-str", lambda p: MiB if p >= 4 else 2 * MiB, fast, fast)  # p4 the same bytes
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, best + tied) == "partly"
    worst = _protocols("list-int", lambda p: 2 * MiB if p == HIGHEST else MiB, slow, slow)
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, worst) == "refuted"
    same = _protocols("list-int", lambda p: MiB)  # the same bytes, no significant difference in time
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, same) == "inconclusive"
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, [row("list-int", "dump-p%d" % HIGHEST)]) == "inconclusive"


def test_highest_says_which_protocols_are_smallest_and_ties_are_no_win():
    rows = _protocols("list-int", lambda p: 40964 if p in (1, 2, 3) else 40974 if p >= 4 else 88713)
    got = pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(rows)})
    assert got.verdict == "refuted"
    assert "smallest p1, p2, p3 (40964 B), p%d 40974 B" % HIGHEST in got.evidence
    assert "dump: no significant difference" in got.evidence
    tied = pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(_protocols("numpy", lambda p: MiB))})
    assert "smallest p0, p1" in tied.evidence and tied.verdict == "inconclusive"


def test_highest_time_needs_a_significant_difference():
    # 5% apart with three samples each: too few to tell, no verdict on the time either way
    few = [row("list-int", "dumps-p%d" % p, pickled=MiB if p == HIGHEST else 2 * MiB,
               dump_values=times(1e-3 if p == HIGHEST else 1.05e-3, 2), load_values=times(1e-3, 2))
           for p in range(HIGHEST + 1)]
    got = pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(few)})
    assert got.verdict == "partly" and "dump: no significant difference" in got.evidence


# --------------------------------------------------------------------------
# Which protocols each CPython reads


def vrow(writer, reader, protocol, loaded=True, equal=True, error=None, highest=5):
    return dict(writer=writer, reader=reader, protocol=protocol, loaded=loaded, equal=equal, error=error,
                writer_highest=highest, reader_highest=highest)


def test_versions():
    pythons = ("3.8.18", "3.13.0")
    every = [vrow(w, r, p) for w in pythons for r in pythons for p in range(6)]

    def judged(rows):
        return pc.VERSIONS.judge({"versions": pd.DataFrame(rows)})

    assert judged(every).verdict == "confirmed"
    one_fails = [dict(r, loaded=False, equal=None, error="ValueError: unsupported pickle protocol: 5")
                 if (r["writer"], r["reader"], r["protocol"]) == ("3.13.0", "3.8.18", 5) else r for r in every]
    got = judged(one_fails)
    assert got.verdict == "partly" and "p5 of 3.13.0 in 3.8.18: ValueError" in got.evidence
    cross_fail = [dict(r, equal=False) if r["writer"] != r["reader"] else r for r in every]
    assert judged(cross_fail).verdict == "refuted"
    alone = judged([vrow("3.11.7", "3.11.7", p) for p in range(6)])
    assert alone.verdict == "inconclusive" and "only one CPython (3.11.7)" in alone.evidence
    # a protocol above the reader's HIGHEST_PROTOCOL is expected to fail, not to load
    above = [vrow("3.14.0", "3.8.18", 6, loaded=False, equal=None, error="ValueError", highest=5),
             vrow("3.8.18", "3.14.0", 5, highest=5)]
    assert judged(above).verdict == "confirmed"
    assert pc.VERSIONS.judge({"cases": pd.DataFrame([row("numpy", "dumps-p5")])}) is None


def test_oob():
    zero = [row("numpy", "oob-p5", dump_copies=0.001, load_copies=0.0)]
    assert verdict(pc.OOB, zero) == "confirmed"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=1.0, load_copies=0.0)]) == "refuted"
    assert verdict(pc.OOB, [row("numpy", "dumps-p5")]) == "inconclusive"
    # an object holding arrays and more is listed, not judged
    assert verdict(pc.OOB, [row("pytensor-shared", "oob-p5", dump_copies=1.0)]) == "inconclusive"
    # below 1 MiB a page is more than 0.05 copies: listed, not judged
    assert verdict(pc.OOB, [row("numpy", "oob-p5", size=64 * 1024, dump_copies=0.0625)]) == "inconclusive"
    # copies not measured: not "zero copies"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=float("nan"), load_copies=0.0)]) == "inconclusive"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=0.0, load_copies=float("nan"))]) == "confirmed"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=1.0, load_copies=float("nan"))]) == "refuted"


# --------------------------------------------------------------------------
# pkl_utils: only a real pkl_utils is evidence


def test_pkl_utils():
    real = dict(kind="pkl_utils", library="theano 1.0.5")
    assert verdict(pc.PKL_UTILS, [row("numpy", "pkl_utils", numpy_readable=True, **real)]) == "confirmed"
    assert verdict(pc.PKL_UTILS, [row("numpy", "pkl_utils", numpy_readable=False, **real)]) == "refuted"
    # the harness's own zip is its own row, not evidence for the library
    own = pc.PKL_UTILS.judge({"cases": pd.DataFrame([row("numpy", "npzip", numpy_readable=True)])})
    assert own.verdict == "inconclusive" and "no pkl_utils ran" in own.evidence
    assert "not evidence for the library: the harness's own npzip on numpy 1.0 MiB: numpy-readable yes" in own.evidence
    both = [row("numpy", "npzip", numpy_readable=True), row("numpy", "pkl_utils", numpy_readable=True, **real)]
    assert verdict(pc.PKL_UTILS, both) == "confirmed"
    assert verdict(pc.PKL_UTILS, [row("list-int", "npzip", numpy_readable=None)]) == "inconclusive"
    no_column = pd.DataFrame([row("numpy", "npzip")]).drop(columns=["numpy_readable"])
    assert pc.PKL_UTILS.judge({"cases": no_column}) is None  # rows that do not say (asv's)


def test_failed_round_trips_are_no_evidence():
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=0.0, equal=False)]) == "inconclusive"
    assert verdict(pc.OOB, [row("numpy", "oob-p5", dump_copies=0.0, error="TypeError: x")]) == "inconclusive"


def test_highest_judges_against_every_protocol_where_there_is_such_an_object():
    # list-int has every protocol, HIGHEST best; IntVector (C++ containers may have only the default
    # and the highest protocol) has a faster DEFAULT: left out of the judgement
    fast = {p: (1e-3 if p == HIGHEST else 5e-3) for p in range(HIGHEST + 1)}
    rows = _protocols("list-int", lambda p: MiB if p == HIGHEST else 2 * MiB, fast, fast)
    partial = [row("IntVector", "dumps-p%d" % p, dump_values=times(1e-3 if p == DEFAULT else 5e-3))
               for p in {DEFAULT, HIGHEST}]
    v = pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(rows + partial)})
    assert v.verdict == "confirmed" and "IntVector" not in v.evidence
    # with no object that has every protocol, the two it has are compared
    v = pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(partial)})
    assert v.verdict == "refuted" and "IntVector" in v.evidence and "p%d faster than p%d" % (DEFAULT, HIGHEST) \
        in v.evidence


def test_verdicts_without_figures_are_inconclusive():
    empty = pd.DataFrame([row("list-int", "dumps-p0")])
    for claim in (pc.GETSTATE, pc.OOB, pc.PKL_UTILS, pc.FILE):
        assert claim.judge({"cases": empty}).verdict == "inconclusive"


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


@pytest.mark.parametrize("p4_bytes, expected", [(MiB + 8, "confirmed"), (MiB // 2, "refuted")])
def test_highest_from_asv_judges_the_size_and_says_so(p4_bytes, expected):
    every = range(HIGHEST + 1)
    sizes = {p: (2 * MiB if p == 0 else p4_bytes if p == 4 and HIGHEST > 4 else MiB + 16) for p in every}
    sizes[HIGHEST] = MiB
    figures = {("track_pickled_bytes", "list-int", MiB, "dumps-p%d" % p): sizes[p] for p in every}
    from_asv = pc.HIGHEST_SMALLEST_FASTEST.judge(TOPIC.from_asv(tracked(figures)))
    # the equivalent live rows: the same sizes, and times where HIGHEST is significantly faster
    # (confirmed) or slower (refuted), so that the size decides as it does alone
    fast = (1e-3, 5e-3) if expected == "confirmed" else (5e-3, 1e-3)
    live = _protocols("list-int", lambda p: sizes[p], *[{p: fast[0] if p == HIGHEST else fast[1] for p in every}] * 2)
    assert verdict(pc.HIGHEST_SMALLEST_FASTEST, live) == from_asv.verdict == expected
    assert pc.NO_TIMES in from_asv.evidence and "dump:" not in from_asv.evidence
    assert pc.NO_TIMES not in pc.HIGHEST_SMALLEST_FASTEST.judge({"cases": pd.DataFrame(live)}).evidence


def test_from_asv_rows_are_judged_by_every_claim_that_has_their_figures():
    figures = {}
    for method, peak in (("dumps-p%d" % DEFAULT, 2.5 * MiB), ("dumps-p%d" % HIGHEST, 2.5 * MiB),
                         ("dump-p%d" % DEFAULT, 0.6 * MiB), ("dump-p%d" % HIGHEST, 0.6 * MiB)):
        figures[("track_pickled_bytes", "numpy", MiB, method)] = MiB
        figures[("track_dump_peak", "numpy", MiB, method)] = peak
    got = {v.claim_id: v for v in judge_all(pc.CLAIMS, TOPIC.from_asv(tracked(figures)))}
    assert got["pickle.peak"].verdict == "confirmed" and got["pickle.file"].verdict == "confirmed"
    assert "time" not in got["pickle.file"].evidence.replace(pc.NO_TIMES, "")
    assert "pickle.pkl_utils" not in got  # asv does not track numpy_readable
