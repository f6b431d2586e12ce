"""Gather the (model, size, seed) job records into one learning-curve table."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError

#: Leading columns of learning_curve.csv; one column per metric follows, in sorted order.
ID_COLUMNS = ("model", "kind", "size", "seed", "n_train", "n_test")


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
    """One row per (model, size, seed): the test metrics of each training job.

    Parameters
    ----------
    records : job records (the dicts returned by :func:`train_and_predict`) or paths to their
        ``metrics.json`` files (or the job directories holding them).

    Returns
    -------
    polars.DataFrame ``model, kind, size, seed, n_train, n_test, <metric>...``, sorted by model,
    size and seed; write it with :func:`llmcoder.io.write_csv` as ``learning_curve.csv``.

    Examples
    --------
    >>> learning_curve([{"model": "tfidf", "kind": "tfidf", "size": 1.0, "seed": 1, "n_train": 80,
    ...                  "n_test": 20, "metrics": {"accuracy": 0.9}}])["accuracy"].to_list()
    [0.9]
    """
    rows = []
    for item in records:
        rec = _record(item)
        missing = [k for k in ("model", "size", "seed") if k not in rec]
        if missing:
            raise InputError(str(item) if not isinstance(item, Mapping) else "record",
                             f"learning-curve record lacks {missing}")
        row = {k: rec.get(k) for k in ID_COLUMNS}
        row.update({k: float(v) for k, v in (rec.get("metrics") or {}).items()
                    if isinstance(v, (int, float)) and k != "n"})
        rows.append(row)
    if not rows:
        return pl.DataFrame(schema={"model": pl.Utf8, "kind": pl.Utf8, "size": pl.Float64,
                                    "seed": pl.Int64, "n_train": pl.Int64, "n_test": pl.Int64})
    df = pl.DataFrame(rows, infer_schema_length=None)
    dups = df.filter(pl.struct("model", "size", "seed").is_duplicated())
    if dups.height:
        raise InputError("learning curve", f"{dups.height} records repeat a (model, size, seed)",
                         fix="give each job record once")
    metrics = sorted(c for c in df.columns if c not in ID_COLUMNS)
    return (df.with_columns(pl.col("size").cast(pl.Float64), pl.col("seed").cast(pl.Int64))
            .select(list(ID_COLUMNS) + metrics).sort("model", "size", "seed"))


def summarize_curve(curve: pl.DataFrame) -> pl.DataFrame:
    """Mean and standard deviation over seeds of every metric, per (model, size)."""
    metrics = [c for c in curve.columns if c not in ID_COLUMNS]
    return curve.group_by("model", "kind", "size").agg(
        pl.len().alias("n_seeds"), pl.col("n_train").mean().alias("n_train"),
        *[pl.col(m).mean().alias(f"{m}_mean") for m in metrics],
        *[pl.col(m).std().alias(f"{m}_sd") for m in metrics],
    ).sort("model", "size")
