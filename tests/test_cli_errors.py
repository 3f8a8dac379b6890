"""Every memharness command refuses bad input with one line and exit status 2, before running
anything, and its --help is accurate: every option it lists is accepted, with the default and the
names it lists. (tests/test_cli.py covers `containers`' bad values; this file the rest.)

Most cases call harness.cli.main in this process (each case fails within milliseconds, before any
measurement); a few run the real console command to check the process's own exit status.
"""
from __future__ import annotations

import os
import re
import sys

import pytest

from harness import cli

COMMANDS = sorted(set(cli.TOPICS) | set(cli.COMMANDS))
PARSER = cli.build_parser()
SUBPARSERS = PARSER._subparsers._group_actions[0].choices
HAVE = [name for name in COMMANDS if name in SUBPARSERS]
UNWRITABLE_DIR = "/proc"  # no file can be created there, even by root (os.access says yes)
HAVE_PROC = os.path.isdir(UNWRITABLE_DIR) and not os.path.exists(os.path.join(UNWRITABLE_DIR, "x"))


def main(argv, capsys):
    """(exit status, stderr) of `memharness ARGV`, in this process."""
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


def assert_one_line_error(rc, err, needle):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle in lines[0], err


def need(name):
    if name not in SUBPARSERS:
        pytest.skip("%s is not in this build" % name)


# --------------------------------------------------------------------------
# --help is accurate


def help_text(name):
    return SUBPARSERS[name].format_help()


def option_helps(name):
    """option string -> its help text (whitespace collapsed), from the subparser's actions."""
    out = {}
    for action in SUBPARSERS[name]._actions:
        for opt in action.option_strings:
            out[opt] = " ".join((action.help or "").split())
    return out


def accepts(name, argv):
    """True if `memharness NAME ARGV` parses (no argparse error); the message otherwise."""
    try:
        PARSER.parse_args([name, *argv])
    except SystemExit as exc:
        return "exit %s" % exc.code
    return True


SAMPLES = {  # a value for each metavar, where the help gives no default to try
    "FILE": "out.csv", "FILE.png": "out.png", "FILE.html": "r.html", "DIR": ".", "DEST": "dest",
    "PATH": sys.executable, "VERSION|PATH": "current", "[BACKEND=]PATH": sys.executable, "LIST": None,
    "SECONDS": "1", "N": "3", "SIZES": "64",
}


# the arguments a command cannot do without
REQUIRED = {"merge-results": ["src", "--into", "dest"], "compare": ["base", "new"],
            "export-pyperf": ["results", "-o", "out.json"]}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_listed_option_is_accepted_with_its_default(name, capsys):
    """Each option parses: flags alone, choices each, and otherwise the very default its help states
    ("(default: X)"), which must also be what the parser uses when the option is left out."""
    need(name)
    extra = REQUIRED.get(name, [])
    defaults = PARSER.parse_args([name, *extra])
    tried = 0
    for action in SUBPARSERS[name]._actions:
        if not action.option_strings or "--help" in action.option_strings:
            continue
        opt = max(action.option_strings, key=len)
        base = ["src"] if opt == "--into" else extra
        if action.nargs == 0:
            assert accepts(name, [*base, opt]) is True, opt
            tried += 1
            continue
        values = list(action.choices or [])
        m = re.search(r"\(default:? ([^);]+)", " ".join((action.help or "").split()))
        if m and not values and " " not in m.group(1).strip():  # prose ("2 or fewer") is not a value
            value = m.group(1).strip()
            values.append(value)
            parsed = PARSER.parse_args([name, *base, opt, value])
            if getattr(defaults, action.dest) is not None:  # the stated default is the real one
                assert getattr(parsed, action.dest) == getattr(defaults, action.dest), (opt, value)
        if not values and SAMPLES.get(action.metavar):
            values.append(SAMPLES[action.metavar])
        for value in values:
            assert accepts(name, [*base, opt, value]) is True, (opt, value)
            tried += 1
    assert tried >= min(2, len([a for a in SUBPARSERS[name]._actions if a.option_strings]) - 1)  # less --help


def names_after_colon(help_str):
    """'... (default: all): a, b, c' -> [a, b, c]"""
    m = re.search(r"\): ([\w.+-]+(?:, [\w.+-]+)+)\s*$", help_str)
    return m.group(1).split(", ") if m else []


@pytest.mark.parametrize("name, option", [
    ("containers", "--workloads"), ("allocator", "--patterns"), ("allocator", "--allocators"),
])
def test_every_name_a_help_lists_is_accepted(name, option):
    need(name)
    names = names_after_colon(option_helps(name)[option])
    assert len(names) >= 2, option_helps(name)[option]
    for n in names:
        assert accepts(name, [option, n]) is True, (option, n)
    assert accepts(name, [option, ",".join(names)]) is True
    assert accepts(name, [option, "surely-not-a-name"]) != True  # noqa: E712


def block_names(text, heading):
    """Names in a description block such as 'Objects (--objects, ...):' then '  name   text' lines."""
    block = text.split(heading, 1)[1].split("\n\n", 1)[0]
    return re.findall(r"\n  (\S+)\s{2,}", block)


@pytest.mark.parametrize("option, heading", [("--objects", "Objects (--objects"), ("--methods", "Methods (--methods")])
def test_pickle_help_lists_accepted_objects_and_methods(option, heading):
    need("pickle")
    names = block_names(help_text("pickle"), heading)
    assert len(names) >= 5
    for n in names:
        assert accepts("pickle", [option, n]) is True, (option, n)


def test_aliasing_help_lists_accepted_backends():
    need("aliasing")
    text = option_helps("aliasing")["--backends"]
    names = re.findall(r"[\w-]+", " ".join(re.findall(r"(?:default: |gpu: )([\w,-]+)", text)).replace(",", " "))
    assert {"theano", "cupy"} <= set(names), text
    for n in names:
        assert accepts("aliasing", ["--backends", n]) is True, n
    for n in names:  # and as the BACKEND of --python BACKEND=PATH
        assert accepts("aliasing", ["--python", "%s=%s" % (n, sys.executable)]) is True, n


def test_report_help_lists_accepted_topics(capsys):
    """report checks --topics itself (after parsing): each listed topic passes that check, which
    comes before the output check, so an unwritable output stops it without running anything."""
    need("report")
    m = re.search(r"\(default: ([\w,-]+)\)", option_helps("report")["--topics"])
    topics = m.group(1).split(",")
    assert set(topics) == set(cli.TOPICS)
    for t in topics:
        rc, err = main(["report", "--topics", t, "--output", "/nonexistent-folder/r.html"], capsys)
        assert_one_line_error(rc, err, "does not exist")


# --------------------------------------------------------------------------
# bad values, unknown names: one line, status 2, nothing run

QUICK_ALLOCATOR = ["--n", "1000", "--objects", "64", "--patterns", "free_all", "--allocators", "c++"]
QUICK_PICKLE = ["--objects", "list-int", "--methods", "dumps-p4", "--sizes", "1KB", "--repeat", "1"]
QUICK_ALIASING = ["--backends", "pytensor-c", "--sizes", "4KB", "--only", "conformance", "--repeat", "1"]

BAD = [
    ("allocator", ["--n", "0"], "whole count"),
    ("allocator", ["--n", "abc"], "not a number"),
    ("allocator", ["--n", "1e13"], "whole count"),
    ("allocator", ["--objects", "0"], "out of range"),
    ("allocator", ["--objects", "64,foo"], "'foo'"),
    ("allocator", ["--patterns", "nope"], "unknown pattern 'nope'"),
    ("allocator", ["--allocators", "nope"], "unknown allocator 'nope'"),
    ("allocator", ["--jobs", "0"], "whole count"),
    ("allocator", ["--seed", "x"], "invalid int value"),
    ("allocator", ["--format", "xml"], "invalid choice"),
    ("allocator", ["--python", "2.5", *QUICK_ALLOCATOR], "2.5"),
    ("allocator", ["--python", "/nonexistent/python", *QUICK_ALLOCATOR], "not a CPython interpreter"),
    ("pickle", ["--objects", "nope"], "unknown object 'nope'"),
    ("pickle", ["--methods", "nope"], "unknown method 'nope'"),
    ("pickle", ["--sizes", "0"], "out of range"),
    ("pickle", ["--sizes", "abc"], "not a size"),
    ("pickle", ["--sizes", "1PB"], "not a size"),
    ("pickle", ["--repeat", "0", *QUICK_PICKLE[:6]], "--repeat"),
    ("pickle", ["--repeat", "x"], "invalid int value"),
    ("pickle", ["--python", "/nonexistent/python", *QUICK_PICKLE], "/nonexistent/python"),
    ("pickle", ["--objects", "list-int", "--methods", "dumps-p4", "--sizes", "1e15"], "free"),
    ("aliasing", ["--device", "tpu"], "invalid choice"),
    ("aliasing", ["--backends", "nope"], "unknown backend 'nope'"),
    ("aliasing", ["--python", "nope=/x"], "unknown backend 'nope'"),
    ("aliasing", ["--python", "theano=/nonexistent/python"], "not an executable"),
    ("aliasing", ["--sizes", "0"], "out of range"),
    ("aliasing", ["--repeat", "0"], "whole count"),
    ("aliasing", ["--min-time", "-1"], "between"),
    ("aliasing", ["--min-time", "nan"], "between"),
    ("aliasing", ["--min-time", "abc"], "not a number"),
    ("aliasing", ["--timeout", "0"], "between"),
    ("aliasing", ["--only", "nope"], "invalid choice"),
    ("report", ["--topics", "nope"], "unknown topic 'nope'"),
    ("report", ["--topics", ","], "unknown topic"),
    ("report", ["--no-such-flag"], "--no-such-flag"),
    ("merge-results", [], "required"),
    ("merge-results", ["--into", "dest"], "required: SRC"),
    ("merge-results", ["/nonexistent-folder", "--into", "dest"], "not a folder"),
]


@pytest.mark.parametrize("name, args, needle", BAD, ids=lambda x: x if isinstance(x, str) else " ".join(x))
def test_bad_values_are_one_line_and_status_2(name, args, needle, capsys, tmp_path, monkeypatch):
    need(name)
    monkeypatch.chdir(tmp_path)
    rc, err = main([name, *args], capsys)
    assert_one_line_error(rc, err, needle)
    assert os.listdir(tmp_path) == []  # nothing written


def test_not_an_interpreter(capsys, tmp_path):
    need("allocator")
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    rc, err = main(["allocator", "--python", str(fake), *QUICK_ALLOCATOR], capsys)
    assert_one_line_error(rc, err, str(fake))
    need("pickle")
    rc, err = main(["pickle", "--python", str(fake), *QUICK_PICKLE], capsys)
    assert_one_line_error(rc, err, str(fake))


# --------------------------------------------------------------------------
# output paths that cannot be written: refused before anything runs

OUTPUT_CASES = [
    ("containers", ["--sizes", "1000", "--workloads", "list_int"]),
    ("allocator", QUICK_ALLOCATOR),
    ("pickle", QUICK_PICKLE),
    ("aliasing", QUICK_ALIASING),
]


@pytest.mark.parametrize("name, quick", OUTPUT_CASES, ids=[c[0] for c in OUTPUT_CASES])
def test_unwritable_outputs(name, quick, capsys, tmp_path):
    need(name)
    cases = [
        (["--output", str(tmp_path / "missing" / "x.csv")], "does not exist"),
        (["--output", str(tmp_path)], "is a folder"),
        (["--plot", str(tmp_path / "missing" / "x.png")], "does not exist"),
        (["--output", str(tmp_path / "file.txt" / "x.csv")], "does not exist"),  # a file as the folder
    ]
    (tmp_path / "file.txt").write_text("")
    if HAVE_PROC:
        cases.append((["--output", os.path.join(UNWRITABLE_DIR, "x.csv")], "cannot write"))
        cases.append((["--plot", os.path.join(UNWRITABLE_DIR, "x.png")], "cannot write"))
    for extra, needle in cases:
        rc, err = main([name, *quick, *extra, "--quiet"], capsys)
        assert_one_line_error(rc, err, needle)
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_report_unwritable_outputs(capsys, tmp_path):
    need("report")
    (tmp_path / "file.txt").write_text("")
    cases = [([str(tmp_path / "missing" / "r.html")], "does not exist"), ([str(tmp_path)], "is a folder"),
             ([str(tmp_path / "file.txt" / "r.html")], "does not exist")]
    if HAVE_PROC:
        cases.append(([os.path.join(UNWRITABLE_DIR, "r.html")], "cannot write"))
    for out, needle in cases:
        rc, err = main(["report", "--topics", "containers", "--output", *out, "--quiet"], capsys)
        assert_one_line_error(rc, err, needle)
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_merge_results_unwritable_destination(capsys, tmp_path):
    need("merge-results")
    src = tmp_path / "src"
    (src / "box").mkdir(parents=True)
    (src / "benchmarks.json").write_text('{"version": 2}')
    (src / "box" / "machine.json").write_text('{"machine": "box", "version": 1}')
    (tmp_path / "file.txt").write_text("")
    cases = [(str(tmp_path / "file.txt"), "not a folder"), (str(tmp_path / "file.txt" / "dest"), "cannot create")]
    if HAVE_PROC:
        cases.append((os.path.join(UNWRITABLE_DIR, "dest"), "cannot create"))
    for dest, needle in cases:
        rc, err = main(["merge-results", str(src), "--into", dest, "--quiet"], capsys)
        assert_one_line_error(rc, err, needle)
    rc, err = main(["merge-results", str(src), "--into", str(tmp_path / "ok"), "--quiet"], capsys)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / "ok")) == ["benchmarks.json", "box"]


# --------------------------------------------------------------------------
# the real console command: the process's exit status and its stderr


@pytest.mark.parametrize("args, needle", [
    (["pickle", "--objects", "nope"], "unknown object"),
    (["allocator", "--allocators", "c++", "--n", "1000", "--output", "/nonexistent-folder/x.csv"], "does not exist"),
    (["merge-results", "/nonexistent-folder", "--into", "x"], "not a folder"),
    (["aliasing", "--backends", "nope"], "unknown backend"),
])
def test_console_command_exit_status(cli, args, needle):
    need(args[0])
    r = cli(*args)
    assert_one_line_error(r.returncode, r.stderr, needle)
    assert r.stdout == ""


# --------------------------------------------------------------------------
# Nothing ever unpickles a file from disk: every load in harness/ is listed here, with why it is
# safe, and a new one fails this test until someone has read it and added it. Child processes
# answer in JSON (harness._child); the pickle topic loads only Artifacts that Method.dump made in
# the same process, which Method.load checks first (Artifact.verify: issued token, same file,
# unchanged, inside the run's private workspace).

HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness")
LOADS = {  # (file, enclosing function, call) -> why it is safe
    ("topics/pickle/methods.py", "Method.load", "pickle.loads"): "bytes of Method.dump in this run (art.verify first)",
    ("topics/pickle/methods.py", "Method.load", "pickle.load"): "file of Method.dump in this run (art.verify first)",
    ("topics/pickle/methods.py", "Method.load", "_np().load"): "allow_pickle=False; file of this run",
    ("topics/pickle/methods.py", "Method.load", "mod.load"):
        "pkl_utils file of Method.dump in this run (art.verify first)",
    ("topics/pickle/safety.py", "_npzip_load", "_Unpickler(fh).load"): "only called by Method.load, after art.verify",
    ("topics/pickle/safety.py", "_npzip_load._Unpickler", "class pickle.Unpickler"): "the same",
    ("topics/pickle/safety.py", "numpy_readable", "np.load"): "allow_pickle=False: arrays only, never a pickle",
    ("topics/pickle/__init__.py", "check_round_trip", "m.load"): "Method.load of m.dump(obj) just made",
    ("topics/pickle/measure.py", "rss_pass", "m.load"): "Method.load of an Artifact of this run",
    ("topics/pickle/measure.py", "traced_and_timed", "m.load"): "Method.load of an Artifact of this run",
    ("report.py", "versions_table", "asvresults.load"): "asv results: JSON",
    ("topics/aliasing/backends.py", "load_backend", "CupyShared.load"): "builds a backend; reads no data",
}


def scan_loads():
    import ast

    found = {}
    for folder, _, files in os.walk(HARNESS):
        for fname in files:
            if not fname.endswith(".py"):
                continue
            path = os.path.join(folder, fname)
            rel = os.path.relpath(path, HARNESS).replace(os.sep, "/")
            with open(path, encoding="utf-8") as fh:
                src = fh.read()

            def visit(node, qual):
                for child in ast.iter_child_nodes(node):
                    q = qual
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        q = qual + [child.name]
                        if isinstance(child, ast.ClassDef):
                            for base in child.bases:
                                text = ast.get_source_segment(src, base)
                                if "Unpickler" in text:
                                    found.setdefault((rel, ".".join(q), "class " + text), []).append(child)
                    if isinstance(child, ast.Call):
                        f = child.func
                        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                        head = f
                        while isinstance(head, (ast.Attribute, ast.Call)):
                            head = head.value if isinstance(head, ast.Attribute) else head.func
                        risky = getattr(head, "id", None) in ("marshal", "shelve", "dill", "joblib", "cloudpickle",
                                                              "torch")
                        if name in ("load", "loads", "Unpickler", "_npzip_load", "__setstate__") or risky:
                            text = ast.get_source_segment(src, f)
                            if not text.startswith("json."):
                                found.setdefault((rel, ".".join(qual), text), []).append(child)
                    visit(child, q)

            visit(ast.parse(src), [])
    return found


def test_method_load_refuses_a_tampered_or_foreign_artifact_before_unpickling(monkeypatch, tmp_path):
    # every loader the pickle methods could reach raises if called: a refused artifact must be
    # refused (UntrustedData) before any of them runs; a genuine one reaches them (the trap works)
    import pickle

    methods = pytest.importorskip("harness.topics.pickle.methods")
    safety = pytest.importorskip("harness.topics.pickle.safety")
    np = pytest.importorskip("numpy")
    calls = []

    def trap(*args, **kwargs):
        calls.append(args)
        raise AssertionError("unpickled")

    class TrapUnpickler(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            trap(*args)

    with pytest.raises(safety.UntrustedData):
        safety.Artifact(object(), data=b"\x80\x04K\x01.")  # only Method.dump makes one
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps([1, 2, 3]))
    names = ["dumps-p%d" % methods.HIGHEST, "dump-p%d" % methods.HIGHEST, "oob-p5", "numpy.save", "npzip"]
    with safety.Workspace() as ws:
        made = {name: methods.get_method(name).dump(np.arange(4.0), ws) for name in names if name in methods.METHODS}
        monkeypatch.setattr(pickle, "loads", trap)
        monkeypatch.setattr(pickle, "load", trap)
        monkeypatch.setattr(pickle, "Unpickler", TrapUnpickler)
        monkeypatch.setattr(np, "load", trap)
        for name, art in made.items():
            m = methods.get_method(name)
            with pytest.raises(AssertionError):  # genuine: it reaches the (trapped) loader
                m.load(art)
            if art.path is not None:
                with open(art.path, "ab") as fh:  # tampered: the file changed since the dump
                    fh.write(b"\0")
                with pytest.raises(safety.UntrustedData):
                    m.load(art)
                art.path = str(foreign)  # foreign: the token of this run, another file
                with pytest.raises(safety.UntrustedData):
                    m.load(art)
            art.discard()  # no longer issued: refused whatever it holds
            art.data = foreign.read_bytes()
            with pytest.raises(safety.UntrustedData):
                m.load(art)
    assert len(calls) == len(made)  # only the genuine loads reached a loader


def test_a_child_that_answers_with_a_pickle_is_refused_and_nothing_is_unpickled(monkeypatch):
    # the parent parses its children's answers as JSON and nothing else: a child that writes a
    # pickle (of a result dict, or of something that would run code) gets "no result"
    import pickle

    from harness.core import children
    from harness.errors import ChildError

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the parent unpickled a child's answer")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    answer = "import pickle, sys; sys.stdout.buffer.write(pickle.dumps({'result': {'x': 1}}, protocol=0))"
    monkeypatch.setattr(children, "child_command", lambda python: [python, "-c", answer])
    with pytest.raises(ChildError, match="no result"):
        children.run_child("harness.core.memory:allocated_now")
