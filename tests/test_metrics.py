"""llmcoder.metrics against scikit-learn (and krippendorff) on random, edge and real data."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import krippendorff
import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from llmcoder.errors import InputError
from llmcoder.metrics import (
    _multi_columns,
    _multi_from_sums,
    _single_from_confusion,
    bootstrap_sums,
    evaluate,
    evaluate_files,
    write_evaluation,
)

DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _single(y_true, y_pred, ids=None):
    ids = ids or [f"d{i}" for i in range(len(y_true))]
    gold = pl.DataFrame({"doc_id": ids, "label": list(y_true)})
    pred = pl.DataFrame({"doc_id": ids, "label": list(y_pred)})
    return gold, pred


def _long(indicator: np.ndarray, labels: list[str]) -> pl.DataFrame:
    rows = []
    for i, row in enumerate(indicator):
        labs = [labels[j] for j in np.flatnonzero(row)] or [None]
        rows += [(f"d{i}", lab) for lab in labs]
    return pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "label": pl.Utf8}, orient="row")


@pytest.fixture(params=[0, 1, 2])
def random_single(request):
    rng = np.random.default_rng(request.param)
    n, k = 300, 5
    g = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, g, rng.integers(0, k, n))
    labels = [f"c{i}" for i in range(k)]
    return [labels[i] for i in g], [labels[i] for i in p], labels


def test_single_label_matches_sklearn(random_single):
    y_true, y_pred, labels = random_single
    gold, pred = _single(y_true, y_pred)
    r = evaluate(gold, pred, labels=labels, n_boot=200)
    m = r["metrics"]
    assert r["task"] == "single" and r["n"] == len(y_true)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    for avg in ("macro", "micro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average=avg))
    assert m["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    codes = {lab: i for i, lab in enumerate(labels)}
    alpha = krippendorff.alpha(
        np.array([[codes[v] for v in y_true], [codes[v] for v in y_pred]]),
        level_of_measurement="nominal",
    )
    assert m["krippendorff_alpha"] == pytest.approx(alpha)
    p, rc, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels)
    pc = r["per_class"]
    np.testing.assert_allclose(pc["precision"], p)
    np.testing.assert_allclose(pc["recall"], rc)
    np.testing.assert_allclose(pc["sensitivity"], rc)
    np.testing.assert_allclose(pc["f1"], f)
    np.testing.assert_array_equal(pc["support"], s)
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    spec = [(cm.sum() - cm[i].sum() - cm[:, i].sum() + cm[i, i]) / (cm.sum() - cm[i].sum()) for i in range(len(labels))]
    np.testing.assert_allclose(pc["specificity"], spec)
    conf = r["confusion"].pivot(on="pred", index="gold", values="n").select(labels).to_numpy()
    np.testing.assert_array_equal(conf, cm)
    for key in ("accuracy", "macro_f1", "cohen_kappa"):
        lo, hi = r["ci"][key]
        assert lo <= m[key] <= hi and hi - lo < 0.25


def test_labels_fix_order_and_include_absent_categories():
    y_true = ["a", "b", "a", "b", "a"]
    y_pred = ["a", "b", "b", "b", "a"]
    gold, pred = _single(y_true, y_pred)
    labels = ["b", "zzz", "a"]
    with pytest.warns(UndefinedMetricWarning, match="zzz"):
        r = evaluate(gold, pred, labels=labels, n_boot=0)
    assert r["per_class"]["label"].to_list() == labels
    assert r["per_class"]["support"].to_list() == [2, 0, 3]
    assert r["metrics"]["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0.0)
    )
    # the absent category still counts in macro F1 (as 0): lower than over the 2 observed labels
    assert r["metrics"]["macro_f1"] < skm.f1_score(y_true, y_pred, average="macro")


def test_zero_division_value_is_used_and_warned():
    gold, pred = _single(["a", "a", "b"], ["a", "a", "a"])
    with pytest.warns(UndefinedMetricWarning, match="precision is undefined for 1 label"):
        r = evaluate(gold, pred, n_boot=0, zero_division=1.0)
    assert r["per_class"].filter(pl.col("label") == "b")["precision"].item() == 1.0
    assert any("precision" in w for w in r["warnings"])


def test_missing_predictions_raise_naming_documents():
    ids = [f"doc{i:03d}" for i in range(30)]
    gold = pl.DataFrame({"doc_id": ids, "label": ["a"] * 30})
    pred = pl.DataFrame({"doc_id": ids[:5], "label": ["a"] * 5})
    with pytest.raises(InputError) as e:
        evaluate(gold, pred)
    msg = str(e.value)
    assert "25 gold document(s) have no prediction" in msg
    assert "doc005" in msg and "doc024" in msg and "doc025" not in msg  # 20 listed
    assert "and 5 more (25 in all)" in msg


def test_extra_predictions_ignored_with_warning():
    gold, pred = _single(["a", "b"], ["a", "b"])
    pred = pl.concat([pred, pl.DataFrame({"doc_id": ["x", "y"], "label": ["a", "a"]})])
    with pytest.warns(UserWarning, match="2 predicted document"):
        r = evaluate(gold, pred, n_boot=0)
    assert r["n"] == 2 and r["n_ignored_pred"] == 2 and r["metrics"]["accuracy"] == 1.0


def test_invalid_and_missing_predictions_count_as_wrong():
    y_true = ["a", "b", "a", "b"]
    gold, _ = _single(y_true, y_true)
    pred = pl.DataFrame({"doc_id": ["d0", "d1", "d2", "d3"], "label": ["a", None, "c", "b"]})
    with pytest.warns(UserWarning, match="2 prediction"):
        r = evaluate(gold, pred, labels=["a", "b"], n_boot=50)
    assert r["n_invalid_pred"] == 2
    assert r["metrics"]["accuracy"] == 0.5
    y_pred = ["a", "(none)", "(none)", "b"]
    assert r["metrics"]["cohen_kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    assert r["metrics"]["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, labels=["a", "b"], average="macro"))
    assert set(r["confusion"]["pred"].to_list()) == {"a", "b", "(none)"}


def test_single_label_duplicates_rejected():
    gold = pl.DataFrame({"doc_id": ["a", "b"], "label": ["x", "y"]})
    pred = pl.DataFrame({"doc_id": ["a", "a", "b"], "label": ["x", "y", "y"]})
    with pytest.raises(InputError, match="several predicted labels"):
        evaluate(gold, pred, task="single")


def test_bootstrap_sums_equals_explicit_resampling():
    rng = np.random.default_rng(5)
    x = rng.random((50, 3))
    got = bootstrap_sums(x, 7, random_state=11)
    idx = np.random.default_rng(11).integers(0, 50, size=(7, 50))
    np.testing.assert_allclose(got, x[idx].sum(1))
    # chunking does not change the draws' distribution but must give the same shape and be seeded
    a = bootstrap_sums(x, 20, random_state=3, max_cells=100)
    b = bootstrap_sums(x, 20, random_state=3, max_cells=100)
    np.testing.assert_array_equal(a, b)


def test_vectorised_bootstrap_replicates_equal_sklearn(random_single):
    """Each resample's metrics from resampled confusion counts equal sklearn on that resample."""
    y_true, y_pred, labels = random_single
    yt, yp = np.array(y_true), np.array(y_pred)
    k = len(labels)
    codes = {lab: i for i, lab in enumerate(labels)}
    cell = np.array([codes[a] * k + codes[b] for a, b in zip(y_true, y_pred, strict=True)])
    onehot = np.eye(k * k)[cell]
    sums = bootstrap_sums(onehot, 5, random_state=9).reshape(5, k, k)
    fast = _single_from_confusion(sums, k, 0.0)
    idx = np.random.default_rng(9).integers(0, len(yt), size=(5, len(yt)))
    for b in range(5):
        t, p = yt[idx[b]], yp[idx[b]]
        assert fast["accuracy"][b] == pytest.approx(skm.accuracy_score(t, p))
        assert fast["macro_f1"][b] == pytest.approx(
            skm.f1_score(t, p, labels=labels, average="macro", zero_division=0.0)
        )
        assert fast["cohen_kappa"][b] == pytest.approx(skm.cohen_kappa_score(t, p, labels=labels))


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200).astype(str)
    p = np.where(rng.random(200) < 0.5, y, "0")
    gold, pred = _single(y, p)
    a = evaluate(gold, pred, n_boot=100, random_state=4)["ci"]
    b = evaluate(gold, pred, n_boot=100, random_state=4)["ci"]
    c = evaluate(gold, pred, n_boot=100, random_state=5)["ci"]
    assert a == b and a != c


@pytest.mark.parametrize("seed", [0, 1])
def test_multi_label_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = 400, 6
    labels = [f"l{j}" for j in range(k)]
    y = rng.random((n, k)) < 0.3
    p = np.where(rng.random((n, k)) < 0.75, y, ~y)
    p[:, 5] = False  # a label never predicted
    with pytest.warns(UndefinedMetricWarning):
        r = evaluate(_long(y, labels), _long(p, labels), labels=labels, n_boot=200)
    assert r["task"] == "multi"
    m = r["metrics"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
        assert m["jaccard_samples"] == pytest.approx(skm.jaccard_score(y, p, average="samples"))
        assert m["jaccard_macro"] == pytest.approx(skm.jaccard_score(y, p, average="macro"))
        g = y.any(1)
        assert m["jaccard_gold_docs"] == pytest.approx(np.mean((y & p)[g].sum(1) / (y | p)[g].sum(1)))
        assert m["hamming_gold_docs"] == pytest.approx(np.mean((y != p)[g].sum(1) / k))
        assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, p))
        assert m["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
        assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
        pr, rc, f, s = skm.precision_recall_fscore_support(y, p, zero_division=0.0)
    has = y.any(1)
    assert m["any_correct"] == pytest.approx((y & p).any(1)[has].mean())
    np.testing.assert_allclose(r["per_class"]["precision"], pr)
    np.testing.assert_allclose(r["per_class"]["recall"], rc)
    np.testing.assert_allclose(r["per_class"]["f1"], f)
    np.testing.assert_array_equal(r["per_class"]["support"], s)
    tn = ((~y) & (~p)).sum(0)
    np.testing.assert_allclose(r["per_class"]["specificity"], tn / (~y).sum(0))
    assert r["label_counts"]["tp"].to_list() == (y & p).sum(0).tolist()
    co = r["confusion"].filter(pl.col("gold") != "(none)").filter(pl.col("pred") != "(none)")
    co = co.pivot(on="pred", index="gold", values="n").select(labels).to_numpy()
    np.testing.assert_array_equal(co, y.astype(int).T @ p.astype(int))
    for key in ("hamming_loss", "jaccard_samples", "micro_f1", "macro_f1"):
        lo, hi = r["ci"][key]
        assert lo <= m[key] <= hi


def test_the_papers_jaccard_and_hamming_average_over_documents_with_a_gold_label():
    """Rethinking Scale's definitions: per document with at least one gold label, |T & L| / |T | L| and
    |T ^ L| / K, averaged over those documents only; scikit-learn's jaccard_samples and hamming_loss
    count every document (an empty/empty one as zero_division)."""
    labels = ["a", "b", "c", "d"]
    gold = pl.DataFrame({"doc_id": ["1", "1", "2", "3", "4"], "label": ["a", "b", "c", None, None]})
    pred = pl.DataFrame({"doc_id": ["1", "2", "2", "3", "4"], "label": ["a", "c", "d", None, "a"]})
    with pytest.warns(UndefinedMetricWarning):
        r = evaluate(gold, pred, labels=labels, task="multi", n_boot=100)
    m = r["metrics"]
    # documents 1 and 2 have gold: Jaccard 1/2 and 1/2; symmetric differences 1 and 1 of 4 labels
    assert m["jaccard_gold_docs"] == pytest.approx(0.5)
    assert m["hamming_gold_docs"] == pytest.approx((1 / 4 + 1 / 4) / 2)
    # scikit-learn's, over all four documents (doc 3 empty/empty -> 0, doc 4 -> 0)
    assert m["jaccard_samples"] == pytest.approx((0.5 + 0.5 + 0 + 0) / 4)
    assert m["hamming_loss"] == pytest.approx((1 + 1 + 0 + 1) / 16)
    for key in ("jaccard_gold_docs", "hamming_gold_docs"):
        lo, hi = r["ci"][key]
        assert lo <= m[key] <= hi


def test_multi_vectorised_replicates_equal_sklearn():
    rng = np.random.default_rng(3)
    y = rng.random((80, 4)) < 0.4
    p = np.where(rng.random((80, 4)) < 0.7, y, ~y)
    cols = _multi_columns(y, p, 0.0)
    boot = _multi_from_sums(bootstrap_sums(cols, 4, random_state=2), 4, 0.0)
    idx = np.random.default_rng(2).integers(0, 80, size=(4, 80))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(4):
            t, q = y[idx[b]], p[idx[b]]
            assert boot["hamming_loss"][b] == pytest.approx(skm.hamming_loss(t, q))
            assert boot["jaccard_samples"][b] == pytest.approx(
                skm.jaccard_score(t, q, average="samples", zero_division=0.0)
            )
            assert boot["micro_f1"][b] == pytest.approx(skm.f1_score(t, q, average="micro"))
            assert boot["macro_f1"][b] == pytest.approx(skm.f1_score(t, q, average="macro", zero_division=0.0))


def test_task_inferred_and_corpus_list_column_accepted():
    gold = pl.DataFrame({"doc_id": ["a", "b"], "labels": [["x", "y"], []]})
    pred = pl.DataFrame({"doc_id": ["a", "a", "b"], "label": ["x", "z", None]})
    with pytest.warns(UserWarning):
        r = evaluate(gold, pred, labels=["x", "y", "z"], n_boot=0, zero_division=1.0)
    assert r["task"] == "multi" and r["n"] == 2
    # doc a: {x,y} vs {x,z} -> 1/3; doc b: {} vs {} -> zero_division 1.0
    assert r["metrics"]["jaccard_samples"] == pytest.approx((1 / 3 + 1) / 2)
    assert r["metrics"]["any_correct"] == 1.0


def test_write_evaluation_files(tmp_path, random_single):
    y_true, y_pred, labels = random_single
    gold, pred = _single(y_true, y_pred)
    r = evaluate(gold, pred, labels=labels, n_boot=50)
    write_evaluation(r, tmp_path, system="gpt")
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["system"] == "gpt" and doc["n"] == len(y_true) and doc["task"] == "single"
    assert doc["accuracy"] == pytest.approx(r["metrics"]["accuracy"])  # flat
    assert doc["ci"]["accuracy"] == pytest.approx(r["ci"]["accuracy"])
    mt = pl.read_csv(tmp_path / "metrics.csv")
    assert mt.columns == ["system", "metric", "estimate", "ci_low", "ci_high"]
    assert mt["metric"].to_list()[:3] == ["accuracy", "balanced_accuracy", "macro_f1"]
    assert mt.filter(pl.col("metric") == "balanced_accuracy")["ci_low"].is_null().all()
    pc = pl.read_csv(tmp_path / "per_class.csv")
    assert pc.columns == [
        "system",
        "label",
        "precision",
        "recall",
        "f1",
        "sensitivity",
        "specificity",
        "support",
        "predicted",
    ]
    by_label = {row["label"]: row for row in pc.iter_rows(named=True)}
    for lab in labels:  # support and predicted are the gold and the predicted counts, independently counted
        assert by_label[lab]["support"] == sum(t == lab for t in y_true)
        assert by_label[lab]["predicted"] == sum(p == lab for p in y_pred)
    cf = pl.read_csv(tmp_path / "confusion.csv")
    assert cf.columns == ["system", "gold", "pred", "n"] and cf.height == len(labels) ** 2
    assert cf["n"].sum() == len(y_true)
    assert json.loads((tmp_path / "provenance.json").read_text())["system"] == "gpt"


def test_evaluate_files_csv_and_parquet(tmp_path):
    gold, pred = _single(["a", "b", "a"], ["a", "b", "b"])
    gold.write_csv(tmp_path / "gold.csv")
    pred.write_parquet(tmp_path / "pred.parquet")
    r = evaluate_files(tmp_path / "gold.csv", tmp_path / "pred.parquet", tmp_path / "out", n_boot=0)
    assert r["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert (tmp_path / "out" / "confusion.csv").is_file()
    pl.DataFrame({"doc_id": ["z"], "label": ["a"]}).write_csv(tmp_path / "p2.csv")
    with pytest.raises(InputError, match="p2.csv"):
        evaluate_files(tmp_path / "gold.csv", tmp_path / "p2.csv", tmp_path / "o2")


@pytest.mark.skipif(
    not (DATA / "semeval2018_ec" / "ec.csv").is_file(),
    reason="shared/data/semeval2018_ec/ec.csv not available",
)
def test_semeval_multilabel_against_sklearn():
    """Real data: SemEval-2018 E-c test split gold vs a per-label 'train prior' coder.

    The coder assigns each emotion with its train-split frequency (seeded), a cheap but real
    baseline; every metric must equal sklearn on the indicator matrices.
    """
    df = pl.read_csv(DATA / "semeval2018_ec" / "ec.csv")
    emotions = [
        "anger",
        "anticipation",
        "disgust",
        "fear",
        "joy",
        "love",
        "optimism",
        "pessimism",
        "sadness",
        "surprise",
        "trust",
    ]
    train = df.filter(pl.col("split") == "train")
    test = df.filter(pl.col("split") == "test")
    prior = train.select(emotions).mean().to_numpy()[0]
    y = test.select(emotions).to_numpy().astype(bool)
    p = np.random.default_rng(0).random(y.shape) < prior
    gold = test.select("id", "labels").rename({"id": "doc_id"})
    pred = pl.DataFrame(
        {
            "doc_id": test["id"],
            "labels": ["|".join(e for e, on in zip(emotions, row, strict=True) if on) for row in p],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = evaluate(gold, pred, labels=emotions, task="multi", n_boot=200)
        m = r["metrics"]
        assert r["n"] == 3259
        assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
        assert m["jaccard_samples"] == pytest.approx(skm.jaccard_score(y, p, average="samples"))
        assert m["jaccard_macro"] == pytest.approx(skm.jaccard_score(y, p, average="macro"))
        assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, p))
        assert m["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
        assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
        np.testing.assert_allclose(r["per_class"]["f1"], skm.f1_score(y, p, average=None))
    assert r["per_class"]["support"].to_list() == y.sum(0).tolist()
    lo, hi = r["ci"]["micro_f1"]
    assert lo < m["micro_f1"] < hi and hi - lo < 0.05


def test_cli_evaluate(tmp_path, codebook_path):
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.stats import register

    app = typer.Typer()
    register(app)
    gold, pred = _single(["health", "energy", "health", "education"], ["health", "energy", "energy", "education"])
    gold.write_csv(tmp_path / "gold.csv")
    pred.write_csv(tmp_path / "pred.csv")
    out = tmp_path / "eval"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--gold",
            str(tmp_path / "gold.csv"),
            "--pred",
            str(tmp_path / "pred.csv"),
            "--out",
            str(out),
            "--codebook",
            str(codebook_path),
            "--system",
            "m1",
            "--n-boot",
            "50",
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "accuracy 0.750" in res.stdout
    pc = pl.read_csv(out / "per_class.csv")
    assert pc["label"].to_list() == ["health", "education", "energy"]  # codebook order
    assert json.loads((out / "metrics.json").read_text())["random_state"] == 3
    pred.head(2).write_csv(tmp_path / "short.csv")
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--gold",
            str(tmp_path / "gold.csv"),
            "--pred",
            str(tmp_path / "short.csv"),
            "--out",
            str(tmp_path / "e2"),
        ],
    )
    assert res.exit_code == 2
    assert "short.csv" in res.stderr and "2 gold document(s) have no prediction" in res.stderr


def test_a_document_with_no_label_chosen_is_an_empty_set_not_a_missing_one(tmp_path):
    """Multi-label predictions where a model chose nothing for a document: evaluated as the empty set."""
    from llmcoder.stages import chosen_labels

    scored = pl.DataFrame({"doc_id": ["a", "a", "b", "b"], "label": ["x", "y", "x", "y"],
                           "chosen": [True, False, False, False]})
    pred = chosen_labels(scored)
    assert pred.rows() == [("a", "x"), ("b", None)]
    gold = pl.DataFrame({"doc_id": ["a", "b"], "label": ["x", None]})
    with pytest.warns(UserWarning, match="jaccard_samples is undefined for 1 document"):
        res = evaluate(gold, pred, labels=["x", "y"], task="multi", n_boot=0)
    y = np.array([[1, 0], [0, 0]])  # the same sets as indicator rows, scored by scikit-learn
    assert res["metrics"]["hamming_loss"] == skm.hamming_loss(y, y) == 0.0
    assert res["metrics"]["jaccard_samples"] == skm.jaccard_score(y, y, average="samples", zero_division=0) == 0.5


# -- calibration -----------------------------------------------------------------------------------


def _random_probs(rng, n: int, labels: list[str], *, multi: bool = False):
    """Gold (long) and probabilities (long, with chosen) of a random system, confidences off the bin edges."""
    k = len(labels)
    if multi:
        p = rng.uniform(0.001, 0.999, size=(n, k))
        y = rng.uniform(size=(n, k)) < p  # roughly calibrated
        gold_rows = [(f"d{i}", labels[j]) for i in range(n) for j in range(k) if y[i, j]]
        gold_rows += [(f"d{i}", None) for i in range(n) if not y[i].any()]
        chosen = p >= 0.5
    else:
        p = rng.dirichlet(np.ones(k) * 0.7, size=n)
        y_idx = np.array([rng.choice(k, p=row) for row in p])
        y = np.eye(k, dtype=bool)[y_idx]
        gold_rows = [(f"d{i}", labels[y_idx[i]]) for i in range(n)]
        chosen = np.eye(k, dtype=bool)[p.argmax(axis=1)]
    p = np.round(p, 6) + 1e-7  # never exactly on a bin edge, where sklearn and we bin differently
    gold = pl.DataFrame(gold_rows, schema={"doc_id": pl.Utf8, "label": pl.Utf8}, orient="row")
    probs = pl.DataFrame({
        "doc_id": [f"d{i}" for i in range(n) for _ in labels],
        "label": labels * n,
        "prob": p.ravel().tolist(),
        "chosen": chosen.ravel().tolist(),
    })
    return gold, probs, p, y


def test_calibration_single_label_agrees_with_sklearn():
    """Top-label and classwise ECE from sklearn's calibration_curve bins; the multi-class Brier score is the
    sum over labels of sklearn's binary brier_score_loss; the reliability bins are calibration_curve's."""
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(3)
    labels = ["a", "b", "c", "d"]
    gold, probs, p, y = _random_probs(rng, 400, labels)
    r = evaluate(gold, probs.filter(pl.col("chosen")).select("doc_id", "label"), labels=labels, task="single",
                 n_boot=0, probs=probs)
    m, cal = r["metrics"], r["calibration"]

    def sk_ece(conf, hit):
        frac, mean = calibration_curve(hit, conf, n_bins=10, strategy="uniform")
        counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], conf), minlength=10)
        counts = counts[counts > 0]
        return float(np.sum(counts / counts.sum() * np.abs(frac - mean))), frac, mean, counts

    conf, hit = p.max(axis=1), y[np.arange(len(p)), p.argmax(axis=1)]
    ece, frac, mean, counts = sk_ece(conf, hit)
    assert m["ece_top_label"] == pytest.approx(ece, abs=1e-12)
    assert [b["n"] for b in cal["reliability"]] == counts.tolist()
    assert [b["accuracy"] for b in cal["reliability"]] == pytest.approx(frac.tolist(), abs=1e-12)
    assert [b["confidence"] for b in cal["reliability"]] == pytest.approx(mean.tolist(), abs=1e-12)
    assert cal["ece"] == pytest.approx(ece, abs=1e-12)
    classwise = np.mean([sk_ece(p[:, j], y[:, j])[0] for j in range(len(labels))])
    assert m["ece_classwise"] == pytest.approx(classwise, abs=1e-12)
    brier = sum(skm.brier_score_loss(y[:, j], p[:, j]) for j in range(len(labels)))
    assert m["brier"] == pytest.approx(brier, abs=1e-12)
    for j, lab in enumerate(labels):
        assert cal["per_label"][lab]["brier"] == pytest.approx(skm.brier_score_loss(y[:, j], p[:, j]), abs=1e-12)
    assert cal["n"] == 400 and cal["n_excluded"] == 0 and cal["bins"] == 10 and cal["kind"] == "top label"
    assert "equal-width" in cal["binning"]


def test_calibration_multi_label_agrees_with_sklearn():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(5)
    labels = ["a", "b", "c"]
    gold, probs, p, y = _random_probs(rng, 300, labels, multi=True)
    pred = probs.filter(pl.col("chosen")).select("doc_id", "label")
    none = [f"d{i}" for i in range(300) if not (p[i] >= 0.5).any()]
    pred = pl.concat([pred, pl.DataFrame({"doc_id": none, "label": [None] * len(none)},
                                         schema={"doc_id": pl.Utf8, "label": pl.Utf8})])
    r = evaluate(gold, pred, labels=labels, task="multi", n_boot=0, probs=probs)
    m, cal = r["metrics"], r["calibration"]
    eces, briers = [], []
    for j in range(len(labels)):
        frac, mean = calibration_curve(y[:, j], p[:, j], n_bins=10)
        counts = np.bincount(np.searchsorted(np.linspace(0, 1, 11)[1:-1], p[:, j]), minlength=10)
        counts = counts[counts > 0]
        eces.append(float(np.sum(counts / counts.sum() * np.abs(frac - mean))))
        briers.append(skm.brier_score_loss(y[:, j], p[:, j]))
        assert cal["per_label"][labels[j]]["ece"] == pytest.approx(eces[-1], abs=1e-12)
    assert m["ece_per_label_mean"] == pytest.approx(np.mean(eces), abs=1e-12)
    assert m["brier_per_label_mean"] == pytest.approx(np.mean(briers), abs=1e-12)
    frac, mean = calibration_curve(y.ravel(), p.ravel(), n_bins=10)  # the diagram pools document x label
    assert [b["accuracy"] for b in cal["reliability"]] == pytest.approx(frac.tolist(), abs=1e-12)
    assert [b["confidence"] for b in cal["reliability"]] == pytest.approx(mean.tolist(), abs=1e-12)
    assert cal["kind"] == "per label" and sum(b["n"] for b in cal["reliability"]) == 900
    assert "ece_top_label" not in m and "brier" not in m


def test_calibration_excludes_and_counts_documents_without_probabilities():
    """An unanswered document (NaN probabilities) is left out of every calibration score and counted, never
    scored as a probability of zero; the scores equal those of the answered documents alone."""
    rng = np.random.default_rng(11)
    labels = ["a", "b", "c"]
    gold, probs, p, y = _random_probs(rng, 60, labels)
    pred = probs.filter(pl.col("chosen")).select("doc_id", "label")
    dropped = ["d3", "d17", "d40"]
    with_nan = probs.with_columns(pl.when(pl.col("doc_id").is_in(dropped)).then(float("nan"))
                                  .otherwise(pl.col("prob")).alias("prob"),
                                  pl.when(pl.col("doc_id").is_in(dropped)).then(False)
                                  .otherwise(pl.col("chosen")).alias("chosen"))
    pred_nan = pl.concat([pred.filter(~pl.col("doc_id").is_in(dropped)),
                          pl.DataFrame({"doc_id": dropped, "label": [None] * 3},
                                       schema={"doc_id": pl.Utf8, "label": pl.Utf8})])
    r = evaluate(gold, pred_nan, labels=labels, task="single", n_boot=0, probs=with_nan)
    keep = ~pl.col("doc_id").is_in(dropped)
    ref = evaluate(gold.filter(keep), pred.filter(keep), labels=labels, task="single", n_boot=0,
                   probs=probs.filter(keep))
    assert r["calibration"]["n"] == 57 and r["calibration"]["n_excluded"] == 3
    assert sorted(r["calibration"]["excluded"]) == sorted(dropped)
    for key in ("ece_top_label", "ece_classwise", "brier"):
        assert r["metrics"][key] == pytest.approx(ref["metrics"][key], abs=1e-12)
    # a document with probabilities but no chosen label is scored, and never correct
    unchosen = probs.with_columns(pl.when(pl.col("doc_id") == "d0").then(False).otherwise(pl.col("chosen"))
                                  .alias("chosen"))
    r0 = evaluate(gold, pred.filter(pl.col("doc_id") != "d0").vstack(
        pl.DataFrame({"doc_id": ["d0"], "label": [None]}, schema={"doc_id": pl.Utf8, "label": pl.Utf8})),
        labels=labels, task="single", n_boot=0, probs=unchosen)
    assert r0["calibration"]["n"] == 60
    assert sum(b["n"] * b["accuracy"] for b in r0["calibration"]["reliability"]) == pytest.approx(
        60 * r0["metrics"]["accuracy"])


def test_calibration_bins_edges_and_written_record(tmp_path):
    """Bins are [low, high), the last closed (R's calibration_bins()); the record round-trips through
    metrics.json and the results contract, and evaluation without probabilities has no calibration."""
    from llmcoder.metrics import read_evaluation, reliability_bins
    from llmcoder.results import check_record

    bins = reliability_bins([0.0, 0.1, 0.5, 0.95, 1.0], [1, 0, 1, 1, 0])
    assert [(b["bin"], b["n"]) for b in bins] == [(1, 1), (2, 1), (6, 1), (10, 2)]
    assert bins[-1]["low"] == pytest.approx(0.9) and bins[-1]["high"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        reliability_bins([0.2, float("nan")], [1, 0])
    rng = np.random.default_rng(1)
    gold, probs, _, _ = _random_probs(rng, 40, ["a", "b"])
    pred = probs.filter(pl.col("chosen")).select("doc_id", "label")
    r = evaluate(gold, pred, labels=["a", "b"], task="single", n_boot=0, probs=probs)
    write_evaluation(r, tmp_path / "ev", system="s")
    doc = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert check_record("evaluation_record", doc) == []
    assert doc["calibration"]["reliability"] == r["calibration"]["reliability"]
    assert doc["brier"] == pytest.approx(r["metrics"]["brier"])
    back = read_evaluation(tmp_path / "ev")
    assert "calibration" not in back["metrics"] and back["calibration"]["n"] == 40
    assert back["metrics"]["ece_top_label"] == pytest.approx(r["metrics"]["ece_top_label"])
    plain = evaluate(gold, pred, labels=["a", "b"], task="single", n_boot=0)
    assert "calibration" not in plain and "brier" not in plain["metrics"]


def test_report_and_evaluation_share_the_bins():
    from llmcoder import metrics, report

    assert report.CALIBRATION_BINS == metrics.CALIBRATION_BINS
