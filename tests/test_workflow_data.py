"""The data rules, run by snakemake as a user would, in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from llmcoder.errors import InputError
from llmcoder.study import load_config, validate_config

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def run_snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "1",
           "--workflow-profile", str(REPO / "workflow" / "profiles" / "default"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir)


@pytest.fixture
def study_dir(tmp_path: Path, codebook_path: Path) -> Path:
    rows = ["id,text,label,party"]
    rows += [f"d{i},Question number {i} about {'hospitals' if i % 3 else 'power plants'},"
             f"{'health' if i % 3 else 'energy'},P{i % 2}" for i in range(90)]
    (tmp_path / "corpus.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        "studies:\n"
        "  mini:\n"
        "    corpus: {path: corpus.csv, label: label, strata: [party]}\n"
        f"    codebook: {codebook_path}\n"
        "    split: {train: 0.6, dev: 0.2, test: 0.2, sizes: [0.5, 1.0], seed: 4}\n",
        encoding="utf-8")
    return tmp_path


def test_dry_run_lists_the_dag(study_dir):
    res = run_snakemake(study_dir, "-n")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    assert "prepare_corpus" in out and "split" in out


def test_data_rules_end_to_end(study_dir):
    res = run_snakemake(study_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    corpus = pl.read_parquet(study_dir / "results/mini/corpus.parquet")
    splits = pl.read_parquet(study_dir / "results/mini/splits.parquet")
    assert corpus.columns == ["doc_id", "text", "label", "party"] and corpus.height == 90
    assert dict(splits.group_by("split").len().iter_rows()) == {"train": 54, "dev": 18, "test": 18}
    assert splits.columns == ["doc_id", "split", "in_size_50", "in_size_100"]
    assert (study_dir / "logs/mini/prepare_corpus.log").read_text().startswith("mini: 90 rows")
    # Nothing to do the second time, nor after a change to a later stage's settings; a changed seed
    # reruns the split only.
    again = run_snakemake(study_dir, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    cfg = study_dir / "config.yaml"
    cfg.write_text(cfg.read_text() + "    evaluate: {n_boot: 10}\n")
    again = run_snakemake(study_dir, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
    cfg.write_text(cfg.read_text().replace("seed: 4", "seed: 5"))
    plan = run_snakemake(study_dir, "-n")
    out = plan.stdout + plan.stderr
    assert "rule split:" in out or "localrule split:" in out
    assert "prepare_corpus:" not in out


def test_invalid_corpus_stops_with_the_message(study_dir):
    text = (study_dir / "corpus.csv").read_text().replace("d5,", "d4,", 1)
    (study_dir / "corpus.csv").write_text(text)
    res = run_snakemake(study_dir)
    assert res.returncode != 0
    log = (study_dir / "logs/mini/prepare_corpus.log").read_text()
    assert "duplicate id 'd4' (first at row 6)" in log and "row 7" in log
    assert not (study_dir / "results/mini/corpus.parquet").exists()


def test_wrong_config_key_is_named(study_dir):
    cfg = (study_dir / "config.yaml").read_text().replace("seed: 4", "seeds: 4")
    (study_dir / "config.yaml").write_text(cfg)
    res = run_snakemake(study_dir, "-n")
    assert res.returncode != 0
    assert "studies.mini.split: Additional properties are not allowed ('seeds' was unexpected)" in (
        res.stdout + res.stderr)


def test_config_defaults_are_filled_from_the_schema(tmp_path):
    cfg = validate_config({"studies": {"s": {"corpus": {"path": "x.csv"}, "codebook": "cb.yaml"}}})
    s = cfg["studies"]["s"]
    assert cfg["results"] == "results"
    assert s["corpus"]["id"] == "id" and s["corpus"]["labels_sep"] == "|"
    assert s["split"] == {"train": 0.8, "dev": 0.1, "test": 0.1, "sizes": [0.05, 0.25, 0.5, 1.0],
                          "seed": 1, "stratify": True}
    with pytest.raises(InputError, match=r"studies.s.split: train \+ dev \+ test = 1.1, not 1"):
        validate_config({"studies": {"s": {"corpus": {"path": "x"}, "codebook": "c",
                                           "split": {"train": 0.9, "dev": 0.1, "test": 0.1}}}})
    with pytest.raises(InputError, match=r"studies.s.verify: mode is 'import' but verify.decisions is not set"):
        validate_config({"studies": {"s": {"corpus": {"path": "x"}, "codebook": "c", "verify": {"mode": "import"}}}})


def test_repository_config_is_valid():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert "demo" in cfg["studies"]
