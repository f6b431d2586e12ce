"""Fine-tune small open models on verified labels, through one interface for three kinds of coder.

``encoder``: full fine-tuning of a BERT-like sequence classifier (offline default all-MiniLM-L6-v2);
``tfidf``: TF-IDF + logistic regression baseline; ``lora``: a LoRA/QLoRA adapter on a small causal
LM (offline default SmolLM2-135M-Instruct) that predicts by constrained label scoring. The kinds are
registered in :mod:`llmcoder.finetune.registry`; the fine-tuning job of a workflow rule (train, score
the test split) is :func:`llmcoder.jobs.train_and_predict`.

Examples
--------
>>> from llmcoder.finetune import FinetuneConfig, train, load_predictor   # doctest: +SKIP
>>> art = train(FinetuneConfig(kind="tfidf"), train_df, dev_df, "results/ft/tfidf")  # doctest: +SKIP
>>> load_predictor(art).predict_proba(["A bill on hospital funding"]).shape  # doctest: +SKIP
(1, 19)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError
from llmcoder.finetune.common import (
    Meta,
    Predictor,
    codebook_of,
    infer_task,
    labelled,
    read_meta,
    resolve_labels,
    write_meta,
)
from llmcoder.finetune.config import FinetuneConfig, LoraSpec, TfidfSpec, load_config
from llmcoder.finetune.registry import KINDS, KindSpec, get_kind, register_kind
from llmcoder.io import provenance, write_json

#: What an artifact folder holds (the kind's own files: model/, adapter/ or model.joblib); it is replaced whole.
ARTIFACT_FILES = ("finetune.json", "provenance.json", "model", "adapter", "model.joblib")

__all__ = [
    "FinetuneConfig",
    "KINDS",
    "KindSpec",
    "LoraSpec",
    "Meta",
    "Predictor",
    "TfidfSpec",
    "learning_curve",
    "load_config",
    "load_predictor",
    "register_kind",
    "train",
]


def train(config: FinetuneConfig | dict[str, Any] | str | os.PathLike[str], train_df: pl.DataFrame,
          dev_df: pl.DataFrame | None, out_dir: str | os.PathLike[str], *,
          labels: list[str] | None = None) -> Path:
    """Train one coder and write its artifact directory (written all or nothing: a staged copy replaces it).

    Parameters
    ----------
    config : FinetuneConfig, dict or path to its YAML.
    train_df, dev_df : frames with ``doc_id``, ``text`` and ``label`` (single-label) or a list
        column ``labels`` (multi-label). ``dev_df`` drives early stopping and thresholds; ``None``
        or empty trains for ``epochs`` and keeps the last weights.
    out_dir : the artifact directory to write.
    labels : the label set and order; default the codebook's, else every label seen in training
        or dev, sorted (a label absent from training is still predicted, with a low probability).

    Returns
    -------
    Path of the artifact directory, readable by :func:`load_predictor`.
    """
    cfg = load_config(config)
    codebook = codebook_of(cfg.codebook)
    task = infer_task(train_df, codebook)
    dev_df = dev_df if dev_df is not None else train_df.head(0)
    col = "label" if task == "single" else "labels"
    if col not in train_df.columns:
        raise InputError("training data", f"the task is {task}-label but there is no '{col}' column",
                         fix="single-label data has a 'label' column, multi-label a list column 'labels'")
    train_df, dev_df = labelled(train_df, task), labelled(dev_df, task)
    if train_df.height < 2:
        raise InputError("training data", f"{train_df.height} labelled document(s)",
                         fix="fine-tuning needs labelled (verified) training documents")
    if labels is None:
        seen = pl.concat([train_df.select(col), dev_df.select(col)])
        labels = resolve_labels(seen, task, codebook)
    from llmcoder.io import staged_dir
    from llmcoder.metrics import check_output_folder

    out = check_output_folder(out_dir, ARTIFACT_FILES, option="out_dir", what="model", claim=True)
    with staged_dir(out) as tmp:  # a failed or killed training leaves the previous model whole
        meta = get_kind(cfg.kind).train(cfg, train_df, dev_df, tmp, labels=labels, task=task, codebook=codebook)
        write_meta(tmp, meta)
        write_json(provenance(stage="finetune", kind=cfg.kind, model=cfg.name, base_model=cfg.model, task=task,
                              labels=labels, n_train=train_df.height, n_dev=dev_df.height, config=cfg.to_dict(),
                              dev_metrics=meta.dev_metrics), tmp / "provenance.json")
    return Path(out_dir)


def load_predictor(artifact_dir: str | os.PathLike[str], *, device: str = "auto",
                   precision: str = "fp32") -> Predictor:
    """Read a trained coder back: ``.labels``, ``.task``, ``.thresholds``, ``.predict_proba(texts)``.

    ``device``: ``auto``, ``cpu`` or ``cuda`` (neural coders). ``precision``: ``fp32`` (exact,
    reproducible across machines) or ``bf16`` (autocast; faster on GPUs and on CPUs with native
    bfloat16, probabilities within ~1e-3).
    """
    meta = read_meta(artifact_dir)
    spec = KINDS.get(meta.kind) if isinstance(meta.kind, str) else None
    if spec is None:
        raise InputError(str(artifact_dir), f"unknown model kind '{meta.kind}'",
                         fix="train it again with this version of llmcoder")
    return spec.load_predictor(artifact_dir, meta, device=device, precision=precision)


def __getattr__(name: str) -> Any:  # lazy: keep `import llmcoder.finetune` light
    if name == "learning_curve":
        from llmcoder.finetune.curves import learning_curve

        return learning_curve
    raise AttributeError(name)
