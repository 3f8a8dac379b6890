"""memharness: measured facts about Python memory and copies.

This package must stay importable with the standard library alone and on
CPython 3.8: child processes of other interpreters import ``harness._child``
and the allocator workloads without numpy, pandas or the C++ extension.
"""
from __future__ import annotations

__version__ = "0.1.0"
