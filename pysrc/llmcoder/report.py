"""The publication report of a study: tables, figures and methods text, made by the R package.

Python never formats a table here: :func:`build_report` hands the study's manifest (the files of the
results contract, :mod:`llmcoder.results`) to the R package's ``read_results()`` (through
:mod:`llmcoder.rbridge`) and calls its exported verbs; R reads only the files the manifest lists.
R writes every file into a staged folder that replaces the report folder in one step, so a failed or
killed run leaves the previous report whole, and a part with no data left from an earlier run is gone.
The one thing Python prepares is ``calibration.csv``: the per-document probabilities behind the
calibration diagrams are Parquet files, which the R package does not read.

Files written to ``<results>/<study>/report/``, each only when its input exists (the workflow
registers ``figures/*.png``, ``tables/*.html`` and ``methods.md`` for ``snakemake --report``):

==============================================  ==================================================
``tables/metrics.{tex,html,md}``                ``metrics_table()``: one row per system, main metrics
``tables/metrics_full.{tex,html,md}``           ``metrics_table(metrics = "all")`` (appendix)
``tables/per_class.{tex,html,md}``              ``per_class_table()`` (appendix)
``tables/reliability.{tex,html,md}``            ``reliability_table()``: kappa, alpha, AC1 with CIs
``tables/reliability_full.{tex,html,md}``       ``reliability_table(full = TRUE)`` (appendix)
``tables/verification.{tex,html,md}``           ``verification_table()``: proposals kept per LLM coder
``tables/verification_modes.{tex,html,md}``     ``verification_modes_table()``: rejection vs selection
``tables/inference.{tex,html,md}``              ``inference_table()``: findings, naive vs corrected
``tables/inference_strata.{tex,html,md}``       ``inference_table(strata = TRUE)``: with each stratum
``figures/confusion_<system>.{pdf,png}``        ``confusion_plot()`` per system (single-label tasks)
``figures/learning_curve.{pdf,png}``            ``learning_curve_plot()``: seeds, LLM coders, ceiling
``figures/positional_bias.{pdf,png}``           ``positional_bias_plot()`` (coders with rotations)
``figures/calibration.{pdf,png}``               ``calibration_plot()`` with the ECE of each system
``figures/inference.{pdf,png}``                 ``inference_plot()``: estimates and CIs by method
``calibration.csv``                             per test document: system, confidence, correct
``methods.md``, ``methods.tex``                 ``methods_section()`` (with the markdown / latex format)
``methods.json``                                every number of the methods text with its source
``provenance.json``                             what was written, from which inputs, with which versions
==============================================  ==================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any, Literal

from llmcoder.io import provenance, write_json

__all__ = ["FORMATS", "build_report"]

Format = Literal["latex", "html", "markdown"]
#: Table formats and their file extensions.
FORMATS: dict[str, str] = {"latex": "tex", "html": "html", "markdown": "md"}
#: The tables: file name, the part of ``llmcoder_results`` it needs, the R verb and its arguments.
_TABLES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("metrics", "metrics", "metrics_table", {}),
    ("metrics_full", "metrics", "metrics_table", {"metrics": "all"}),
    ("per_class", "per_class", "per_class_table", {}),
    ("reliability", "reliability", "reliability_table", {}),
    ("reliability_full", "reliability", "reliability_table", {"full": True}),
    ("verification", "acceptance", "verification_table", {}),
    ("inference", "inference", "inference_table", {}),
)
#: What the report folder holds; it is replaced as a whole.
REPORT_FILES = ("tables", "figures", "methods.md", "methods.tex", "methods.json", "calibration.csv",
                "provenance.json")
#: Equal-width confidence bins of the calibration diagrams (those of the evaluation's calibration scores).
CALIBRATION_BINS = 10  # llmcoder.metrics.CALIBRATION_BINS; a test checks that they agree


def _slug(name: str) -> str:
    """A file-name-safe form of a system name (``google/gemma 3`` -> ``google_gemma_3``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "system"


def _part(results, name: str):
    """The element ``name`` of an R list, or None when absent or NULL."""
    import rpy2.rinterface as ri

    names = list(ri.baseenv["names"](results))
    if name not in names:
        return None
    value = results[names.index(name)]
    return None if value is ri.NULL else value


def _nested(results, *names: str):
    """``results$a$b$...`` of an R list, or None where any level is absent or NULL."""
    value = results
    for name in names:
        value = _part(value, name)
        if value is None:
            return None
    return value


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(
            f"formats must be a non-empty subset of {sorted(FORMATS)}; got {list(formats)!r}"
        )
    return tuple(dict.fromkeys(formats))


def build_report(
    results_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    formats: Sequence[Format] = ("latex", "html", "markdown"),
    digits: int = 3,
    figure_size: tuple[float, float] = (6.0, 4.5),
    dpi: int = 300,
) -> list[Path]:
    """Write a study's tables, figures and methods text with the ``llmcoder`` R package.

    Parameters
    ----------
    results_dir : path
        The study's results directory (``results/<study>``, read through its ``manifest.json``), or the
        manifest itself (written by :func:`llmcoder.results.write_manifest`).
    out_dir : path, default=None
        Where to write; ``None`` means ``report/`` beside the manifest.
    formats : sequence of {"latex", "html", "markdown"}, default=("latex", "html", "markdown")
        Table formats. ``methods.tex`` is written with ``"latex"``; ``methods.md`` always.
    digits : int, default=3
        Decimals in the tables.
    figure_size : (float, float), default=(6.0, 4.5)
        Width and height of the figures in inches.
    dpi : int, default=300
        Resolution of the PNG figures.

    Returns
    -------
    list of pathlib.Path
        The files written, in writing order (``provenance.json`` last).

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` does not exist.
    ValueError
        If ``formats`` holds an unknown format.

    See Also
    --------
    llmcoder.rbridge.r_call : how the R verbs are called.

    Examples
    --------
    >>> from llmcoder.report import build_report
    >>> paths = build_report("results/demo")  # doctest: +SKIP
    >>> sorted(p.relative_to("results/demo/report").as_posix() for p in paths)[:2]  # doctest: +SKIP
    ['figures/confusion_gemma3-270m.pdf', 'figures/confusion_gemma3-270m.png']
    """
    from llmcoder.errors import InputError
    from llmcoder.io import staged_dir
    from llmcoder.metrics import check_output_folder
    from llmcoder.results import MANIFEST, read_manifest

    formats = _check_formats(formats)
    manifest = Path(results_dir)
    if manifest.is_dir():
        manifest = manifest / MANIFEST
    elif not manifest.exists():
        raise FileNotFoundError(f"{results_dir}: results directory not found; run the workflow first")
    doc = read_manifest(manifest)  # a message naming the file when it is missing or of another contract version
    results_dir = manifest.parent
    for f in doc.get("files", []):  # the report describes the run as listed: every file, not only those R reads
        _check_listed(results_dir, f)
    if digits < 0 or dpi < 1 or min(figure_size) <= 0:
        raise InputError("report settings", f"digits {digits}, dpi {dpi} and figure size {figure_size} must be "
                         "positive", fix="give digits >= 0, dpi >= 1 and a positive width and height")
    out = check_output_folder(out_dir if out_dir is not None else results_dir / "report", REPORT_FILES,
                              option="out_dir", what="report")
    from llmcoder.rbridge import from_r, r_call, r_session

    ri = r_session()
    results = r_call("llmcoder::read_results", str(manifest))  # before the staged folder exists beside it
    written: list[str] = []
    check_output_folder(out, REPORT_FILES, option="out_dir", what="report", claim=True)
    with staged_dir(out) as stage:
        tables, figures = stage / "tables", stage / "figures"
        for folder in (tables, figures):  # both always exist: the workflow declares them as outputs
            folder.mkdir()

        def table(verb: str, name: str, fmt: str, args: dict[str, Any]) -> None:
            tbl = r_call(f"llmcoder::{verb}", results, format=fmt, digits=digits, **args)
            r_call("llmcoder::write_table", tbl, str(tables / name))
            written.append(f"tables/{name}")

        for name, part, verb, args in _TABLES:
            if _part(results, part) is not None:
                for fmt in formats:
                    table(verb, f"{name}.{FORMATS[fmt]}", fmt, args)
        if _nested(results, "records", "verification", "timing", "by_mode") is not None:
            for fmt in formats:  # verify.selection_share: the browser's two modes compared
                table("verification_modes_table", f"verification_modes.{FORMATS[fmt]}", fmt, {})
        inference = _part(results, "inference")
        findings = from_r(inference) if inference is not None else None
        if findings is not None and (findings["stratum"].fill_null("") != "").any():
            for fmt in formats:  # the shares within each stratum (by party, by year)
                table("inference_table", f"inference_strata.{FORMATS[fmt]}", fmt, {"strata": True})

        def figure(plot, stem: str, size: tuple[float, float] = figure_size) -> None:
            # save_figure writes <base>.pdf and <base>.png
            r_call("llmcoder::save_figure", plot, str(figures / stem), width=size[0], height=size[1], dpi=dpi)
            written.extend(f"figures/{stem}.{ext}" for ext in ("pdf", "png"))

        task = _part(results, "task")
        confusion = _part(results, "confusion")
        if confusion is not None and task is not None and str(task[0]) == "single":
            systems = from_r(confusion)["system"].unique(maintain_order=True).to_list()
            for system in systems:
                figure(r_call("llmcoder::confusion_plot", results, system), f"confusion_{_slug(system)}")
        if _part(results, "learning_curve") is not None:
            figure(r_call("llmcoder::learning_curve_plot", results), "learning_curve")
        bias = _part(results, "bias")
        if bias is not None and _part(bias, "positional") is not None:
            figure(r_call("llmcoder::positional_bias_plot", results), "positional_bias",
                   (figure_size[0], max(2.5, figure_size[1] * 0.6)))
        if findings is not None:  # one row per share and coefficient (no intercept), dodged by method
            import polars as pl

            shown = findings.filter((pl.col("stratum").fill_null("") == "") & (pl.col("term") != "Intercept"))
            n_items = shown.select("estimand", "label", "term").unique().height
            figure(r_call("llmcoder::inference_plot", results), "inference",
                   (figure_size[0], max(figure_size[1], 2.2 + 0.55 * n_items)))
        calibration = calibration_data(manifest)
        ece: dict[str, float] = {}
        if calibration.height > 0:
            calibration.write_csv(stage / "calibration.csv")
            written.append("calibration.csv")
            ece = expected_calibration_error(calibration)
            n_panels = calibration["system"].n_unique()
            cols, rows = min(3, n_panels), -(-n_panels // 3)
            figure(r_call("llmcoder::calibration_plot", str(stage / "calibration.csv"), bins=CALIBRATION_BINS),
                   "calibration", (2.6 * cols + 0.6, 2.6 * rows + 1.4))

        for fmt, name in (("markdown", "methods.md"), ("latex", "methods.tex")):
            if fmt in formats or fmt == "markdown":  # methods.md always: it is the text a reader sees first
                methods = r_call("llmcoder::methods_section", results, format=fmt)
                if fmt == "markdown":  # the sources of its numbers: methods.json beside it
                    r_call("llmcoder::write_methods", methods, str(stage / name), sources=str(stage / "methods.json"))
                    written.extend([name, "methods.json"])
                else:
                    r_call("llmcoder::write_methods", methods, str(stage / name), sources=None)
                    written.append(name)

        missing = [name for name in written if not (stage / name).is_file()]
        if missing:  # an R verb that returned without writing: fail rather than publish a partial report
            raise RuntimeError(f"the R package did not write {', '.join(missing)}")
        r_version = str(ri.baseenv["R.version.string"][0])
        pkg_version = str(r_call("base::as.character", r_call("utils::packageVersion", "llmcoder"))[0])
        write_json(
            provenance(
                step="report",
                results_dir=str(results_dir),
                manifest=MANIFEST,
                formats=list(formats),
                files=list(written),
                r_version=r_version,
                llmcoder_r_version=pkg_version,
                calibration_bins=CALIBRATION_BINS if ece else None,
                calibration_ece=ece or None,
            ),
            stage / "provenance.json",
        )
    shown = Path(out_dir) if out_dir is not None else results_dir / "report"
    return [shown / name for name in (*written, "provenance.json")]


# --- calibration: the per-document probabilities behind the reliability diagrams ---------------------


def _listed(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The manifest's entries of ``key``."""
    return [f for f in doc.get("files", []) if f.get("key") == key]


def _check_listed(root: Path, f: dict[str, Any]) -> Path:
    """The path of a file the manifest lists, refused (InputError) when missing or changed since the run."""
    import hashlib

    from llmcoder.errors import InputError

    path = root / f["path"]
    if not path.is_file():
        raise InputError(str(path), "listed in the manifest but missing", fix="rerun the workflow for this study")
    if f.get("md5") and hashlib.md5(path.read_bytes()).hexdigest() != str(f["md5"]).lower():
        raise InputError(str(path), "changed since the manifest was written",
                         fix="rerun the workflow for this study; it rewrites the files and the manifest")
    return path


def _read_listed(root: Path, f: dict[str, Any]):
    """A Parquet file the manifest lists, refused (InputError) when it changed since the run."""
    import polars as pl

    return pl.read_parquet(_check_listed(root, f))


def calibration_data(manifest: str | os.PathLike[str]):
    """Per test document (single-label) or document and label (multi-label), each system's probability.

    Reads, through the manifest, the corpus (gold labels), the splits (the test documents), each LLM
    coder's codings under the codebook's label order (rotation 0) and the test predictions of each
    fine-tuned model's job that coded the corpus (else its largest training size, first seed). Single-label:
    ``confidence`` is the probability of the label the system gave, ``correct`` whether it is gold (kind
    ``top label``); multi-label: one row per label, ``correct`` whether it applies (kind ``per label``).
    The rows are those the evaluation's calibration scores were computed from
    (:func:`llmcoder.metrics.calibration_rows`, with the labels of the system's evaluation record): a
    document without a probability for every label (NaN: no valid answer) is left out; one without a
    chosen label is never correct, as in the evaluation. Only systems that were evaluated are included;
    an empty frame when the manifest lists no probabilities.
    """
    import json

    import polars as pl

    from llmcoder.metrics import calibration_rows
    from llmcoder.results import read_manifest

    manifest = Path(manifest)
    doc = read_manifest(manifest)
    root = manifest.parent
    schema = {"system": pl.Utf8, "doc_id": pl.Utf8, "label": pl.Utf8, "confidence": pl.Float64,
              "correct": pl.Boolean, "kind": pl.Utf8}
    empty = pl.DataFrame(schema=schema)
    corpus, splits = _listed(doc, "corpus"), _listed(doc, "splits")
    records = {str(f.get("wildcards", {}).get("system")): f for f in _listed(doc, "evaluation_record")}
    evaluated = list(records)
    if not corpus or not splits or not evaluated:
        return empty
    gold = _read_listed(root, corpus[0])
    test = _read_listed(root, splits[0]).filter(pl.col("split") == "test").select("doc_id")
    multi = "labels" in gold.columns and "label" not in gold.columns
    col = "labels" if multi else "label"
    if col not in gold.columns:
        return empty
    gold = gold.select("doc_id", col).join(test, on="doc_id").filter(pl.col(col).is_not_null())

    sources: list[tuple[str, dict[str, Any]]] = []
    for f in _listed(doc, "coder_codings"):
        sources.append((str(f.get("wildcards", {}).get("coder")), f))
    jobs: dict[str, list[dict[str, Any]]] = {}
    for f in _listed(doc, "finetune_test_predictions"):
        jobs.setdefault(str(f.get("wildcards", {}).get("model")), []).append(f)
    for model, files in jobs.items():
        sources.append((model, _corpus_job(root, doc, model, files)))

    frames = []
    for system, f in sources:
        if system not in evaluated:
            continue
        probs = _read_listed(root, f)
        if "rotation" in probs.columns:
            probs = probs.filter(pl.col("rotation") == 0)
        probs = probs.join(gold.select("doc_id"), on="doc_id")
        if probs.height == 0:
            continue
        record = json.loads(_check_listed(root, records[system]).read_text(encoding="utf-8"))
        out = calibration_rows(gold.rename({col: "labels" if multi else "label"}), probs,
                               labels=[str(x) for x in record["labels"]], task="multi" if multi else "single")
        out = out.with_columns(pl.lit(system).alias("system")).select(list(schema)).cast(schema)  # type: ignore[arg-type]
        frames.append(out.sort(["doc_id", "label"]))
    if not frames:
        return empty
    return pl.concat(frames)


def _corpus_job(root: Path, doc: dict[str, Any], model: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The test predictions the evaluation of ``model`` scored (its provenance names them), else those of
    the job whose model coded the corpus, else of the largest size, lowest seed."""
    import json

    for p in _listed(doc, "evaluation_provenance"):
        if str(p.get("wildcards", {}).get("system")) != model:
            continue
        try:
            scored = json.loads((root / p["path"]).read_text(encoding="utf-8")).get("predictions")
        except (OSError, ValueError):
            scored = None
        if scored:
            parts = PurePath(str(scored)).parts
            for f in files:
                own = PurePath(f["path"]).parts
                if parts[-len(own):] == own:
                    return f
    for p in _listed(doc, "corpus_predictions_provenance"):
        if str(p.get("wildcards", {}).get("model")) != model:
            continue
        try:
            artifact = str(json.loads((root / p["path"]).read_text(encoding="utf-8")).get("artifact", ""))
        except (OSError, ValueError):
            break
        for f in files:
            if f"{PurePath(f['path']).parent}/" in f"{artifact}/":
                return f

    def order(f: dict[str, Any]) -> tuple[float, float]:
        wc = f.get("wildcards", {})
        return (-float(wc.get("size", 0)), float(wc.get("seed", 0)))

    return sorted(files, key=order)[0]


def expected_calibration_error(data, bins: int = CALIBRATION_BINS) -> dict[str, float]:
    """ECE of each system of the calibration data (:func:`llmcoder.metrics.expected_calibration_error`:
    equal-width bins, [low, high), the last bin closed, as the R package's ``calibration_bins()``)."""
    from llmcoder.metrics import expected_calibration_error as ece

    return {str(system): ece(d["confidence"].to_numpy(), d["correct"].cast(float).to_numpy(), bins)
            for (system,), d in data.group_by("system", maintain_order=True)}
