"""GPU environments in use: under ``--sdm conda`` every job that asks for a GPU (resources gpu=1: LLM
coding with ``coding.gpu``, fine-tuning and corpus prediction with ``finetune.gpu``) runs in
envs/gpu.yaml (CUDA torch, bitsandbytes), every other Python job in envs/python.yaml.

The DAG of the demo study is planned with Snakemake's Python API and the conda deployment method, in a
subprocess, without running anything: the conda environments a job would be run in are the ones
Snakemake has attached to it (``job.conda_env``), which needs no conda installed (conda itself is
called only to create or activate them). Fast and offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
GPU_ENV, CPU_ENV, R_ENV = "envs/gpu.yaml", "envs/python.yaml", "envs/r.yaml"
GPU_RULES = {"code_llm": "coding", "finetune": "finetune", "predict_corpus": "finetune"}

PLAN = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DAGSettings, DeploymentSettings, OutputSettings, Quietness,
                                      ResourceSettings)
from snakemake_interface_executor_plugins.settings import DeploymentMethod

repo, configfile = Path(sys.argv[1]).resolve(), Path(sys.argv[2])

def rel(env):
    return str(Path(env.file.get_path_or_uri(secret_free=True)).resolve().relative_to(repo)) if env else None

with SnakemakeApi(OutputSettings(dryrun=True, quiet={Quietness.ALL})) as api:
    wf_api = api.workflow(resource_settings=ResourceSettings(cores=2),
                          config_settings=ConfigSettings(configfiles=[configfile]),
                          deployment_settings=DeploymentSettings(deployment_method={DeploymentMethod.CONDA}),
                          snakefile=repo / "workflow" / "Snakefile", workdir=repo)
    wf = wf_api.dag(DAGSettings()).workflow_api._workflow  # the parsed workflow, with the DAG settings
    # what `snakemake --list-conda-envs` does before it asks conda for the envs' locations
    wf._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True)
    wf._build_dag()
    jobs = [{"rule": j.rule.name, "wildcards": dict(j.wildcards_dict), "gpu": j.resources.get("gpu", 0),
             "env": rel(j.conda_env)} for j in wf.dag.jobs]
    envs = sorted(rel(e) for e in wf.dag.conda_envs.values())
print("PLAN " + json.dumps({"jobs": jobs, "envs": envs}))
"""


def plan_envs(tmp_path: Path, *, coding_gpu: bool, finetune_gpu: bool) -> dict:
    """Every job of the demo study's DAG (nothing built yet) with its gpu resource and conda env file."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    cfg["results"] = str(tmp_path / "results")
    cfg["run"] = ["demo"]
    demo = cfg["studies"]["demo"]
    demo.setdefault("coding", {})["gpu"] = coding_gpu
    demo.setdefault("finetune", {})["gpu"] = finetune_gpu
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    res = subprocess.run([sys.executable, "-c", PLAN, str(REPO), str(path)], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("PLAN ")), None)
    assert res.returncode == 0 and line, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(line.removeprefix("PLAN "))


@pytest.mark.parametrize("coding_gpu,finetune_gpu", [(True, True), (False, False), (True, False)],
                         ids=["gpu", "cpu", "coding-gpu-only"])
def test_gpu_jobs_use_the_gpu_environment(tmp_path: Path, coding_gpu: bool, finetune_gpu: bool) -> None:
    plan = plan_envs(tmp_path, coding_gpu=coding_gpu, finetune_gpu=finetune_gpu)
    jobs = plan["jobs"]
    wants = {"coding": coding_gpu, "finetune": finetune_gpu}
    seen = {j["rule"] for j in jobs}
    assert set(GPU_RULES) <= seen, seen  # the demo plans every rule that can ask for a GPU
    for j in jobs:
        where = f"{j['rule']} {j['wildcards']}"
        if j["rule"] in GPU_RULES:
            gpu = wants[GPU_RULES[j["rule"]]]
            assert j["gpu"] == int(gpu), where
            assert j["env"] == (GPU_ENV if gpu else CPU_ENV), where
        # the mapping, for every job: a GPU job runs in the CUDA environment, and only a GPU job
        assert (j["env"] == GPU_ENV) == (j["gpu"] == 1), where
        if j["rule"] != "all":
            assert j["env"] in (CPU_ENV, GPU_ENV, R_ENV), where
    assert {j["env"] for j in jobs if j["rule"] == "report"} == {R_ENV}
    assert {j["env"] for j in jobs if j["rule"] == "learning_curve"} == {CPU_ENV}  # no GPU asked
    # the environments --sdm conda would build for this config (and --conda-create-envs-only builds)
    assert (GPU_ENV in plan["envs"]) is (coding_gpu or finetune_gpu)
    assert CPU_ENV in plan["envs"] and R_ENV in plan["envs"]


def _deps(env: str) -> list[str]:
    data = yaml.safe_load((REPO / env).read_text(encoding="utf-8"))
    return [d.split("=")[0].split(">")[0].split("<")[0].strip() for d in data["dependencies"] if isinstance(d, str)]


def test_the_environments_are_what_they_say() -> None:
    gpu, cpu = _deps(GPU_ENV), _deps(CPU_ENV)
    assert {"pytorch", "pytorch-cuda", "bitsandbytes"} <= set(gpu) and "cpuonly" not in gpu
    assert "pytorch" in cpu and "cpuonly" in cpu and "pytorch-cuda" not in cpu
