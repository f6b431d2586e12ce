"""``llmcoder infer`` and ``llmcoder plan``: valid estimates from surrogate labels, and the sample size to label.

``register(app)`` adds the commands to the main typer app (see ``llmcoder.cli``). The estimators and
the sample design are in :mod:`llmcoder.inference`, the sample-size plans in :mod:`llmcoder.planning`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from llmcoder.cli.errors import fail
from llmcoder.errors import InputError


def infer(
    predictions: Annotated[
        Path,
        typer.Option(
            help="Surrogate labels of every corpus document: CSV or Parquet with doc_id, label (and prob, chosen)."
        ),
    ],
    sample: Annotated[
        Path,
        typer.Option(
            help="Human labels of the labelled sample: CSV or Parquet with doc_id, label and pi (inclusion "
            "probability; default n/N)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder; estimates.csv is written there.")],
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Corpus CSV or Parquet with doc_id and the columns --strata and --formula use; fixes the population."
        ),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option(help="A label to estimate the prevalence of (repeatable; default: every label).")
    ] = None,
    strata: Annotated[
        list[str] | None, typer.Option(help="A corpus column: prevalence per value too (repeatable).")
    ] = None,
    formula: Annotated[
        list[str] | None,
        typer.Option(
            help="A regression, e.g. 'label == \"Health\" ~ chamber' (repeatable; covariates are corpus columns)."
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Regression model of the formulas: linear or logistic.")] = "linear",
    method: Annotated[
        list[str] | None, typer.Option(help="naive, classical, ppi or dsl (repeatable; default: all four).")
    ] = None,
    surrogate: Annotated[
        str, typer.Option(help="auto (probabilities where every label has one), prob or hard (0/1 labels).")
    ] = "auto",
    design: Annotated[
        str | None,
        typer.Option(
            help="Name of the sample design written with the estimates (default: uniform, or weighted for unequal pi)."
        ),
    ] = None,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
) -> None:
    """Estimate prevalences and regressions from surrogate labels and a labelled sample (naive, classical, PPI, DSL)."""
    import math

    from llmcoder.inference import METHODS, infer_files

    try:
        table, notes = infer_files(
            predictions,
            sample,
            out,
            corpus=corpus,
            labels=label or None,
            strata=strata or (),
            formulas=formula or (),
            model=model,
            methods=method or METHODS,  # type: ignore[arg-type]
            surrogate=surrogate,
            design=design,
            level=level,  # type: ignore[arg-type]
        )
    except InputError as err:
        fail(err)
    for note in notes:
        print(note if note.startswith("warning:") else f"note: {note}", file=sys.stderr)
    first = table.row(0, named=True)
    print(
        f"{out / 'estimates.csv'}: {table.height} estimates, {first['n_labelled']} labelled of "
        f"{first['n_unlabelled']} documents, design {first['design']}"
    )
    shown = table.filter(
        (table["stratum"] == "") & ((table["estimand"] == "prevalence") | (table["term"] != "Intercept"))
    )
    for r in shown.iter_rows(named=True):
        what = r["label"] if r["estimand"] == "prevalence" else f"{r['label']}: {r['term']}"
        est = (
            "      nan"
            if math.isnan(r["estimate"])
            else f"{r['estimate']:9.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
        )
        lam = f"  lambda {r['lambda']:.2f}" if r["lambda"] is not None else ""
        print(f"  {what[:40]:<40} {r['method']:<9} {est}{lam}")


def plan(
    half_width: Annotated[float, typer.Option(help="Target half-width of the confidence interval (e.g. 0.05).")],
    estimand: Annotated[
        str,
        typer.Option(
            help="kappa (a coder against gold), prevalence (of a label) or coefficient (of a regression, from a pilot)."
        ),
    ] = "prevalence",
    kappa: Annotated[float | None, typer.Option(help="kappa: the expected Cohen's kappa.")] = None,
    agreement: Annotated[
        float | None, typer.Option(help="kappa: the expected share of documents coded alike (instead of --kappa).")
    ] = None,
    categories: Annotated[
        int | None, typer.Option(help="kappa: number of categories (taken as equally common).")
    ] = None,
    prevalence: Annotated[float | None, typer.Option(help="prevalence: the expected share of the label.")] = None,
    accuracy: Annotated[
        float | None,
        typer.Option(help="prevalence: share of pilot documents where the surrogate's 0/1 label is right."),
    ] = None,
    correlation: Annotated[
        float | None,
        typer.Option(help="prevalence: correlation of label and surrogate in a pilot (instead of --accuracy)."),
    ] = None,
    residual_variance: Annotated[
        float | None, typer.Option(help="prevalence: Var(label - surrogate) in a pilot (instead of --accuracy).")
    ] = None,
    surrogate_variance: Annotated[
        float | None, typer.Option(help="prevalence: Var(surrogate) (default p(1-p)).")
    ] = None,
    corpus_size: Annotated[
        int | None, typer.Option(help="prevalence: N, the documents with a surrogate label.")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="coefficient: surrogate labels of every corpus document (as for llmcoder infer)."),
    ] = None,
    sample: Annotated[
        Path | None,
        typer.Option(help="coefficient: the labelled pilot sample, doc_id, label and pi (as for llmcoder infer)."),
    ] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="coefficient: the corpus, with doc_id and the formula's columns.")
    ] = None,
    formula: Annotated[
        str | None, typer.Option(help="coefficient: the regression, e.g. 'label == \"health\" ~ party'.")
    ] = None,
    term: Annotated[
        list[str] | None,
        typer.Option(help="coefficient: a term, e.g. party[T.Labour] (repeatable; default: all but the intercept)."),
    ] = None,
    model: Annotated[str, typer.Option(help="coefficient: linear or logistic regression.")] = "linear",
    surrogate: Annotated[
        str, typer.Option(help="coefficient: auto (probabilities where every label has one), prob or hard.")
    ] = "auto",
    level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
) -> None:
    """How many documents to label for a confidence-interval half-width of kappa, a prevalence or a coefficient."""
    from llmcoder.planning import plan_sample_size

    try:
        if estimand not in ("kappa", "prevalence", "coefficient"):
            raise InputError(
                "--estimand", f"'{estimand}' is not an estimand", fix="give --estimand kappa, prevalence or coefficient"
            )
        if not 0 < level < 1:
            raise InputError("--level", f"{level:g} is not a confidence level", fix="give a level such as 0.95")
        if estimand == "coefficient":
            _plan_coefficient(predictions, sample, corpus, formula, term, half_width, model, surrogate, level)
            return
        if estimand == "kappa" and kappa is None and agreement is None:
            raise InputError(
                "--kappa",
                "planning for kappa needs the expected --kappa or --agreement",
                fix="give e.g. --kappa 0.7 --categories 5",
            )
        if estimand == "kappa" and categories is None:
            raise InputError(
                "--categories", "planning for kappa needs the number of categories", fix="give e.g. --categories 5"
            )
        if estimand == "prevalence" and prevalence is None:
            raise InputError(
                "--prevalence",
                "planning for a prevalence needs the expected --prevalence",
                fix="give e.g. --prevalence 0.2 --accuracy 0.9 --corpus-size 10000",
            )
        try:
            r = plan_sample_size(
                half_width,
                estimand=estimand,
                level=level,
                kappa=kappa,  # type: ignore[arg-type]
                agreement=agreement,
                n_categories=categories,
                prevalence=prevalence,
                accuracy=accuracy,
                correlation=correlation,
                residual_variance=residual_variance,
                surrogate_variance=surrogate_variance,
                n_unlabelled=corpus_size,
            )
        except ValueError as err:
            raise InputError("plan", str(err), fix="check the numbers given (see llmcoder plan --help)") from err
    except InputError as err:
        fail(err)
    pct = f"{level:.0%}"
    if estimand == "kappa":
        print(
            f"kappa {r['kappa']:.3f} (agreement {r['agreement']:.3f}, chance {r['chance_agreement']:.3f}): label "
            f"{r['n']} documents for a {pct} CI of +/- {half_width:g} (SE {r['se']:.4f}; Fleiss, Cohen & Everitt "
            "1969)"
        )
        return

    def shown(n: int) -> str:
        return f"{n}" + (
            "  (not reachable: more than the corpus)" if corpus_size is not None and n > corpus_size else ""
        )

    print(f"prevalence {prevalence:g}, {pct} CI of +/- {half_width:g}: documents to label")
    print(f"  classical (labelled only)  {shown(r['n_classical'])}")
    if accuracy is None and correlation is None and residual_variance is None:
        print("  (give --accuracy, --correlation or --residual-variance from a pilot for PPI++ and DSL)")
        return
    print(f"  PPI++ (lambda {r['lambda']:.2f})        {shown(r['n_ppi'])}")
    print(f"  DSL (about lambda = 1)     {shown(r['n_dsl'])}")


def _plan_coefficient(
    predictions: Path | None,
    sample: Path | None,
    corpus: Path | None,
    formula: str | None,
    terms: list[str] | None,
    half_width: float,
    model: str,
    surrogate: str,
    level: float,
) -> None:
    """``plan --estimand coefficient``: the plan from a pilot, one line per (term, method); InputError on bad input."""
    from llmcoder.planning import plan_coefficient_files

    given = {"--predictions": predictions, "--sample": sample, "--corpus": corpus, "--formula": formula}
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise InputError(
            missing[0],
            f"planning for a coefficient needs {', '.join(missing)} (a pilot)",
            fix="give e.g. --predictions P --sample S --corpus C --formula 'label == \"health\" ~ party'",
        )
    if surrogate not in ("auto", "prob", "hard"):
        raise InputError("--surrogate", f"'{surrogate}' is not a surrogate kind", fix="give auto, prob or hard")
    assert predictions is not None and sample is not None and corpus is not None and formula is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, notes = plan_coefficient_files(
            predictions,
            sample,
            corpus,
            formula,
            half_width,
            terms=terms or None,
            model=model,  # type: ignore[arg-type]
            surrogate=surrogate,  # type: ignore[arg-type]
            level=level,
        )
    for w in caught:  # deprecations stay warnings (the tests turn ours into errors); the rest become notes
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            notes.append(f"warning: {w.message}")
    for note in notes:
        print(note if note.startswith("warning:") else f"note: {note}", file=sys.stderr)
    first = plan.row(0, named=True)
    n0, N = first["n_pilot"], first["n_corpus"]
    print(f"{formula} ({model}), {level:.0%} CI of +/- {half_width:g}; pilot {n0} labelled of {N}: documents to label")
    names = {"classical": "classical (labelled only)", "dsl": "DSL"}
    width = max(len(t) for t in plan["term"])
    for r in plan.iter_rows(named=True):
        method = f"PPI++ (lambda {r['lambda']:.2f})" if r["method"] == "ppi" else names[r["method"]]
        if not r["reachable"]:
            n = f"not reachable: +/- {r['ci_half_width']:.3g} with all {N} labelled"
        else:
            n = f"{r['n']}" + (f"  (the pilot's {n0} suffice)" if r["n"] <= n0 else "")
        print(f"  {r['term']:<{width}}  {method:<26} {n}")


def register(app: typer.Typer) -> None:
    """Add ``infer`` and ``plan`` to ``app``."""
    app.command(name="infer")(infer)
    app.command(name="plan")(plan)
