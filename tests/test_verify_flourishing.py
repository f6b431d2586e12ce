"""The Rethinking Scale paper's own verification (Human Flourishing tweets) through llmcoder's ingest."""

from __future__ import annotations

import polars as pl
import pytest

from conftest import shared_file
from llmcoder.verify import decisions_from_flourishing, proposals_from_flourishing, verify_flourishing
from llmcoder.verify.adapters import report_flourishing


@pytest.fixture(scope="module")
def paths():
    return (shared_file("rethinking_scale", "flourishing_llm_codings_verified.csv"),
            shared_file("rethinking_scale", "flourishing_tweets.csv"))


@pytest.fixture(scope="module")
def run(paths):
    return verify_flourishing(*paths)


def test_adapter_decision_log(paths):
    d = decisions_from_flourishing(paths[0])
    assert d.columns == ["doc_id", "coder", "label", "decision", "raw", "comment", "sheet", "row", "round"]
    assert d.height == 23324 and not d.select("doc_id", "coder", "label").is_duplicated().any()
    assert set(d["decision"]) == {"keep", "reject"} and set(d["coder"]) == {"1", "2", "3", "8", "9"}
    assert d["doc_id"].n_unique() == 2434 and d["row"].min() == 2
    assert (d["raw"] == "N/Y").sum() == 138  # a coder's repeated rows disagreeing with themselves
    first = d.row(0, named=True)  # CSV row 2: self-esteem, high, coder 3, N, LLAMA2
    assert (first["label"], first["coder"], first["decision"], first["row"]) == ("self-esteem:high", "3", "reject", 2)
    p = proposals_from_flourishing(paths[0])
    assert set(p["llm_coders"].explode()) == {"GPT4", "LLAMA2"}


def test_acceptance_reliability_and_published_sets(run):
    res, info = run
    assert info["llm_dimensions_not_in_codebook"] == [] and info["n_codebook_dimensions"] == 46
    acc = {r["llm_coder"]: r for r in res.acceptance.iter_rows(named=True)}
    assert (acc["GPT4"]["n_kept"], acc["GPT4"]["n_decisions"]) == (3564, 4602)
    assert (acc["LLAMA2"]["n_kept"], acc["LLAMA2"]["n_decisions"]) == (6138, 19177)
    assert acc["GPT4"]["ci_low"] == pytest.approx(0.762, abs=1e-3)
    assert res.summary["n_overlap_documents"] == 262
    assert res.summary["n_verified"] == 2285 and res.summary["n_adjudication_queue"] == 149
    assert set(res.verified["source"]) == {"human", "human-agreement"}
    cmp = info["comparison"]
    assert cmp["n_compared"] == 2285 and cmp["share_equal"] == pytest.approx(0.9917, abs=1e-4)
    assert cmp["mean_jaccard"] == pytest.approx(0.9989, abs=1e-4)
    rel = res.reliability.filter(pl.col("scope") == "all labels")
    if rel.is_empty():
        pytest.skip(f"reliability not computed: {res.summary.get('reliability_note')}")
    est = dict(rel.select("coefficient", "estimate").iter_rows())
    assert rel["n_units"][0] == 1237
    assert est["percent_agreement"] == pytest.approx(0.701, abs=1e-3)
    assert 0.35 < est["krippendorff_alpha"] < 0.45


def test_report_prints_the_numbers(paths, capsys):
    text = report_flourishing(*paths)
    print(text)
    assert "GPT4" in text and "overlap policy 'union': 2434 tweets verified" in text
