"""llmcoder.bias: positional bias, recall asymmetry, strata and error sheets on constructed data."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from scipy import stats

from llmcoder.bias import error_sample, positional_bias, recall_asymmetry, recall_gap_intervals, stratum_metrics
from llmcoder.errors import InputError
from llmcoder.metrics import evaluate

LABELS = ["a", "b", "c", "d"]


def _rotated_codings(bias: float, n_docs: int = 400, seed: int = 0):
    """A coder that answers the truth, except that with probability ``bias`` it takes the
    first-listed label. Rotation r lists the labels shifted by r."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_docs)
    orders = {r: LABELS[r:] + LABELS[:r] for r in range(4)}
    rows = []
    for r, order in orders.items():
        for d in range(n_docs):
            lab = order[0] if rng.random() < bias else LABELS[truth[d]]
            for cand in LABELS:  # one row per candidate, chosen flags the answer
                rows.append((f"d{d}", "llm", r, cand, cand == lab))
    codings = pl.DataFrame(rows, schema=["doc_id", "coder_id", "rotation", "label", "chosen"], orient="row")
    return codings, orders


def test_unbiased_coder_shows_no_positional_bias():
    codings, orders = _rotated_codings(0.0)
    t = positional_bias(codings, orders)
    row = t.row(0, named=True)
    assert row["n_docs"] == 400 and row["n_codings"] == 1600
    assert row["n_flipped"] == 0 and row["flip_rate"] == 0.0
    assert row["first_share"] == pytest.approx(row["first_base_rate"], abs=0.05)
    assert row["p_value"] > 0.01


def test_biased_coder_is_detected():
    codings, orders = _rotated_codings(0.3)
    row = positional_bias(codings, orders).row(0, named=True)
    assert row["flip_rate"] > 0.5
    assert row["first_ratio"] > 1.5 and row["p_value"] < 1e-10
    k, n, p0 = row["first_chosen"], row["n_codings"], row["first_base_rate"]
    assert row["p_value"] == pytest.approx(stats.binomtest(k, n, p0).pvalue)
    # the same answer given as a per-document order table
    frame = pl.DataFrame(
        [(r, i, lab) for r, labs in orders.items() for i, lab in enumerate(labs)],
        schema=["rotation", "position", "label"],
        orient="row",
    )
    assert positional_bias(codings, frame).row(0, named=True) == row


def test_positional_bias_handcrafted_counts():
    # doc x: rotation 0 lists a first, rotation 1 lists b first; the coder follows the list.
    codings = pl.DataFrame(
        {"doc_id": ["x", "x", "y", "y"], "coder_id": ["m"] * 4, "rotation": [0, 1, 0, 1], "label": ["a", "b", "c", "c"]}
    )
    row = positional_bias(codings, {0: ["a", "b", "c"], 1: ["b", "a", "c"]}).row(0, named=True)
    assert (row["n_docs"], row["n_flipped"], row["flip_rate"]) == (2, 1, 0.5)
    assert (row["n_codings"], row["first_chosen"]) == (4, 2)
    # base rates: a chosen in 1/4 codings, b in 1/4 -> every coding's first label has base 0.25
    assert row["first_base_rate"] == pytest.approx(0.25)
    assert row["first_ratio"] == pytest.approx(2.0)


def test_positional_bias_missing_order_is_an_error():
    codings = pl.DataFrame({"doc_id": ["x"], "coder_id": ["m"], "rotation": [2], "label": ["a"]})
    with pytest.raises(InputError, match="no label order"):
        positional_bias(codings, {0: ["a", "b"]})


def _single(y_true, y_pred):
    ids = [f"d{i}" for i in range(len(y_true))]
    return (pl.DataFrame({"doc_id": ids, "label": list(y_true)}), pl.DataFrame({"doc_id": ids, "label": list(y_pred)}))


def test_recall_asymmetry_flags_the_neglected_class():
    # class c is mostly predicted as a; a and b are well recognised
    y_true = ["a"] * 40 + ["b"] * 40 + ["c"] * 20
    y_pred = ["a"] * 40 + ["b"] * 38 + ["a"] * 2 + ["a"] * 15 + ["c"] * 5
    gold, pred = _single(y_true, y_pred)
    t = recall_asymmetry(evaluate(gold, pred, n_boot=0), threshold=0.25)
    c = t.filter(pl.col("label") == "c").row(0, named=True)
    assert c["recall"] == pytest.approx(0.25)
    assert c["most_confused_as"] == "a" and c["n_confused_as"] == 15
    mean_recall = (1.0 + 38 / 40 + 0.25) / 3
    assert c["recall_gap"] == pytest.approx(0.25 - mean_recall)
    # a: recall gap +0.27 and over-predicted (57/40); b: gap +0.22 < 0.25; c: gap -0.48
    assert t.filter(pl.col("flag"))["label"].to_list() == ["a", "c"]
    assert t.filter(pl.col("label") == "a")["pred_ratio"].item() == pytest.approx(57 / 40)


def test_recall_asymmetry_multilabel():
    gold = pl.DataFrame({"doc_id": ["1", "1", "2", "3"], "label": ["x", "y", "x", "y"]})
    pred = pl.DataFrame({"doc_id": ["1", "2", "3"], "label": ["x", "x", "x"]})
    with pytest.warns(UserWarning, match="precision is undefined"):
        r = evaluate(gold, pred, n_boot=0)
    t = recall_asymmetry(r, threshold=0.2)
    assert t["recall"].to_list() == [1.0, 0.0]
    assert t["flag"].to_list() == [True, True]


def test_recall_gap_intervals_match_a_resampling_loop_with_sklearn():
    """The vectorised bootstrap equals resampling documents one by one and scoring with sklearn."""
    from sklearn.metrics import recall_score

    from llmcoder.metrics import percentile_ci

    y_true = ["a"] * 40 + ["b"] * 40 + ["c"] * 20
    y_pred = ["a"] * 40 + ["b"] * 38 + ["a"] * 2 + ["a"] * 15 + ["c"] * 5
    gold, pred = _single(y_true, y_pred)
    iv = recall_gap_intervals(gold, pred, labels=["a", "b", "c"], n_boot=300, random_state=3)
    t = recall_asymmetry(evaluate(gold, pred, n_boot=0), intervals=iv)
    assert t["ci_low"].to_list() == iv["ci_low"].to_list()
    # the same resamples, drawn the way metrics.bootstrap_sums draws them
    idx = np.random.default_rng(3).integers(0, 100, size=(300, 100))
    yt, yp = np.array(y_true), np.array(y_pred)
    gaps = []
    for rows in idx:
        present = [lab for lab in "abc" if (yt[rows] == lab).any()]
        rec = recall_score(yt[rows], yp[rows], labels=present, average=None, zero_division=0)
        g = dict(zip(present, rec - rec.mean(), strict=True))
        gaps.append([g.get(lab, np.nan) for lab in "abc"])
    gaps = np.array(gaps)
    for j, lab in enumerate("abc"):
        lo, hi = percentile_ci(gaps[:, j], 0.95)
        row = iv.filter(pl.col("label") == lab).row(0, named=True)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    c = t.filter(pl.col("label") == "c").row(0, named=True)
    assert c["ci_high"] < 0 < t.filter(pl.col("label") == "a")["ci_low"].item()  # c neglected, a favoured


def test_recall_gap_intervals_must_come_from_the_evaluated_documents():
    gold, pred = _single(["a", "b", "a", "b"], ["a", "a", "a", "b"])
    other_gold, other_pred = _single(["a", "b", "b", "b"], ["a", "b", "b", "b"])
    iv = recall_gap_intervals(other_gold, other_pred, labels=["a", "b"], n_boot=0)
    assert iv["ci_low"].is_null().all()
    with pytest.raises(ValueError, match="disagree"):
        recall_asymmetry(evaluate(gold, pred, n_boot=0), intervals=iv)


@pytest.mark.parametrize("task", ["single", "multi"])
def test_recall_asymmetry_reads_the_written_evaluation(tmp_path, task):
    """The bias step reads evaluation/<system>/ instead of scoring again: the same table either way,
    and per_class.csv's ``predicted`` counts what the system gave (sklearn's column sums)."""
    from sklearn.metrics import multilabel_confusion_matrix

    from llmcoder.metrics import read_evaluation, write_evaluation

    rng = np.random.default_rng(3)
    labs = ["a", "b", "c", "d"]
    ids = [str(i) for i in range(60)]
    if task == "single":
        g, q = rng.choice(labs, 60).tolist(), rng.choice(labs, 60, p=[0.4, 0.3, 0.2, 0.1]).tolist()
        gold, pred = pl.DataFrame({"doc_id": ids, "label": g}), pl.DataFrame({"doc_id": ids, "label": q})
        expected_pred = [q.count(lab) for lab in labs]
    else:
        y, p = rng.random((60, 4)) < 0.3, rng.random((60, 4)) < 0.4
        y[:, 0] |= ~y.any(1)  # every document has a gold and a predicted label (long tables)
        p[:, 1] |= ~p.any(1)
        long = lambda m: pl.DataFrame([(i, lab) for i, row in zip(ids, m, strict=True)  # noqa: E731
                                       for lab, on in zip(labs, row, strict=True) if on], schema=["doc_id", "label"],
                                      orient="row")
        gold, pred = long(y), long(p)
        mcm = multilabel_confusion_matrix(y, p)
        expected_pred = (mcm[:, 0, 1] + mcm[:, 1, 1]).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(gold, pred, labels=labs, task=task, n_boot=0)
    write_evaluation(result, tmp_path / "ev", system="s")
    back = read_evaluation(tmp_path / "ev")
    assert back["task"] == task and back["system"] == "s" and back["labels"] == labs
    assert back["per_class"]["predicted"].to_list() == expected_pred
    assert back["per_class"].equals(result["per_class"])
    assert recall_asymmetry(back).equals(recall_asymmetry(result))


def test_stratum_metrics_flags_the_bad_stratum():
    rng = np.random.default_rng(0)
    n = 600
    party = np.array(["p1", "p2", "p3"])[np.arange(n) % 3]
    truth = rng.integers(0, 3, n).astype(str)
    noise = np.where(party == "p3", 0.6, 0.1)  # p3 is coded much worse
    guess = np.where(rng.random(n) < noise, rng.integers(0, 3, n).astype(str), truth)
    gold, pred = _single(truth, guess)
    strata = pl.DataFrame({"doc_id": gold["doc_id"], "party": party})
    t = stratum_metrics(gold, pred, strata, by="party", n_boot=300)
    acc = t.filter(pl.col("metric") == "accuracy")
    assert acc["party"].to_list() == ["p1", "p2", "p3"] and acc["n"].to_list() == [200] * 3
    overall = evaluate(gold, pred, n_boot=0)["metrics"]["accuracy"]
    assert acc["overall"].to_list() == [pytest.approx(overall)] * 3
    sub = gold.filter(pl.Series(party == "p3"))
    ref = evaluate(sub, pred.filter(pl.col("doc_id").is_in(sub["doc_id"].implode())), n_boot=0)
    assert acc.filter(pl.col("party") == "p3")["estimate"].item() == pytest.approx(ref["metrics"]["accuracy"])
    assert acc.filter(pl.col("below_overall"))["party"].to_list() == ["p3"]
    assert set(t["metric"].unique().to_list()) == {"accuracy", "macro_f1", "cohen_kappa"}


def test_error_sample_is_seeded_and_capped():
    y_true = ["a"] * 30 + ["b"] * 30
    y_pred = ["b"] * 12 + ["a"] * 18 + ["a"] * 3 + ["b"] * 27
    gold, pred = _single(y_true, y_pred)
    texts = pl.DataFrame({"doc_id": gold["doc_id"], "text": [f"text {i}" for i in range(60)]})
    s1 = error_sample(gold, pred, n_per_pair=5, random_state=1, texts=texts)
    s2 = error_sample(gold, pred, n_per_pair=5, random_state=1, texts=texts)
    s3 = error_sample(gold, pred, n_per_pair=5, random_state=2, texts=texts)
    assert s1.equals(s2) and not s1.equals(s3)
    assert s1.columns == ["gold", "pred", "n_errors", "doc_id", "text"]
    assert s1.group_by("gold", "pred").len().sort("gold")["len"].to_list() == [5, 3]
    assert s1["n_errors"].to_list()[:1] == [12]  # most frequent pair first
    wrong = set(gold.join(pred, on="doc_id").filter(pl.col("label") != pl.col("label_right"))["doc_id"])
    assert set(s1["doc_id"].to_list()) <= wrong


def test_error_sample_multilabel():
    gold = pl.DataFrame({"doc_id": ["1", "1", "2"], "label": ["x", "y", "x"]})
    pred = pl.DataFrame({"doc_id": ["1", "2", "2"], "label": ["x", "x", "z"]})
    s = error_sample(gold, pred)
    assert sorted(s.select("gold", "pred", "doc_id").rows()) == [("y", "missed", "1"), ("z", "spurious", "2")]


def test_bias_stage_drops_a_table_it_has_no_data_for(tmp_path):
    """Rotated codings give positional.csv; rerun with one label order, the old table is not left behind."""
    from llmcoder.stages import bias_checks, evaluate_coder

    codings, orders = _rotated_codings(0.3, n_docs=40)
    truth = codings.filter(pl.col("rotation") == 1, pl.col("chosen")).select("doc_id", pl.col("label"))
    pl.DataFrame({"doc_id": truth["doc_id"], "text": "t", "label": truth["label"]}).write_parquet(
        tmp_path / "corpus.parquet")
    pl.DataFrame({"doc_id": truth["doc_id"], "split": "test"}).write_parquet(tmp_path / "splits.parquet")
    (tmp_path / "cb.yaml").write_text("labels: [a, b, c, d]\n")
    order_rows = [(r, i, lab) for r, o in orders.items() for i, lab in enumerate(o)]
    pl.DataFrame(order_rows, schema=["rotation", "position", "label"], orient="row").with_columns(
        pl.lit("llm").alias("coder_id")).write_parquet(tmp_path / "llm_orders.parquet")
    files = [tmp_path / f for f in ("corpus.parquet", "splits.parquet", "cb.yaml")]
    llm = {"llm": tmp_path / "llm.parquet"}

    def run() -> dict:
        evaluate_coder(llm["llm"], *files, tmp_path / "evaluation" / "llm", system="llm", n_boot=0, seed=0)
        return bias_checks(llm, llm, *files, tmp_path / "bias", evaluations={"llm": tmp_path / "evaluation" / "llm"},
                           orders={"llm": tmp_path / "llm_orders.parquet"}, strata=[], n_boot=0, seed=0)

    codings.write_parquet(tmp_path / "llm.parquet")
    written = run()
    assert "positional" in written and (tmp_path / "bias" / "positional.csv").is_file()
    codings.filter(pl.col("rotation") == 0).write_parquet(tmp_path / "llm.parquet")
    written = run()
    assert "positional" not in written and not (tmp_path / "bias" / "positional.csv").exists()
    assert (tmp_path / "bias" / "recall_asymmetry.csv").is_file()


def test_bias_stage_scores_routed_test_documents_apart(tmp_path):
    """routing.csv: accuracy on the routed test documents and on the rest, recomputed by hand."""
    from llmcoder.stages import bias_checks, evaluate_finetuned

    labels = ["a", "b"]
    ids = [f"d{i}" for i in range(20)]
    truth = ["a", "b"] * 10
    # the model is wrong on d0..d5; d0..d3 and d10 are routed (plus a training document, not in test)
    chosen = [("b" if t == "a" else "a") if i < 6 else t for i, t in enumerate(truth)]
    rows = [(d, lab, lab == c) for d, c in zip(ids, chosen, strict=True) for lab in labels]
    preds = pl.DataFrame(rows, schema=["doc_id", "label", "chosen"], orient="row").with_columns(
        pl.when(pl.col("chosen")).then(0.8).otherwise(0.2).alias("prob"))
    preds.write_parquet(tmp_path / "m.parquet")
    pl.DataFrame({"doc_id": ids, "text": "t", "label": truth}).write_parquet(tmp_path / "corpus.parquet")
    pl.DataFrame({"doc_id": ids, "split": ["train"] + ["test"] * 19}).write_parquet(tmp_path / "splits.parquet")
    (tmp_path / "cb.yaml").write_text("labels: [a, b]\n")
    pl.DataFrame({"doc_id": ["d0", "d1", "d2", "d3", "d10"], "label": "a"}).write_csv(tmp_path / "m_routed.csv")
    files = [tmp_path / f for f in ("corpus.parquet", "splits.parquet", "cb.yaml")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # d0, a training document, is not in the test split's gold
        evaluate_finetuned(tmp_path / "m.parquet", *files, tmp_path / "evaluation" / "m", system="m", n_boot=0, seed=0)
    bias_checks({}, {"m": tmp_path / "m.parquet"}, *files, tmp_path / "bias",
                evaluations={"m": tmp_path / "evaluation" / "m"}, orders={}, strata=[], n_boot=200, seed=0,
                routed={"m": (tmp_path / "m.parquet", tmp_path / "m_routed.csv")})
    t = pl.read_csv(tmp_path / "bias" / "routing.csv").filter(pl.col("metric") == "accuracy")
    got = {r["routing"]: r for r in t.iter_rows(named=True)}
    assert got["routed"]["n"] == 4 and got["routed"]["estimate"] == pytest.approx(1 / 4)  # d1..d3 wrong, d10 right
    assert got["not routed"]["n"] == 15 and got["not routed"]["estimate"] == pytest.approx(13 / 15)  # d4, d5 wrong
    assert got["routed"]["overall"] == pytest.approx(14 / 19)
    assert got["not routed"]["ci_low"] <= 13 / 15 <= got["not routed"]["ci_high"]
