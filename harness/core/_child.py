"""Entry point of measurement child processes, started by ``harness.core.children.child_command``.

The parent writes one JSON object to our stdin: {"func": "harness.mod:function",
"kwargs": {...}}. We call the function and write its JSON-serialisable result
as the last line of stdout. Nothing is ever pickled in either direction: the
parent only ever parses JSON numbers and strings from us.

Standard library only, and CPython 3.8 syntax: this runs under every
interpreter that ``memharness allocator --python`` is pointed at.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import traceback

from harness.core.memory import peak_rss


def main() -> int:
    request = json.loads(sys.stdin.read())
    real_stdout = os.dup(1)
    # Whatever the workload prints goes to stderr, so stdout carries only our JSON.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    status = 0
    try:
        module_name, _, func_name = request["func"].partition(":")
        if not module_name.startswith("harness."):
            raise ValueError("child functions must live in the harness package, got %r" % module_name)
        func = getattr(importlib.import_module(module_name), func_name)
        result = {"result": func(**request.get("kwargs", {}))}
    except BaseException as exc:  # report everything, including MemoryError, as data
        status = 1
        result = {
            "error": {
                "type": type(exc).__name__,
                "harness_error": any(c.__name__ == "HarnessError" for c in type(exc).__mro__),
                "message": str(exc),
                "traceback": traceback.format_exc(),
            }
        }
    result["child"] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "harness": os.path.dirname(os.path.abspath(sys.modules["harness"].__file__ or "")),
        "pid": os.getpid(),
        "peak_rss": peak_rss(),
    }
    data = (json.dumps(result) + "\n").encode()
    while data:
        data = data[os.write(real_stdout, data):]
    return status


if __name__ == "__main__":
    sys.exit(main())
