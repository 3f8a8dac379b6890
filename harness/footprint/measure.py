"""The child side of ``memharness footprint``: run the setup, then build one statement's value and
measure it with ``harness.core.footprint.measure_build`` (the containers topic's Python side
measures through the same function).

A statement is an expression (``"[*range(n)]"``) evaluated in the setup's namespace, or an
importable ``"module:function"`` called with no arguments; its value is what is measured. A
failure is returned as data, {"error": ..., "stage": "setup" | "statement" | "measure"}, so the
parent can name the statement in one line.

Standard library only and CPython 3.8 syntax: this runs under every interpreter of --python.
"""
from __future__ import annotations

import importlib
import keyword
import re
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Sequence

from harness.core.footprint import GUARD_FRACTION, measure_build

_FUNC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")


def function_ref(stmt: str) -> Optional[str]:
    """``stmt`` if it names a function as "module:function" (no Python expression looks so), else None."""
    text = stmt.strip()
    if not _FUNC.match(text):
        return None
    if any(keyword.iskeyword(part) for part in re.split(r"[.:]", text)):
        return None  # "lambda:x" is an expression
    return text


def _stdout_to_file() -> Any:
    """sys.stdout while a statement runs: a temporary file (the child's stdout carries only its JSON
    answer), read back afterwards by ``_stdout_back``. A file of the io module's own, not an object of
    a Python class: an instance of a class of ours made the footprint child's allocated bytes depend
    on the address-space layout (64-80 B in a fraction of processes under randomisation), and a file
    holds what is printed outside the heap under measurement."""
    import tempfile

    out = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    sys.stdout = out
    return out


def _stdout_back(out: Any, saved: Any) -> int:
    """Restore sys.stdout, pass on what was printed to it (to stderr) and return its length in characters."""
    sys.stdout = saved
    out.seek(0)
    text = out.read()
    out.close()
    if text:
        sys.stderr.write(text)
    return len(text)


def _error(stage: str, exc: BaseException) -> Dict[str, Any]:
    if isinstance(exc, MemoryError):
        return {"error": "MemoryError: it asks for more memory than is free (a child may take %d%% of the memory "
                         "free when it starts)" % (GUARD_FRACTION * 100), "stage": stage}
    message = str(exc).strip().splitlines()
    text = type(exc).__name__ + (": " + message[0] if message else "")
    if isinstance(exc, SyntaxError) and exc.offset is not None and not message:
        text += " (column %d)" % exc.offset
    return {"error": text, "stage": stage}


def _builder(stmt: str, setup: str, paths: Sequence[str]) -> Callable[[], Any]:
    """The build: setup run now (in the namespace the statement sees), the statement compiled now."""
    from harness.core.modpath import add_folders

    add_folders(paths)
    # a module of its own, in sys.modules: what the setup defines can be looked up by its
    # __module__ (dataclasses, pickle and typing do)
    module = types.ModuleType("__footprint__")
    sys.modules[module.__name__] = module
    namespace: Dict[str, Any] = module.__dict__
    exec(compile(setup, "<setup>", "exec"), namespace)  # also puts __builtins__ in, before the build
    ref = function_ref(stmt)
    if ref is not None:
        module_name, _, qualname = ref.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError("%s is not callable" % ref)
        func: Callable[[], Any] = obj
        return func
    code = compile(stmt, "<statement>", "eval")
    return lambda: eval(code, namespace)


def statement(stmt: str, setup: str = "", paths: Optional[List[str]] = None) -> Dict[str, Any]:
    """One statement's figures (see ``retained.measure_retained``), or {"error", "stage"}.

    ``paths``: folders put first on sys.path before the setup runs (where a "module:function"
    lives). ``printed``: characters the statement and setup wrote to sys.stdout (sent to stderr).
    """
    saved = sys.stdout
    out = _stdout_to_file()
    try:
        stage = "setup"
        try:
            compile(stmt, "<statement>", "eval") if function_ref(stmt) is None else None
        except SyntaxError as exc:
            return _error("statement", exc)
        build = _builder(stmt, setup, paths or [])
        stage = "statement"
        fig = measure_build(build, what=stmt)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and MemoryError too: the statement's failure
        return _error(stage, exc)
    finally:
        printed = _stdout_back(out, saved)
    fig["printed"] = printed
    fig["python"] = "%d.%d.%d" % sys.version_info[:3]
    return fig
