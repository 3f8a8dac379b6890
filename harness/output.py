"""Results of a topic, and how they are written: table, CSV, JSON, Markdown, PNG.

Every file is written atomically: to a temporary file in the same folder,
then renamed over the target, so an interrupted run leaves no half file.
"""
from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMATS = ("table", "csv", "json", "markdown")
VERDICTS = ("confirmed", "refuted", "partly", "inconclusive")


@dataclass
class Verdict:
    """One claim of the folklore, judged by figures measured in this run."""

    claim: str
    verdict: str  # one of VERDICTS
    evidence: str  # the figure(s) behind the verdict, in words
    topic: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError("verdict must be one of %s, got %r" % (VERDICTS, self.verdict))


@dataclass
class TopicResult:
    """What one topic's run produced: tables, verdicts, notes (skips, caveats)."""

    topic: str
    tables: Dict[str, "pd.DataFrame"]
    verdicts: List[Verdict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.meta.setdefault("python", platform.python_version())
        self.meta.setdefault("machine", platform.node())
        for v in self.verdicts:
            v.topic = v.topic or self.topic

    def to_dict(self) -> Dict[str, Any]:
        return {
            "topic": self.topic,
            "meta": self.meta,
            "tables": {name: _records(df) for name, df in self.tables.items()},
            "verdicts": [asdict(v) for v in self.verdicts],
            "notes": list(self.notes),
        }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _clean(value.item())
        except (ValueError, AttributeError):
            return str(value)
    return value


def _records(df: "pd.DataFrame") -> List[Dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def markdown_table(df: "pd.DataFrame", floatfmt: str = "{:.4g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def cell(v: Any) -> str:
        v = _clean(v)
        if v is None:
            return ""
        if isinstance(v, float):
            return floatfmt.format(v)
        return str(v).replace("|", "\\|")

    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def render(result: TopicResult, fmt: str) -> str:
    """The result as text in one of FORMATS."""
    import pandas as pd

    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, default=str) + "\n"
    if fmt == "csv":
        frames = []
        for name, df in result.tables.items():
            df = df.copy()
            df.insert(0, "table", name)
            frames.append(df)
        return pd.concat(frames, ignore_index=True).to_csv(index=False) if frames else ""
    if fmt == "markdown":
        parts = ["# memharness %s (Python %s)" % (result.topic, result.meta.get("python"))]
        for name, df in result.tables.items():
            parts += ["", "## " + name, "", markdown_table(df)]
        if result.verdicts:
            vdf = pd.DataFrame([asdict(v) for v in result.verdicts])[["claim", "verdict", "evidence"]]
            parts += ["", "## Verdicts", "", markdown_table(vdf)]
        if result.notes:
            parts += ["", "## Notes", ""] + ["- " + n for n in result.notes]
        return "\n".join(parts) + "\n"
    if fmt == "table":
        parts = []
        with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_rows", 500,
                               "display.float_format", "{:.4g}".format):
            for name, df in result.tables.items():
                parts += ["== %s ==" % name, df.to_string(index=False), ""]
        for v in result.verdicts:
            parts.append("[%s] %s\n    %s" % (v.verdict.upper(), v.claim, v.evidence))
        if result.notes:
            parts += [""] + ["note: " + n for n in result.notes]
        return "\n".join(parts).rstrip() + "\n"
    raise HarnessError("unknown format %r (choose from %s)" % (fmt, ", ".join(FORMATS)))


def check_writable(path: str) -> None:
    """Fail early, before a long run, if ``path`` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise HarnessError("output path %s is a folder, not a file" % path)
    if not os.path.isdir(folder):
        raise HarnessError("cannot write %s: folder %s does not exist" % (path, folder))
    if not os.access(folder, os.W_OK):
        raise HarnessError("cannot write %s: folder %s is not writable" % (path, folder))
    # os.access says yes to root everywhere, and knows nothing of read-only mounts or /proc:
    # create (and remove) a file there, as write_atomic will
    try:
        fd, probe = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise HarnessError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def write_atomic(path: str, data: Union[str, bytes]) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a result file is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # disk full, a folder removed meanwhile...: one line, status 2
            raise HarnessError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
        raise


def save_figure(fig: Any, path: str, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically; the format follows the file's suffix."""
    import io

    ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=ext, dpi=dpi, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def require_matplotlib() -> Any:
    """matplotlib.pyplot with a non-interactive backend, or a clear error."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HarnessError("--plot needs matplotlib (install with: pip install 'memharness[plot]')") from None
    return plt
