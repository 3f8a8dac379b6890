"""The pickle topic's --plot figure, drawn from the rows (never from a display table)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.topic import Rows, kind
from harness.topics.pickle.methods import HIGHEST

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MiB = float(1 << 20)


def figure(rows: Rows, path: str) -> None:
    """Four panels: size and dump speed per protocol, peak copies per method, file vs bytes."""
    from harness.output import require_matplotlib, save_figure

    plt = require_matplotlib()
    frame = kind(rows, "cases")
    df = frame[frame["error"].isna()] if "error" in frame else frame
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax1, ax2, ax3, ax4 = axes.ravel()
    top = df[df["payload"] == df.groupby("object")["payload"].transform("max")]
    _protocols(plt, ax1, ax2, top)
    _numpy_copies(ax3, df)
    _file_vs_bytes(ax4, top)
    python = frame["python"].iloc[0] if len(frame) else None
    fig.suptitle("memharness pickle (Python %s)" % python)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _protocols(plt: Any, ax1: Any, ax2: Any, top: "pd.DataFrame") -> None:
    prot = top[top["kind"] == "bytes"]
    colors = plt.get_cmap("tab20").colors
    markers = "os^vD<>ph*"
    for i, (obj, grp) in enumerate(prot.groupby("object", sort=False)):
        grp = grp.sort_values("protocol")
        style = dict(marker=markers[i % len(markers)], color=colors[i % len(colors)], label=obj)
        ax1.plot(grp["protocol"].astype(int), grp["pickled"] / grp["payload"], **style)
        ax2.plot(grp["protocol"].astype(int), grp["payload"] / MiB / grp["dump_s"], **style)
    ax1.set(xlabel="protocol (pickle.dumps)", ylabel="pickled bytes / payload", title="Pickled size")
    ax2.set(xlabel="protocol (pickle.dumps)", ylabel="payload MiB/s", yscale="log", title="Dump speed")
    ax1.legend(fontsize=6, ncol=2)


def _numpy_copies(ax3: Any, df: "pd.DataFrame") -> None:
    arrays = df[df["object"] == "numpy"]
    if arrays.empty:
        return
    big = arrays[arrays["payload"] == arrays["payload"].max()]
    xs = range(len(big))
    ax3.bar([x - 0.2 for x in xs], big["dump_copies"], width=0.4, label="dump")
    ax3.bar([x + 0.2 for x in xs], big["load_copies"], width=0.4, label="load")
    ax3.set_xticks(list(xs))
    ax3.set_xticklabels(big["method"], rotation=60, fontsize=7)
    ax3.set(ylabel="peak extra / payload", title="numpy %.0f MiB: copies at the peak" % (big["payload"].iloc[0] / MiB))
    ax3.legend()


def _file_vs_bytes(ax4: Any, top: "pd.DataFrame") -> None:
    at_highest = top[top["protocol"] == HIGHEST]
    b = at_highest[at_highest["kind"] == "bytes"].set_index("object")["dump_copies"]
    f = at_highest[at_highest["kind"] == "file"].set_index("object")["dump_copies"]
    common = [o for o in b.index if o in f.index]
    if not common:
        return
    xs = range(len(common))
    ax4.bar([x - 0.2 for x in xs], [b[o] for o in common], width=0.4, label="dumps (bytes)")
    ax4.bar([x + 0.2 for x in xs], [f[o] for o in common], width=0.4, label="dump (file)")
    ax4.set_xticks(list(xs))
    ax4.set_xticklabels(common, rotation=60, fontsize=7)
    ax4.set(ylabel="dump peak extra / payload", title="File vs bytes, protocol %d" % HIGHEST)
    ax4.legend()
