"""The workflow's inference step (stages.findings) on the real results fixture: the sample it draws, the
labels it joins to it, and its estimates against ppi_py and direct computations on the same documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder import results
from llmcoder.errors import InputError

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "R" / "tests" / "testthat" / "fixtures" / "results-mini"
CODEBOOK = REPO / "data" / "demo" / "codebook.yaml"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "mini"
    shutil.copytree(FIXTURE, dst)
    return dst


def _run(root: Path, **settings):
    from llmcoder.stages import findings

    return findings(root / "predictions" / "tfidf.parquet", root / "corpus.parquet", root / "splits.parquet",
                    CODEBOOK, root / "inference", settings={"n": 100, **settings}, surrogate_name="tfidf",
                    surrogate_kind="finetuned", strata=["party"])


def test_findings_match_ppi_py_and_the_gold_of_the_sampled_documents(root: Path) -> None:
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    est = _run(root, labels=["health", "crime"], formulas=['label == "health" ~ party'],
               surrogate_values="probabilities")
    out = root / "inference"
    for key, name in (("inference_sample", "sample.parquet"), ("inference_estimates", "estimates.parquet"),
                      ("inference_estimates_csv", "estimates.csv"), ("inference_record", "summary.json")):
        assert results.validate_file(out / name, key) == [], name

    # the population: the test split, outside the model's training data; 100 drawn uniformly
    test = pl.read_parquet(root / "splits.parquet").filter(pl.col("split") == "test")["doc_id"]
    sample = pl.read_parquet(out / "sample.parquet")
    assert sorted(sample["doc_id"].to_list()) == sorted(test.to_list())
    drawn = sample.filter(pl.col("labelled"))
    assert drawn.height == 100 and sample["pi"].to_list() == pytest.approx([100 / len(test)] * len(test))
    corpus = pl.read_parquet(root / "corpus.parquet").select("doc_id", pl.col("label").alias("gold"))
    joined = drawn.join(corpus, on="doc_id")
    assert joined["label"].to_list() == joined["gold"].to_list()  # each drawn document's own gold label

    pred = pl.read_parquet(root / "predictions" / "tfidf.parquet")
    ids = sample["doc_id"].to_list()
    for label in ("health", "crime"):
        prob = dict(pred.filter(pl.col("label") == label).select("doc_id", "prob").iter_rows())
        yhat = np.array([prob[d] for d in ids])
        labelled = sample["labelled"].to_numpy()
        y = (drawn["label"] == label).cast(float).to_numpy()
        row = {r["method"]: r for r in est.filter((pl.col("label") == label) & (pl.col("stratum") == "")
                                                   & (pl.col("estimand") == "prevalence")).iter_rows(named=True)}
        assert row["naive"]["estimate"] == pytest.approx(yhat.mean(), abs=1e-12)
        assert row["classical"]["estimate"] == pytest.approx(y.mean(), abs=1e-12)
        want = float(np.ravel(ppi_mean_pointestimate(y, yhat[labelled], yhat, lam=None))[0])
        lo, hi = ppi_mean_ci(y, yhat[labelled], yhat, alpha=0.05, lam=None)
        assert row["ppi"]["estimate"] == pytest.approx(want, abs=1e-8)
        assert (row["ppi"]["ci_low"], row["ppi"]["ci_high"]) == pytest.approx(
            (float(np.ravel(lo)[0]), float(np.ravel(hi)[0])), abs=1e-8)
        dsl = yhat.copy()  # the pseudo-outcome: Yhat + R / pi * (Y - Yhat)
        dsl[labelled] = yhat[labelled] + (y - yhat[labelled]) / (100 / len(ids))
        assert row["dsl"]["estimate"] == pytest.approx(dsl.mean(), abs=1e-12)
    party = est.filter(pl.col("stratum").str.starts_with("party="))
    assert set(party["stratum"]) == {f"party={p}" for p in pl.read_parquet(root / "corpus.parquet")["party"].unique()}
    reg = est.filter(pl.col("estimand") == "regression")
    assert set(reg["method"]) == {"naive", "classical", "ppi", "dsl"} and "Intercept" in set(reg["term"])


def test_by_default_the_surrogate_is_the_systems_labels(root: Path) -> None:
    """surrogate_values: labels (the default): naive is the share of population documents the model coded
    with the label, and PPI++ uses the same 0/1 surrogate (checked against ppi_py)."""
    from ppi_py import ppi_mean_pointestimate

    est = _run(root, labels=["health"])
    sample = pl.read_parquet(root / "inference" / "sample.parquet")
    chosen = pl.read_parquet(root / "predictions" / "tfidf.parquet").filter(pl.col("chosen"))
    coded = set(chosen.filter(pl.col("label") == "health")["doc_id"].to_list())
    yhat = np.array([d in coded for d in sample["doc_id"].to_list()], dtype=float)
    labelled = sample["labelled"].to_numpy()
    y = (sample.filter(pl.col("labelled"))["label"] == "health").cast(float).to_numpy()
    rows = {r["method"]: r for r in est.filter(pl.col("stratum") == "").iter_rows(named=True)}
    assert rows["naive"]["estimate"] == pytest.approx(yhat.mean(), abs=1e-12)
    want = float(np.ravel(ppi_mean_pointestimate(y, yhat[labelled], yhat, lam=None))[0])
    assert rows["ppi"]["estimate"] == pytest.approx(want, abs=1e-8)
    import json

    assert json.loads((root / "inference" / "summary.json").read_text())["surrogate_values"] == "labels"


def test_the_stage_refuses_what_it_cannot_estimate_and_keeps_the_previous_results(root: Path) -> None:
    _run(root, labels=["health"])
    before = (root / "inference" / "estimates.csv").read_bytes()
    with pytest.raises(InputError, match="at most 264"):
        _run(root, n=10_000)
    with pytest.raises(InputError, match="unknown label"):
        _run(root, labels=["sport"])
    with pytest.raises(InputError, match="two formulas for label 'health'"):
        _run(root, formulas=['label == "health" ~ party', 'label == "health" ~ 1'])
    with pytest.raises(InputError, match="one '~'"):
        _run(root, formulas=['label == "health"'])
    with pytest.raises(InputError, match="'year' not in the corpus"):
        _run(root, formulas=['label == "health" ~ year'])
    with pytest.raises(InputError, match="stratified design needs a stratum"):
        from llmcoder.stages import findings

        findings(root / "predictions" / "tfidf.parquet", root / "corpus.parquet", root / "splits.parquet",
                 CODEBOOK, root / "inference", settings={"n": 50, "design": "stratified"}, surrogate_name="tfidf",
                 surrogate_kind="finetuned")
    assert (root / "inference" / "estimates.csv").read_bytes() == before


def test_an_llm_coder_must_have_coded_the_whole_population(root: Path) -> None:
    from llmcoder.stages import findings

    with pytest.raises(InputError, match="730 document"):  # coding.limit: 150 in the fixture
        findings(root / "coders" / "smollm2.parquet", root / "corpus.parquet", root / "splits.parquet", CODEBOOK,
                 root / "inference", settings={"n": 50}, surrogate_name="smollm2", surrogate_kind="llm_coder")
