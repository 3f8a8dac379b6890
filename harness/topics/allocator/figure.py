"""The allocator topic's --plot figure: RSS above the start over the steps, one panel per free
pattern, one line per version and allocator, for the run's first workload objects. Reads the rows."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from harness.errors import HarnessError
from harness.topic import kind
from harness.topics.allocator.claims import SHORT, records
from harness.topics.allocator.workloads import PATTERNS, MiB, objects_label

if TYPE_CHECKING:  # pragma: no cover
    from harness.topic import Rows

STYLES = {"pymalloc": "-", "malloc": "--", "c++": ":"}


def _curves(rows: "Rows") -> Tuple[str, Dict[Tuple[str, str, str], List[Optional[float]]]]:
    """The first workload's objects, and for each (python, allocator, pattern) of those objects
    the RSS above the start after each step, in MiB (0 at the start; None for a step not measured)."""
    steps = records(kind(rows, "steps"))
    if not steps:
        raise HarnessError("nothing to plot: the run measured no workload")
    size = steps[0]["size"]
    by: Dict[Tuple[str, str, str], Dict[str, float]] = {}
    for r in steps:
        if r["size"] == size:
            by.setdefault((r["python"], r["allocator"], r["pattern"]), {})[r["step"]] = r["rss_delta"] / MiB
    return objects_label(size), {k: [0.0, *(v.get(s) for s in SHORT)] for k, v in by.items()}


def figure(rows: "Rows", path: str) -> None:
    """Draw the figure to ``path`` (the format follows its suffix)."""
    from harness.output import require_matplotlib, save_figure

    objects, curves = _curves(rows)
    plt = require_matplotlib()
    patterns = [p for p in PATTERNS if p in {pat for _, _, pat in curves}]
    fig, axes = plt.subplots(1, len(patterns), figsize=(4.2 * len(patterns), 3.8), sharey=True, squeeze=False)
    names = ["start"] + list(SHORT.values())
    pythons = list(dict.fromkeys(py for py, _, _ in curves))
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for ax, pat in zip(axes[0], patterns):
        for (py, allocator, p), ys in curves.items():
            if p != pat:
                continue
            cpp = allocator == "c++"
            color = "black" if cpp else colors[pythons.index(py) % len(colors)]
            label = "C++ (glibc)" if cpp else "%s %s" % (py, allocator)
            ax.plot(names, ys, STYLES.get(allocator, "-"), color=color, marker="o", ms=3, label=label)
        ax.set_title(pat)
        ax.set_xlabel("step")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("RSS above start (MiB)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.suptitle("pymalloc retention: %s objects" % objects)
    fig.tight_layout()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    save_figure(fig, path)
    plt.close(fig)
