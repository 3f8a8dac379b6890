"""A small progress reporter on stderr: a bar on a terminal, one line a step otherwise."""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """Report progress of ``total`` steps.

    On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a
    line per step so a long run is never silent. ``enabled=False`` is silent.
    """

    def __init__(self, total: int, desc: str = "", *, enabled: bool = True, stream: Optional[TextIO] = None) -> None:
        self.total = max(int(total), 0)
        self.desc = desc
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, note: str = "") -> None:
        """Announce the step about to run (``note`` says what it is)."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        n = min(self.done + 1, self.total) if self.total else self.done + 1
        if self._tty:
            width = 24
            filled = int(width * self.done / self.total) if self.total else 0
            bar = "#" * filled + "." * (width - filled)
            line = "\r%s [%s] %d/%d %5.1fs %s" % (self.desc, bar, n, self.total, elapsed, note)
            self.stream.write(line[:120].ljust(120))
        else:
            self.stream.write("%s [%d/%d] %5.1fs %s\n" % (self.desc, n, self.total, elapsed, note))
        self.stream.flush()
        self.done += 1

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
