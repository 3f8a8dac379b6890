"""The C++ bulk path, like against like: copy_from_buffer copies into the existing storage, and the
figures set each copy against numpy's copy and the C++ limit of its own kind."""
from __future__ import annotations

import numpy as np
import pytest

from harness import _containers as c
from harness.core import limits as L
from harness.topics.containers.bulk import KINDS, bulk_copy


@pytest.mark.parametrize("cls,dtype", [(c.IntVector, np.int64), (c.FloatVector, np.float64)])
def test_copy_from_buffer_copies_known_bytes_into_the_existing_storage(cls, dtype):
    v = cls.from_buffer(np.zeros(1000, dtype=dtype))
    before = v.footprint()
    src = (np.arange(1000) * 3 + 1).astype(dtype)
    assert v.copy_from_buffer(src) is None
    assert v == src.tolist()
    after = v.footprint()  # nothing allocated: the same block, the same counters
    assert after["total_allocations"] == before["total_allocations"] and after["allocated"] == before["allocated"]
    src[0] = 99  # a copy, not a view
    assert v[0] == 1


@pytest.mark.parametrize("buf,match", [
    (np.arange(999), "exactly len\\(self\\) = 1000 elements, got 999"),
    (np.arange(1000, dtype=np.float64), "needs int64 data"),
    (np.arange(2000)[::2], "C-contiguous"),
])
def test_copy_from_buffer_refuses(buf, match):
    v = c.IntVector.from_buffer(np.arange(1000))
    with pytest.raises(ValueError, match=match):
        v.copy_from_buffer(buf)
    assert v == list(range(1000))  # untouched
    with pytest.raises(TypeError):
        v.copy_from_buffer([1, 2])


def test_bulk_copy_figures_compare_like_with_like():
    got = bulk_copy("FloatVector", 1 << 20, repeat=3, min_time=0.005)
    rows = {r["operation"]: r for r in got["rows"]}
    assert set(rows) == set(KINDS)
    assert rows["from_buffer"]["vs"] == "numpy copy" and rows["from_buffer"]["limit"] == L.ALLOC_COPY
    assert rows["copy_from_buffer"]["vs"] == "numpy.copyto" and rows["copy_from_buffer"]["limit"] == L.MEMCPY_WARM
    assert rows["from_buffer"]["allocates"] and not rows["copy_from_buffer"]["allocates"]
    for r in rows.values():
        assert r["bytes"] == 1 << 20 and r["gbps"] == pytest.approx((1 << 20) / r["median_s"] / 1e9)
        assert r["fraction_of_limit"] == pytest.approx(r["gbps"] / r["limit_gbps"])
        assert (r["limit_flag"] == L.FLAG) == (r["fraction_of_limit"] > L.MAX_FRACTION)
    assert rows["numpy copy"]["vs_numpy"] == 1.0 and rows["from_buffer"]["vs_numpy"] > 0
    assert got["meta"]["transparent_hugepages"] == L.thp_mode() and got["meta"]["bytes"] == 1 << 20
    with pytest.raises(ValueError, match="IntVector or FloatVector"):
        bulk_copy("StrVector", 8)
