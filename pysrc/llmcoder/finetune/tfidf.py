"""The classic baseline: TF-IDF word n-grams and logistic regression (one-vs-rest for multi-label).

Trained and read back through the same interface as the neural coders, so that learning curves and
test metrics compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.errors import InputError
from llmcoder.finetune.common import Meta, evaluate, targets, tune_thresholds
from llmcoder.finetune.config import FinetuneConfig

MODEL_FILE = "model.joblib"


def _pipeline(config: FinetuneConfig, task: str) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline

    spec = config.tfidf
    vec = TfidfVectorizer(ngram_range=(1, spec.ngram_max), min_df=spec.min_df,
                          max_features=spec.max_features, sublinear_tf=spec.sublinear_tf,
                          strip_accents="unicode", lowercase=True, dtype=np.float32)
    lr = LogisticRegression(C=spec.C, max_iter=spec.max_iter, random_state=config.seed,
                            class_weight="balanced" if config.class_weights else None)
    clf = lr if task == "single" else OneVsRestClassifier(lr)
    return Pipeline([("tfidf", vec), ("clf", clf)])


def _full_proba(pipe: Any, texts: Sequence[str], n_labels: int, task: str) -> np.ndarray:
    """Probabilities for every label, also those absent from training (probability 0)."""
    p = pipe.predict_proba(list(texts))
    classes = pipe.named_steps["clf"].classes_ if task == "single" else pipe.extra_classes_
    out = np.zeros((len(texts), n_labels), dtype=np.float32)
    out[:, np.asarray(classes, dtype=int)] = p
    return out


def train_tfidf(config: FinetuneConfig, train_df: pl.DataFrame, dev_df: pl.DataFrame,
                out_dir: Path, *, labels: list[str], task: str, codebook: Codebook | None = None) -> Meta:
    """Fit the TF-IDF + LR pipeline; write ``out_dir/model.joblib``; return the metadata.

    ``codebook`` is unused (the label set comes in ``labels``): every kind is trained with one signature."""
    import joblib

    y = targets(train_df, labels, task, where="training data")
    texts = train_df["text"].to_list()
    pipe = _pipeline(config, task)
    if task == "single":
        if len(np.unique(y)) < 2:
            raise InputError("training data", "only one label in the training data",
                             fix="a classifier needs at least two labels")
        pipe.fit(texts, y)
    else:  # labels nobody has (or everybody has) cannot be fitted: keep them constant
        keep = np.flatnonzero((y.sum(0) > 0) & (y.sum(0) < len(y)))
        pipe.fit(texts, y[:, keep].astype(int))
        pipe.extra_classes_ = keep
    dev_metrics: dict[str, Any] = {}
    thresholds = None
    if dev_df.height:
        y_dev = targets(dev_df, labels, task, where="dev data")
        p_dev = _full_proba(pipe, dev_df["text"].to_list(), len(labels), task)
        if task == "multi" and config.tune_thresholds:
            thresholds = tune_thresholds(y_dev, p_dev, objective=config.threshold_objective)
        dev_metrics = evaluate(task, y_dev, p_dev, thresholds)
    if task == "multi" and thresholds is None:
        thresholds = [0.5] * len(labels)
    joblib.dump(pipe, out_dir / MODEL_FILE, compress=3)
    n_feat = len(pipe.named_steps["tfidf"].vocabulary_)
    return Meta(kind="tfidf", task=task, labels=labels, config=config.to_dict(), thresholds=thresholds,
                dev_metrics=dev_metrics, extra={"n_features": n_feat, "n_train": len(texts)})


class TfidfPredictor:
    """A fitted TF-IDF + LR pipeline read back from its artifact directory."""

    def __init__(self, artifact_dir: str | Path, meta: Meta, *, device: str = "auto",
                 precision: str = "fp32") -> None:
        """``device`` and ``precision`` are unused (scikit-learn on the CPU): every kind loads with one signature."""
        import joblib

        path = Path(artifact_dir) / MODEL_FILE
        if not path.is_file():
            raise InputError(str(path), "the TF-IDF model file is missing", fix="train the model again")
        self.pipe = joblib.load(path)
        self.labels = list(meta.labels)
        self.task = meta.task
        self.thresholds = meta.thresholds

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return _full_proba(self.pipe, texts, len(self.labels), self.task)
