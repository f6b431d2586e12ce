"""Cross-fitting: the fine-tuning's own labelled documents as the inference sample. The fold models never
see the labels of the documents they predict; the estimates equal ppi_py's cross-prediction estimators and
DSL's cross-fitted pseudo-outcome on the same numbers; the workflow step writes them through the contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder import inference, results
from llmcoder.errors import InputError

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "R" / "tests" / "testthat" / "fixtures" / "results-mini"
CODEBOOK = REPO / "data" / "demo" / "codebook.yaml"


def test_the_estimators_are_ppi_pys_cross_prediction_and_dsls_cross_fitted_pseudo_outcome() -> None:
    from ppi_py import crossppi_mean_ci, crossppi_mean_pointestimate, crossppi_ols_ci, crossppi_ols_pointestimate

    rng = np.random.default_rng(0)
    N, n, K = 2000, 300, 5
    x = rng.integers(0, 2, N).astype(float)
    y_all = (rng.random(N) < 0.2 + 0.2 * x).astype(float)
    F = np.clip(y_all[:, None] * 0.6 + 0.2 + rng.normal(0, 0.15, (N, K)), 0, 1)  # K models' probabilities
    idx = np.sort(rng.choice(N, n, replace=False))
    fold = np.arange(n) % K
    f = F.mean(axis=1)
    f[idx] = F[idx, fold]  # a labelled document's value: its out-of-fold model's
    y, pi = y_all[idx], np.full(n, n / N)
    rows = {r["method"]: r for r in inference.mean_estimates(y, f, idx, pi, folds=F)}
    unl = np.setdiff1d(np.arange(N), idx)
    assert rows["ppi"]["estimate"] == pytest.approx(float(np.ravel(crossppi_mean_pointestimate(y, f[idx], F[unl]))[0]), abs=1e-12)
    lo, hi = crossppi_mean_ci(y, f[idx], F[unl], alpha=0.05)
    assert (rows["ppi"]["ci_low"], rows["ppi"]["ci_high"]) == pytest.approx((float(np.ravel(lo)[0]), float(np.ravel(hi)[0])), abs=1e-10)
    assert rows["ppi"]["lambda"] == 1.0
    pseudo = f.copy()
    pseudo[idx] += (y - f[idx]) / pi
    assert rows["dsl"]["estimate"] == pytest.approx(pseudo.mean(), abs=1e-12)
    assert rows["classical"]["estimate"] == pytest.approx(y.mean(), abs=1e-12)

    X = np.column_stack([np.ones(N), x])
    reg = [r for r in inference.regression_estimates(y, f, X, idx, pi, terms=["Intercept", "x"], folds=F)
           if r["method"] == "ppi"]
    want = crossppi_ols_pointestimate(X[idx], y, f[idx], X[unl], F[unl])
    lo, hi = crossppi_ols_ci(X[idx], y, f[idx], X[unl], F[unl], alpha=0.05)
    assert [r["estimate"] for r in reg] == pytest.approx(list(want), abs=1e-10)
    assert [r["ci_low"] for r in reg] == pytest.approx(list(lo), abs=1e-8)
    assert [r["ci_high"] for r in reg] == pytest.approx(list(hi), abs=1e-8)
    with pytest.raises(ValueError, match="uniform labelled sample"):
        inference.mean_estimates(y, f, idx, np.linspace(0.1, 0.2, n), folds=F)


def _nearest(x: np.ndarray, x_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """1-nearest-neighbour on x: perfect on its own training documents, noisy elsewhere."""
    order = np.argsort(x_train)
    pos = np.clip(np.searchsorted(x_train[order], x), 0, len(x_train) - 1)
    return y_train[order][pos]


def test_cross_fitted_intervals_cover_where_in_sample_predictions_do_not() -> None:
    """The labelled documents train the model; predicting them in sample makes the model look perfect
    there, and PPI's interval misses; out-of-fold predictions cover (a TF-IDF-like overfit: 1-NN)."""
    rng = np.random.default_rng(1)
    N, n, K, reps = 3000, 200, 5, 300
    cover = {"in_sample": 0, "crossfit": 0}
    for _ in range(reps):
        x = rng.normal(size=N)
        y_all = (rng.random(N) < 1 / (1 + np.exp(-2 * x))).astype(float)
        truth = y_all.mean()
        idx = np.sort(rng.choice(N, n, replace=False))
        fold = rng.permutation(n) % K

        full = _nearest(x, x[idx], y_all[idx])
        full[idx] = y_all[idx]  # in sample: the model reproduces its training labels
        F = np.column_stack([_nearest(x, x[idx[fold != k]], y_all[idx[fold != k]]) for k in range(K)])
        f = F.mean(axis=1)
        f[idx] = F[idx, fold]
        pi = np.full(n, n / N)
        y = y_all[idx]
        naive_ppi = {r["method"]: r for r in inference.mean_estimates(y, full, idx, pi, methods=["ppi"])}["ppi"]
        cf = {r["method"]: r for r in inference.mean_estimates(y, f, idx, pi, methods=["ppi"], folds=F)}["ppi"]
        cover["in_sample"] += naive_ppi["ci_low"] <= truth <= naive_ppi["ci_high"]
        cover["crossfit"] += cf["ci_low"] <= truth <= cf["ci_high"]
    assert cover["crossfit"] / reps >= 0.92
    assert cover["in_sample"] / reps < 0.85


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "mini"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_fold_models_predict_their_fold_and_the_unlabelled_and_the_findings_use_them(root: Path) -> None:
    from llmcoder.crossfit import crossfit_predictions
    from llmcoder.stages import findings

    (root / "tfidf.yaml").write_text(f"kind: tfidf\nname: tfidf\ncodebook: {CODEBOOK}\n", encoding="utf-8")
    rec = crossfit_predictions(root / "tfidf.yaml", root / "corpus.parquet", root / "splits.parquet", None,
                               root / "crossfit" / "tfidf", folds=3, seed=2)
    out = root / "crossfit" / "tfidf"
    for key, name in (("crossfit_folds", "folds.parquet"), ("crossfit_predictions", "predictions.parquet"),
                      ("crossfit_record", "summary.json")):
        assert results.validate_file(out / name, key) == [], name
    splits = pl.read_parquet(root / "splits.parquet")
    corpus = pl.read_parquet(root / "corpus.parquet")
    fit = set(splits.filter(pl.col("split").is_in(["train", "dev"]))["doc_id"])
    folds = pl.read_parquet(out / "folds.parquet")
    assert set(folds["doc_id"]) == fit and sorted(folds["fold"].unique()) == [0, 1, 2]
    gold = dict(corpus.select("doc_id", "label").iter_rows())
    assert all(gold[d] == lab for d, lab in folds.select("doc_id", "label").iter_rows())
    pred = pl.read_parquet(out / "predictions.parquet")
    fold_of = dict(folds.select("doc_id", "fold").iter_rows())
    per_doc = pred.group_by("doc_id").agg(pl.col("fold").unique().sort(), pl.col("out_of_fold").first())
    for d, fs, oof in per_doc.iter_rows():
        if d in fold_of:  # a labelled document: predicted only by the model that did not train on it
            assert fs == [fold_of[d]] and oof
        else:  # nobody labelled it: every model predicts it
            assert fs == [0, 1, 2] and not oof
    assert set(per_doc["doc_id"]) == set(corpus["doc_id"])
    assert rec["n_labelled"] == len(fit) and rec["n_unlabelled"] == corpus.height - len(fit)
    assert [f["n_held_out"] for f in rec["per_fold"]] == [folds.filter(pl.col("fold") == k).height for k in range(3)]

    est = findings(root / "predictions" / "tfidf.parquet", root / "corpus.parquet", root / "splits.parquet",
                   CODEBOOK, root / "inference", settings={"crossfit": 3, "labels": ["health"],
                                                           "formulas": ['label == "health" ~ party']},
                   surrogate_name="tfidf", surrogate_kind="finetuned", crossfit=out)
    summary = json.loads((root / "inference" / "summary.json").read_text())
    assert summary["crossfit"] == 3 and summary["design"] == "crossfit" and summary["population"] == "corpus"
    assert summary["n_sample"] == len(fit) and summary["labels_from"] == "gold"
    sample = pl.read_parquet(root / "inference" / "sample.parquet")
    assert set(sample.filter(pl.col("labelled"))["doc_id"]) == fit
    assert sample["pi"].to_list() == pytest.approx([len(fit) / corpus.height] * corpus.height)
    # the PPI row is ppi_py's cross-prediction estimate on the same numbers
    from ppi_py import crossppi_mean_pointestimate

    ids = corpus["doc_id"].to_list()
    lab = pred.filter(pl.col("label") == "health")
    F = np.zeros((len(ids), 3))
    pos = {d: i for i, d in enumerate(ids)}
    for d, k, chosen, oof in lab.select("doc_id", "fold", "chosen", "out_of_fold").iter_rows():
        if oof:
            F[pos[d], :] = chosen
        else:
            F[pos[d], k] = chosen
    li = np.array(sorted(pos[d] for d in fit))
    unl = np.setdiff1d(np.arange(len(ids)), li)
    y = np.array([gold[ids[i]] == "health" for i in li], dtype=float)
    want = float(np.ravel(crossppi_mean_pointestimate(y, F[li, 0], F[unl]))[0])
    got = est.filter((pl.col("method") == "ppi") & (pl.col("estimand") == "prevalence") & (pl.col("stratum") == ""))
    assert got["estimate"].item() == pytest.approx(want, abs=1e-10)
    assert set(est.filter(pl.col("estimand") == "regression")["method"]) == {"naive", "classical", "ppi", "dsl"}

    with pytest.raises(InputError, match="an LLM coder is not trained"):
        findings(root / "coders" / "smollm2.parquet", root / "corpus.parquet", root / "splits.parquet", CODEBOOK,
                 root / "inference2", settings={"crossfit": 3}, surrogate_name="smollm2", surrogate_kind="llm_coder",
                 crossfit=out)
    with pytest.raises(InputError, match="3 folds there, inference.crossfit asks for 2"):
        findings(root / "predictions" / "tfidf.parquet", root / "corpus.parquet", root / "splits.parquet", CODEBOOK,
                 root / "inference2", settings={"crossfit": 2}, surrogate_name="tfidf", surrogate_kind="finetuned",
                 crossfit=out)
