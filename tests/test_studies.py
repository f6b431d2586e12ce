"""The study configs on real data: valid, and their whole DAG plans (a full run codes thousands of
documents with two LLMs, which is for a user's machine, not for CI)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_file

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def plan(config: str, results: Path) -> dict[str, int]:
    """Jobs per rule of a dry run with this study config, into an empty results folder."""
    res = subprocess.run([str(SNAKEMAKE), "-n", "--cores", "2", "--configfile", config, "--config",
                          f"results={results}", "--quiet", "rules"],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", res.stdout + res.stderr, re.M)}


@pytest.mark.slow
def test_cap_us_study_plans_every_stage(tmp_path):
    shared_file("cap_us", "congress_bills.csv")
    shared_file("rethinking_scale", "cap_codebook.csv")
    jobs = plan("config/studies/cap_us.yaml", tmp_path)
    # tfidf and minilm on 4 sizes x 3 seeds, LoRA on 2 sizes x 3 seeds; 2 LLM coders + 3 models evaluated.
    assert jobs["finetune"] == 30 and jobs["code_llm"] == 2 and jobs["evaluate"] == 5
    for rule in ("verify_simulate", "verify_ingest", "learning_curve", "predict_corpus", "bias_checks", "report"):
        assert jobs[rule] == 1, rule


@pytest.mark.slow
def test_eu_questions_study_stops_at_the_human_step(tmp_path):
    shared_file("rethinking_scale", "eu_parliamentary_questions.csv")
    jobs = plan("config/studies/eu_questions.yaml", tmp_path)
    assert jobs["code_llm"] == 2 and jobs["verify_sheets"] == 1
    assert not {"verify_ingest", "finetune", "evaluate", "report"} & set(jobs)


@pytest.mark.slow
def test_flourishing_study_imports_the_papers_verification(tmp_path):
    shared_file("rethinking_scale", "flourishing_tweets.csv")
    shared_file("rethinking_scale", "flourishing_llm_codings_verified.csv")
    jobs = plan("config/studies/flourishing.yaml", tmp_path)
    # No LLM coders and no sheets: the decisions are imported; tfidf and minilm on 3 sizes.
    assert jobs["verify_import"] == 1 and jobs["finetune"] == 6 and jobs["evaluate"] == 2
    assert not {"code_llm", "verify_sheets", "verify_ingest", "verify_simulate"} & set(jobs)


def test_cap_us_corpus_validates_against_the_cap_codebook(monkeypatch):
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import CorpusSpec, build_corpus
    from llmcoder.study import load_config, study_config

    shared_file("cap_us", "congress_bills.csv")
    monkeypatch.chdir(REPO)  # the config's paths are relative to the project folder
    block = study_config(load_config("config/studies/cap_us.yaml"), "cap_us")
    corpus = build_corpus(CorpusSpec.from_config(block["corpus"]), load_codebook(block["codebook"]))
    assert corpus.height == 4419 and corpus["label"].n_unique() == 19


def run_study(config: Path, results: Path, *targets: str, timeout: int = 1500) -> str:
    """Run a study config for real from the project folder (its data paths are relative to it)."""
    cmd = [str(SNAKEMAKE), "--cores", "2", "--configfile", str(config), "--config", f"results={results}",
           "--workflow-profile", "workflow/profiles/default", *targets]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res.stdout + res.stderr


@pytest.mark.slow
def test_flourishing_study_runs_end_to_end(tmp_path):
    """The paper's verification imported, TF-IDF and MiniLM fine-tuned on it, evaluated with Hamming
    loss and Jaccard against the published sets, the corpus coded, the report written."""
    import json

    import polars as pl
    import yaml

    shared_file("rethinking_scale", "flourishing_tweets.csv")
    shared_file("rethinking_scale", "flourishing_llm_codings_verified.csv")
    # Reduced so that CI stays short: the full training set only, MiniLM for one epoch on the first 64
    # tokens (two epochs at 128 took about 5 of the suite's minutes; the pipeline is what is tested here).
    cfg = yaml.safe_load((REPO / "config/studies/flourishing.yaml").read_text())
    study = cfg["studies"]["flourishing"]
    study["split"]["sizes"] = [1.0]
    minilm = yaml.safe_load((REPO / "config/finetune/minilm-tweets.yaml").read_text()) | {"epochs": 1,
                                                                                           "max_length": 64}
    (tmp_path / "minilm-tweets.yaml").write_text(yaml.safe_dump(minilm))
    study["finetune"]["models"] = ["config/finetune/tfidf.yaml", str(tmp_path / "minilm-tweets.yaml")]
    study["evaluate"] = {"n_boot": 100}
    (tmp_path / "flourishing.yaml").write_text(yaml.safe_dump(cfg))
    run_study(tmp_path / "flourishing.yaml", tmp_path)
    out = tmp_path / "flourishing"
    summary = json.loads((out / "verify/ingest/summary.json").read_text())
    assert (summary["n_verified"], summary["n_adjudication_queue"]) == (2268, 166)
    for model in ("tfidf", "minilm-tweets"):
        m = json.loads((out / "evaluation" / model / "metrics.json").read_text())
        assert 0 < m["hamming_loss"] < 0.2 and 0 < m["jaccard_samples"] <= 1, (model, m)
    curve = pl.read_csv(out / "learning_curve.csv")
    assert set(curve["model"]) == {"tfidf", "minilm-tweets"} and set(curve["train_fraction"]) == {1.0}
    pred = pl.read_parquet(out / "predictions" / "minilm-tweets.parquet")
    assert pred["doc_id"].n_unique() == 2434 and pred.height == 2434 * 46
    assert (out / "report" / "methods.md").is_file() and any((out / "report" / "tables").iterdir())
    # a real multi-label run holds to the results contract, file by file (issue 13)
    from llmcoder.results import validate_results

    assert validate_results(out) == {}


@pytest.mark.slow
def test_eu_questions_study_runs_to_the_human_step(tmp_path):
    """The real, unsimulated path on the 1,001 EU questions, with the coders limited to 12 of them so
    that CI stays short: both LLM coders run, the sheets are written, and the run says what to fill."""
    import yaml

    shared_file("rethinking_scale", "eu_parliamentary_questions.csv")
    cfg = yaml.safe_load((REPO / "config/studies/eu_questions.yaml").read_text())
    cfg["studies"]["eu_questions"]["coding"]["limit"] = 12
    (tmp_path / "eu.yaml").write_text(yaml.safe_dump(cfg))
    said = run_study(tmp_path / "eu.yaml", tmp_path)
    sheets = tmp_path / "eu_questions" / "verify" / "sheets"
    assert {p.name for p in sheets.glob("*.xlsx")} == {f"coder_{i}.xlsx" for i in range(1, 5)}
    assert "Human verification of study 'eu_questions' is not done yet" in said
    assert not (tmp_path / "eu_questions" / "verify" / "ingest").exists()


@pytest.mark.slow
def test_cap_us_study_runs_reduced(tmp_path):
    """cap_us as configured (two LLM coders, two label orders, simulated verification, fine-tuning,
    prediction of all 4,419 titles, bias checks, report), reduced so that CI stays short: the coders
    code 30 titles, and TF-IDF and MiniLM (one seed) stand in for the 30 fine-tuning jobs."""
    import json

    import polars as pl
    import yaml

    shared_file("cap_us", "congress_bills.csv")
    shared_file("rethinking_scale", "cap_codebook.csv")
    cfg = yaml.safe_load((REPO / "config/studies/cap_us.yaml").read_text())
    study = cfg["studies"]["cap_us"]
    study["coding"]["limit"] = 30
    study["finetune"].update(models=["config/finetune/tfidf.yaml", "config/finetune/minilm.yaml"], seeds=[1],
                             sizes={})
    study["split"]["sizes"] = [1.0]  # ~20 verified training titles: smaller subsets would hold one or two
    study["evaluate"] = {"n_boot": 100}
    (tmp_path / "cap.yaml").write_text(yaml.safe_dump(cfg))
    run_study(tmp_path / "cap.yaml", tmp_path)
    out = tmp_path / "cap_us"
    orders = pl.read_parquet(out / "coders" / "gemma3_orders.parquet")
    assert orders["rotation"].n_unique() == 2  # two label orders: the positional-bias check has data
    assert (out / "bias" / "positional.csv").is_file()
    for system in ("smollm2", "gemma3", "tfidf", "minilm"):
        m = json.loads((out / "evaluation" / system / "metrics.json").read_text())
        assert 0 <= m["accuracy"] <= 1 and m["n"] > 0, system
    pred = pl.read_parquet(out / "predictions" / "minilm.parquet")
    assert pred["doc_id"].n_unique() == 4419
    assert (out / "report" / "figures" / "confusion_minilm.png").is_file() and (out / "report" / "methods.md").is_file()
