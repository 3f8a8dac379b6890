import os
import shutil
import subprocess
import sys

import pytest


def find_python(version: str):
    """An installed CPython X.Y: on PATH as pythonX.Y, or under pyenv; else None."""
    cands = []
    root = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(root):
        for name in sorted(os.listdir(root), reverse=True):
            if name == version or name.startswith(version + "."):
                cands.append(os.path.join(root, name, "bin", "python"))
    if shutil.which("python" + version):
        cands.append(shutil.which("python" + version))
    for cand in cands:  # pyenv shims exist on PATH but fail for versions not selected
        if os.path.exists(cand) and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
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
