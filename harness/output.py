"""Results of a topic, and how they are written: table, CSV, JSON, Markdown, PNG.

Every file is written atomically: to a temporary file in the same folder,
then renamed over the target, so an interrupted run leaves no half file.
A symbolic link is written through (its target is replaced), and a character
device or FIFO such as /dev/stdout is written to in place, never replaced.
"""
from __future__ import annotations

import json
import math
import os
import platform
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

from harness.claims import Verdict
from harness.errors import HarnessError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMATS = ("table", "csv", "json", "markdown")


@dataclass
class TopicResult:
    """What one topic's run produced: tables, verdicts, notes (skips, caveats)."""

    topic: str
    tables: Dict[str, "pd.DataFrame"]
    verdicts: List[Verdict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)
    rows: Dict[str, "pd.DataFrame"] = field(default_factory=dict, repr=False)  # raw rows: the figure's input, not written

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


# Temporary files of write_atomic: a recognisable name, so that a writer killed before its rename
# (SIGKILL, power loss) leaves something that the next writer of that folder can clean up
# (merge-results does, under its lock).
TEMP_PREFIX = ".memharness-"
TEMP_SUFFIX = ".tmp"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` (a file name, no folder) is one of write_atomic's temporary files."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _target(path: str) -> Tuple[str, Optional[os.stat_result]]:
    """Where writing ``path`` lands, and what is there now (None: nothing yet).

    A symbolic link is followed: the file it points to is written, the link stays. A device or a
    FIFO is returned as named (through /dev/stdout's /proc link, say): it is written to, not replaced.
    """
    try:
        st = os.stat(path)  # follows links
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:  # a loop of links, a folder that may not be searched
        raise HarnessError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        return path, st
    return os.path.realpath(path), st


def _streamed(path: str, st: Optional[os.stat_result]) -> bool:
    """True for a character device or a FIFO (written to directly); refuses every other non-file."""
    if st is None or stat.S_ISREG(st.st_mode):
        return False
    if stat.S_ISDIR(st.st_mode):
        raise HarnessError("output path %s is a folder, not a file" % path)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return True
    raise HarnessError("cannot write %s: it is %s, not a regular file, a character device or a FIFO"
                       % (path, "a block device" if stat.S_ISBLK(st.st_mode) else "a socket or other special file"))


def is_stream(path: str) -> bool:
    """Whether ``path`` names a character device or a FIFO (/dev/stdout, say): written to, never replaced."""
    return _streamed(path, _target(path)[1])


def check_writable(path: str) -> None:
    """Fail early, before a long run, if ``path`` cannot be written."""
    target, st = _target(path)
    if _streamed(path, st):
        if not os.access(path, os.W_OK):
            raise HarnessError("cannot write %s: permission denied" % path)
        return
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise HarnessError("cannot write %s: folder %s does not exist" % (path, folder))
    if not os.access(folder, os.W_OK):
        raise HarnessError("cannot write %s: folder %s is not writable" % (path, folder))
    # os.access says yes to root everywhere, and knows nothing of read-only mounts or /proc:
    # create (and remove) a file there, as write_atomic will
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + os.path.basename(target) + ".", suffix=TEMP_SUFFIX,
                                     dir=folder)
    except OSError as exc:
        raise HarnessError("cannot write %s: %s" % (path, exc.strerror or exc)) from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def _write_stream(path: str, data: bytes) -> None:
    """Write to a character device or a FIFO in place (a FIFO waits for its reader, as a redirection does)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        try:
            if not _streamed(path, os.fstat(fd)):  # replaced by a regular file since it was checked
                raise HarnessError("cannot write %s: it changed while it was opened" % path)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except BrokenPipeError:  # the reader went away (| head): as for stdout, the CLI's to handle
        raise
    except OSError as exc:
        raise HarnessError("cannot write %s: %s" % (path, exc.strerror or exc)) from None


def write_atomic(path: str, data: Union[str, bytes]) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Through a symbolic link the file it points to is replaced (the link stays); a character
    device or a FIFO (``/dev/stdout``) is written to directly, never replaced.
    """
    check_writable(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    target, st = _target(path)
    if _streamed(path, st):
        _write_stream(path, raw)
        return
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + os.path.basename(target) + ".", suffix=TEMP_SUFFIX, dir=folder)
    try:
        if st is not None:
            mode = stat.S_IMODE(st.st_mode) & 0o777  # the file replaced keeps its permissions
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # mkstemp makes 0600; a result file is an ordinary file
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
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


def check_outputs(output: Optional[str], plot: Optional[str]) -> None:
    """Before a run: ``--output`` and ``--plot`` can be written, and matplotlib can write ``--plot``'s format."""
    if output:
        check_writable(output)
    if plot:
        check_writable(plot)
        plt = require_matplotlib()
        ext = plot.rsplit(".", 1)[-1].lower() if "." in plot else ""
        kinds = plt.figure().canvas.get_supported_filetypes()
        plt.close("all")
        if ext not in kinds:
            raise HarnessError("--plot %s: matplotlib cannot write %s files (use one of: %s)"
                               % (plot, "." + ext if ext else "extension-less", ", ".join(sorted(kinds))))


def emit(text: str, output: Optional[str], plot: Optional[str], draw: Any, quiet: bool) -> None:
    """After a run: the text to ``output`` (atomically) or stdout, and ``draw(plot)`` for ``--plot``."""
    import sys

    if output:
        write_atomic(output, text)
        if not quiet:
            print("wrote %s" % output, file=sys.stderr)
    else:
        sys.stdout.write(text)
    if plot:
        draw(plot)
        if not quiet:
            print("wrote %s" % plot, file=sys.stderr)
