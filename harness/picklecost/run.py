"""The parent side of ``memharness pickle-cost`` and ``harness.api.pickle_cost``: the user's
object built and measured in fresh children of each interpreter, through the pickle topic's own
glue (``cases.measure_processes``: one full pass, then timing passes, ``timing.PROCESSES``
processes in all), and the same rows, tables and figure as ``memharness pickle``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from harness.core import footprint
from harness.errors import ChildError, HarnessError
from harness.footprint.run import interpreters
from harness.topics.pickle.cases import COLUMNS, measure_processes, split_rows
from harness.topics.pickle.methods import METHODS, get_method

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CHILD = "harness.picklecost.measure:measure"
DEFAULT_TIMEOUT = 60.0  # seconds the setup and the expression may take to build the object, per child
MEASURE_TIMEOUT = 900.0  # seconds one child may take in all (the methods measured after the build)


def default_methods() -> List[str]:
    """Every method of the pickle topic: dumps and dump at every protocol, out of band, numpy.save
    (arrays), the harness's npzip and pkl_utils (where installed)."""
    return list(METHODS)


def measure(expr: str, setup: str = "", python: Union[None, str, Sequence[str]] = None,
            methods: Optional[Sequence[str]] = None, repeat: int = 3, timeout: float = DEFAULT_TIMEOUT,
            max_time: float = 0.5) -> Dict[str, List[Dict[str, Any]]]:
    """Rows by kind ("cases", "not_applicable", "skipped") for ``expr`` on every interpreter;
    HarnessError naming the expression when it cannot be built or measured."""
    if not isinstance(expr, str) or not expr.strip():
        raise HarnessError("give an expression whose value to pickle (see memharness pickle-cost --help)")
    names = list(methods) if methods else default_methods()
    for name in names:
        get_method(name)
    kwargs = {"expr": expr, "setup": setup, "repeat": repeat, "max_time": max_time, "timeout": timeout}
    out: Dict[str, List[Dict[str, Any]]] = {"cases": [], "not_applicable": [], "skipped": []}
    for it in interpreters(python):
        try:
            got = measure_processes(CHILD, kwargs, names, it.path, timeout=timeout + MEASURE_TIMEOUT,
                                    env=footprint.measure_env())
        except ChildError as exc:
            raise HarnessError("%r (Python %s): %s" % (expr, it.version, _short(str(exc)))) from None
        if "rows" not in got:
            stage = "setup failed: " if got.get("stage") == "setup" else ""
            raise HarnessError("%r (Python %s): %s%s" % (expr, it.version, stage, got.get("error", "no result")))
        for k, rows in split_rows(got["rows"], expr, got["payload"], got["payload"],
                                  got["versions"].get("python") or it.version).items():
            out[k].extend(rows)
    return out


def _short(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "the child failed"
    return line[:300]


def frame(rows: Dict[str, List[Dict[str, Any]]]) -> "pd.DataFrame":
    """The "cases" rows as a DataFrame with the pickle topic's columns (bytes, seconds)."""
    import pandas as pd

    return pd.DataFrame(rows["cases"]).reindex(columns=COLUMNS).reset_index(drop=True)


def plot(df: "pd.DataFrame", path: str) -> None:
    """What ``memharness pickle-cost --plot`` draws: the pickle topic's figure of these rows."""
    from harness.topics.pickle.figure import figure

    if df.empty or df["pickled"].notna().sum() == 0:
        raise HarnessError("nothing to plot: no method was measured")
    figure({"cases": df}, path)
