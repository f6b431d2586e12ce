"""What every fine-tuned coder shares: label targets, metrics, thresholds, seeds and artifact files.

An artifact directory holds ``finetune.json`` (kind, task, labels, thresholds, config, provenance,
dev metrics) plus the kind's own files (``model/`` for an encoder, ``model.joblib`` for TF-IDF,
``adapter/`` for LoRA). :func:`llmcoder.finetune.load_predictor` reads it back.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook, load_codebook
from llmcoder.errors import InputError
from llmcoder.io import provenance, write_json

META_FILE = "finetune.json"
ARTIFACT_VERSION = 1


# -- labels and targets ----------------------------------------------------------------------------

def infer_task(df: pl.DataFrame, codebook: Codebook | None = None) -> str:
    """``single`` when the frame has a ``label`` column, ``multi`` for a ``labels`` list column."""
    if codebook is not None:
        return codebook.task
    if "labels" in df.columns:
        return "multi"
    if "label" in df.columns:
        return "single"
    raise InputError("training data", "no 'label' or 'labels' column",
                     fix="give the verified or gold labels as 'label' (single) or 'labels' (multi)")


def resolve_labels(train_df: pl.DataFrame, task: str, codebook: Codebook | None) -> list[str]:
    """The label order: the codebook's, else the labels seen in training, sorted."""
    if codebook is not None:
        return codebook.ids
    if task == "single":
        seen = train_df["label"].drop_nulls().unique().to_list()
    else:
        seen = train_df["labels"].explode().drop_nulls().unique().to_list()
    labels = sorted(str(x) for x in seen)
    if len(labels) < 2:
        raise InputError("training data", f"only {len(labels)} distinct label(s) in training",
                         fix="a classifier needs at least two labels; add verified documents")
    return labels


def targets(df: pl.DataFrame, labels: Sequence[str], task: str, *, where: str = "data") -> np.ndarray:
    """Integer class indices (single) or a 0/1 matrix (multi) in ``labels`` order."""
    index = {lab: i for i, lab in enumerate(labels)}
    if task == "single":
        col = "label"
        if col not in df.columns:
            raise InputError(where, "no 'label' column for a single-label task")
        vals = df[col].to_list()
        unknown = sorted({str(v) for v in vals if v not in index})
        if unknown:
            raise InputError(where, f"label(s) not in the label set: {', '.join(unknown[:10])}",
                             fix="drop those documents or add the labels to the codebook")
        return np.array([index[v] for v in vals], dtype=np.int64)
    if "labels" not in df.columns:
        raise InputError(where, "no 'labels' list column for a multi-label task")
    y = np.zeros((df.height, len(labels)), dtype=np.float32)
    for i, labs in enumerate(df["labels"].to_list()):
        for lab in labs or []:
            if lab not in index:
                raise InputError(where, f"label '{lab}' is not in the label set",
                                 fix="drop those documents or add the label to the codebook")
            y[i, index[lab]] = 1.0
    return y


def labelled(df: pl.DataFrame, task: str) -> pl.DataFrame:
    """Rows with a label (single: non-null ``label``; multi: non-null ``labels``, empty allowed)."""
    col = "label" if task == "single" else "labels"
    if col not in df.columns:
        return df.head(0)
    return df.filter(pl.col(col).is_not_null())


# -- decisions and metrics -------------------------------------------------------------------------

def choose(probs: np.ndarray, task: str, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Boolean matrix of chosen labels: the argmax (single) or ``prob >= threshold`` (multi)."""
    probs = np.asarray(probs)
    if task == "single":
        out = np.zeros(probs.shape, dtype=bool)
        if probs.shape[0]:
            out[np.arange(probs.shape[0]), probs.argmax(axis=1)] = True
        return out
    thr = np.full(probs.shape[1], 0.5) if thresholds is None else np.asarray(thresholds)
    return probs >= thr[None, :]


def tune_thresholds(y: np.ndarray, probs: np.ndarray, *, objective: str = "f1",
                    grid: Sequence[float] | None = None, passes: int = 2) -> list[float]:
    """Per-label probability thresholds tuned on dev.

    ``objective="f1"``: each label's threshold maximises that label's F1 (ties: closest to 0.5).
    ``objective="jaccard"``: starting from those, coordinate ascent (``passes`` rounds over the
    labels) on the mean per-document Jaccard of the chosen label sets (the official SemEval E-c
    metric; it also weighs false positives, which per-label F1 tends to over-admit). As an objective, a
    document with no gold and no chosen label scores 1 (keeping it empty is right); the reported
    ``jaccard_samples`` (:func:`llmcoder.metrics.evaluate`) scores it 0, as scikit-learn does.
    """
    grid = np.asarray(grid if grid is not None else np.round(np.arange(0.05, 0.951, 0.025), 3))
    t_all = y > 0.5
    out = []
    for j in range(y.shape[1]):
        t = t_all[:, j]
        pred = probs[:, j][None, :] >= grid[:, None]  # (grid, n)
        tp = (pred & t[None, :]).sum(1)
        fp = (pred & ~t[None, :]).sum(1)
        fn = (~pred & t[None, :]).sum(1)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        best = np.flatnonzero(f1 == f1.max())
        out.append(float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]]))
    if objective == "f1":
        return out
    if objective != "jaccard":
        raise ValueError(f"objective is '{objective}'; use f1 or jaccard")
    chosen = probs >= np.asarray(out)[None, :]
    for _ in range(passes):
        for j in range(y.shape[1]):
            inter = (chosen & t_all).sum(1) - (chosen[:, j] & t_all[:, j])
            union = (chosen | t_all).sum(1) - (chosen[:, j] | t_all[:, j])
            cand = probs[:, j][None, :] >= grid[:, None]  # (grid, n)
            i2 = inter[None, :] + (cand & t_all[None, :, j])
            u2 = union[None, :] + (cand | t_all[None, :, j])
            score = np.where(u2 > 0, i2 / np.maximum(u2, 1), 1.0).mean(1)
            best = np.flatnonzero(score >= score.max() - 1e-12)
            k = best[np.argmin(np.abs(grid[best] - out[j]))]  # ties: stay near the current one
            out[j] = float(grid[k])
            chosen[:, j] = cand[k]
    return out


def evaluate(task: str, y: np.ndarray, probs: np.ndarray,
             thresholds: Sequence[float] | None = None) -> dict[str, float]:
    """Metrics of predicted probabilities against index-coded targets (e.g. the dev split during
    training), scored by :func:`llmcoder.metrics.evaluate`, the package's one scorer: the same names
    and definitions as ``evaluation/*/metrics.json`` (and ``n``, the number of documents)."""
    from llmcoder.metrics import evaluate as score

    names = [str(j) for j in range(probs.shape[1])]
    docs = [str(i) for i in range(len(y))]
    if task == "single":
        gold = pl.DataFrame({"doc_id": docs, "label": [names[int(v)] for v in y]})
        pred = pl.DataFrame({"doc_id": docs, "label": [names[int(v)] for v in probs.argmax(axis=1)]})
    else:
        chosen = choose(probs, task, thresholds)
        gold = pl.DataFrame({"doc_id": docs, "labels": [[names[j] for j in np.flatnonzero(r > 0.5)] for r in y]})
        pred = pl.DataFrame({"doc_id": docs, "labels": [[names[j] for j in np.flatnonzero(r)] for r in chosen]})
    res = score(gold, pred, labels=names, task=task, n_boot=0)  # type: ignore[arg-type]
    return {"n": int(res["n"]), **{k: (None if v is None else float(v)) for k, v in res["metrics"].items()}}


# -- predictors and artifacts ----------------------------------------------------------------------

class Predictor(Protocol):
    """What :func:`llmcoder.predict.predict` needs from a fine-tuned coder."""

    labels: list[str]
    task: str
    thresholds: list[float] | None

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)); rows sum to 1 for single-label."""
        ...

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        """A cheap length of each text (tokens or characters), used to sort batches."""
        ...


@dataclass
class Meta:
    """The contents of ``finetune.json``."""

    kind: str
    task: str
    labels: list[str]
    config: dict[str, Any]
    thresholds: list[float] | None = None
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    artifact_version: int = ARTIFACT_VERSION


def long_docs_settings(config: dict[str, Any]) -> dict[str, Any]:
    """What a model does with texts longer than ``max_length`` (``long_docs``, ``chunk_overlap``,
    ``chunk_aggregate``), read from its saved config; models trained before the option truncate."""
    return {"long_docs": str(config.get("long_docs", "truncate")),
            "chunk_overlap": int(config.get("chunk_overlap", 32)),
            "chunk_aggregate": str(config.get("chunk_aggregate", "mean"))}


def write_meta(out_dir: str | os.PathLike[str], meta: Meta) -> Path:
    meta.provenance = meta.provenance or provenance()
    return write_json(meta.__dict__, Path(out_dir) / META_FILE)


def read_meta(artifact_dir: str | os.PathLike[str]) -> Meta:
    import json

    folder = Path(artifact_dir)
    p = folder / META_FILE
    if not folder.exists():
        raise InputError(str(artifact_dir), "model folder not found",
                         fix="give the folder written by `llmcoder finetune` (or its model/ folder)")
    if not p.is_file():
        raise InputError(str(artifact_dir), f"not a fine-tuned model directory (no {META_FILE})",
                         fix="give the directory written by `llmcoder finetune`")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(str(p), f"not a fine-tuned model's metadata (invalid JSON: {e})",
                         fix="train the model again with `llmcoder finetune`") from e
    known = set(Meta.__dataclass_fields__)
    need = ("kind", "task", "labels", "config")
    if not isinstance(data, dict) or any(k not in data for k in need):
        raise InputError(str(p), f"not a fine-tuned model's metadata (it needs {', '.join(need)})",
                         fix="train the model again with `llmcoder finetune`")
    return Meta(**{k: v for k, v in data.items() if k in known})


def codebook_of(config_codebook: str | None) -> Codebook | None:
    return load_codebook(config_codebook) if config_codebook else None


# -- torch helpers ---------------------------------------------------------------------------------

def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; ask torch for deterministic kernels where it has them."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # the TF-IDF baseline runs without torch
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("finetune config", "device is 'cuda' but torch sees no CUDA device",
                         fix="set device: auto or cpu, or run on a machine with a GPU")
    return device
