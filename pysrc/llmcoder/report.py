"""The publication report of a study: tables, figures and methods text, made by the R package.

Python never formats a table here: :func:`build_report` hands the study's manifest (the files of the
results contract, :mod:`llmcoder.results`) to the R package's ``read_results()`` (through
:mod:`llmcoder.rbridge`) and calls its exported verbs; R reads only the files the manifest lists.
R writes every file into a staged folder that replaces the report folder in one step, so a failed or
killed run leaves the previous report whole, and a part with no data left from an earlier run is gone.

Files written to ``<results>/<study>/report/``, each only when its input exists (the workflow
registers ``figures/*.png``, ``tables/*.html`` and ``methods.md`` for ``snakemake --report``):

==========================================  ==============================================
``tables/metrics.{tex,html,md}``            ``metrics_table()``: headline metrics with CIs
``tables/per_class.{tex,html,md}``          ``per_class_table()``
``tables/reliability.{tex,html,md}``        ``reliability_table()``
``figures/confusion_<system>.{pdf,png}``    ``confusion_plot()`` per system (single-label tasks)
``figures/learning_curve.{pdf,png}``        ``learning_curve_plot()``
``methods.md``, ``methods.tex``             ``methods_section()`` (with the markdown / latex format)
``provenance.json``                         what was written, from which inputs, with which versions
==========================================  ==============================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from llmcoder.io import provenance, write_json, write_text

__all__ = ["FORMATS", "build_report"]

Format = Literal["latex", "html", "markdown"]
#: Table formats and their file extensions.
FORMATS: dict[str, str] = {"latex": "tex", "html": "html", "markdown": "md"}
#: Parts of ``llmcoder_results`` and the R verb that tabulates each.
_TABLES = (("metrics", "metrics_table"), ("per_class", "per_class_table"),
           ("reliability", "reliability_table"))
#: What the report folder holds; it is replaced as a whole.
REPORT_FILES = ("tables", "figures", "methods.md", "methods.tex", "provenance.json")


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
    read_manifest(manifest)  # a message naming the file when it is missing or of another contract version
    results_dir = manifest.parent
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

        def table(verb: str, name: str, fmt: str) -> None:
            tbl = r_call(f"llmcoder::{verb}", results, format=fmt, digits=digits)
            r_call("llmcoder::write_table", tbl, str(tables / name))
            written.append(f"tables/{name}")

        for part, verb in _TABLES:
            if _part(results, part) is not None:
                for fmt in formats:
                    table(verb, f"{part}.{FORMATS[fmt]}", fmt)

        def figure(plot, stem: str) -> None:
            # save_figure writes <base>.pdf and <base>.png
            r_call("llmcoder::save_figure", plot, str(figures / stem), width=figure_size[0],
                   height=figure_size[1], dpi=dpi)
            written.extend(f"figures/{stem}.{ext}" for ext in ("pdf", "png"))

        task = _part(results, "task")
        confusion = _part(results, "confusion")
        if confusion is not None and task is not None and str(task[0]) == "single":
            systems = from_r(confusion)["system"].unique(maintain_order=True).to_list()
            for system in systems:
                figure(r_call("llmcoder::confusion_plot", results, system), f"confusion_{_slug(system)}")
        if _part(results, "learning_curve") is not None:
            figure(r_call("llmcoder::learning_curve_plot", results), "learning_curve")

        for fmt, name in (("markdown", "methods.md"), ("latex", "methods.tex")):
            if fmt in formats or fmt == "markdown":  # methods.md always: it is the text a reader sees first
                text = str(r_call("base::format", r_call("llmcoder::methods_section", results, format=fmt))[0])
                write_text(text + "\n", stage / name)
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
            ),
            stage / "provenance.json",
        )
    shown = Path(out_dir) if out_dir is not None else results_dir / "report"
    return [shown / name for name in (*written, "provenance.json")]
