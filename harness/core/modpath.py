"""Where a user's own module is found, for a child to find the same one, and nothing else there.

A ``module:function`` statement (``memharness footprint``, ``pickle-cost``) or a pickle plugin
names a module the parent imports; the child must import that module from the same folder. The
folder goes LAST on the child's sys.path, so that every other import (numpy, the standard library,
harness itself) still comes from where it would without it, and a folder that other users may
write to (such as /tmp) is refused: a module planted there would run in the measuring child.

Standard library only and CPython 3.8 syntax (children of every interpreter import it).
"""
from __future__ import annotations

import importlib.util
import os
import stat
import sys
from typing import Optional, Sequence

from harness.errors import HarnessError


def module_folder(name: str) -> Optional[str]:
    """The sys.path folder the top package of module ``name`` lives under in this process, or None
    for a module with no file (built-in, frozen) or none found. Refused (HarnessError) when others
    may write to that folder."""
    try:
        spec = importlib.util.find_spec(name.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    top = os.path.dirname(spec.origin)
    if spec.submodule_search_locations:  # a package: its folder's parent is on sys.path
        top = os.path.dirname(top)
    top = os.path.abspath(top)
    st = os.stat(top)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or st.st_uid not in (os.getuid(), 0):
        raise HarnessError("module %s lives in %s, a folder other users may write to: move it to a folder of "
                           "your own (a child would import from there)" % (name, top))
    return top


def add_folders(folders: Sequence[str]) -> None:
    """The child side: each folder at the END of sys.path (never before the standard library or
    site-packages), once."""
    for folder in folders:
        if folder and folder not in sys.path:
            sys.path.append(folder)
