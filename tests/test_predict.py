"""Prediction at scale: chunked long-format output, resume from the journal, routing, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import tiny_bert
from llmcoder.errors import InputError
from llmcoder.finetune import load_predictor, train
from llmcoder.finetune.synthetic import synthetic_corpus, write_synthetic_corpus
from llmcoder.predict import predict, route_uncertain


@pytest.fixture(scope="module")
def tfidf_art(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("art") / "tfidf"
    return train({"kind": "tfidf"}, synthetic_corpus(60, seed=0), synthetic_corpus(15, seed=1), out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_corpus(tmp_path_factory.mktemp("c") / "corpus.parquet", 250, seed=9,
                                  rows_per_write=100)


def test_predict_long_format_in_chunks(tmp_path: Path, tfidf_art: Path, corpus: Path) -> None:
    out = predict(tfidf_art, corpus, tmp_path / "pred.parquet", chunk_rows=60, batch_size=16,
                  progress=False)
    pred = pl.read_parquet(out)
    assert pred.columns == ["doc_id", "label", "prob", "chosen"]
    assert pred.height == 250 * 3 and pred["doc_id"].n_unique() == 250
    per_doc = pred.group_by("doc_id").agg(pl.col("prob").sum(), pl.col("chosen").sum())
    assert np.allclose(per_doc["prob"], 1, atol=1e-5) and (per_doc["chosen"] == 1).all()
    # the same as predicting in one go, in corpus order
    texts = pl.read_parquet(corpus)["text"].to_list()
    direct = load_predictor(tfidf_art).predict_proba(texts)
    assert np.allclose(pred["prob"].to_numpy().reshape(250, 3), direct, atol=1e-6)
    prov = json.loads((tmp_path / "pred.json").read_text())
    assert prov["stage"] == "predict" and prov["n_docs"] == 250 and prov["labels"] == ["education", "energy", "health"]
    assert not (tmp_path / "pred.parquet.journal").exists()
    assert not (tmp_path / "pred.parquet.parts").exists()


def test_predict_subset_of_ids(tmp_path: Path, tfidf_art: Path, corpus: Path) -> None:
    ids = pl.read_parquet(corpus)["doc_id"].to_list()[::10]
    pred = pl.read_parquet(predict(tfidf_art, corpus, tmp_path / "p.parquet", doc_ids=ids, chunk_rows=70,
                                   progress=False))
    assert sorted(pred["doc_id"].unique().to_list()) == sorted(ids)


class _Crash(Exception):
    pass


class _Flaky:
    """Wraps a predictor and fails after ``fail_after`` calls: a crash in the middle of a run."""

    def __init__(self, inner, fail_after: int) -> None:
        self.inner, self.left, self.calls = inner, fail_after, 0
        self.labels, self.task, self.thresholds = inner.labels, inner.task, inner.thresholds

    def lengths(self, texts):
        return self.inner.lengths(texts)

    def predict_proba(self, texts, *, batch_size=64):
        self.calls += 1
        if self.left is not None:
            self.left -= 1
            if self.left < 0:
                raise _Crash
        return self.inner.predict_proba(texts, batch_size=batch_size)


def test_predict_resumes_from_journal(tmp_path: Path, tfidf_art: Path, corpus: Path) -> None:
    out = tmp_path / "r.parquet"
    inner = load_predictor(tfidf_art)
    with pytest.raises(_Crash):
        predict(tfidf_art, corpus, out, chunk_rows=50, predictor=_Flaky(inner, 2), progress=False)
    assert not out.exists()
    journal = [json.loads(x) for x in (tmp_path / "r.parquet.journal").read_text().splitlines()]
    assert [j["chunk"] for j in journal] == [0, 1]
    again = _Flaky(inner, None)
    predict(tfidf_art, corpus, out, chunk_rows=50, predictor=again, progress=False)
    assert again.calls == 3  # chunks 2, 3, 4 only
    assert json.loads((tmp_path / "r.json").read_text())["n_docs"] == 250
    full = predict(tfidf_art, corpus, tmp_path / "full.parquet", chunk_rows=50, progress=False)
    assert pl.read_parquet(out).equals(pl.read_parquet(full))


def test_predict_journal_of_another_run_is_ignored(tmp_path: Path, tfidf_art: Path, corpus: Path) -> None:
    out = tmp_path / "x.parquet"
    (tmp_path / "x.parquet.journal").write_text('{"chunk": 0, "rows": 50, "fingerprint": "other"}\n')
    predict(tfidf_art, corpus, out, chunk_rows=50, progress=False)
    assert pl.read_parquet(out)["doc_id"].n_unique() == 250


def test_predict_errors(tmp_path: Path, tfidf_art: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        predict(tfidf_art, tmp_path / "none.parquet", tmp_path / "o.parquet")
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"id": ["a"], "body": ["x"]}).write_parquet(bad)
    with pytest.raises(InputError, match="doc_id"):
        predict(tfidf_art, bad, tmp_path / "o.parquet")


def _long(probs: dict[str, list[float]], labels=("a", "b", "c")) -> pl.DataFrame:
    rows = []
    for d, ps in probs.items():
        best = int(np.argmax(ps))
        rows += [{"doc_id": d, "label": lab, "prob": p, "chosen": i == best}
                 for i, (lab, p) in enumerate(zip(labels, ps, strict=True))]
    return pl.DataFrame(rows)


def test_route_uncertain_share_threshold_margin() -> None:
    pred = _long({"d1": [0.9, 0.05, 0.05], "d2": [0.4, 0.35, 0.25], "d3": [0.5, 0.42, 0.08],
                  "d4": [0.6, 0.2, 0.2]})
    r = route_uncertain(pred, share=0.5)
    assert r["doc_id"].to_list() == ["d2", "d3"] and r["label"].to_list() == ["a", "a"]
    assert r.columns == ["doc_id", "label", "confidence", "rank", "reason"]
    assert r["rank"].to_list() == [1, 2] and "max_prob" in r["reason"][0]
    m = route_uncertain(pred, share=0.25, by="margin")
    assert m["doc_id"].to_list() == ["d2"] and m["confidence"][0] == pytest.approx(0.05)
    t = route_uncertain(pred, threshold=0.55)
    assert t["doc_id"].to_list() == ["d2", "d3"] and "below 0.55" in t["reason"][0]
    assert route_uncertain(pred, share=0).height == 0
    with pytest.raises(InputError):
        route_uncertain(pred, share=1.5)


def test_route_multi_label_closest(tmp_path: Path) -> None:
    pred = pl.DataFrame({"doc_id": ["x", "x", "y", "y"], "label": ["a", "b", "a", "b"],
                         "prob": [0.95, 0.52, 0.9, 0.05], "chosen": [True, True, True, False]})
    pred.write_parquet(tmp_path / "p.parquet")
    r = route_uncertain(tmp_path / "p.parquet", share=0.5, by="closest")
    assert r["doc_id"].to_list() == ["x"] and r["label"][0] == "a|b"


def test_cli_predict_with_routing(tmp_path: Path, tfidf_art: Path, corpus: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.finetune import register

    app = typer.Typer()
    register(app)
    out = tmp_path / "preds.parquet"
    res = CliRunner().invoke(app, ["predict", str(tfidf_art), str(corpus), "--out", str(out),
                                   "--route-share", "0.1", "--chunk-rows", "100"])
    assert res.exit_code == 0, res.output
    review = pl.read_csv(tmp_path / "preds_review.csv")
    assert review.height == 25 and review.columns[:2] == ["doc_id", "label"]
    res = CliRunner().invoke(app, ["predict", str(tmp_path), str(corpus), "--out", str(out)])
    assert res.exit_code == 2 and "not a fine-tuned model" in res.output
    ids = pl.read_parquet(corpus)["doc_id"].to_list()
    pl.DataFrame({"doc_id": ids, "split": ["test" if i % 5 == 0 else "train" for i in range(len(ids))]}).write_parquet(
        tmp_path / "splits.parquet")
    res = CliRunner().invoke(app, ["predict", str(tfidf_art), str(corpus), "--out", str(tmp_path / "t.parquet"),
                                   "--splits", str(tmp_path / "splits.parquet"), "--split", "test"])
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(tmp_path / "t.parquet")["doc_id"].n_unique() == 50
    res = CliRunner().invoke(app, ["predict", str(tfidf_art), str(corpus), "--out", str(tmp_path / "u.parquet"),
                                   "--splits", str(tmp_path / "splits.parquet"), "--split", "dev"])
    assert res.exit_code == 2 and "no document in split 'dev'" in res.output


def test_predict_encoder_small(tmp_path: Path) -> None:
    """The encoder path end to end on a tiny randomly initialised BERT (fast; no weights needed)."""
    pytest.importorskip("torch")
    base = tiny_bert(tmp_path / "tiny-bert")
    art = train({"kind": "encoder", "model": str(base), "epochs": 1, "max_length": 32, "batch_size": 16},
                synthetic_corpus(32, seed=0), synthetic_corpus(8, seed=1), tmp_path / "enc")
    bf = train({"kind": "encoder", "model": str(base), "epochs": 1, "max_length": 32, "precision": "bf16",
                "group_by_length": False}, synthetic_corpus(32, seed=0), None, tmp_path / "bf")
    assert json.loads((bf / "finetune.json").read_text())["config"]["precision"] == "bf16"
    c = write_synthetic_corpus(tmp_path / "c.parquet", 90, rows_per_write=90)
    pred = pl.read_parquet(predict(art, c, tmp_path / "p.parquet", chunk_rows=40, batch_size=7,
                                   progress=False))
    assert pred.height == 270
    direct = load_predictor(art, device="cpu").predict_proba(pl.read_parquet(c)["text"].to_list())
    assert np.allclose(pred["prob"].to_numpy().reshape(90, 3), direct, atol=1e-5)
    bf16 = pl.read_parquet(predict(art, c, tmp_path / "b.parquet", precision="bf16", progress=False))
    assert np.allclose(bf16["prob"].to_numpy(), pred["prob"].to_numpy(), atol=2e-2)
    with pytest.raises(InputError, match="precision"):
        load_predictor(art, precision="fp8")
