"""The environment matrix: the one definition that asv.conf.json, the managed environments of
``memharness envs``, the CI workflow and ``--python all`` all use.

Every CPython the harness supports (3.8-3.13) gets one environment, pyX.Y; from 3.10 on it has
PyTensor in it, with numba and jax so that its C, NUMBA and JAX modes install; Theano 1.0.5 gets one
more on 3.8 and 3.11 with the numpy (and scipy, pandas) it still works with: 8 environments, the
very ones of the asv results kept in results/ (asv names an environment by its requirements, so
numba and jax are ``extras``: installed after the project, by ``python -m harness.envs.extras`` in
asv, outside the name). Checked here: 3.10 ->
pytensor 2.34.0, numba 0.68.1, jax 0.6.2 and 3.13 -> pytensor 3.3.8, numba 0.68.0, jax 0.12.0.1, the
three modes compile and run on both; 3.11 -> pytensor 3.0.7, numba 0.65.1, jax 0.10.2 and 3.12 ->
pytensor 3.3.8, jax 0.12 (requirements/pytensor.txt). 3.9's newest PyTensor is 2.19.0 (FACTS.md): no
PyTensor environment before 3.10.

A requirement is a package name and a version: "" for the newest pip finds for that Python, else
an exact version (asv turns any other specifier into ``==``, so pins are exact on both sides).

Standard library only and CPython 3.8 syntax.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from harness.core.interpreters import VERSIONS

# What every environment lists, besides the project itself (whose install brings them too): asv's
# matrix names them so that its environment names stay those of the results kept so far
BASE: Tuple[Tuple[str, str], ...] = (("numpy", ""), ("pandas", ""), ("psutil", ""))
THEANO_ENV = {"THEANO_FLAGS": "blas.ldflags="}  # Theano 1.0.5 fails at import on numpy.distutils without it
# Theano 1.0.5: numpy < 1.22 on 3.8; 1.23.x on 3.11, with the scipy and pandas built for it
THEANO_PINS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "3.8": (("numpy", "1.21.6"), ("pandas", ""), ("psutil", ""), ("theano", "1.0.5")),
    "3.11": (("numpy", "1.23.5"), ("scipy", "1.11.4"), ("pandas", "2.1.4"), ("psutil", ""), ("theano", "1.0.5")),
}
# Theano 1.0.5's pkl_utils imports pkg_resources (setuptools), which a uv-made environment does not
# seed and setuptools 81+ no longer ships: without it the pkl_utils claim could not run in the Theano
# environments. 75.3.2 is the last setuptools for CPython 3.8 and has pkg_resources.
THEANO_EXTRAS: Tuple[Tuple[str, str], ...] = (("setuptools", "75.3.2"),)
PYTENSOR_FROM = "3.10"
PYTENSOR_REQS: Tuple[Tuple[str, str], ...] = BASE + (("pytensor", ""),)
PYTENSOR_EXTRAS: Tuple[Tuple[str, str], ...] = (("numba", ""), ("jax", ""))
PYTENSOR_MODES = ("C", "NUMBA", "JAX")
BACKENDS = ("theano", "pytensor")


def pip_requirements(reqs: Tuple[Tuple[str, str], ...]) -> List[str]:
    """(name, exact version or "") pairs as pip requirements: 'numpy==1.21.6', 'pandas'."""
    return [("%s==%s" % (n, v)) if v else n for n, v in reqs]


@dataclass(frozen=True)
class EnvSpec:
    """One environment of the matrix."""

    name: str  # "py3.11", "py3.11-theano"
    python: str  # "3.11"
    backend: Optional[str]  # None, "theano" or "pytensor"
    reqs: Tuple[Tuple[str, str], ...]  # (package, exact version or "" for the newest)
    environ: Dict[str, str] = field(default_factory=dict)  # variables its runs need
    modes: Tuple[str, ...] = ()  # the backend's modes that install there
    extras: Tuple[Tuple[str, str], ...] = ()  # installed too, after reqs, but not in asv's environment name

    @property
    def requirements(self) -> List[str]:
        """The pip requirements, extras included: 'numpy==1.21.6', 'pandas'."""
        return pip_requirements(self.reqs + self.extras)

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "python": self.python, "backend": self.backend,
                "requirements": self.requirements, "environ": dict(self.environ), "modes": list(self.modes)}


def _key(version: str) -> Tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def definition() -> List[EnvSpec]:
    """Every environment, Python by Python: pyX.Y (with PyTensor from 3.10), then Theano's."""
    out: List[EnvSpec] = []
    for py in VERSIONS:
        if _key(py) >= _key(PYTENSOR_FROM):
            out.append(EnvSpec("py" + py, py, "pytensor", PYTENSOR_REQS, modes=PYTENSOR_MODES,
                               extras=PYTENSOR_EXTRAS))
        else:
            out.append(EnvSpec("py" + py, py, None, BASE))
        if py in THEANO_PINS:
            out.append(EnvSpec("py%s-theano" % py, py, "theano", THEANO_PINS[py], dict(THEANO_ENV),
                               extras=THEANO_EXTRAS))
    return out


def by_name() -> Dict[str, EnvSpec]:
    return {e.name: e for e in definition()}


def asv_config() -> Dict[str, Any]:
    """The keys of asv.conf.json that the definition fills: every environment one ``include``."""
    include = []
    for e in definition():
        entry: Dict[str, Any] = {"python": e.python, "req": dict(e.reqs)}
        if e.environ:
            entry["env_nobuild"] = dict(e.environ)
        include.append(entry)
    return {"pythons": [], "matrix": {}, "exclude": [], "include": include}


def extras_here(python: str, installed: Any) -> List[str]:
    """The extras (pip requirements) of the environment that ``installed(name)`` (is a distribution
    installed?) and CPython ``python`` ('3.12') describe: the one whose requirements are all there."""
    for e in definition():
        if e.python == python and e.extras and all(installed(n) for n, _ in e.reqs):
            return pip_requirements(e.extras)
    return []


def github_matrix() -> Dict[str, Any]:
    """The GitHub Actions ``strategy.matrix``: one include entry per environment."""
    return {"include": [{"name": e.name, "python": e.python, "backend": e.backend or ""} for e in definition()]}


def render(fmt: str) -> str:
    """The definition as text: 'json' (the list), 'github' (one line, for $GITHUB_OUTPUT) or 'asv'
    (the lines of asv.conf.json it generates, to paste over that file's pythons ... include)."""
    if fmt == "json":
        return json.dumps([e.as_dict() for e in definition()], indent=2) + "\n"
    if fmt == "github":
        return json.dumps(github_matrix(), separators=(",", ":")) + "\n"
    if fmt == "asv":
        conf = asv_config()
        lines = ['    "pythons": [],', '    "matrix": {},', '    "exclude": [],', '    "include": [']
        lines += ["        %s%s" % (json.dumps(inc), "," if i < len(conf["include"]) - 1 else "")
                  for i, inc in enumerate(conf["include"])]
        return "\n".join(lines + ["    ],"]) + "\n"
    raise ValueError(fmt)
