"""``llmcoder validate``, ``prepare``, ``split`` and ``archive``: check a corpus, write the canonical corpus
and its splits, pack a study's replication archive."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmcoder.cli.errors import fail
from llmcoder.errors import InputError

if TYPE_CHECKING:
    from llmcoder.corpus import CorpusSpec
    from llmcoder.splits import SplitConfig


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
    sep: Annotated[str | None, typer.Option(
        help="Field separator of a CSV/TSV file (',' ';' '|' or 'tab'); default: detected.")] = None,
    encoding: Annotated[str, typer.Option(
        help="Text encoding of a CSV/TSV/JSONL file, e.g. cp1252 for an old Excel export.")] = "utf-8",
    sheet: Annotated[str | None, typer.Option(help="Worksheet of an XLSX file (default: the first).")] = None,
    header_row: Annotated[int, typer.Option(
        help="Row with the column names, as the spreadsheet numbers it (XLSX and CSV).")] = 1,
) -> None:
    """Check a corpus (and its gold labels against a codebook); print a one-line summary."""
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import CorpusSpec, build_corpus, parse_sep, read_table, summarize

    try:
        if header_row < 1:
            raise InputError("--header-row", f"{header_row} is not a row number",
                             fix="rows are numbered from 1, as the spreadsheet shows them: --header-row 1")
        base = CorpusSpec(path=str(corpus), id_col=id_col, text_col=text_col, label_col=label_col,
                          labels_col=labels_col, labels_sep=labels_sep, strata=strata or None,
                          sep=parse_sep(sep), encoding=encoding, sheet=sheet, header_row=header_row)
        cb = load_codebook(codebook) if codebook else None
        spec = base.resolved()
        table = read_table(spec)
        if cb is not None and label_col is None and labels_col is None:
            spec = _guess_gold_column(spec, table.frame.columns, cb.task)
        df = build_corpus(spec, cb, table=table)
    except InputError as err:
        fail(err)
    print(f"{corpus}: ok: {summarize(df, cb, spec)}")


def _guess_gold_column(spec: CorpusSpec, columns: list[str], task: str) -> CorpusSpec:
    """With a codebook but no --label/--labels, use a column named 'label' or 'labels' if present (as the
    codebook's task says: a multi-label codebook reads it as label sets)."""
    import dataclasses

    preferred = ("labels", "label") if task == "multi" else ("label", "labels")
    for name in preferred:
        if name in columns:
            key = "labels_col" if task == "multi" else "label_col"
            return dataclasses.replace(spec, **{key: name})
    return spec


def _check_output(out: Path, *inputs: Path, option: str = "--out") -> None:
    """Refuse, before any work and without creating anything, an output that cannot be written or that
    would overwrite an input: a file standing where a folder is needed, a folder where the file goes."""
    if any(out.resolve() == Path(i).resolve() for i in inputs):
        raise InputError(str(out), "the output would overwrite an input file",
                         fix=f"pass another path to {option}")
    if out.is_dir():
        raise InputError(str(out), "a folder stands where the output file should be written",
                         fix=f"pass a file path to {option} (e.g. {out / 'out.parquet'})")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(str(out), f"cannot write here: '{parent}' is a file, not a folder",
                         fix=f"move or rename the file '{parent}', or pass another path to {option}")
    if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(str(out), f"cannot write here: the folder '{parent}' is not writable",
                         fix=f"choose a folder you can write to for {option}, or fix its permissions")


def prepare(
    config: Annotated[Path | None, typer.Option(
        help="The workflow's config (default: config/config.yaml).")] = None,
    study: Annotated[str, typer.Option(help="Study name in the config.")] = "demo",
    out: Annotated[Path | None, typer.Option(help="Output Parquet (default results/<study>/corpus.parquet).")] = None,
) -> None:
    """Validate a study's raw corpus and write the canonical corpus Parquet.

    How the raw file is read (separator, encoding, sheet, header row) comes from the study's corpus block.
    """
    from llmcoder.study import default_config_path, load_config, prepare_study_corpus, study_config

    config = config or default_config_path()
    try:
        cfg = load_config(config)
        block = study_config(cfg, study, str(config))
        target = out or Path(cfg["results"]) / study / "corpus.parquet"
        _check_output(target, Path(block["corpus"]["path"]), Path(block["codebook"]), config)
        line = prepare_study_corpus(cfg, study, target, source=str(config))
    except InputError as err:
        fail(err)
    print(line)


def _split_config(train: float, dev: float, test: float, sizes: str, seed: int, stratify: bool) -> SplitConfig:
    """The split settings from the command line, or an error naming the option."""
    from llmcoder.splits import SplitConfig

    try:
        fractions = tuple(float(s) for s in sizes.split(",") if s.strip())
    except ValueError as err:
        raise InputError("--sizes", f"'{sizes}' is not a comma-separated list of numbers",
                         fix="give fractions of the training split, e.g. --sizes 0.1,0.5,1") from err
    try:
        return SplitConfig(train=train, dev=dev, test=test, seed=seed, sizes=fractions, stratify=stratify)
    except ValueError as err:
        option = "--sizes" if "sizes" in str(err) else "--train/--dev/--test"
        fix = ("give fractions above 0 and at most 1, e.g. --sizes 0.1,0.5,1" if option == "--sizes" else
               "give three shares from 0 to 1 that sum to 1, e.g. --train 0.8 --dev 0.1 --test 0.1")
        raise InputError(option, str(err), fix=fix) from err


def split(
    corpus: Annotated[Path, typer.Argument(help="Canonical corpus Parquet (from 'llmcoder prepare').")],
    out: Annotated[Path, typer.Option(help="Output splits Parquet.")],
    train: Annotated[float, typer.Option(help="Share of labelled documents for training.")] = 0.8,
    dev: Annotated[float, typer.Option(help="Share for development (early stopping, thresholds).")] = 0.1,
    test: Annotated[float, typer.Option(help="Share for the final test.")] = 0.1,
    sizes: Annotated[str, typer.Option(help="Nested training-size fractions, comma-separated.")] = "0.05,0.25,0.5,1",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    stratify: Annotated[bool, typer.Option(help="Stratify by the gold label(s).")] = True,
) -> None:
    """Write stratified train/dev/test splits with nested training-size subsets."""
    from llmcoder.stages import study_splits

    try:
        cfg = _split_config(train, dev, test, sizes, seed, stratify)
        _check_output(out, corpus)
        counts = dict(study_splits(corpus, cfg, out, source=str(corpus)).iter_rows())
    except InputError as err:
        fail(err)
    print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def archive(
    study: Annotated[str, typer.Option(help="Study to archive.")] = "demo",
    config: Annotated[Path | None, typer.Option(
        help="The workflow's config (default: config/config.yaml).")] = None,
    out: Annotated[Path | None, typer.Option(help="Archive path (default results/<study>/replication.tar.gz).")] = None,
) -> None:
    """Pack a study's replication archive: code, config, prompts, data checksums, results, environment."""
    from llmcoder.archive import build_archive
    from llmcoder.study import default_config_path, load_config, project_folder, study_config

    config = config or default_config_path()
    try:
        cfg = load_config(config)
        block = study_config(cfg, study, str(config))
        include = block["archive"]["include_data"]
        if out is not None:
            _check_output(out, config)
        workdir = project_folder(config)
        for key, rel in (("corpus.path", block["corpus"]["path"]), ("codebook", block["codebook"])):
            if not (workdir / rel).is_file():
                raise InputError(str(config), f"studies.{study}.{key}: '{rel}' not found (from {workdir})",
                                 fix="the archive records the study's inputs: put the file back, or correct the key")
        path = build_archive(cfg, study, workdir=workdir, out=out, include_data=include)
    except InputError as err:
        fail(err)
    except FileNotFoundError as err:
        if err.filename:
            raise
        fail(f"{err}\n  fix: run the workflow for the study first (snakemake --cores 2)")
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


def register(app: typer.Typer) -> None:
    """Add ``validate``, ``prepare``, ``split`` and ``archive`` to ``app``."""
    for command in (validate, prepare, split, archive):
        app.command()(command)
