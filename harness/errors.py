"""Exceptions that the CLI turns into a one-line message and exit status 2."""
from __future__ import annotations


class HarnessError(Exception):
    """A user-facing error: bad input, a missing backend, a refused size."""


class MemoryGuardError(HarnessError):
    """A workload would need more memory than the machine has free."""


class BackendMissing(HarnessError):
    """An optional backend (Theano, PyTensor, JAX, CuPy, a GPU) is not available."""

    def __init__(self, backend: str, reason: str, install: str = "") -> None:
        self.backend = backend
        self.reason = reason
        self.install = install
        msg = "%s is not available: %s" % (backend, reason)
        if install:
            msg += " (install with: %s)" % install
        super().__init__(msg)


class ChildError(HarnessError):
    """A measurement child process failed."""
