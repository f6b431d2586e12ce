"""The human ceiling of a verification: the people's own labels on shared documents, and their agreement."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from llmcoder.verify.measures import human_labels, verifier_ceiling

#: The decision log of a small real run (simulated verifiers anna and ben, 20% overlap).
DECISIONS = Path(__file__).resolve().parents[1] / "R/tests/testthat/fixtures/results-mini/verify/ingest/decisions.parquet"


def test_own_labels_are_the_kept_or_supplied_label() -> None:
    first = pl.DataFrame({
        "doc_id": ["a", "a", "b", "b", "c", "c", "d"], "coder": ["p"] * 7,
        "label": ["x", "y", "x", "z", "x", "y", "w"],
        "decision": ["keep", "reject", "reject", "supplied", "keep", "keep", "reject"]})
    own = human_labels(first)
    # a: kept x; b: supplied z; c: kept two (no single label); d: rejected all, supplied none
    assert own.rows() == [("a", "p", "x"), ("b", "p", "z")]


def test_ceiling_kappa_equals_scikit_learn_on_the_real_run() -> None:
    d = pl.read_parquet(DECISIONS)
    first = d.filter(pl.col("round") == "verify") if "verify" in d["round"].unique().to_list() else d
    table, note = verifier_ceiling(first, task="single")
    assert note is None
    own = human_labels(first)
    wide = own.pivot(on="coder", index="doc_id", values="label").drop_nulls()
    assert wide.height >= 10  # documents both people labelled
    a, b = wide.columns[1:]
    kappa = table.row(by_predicate=pl.col("coefficient") == "cohen_kappa", named=True)
    assert kappa["estimate"] == pytest.approx(cohen_kappa_score(wide[a], wide[b]), abs=1e-12)
    assert kappa["n_units"] == wide.height
    agree = table.row(by_predicate=pl.col("coefficient") == "percent_agreement", named=True)
    assert agree["estimate"] == pytest.approx((wide[a] == wide[b]).mean(), abs=1e-12)
    assert {"pairwise_kappa_min", "pairwise_kappa_max"} <= set(table["coefficient"])


def test_no_ceiling_for_multi_label_or_without_overlap() -> None:
    first = pl.DataFrame({"doc_id": ["a"], "coder": ["p"], "label": ["x"], "decision": ["keep"]})
    assert verifier_ceiling(first, task="multi")[1].startswith("not computed")
    table, note = verifier_ceiling(first, task="single")
    assert table.height == 0 and "fewer than two documents" in note
