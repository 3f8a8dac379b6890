"""Rows -> the --plot figure: GB/s vs size of what copies, one panel a backend; the limits dashed.
A borrow copies nothing and has no GB/s: it is not drawn (its time is in the tables)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.topic import kind
from harness.topics.aliasing.workloads import OPERATIONS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.topic import Rows


def _panel(ax: Any, mine: "pd.DataFrame", limits: "pd.DataFrame", title: str) -> None:
    colors = {op: "C%d" % i for i, op in enumerate(OPERATIONS)}
    copies = mine[mine["gbps"].notna()] if "gbps" in mine else mine.iloc[0:0]
    for (op, borrow), g in copies.groupby(["operation", "borrow"], sort=False):
        g = g.sort_values("bytes")
        ax.plot(g["bytes"], g["gbps"], ":" if borrow else "-", marker="o", ms=3, color=colors.get(str(op)),
                label="%s (%s)" % (op, "borrow" if borrow else "copy"))
    for i, (lim, g) in enumerate(limits.groupby("limit", sort=False) if not limits.empty else []):
        g = g.sort_values("bytes")
        ax.plot(g["bytes"], g["gbps"], "--", color="0.%d" % (2 * (i % 4)), lw=2, label="limit: %s" % str(lim))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("array size (bytes)")
    ax.set_ylabel("GB/s")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6, loc="best")


def figure(rows: "Rows", path: str) -> None:
    """GB/s vs size of every copy, one panel a backend; the limits (C++, same run) dashed."""
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    tput, limits = kind(rows, "throughput"), kind(rows, "limits")
    if tput.empty:
        raise HarnessError("nothing to plot: no throughput was measured in this run")
    backends = list(dict.fromkeys(tput["backend"]))
    ncol = min(3, len(backends))
    nrow = (len(backends) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.0 * nrow), squeeze=False, constrained_layout=True)
    for ax, b in zip(axes.flat, backends):
        mine_limits = limits[limits["backend"] == b] if not limits.empty else limits
        _panel(ax, tput[tput["backend"] == b], mine_limits, b)
    for ax in list(axes.flat)[len(backends):]:
        ax.axis("off")
    fig.suptitle("memharness aliasing: GB/s of each copy (dashed: the C++ limits; a borrow copies nothing)")
    save_figure(fig, path)
    plt.close(fig)
