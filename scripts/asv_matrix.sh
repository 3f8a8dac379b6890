#!/usr/bin/env bash
# Run memharness's asv suites over the whole environment matrix of asv.conf.json, then publish.
#
#   scripts/asv_matrix.sh [options] [RANGE] [-- extra asv run arguments]
#
#   RANGE            commits to measure, in asv/git range syntax (default: HEAD~3..HEAD, i.e. the last
#                    three commits HEAD~2, HEAD~1 and HEAD: a range A..B excludes A). One commit: HEAD^!
#   --env NAME       run one environment only: its label (see --list, e.g. py3.11-theano: the names of
#                    harness/envs/matrix.py, which asv.conf.json's include list is made from) or asv's name
#   --list           list the environments (label and asv name) and exit
#   --quick          passed to asv run (each benchmark once, no repeats: for checks, not for figures)
#   --light          a subset of the suites, the figures the kept results have at every commit: the
#                    memory figures of containers and C++ containers, the allocator, aliasing
#                    conformance/call rate/reference/limits and throughput at 1e6 elements, pickle
#                    bytes/peak/dump time of list-int and numpy at 1 MiB with protocols 4, 5 and
#                    out-of-band. Not: the time_ benchmarks of containers and C++ containers, the other
#                    pickle cases, the bulk copies. The whole suite is affordable too since it was cut to
#                    what the claims read (the README, "Running the matrix", gives both costs)
#   --machine NAME   asv machine name; created with `asv machine --yes` when it is not configured yet.
#                    Default: $ASV_MACHINE, else the only machine in ~/.asv-machine.json, else `hostname -s`
#   --no-publish     skip `asv publish`
#   -h, --help       this text
#   -- ARGS          anything after -- goes to `asv run` as is (e.g. -- -b bench_containers --show-stderr)
#
# asv: the `asv` on PATH, or $ASV. The interpreters: asv's virtualenv needs python3.8 ... python3.13 that
# really run (pyenv shims fail unless the version is selected), so the script links the real ones
# (`pyenv prefix`, ~/.pyenv/versions/3.X.*, or a working python3.X already on PATH) into a temporary
# folder put first on PATH. asv builds each commit from git: uncommitted changes are not measured.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

RANGE=""
ENV_SEL=""
LIST=0
QUICK=()
MACHINE="${ASV_MACHINE:-}"
PUBLISH=1
LIGHT=0
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --env) [ $# -ge 2 ] || { echo "asv_matrix: --env needs a name" >&2; exit 2; }; ENV_SEL="$2"; shift 2 ;;
        --env=*) ENV_SEL="${1#--env=}"; shift ;;
        --list) LIST=1; shift ;;
        --quick) QUICK=(--quick); shift ;;
        --light) LIGHT=1; shift ;;
        --machine) [ $# -ge 2 ] || { echo "asv_matrix: --machine needs a name" >&2; exit 2; }; MACHINE="$2"; shift 2 ;;
        --machine=*) MACHINE="${1#--machine=}"; shift ;;
        --no-publish) PUBLISH=0; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        -*) echo "asv_matrix: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [ -z "$RANGE" ] || { echo "asv_matrix: one RANGE only (got '$RANGE' and '$1')" >&2; exit 2; }
           RANGE="$1"; shift ;;
    esac
done
RANGE="${RANGE:-HEAD~3..HEAD}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ASV="${ASV:-$(command -v asv || true)}"
[ -n "$ASV" ] && [ -x "$ASV" ] || { echo "asv_matrix: asv not found (pip install -e '.[asv]', or set ASV=/path/to/asv)" >&2; exit 2; }
ASV_PY="$(dirname "$ASV")/python"
[ -x "$ASV_PY" ] || ASV_PY="$(head -1 "$ASV" | sed 's/^#!//')"

# --- interpreters -------------------------------------------------------------------------------
PYBIN="$(mktemp -d "${TMPDIR:-/tmp}/asv-pythons.XXXXXX")"
GENCONF=""
cleanup() { rm -rf "$PYBIN"; [ -z "$GENCONF" ] || rm -f "$GENCONF"; }
trap cleanup EXIT

works() { [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import sys' >/dev/null 2>&1; }

find_python() {  # $1 = 3.X ; prints the path of a working python3.X, or nothing
    local v="$1" cand p
    if command -v pyenv >/dev/null 2>&1; then
        for p in $(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | sort -t. -k3,3nr); do
            cand="$(pyenv prefix "$p" 2>/dev/null)/bin/python$v"
            if works "$cand"; then echo "$cand"; return; fi
        done
    fi
    for cand in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v".*/bin/"python$v" 2>/dev/null | sort -rV); do
        if works "$cand"; then echo "$cand"; return; fi
    done
    cand="$(command -v "python$v" || true)"
    if works "$cand"; then echo "$cand"; fi
}

PYTHONS="$("$ASV_PY" - <<'EOF'
from asv import config
print(" ".join(sorted({str(p) for p in config.Config.load("asv.conf.json").pythons} |
                      {str(i["python"]) for i in config.Config.load("asv.conf.json").include})))
EOF
)"
for v in $PYTHONS; do
    p="$(find_python "$v")"
    if [ -n "$p" ]; then
        ln -s "$p" "$PYBIN/python$v"
    else
        echo "asv_matrix: no working python$v found: its environments will be skipped by asv" >&2
    fi
done
export PATH="$PYBIN:$PATH"

# --- environments -------------------------------------------------------------------------------
# Labels: the names of harness/envs/matrix.py: py3.X, plus -theano when the environment installs Theano.
envs_py() {  # $1 = action (list | write CONFIG_OUT), $2 = selection
    "$ASV_PY" - "$@" <<'EOF'
import json, sys
from asv import config, environment
action, sel = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
conf = config.Config.load("asv.conf.json")
rows = []
for combo in environment.iter_matrix(conf.environment_type, conf.pythons, conf):
    py = combo[("python", None)]
    req = {k: v for (t, k), v in combo.items() if t == "req"}
    envv = {t: {k: v for (tt, k), v in combo.items() if tt == t} for t in ("env", "env_nobuild")}
    label = "py" + py + ("-theano" if "theano" in req else "")
    name = environment.get_env_name(conf.environment_type, py, req,
                                    {k: v for k, v in combo.items() if k[0] in ("env", "env_nobuild")})
    rows.append((label, name, py, req, envv))
if action == "list":
    for label, name, *_ in rows:
        print("%-20s %s" % (label, name))
    sys.exit(0)
hits = [r for r in rows if sel in (r[0], r[1])]
if len(hits) != 1:
    sys.stderr.write("asv_matrix: no environment %r; choose one of:\n  %s\n"
                     % (sel, "\n  ".join("%s  (%s)" % (r[0], r[1]) for r in rows)))
    sys.exit(2)
label, name, py, req, envv = hits[0]
from asv.util import load_json
import os
d = load_json("asv.conf.json", js_comments=True)
# asv resolves relative paths against the folder of the config file: make them absolute
for key in ("repo", "benchmark_dir", "env_dir", "results_dir", "html_dir"):
    if key in d and not os.path.isabs(d[key]):
        d[key] = os.path.abspath(d[key])
d["pythons"] = []
d["matrix"] = {}
d["exclude"] = []
inc = {"python": py, "req": req}
inc.update({t: v for t, v in envv.items() if v})
d["include"] = [inc]
with open(action, "w") as f:
    json.dump(d, f, indent=4)
print(label, name)
EOF
}

if [ "$LIST" = 1 ]; then envs_py list; exit 0; fi

CONF=(--config asv.conf.json)
if [ -n "$ENV_SEL" ]; then
    mkdir -p .asv
    GENCONF="$ROOT/.asv/asv.one-env.$$.conf.json"
    chosen="$(envs_py "$GENCONF" "$ENV_SEL")" || exit 2
    echo "asv_matrix: one environment: $chosen"
    CONF=(--config "$GENCONF")
fi

# --- machine ------------------------------------------------------------------------------------
if [ -z "$MACHINE" ]; then
    MACHINE="$("$ASV_PY" - <<'EOF'
import json, os
p = os.path.expanduser("~/.asv-machine.json")
try:
    names = [k for k in json.load(open(p)) if k != "version"]
except (OSError, ValueError):
    names = []
print(names[0] if len(names) == 1 else "")
EOF
)"
    MACHINE="${MACHINE:-$(hostname -s)}"
fi
if ! "$ASV_PY" -c "import json,os,sys; sys.exit(0 if sys.argv[1] in json.load(open(os.path.expanduser('~/.asv-machine.json'))) else 1)" "$MACHINE" 2>/dev/null; then
    "$ASV" machine --yes --machine "$MACHINE"
fi

# --- run and publish ----------------------------------------------------------------------------
# asv -b: regular expressions searched in "name" and, for parametrised benchmarks, in
# "name(param1, param2, ...)" (parameters as their repr): several -b select the union.
SELECT=()
if [ "$LIGHT" = 1 ]; then
    SELECT=(
        -b '^bench_containers\.BytesPerElement\.'
        -b '^bench_allocator\.'
        -b '^bench_cpp_containers\.BytesPerElement\.'
        -b '^bench_aliasing\.(Conformance|CallRate|Reference|Limits)\.'
        -b '^bench_aliasing\.Operations\.(track_gbps|time_operation)\(.*, 1000000\)$'
        -b "^bench_pickle\\.(PickleMemory\\.track_(pickled_bytes|dump_peak)|PickleTime\\.time_dump)\\('(list-int|numpy)', 1048576, '(dumps-p4|dumps-p5|oob-p5)'\\)"
    )
fi
echo "asv_matrix: asv run ${CONF[*]} --machine $MACHINE ${QUICK[*]} ${SELECT[*]} ${EXTRA[*]} $RANGE"
set +e
"$ASV" run "${CONF[@]}" --machine "$MACHINE" "${QUICK[@]}" "${SELECT[@]}" "${EXTRA[@]}" "$RANGE"
rc=$?
set -e
if [ "$PUBLISH" = 1 ]; then
    "$ASV" publish --config asv.conf.json
fi
exit $rc
