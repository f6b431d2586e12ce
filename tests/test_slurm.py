"""The workflow on a real (single-node, local) SLURM cluster gives the same results as a local run.

tests/slurm/cluster.py starts munged, slurmctld and slurmd on this machine (Debian's slurm-wlm and
munge, as root); the demo questions go through the TF-IDF fine-tuning once with `--cores 2` and once
with `--executor slurm --workflow-profile workflow/profiles/slurm`, and the metrics must match byte
for byte. A `--executor slurm` run that cannot reach SLURM hangs and ignores SIGTERM, so every
Snakemake process here runs in its own session under a hard timeout that SIGKILLs the whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "slurm"))
import cluster as slurm_cluster  # noqa: E402  (tests/slurm is not a package)

VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
STUDY = "mini"
METRIC_FILES = [f"evaluation/tfidf/{name}" for name in
                ("metrics.json", "metrics.csv", "per_class.csv", "confusion.csv")] + ["learning_curve.csv"]
RUN_TIMEOUT = 540  # seconds per Snakemake run; here the local run takes ~40 s, the SLURM run ~100 s

pytestmark = pytest.mark.slow

CONFIG = f"""
studies:
  {STUDY}:
    description: TF-IDF baseline on the demo questions
    corpus: {{path: {REPO}/data/demo/questions.csv, label: label, strata: [party]}}
    codebook: {REPO}/data/demo/codebook.yaml
    split: {{train: 0.6, dev: 0.1, test: 0.3, sizes: [0.5, 1.0], seed: 3}}
    finetune: {{models: [{REPO}/config/finetune/tfidf.yaml], train_on: gold}}
    evaluate: {{n_boot: 100}}
    report: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def cluster():
    why = slurm_cluster.missing_prerequisites()
    if why:
        pytest.skip(why)
    try:
        c = slurm_cluster.start_cluster(timeout=60)
    except slurm_cluster.ClusterError as e:
        pytest.fail(f"the test SLURM cluster did not come up:\n{e}")
    yield c
    slurm_cluster.stop_cluster(c)


def study_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return path


def run_bounded(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run argv in its own session; after `timeout` s SIGKILL its whole process group.

    Returns (exit status or None when killed, the combined output)."""
    log = cwd / "snakemake.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:  # also whatever it left behind in its group (or everything, when it hung)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return rc, log.read_text(errors="replace")


def job_env(base: dict[str, str]) -> dict[str, str]:
    """The submitting environment: the project venv first on PATH (jobs inherit it with --export=ALL)."""
    env = dict(base)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    return env


def slurm_command(workdir: Path, c: slurm_cluster.Cluster) -> list[str]:
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text(encoding="utf-8"))
    defaults = {**(profile.get("default-resources") or {}), "slurm_partition": c.partition}
    argv = [
        str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
        "--workflow-profile", str(PROFILE),
        "--executor", "slurm", "--jobs", "4",
        "--slurm-status-command", "squeue",        # no accounting database on the test cluster
        "--slurm-init-seconds-before-status-checks", "2",
        "--slurm-keep-successful-logs",            # evidence that the jobs ran through SLURM
        "--slurm-no-account",
        "--latency-wait", "5",
        # --default-resources on the command line replaces the profile's, so those are repeated here.
        "--default-resources", *(f"{k}={v}" for k, v in defaults.items()),
    ]
    if c.mem_mb < 16000:  # the profile gives finetune and code_llm 16 GB; a small test machine has less
        argv += ["--set-resources", f"finetune:mem_mb={c.mem_mb}", f"code_llm:mem_mb={c.mem_mb}"]
    return argv


def test_slurm_run_matches_local_run(cluster, tmp_path):
    local = study_dir(tmp_path / "local")
    t0 = time.monotonic()
    rc, out = run_bounded(
        [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(local),
         "--configfile", str(local / "config.yaml"), "--cores", "2",
         "--workflow-profile", str(REPO / "workflow" / "profiles" / "default")],
        cwd=local, env=job_env(os.environ), timeout=RUN_TIMEOUT)
    assert rc == 0, f"local run {'timed out' if rc is None else f'failed ({rc})'}:\n{out[-4000:]}"

    remote = study_dir(tmp_path / "slurm")
    t1 = time.monotonic()
    try:
        rc, out = run_bounded(slurm_command(remote, cluster), cwd=remote, env=job_env(cluster.env),
                              timeout=RUN_TIMEOUT)
    finally:
        slurm_cluster.cancel_all(cluster)
    print(f"local run {t1 - t0:.0f} s, SLURM run {time.monotonic() - t1:.0f} s")
    assert rc == 0, (f"SLURM run {'timed out and was killed' if rc is None else f'failed ({rc})'}:\n"
                     f"{out[-4000:]}\n{cluster.log_tails()}")

    # The jobs really went through SLURM: one sbatch log per job, and slurmctld saw them finish.
    job_logs = sorted((remote / ".snakemake" / "slurm_logs").rglob("*.log"))
    rules = {p.relative_to(remote / ".snakemake" / "slurm_logs").parts[0] for p in job_logs}
    assert {"rule_prepare_corpus", "rule_split", "rule_finetune", "rule_evaluate"} <= rules, rules
    n_submitted = out.count("has been submitted with SLURM jobid")
    assert n_submitted == len(job_logs) >= 6, (n_submitted, job_logs)
    ctld_log = cluster.logs["slurmctld"].read_text(errors="replace")
    for p in job_logs:
        assert f"JobId={p.stem} done" in ctld_log, f"slurmctld has no record of job {p.stem} ({p})"
    accounted = cluster.run("squeue", "--noheader", "--states=all", "--format=%i|%T").stdout
    states = dict(line.split("|") for line in accounted.split())
    assert all(states.get(p.stem) == "COMPLETED" for p in job_logs), (states, job_logs)

    for name in METRIC_FILES:
        a = local / "results" / STUDY / name
        b = remote / "results" / STUDY / name
        assert a.is_file() and b.is_file(), name
        assert a.read_bytes() == b.read_bytes(), f"{name} differs between the local and the SLURM run"
