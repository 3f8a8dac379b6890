"""The measurement core every topic shares: child processes (``children``), memory readers
(``memory``), pymalloc's reports (``mallocstats``), timing, units, interpreter discovery
(``interpreters``), optional imports and their install hints (``optional``), the verdict rule
(``verdict``) and progress.

Standard library only and CPython 3.8 syntax: children of other interpreters import it.
"""
