"""``llmcoder evaluate`` and ``llmcoder reliability``: validation against gold and agreement among coders.

``register(app)`` adds the commands to the main typer app (see ``llmcoder.cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from llmcoder.cli.errors import fail
from llmcoder.errors import InputError


def evaluate(
    gold: Annotated[Path, typer.Option(help="Gold labels: CSV or Parquet with doc_id and label (or labels).")],
    pred: Annotated[Path, typer.Option(help="Predicted labels: CSV or Parquet with doc_id and label.")],
    out: Annotated[Path, typer.Option(help="Output folder for metrics.json/.csv, per_class.csv, confusion.csv.")],
    codebook: Annotated[
        Path | None, typer.Option(help="Codebook YAML/CSV: fixes the label set, its order and the task.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="Name of the evaluated system (default: pred file stem).")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of documents for the CIs (0: none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    ci: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """Validate a coder's labels against gold labels: metrics with bootstrap CIs, per class, confusion."""
    import warnings

    from llmcoder.metrics import evaluate_files

    try:
        if codebook is not None and not codebook.is_file():
            raise InputError(str(codebook), "codebook not found", fix="check the --codebook path")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = evaluate_files(
                gold, pred, out, codebook=codebook, system=system, n_boot=n_boot, random_state=seed, ci=ci
            )
    except InputError as err:
        fail(err)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    m = result["metrics"]
    shown = (
        ("accuracy", "macro_f1", "cohen_kappa")
        if result["task"] == "single"
        else ("hamming_loss", "jaccard_samples", "micro_f1", "macro_f1")
    )
    parts = []
    for k in shown:
        lo_hi = result["ci"].get(k)
        parts.append(f"{k} {m[k]:.3f}" + (f" [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else ""))
    print(f"{out}: {result['n']} documents ({result['task']}-label); " + "; ".join(parts))


def reliability(
    ratings: Annotated[Path, typer.Argument(help="Ratings: CSV or Parquet with doc_id, coder, label.")],
    out: Annotated[Path, typer.Option(help="Output folder; reliability.csv is written there.")],
    level: Annotated[str, typer.Option(help="Measurement level: nominal, ordinal or interval.")] = "nominal",
    multilabel: Annotated[bool, typer.Option(help="Ratings are label sets: per-label and MASI alpha.")] = False,
    category: Annotated[
        list[str] | None, typer.Option(help="A category, in order (repeatable); default: observed values.")
    ] = None,
    duplicates: Annotated[str, typer.Option(help="A coder rating a document twice: error or first.")] = "error",
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of units where a bootstrap CI is used.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Agreement among coders (percent agreement, Cohen, Fleiss, Krippendorff, Gwet, Conger, BP)."""
    import warnings

    from llmcoder.io import write_csv
    from llmcoder.metrics import _read_table, check_output_file, check_settings
    from llmcoder.reliability import reliability as rel
    from llmcoder.reliability import reliability_multilabel

    target = Path(out) / "reliability.csv"
    try:
        if level not in ("nominal", "ordinal", "interval"):
            raise InputError("--level", f"'{level}' is not a measurement level",
                             fix="give --level nominal, ordinal or interval")
        if duplicates not in ("error", "first"):
            raise InputError("--duplicates", f"'{duplicates}' is not a policy for repeated ratings",
                             fix="give --duplicates error (stop and list them) or first (keep the first)")
        if multilabel and level != "nominal":
            raise InputError("--level", f"--multilabel ratings are label sets, which have no {level} order",
                             fix="leave out --level (nominal) with --multilabel")
        check_settings(n_boot=n_boot, seed=seed)
        check_output_file(target, option="--out")
        df = _read_table(ratings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if multilabel:
                table = reliability_multilabel(df, labels=category or None, n_boot=n_boot, random_state=seed)
            else:
                table = rel(
                    df,
                    level=level,
                    categories=category or None,  # type: ignore[arg-type]
                    duplicates=duplicates,
                    n_boot=n_boot,
                    random_state=seed,
                )  # type: ignore[arg-type]
    except InputError as err:
        if err.path == "ratings":
            err = InputError(str(ratings), err.what, err.problems, err.fix)
        fail(err)
    path = write_csv(table, target)
    n_units, n_coders = table["n_units"][0], table["n_coders"][0]
    print(f"{path}: {n_units} units, {n_coders} coders")
    for row in table.iter_rows(named=True):
        scope = f"{row['label']}: " if "label" in row else ""
        print(f"  {scope}{row['coefficient']:<28} {row['estimate']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``reliability`` to ``app``."""
    app.command(name="evaluate")(evaluate)
    app.command(name="reliability")(reliability)
