import os
import subprocess
import sys

import pytest


def asv_conf() -> dict:
    """The repository's asv.conf.json (JSON with // comments on their own lines)."""
    import json
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "asv.conf.json").read_text()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def find_python(version: str):
    """An installed CPython X.Y other than the one running the tests where one exists (the
    harness's own finder: PATH and pyenv), else None."""
    from harness.core.interpreters import find_interpreter
    from harness.errors import HarnessError

    try:
        return find_interpreter(version).path
    except HarnessError:
        return None


def run_cli(*args, timeout=300, env=None):
    """Run ``python -m harness ARGS``; returns CompletedProcess with text output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env,
    )


@pytest.fixture
def cli():
    return run_cli
