"""The fine-tuning job of a workflow rule: train on a nested subset of the training split, predict and
score the test split, write the learning-curve record.

Glue between :mod:`llmcoder.finetune` (the models), :mod:`llmcoder.predict` (coding a corpus) and
:mod:`llmcoder.metrics`: the Snakemake rule of a (model, size, seed) cell and ``llmcoder finetune`` call
:func:`train_and_predict`; its ``metrics.json`` records are gathered by
:func:`llmcoder.finetune.curves.learning_curve`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError
from llmcoder.finetune import load_predictor, train
from llmcoder.finetune.common import codebook_of, read_meta
from llmcoder.finetune.config import FinetuneConfig, load_config
from llmcoder.io import provenance, write_json

MODEL_SUBDIR = "model"
TEST_PREDICTIONS = "predictions_test.parquet"
METRICS_FILE = "metrics.json"
#: What a job folder holds; it is replaced as a whole.
JOB_FILES = (MODEL_SUBDIR, TEST_PREDICTIONS, "predictions_test.json", METRICS_FILE)


def _size_column(splits: pl.DataFrame, size: float) -> str | None:
    """The ``in_size_<pct>`` column of ``size`` (None for 1.0 when the table has no such column)."""
    from llmcoder.splits import size_column

    name = size_column(size)
    if name in splits.columns:
        return name
    if size >= 1.0:
        return None
    have = [c for c in splits.columns if c.startswith("in_size_")]
    raise InputError("splits", f"no column '{name}' for training size {size:g}",
                     fix=f"the splits table has {', '.join(have) or 'no size columns'}; "
                         "add the size to split.sizes in config.yaml")


def _read_parquet(path: str | os.PathLike[str], what: str) -> pl.DataFrame:
    """A Parquet input of the job, with a message naming it when it is missing or unreadable."""
    from llmcoder.io import read_parquet_input

    return read_parquet_input(path, what, fix="check the path")


def read_verified(path: str | os.PathLike[str], task: str) -> pl.DataFrame:
    """Verified labels as ``doc_id`` + ``label`` (single) or list ``labels`` (multi).

    Accepts Parquet or CSV with ``doc_id`` and ``label`` (long: one row per document and label for
    multi-label, a null label for a document verified to have none) or ``labels`` (a list, or a
    string joined by ``|``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "verified labels file not found", fix="check the --verified path")
    try:
        df = pl.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pl.read_csv(
            p, infer_schema_length=0)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(p), f"could not be read ({e})", fix="write it again as CSV or Parquet") from e
    if "doc_id" not in df.columns or not ({"label", "labels"} & set(df.columns)):
        raise InputError(str(p), f"need columns doc_id and label or labels (have {', '.join(df.columns)})",
                         fix="give the verified labels (verify/ingest/verified.parquet) or a doc_id, label table")
    df = df.with_columns(pl.col("doc_id").cast(pl.Utf8))
    if task == "single":
        if "label" not in df.columns:
            raise InputError(str(p), "a single-label task needs a 'label' column")
        dup = df.filter(pl.col("doc_id").is_duplicated())["doc_id"].unique().to_list()
        if dup:
            raise InputError(str(p), f"{len(dup)} document(s) verified more than once: {dup[:5]}",
                             fix="keep one verified label per document")
        return df.select("doc_id", pl.col("label").cast(pl.Utf8))
    if "labels" in df.columns:
        col = df["labels"]
        if not isinstance(col.dtype, pl.List):
            df = df.with_columns(pl.col("labels").fill_null("").str.split("|")
                                 .list.eval(pl.element().filter(pl.element() != "")))
        return df.select("doc_id", "labels")
    return df.group_by("doc_id", maintain_order=True).agg(
        labels=pl.col("label").cast(pl.Utf8).drop_nulls())


def load_job_data(corpus_path: str | os.PathLike[str], splits_path: str | os.PathLike[str],
                  verified_path: str | os.PathLike[str] | None, *, size: float,
                  task: str | None = None) -> dict[str, pl.DataFrame]:
    """Train (the nested subset of ``size``), dev and test frames with ``doc_id, text, label(s)``.

    Training and dev labels are the verified ones when ``verified_path`` is given (documents without
    a verified label are left out), else the corpus gold. Test labels are the corpus gold, falling
    back to verified labels when the corpus has none.
    """
    splits = _read_parquet(splits_path, "splits table")
    if not {"doc_id", "split"} <= set(splits.columns):
        raise InputError(str(splits_path), "a splits table needs doc_id and split columns",
                         fix="write it with `llmcoder split`")
    splits = splits.with_columns(pl.col("doc_id").cast(pl.Utf8))
    try:
        size_col = _size_column(splits, size)
    except InputError as e:
        raise InputError(str(splits_path), e.what, e.problems, e.fix) from None
    lf = pl.scan_parquet(corpus_path)
    try:
        cols = lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(corpus_path), f"not a readable Parquet file ({e})",
                         fix="give the canonical corpus written by `llmcoder prepare`") from e
    absent = [c for c in ("doc_id", "text") if c not in cols]
    if absent:
        raise InputError(str(corpus_path), f"column(s) {', '.join(absent)} missing (have: {', '.join(cols)})",
                         fix="give the canonical corpus written by `llmcoder prepare`")
    gold_col = "labels" if "labels" in cols else ("label" if "label" in cols else None)
    task = task or ("multi" if gold_col == "labels" else "single")
    want = ["doc_id", "text"] + ([gold_col] if gold_col else [])
    ids = splits.filter(pl.col("split").is_in(["train", "dev", "test"]))
    keep = ["doc_id", "split"] + ([size_col] if size_col else [])
    docs = (lf.select(want).with_columns(pl.col("doc_id").cast(pl.Utf8))
            .join(ids.select(keep).lazy(), on="doc_id", how="inner").collect())
    label_col = "label" if task == "single" else "labels"
    if verified_path is not None:
        ver = read_verified(verified_path, task).rename({label_col: "_verified"})
        docs = docs.join(ver, on="doc_id", how="left")
        fit = docs.filter(pl.col("split").is_in(["train", "dev"]) & pl.col("_verified").is_not_null())
        fit = fit.drop([c for c in (label_col,) if c in fit.columns]).rename({"_verified": label_col})
        test = docs.filter(pl.col("split") == "test")
        if gold_col is None:
            test = test.rename({"_verified": label_col})
        else:
            test = test.drop("_verified")
    else:
        if gold_col is None:
            raise InputError(str(corpus_path), "the corpus has no gold labels and no verified labels given",
                             fix="pass --verified with the verified labels")
        fit = docs.filter(pl.col("split").is_in(["train", "dev"]))
        test = docs.filter(pl.col("split") == "test")
    train_df = fit.filter(pl.col("split") == "train")
    if size_col:
        train_df = train_df.filter(pl.col(size_col))
    dev_df = fit.filter(pl.col("split") == "dev")
    sel = ["doc_id", "text", label_col]
    # Joins do not keep row order (polars joins in parallel): sorted by id, the same data give the same
    # batches, so a job reruns to the same model.
    return {"train": train_df.select(sel).sort("doc_id"), "dev": dev_df.select(sel).sort("doc_id"),
            "test": test.select([c for c in sel if c in test.columns]).sort("doc_id")}


def train_and_predict(
    config: FinetuneConfig | dict[str, Any] | str | os.PathLike[str],
    corpus_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    verified_path: str | os.PathLike[str] | None = None,
    *,
    size: float,
    seed: int,
    out_dir: str | os.PathLike[str],
    predict_batch_size: int = 64,
) -> dict[str, Any]:
    """Train on the ``size`` subset with ``seed``, predict the test split, score it.

    Writes into ``out_dir``: ``model/`` (the artifact), ``predictions_test.parquet`` (long
    ``doc_id, label, prob, chosen``) and ``metrics.json`` (the learning-curve record, returned).
    The inputs, the settings and the output folder are checked before any model loads; the folder is
    written all or nothing (a staged copy replaces it), so a failed job leaves the previous one whole.
    """
    from llmcoder.io import staged_dir
    from llmcoder.metrics import check_output_folder
    from llmcoder.predict import predict  # looked up per call: tests replace it to make a job fail

    check_job_settings(size, seed)
    for path, what, fix in ((corpus_path, "corpus Parquet", "run `llmcoder prepare` first"),
                            (splits_path, "splits Parquet", "run `llmcoder split` first")):
        if not Path(path).is_file():
            raise InputError(str(path), f"{what} not found", fix=fix)
    cfg = load_config(config).replace(seed=int(seed))
    out = check_output_folder(out_dir, JOB_FILES, what="fine-tuning job")
    cb = codebook_of(cfg.codebook)
    data = load_job_data(corpus_path, splits_path, verified_path, size=size,
                         task=cb.task if cb else None)
    labels = cb.ids if cb else _all_labels(data)
    check_output_folder(out, JOB_FILES, what="fine-tuning job", claim=True)
    with staged_dir(out) as stage:
        t0 = time.perf_counter()
        art = train(cfg, data["train"], data["dev"], stage / MODEL_SUBDIR, labels=labels)
        train_s = time.perf_counter() - t0
        meta = read_meta(art)
        predictor = load_predictor(art)
        test = data["test"]
        t1 = time.perf_counter()
        pred_path = predict(art, corpus_path, stage / TEST_PREDICTIONS, batch_size=predict_batch_size,
                            doc_ids=test["doc_id"].to_list(), predictor=predictor, progress=False,
                            artifact_name=str(Path(out_dir) / MODEL_SUBDIR))
        predict_s = time.perf_counter() - t1
        metrics: dict[str, Any] = {}
        label_col = "label" if meta.task == "single" else "labels"
        if label_col in test.columns:
            metrics = score_test_predictions(test, pl.read_parquet(pred_path), meta.labels, meta.task)
        record = {
            "model": cfg.name, "kind": cfg.kind, "size": float(size), "seed": int(seed),
            "n_train": data["train"].height, "n_dev": data["dev"].height, "n_test": metrics.get("n", 0),
            "task": meta.task, "train_seconds": round(train_s, 2), "predict_seconds": round(predict_s, 2),
            "metrics": {k: v for k, v in metrics.items() if k != "n"}, "dev_metrics": meta.dev_metrics,
            "verified": verified_path is not None, "settings": training_settings(cfg, meta.extra),
            "provenance": provenance(),
        }
        write_json(record, stage / METRICS_FILE)
    return record


def training_settings(cfg: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """What a methods section states about a job's training: the base model (its alias or name, not a local
    path), the optimiser's settings and how many epochs ran (kind-specific: TF-IDF features and C; LoRA rank)."""
    out: dict[str, Any] = {"base_model": str(cfg.model) if cfg.kind != "tfidf" else None}
    if cfg.kind == "tfidf":
        out.update({k: getattr(cfg.tfidf, k) for k in ("ngram_max", "min_df", "C", "sublinear_tf")})
    else:
        out.update(epochs=int(cfg.epochs), batch_size=int(cfg.batch_size), learning_rate=float(cfg.learning_rate),
                   weight_decay=float(cfg.weight_decay), warmup_ratio=float(cfg.warmup_ratio),
                   patience=int(cfg.patience), max_length=int(cfg.max_length))
        if cfg.long_docs == "chunk":  # longer texts read in windows (only said when it is so)
            out.update(long_docs="chunk", chunk_overlap=int(cfg.chunk_overlap), chunk_aggregate=cfg.chunk_aggregate)
        history = extra.get("history") or []
        out["epochs_trained"] = len(history) if history else None
        out["best_epoch"] = extra.get("best_epoch")
        if cfg.kind == "lora":
            out.update(lora_r=int(cfg.lora.r), lora_alpha=int(cfg.lora.alpha), qlora=bool(cfg.lora.qlora))
    out["class_weights"] = bool(cfg.class_weights)
    return out


def score_test_predictions(test: pl.DataFrame, predictions: pl.DataFrame, labels: Sequence[str],
                           task: str) -> dict[str, Any]:
    """The test metrics of a job, by :func:`llmcoder.metrics.evaluate` on the predictions' chosen labels:
    the same scorer and the same labels as the evaluate rule, so the learning curve's full-size row and
    ``evaluation/<model>/metrics.json`` give the same numbers."""
    from llmcoder.metrics import evaluate as score
    from llmcoder.stages import chosen_labels

    col = "label" if task == "single" else "labels"
    gold = test.filter(pl.col(col).is_not_null()).select("doc_id", col)
    if task == "single":
        gold = gold.rename({col: "label"})
    pred = chosen_labels(predictions.filter(pl.col("doc_id").is_in(gold["doc_id"].implode())))
    res = score(gold, pred, labels=list(labels), task=task, n_boot=0)  # type: ignore[arg-type]
    return {"n": res["n"], **res["metrics"]}


def check_job_settings(size: float, seed: int) -> None:
    """Check a job's training-size fraction and seed as a person typed them (``--size``, ``--seed``)."""
    if not 0 < size <= 1:
        hint = f" (did you mean {size / 100:g}?)" if 1 < size <= 100 else ""
        raise InputError("--size", f"{size:g} is not a training-size fraction between 0 and 1{hint}",
                         fix="give --size a fraction of the training split such as 0.25, or 1 for all of it")
    if seed < 0:
        raise InputError("--seed", f"{seed} is not a valid seed", fix="give --seed a whole number >= 0")


def _all_labels(data: dict[str, pl.DataFrame]) -> list[str]:
    """Every label of the training, dev and test documents, sorted (the label set without a codebook)."""
    seen: set[str] = set()
    for df in data.values():
        if "label" in df.columns:
            seen |= set(df["label"].drop_nulls().to_list())
        elif "labels" in df.columns:
            seen |= set(df["labels"].explode().drop_nulls().to_list())
    return sorted(seen)
