"""Benchmark: long documents truncated or read in overlapping windows, on whole manifesto passages.

The data: the sentences of the nine UK 2010 manifestos in ``../shared/data/benoit_crowd_immigration``
(Benoit et al. 2016; the crowd's majority per sentence), joined in reading order into passages of
``--sentences`` consecutive sentences of one manifesto (about 750 tokens). The task is multi-label:
does the passage state a *closed* (restrictive) immigration policy anywhere, an *open* one, both or
neither (a sentence's label is its majority stance when the crowd coded it as immigration policy; a
passage holds the union of its sentences' labels). The signal can sit anywhere in the passage, which
is what truncation loses. Passages are split in half at random (seed 1); the encoder is trained on
the sentences of the first half only (every sentence with a stance and a seeded sample of the others;
a fifth held out as dev for its thresholds), and every system is scored on the second half.

Systems, each with ``long_docs: truncate`` and ``long_docs: chunk`` (max, mean, first window):

- the fine-tuned encoder (all-MiniLM-L6-v2, trained on sentences, multi-label);
- the LLM coder Gemma 3 270M (config/coders/gemma3.yaml, zero-shot, yes/no per label,
  ``max_doc_tokens`` 128), on a seeded sample of ``--llm-passages`` test passages (CPU time).

Scores (micro- and macro-F1, Jaccard per passage, Hamming loss, 95% bootstrap CIs) come from
:func:`llmcoder.metrics.evaluate`, the evaluation's own scorer.

    TZ=UTC .venv/bin/python benchmarks/bench_long_docs.py [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "benoit_crowd_immigration" / "items.csv"
LABELS = ["closed", "open"]


def passages(n_sentences: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sentences (``doc_id, text, labels, passage``) and the passages (``doc_id, text, labels``)."""
    items = pl.read_csv(DATA, infer_schema=False).filter((pl.col("is_gold") == "false")
                                                        & (pl.col("manifesto") != "screener"))
    items = items.with_columns(pl.col("id").cast(pl.Int64)).sort("manifesto", "id")
    items = items.with_columns(
        (pl.col("manifesto") + "#" + (pl.int_range(pl.len()).over("manifesto") // n_sentences).cast(pl.Utf8))
        .alias("passage"),
        pl.when((pl.col("label") == "immigration") & pl.col("stance_majority").is_in(LABELS))
        .then(pl.concat_list(pl.col("stance_majority"))).otherwise(pl.lit([], dtype=pl.List(pl.Utf8)))
        .alias("labels"))
    sents = items.select(pl.col("id").cast(pl.Utf8).alias("doc_id"), "text", "labels", "passage")
    docs = (sents.group_by("passage", maintain_order=True)
            .agg(pl.col("text").str.join(" "),
                 pl.col("labels").list.explode(keep_nulls=False, empty_as_null=False).unique().sort(),
                 pl.len().alias("n"))
            .filter(pl.col("n") == n_sentences)
            .select(pl.col("passage").alias("doc_id"), "text",
                    pl.col("labels").list.drop_nulls()))
    return sents, docs


def long_table(ids: list[str], sets: list[list[str]]) -> pl.DataFrame:
    """``doc_id, label`` with one row per label and a null label for an empty set (evaluate's format)."""
    rows = [(d, lab) for d, s in zip(ids, sets, strict=True) for lab in (s or [None])]
    return pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "label": pl.Utf8}, orient="row")


def score(gold: pl.DataFrame, chosen: np.ndarray, ids: list[str]) -> dict[str, tuple[float, float, float]]:
    import warnings

    from llmcoder.metrics import evaluate

    g = gold.filter(pl.col("doc_id").is_in(ids))
    gold_long = long_table(g["doc_id"].to_list(), g["labels"].to_list())
    pred_long = long_table(ids, [[LABELS[k] for k in np.flatnonzero(row)] for row in chosen])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty sets on both sides count as agreement (documented)
        res = evaluate(gold_long, pred_long, labels=LABELS, task="multi", n_boot=1000, random_state=0)
    return {m: (res["metrics"][m], *res["ci"][m]) for m in ("micro_f1", "macro_f1", "jaccard_samples",
                                                              "hamming_loss")}


def encoder_rows(sents: pl.DataFrame, test: pl.DataFrame, train_passages: list[str], work: Path,
                 n_other: int) -> list[dict]:
    """MiniLM trained on the training passages' sentences, then predicting the test passages six ways."""
    from llmcoder.finetune import load_predictor, train
    from llmcoder.finetune.common import choose

    tr = sents.filter(pl.col("passage").is_in(train_passages))
    pool = pl.concat([tr.filter(pl.col("labels").list.len() > 0),
                      tr.filter(pl.col("labels").list.len() == 0).sample(n_other, seed=1)]).drop("passage")
    pool = pool.sample(fraction=1.0, shuffle=True, seed=2)
    n_dev = pool.height // 5
    dev_df, train_df = pool.head(n_dev), pool.tail(pool.height - n_dev)
    t0 = time.perf_counter()
    art = train({"kind": "encoder", "model": "minilm", "epochs": 4, "max_length": 64, "batch_size": 16,
                 "class_weights": True, "learning_rate": 1e-4, "seed": 1, "num_threads": 2, "patience": 2},
                train_df, dev_df, work / "minilm", labels=LABELS)
    train_s = time.perf_counter() - t0
    rows = []
    ids, texts = test["doc_id"].to_list(), test["text"].to_list()
    pred = load_predictor(art, device="cpu")
    tok = pred.tokenizer
    n_tok = [len(x) for x in tok(texts, add_special_tokens=False, truncation=True, max_length=100_000)["input_ids"]]
    variants = [("truncate", 128, "-"), ("truncate", 512, "-"), ("chunk", 128, "first"), ("chunk", 128, "mean"),
                ("chunk", 128, "max"), ("chunk", 512, "max")]
    for long_docs, length, how in variants:
        pred.max_length = length
        pred.long_docs = {"long_docs": long_docs, "chunk_overlap": 16,
                          "chunk_aggregate": how if how != "-" else "mean"}
        t0 = time.perf_counter()
        p = pred.predict_proba(texts, batch_size=32)
        sec = time.perf_counter() - t0
        n_win = (len(tok(texts, truncation=True, max_length=length, stride=16, return_overflowing_tokens=True)
                     ["input_ids"]) if long_docs == "chunk" else len(texts))
        rows.append({"system": f"MiniLM fine-tuned on {train_df.height:,} sentences ({train_s / 60:.1f} min)",
                     "long_docs": long_docs, "tokens": length, "aggregate": how, "windows": n_win,
                     "seconds": sec, "n": len(ids), "scores": score(test, choose(p, "multi", pred.thresholds), ids),
                     "mean_tokens": float(np.mean(n_tok))})
    return rows


def llm_rows(test: pl.DataFrame, work: Path) -> list[dict]:
    """Gemma 3 270M zero-shot (yes/no per label), max_doc_tokens 128: truncated, and chunked (max, mean)."""
    import json

    import yaml

    from llmcoder.codebook import codebook_from_dict
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.run import code_corpus

    cb = codebook_from_dict({"name": "Immigration stance in manifestos", "task": "multi",
                             "instructions": "Which immigration policies does this passage of a party manifesto "
                                             "state anywhere in it?",
                             "labels": [{"id": "closed", "name": "Restrictive immigration policy",
                                         "definition": "fewer migrants, tighter borders, stricter asylum"},
                                        {"id": "open", "name": "Open immigration policy",
                                         "definition": "more or easier immigration, migrants' rights"}]})
    base = yaml.safe_load((ROOT / "config" / "coders" / "gemma3.yaml").read_text())
    rows = []
    ids = test["doc_id"].to_list()
    for long_docs, how in (("truncate", "-"), ("chunk", "mean"), ("chunk", "max")):
        extra = {} if long_docs == "truncate" else {"long_docs": "chunk", "chunk_overlap": 16,
                                                      "chunk_aggregate": how}
        cfg = CoderConfig.from_dict({**base, **extra, "threads": 2})
        out = work / f"gemma3-{long_docs}-{how}.parquet"
        t0 = time.perf_counter()
        res = code_corpus(test.select("doc_id", "text"), cb, cfg, out, progress=False)
        sec = time.perf_counter() - t0
        wide = res.pivot(on="label", index="doc_id", values="chosen")
        wide = pl.DataFrame({"doc_id": ids}).join(wide, on="doc_id", how="left")
        tr = json.loads(out.with_suffix(".json").read_text())["truncation"]
        rows.append({"system": "Gemma 3 270M zero-shot (config/coders/gemma3.yaml)", "long_docs": long_docs,
                     "tokens": 128, "aggregate": how, "windows": tr.get("n_windows", len(ids)), "seconds": sec,
                     "n": len(ids), "scores": score(test, wide.select(LABELS).to_numpy(), ids),
                     "mean_tokens": float(tr["longest_doc_tokens"])})
    return rows


def fmt(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=30)
    ap.add_argument("--n-other", type=int, default=1500, help="sentences without a stance sampled for training")
    ap.add_argument("--llm-passages", type=int, default=40)
    ap.add_argument("--no-llm", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not DATA.is_file():
        sys.exit(f"skipped: {DATA} is absent (the shared data sets sit beside the checkout)")
    import torch

    sents, docs = passages(args.sentences)
    shuffled = docs.sample(fraction=1.0, shuffle=True, seed=1)
    half = shuffled.height // 2
    train_p, test = shuffled.head(half)["doc_id"].to_list(), shuffled.tail(shuffled.height - half)
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = encoder_rows(sents, test, train_p, Path(tmp), args.n_other)
        some = test.filter(pl.col("labels").list.len() > 0)
        k = min(args.llm_passages // 2, some.height)  # balanced: passages with a stance are few
        llm_test = pl.concat([some.sample(k, seed=1), test.filter(pl.col("labels").list.len() == 0).sample(k, seed=1)])
        if not args.no_llm:
            rows += llm_rows(llm_test, Path(tmp))
    counts = {lab: int(test["labels"].list.contains(lab).sum()) for lab in LABELS}
    from importlib.metadata import version

    start, end = markers("bench_long_docs")
    lines = [start, "## Long documents: truncation against overlapping windows (`benchmarks/bench_long_docs.py`)", "",
             f"{cpu_name(cores=True)}; torch {torch.__version__}, transformers {version('transformers')}, "
             f"llmcoder {version('llmcoder')}; {started:%Y-%m-%d}; load average at the start {load:.1f} (other "
             "work ran beside it: the seconds are indicative, the windows are the cost).", "",
             f"Data: the {sents.height:,} non-gold sentences of the nine UK 2010 manifestos (Benoit et al. 2016, "
             f"crowd majority) joined in reading order into {docs.height} passages of {args.sentences} sentences "
             f"(mean {rows[0]['mean_tokens']:.0f} MiniLM tokens). Multi-label: a passage states a `closed` "
             "(restrictive) and/or an `open` immigration policy when any of its sentences does (the crowd's "
             "majority stance of a sentence coded as immigration policy). Half the passages (seed 1) give the "
             f"encoder's training sentences; the other {test.height} are the test set ({counts['closed']} with "
             f"`closed`, {counts['open']} with `open`). The LLM coder is scored on {llm_test.height} of them "
             f"({k} with a stance, {k} without; seed 1). Windows overlap by 16 tokens; the encoder's per-label "
             "thresholds were tuned on its dev sentences. 95% bootstrap CIs (1,000 resamples over passages).", "",
             "| system | long_docs | tokens read at once | aggregate | windows | test passages | micro-F1 | "
             "macro-F1 | Jaccard per passage (no label on either side: 0) | Hamming loss | seconds |",
             "|:--|:--|--:|:--|--:|--:|:--|:--|:--|:--|--:|"]
    for r in rows:
        s = r["scores"]
        lines.append(f"| {r['system']} | {r['long_docs']} | {r['tokens']} | {r['aggregate']} | {r['windows']:,} | "
                     f"{r['n']} | {fmt(s['micro_f1'])} | {fmt(s['macro_f1'])} | {fmt(s['jaccard_samples'])} | "
                     f"{fmt(s['hamming_loss'])} | {r['seconds']:.0f} |")
    lines += ["", "Command: `TZ=UTC .venv/bin/python benchmarks/bench_long_docs.py`", end]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, start, end)


if __name__ == "__main__":
    main()
