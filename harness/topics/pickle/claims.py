"""The pickle topic's claims: each a Claim object whose rule is a pure function of the rows.

The rules live by subject (``claims_protocols``, ``claims_memory``, ``claims_state``) and share
``judging``: they read the "cases" rows (one per object, size and method; bytes and seconds,
peaks resident) and the "versions" rows (one per writer, protocol and reader), keep only the
methods that round-tripped, and call one time faster than another only where ``timing.compare``
finds the difference significant.
"""
from __future__ import annotations

from harness.claims import Claim
from harness.topics.pickle.claims_memory import rule_file, rule_oob, rule_peak
from harness.topics.pickle.claims_protocols import rule_highest, rule_versions
from harness.topics.pickle.claims_state import rule_dictstate, rule_getstate, rule_pkl_utils
from harness.topics.pickle.judging import NO_TIMES, TIMES
from harness.topics.pickle.methods import HIGHEST

__all__ = ["CLAIMS", "NO_TIMES", "PEAK", "FILE", "GETSTATE", "DICTSTATE", "HIGHEST_SMALLEST_FASTEST", "VERSIONS",
           "OOB", "PKL_UTILS", "rule_peak", "rule_file", "rule_getstate", "rule_dictstate", "rule_highest",
           "rule_versions", "rule_oob", "rule_pkl_utils"]

# --------------------------------------------------------------------------
# The claims, in the order the topic reports them

PEAK = Claim("pickle.peak", "Pickling uses an unnecessarily large chunk of memory",
             ("cases.dump_peak", "cases.pickled", "cases.dump_copies", "cases.dump_untouched", "cases.payload"),
             rule_peak)
FILE = Claim("pickle.file", "It is more efficient to serialise certain objects into a file than to bytes",
             ("cases.dump_peak", "cases.payload", "cases.dump_values"), rule_file)
GETSTATE = Claim("pickle.getstate",
                 "__getstate__/__setstate__ control what is pickled (drop a cache, rebuild it on load)",
                 ("cases.pickled", "cases.dump_peak", "cases.dump_s", "cases.load_s"), rule_getstate)
DICTSTATE = Claim("pickle.dictstate",
                  "Passing the whole __dict__ to pickle and removing entries (the cache) works but is not robust "
                  "(a subclass that adds an attribute)",
                  ("cases.pickled", "cases.equal"), rule_dictstate)
HIGHEST_SMALLEST_FASTEST = Claim(
    "pickle.highest", "Use protocol=pickle.HIGHEST_PROTOCOL (%d): it is the smallest and fastest" % HIGHEST,
    ("cases.pickled",) + TIMES, rule_highest)
VERSIONS = Claim("pickle.versions",
                 "Which protocols each Python version can read: a pickle written at protocol N by one CPython "
                 "loads in every other whose HIGHEST_PROTOCOL is N or more",
                 ("versions.protocol", "versions.loaded", "versions.equal", "versions.reader_highest"),
                 rule_versions)
OOB = Claim("pickle.oob", "Protocol 5 out-of-band buffers (buffer_callback / buffers=) pickle arrays with zero copies",
            ("cases.dump_copies", "cases.load_copies", "cases.payload"), rule_oob)
PKL_UTILS = Claim("pickle.pkl_utils",
                  "pkl_utils-style dumps (a zip of a pickle plus one .npy per array) store arrays in a "
                  "numpy-readable form, good for sharing",
                  ("cases.numpy_readable", "cases.kind", "cases.library"), rule_pkl_utils)

CLAIMS = [PEAK, FILE, GETSTATE, DICTSTATE, HIGHEST_SMALLEST_FASTEST, VERSIONS, OOB, PKL_UTILS]
