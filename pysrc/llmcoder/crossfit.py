"""Cross-fitting: a fine-tuned model's labelled documents reused as the inference sample.

A study that has people label documents to train a model can use the same labels to correct the
findings, if no model's prediction for a labelled document was made by a model that saw its label. The
labelled documents of the fine-tuning (train and dev splits) are split into K folds; model k is trained
on the other folds (a share of them kept as its dev set, as in the study's own training) and predicts
the documents of fold k (out of fold) and every document that nobody labelled. The estimators then take
each labelled document's out-of-fold prediction and, for the others, the K models' predictions:
cross-prediction-powered inference (Zrnic & Candès 2024, ``ppi_py.crossppi_*``) and DSL with
cross-fitting (Egami et al. 2023). The folds' models are not kept: the predictions are.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.errors import InputError
from llmcoder.io import provenance, write_json

CROSSFIT_FILES = ("predictions.parquet", "folds.parquet", "summary.json")


def assign_folds(doc_ids: list[str], k: int, seed: int) -> np.ndarray:
    """Fold 0..k-1 of each document: a seeded permutation dealt round-robin, so folds differ by at most one."""
    if k < 2:
        raise InputError("inference.crossfit", f"{k} folds: cross-fitting needs at least 2",
                         fix="set inference.crossfit to 2 or more (5 is usual), or 0 to switch it off")
    if len(doc_ids) < 2 * k:
        raise InputError("inference.crossfit", f"{len(doc_ids)} labelled documents for {k} folds",
                         fix="label more documents or use fewer folds")
    order = np.random.default_rng(seed).permutation(len(doc_ids))
    folds = np.empty(len(doc_ids), dtype=np.int64)
    folds[order] = np.arange(len(doc_ids)) % k
    return folds


def crossfit_predictions(
    config: Any,
    corpus_path: str | os.PathLike[str],
    splits_path: str | os.PathLike[str],
    verified_path: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    *,
    folds: int = 5,
    seed: int = 1,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Train ``folds`` models of ``config`` (a :class:`~llmcoder.finetune.config.FinetuneConfig` or its YAML),
    each without one fold of the labelled documents, and predict that fold and every unlabelled document.

    Writes into ``out_dir``, all or nothing: ``folds.parquet`` (the labelled documents: ``doc_id, fold`` and
    their training label, ``label`` or ``labels``), ``predictions.parquet`` (``doc_id, fold, label, prob,
    chosen, out_of_fold``: model ``fold``'s probability of each label; ``out_of_fold`` for the labelled
    documents of that fold) and ``summary.json`` (the record, returned). Labels are the verified ones with
    ``verified_path`` (as the study's fine-tuning), else the corpus gold.
    """
    from llmcoder.finetune import load_predictor, train
    from llmcoder.finetune.common import codebook_of
    from llmcoder.finetune.config import load_config
    from llmcoder.io import staged_dir, write_parquet
    from llmcoder.jobs import _all_labels, load_job_data
    from llmcoder.metrics import check_output_folder
    from llmcoder.predict import predict
    from llmcoder.results import checked

    cfg = load_config(config).replace(seed=int(seed))
    out = check_output_folder(out_dir, CROSSFIT_FILES, option="out_dir", what="cross-fitted predictions")
    cb = codebook_of(cfg.codebook)
    data = load_job_data(corpus_path, splits_path, verified_path, size=1.0, task=cb.task if cb else None)
    label_col = "labels" if "labels" in data["train"].columns else "label"
    labelled = pl.concat([data["train"], data["dev"]]).sort("doc_id")
    ids = labelled["doc_id"].to_list()
    fold_of = assign_folds(ids, int(folds), int(seed))
    dev_share = data["dev"].height / max(labelled.height, 1)
    corpus_ids = pl.scan_parquet(corpus_path).select(pl.col("doc_id").cast(pl.Utf8)).collect()["doc_id"]
    unlabelled = sorted(set(corpus_ids.to_list()) - set(ids))
    labels = cb.ids if cb else _all_labels(data)
    table = labelled.select("doc_id", pl.Series("fold", fold_of, dtype=pl.Int64), label_col)
    check_output_folder(out, CROSSFIT_FILES, option="out_dir", what="cross-fitted predictions", claim=True)
    per_fold: list[dict[str, Any]] = []
    parts: list[pl.DataFrame] = []
    with staged_dir(out) as stage:
        for k in range(int(folds)):
            held = table.filter(pl.col("fold") == k)["doc_id"].to_list()
            rest = labelled.filter(~pl.col("doc_id").is_in(held))
            rng = np.random.default_rng([int(seed), k])
            is_dev = np.zeros(rest.height, dtype=bool)
            n_dev = int(round(dev_share * rest.height))
            is_dev[rng.choice(rest.height, size=n_dev, replace=False)] = True
            t0 = time.perf_counter()
            art = train(cfg, rest.filter(~pl.Series(is_dev)), rest.filter(pl.Series(is_dev)),
                        stage / f"fold{k}" / "model", labels=labels)
            pred_path = predict(art, corpus_path, stage / f"fold{k}" / "predictions.parquet", batch_size=batch_size,
                                doc_ids=held + unlabelled, predictor=load_predictor(art), progress=False,
                                artifact_name=f"{Path(out_dir).name}/fold{k}")
            part = pl.read_parquet(pred_path).select("doc_id", "label", "prob", "chosen")
            parts.append(part.with_columns(pl.lit(k, pl.Int64).alias("fold"),
                                           pl.col("doc_id").is_in(held).alias("out_of_fold")))
            per_fold.append({"fold": k, "n_train": int((~is_dev).sum()), "n_dev": n_dev, "n_held_out": len(held),
                             "seconds": round(time.perf_counter() - t0, 2)})
            shutil.rmtree(stage / f"fold{k}")  # the models are not kept: K copies of a model, for predictions
        preds = pl.concat(parts).select("doc_id", "fold", "label", "prob", "chosen", "out_of_fold")
        record = {"artifact": "crossfit", "model": cfg.name, "kind": cfg.kind, "folds": int(folds), "seed": int(seed),
                  "n_labelled": labelled.height, "n_unlabelled": len(unlabelled), "verified": verified_path is not None,
                  "per_fold": per_fold, **provenance()}
        write_parquet(checked("crossfit_folds", table), stage / "folds.parquet")
        write_parquet(checked("crossfit_predictions", preds), stage / "predictions.parquet")
        write_json(checked("crossfit_record", record), stage / "summary.json")
    return record


def crossfit_arrays(predictions: pl.DataFrame, doc_ids: list[str], labels: list[str], src: str, *,
                    values: str = "labels") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """From ``predictions.parquet``: per label, the surrogate of every document (the out-of-fold value of a
    labelled one, the models' mean for the rest) and the N x K matrix of each model's value (a labelled
    document's row repeats its out-of-fold value: the estimators use only the unlabelled rows). ``values``:
    ``labels`` (1 where a model chose the label, else 0) or ``probabilities``."""
    k = int(predictions["fold"].max()) + 1
    pos = {d: i for i, d in enumerate(doc_ids)}
    missing = sorted(set(doc_ids) - set(predictions["doc_id"].to_list()))
    if missing:
        raise InputError(src, f"{len(missing)} document(s) of the corpus have no cross-fitted prediction",
                         fix="run the crossfit step again on this corpus")
    yhat: dict[str, np.ndarray] = {}
    F: dict[str, np.ndarray] = {}
    value = pl.col("prob") if values == "probabilities" else pl.col("chosen").cast(pl.Float64)
    predictions = predictions.with_columns(value.alias("prob"))
    for lab in labels:
        rows = predictions.filter(pl.col("label") == lab)
        M = np.full((len(doc_ids), k), np.nan)
        oof = rows.filter(pl.col("out_of_fold"))
        for d, p in oof.select("doc_id", "prob").iter_rows():
            if d in pos:
                M[pos[d], :] = p
        for d, fold, p in rows.filter(~pl.col("out_of_fold")).select("doc_id", "fold", "prob").iter_rows():
            if d in pos:
                M[pos[d], fold] = p
        if np.isnan(M).any():
            raise InputError(src, f"label '{lab}': some documents lack a prediction of some fold's model",
                             fix="run the crossfit step again")
        F[lab] = M
        yhat[lab] = M.mean(axis=1)
    return yhat, F
