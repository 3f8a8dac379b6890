"""What a run of the pickle topic measures: the objects, their payload sizes and the methods of
each, by default and with --full.

Standard library only, CPython 3.8 syntax (the package's ``__init__`` imports it).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from harness.topics.pickle.workloads import OBJECTS, ObjectSpec, get_object

KiB = 1 << 10
MiB = 1 << 20
# Default sizes (payload bytes) per object family; --full and --sizes change them. The default
# run is the report's: every figure a claim reads, at sizes where the peaks are many pages
# (a page is 1.6% of 256 KiB) and one process's timing takes a few seconds.
DEFAULT_SIZES: Dict[str, Tuple[int, ...]] = {"numpy": (1 * MiB,), "*": (256 * KiB,)}
FULL_SIZES: Dict[str, Tuple[int, ...]] = {"numpy": (1 * MiB, 16 * MiB, 64 * MiB, 256 * MiB),
                                          "*": (1 * MiB, 16 * MiB)}
# Families whose default run compares every protocol (the objects the protocol claims are about);
# "class" and "state" (the cached classes) get dumps at HIGHEST only (their claims read the pickled
# bytes and peaks there), every protocol with --full;
# the C++ containers (whose state is one bytes object) and PyTensor/Theano objects are measured
# with --full or when named with --objects (no claim needs them), with the default and the
# highest protocol unless --full.
PROTOCOL_FAMILIES = ("python", "numpy")
HIGHEST_ONLY = ("class", "state")
DEFAULT_FAMILIES = PROTOCOL_FAMILIES + HIGHEST_ONLY


def default_objects(full: bool = False) -> List[str]:
    """The objects a run measures unless --objects says otherwise."""
    return [n for n, s in OBJECTS.items() if full or s.family in DEFAULT_FAMILIES]


def default_methods(spec: ObjectSpec, full: bool = False) -> List[str]:
    """The methods a run measures on ``spec`` unless --methods says otherwise."""
    from harness.topics.pickle.methods import DEFAULT, HIGHEST, METHODS

    protocols = tuple(range(HIGHEST + 1))
    if spec.family in HIGHEST_ONLY and not full:
        return ["dumps-p%d" % HIGHEST]
    every = full or spec.family in PROTOCOL_FAMILIES
    names = ["dumps-p%d" % p for p in (protocols if every else sorted({DEFAULT, HIGHEST}))]
    if full:
        names += ["dump-p%d" % p for p in protocols]
    else:  # the file claim compares a file with bytes at HIGHEST
        names += ["dump-p%d" % HIGHEST]
    if spec.has_arrays or full:
        names += [n for n in ("oob-p5", "npzip", "pkl_utils") if n in METHODS]
    if spec.is_ndarray:
        names.append("numpy.save")
    return names


def plan_cases(objects: Optional[List[str]] = None, sizes: Optional[List[int]] = None,
               methods: Optional[List[str]] = None, full: bool = False) -> List[Tuple[str, int, List[str]]]:
    """The cases of a run: (object, payload size in bytes, methods), in run order."""
    from harness.topics.pickle.methods import get_method

    cases = []
    for name in (list(objects) if objects else default_objects(full)):
        spec = get_object(name)
        if sizes:
            obj_sizes = list(sizes)
        else:
            table = FULL_SIZES if full else DEFAULT_SIZES
            obj_sizes = list(table.get(spec.family, table["*"]))
        meths = list(methods) if methods else default_methods(spec, full)
        for m in meths:
            get_method(m)
        for size in obj_sizes:
            cases.append((name, int(size), meths))
    return cases
