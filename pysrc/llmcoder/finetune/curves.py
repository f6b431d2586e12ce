"""Gather the (model, size, seed) job records into one learning-curve table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError

#: Columns of learning_curve.csv (key learning_curve of the results contract): one row per model, size, seed, metric.
COLUMNS = ("model", "train_size", "train_fraction", "seed", "metric", "value")


def _record(item: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    p = Path(item)
    if p.is_dir():
        p = p / "metrics.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputError(str(p), "learning-curve record not found", fix="run the training job first") from e
    except json.JSONDecodeError as e:
        raise InputError(str(p), f"not valid JSON ({e})", fix="run the training job again") from e


def learning_curve(records: Iterable[Mapping[str, Any] | str | os.PathLike[str]]) -> pl.DataFrame:
    """The test metrics of every (model, size, seed) training job, in the contract's long format.

    Parameters
    ----------
    records : job records (the dicts returned by :func:`llmcoder.jobs.train_and_predict`) or
        paths to their ``metrics.json`` files (or the job directories holding them).

    Returns
    -------
    polars.DataFrame ``model, train_size, train_fraction, seed, metric, value``: ``train_size`` is
    the number of training documents, ``train_fraction`` the nested subset's fraction; one row per
    metric, sorted by model, fraction, seed and metric. The workflow writes it as ``learning_curve.csv``
    (:func:`llmcoder.stages.write_learning_curve`).

    Examples
    --------
    >>> rec = {"model": "tfidf", "size": 1.0, "seed": 1, "n_train": 80,
    ...        "metrics": {"accuracy": 0.9, "macro_f1": 0.8}}
    >>> learning_curve([rec])["value"].to_list()
    [0.9, 0.8]
    """
    rows = []
    seen: set[tuple[str, float, int]] = set()
    for item in records:
        rec = _record(item)
        missing = [k for k in ("model", "size", "seed", "n_train") if k not in rec]
        if missing:
            raise InputError(str(item) if not isinstance(item, Mapping) else "record",
                             f"learning-curve record lacks {missing}", fix="run the training job again")
        key = (str(rec["model"]), float(rec["size"]), int(rec["seed"]))
        if key in seen:
            raise InputError("learning curve", f"the records repeat model {key[0]}, size {key[1]:g}, seed {key[2]}",
                             fix="give each job record once")
        seen.add(key)
        for metric, value in (rec.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and metric != "n":
                rows.append({"model": key[0], "train_size": int(rec["n_train"]), "train_fraction": key[1],
                             "seed": key[2], "metric": metric, "value": float(value)})
    schema = {"model": pl.Utf8, "train_size": pl.Int64, "train_fraction": pl.Float64, "seed": pl.Int64,
              "metric": pl.Utf8, "value": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("model", "train_fraction", "seed", maintain_order=True)


def summarize_curve(curve: pl.DataFrame) -> pl.DataFrame:
    """Mean, standard deviation and number of seeds of every metric, per model and fraction."""
    return (curve.group_by("model", "train_fraction", "metric")
            .agg(pl.col("train_size").mean(), pl.len().alias("n_seeds"), pl.col("value").mean().alias("mean"),
                 pl.col("value").std().alias("sd"))
            .sort("model", "train_fraction", "metric"))

