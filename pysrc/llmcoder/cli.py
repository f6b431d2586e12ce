"""The ``llmcoder`` command line: assembled from plain functions, one module per stage.

Each stage module exposes ``register(app)``; this file only wires them. Every command exits with
status 2 and a message naming file, row and fix when its input is invalid.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmcoder.errors import InputError

app = typer.Typer(
    name="llmcoder",
    help="Hybrid LLM coding of text corpora: LLM coders, human verification by rejection, "
    "fine-tuning, validation and publication.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(err: InputError) -> None:
    """Print an input error for a person and exit with status 2."""
    print(f"error: {err}", file=sys.stderr)
    raise typer.Exit(code=2)


@app.command()
def validate(
    corpus: Annotated[Path, typer.Argument(help="Raw corpus: CSV, TSV, Parquet, JSONL or XLSX.")],
    codebook: Annotated[Path | None, typer.Option(help="Codebook YAML (or CSV) the gold labels must use.")] = None,
    id_col: Annotated[str, typer.Option("--id", help="Column with the document id.")] = "id",
    text_col: Annotated[str, typer.Option("--text", help="Column with the text.")] = "text",
    label_col: Annotated[str | None, typer.Option("--label", help="Gold label column (single-label).")] = None,
    labels_col: Annotated[str | None, typer.Option("--labels", help="Gold labels column (multi-label).")] = None,
    labels_sep: Annotated[str, typer.Option(help="Separator inside a multi-label cell.")] = "|",
    strata: Annotated[
        list[str] | None,
        typer.Option("--stratum", help="Column kept as stratum (repeatable); default: all others."),
    ] = None,
) -> None:
    """Check a corpus (and its gold labels against a codebook); print a one-line summary."""
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import CorpusSpec, build_corpus, summarize

    try:
        cb = load_codebook(codebook) if codebook else None
        if cb is not None and label_col is None and labels_col is None:
            label_col, labels_col = _guess_gold_column(corpus, cb.task)
        spec = CorpusSpec(path=str(corpus), id_col=id_col, text_col=text_col, label_col=label_col,
                          labels_col=labels_col, labels_sep=labels_sep, strata=strata or None)
        df = build_corpus(spec, cb)
    except InputError as err:
        fail(err)
    print(f"{corpus}: ok: {summarize(df, cb)}")


def _guess_gold_column(corpus: Path, task: str) -> tuple[str | None, str | None]:
    """With a codebook but no --label/--labels, use a column named 'label' or 'labels' if present."""
    from llmcoder.corpus import CorpusSpec, read_raw

    raw, _ = read_raw(CorpusSpec(path=str(corpus)))
    if task == "multi" and "labels" in raw.columns:
        return None, "labels"
    if task == "single" and "label" in raw.columns:
        return "label", None
    return None, None


@app.command()
def prepare(
    config: Annotated[Path, typer.Option(help="config.yaml of the workflow.")] = Path("config.yaml"),
    study: Annotated[str, typer.Option(help="Study name in the config.")] = "demo",
    out: Annotated[Path | None, typer.Option(help="Output Parquet (default results/<study>/corpus.parquet).")] = None,
) -> None:
    """Validate a study's raw corpus and write the canonical corpus Parquet."""
    from llmcoder.study import load_config, prepare_study_corpus

    try:
        cfg = load_config(config)
        target = out or Path(cfg["results"]) / study / "corpus.parquet"
        line = prepare_study_corpus(cfg, study, target)
    except InputError as err:
        fail(err)
    print(line)


@app.command()
def split(
    corpus: Annotated[Path, typer.Argument(help="Canonical corpus Parquet (from 'llmcoder prepare').")],
    out: Annotated[Path, typer.Option(help="Output splits Parquet.")],
    train: Annotated[float, typer.Option(help="Share of labelled documents for training.")] = 0.8,
    dev: Annotated[float, typer.Option(help="Share for development (early stopping, thresholds).")] = 0.1,
    test: Annotated[float, typer.Option(help="Share for the final test.")] = 0.1,
    sizes: Annotated[str, typer.Option(help="Nested training-size fractions, comma-separated.")] = "0.05,0.25,0.5,1",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Write stratified train/dev/test splits with nested training-size subsets."""
    from llmcoder.corpus import read_corpus
    from llmcoder.splits import SplitConfig, make_splits, write_splits

    try:
        cfg = SplitConfig(train=train, dev=dev, test=test, seed=seed,
                          sizes=tuple(float(s) for s in sizes.split(",")))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(code=2) from err
    s = make_splits(read_corpus(corpus), cfg)
    write_splits(s, out)
    counts = dict(s.group_by("split").len().sort("split").iter_rows())
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def archive(
    study: Annotated[str, typer.Option(help="Study to archive.")] = "demo",
    config: Annotated[Path, typer.Option(help="config.yaml of the workflow.")] = Path("config.yaml"),
    out: Annotated[Path | None, typer.Option(help="Archive path (default results/<study>/replication.tar.gz).")] = None,
) -> None:
    """Pack a study's replication archive: code, config, prompts, data checksums, results, environment."""
    from llmcoder.archive import build_archive
    from llmcoder.study import load_config, study_config

    try:
        cfg = load_config(config)
        include = study_config(cfg, study)["archive"]["include_data"]
        path = build_archive(cfg, study, workdir=config.resolve().parent, out=out, include_data=include)
    except (InputError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(code=2) from err
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


def _register_stages() -> None:
    """Add each stage's commands; the stage modules keep their heavy imports inside the commands."""
    from llmcoder import cli_code, cli_finetune, cli_stats, cli_verify

    for module in (cli_code, cli_verify, cli_finetune, cli_stats):
        module.register(app)


_register_stages()


def main() -> None:
    """Entry point of the ``llmcoder`` console script."""
    app()


if __name__ == "__main__":
    main()
