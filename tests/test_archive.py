"""Replication archive round trip: run a study, pack it, unpack it elsewhere, rerun, same metrics bytes."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from llmcoder.archive import build_archive
from llmcoder.study import load_config

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
METRIC_FILES = ("metrics.json", "metrics.csv", "per_class.csv", "confusion.csv")


def snakemake(project: Path, workdir: Path, *, configfile: Path | None = None) -> None:
    """Run the workflow of ``project`` (an llmcoder checkout or an unpacked archive) in ``workdir``."""
    res = subprocess.run(
        [str(SNAKEMAKE), "-s", str(project / "workflow" / "Snakefile"), "--directory", str(workdir), "--cores", "2",
         *(["--configfile", str(configfile)] if configfile else []),
         "--workflow-profile", str(project / "workflow" / "profiles" / "default")],
        capture_output=True, text=True, timeout=600, cwd=workdir)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.slow
def test_archive_unpacks_and_reruns_to_identical_metrics(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(f"""
studies:
  mini:
    description: TF-IDF baseline on the demo questions
    corpus: {{path: {REPO}/data/demo/questions.csv, label: label, strata: [party]}}
    codebook: {REPO}/data/demo/codebook.yaml
    split: {{train: 0.6, dev: 0.1, test: 0.3, sizes: [0.5, 1.0], seed: 3}}
    finetune: {{models: [{REPO}/config/finetune/tfidf.yaml], train_on: gold}}
    evaluate: {{n_boot: 100}}
    report: {{enabled: false}}
    archive: {{include_data: true}}
""", encoding="utf-8")
    snakemake(REPO, work, configfile=work / "config.yaml")
    archive = build_archive(load_config(work / "config.yaml"), "mini", workdir=work, include_data=True)
    assert archive == work / "results/mini/replication.tar.gz"

    fresh = tmp_path / "fresh"
    with tarfile.open(archive) as tar:
        tar.extractall(fresh, filter="data")
    root = fresh / "mini-replication"
    for must in ("README.md", "config/config.yaml", "workflow/Snakefile", "MANIFEST.sha256", "models.json",
                 "environment/pip-freeze.txt", "environment/R-sessionInfo.txt", "environment/platform.json", "environment/debian-packages.txt", "requirements/lock.txt",
                 "data/checksums.json", "data/mini/questions.csv", "data/mini/codebook.yaml",
                 "config/finetune/tfidf.yaml", "pysrc/llmcoder/metrics.py", "R/DESCRIPTION"):
        assert (root / must).is_file(), must
    assert "snakemake --cores 2" in (root / "README.md").read_text()
    checks = json.loads((root / "data/checksums.json").read_text())
    assert len(checks["corpus"]["sha256"]) == 64
    assert "torch==2.13.0" in (root / "environment/pip-freeze.txt").read_text()
    assert "r-base-core=" in (root / "environment/debian-packages.txt").read_text()
    assert "--require-hashes" in (root / "README.md").read_text()

    # Rerun from the archive alone (its own Snakefile and package sources) and compare.
    snakemake(root, root)
    for system in ("tfidf",):
        for name in METRIC_FILES:
            new = root / "results/mini/evaluation" / system / name
            old = root / "original_results/mini/evaluation" / system / name
            assert new.read_bytes() == old.read_bytes(), f"{system}/{name} differs after the rerun"
    assert (root / "results/mini/learning_curve.csv").read_bytes() == \
        (root / "original_results/mini/learning_curve.csv").read_bytes()
