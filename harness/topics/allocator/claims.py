"""The allocator topic's claims: each judged per Python version from the rows, then over all versions.

Rows: ``geometry`` (one row per interpreter: arena and pool size, pool header, size-class step,
the address probe) and ``steps`` (one row per step of each workload; ``judged`` marks the
workload the verdicts read: the run's first single request size, else the mixed one). A
claim's verdict over all versions is the versions' verdict where they agree, else "partly",
with each group of versions and its last version's figures as the evidence.

No pandas at import: the package's ``__init__`` imports this module, and child processes of
every interpreter import the package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from harness.claims import Claim, Judgement
from harness.core.units import format_bytes
from harness.core.verdict import tally
from harness.topic import kind
from harness.topics.allocator.workloads import FOLKLORE_ARENA, FOLKLORE_POOL, MiB

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows

Row = Dict[str, Any]
# the steps after the start, and the short names of the retention figures after each
SHORT = {"allocated": "alloc", "freed": "freed", "trimmed": "trim", "refill_same": "same", "refill_other": "other"}


def _value(v: Any) -> Any:
    """A DataFrame cell as the child gave it: NaN back to None, a whole float back to an int."""
    if isinstance(v, float):
        if v != v:
            return None
        if v.is_integer():
            return int(v)
    return v


def records(df: "pd.DataFrame") -> List[Row]:
    # str(k): pandas-stubs types column labels as Hashable; these frames' labels are all str already
    return [{str(k): _value(v) for k, v in r.items()} for r in df.to_dict(orient="records")] if len(df) else []


def workload_figures(by_step: Dict[str, Row]) -> Row:
    """One workload's figures from its step rows (by step): pymalloc arenas in use after each step,
    RSS above the start after each (MiB) and retained / live after the free."""
    row: Row = {}
    for s in ("start",) + tuple(SHORT):
        a = by_step.get(s, {}).get("arenas")
        row["arenas_" + SHORT.get(s, s)] = a if a is not None and a == a else None
    for s, name in SHORT.items():
        row["rss_" + name] = by_step[s]["rss_delta"] / MiB if s in by_step else None
    row["ratio"] = by_step["freed"]["ratio"] if "freed" in by_step else None
    # memory held above the start per live byte right after the allocation (1.0: no overhead)
    row["held_per_live"] = by_step["allocated"].get("ratio") if "allocated" in by_step else None
    return row


@dataclass
class View:
    """The rows as the per-version rules read them."""

    geometry: Dict[str, Row]  # python -> its geometry row
    workloads: Dict[Tuple[str, str, str], Row]  # (python, allocator, pattern) -> workload_figures, judged size
    pythons: List[str]  # the versions judged, in the rows' order

    @classmethod
    def of(cls, rows: "Rows") -> "View":
        geo = {r["python"]: r for r in records(kind(rows, "geometry"))}
        by: Dict[Tuple[str, str, str], Dict[str, Row]] = {}
        pythons = list(geo)
        for r in records(kind(rows, "steps")):
            if r["allocator"] != "c++" and r["python"] not in pythons:
                pythons.append(r["python"])
            if r.get("judged"):
                by.setdefault((r["python"], r["allocator"], r["pattern"]), {})[r["step"]] = r
        return cls(geo, {k: workload_figures(v) for k, v in by.items()}, pythons)

    def pick(self, python: str, allocator: str, pattern: str) -> Optional[Row]:
        return self.workloads.get((python, allocator, pattern))


# --------------------------------------------------------------------------
# Per version: each rule gives (verdict, evidence) for one Python version, or None


def _no_stats(geo: Optional[Row]) -> Optional[Judgement]:
    """Inconclusive for an interpreter whose geometry row has no pymalloc figures at all."""
    if geo and not geo.get("arena_size") and not geo.get("pool_size"):
        return "inconclusive", "no pymalloc statistics: the interpreter runs %s" % geo.get("allocator")
    return None


def _arena(view: View, python: str) -> Optional[Judgement]:
    geo = view.geometry.get(python) or {}
    if not geo.get("arena_size"):
        return _no_stats(geo)
    ppa, ps = geo.get("probe_pools_per_arena"), geo.get("probe_pool")
    probe = ("; addresses: %d fresh pools of %s follow each other in one arena" % (ppa, format_bytes(ps))
             if ppa and ps else "")
    return ("confirmed" if geo["arena_size"] == FOLKLORE_ARENA else "refuted",
            "arena = %s (%d B, read from sys._debugmallocstats)%s" % (format_bytes(geo["arena_size"]),
                                                                     geo["arena_size"], probe),
            format_bytes(geo["arena_size"]))


def _pool(view: View, python: str) -> Optional[Judgement]:
    geo = view.geometry.get(python) or {}
    pool = geo.get("pool_size")
    if not pool:
        return _no_stats(geo)
    ps, arena, header = geo.get("probe_pool"), geo.get("arena_size"), geo.get("pool_header")
    return ("confirmed" if pool == FOLKLORE_POOL else "refuted",
            "pool = %s (%d B%s)%s%s" % (format_bytes(pool), pool,
                                        "; addresses: consecutive fresh pools %s B apart" % ps if ps is not None else "",
                                        ", %d pools per arena" % (arena // pool) if arena else "",
                                        ", %s header" % format_bytes(header) if header is not None else ""),
            format_bytes(pool))


def _blocks(view: View, python: str) -> Optional[Judgement]:
    geo = view.geometry.get(python) or {}
    if geo.get("n") is None:  # no address probe ran (asv tracks none of its figures)
        return _no_stats(geo)
    stride, block, added, nobj = geo.get("probe_stride"), geo.get("block"), geo.get("class_blocks_added"), geo["n"]
    fixed = stride == block and added is not None and nobj and added >= 0.99 * nobj
    return ("confirmed" if fixed else "refuted",
            "%d objects of %d B requested: +%s blocks in the %s B class, blocks %s B apart in each pool; "
            "classes step by %s B up to %s B" % (nobj, geo.get("request") or 0, added, block, stride,
                                                 geo.get("class_step"), geo.get("threshold")))


def _reuse(view: View, python: str) -> Optional[Judgement]:
    half = view.pick(python, "pymalloc", "free_every_2nd")
    if not half or half["arenas_alloc"] is None:
        return None
    grew = half["arenas_same"] - half["arenas_freed"]
    return ("confirmed" if half["arenas_same"] <= half["arenas_alloc"] + 1 else "refuted",
            "free every 2nd: arenas %d -> %d -> %d; as many same-size objects again: %d arenas (%+d)"
            % (half["arenas_start"], half["arenas_alloc"], half["arenas_freed"], half["arenas_same"], grew))


PINNED = 0.9  # of the workload's arenas still held after the free: pinned
GIVEN_BACK = 0.1  # of the workload's arenas (at least one) still held after free all: given back
INEFFICIENT = 1.25  # memory held per live byte above which allocation is inefficient (25% overhead)


def _arenas(fig: Row) -> str:
    return "%d -> %d -> %d" % (fig["arenas_start"], fig["arenas_alloc"], fig["arenas_freed"])


def _free_all_half(alla: Row) -> Tuple[bool, str]:
    """(the claim holds: free all kept the arenas, the figures in words)."""
    used = max(alla["arenas_alloc"] - alla["arenas_start"], 1)
    given_back = alla["arenas_freed"] - alla["arenas_start"] <= max(1, GIVEN_BACK * used)
    return not given_back, "free all: arenas %s, %s (RSS %+.1f MiB after the free)" % (
        _arenas(alla), "given back" if given_back else "not given back", alla["rss_freed"] - alla["rss_alloc"])


def _pinned_half(keep: Row) -> Tuple[bool, str]:
    """(the claim holds: one live block in 1000 kept the arenas, the figures in words)."""
    used = max(keep["arenas_alloc"] - keep["arenas_start"], 1)
    pinned = keep["arenas_freed"] - keep["arenas_start"] >= PINNED * used
    return pinned, "keep 1 in 1000: arenas %s, %s (RSS %+.1f MiB, retained/live %.0fx)" % (
        _arenas(keep), "pinned" if pinned else "given back", keep["rss_freed"] - keep["rss_alloc"],
        keep["ratio"] if keep["ratio"] is not None else float("nan"))


def _kept(view: View, python: str) -> Optional[Judgement]:
    """Both halves of "not given back": after free all (the claim fails where arenas go back) and
    with one live block in 1000 (it holds where they stay pinned); confirmed when both hold,
    partly when one does, refuted when neither."""
    alla = view.pick(python, "pymalloc", "free_all")
    keep = view.pick(python, "pymalloc", "keep_1_in_1000")
    halves = [h(f) for h, f in ((_free_all_half, alla), (_pinned_half, keep)) if f and f["arenas_alloc"] is not None]
    if not halves:
        return None
    evidence = "; ".join(text for _, text in halves)
    mkeep = view.pick(python, "malloc", "keep_1_in_1000")
    if mkeep:
        evidence += ("; PYTHONMALLOC=malloc, keep 1 in 1000: RSS %.1f MiB above start after the free, %.1f after "
                     "malloc_trim(0)" % (mkeep["rss_freed"], mkeep["rss_trim"]))
    return tally(sum(holds for holds, _ in halves), len(halves)), evidence


def _inefficient(view: View, python: str) -> Optional[Judgement]:
    """"Allocation is inefficient and freed memory is not given back": the memory pymalloc holds per
    live byte once the objects exist (inefficient above INEFFICIENT), and free all (not given back
    where the arenas stay); confirmed when both hold, partly when one does, refuted when neither."""
    alla = view.pick(python, "pymalloc", "free_all")
    if not alla or alla["arenas_alloc"] is None or alla["held_per_live"] is None:
        return None
    ratio = alla["held_per_live"]
    if not math.isfinite(ratio):
        return "inconclusive", "not measured: the bytes held per live byte (%s)" % ratio
    inefficient = ratio > INEFFICIENT
    kept, freed = _free_all_half(alla)
    return (tally(int(inefficient) + int(kept), 2),
            "allocation: %.2f B held in arenas per live byte requested (%s; inefficient above %.2f); %s"
            % (ratio, "inefficient" if inefficient else "efficient", INEFFICIENT, freed),
            "%.2f B/B, %s" % (ratio, "kept" if kept else "given back"))


def _classes(view: View, python: str) -> Optional[Judgement]:
    """"Objects go to pools by size class": the probe's objects of ``request`` bytes all land in the
    class of that size rounded up to the class step (the block the geometry row names)."""
    geo = view.geometry.get(python) or {}
    if geo.get("n") is None or not geo.get("class_step"):
        return _no_stats(geo)
    missing = [k for k in ("request", "block", "class_blocks_added") if geo.get(k) is None or geo[k] != geo[k]]
    if missing:
        return "inconclusive", "not measured: %s of the size-class probe" % ", ".join(missing)
    step, nobj = geo["class_step"], geo["n"]
    request, block, added = int(geo["request"]), geo["block"], geo["class_blocks_added"]
    expected = -(-int(request) // step) * step
    ok = block == expected and added >= 0.99 * nobj
    return ("confirmed" if ok else "refuted",
            "%d objects of %d B: the %s B class (the request rounded up to the %d B step: %d B) gained %s blocks"
            % (nobj, request, block, step, expected, added))


def _buildup(view: View, python: str) -> Optional[Judgement]:
    half = view.pick(python, "pymalloc", "free_every_2nd")
    if not half or half["arenas_alloc"] is None:
        return None
    used = max(half["arenas_alloc"] - half["arenas_start"], 1)
    extra = half["arenas_other"] - half["arenas_alloc"]
    evidence = ("free every 2nd, then as many objects one class larger: arenas %d -> %d (%+d, %.0f%% of the "
                "workload's %d) where the same size needed %+d"
                % (half["arenas_alloc"], half["arenas_other"], extra, 100.0 * extra / used, used,
                   half["arenas_same"] - half["arenas_alloc"]))
    alla = view.pick(python, "pymalloc", "free_all")
    if alla and alla["arenas_alloc"] is not None:
        evidence += "; after free all, the larger class fits in %d arenas" % alla["arenas_other"]
    return "confirmed" if extra >= 0.3 * used else "refuted", evidence


def _glibc(view: View, python: str) -> Optional[Judgement]:
    mall = view.pick(python, "malloc", "free_all")
    mhalf = view.pick(python, "malloc", "free_every_2nd")
    if not (mall and mhalf):
        return None
    held_all, held_half, trimmed = mall["rss_freed"], mhalf["rss_freed"], mhalf["rss_trim"]
    keeps = held_half > 0.3 * mhalf["rss_alloc"] and held_all > 0.3 * mall["rss_alloc"]
    released = trimmed < 0.7 * held_half or mall["rss_trim"] < 0.7 * held_all
    verdict = "confirmed" if keeps and released else ("partly" if keeps else "refuted")
    return verdict, ("RSS above start (MiB): free all %.1f -> %.1f -> trim %.1f; free every 2nd %.1f -> %.1f -> "
                     "trim %.1f" % (mall["rss_alloc"], held_all, mall["rss_trim"], mhalf["rss_alloc"], held_half,
                                    trimmed))


PerVersion = Callable[[View, str], Optional[Judgement]]


# --------------------------------------------------------------------------
# Over all versions


def overall(per_version: List[Tuple[str, str, str, str]]) -> Optional[Judgement]:
    """(python, verdict, evidence, key figure) of each version -> the verdict over all, each group
    of versions that agree with its last version's figures; None where no version was judged."""
    if not per_version:
        return None
    kinds = list(dict.fromkeys(v for _, v, _, _ in per_version))
    parts = []
    for k in kinds:
        vs = [(py, ev) for py, v, ev, _ in per_version if v == k]
        where = ", ".join(py for py, _ in vs)
        figures = vs[-1][1] if len(vs) == 1 else "%s: %s" % vs[-1]
        parts.append("%son %s (%s)" % ("" if len(kinds) == 1 else k + " ", where, figures))
    keys = list(dict.fromkeys(key for _, _, _, key in per_version))
    key = keys[0] if len(keys) == 1 else ", ".join("%s %s" % (py, key) for py, _, _, key in per_version)
    return (kinds[0] if len(kinds) == 1 else "partly"), "; ".join(parts), key


def _per_version(rule: PerVersion, view: View) -> List[Tuple[str, str, str, str]]:
    out = []
    for py in view.pythons:
        got = rule(view, py)
        if got is not None:
            out.append((py, got[0], got[1], str(got[2]) if len(got) > 2 else got[1]))
    return out


def _claim(short: str, text: str, figures: Tuple[str, ...], rule: PerVersion) -> Claim:
    claim = Claim("allocator." + short, text, figures, lambda rows: overall(_per_version(rule, View.of(rows))))
    RULES[claim.id] = rule
    return claim


RULES: Dict[str, PerVersion] = {}  # claim id -> its per-version rule
GEOMETRY = ("geometry.arena_size", "geometry.pool_size")
CLAIMS = [
    _claim("arena", "pymalloc arenas are 256 KB", ("geometry.arena_size", "geometry.probe_pools_per_arena",
                                                   "geometry.probe_pool"), _arena),
    _claim("pool", "arenas are divided into 4 KB pools", GEOMETRY + ("geometry.pool_header", "geometry.probe_pool"),
           _pool),
    _claim("classes", "objects go to pools by size class", ("geometry.n", "geometry.request", "geometry.block",
                                                            "geometry.class_step", "geometry.class_blocks_added"),
           _classes),
    _claim("blocks", "pools hold fixed-size blocks", ("geometry.arena_size", "geometry.n", "geometry.request",
                                                      "geometry.block", "geometry.class_blocks_added",
                                                      "geometry.probe_stride", "geometry.class_step",
                                                      "geometry.threshold"), _blocks),
    _claim("reuse", "memory of freed blocks is reused", ("steps.arenas",), _reuse),
    _claim("kept", "memory in pools and arenas is not given back", ("steps.arenas", "steps.rss_delta",
                                                                     "steps.ratio"), _kept),
    _claim("inefficient", "allocation is inefficient and freed memory is not given back",
           ("steps.arenas", "steps.ratio", "steps.rss_delta"), _inefficient),
    _claim("buildup", "retained memory builds up when different pools are needed", ("steps.arenas",), _buildup),
    _claim("glibc", "under PYTHONMALLOC=malloc, glibc keeps freed memory until malloc_trim(0)",
           ("steps.rss_delta",), _glibc),
]


def by_version(rows: "Rows") -> List[Row]:
    """Every claim judged on each version apart: python, claim, verdict, evidence (version by version)."""
    view = View.of(rows)
    out = []
    for py in view.pythons:
        for claim in CLAIMS:
            got = RULES[claim.id](view, py)
            if got is not None:
                out.append({"python": py, "claim": claim.text, "verdict": got[0], "evidence": got[1]})
    return out
