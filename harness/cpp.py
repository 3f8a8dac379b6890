"""The C++ containers, as public API: ``from harness.cpp import IntVector``.

Re-exports ``harness._containers`` (built from cpp/ by CMake). Use
``available()`` to learn whether the extension is importable, and why not.
"""
from __future__ import annotations

from typing import Optional

try:
    from harness import _containers as _ext
    from harness._containers import *  # noqa: F401,F403

    _ERROR: Optional[str] = None
except ImportError as exc:  # the extension was not built (e.g. a source tree on PYTHONPATH)
    _ext = None
    _ERROR = str(exc)


def available() -> Optional[str]:
    """None when the C++ extension is importable, else the reason it is not."""
    if _ERROR:
        return "the C++ extension harness._containers is not built (%s); install with: pip install ." % _ERROR
    return None
