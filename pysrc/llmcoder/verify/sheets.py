"""Verification sheets: the LLM coders' proposals, one row per (document, proposed label), to reject.

People are faster at spotting what does not apply than at choosing what does, so a human coder sees
each document with the labels the LLM coders proposed and marks the wrong ones ``reject``. Sheets
are blind (no model name, no confidence, labels in a random order per document), assigned across
human coders with a share of documents given to several of them for reliability, and carry the
study id and a checksum so that ingest can tell that a filled sheet belongs to this study and that
no row was changed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from llmcoder import __version__
from llmcoder.codebook import Codebook, load_codebook
from llmcoder.errors import InputError, Problem
from llmcoder.io import atomic_path, provenance, staged_dir, write_json
from llmcoder.verify._common import (
    DATA_SHEET,
    FINISHED_DATE_CELL,
    FINISHED_ITEM,
    FINISHED_NAME_CELL,
    FINISHED_SHEET,
    LABELS_SHEET,
    MANIFEST_KIND,
    MAX_CELL,
    META_SHEET,
    SHEET_COLUMNS,
    SHEET_KIND,
    TRUNCATED,
    Sheets,
    frame_rows,
    order_key,
    sheet_checksum,
)
from llmcoder.verify.proposals import ProposalPolicy, propose, set_summary

Route = Literal["none", "uncertain_first"]
_CODER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
CODING_COLUMNS = ("doc_id", "coder_id", "label", "chosen")


# -- inputs ----------------------------------------------------------------------------------------

def read_codings(codings: pl.DataFrame | str | os.PathLike[str] | Sequence[Any]) -> pl.DataFrame:
    """LLM codings in long format from a frame, a Parquet file, a folder of them, or a list of these."""
    if isinstance(codings, pl.DataFrame):
        return codings
    if isinstance(codings, (str, os.PathLike)):
        p = Path(codings)
        if p.is_dir():
            files = sorted(p.glob("*.parquet"))
            if not files:
                raise InputError(str(p), "no LLM codings (*.parquet) in this folder",
                                 fix="run the LLM coders first (results/<study>/coders/<coder_id>.parquet)")
            return read_codings(files)
        if not p.is_file():
            raise InputError(str(p), "LLM codings file not found", fix="check the path")
        try:
            return pl.read_parquet(p)
        except Exception as e:
            raise InputError(str(p), f"not a readable Parquet file ({e})", fix="run the LLM coder again") from e
    frames = [read_codings(c) for c in codings]
    if not frames:
        raise InputError("<codings>", "no LLM codings given", fix="pass at least one coders/<coder_id>.parquet")
    return pl.concat(frames, how="diagonal_relaxed")


def _clean(text: str | None) -> str:
    """Cell text: line breaks normalised, characters XLSX cannot hold removed, Excel's length limit kept."""
    t = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    t = _ILLEGAL.sub("", t)
    return t if len(t) <= MAX_CELL else t[: MAX_CELL - len(TRUNCATED)] + TRUNCATED


def _check_coders(coders: Sequence[str]) -> list[str]:
    coders = [str(c).strip() for c in coders]
    problems = [Problem(f"coder name '{c}' must be letters, digits, '_', '.', '-' (it names a file)")
                for c in coders if not _CODER_RE.match(c)]
    dups = sorted({c for c in coders if coders.count(c) > 1})
    problems += [Problem(f"coder '{c}' is named twice") for c in dups]
    if not coders:
        problems.append(Problem("no human coders named"))
    if problems:
        raise InputError("verify.coders", "invalid list of human coders", problems,
                         fix="name each human coder once, e.g. coders: [anna, ben, chiara]")
    return coders


def _proposals(codings: pl.DataFrame, corpus_ids: set[str], codebook: Codebook, *,
               policy: ProposalPolicy, thresholds: Mapping[str, Mapping[str, Any]] | None,
               rotations: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    missing = [c for c in CODING_COLUMNS if c not in codings.columns]
    if missing:
        raise InputError("<codings>", f"column(s) {missing} missing from the LLM codings",
                         fix=f"LLM codings need {', '.join(CODING_COLUMNS)} (rotation and prob optional)")
    c = codings.with_columns(
        pl.col("doc_id").cast(pl.Utf8), pl.col("coder_id").cast(pl.Utf8), pl.col("label").cast(pl.Utf8),
        pl.col("chosen").cast(pl.Boolean).fill_null(False),
        (pl.col("rotation").cast(pl.Int64) if "rotation" in codings.columns else pl.lit(0, pl.Int64)).alias("rotation"),
        (pl.col("prob").cast(pl.Float64) if "prob" in codings.columns else pl.lit(None, pl.Float64)).alias("prob"),
    ).filter(pl.col("label").is_not_null())
    if rotations == "first":
        c = c.filter(pl.col("rotation") == 0)
    elif rotations != "all":
        raise ValueError(f"rotations must be 'first' or 'all', not {rotations!r}")
    problems: list[Problem] = []
    unknown_docs = sorted(set(c["doc_id"].unique().to_list()) - corpus_ids)
    if unknown_docs:
        problems.append(Problem(f"{len(unknown_docs)} document(s) not in the corpus, e.g. "
                                + ", ".join(repr(d) for d in unknown_docs[:5])))
    unknown_labels = sorted(set(c["label"].unique().to_list()) - set(codebook.ids))
    problems += [Problem(f"label '{lab}' is not in the codebook") for lab in unknown_labels[:20]]
    if problems:
        raise InputError("<codings>", "LLM codings that do not match the corpus or codebook", problems,
                         fix="code this corpus with this codebook again, or pass the matching files")
    props = (propose(c, policy, thresholds=thresholds, rotations=rotations).group_by("doc_id", "label")
             .agg(pl.col("coder_id").unique().sort().alias("llm_coders"))
             .sort("doc_id", "label"))
    return props, c


def _set_summary(props: pl.DataFrame, corpus: pl.DataFrame, cb: Codebook) -> dict[str, Any]:
    """Mean proposed-set size and, where the corpus has gold labels, the realised coverage."""
    col = "labels" if cb.task == "multi" else "label"
    gold = dict(corpus.select("doc_id", col).iter_rows()) if col in corpus.columns else {}
    return set_summary(props.select("doc_id", "label"), gold)


def _uncertainty(c: pl.DataFrame, uncertain_below: float) -> pl.DataFrame:
    """Per document: do the LLM coders (and rotations) disagree, and is the top chosen prob low?"""
    sets = (c.group_by("doc_id", "coder_id", "rotation")
            .agg(pl.col("label").filter(pl.col("chosen")).sort().str.join("|").alias("set"),
                 pl.col("prob").filter(pl.col("chosen")).max().alias("pmax")))
    return (sets.group_by("doc_id")
            .agg((pl.col("set").n_unique() > 1).alias("disagree"), pl.col("pmax").max().alias("pmax"))
            .with_columns(uncertain=pl.col("disagree") | (pl.col("pmax") < uncertain_below).fill_null(False)))


# -- assignment -----------------------------------------------------------------------------------

def _assign(docs: list[str], n_rows: dict[str, int], coders: list[str], *, overlap: float,
            overlap_coders: int, rng: np.random.Generator) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """Random order of documents; the first ``overlap`` share go to ``overlap_coders`` coders each,
    the rest to one; each document goes to the coders with the fewest rows so far."""
    order = [docs[i] for i in rng.permutation(len(docs))]
    n_overlap = int(round(overlap * len(order))) if len(coders) > 1 else 0
    shared = set(order[:n_overlap])
    load = dict.fromkeys(coders, 0)
    assigned: dict[str, list[str]] = {}
    for d in order:
        k = overlap_coders if d in shared else 1
        ties = rng.random(len(coders))
        pick = sorted(range(len(coders)), key=lambda i: (load[coders[i]], ties[i]))[:k]
        assigned[d] = sorted(coders[i] for i in pick)
        for i in pick:
            load[coders[i]] += n_rows[d]
    return order, assigned, shared


def make_sheets(
    corpus: pl.DataFrame | str | os.PathLike[str],
    codings: pl.DataFrame | str | os.PathLike[str] | Sequence[Any],
    codebook: Codebook | str | os.PathLike[str],
    *,
    coders: Sequence[str],
    overlap: float = 0.2,
    overlap_coders: int = 2,
    min_prob: float | None = None,
    policy: ProposalPolicy | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    rotations: Literal["first", "all"] = "first",
    route: Route = "none",
    uncertain_below: float = 0.5,
    random_state: int = 0,
) -> Sheets:
    """Build one verification sheet per human coder from the LLM coders' proposals.

    Args:
        corpus: Canonical corpus (``doc_id``, ``text``...) or its Parquet path.
        codings: LLM codings in long format (``doc_id, coder_id, rotation, label, prob, chosen``):
            a frame, a Parquet file, a folder of ``<coder_id>.parquet`` or a list of these.
        codebook: The codebook (or its path): label names and definitions shown on the sheets.
        coders: The human coders' names (they name the sheet files).
        overlap: Share of documents given to ``overlap_coders`` coders each (for reliability).
        overlap_coders: How many coders see each overlap document (2 or more).
        min_prob: Also propose every label whose probability is at least this (besides the chosen).
        policy: How many labels each LLM coder proposes (:class:`ProposalPolicy`: chosen, top_k, mass,
            conformal); default: the chosen labels (and ``min_prob``).
        thresholds: The conformal thresholds per LLM coder (:func:`conformal_thresholds`), for
            ``policy="conformal"``.
        rotations: ``"first"``: the proposals of rotation 0; ``"all"``: of every rotation.
        route: ``"uncertain_first"`` puts the documents the LLM coders disagree on, or whose
            highest chosen probability is below ``uncertain_below``, at the top of each sheet.
        uncertain_below: Probability threshold of ``route="uncertain_first"``.
        random_state: Seed of the assignment and of the order of documents and labels.

    Returns:
        :class:`Sheets`: ``{coder: frame}`` with columns ``item, doc_id, text, label, label_name,
        definition, decision, comment`` (decision and comment empty); a document's rows are
        consecutive and its labels in random order. Documents without any proposal get no row.
    """
    from llmcoder.corpus import read_corpus

    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    corpus_df = corpus if isinstance(corpus, pl.DataFrame) else read_corpus(corpus)
    coders = _check_coders(coders)
    if not 0 <= overlap <= 1:
        raise InputError("--overlap (verify.overlap)", f"{overlap} is not a share between 0 and 1",
                         fix="give the share of documents that several coders verify, e.g. 0.2 for 20%")
    if overlap > 0 and len(coders) > 1 and not 2 <= overlap_coders <= len(coders):
        raise InputError("verify.overlap_coders",
                         f"{overlap_coders} coders per overlap document, but {len(coders)} coders named",
                         fix="set overlap_coders between 2 and the number of human coders")
    if route not in ("none", "uncertain_first"):
        raise ValueError(f"route must be 'none' or 'uncertain_first', not {route!r}")
    texts = dict(zip(corpus_df["doc_id"].cast(pl.Utf8).to_list(), corpus_df["text"].to_list(), strict=True))
    policy = policy or ProposalPolicy(min_prob=min_prob)
    if policy.policy == "conformal" and thresholds is None:
        raise InputError("verify.proposals", "conformal label sets need a gold calibration sample",
                         fix="give thresholds from conformal_thresholds() on gold documents (the workflow uses "
                             "the dev split)")
    props, clean = _proposals(read_codings(codings), set(texts), cb, policy=policy, thresholds=thresholds,
                              rotations=rotations)
    unc = _uncertainty(clean, uncertain_below)
    uncertain = dict(zip(unc["doc_id"].to_list(), unc["uncertain"].to_list(), strict=True))
    labels_of: dict[str, list[str]] = {}
    for d, lab in props.select("doc_id", "label").iter_rows():
        labels_of.setdefault(d, []).append(lab)
    for d, labs in labels_of.items():
        labs.sort(key=lambda lab, d=d: order_key(random_state, d, lab))
    docs = sorted(labels_of)
    rng = np.random.default_rng(random_state)
    order, assigned, shared = _assign(docs, {d: len(v) for d, v in labels_of.items()}, coders,
                                      overlap=overlap, overlap_coders=overlap_coders, rng=rng)
    position = {d: i for i, d in enumerate(order)}
    if route == "uncertain_first":
        order = sorted(order, key=lambda d: (not uncertain.get(d, False), position[d]))
    names = cb.names
    defs = {lab.id: _clean(lab.definition) for lab in cb.labels}
    frames: dict[str, pl.DataFrame] = {}
    for coder in coders:
        rows: dict[str, list[Any]] = {c: [] for c in SHEET_COLUMNS}
        for d in order:
            if coder not in assigned[d]:
                continue
            text = _clean(texts[d])
            for lab in labels_of[d]:
                rows["item"].append(len(rows["item"]) + 1)
                rows["doc_id"].append(d)
                rows["text"].append(text)
                rows["label"].append(lab)
                rows["label_name"].append(_clean(names[lab]))
                rows["definition"].append(defs[lab])
                rows["decision"].append(None)
                rows["right_label"].append(None)
                rows["comment"].append(None)
        frames[coder] = pl.DataFrame(rows, schema={c: (pl.Int64 if c == "item" else pl.Utf8)
                                                   for c in SHEET_COLUMNS})
    assignments = pl.DataFrame({
        "doc_id": order,
        "coders": [assigned[d] for d in order],
        "overlap": [d in shared for d in order],
        "uncertain": [bool(uncertain.get(d, False)) for d in order],
        "n_labels": [len(labels_of[d]) for d in order],
    }, schema={"doc_id": pl.Utf8, "coders": pl.List(pl.Utf8), "overlap": pl.Boolean,
               "uncertain": pl.Boolean, "n_labels": pl.Int64})
    settings = {"coders": coders, "overlap": overlap, "overlap_coders": overlap_coders,
                "min_prob": policy.min_prob, "rotations": rotations, "route": route,
                "proposals": {**policy.to_dict(), "thresholds": dict(thresholds or {}),
                              **_set_summary(props, corpus_df, cb)},
                "uncertain_below": uncertain_below, "random_state": random_state,
                "n_documents": len(docs), "n_overlap_documents": len(shared),
                "documents_without_proposals": sorted(set(texts) - set(docs))}
    return Sheets(frames, proposals=props, assignments=assignments, settings=settings, codebook=cb)


# -- writing ---------------------------------------------------------------------------------------

_WIDTHS = {"item": 7, "doc_id": 16, "text": 70, "label": 14, "label_name": 24, "definition": 50,
           "decision": 11, "right_label": 24, "comment": 28}
_WRAP = {"text", "label_name", "definition", "comment"}

INSTRUCTIONS = """\
How to fill this sheet

Each row shows a document and one label that was proposed for it.
Read the text and the label's definition, then decide with one of two words in the decision column:
  reject  the label does NOT apply to the text (x also means reject)
  keep    the label applies (an empty cell also means keep)
Any other word (yes, no, 1, 0 ...) is refused when the sheet is read back, because it could mean
either.

If you reject every label proposed for a document, pick the label that does apply in the column
right_label (from the drop-down of the codebook's labels) on one of its rows; leave it empty when
you keep a proposed label, or when no label of the codebook applies.

A document's rows are next to each other; judge each label on its own. You may sort or filter the
rows and write notes in the comment column, but do not change, add or delete rows, and do not edit
the other columns: llmcoder checks every row against the sheet it wrote.

When you have decided every row, say that the sheet is finished: write your name and the date in
the worksheet "finished" (in a CSV sheet: in the comment column of the last row, item "finished").
A sheet that is not marked finished is not read.

Save the file as .xlsx under the same name and put it where the study's README says
(results/<study>/verify/filled/<coder>.xlsx).
"""


def _meta(frame: pl.DataFrame, *, study: str, coder: str, kind: str, simulated: bool,
          codebook_sha256: str | None) -> dict[str, Any]:
    rows = frame_rows(frame)
    return {
        "kind": SHEET_KIND, "study": study, "coder": coder, "round": kind,
        "sheet_sha256": sheet_checksum(rows), "n_rows": frame.height,
        "n_documents": frame["doc_id"].n_unique(), "codebook_sha256": codebook_sha256 or "",
        "simulated": simulated, "llmcoder_version": __version__,
    }


def _finished_sheet(wb: Any, finished: tuple[str, str] | None) -> None:
    """The worksheet where the coder says the sheet is done: name and date (empty on a blank sheet)."""
    from openpyxl.styles import Font, PatternFill

    ws = wb.create_sheet(FINISHED_SHEET)
    ws["A1"] = "When you have decided every row of the sheet 'verify', write your name and the date below."
    ws["A1"].font = Font(bold=True)
    ws["A2"] = "llmcoder reads a sheet only when both cells are filled."
    name_cell, date_cell = ws[FINISHED_NAME_CELL], ws[FINISHED_DATE_CELL]
    ws.cell(row=name_cell.row, column=1, value="finished by (your name)")
    ws.cell(row=date_cell.row, column=1, value="date")
    fill = PatternFill("solid", fgColor="FFF4C2")
    for cell, value in ((name_cell, finished[0] if finished else None),
                        (date_cell, finished[1] if finished else None)):
        cell.value = value
        cell.fill = fill
        if isinstance(value, str):
            cell.data_type = "s"
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 40


def write_sheet_csv(frame: pl.DataFrame, path: str | os.PathLike[str],
                    finished: tuple[str, str] | None = None) -> Path:
    """Write one sheet as UTF-8 CSV, with a last row (item ``finished``) whose comment cell the coder
    fills with name and date when done (a CSV has no second worksheet for it)."""
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SHEET_COLUMNS)
    for r in frame.select(SHEET_COLUMNS).iter_rows():
        w.writerow(["" if v is None else v for v in r])
    note = "When every row above is decided, write your name and the date in the comment cell of this row."
    done = f"{finished[0]}, {finished[1]}" if finished else ""
    w.writerow([FINISHED_ITEM if c == "item" else note if c == "text" else done if c == "comment" else ""
                for c in SHEET_COLUMNS])
    with atomic_path(path, ".csv") as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


def write_xlsx(frame: pl.DataFrame, path: str | os.PathLike[str], meta: Mapping[str, Any],
               instructions: str = "", finished: tuple[str, str] | None = None,
               label_names: Sequence[str] = ()) -> Path:
    """Write one sheet as XLSX: header, wrapped text, drop-down decisions, frozen header, the
    completion worksheet, instructions and hidden meta data."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = DATA_SHEET
    cols = list(SHEET_COLUMNS)
    ws.append(cols)
    bold, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDE4EE")
    for cell in ws[1]:
        cell.font, cell.fill = bold, head_fill
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    shade = PatternFill("solid", fgColor="F4F6F9")
    wrap_idx = {i for i, c in enumerate(cols) if c in _WRAP}
    prev_doc, shaded = None, True
    for row_idx, r in enumerate(frame.select(cols).iter_rows(), start=2):
        if r[1] != prev_doc:
            prev_doc, shaded = r[1], not shaded
        for i, v in enumerate(r):
            cell = ws.cell(row=row_idx, column=i + 1, value=v)
            if isinstance(v, str) and v.startswith("="):
                cell.data_type = "s"  # a text, not a formula
            cell.alignment = wrap if i in wrap_idx else top
            if shaded:
                cell.fill = shade
    for i, c in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _WIDTHS.get(c, 14)
    last = frame.height + 1
    dcol = get_column_letter(cols.index("decision") + 1)
    dv = DataValidation(type="list", formula1='"reject,keep,x"', allow_blank=True,
                        showErrorMessage=True, errorStyle="stop",
                        errorTitle="reject or keep",
                        error="Only reject (or x) or keep (or empty): reject = the label does NOT apply, "
                              "keep = it applies.",
                        promptTitle="reject or keep",
                        prompt="reject = the label does NOT apply; keep (or empty) = it applies",
                        showInputMessage=True)
    dv.add(f"{dcol}2:{dcol}{max(last, 2)}")
    ws.add_data_validation(dv)
    if label_names:
        lab_ws = wb.create_sheet(LABELS_SHEET)
        for name in label_names:
            lab_ws.append([name])
        lab_ws.sheet_state = "hidden"
        rcol = get_column_letter(cols.index("right_label") + 1)
        rv = DataValidation(type="list", formula1=f"{LABELS_SHEET}!$A$1:$A${len(label_names)}", allow_blank=True,
                            showErrorMessage=True, errorStyle="stop", errorTitle="a label of the codebook",
                            error="Pick the right label from the list of the codebook's labels.",
                            promptTitle="right label", showInputMessage=True,
                            prompt="Only when you reject every proposed label of this document: the label that applies")
        rv.add(f"{rcol}2:{rcol}{max(last, 2)}")
        ws.add_data_validation(rv)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(last, 2)}"
    _finished_sheet(wb, finished)
    info = wb.create_sheet("instructions")
    for line in (instructions or INSTRUCTIONS).splitlines():
        info.append([line])
    info.column_dimensions["A"].width = 110
    ms = wb.create_sheet(META_SHEET)
    for k, v in meta.items():
        ms.append([k, "true" if v is True else "false" if v is False else v])
    ms.sheet_state = "hidden"
    wb.properties.title = f"llmcoder verification sheet: study {meta['study']}, coder {meta['coder']}"
    wb.properties.subject = str(meta["study"])
    wb.properties.keywords = f"llmcoder;study={meta['study']};coder={meta['coder']};sha256={meta['sheet_sha256']}"
    wb.properties.creator = "llmcoder"
    with atomic_path(path, ".xlsx") as tmp:
        wb.save(tmp)
    return Path(path)


def write_sheets(
    sheets: Mapping[str, pl.DataFrame],
    out_dir: str | os.PathLike[str],
    *,
    study: str,
    formats: Sequence[str] = ("xlsx", "csv"),
    manifest: bool = True,
) -> dict[str, Path]:
    """Write each coder's sheet as ``<coder>.xlsx`` and ``<coder>.csv`` (+ ``<coder>.meta.json``).

    With ``manifest=True`` also writes ``manifest.json``: the study, the settings, each coder's rows
    and checksum, the proposals of each LLM coder (for acceptance rates) and a provenance stamp.
    Sheets filled by :func:`simulate_verification` are marked ``simulated`` in their meta data.

    Returns:
        Paths written, keyed ``"<coder>.xlsx"``, ``"<coder>.csv"``..., and ``"manifest"``.
    """
    out = Path(out_dir)
    bad = [f for f in formats if f not in ("xlsx", "csv")]
    if bad:
        raise ValueError(f"formats must be 'xlsx' and/or 'csv', not {bad}")
    simulated = bool(getattr(sheets, "simulated", False))
    kind = getattr(sheets, "kind", "verify")
    cb = getattr(sheets, "codebook", None)
    finished: Mapping[str, tuple[str, str]] = getattr(sheets, "finished", {}) or {}
    cb_sha = cb.sha256() if isinstance(cb, Codebook) else None
    instructions = INSTRUCTIONS
    if isinstance(cb, Codebook) and cb.instructions:
        instructions += "\nCoding instructions\n\n" + cb.instructions
    written: dict[str, Path] = {}
    coder_entries: dict[str, Any] = {}
    with staged_dir(out) as stage:  # all sheets and the manifest, or none of them
        for coder, frame in sheets.items():
            missing = [c for c in SHEET_COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"sheet of '{coder}' lacks columns {missing}")
            frame = frame.select(SHEET_COLUMNS)
            meta = _meta(frame, study=study, coder=coder, kind=kind, simulated=simulated,
                         codebook_sha256=cb_sha)
            files = {}
            done = finished.get(coder)
            if "xlsx" in formats:
                write_xlsx(frame, stage / f"{coder}.xlsx", meta, instructions, finished=done,
                           label_names=list(cb.names.values()) if isinstance(cb, Codebook) else ())
                written[f"{coder}.xlsx"] = out / f"{coder}.xlsx"
                files["xlsx"] = f"{coder}.xlsx"
            if "csv" in formats:
                write_sheet_csv(frame, stage / f"{coder}.csv", finished=done)
                write_json(meta, stage / f"{coder}.meta.json")
                written[f"{coder}.csv"] = out / f"{coder}.csv"
                written[f"{coder}.meta.json"] = out / f"{coder}.meta.json"
                files["csv"] = f"{coder}.csv"
            coder_entries[coder] = {**files, "sheet_sha256": meta["sheet_sha256"], "n_rows": frame.height,
                                    "n_documents": meta["n_documents"], "rows": frame_rows(frame)}
        if manifest:
            props = getattr(sheets, "proposals", None)
            assign = getattr(sheets, "assignments", None)
            man = {
                "kind": MANIFEST_KIND, "version": 1, "study": study, "round": kind,
                "task": cb.task if isinstance(cb, Codebook) else None,
                "codebook_sha256": cb_sha, "labels": cb.ids if isinstance(cb, Codebook) else None,
                "settings": getattr(sheets, "settings", {}), "simulated": simulated,
                "coders": coder_entries,
                "proposals": ([[d, lab, list(llms)] for d, lab, llms in props.iter_rows()]
                              if props is not None else None),
                "assignments": ([[d, list(cs), bool(o), bool(u)] for d, cs, o, u in
                                 assign.select("doc_id", "coders", "overlap", "uncertain").iter_rows()]
                                if assign is not None else None),
                "provenance": provenance(stage="verify-sheets", study=study, simulated=simulated),
            }
            write_json(man, stage / "manifest.json")
            written["manifest"] = out / "manifest.json"
    return written
