"""The infer step's two ways to a labelled sample in real workflow runs. labels_from: verification: the
sample is drawn before anyone labels it, its documents go onto the people's sheets beside the training
documents, and the infer step waits for every sampled document's verified label. crossfit: K: the
fine-tuning's own labelled documents are the sample, each predicted by a model trained without its fold."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import polars as pl
import pytest
from test_workflow_verify import STUDY, TOPICS, fake_coder_output, snakemake, write_topic_corpus


def fill(blank, filled, gold: dict[str, str], names: dict[str, str], *, right: bool) -> None:
    """A person: rejects every proposed label but the gold one; where gold was not proposed, writes it as the
    right label (``right``) or leaves the document for the adjudicator; signs the sheet finished."""
    wb = openpyxl.load_workbook(blank)
    wb["finished"]["B3"], wb["finished"]["B4"] = f"{filled.stem} (test)", "2026-12-08"
    ws = wb["verify"]
    header = [c.value for c in ws[1]]
    doc_col, lab_col, dec_col, right_col = (header.index(k) + 1 for k in ("doc_id", "label", "decision",
                                                                           "right_label"))
    proposed: dict[str, list[int]] = {}
    for row in range(2, ws.max_row + 1):
        doc = ws.cell(row, doc_col).value
        if doc is not None:
            proposed.setdefault(doc, []).append(row)
    for doc, rows in proposed.items():
        for row in rows:
            if ws.cell(row, lab_col).value != gold[doc]:
                ws.cell(row, dec_col).value = "x"
        if right and all(ws.cell(row, lab_col).value != gold[doc] for row in rows):
            ws.cell(rows[0], right_col).value = names[gold[doc]]
    filled.parent.mkdir(parents=True, exist_ok=True)
    wb.save(filled)


@pytest.mark.slow
def test_the_inference_sample_is_verified_on_the_sheets_and_estimated_from_the_verified_labels(tmp_path,
                                                                                                codebook_path):
    write_topic_corpus(tmp_path / "corpus.csv")
    (tmp_path / "fake.yaml").write_text("name: fake\nmodel: smollm2-135m\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(f"""
studies:
  {STUDY}:
    corpus: {{path: corpus.csv, label: label}}
    codebook: codebook.yaml
    split: {{train: 0.6, dev: 0.2, test: 0.2, sizes: [1.0]}}
    coders: [fake.yaml]
    verify: {{mode: human, humans: [ann], overlap: 0, splits: [train]}}
    evaluate: {{n_boot: 50}}
    inference: {{enabled: true, labels_from: verification, design: uncertainty, n: 40, seed: 3}}
    report: {{enabled: false}}
""", encoding="utf-8")
    snakemake(tmp_path, f"results/{STUDY}/corpus.parquet", f"results/{STUDY}/splits.parquet")
    fake_coder_output(tmp_path)
    res = tmp_path / "results" / STUDY
    # the coder is surer of some documents than of others (its chosen label 0.4 to 0.95), so the design's
    # inclusion probabilities differ
    codings = res / "coders" / "fake.parquet"
    c = pl.read_parquet(codings)
    sure = pl.col("doc_id").str.slice(1).cast(pl.Int64).mod(12).cast(pl.Float64) * 0.05 + 0.4
    c.with_columns(pl.when(pl.col("chosen")).then(sure).otherwise((1 - sure) / 2).alias("prob")).write_parquet(
        codings)

    # 1. The sample is drawn (weighted by the coder's uncertainty, known probabilities) before the sheets,
    #    and its documents outside the training split are on the sheet too.
    snakemake(tmp_path)
    design = pl.read_parquet(res / "infer_sample" / "sample.parquet")
    assert design.height == 120 and 0 < design["pi"].min() < design["pi"].max() <= 1
    sampled = set(design.filter(pl.col("labelled"))["doc_id"].to_list())
    splits = dict(pl.read_parquet(res / "splits.parquet").select("doc_id", "split").iter_rows())
    assert {splits[d] for d in sampled} > {"train"}  # dev and test documents were drawn too
    wb = openpyxl.load_workbook(res / "verify" / "sheets" / "ann.xlsx")
    ws = wb["verify"]
    doc_col = [c.value for c in ws[1]].index("doc_id")
    on_sheet = {r[doc_col] for r in ws.iter_rows(min_row=2, values_only=True) if r[doc_col] is not None}
    assert sampled <= on_sheet
    assert on_sheet == sampled | {d for d, s in splits.items() if s == "train"}
    man = json.loads((res / "verify" / "sheets" / "manifest.json").read_text())
    assert man["settings"]["inference_sample"]["n_documents"] == len(sampled)
    assert not (res / "inference").exists()

    # 2. The person leaves the documents whose gold label no LLM proposed to the adjudicator: the infer step
    #    refuses to estimate while sampled documents have no verified label, and says which and what to do.
    gold = dict(pl.read_csv(tmp_path / "corpus.csv").select("id", "label").iter_rows())
    from llmcoder.codebook import load_codebook

    names = load_codebook(codebook_path).names
    fill(res / "verify" / "sheets" / "ann.xlsx", res / "verify" / "filled" / "ann.xlsx", gold, names, right=False)
    waiting = snakemake(tmp_path, check=False)
    said = waiting.stdout + waiting.stderr
    queue = pl.read_csv(res / "verify" / "ingest" / "adjudication_queue.csv")
    assert queue.height > 0 and set(queue["doc_id"]) & sampled
    assert waiting.returncode != 0 and not (res / "inference").exists()
    log = (tmp_path / "logs" / STUDY / "infer.log").read_text()
    assert "of the labelled sample have no verified label" in log and "adjudicat" in log
    assert "Traceback" not in said + log

    # 3. With every sampled document verified, the estimates are the people's: the classical share is the
    #    verified labels' inverse-probability-weighted (Hajek) mean, and the sample file holds those labels.
    fill(res / "verify" / "sheets" / "ann.xlsx", res / "verify" / "filled" / "ann.xlsx", gold, names, right=True)
    snakemake(tmp_path)
    rec = json.loads((res / "inference" / "summary.json").read_text())
    assert rec["labels_from"] == "verification" and rec["design"] == "uncertainty" and rec["simulated"] is False
    sample = pl.read_parquet(res / "inference" / "sample.parquet")
    drawn = sample.filter(pl.col("labelled"))
    assert set(drawn["doc_id"]) == sampled
    assert all(gold[d] == lab for d, lab in drawn.select("doc_id", "label").iter_rows())
    est = pl.read_parquet(res / "inference" / "estimates.parquet")
    for lab in TOPICS:
        y = (drawn["label"] == lab).cast(float).to_numpy()
        w = 1 / drawn["pi"].to_numpy()
        want = float(np.sum(w * y) / np.sum(w))
        got = est.filter((pl.col("label") == lab) & (pl.col("stratum") == "") & (pl.col("method") == "classical")
                         & (pl.col("estimand") == "prevalence"))["estimate"].item()
        assert got == pytest.approx(want, rel=1e-9)
    from llmcoder.results import validate_results

    assert validate_results(res) == {}
    # the training labels stay the training split's: no sampled test document is a fine-tuning label
    verified = pl.read_parquet(res / "verify" / "ingest" / "verified.parquet")
    assert set(verified["doc_id"]) == on_sheet


@pytest.mark.slow
def test_crossfit_reuses_the_training_labels_with_out_of_fold_predictions(tmp_path, codebook_path):
    write_topic_corpus(tmp_path / "corpus.csv", party=True)
    (tmp_path / "tfidf.yaml").write_text("kind: tfidf\nname: tfidf\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(f"""
studies:
  {STUDY}:
    corpus: {{path: corpus.csv, label: label, strata: [party]}}
    codebook: codebook.yaml
    split: {{train: 0.5, dev: 0.1, test: 0.4, sizes: [1.0]}}
    finetune: {{models: [tfidf.yaml], seeds: [1], train_on: gold}}
    predict: {{model: tfidf}}
    evaluate: {{n_boot: 50}}
    inference: {{enabled: true, crossfit: 4, formulas: ['label == "health" ~ party']}}
    report: {{enabled: false}}
""", encoding="utf-8")
    snakemake(tmp_path)
    res = tmp_path / "results" / STUDY
    rec = json.loads((res / "inference" / "summary.json").read_text())
    assert rec["crossfit"] == 4 and rec["design"] == "crossfit" and rec["population"] == "corpus"
    splits = pl.read_parquet(res / "splits.parquet")
    fit = set(splits.filter(pl.col("split").is_in(["train", "dev"]))["doc_id"])
    sample = pl.read_parquet(res / "inference" / "sample.parquet")
    assert set(sample.filter(pl.col("labelled"))["doc_id"]) == fit and sample.height == 120
    fold_rec = json.loads((res / "crossfit" / "tfidf" / "summary.json").read_text())
    assert fold_rec["folds"] == 4 and fold_rec["n_labelled"] == len(fit)
    est = pl.read_parquet(res / "inference" / "estimates.parquet")
    ppi = est.filter((pl.col("method") == "ppi") & (pl.col("estimand") == "prevalence") & (pl.col("stratum") == ""))
    assert ppi["lambda"].to_list() == [1.0] * 3
    from llmcoder.results import validate_results

    assert validate_results(res) == {}
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(tmp_path, dry=True))
