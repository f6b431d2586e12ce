"""``llmcoder finetune`` and ``llmcoder predict``: train a small coder on verified labels, code a corpus.

Registered on the main app by ``llmcoder.cli`` (``register(app)``); heavy imports (torch,
transformers, scikit-learn) happen inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmcoder.cli.errors import fail
from llmcoder.errors import InputError


def finetune(
    config: Annotated[Path, typer.Option(help="Fine-tuning config YAML (see config/finetune/).")],
    corpus: Annotated[Path, typer.Option(help="Canonical corpus Parquet (from 'llmcoder prepare').")],
    splits: Annotated[Path, typer.Option(help="Splits Parquet (from 'llmcoder split').")],
    out: Annotated[Path, typer.Option(help="Output directory: model/, predictions_test.parquet, metrics.json.")],
    verified: Annotated[Path | None, typer.Option(
        help="Verified labels (doc_id + label/labels); default: the corpus gold.")] = None,
    size: Annotated[float, typer.Option(help="Training-size fraction: a nested subset of the splits table.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed (overrides the config's).")] = 1,
    codebook: Annotated[Path | None, typer.Option(
        help="Codebook YAML: the labels and their order, as the workflow gives them (the same model as the "
             "workflow's job); default: the config's codebook, else the labels of the training data.")] = None,
) -> None:
    """Fine-tune a coder on the training split (a nested subset), predict and score the test split."""
    import logging

    from llmcoder.stages import finetuned_model

    logger = logging.getLogger("llmcoder.finetune")  # epoch progress on stderr
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    try:
        rec = finetuned_model(config, corpus, splits, verified, out, size=size, seed=seed, codebook=codebook)
    except InputError as err:
        fail(err)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in rec["metrics"].items())
    print(f"{out}: {rec['model']} size {rec['size']:g} seed {rec['seed']}: "
          f"{rec['n_train']} training docs; test {shown or 'not scored (no labels)'}")


def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by 'llmcoder finetune' (its model/).")],
    corpus: Annotated[Path, typer.Argument(help="Canonical corpus Parquet to code.")],
    out: Annotated[Path, typer.Option(help="Output Parquet: doc_id, label, prob, chosen.")],
    route_share: Annotated[float | None, typer.Option(
        help="Also route this share of least confident documents to review.")] = None,
    route_threshold: Annotated[float | None, typer.Option(
        help="Route instead the documents whose confidence is below this.")] = None,
    route_by: Annotated[str, typer.Option(help="Confidence: max_prob, margin or closest (multi-label).")] = "max_prob",
    route_out: Annotated[Path | None, typer.Option(
        help="Routed documents CSV (default: <out stem>_review.csv).")] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 64,
    chunk_rows: Annotated[int, typer.Option(help="Documents read and journaled at once (bounds memory).")] = 50_000,
    precision: Annotated[str, typer.Option(
        help="fp32 (exact) or bf16 (faster on GPUs and CPUs with native bfloat16).")] = "fp32",
    splits: Annotated[Path | None, typer.Option(help="Splits Parquet; with --split, code only that split.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to code (train, dev, test...); default all.")] = None,
) -> None:
    """Code every document of a corpus with a fine-tuned model (resumable); optionally route the doubtful."""
    from llmcoder.stages import corpus_predictions

    if (model_dir / "model" / "finetune.json").is_file():
        model_dir = model_dir / "model"
    try:
        routed = None
        if route_share is not None or route_threshold is not None:
            routed = route_out or out.with_name(f"{out.stem}_review.csv")
        elif route_out is not None:
            raise InputError("--route-out", "a routed CSV is named but nothing is routed",
                             fix="add --route-share (e.g. 0.15) or --route-threshold, or leave out --route-out")
        doc_ids = _split_ids(splits, split)
        path = corpus_predictions(model_dir, corpus, out, routed=routed, route_share=route_share,
                                  route_threshold=route_threshold, route_by=route_by, precision=precision,
                                  batch_size=batch_size, chunk_rows=chunk_rows, doc_ids=doc_ids, progress=True)
    except InputError as err:
        fail(err)
    msg = f"{path}: predictions written"
    if routed is not None:
        import polars as pl

        n_routed = pl.scan_csv(routed).select(pl.len()).collect().item()
        msg += f"; {n_routed} documents routed to review in {routed}"
    print(msg)


def _split_ids(splits: Path | None, split: str | None) -> list[str] | None:
    """The ids of the documents of ``split`` in the splits table (None: every document)."""
    if split is None:
        if splits is not None:
            raise InputError("--splits", "a splits table is given but no split",
                             fix="add --split test (or train, dev), or leave out --splits")
        return None
    if splits is None:
        raise InputError("--split", "--split needs --splits", fix="give the splits Parquet with --splits")
    import polars as pl

    if not splits.is_file():
        raise InputError(str(splits), "splits file not found",
                         fix="check the --splits path (`llmcoder split` writes it)")
    try:
        table = pl.read_parquet(splits)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(splits), f"not a readable Parquet file ({e})",
                         fix="give the splits Parquet written by `llmcoder split`") from e
    if not {"doc_id", "split"} <= set(table.columns):
        raise InputError(str(splits),
                         f"a splits table needs doc_id and split columns (have: {', '.join(table.columns)})",
                         fix="give the splits Parquet written by `llmcoder split`")
    doc_ids = table.filter(pl.col("split") == split)["doc_id"].cast(pl.Utf8).to_list()
    if not doc_ids:
        have = ", ".join(sorted(str(x) for x in table["split"].drop_nulls().unique().to_list()))
        raise InputError(str(splits), f"no document in split '{split}'", fix=f"splits there: {have}")
    return doc_ids


def register(app: typer.Typer) -> None:
    """Add ``finetune`` and ``predict`` to the ``llmcoder`` app."""
    app.command("finetune")(finetune)
    app.command("predict")(predict)
