"""The containers topic's plot: bytes per element against n, one panel a workload."""
from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.topic import kind

if TYPE_CHECKING:  # pragma: no cover
    from harness.topic import Rows


def figure(rows: "Rows", path: str) -> None:
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    df = kind(rows, "elements")
    if df.empty:
        raise HarnessError("nothing to plot: no workload was measured in this run")
    names = list(dict.fromkeys(df["workload"]))
    cols = 4
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        d = df[df["workload"] == name].sort_values("n")
        ax.plot(d["n"], d["py_alloc"], "o-", label="Python (allocated)")
        ax.plot(d["n"], d["py_req"], ".:", label="Python (requested)")
        ax.plot(d["n"], d["cpp_alloc"], "s-", label="C++ (allocated)")
        ax.plot(d["n"], d["payload"], "--", color="grey", label="payload")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("bytes / element")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Bytes per element vs n, Python %s" % platform.python_version())
    save_figure(fig, path)
    plt.close(fig)
