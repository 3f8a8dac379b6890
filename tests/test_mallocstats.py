"""The sys._debugmallocstats() parser, on real reports of CPython 3.8-3.13 and on broken ones."""
import os
import re
import subprocess
import sys

import pytest

from harness.core import children, interpreters, mallocstats, memory
from harness.core.mallocstats import InconsistentStatsError, NotPymallocError, UnknownFormatError, parse

DATA = os.path.join(os.path.dirname(__file__), "data", "mallocstats")
FILES = sorted(f for f in os.listdir(DATA) if f.endswith(".txt"))
PYMALLOC_FILES = [f for f in FILES if "-pymalloc" in f]


def read(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


def version_of(name):
    return tuple(int(x) for x in name.split("-")[0].split(".")[:2])


def test_data_covers_every_version_and_allocator():
    versions = {version_of(f) for f in PYMALLOC_FILES}
    assert versions >= {(3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13)}
    kinds = {f.split("-", 1)[1].rsplit(".", 1)[0] for f in FILES}
    assert {"malloc", "mimalloc", "pymalloc_debug"} <= kinds


@pytest.mark.parametrize("name", PYMALLOC_FILES)
def test_pymalloc_reports_parse_with_the_sizes_of_their_version(name):
    s = parse(read(name))
    assert s.allocator == mallocstats.PYMALLOC
    # The reports were captured under these versions; the sizes come from the text.
    if version_of(name) < (3, 10):
        assert (s.arena_size, s.pool_size) == (262144, 4096)
        assert s.arena_map == {}
        assert s.bytes_lost_arena_alignment == 0
    else:
        assert (s.arena_size, s.pool_size) == (1048576, 16384)
        assert set(s.arena_map) == {"mid_nodes", "bot_nodes", "root", "mid", "bot", "total"}
    assert s.small_block_threshold == 512 and s.num_size_classes == 32
    assert s.alignment == 16 and s.pool_header_size == 48
    assert s.pools_per_arena == s.arena_size // s.pool_size
    assert s.arena_bytes == s.arenas_current * s.arena_size == s.total
    assert s.arenas_highwater >= s.arenas_current
    assert s.arenas_allocated_total - s.arenas_reclaimed == s.arenas_current
    assert s.bytes_in_allocated_blocks == sum(c.blocks_in_use * c.size for c in s.size_classes)
    assert s.size_class(1) == 16 and s.size_class(50) == 64 and s.size_class(512) == 512
    assert s.size_class(513) is None
    assert len(s.freelists) > 10 and all(f.total == f.count * f.size_each for f in s.freelists)


def test_numbers_with_thousands_separators():
    s = parse(read("3.8.18-pymalloc-start.txt"))
    assert "1,307,424" in read("3.8.18-pymalloc-start.txt")
    assert s.bytes_in_allocated_blocks == 1307424


def test_fragmented_reports_hold_more_arenas_than_fresh_ones():
    for v in ("3.8.18", "3.13.0"):
        start = parse(read(v + "-pymalloc-start.txt"))
        frag = parse(read(v + "-pymalloc-fragmented.txt"))
        assert frag.arenas_current > start.arenas_current
        assert frag.bytes_in_allocated_blocks > start.bytes_in_allocated_blocks


def test_debug_hooks_report_omits_classes_without_pools():
    s = parse(read("3.8.18-pymalloc_debug.txt"))
    assert s.allocator == mallocstats.PYMALLOC
    assert len(s.size_classes) < s.num_size_classes  # the table skips empty classes
    assert s.size_classes[0].index > 0
    assert s.alignment == 16


@pytest.mark.parametrize("name", [f for f in FILES if f.endswith("-malloc.txt")])
def test_system_malloc_is_detected_and_reported(name):
    s = parse(read(name))
    assert s.allocator == mallocstats.MALLOC
    assert s.arena_size is None and s.pool_size is None and s.size_classes == []
    assert s.freelists
    with pytest.raises(NotPymallocError, match="system allocator"):
        s.require_pymalloc("arena size")


@pytest.mark.parametrize("name", [f for f in FILES if "mimalloc" in f])
def test_mimalloc_is_detected_and_reported(name):
    s = parse(read(name))
    assert s.allocator == mallocstats.MIMALLOC
    assert s.arena_size is None and s.pools_in_use is None
    assert s.mimalloc["Bytes Reserved"] >= s.mimalloc["Bytes Committed"] > 0
    assert s.mimalloc["Allocated Bytes"] > 0
    with pytest.raises(NotPymallocError, match="mimalloc"):
        s.require_pymalloc()


@pytest.mark.parametrize("text", ["", "\n\n", "hello world\n", "Small block threshold = 512\n"])
def test_unknown_or_empty_text_is_refused(text):
    with pytest.raises(UnknownFormatError):
        parse(text)


def test_an_unknown_line_is_named():
    lines = read("3.12.1-pymalloc-start.txt").splitlines()
    lines.insert(40, "# bytes lost to cosmic rays        =                    7")
    with pytest.raises(UnknownFormatError, match="cosmic rays"):
        parse("\n".join(lines))
    lenient = parse("\n".join(lines), strict=False)
    assert lenient.unparsed == ["# bytes lost to cosmic rays        =                    7"]
    assert lenient.arena_size == 1048576


def test_altered_figures_do_not_add_up():
    text = read("3.10.13-pymalloc-start.txt")
    bad = re.sub(r"(# bytes in allocated blocks\s*=\s*)([\d,]+)", r"\g<1>123", text)
    with pytest.raises(InconsistentStatsError, match="blocks in use"):
        parse(bad)
    bad = text.replace("bytes/arena", "bytes/arena").replace("* 1048576 bytes/arena", "* 524288 bytes/arena")
    with pytest.raises(InconsistentStatsError):
        parse(bad)
    bad = text.replace("* 16384 bytes", "* 8192 bytes")
    with pytest.raises(InconsistentStatsError):
        parse(bad)


@pytest.mark.parametrize("name", ["3.9.18-pymalloc-start.txt", "3.13.0-pymalloc-fragmented.txt"])
def test_truncated_reports_never_give_wrong_figures(name):
    """Cut anywhere: either the parse fails loudly, or its pymalloc figures are the full report's."""
    text = read(name)
    full = parse(text).summary()
    lines = text.splitlines()
    outcomes = set()
    for k in range(len(lines)):
        try:
            got = parse("\n".join(lines[:k])).summary()
        except UnknownFormatError:
            outcomes.add("refused")
            continue
        outcomes.add("parsed")
        assert got == full, "cut at line %d gave other figures" % k
    assert outcomes == {"refused", "parsed"}


def test_parse_takes_text_only():
    with pytest.raises(TypeError):
        parse(read("3.8.18-malloc.txt").encode())


def test_measure_reads_allocated_blocks_through_the_parser(monkeypatch):
    monkeypatch.setattr(memory, "capture_debugmallocstats", lambda: read("3.11.7-pymalloc-start.txt"))
    assert memory.pymalloc_reading() == (mallocstats.PYMALLOC,
                                         parse(read("3.11.7-pymalloc-start.txt")).bytes_in_allocated_blocks)
    for name, allocator in (("3.13.0-malloc.txt", mallocstats.MALLOC), ("3.13.0-mimalloc.txt", mallocstats.MIMALLOC)):
        monkeypatch.setattr(memory, "capture_debugmallocstats", lambda name=name: read(name))
        assert memory.pymalloc_reading() == (allocator, None)  # the allocator named: allocated_total decides
    for text in ("garbage\n", ""):
        monkeypatch.setattr(memory, "capture_debugmallocstats", lambda text=text: text)
        assert memory.pymalloc_reading() == (mallocstats.UNKNOWN, None)


def test_this_interpreter_parses_strictly():
    if os.environ.get("PYTHONMALLOC"):
        pytest.skip("PYTHONMALLOC is set")
    s = mallocstats.current()
    assert s.allocator == mallocstats.PYMALLOC
    assert s.arenas_current >= 1


def _interpreters():
    from conftest import find_python

    found = [("current", sys.executable)]
    for v in interpreters.VERSIONS:
        p = find_python(v)
        if p and os.path.realpath(p) != os.path.realpath(sys.executable):
            found.append((v, p))
    return found


@pytest.mark.parametrize("version,python", _interpreters())
def test_parsed_sizes_equal_the_sizes_seen_in_block_addresses(version, python):
    """Arena and pool size read from the report agree with where the interpreter really puts blocks."""
    g = children.run_child("harness.topics.allocator.measure:child_geometry", {}, python=python,
                          env={"PYTHONMALLOC": "pymalloc"})
    assert g["allocator"] == "pymalloc"
    probe = g["probe"]
    assert probe["stride"] == g["block"] == 64  # a 50-byte request gets a 64-byte block
    assert probe["pool_size"] == g["pool_size"]
    assert probe["pool_header"] == g["pool_header_size"]
    ppa = probe["pools_per_arena"]
    assert ppa * g["pool_size"] <= g["arena_size"] <= (ppa + 1) * g["pool_size"]
    assert g["class_blocks_added"] >= g["n"]
    if g["python"].startswith(("3.8.", "3.9.")):
        assert (g["arena_size"], g["pool_size"]) == (262144, 4096)
    else:
        assert (g["arena_size"], g["pool_size"]) == (1048576, 16384)


@pytest.mark.parametrize("setting,expected", [("malloc", "malloc"), ("malloc_debug", "malloc")])
def test_other_allocators_are_detected_live(setting, expected):
    g = children.run_child("harness.topics.allocator.measure:child_geometry", {}, env={"PYTHONMALLOC": setting})
    assert g["allocator"] == expected
    assert "arena_size" not in g


def test_mimalloc_is_detected_live():
    from conftest import find_python

    py = find_python("3.13")
    if not py:
        pytest.skip("CPython 3.13 not installed")
    probe = subprocess.run([py, "-c", "import sys; sys._debugmallocstats()"], capture_output=True,
                           env=dict(os.environ, PYTHONMALLOC="mimalloc"))
    if probe.returncode != 0:
        pytest.skip("this 3.13 build has no mimalloc")
    g = children.run_child("harness.topics.allocator.measure:child_geometry", {}, python=py, env={"PYTHONMALLOC": "mimalloc"})
    assert g["allocator"] == "mimalloc"
