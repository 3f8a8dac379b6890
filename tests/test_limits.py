"""The copy limits: timed in C++ with no Python call in the loop, refused with a Python exception on bad
input, fractions flagged above 1.05, the huge-page mode read or "not measured", and "not measured"
without the extension."""
from __future__ import annotations

import math

import pytest

from harness.core import limits as L
from harness.topics.aliasing import backends as B
from harness.topics.aliasing import measure as T


def test_a_copy_above_its_limit_is_flagged():
    row = T.measure_op(B.NumpyReference(), "copy", False, 64_000, repeat=2, min_time=0.001, limit_gbps=1e-6)
    assert row["fraction_of_limit"] > 1.05 and row["limit_flag"].startswith("ABOVE LIMIT")


def test_the_cpp_limits_time_themselves():
    from harness import _containers

    for kind in ("memcpy_warm", "alloc_copy"):
        got = _containers.copy_limit(kind, 64_000, repeat=3, min_time=0.001)
        assert len(got["values"]) == 3 and got["warmups"] >= 1 and got["number"] >= 1
        assert all(v > 0 for v in got["values"]) and got["bytes"] == 64_000
    rows = T.measure_limits(64_000, repeat=2, min_time=0.001)
    assert [r["limit"] for r in rows] == ["memcpy warm", "alloc+copy"] and all(r["gbps"] > 0 for r in rows)


@pytest.mark.parametrize("args,exc,match", [
    (("memcpy", 8), ValueError, "unknown kind"), (("alloc_copy", 0), ValueError, "nbytes must be > 0"),
    (("alloc_copy", 1 << 62), MemoryError, "exceed the available memory"),
])
def test_the_cpp_limits_refuse_bad_input(args, exc, match):
    from harness import _containers

    with pytest.raises(exc, match=match):
        _containers.copy_limit(*args)
    with pytest.raises(ValueError, match="min_time"):
        _containers.copy_limit("memcpy_warm", 8, min_time=0.0)


@pytest.mark.parametrize("value,limit,fraction,flag", [
    (5.0, 10.0, 0.5, ""), (10.4, 10.0, 1.04, ""), (11.0, 10.0, 1.1, L.FLAG),
    (None, 10.0, math.nan, ""), (5.0, None, math.nan, ""), (5.0, 0.0, math.nan, ""), (math.nan, 1.0, math.nan, "")])
def test_fraction_of_a_limit(value, limit, fraction, flag):
    got = L.fraction(value, limit)
    assert got["limit_flag"] == flag
    assert (math.isnan(got["fraction_of_limit"]) and math.isnan(fraction)) or got["fraction_of_limit"] == pytest.approx(fraction)


@pytest.mark.parametrize("text,mode", [("always [madvise] never\n", "madvise"), ("[always] madvise never", "always"),
                                       ("always madvise [never]", "never")])
def test_thp_mode(tmp_path, text, mode):
    p = tmp_path / "enabled"
    p.write_text(text)
    assert L.thp_mode(str(p)) == mode


def test_thp_mode_not_measured(tmp_path):
    assert L.thp_mode(str(tmp_path / "missing")).startswith("not measured: ")
    p = tmp_path / "odd"
    p.write_text("no brackets")
    assert L.thp_mode(str(p)).startswith("not measured: no [mode] in ")


def test_limits_without_the_extension_are_not_measured(monkeypatch):
    monkeypatch.setattr(L, "unavailable", lambda: "harness._containers cannot be imported here (x)")
    row = L.measure(L.MEMCPY_WARM, 4000)
    assert math.isnan(row["gbps"]) and row["why"] == "not measured: harness._containers cannot be imported here (x)"
    with pytest.raises(ValueError, match="unknown limit"):
        L.measure("memmove", 4000)




def test_a_flagged_fraction_is_not_tracked_as_a_figure():
    import math

    from harness.core import limits as L

    ok = L.fraction(9.0, 10.0)
    assert L.tracked(ok) == 0.9
    above = L.fraction(11.0, 10.0)
    assert above["limit_flag"] and math.isnan(L.tracked(above))
