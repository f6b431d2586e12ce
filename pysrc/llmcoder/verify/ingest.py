"""Ingest filled verification sheets: strict validation, then verified labels, adjudication, rates.

Reading is all-or-nothing: every problem of every sheet is collected (file, row as the spreadsheet
shows it, what, fix) and raised together as one :class:`SheetsError`; nothing is written unless all
sheets are valid. From the decision log on, :func:`verify_decisions` does the rest, and it is also
the entry point for decisions that come from elsewhere (e.g. the Human Flourishing adapter).
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from llmcoder.codebook import Codebook, load_codebook
from llmcoder.errors import InputError
from llmcoder.io import provenance, staged_dir, write_csv, write_json, write_parquet
from llmcoder.verify._common import (
    DATA_SHEET,
    DECISION_FIX,
    FINISHED_DATE_CELL,
    FINISHED_ITEM,
    FINISHED_NAME_CELL,
    FINISHED_SHEET,
    MANIFEST_KIND,
    META_SHEET,
    NO_REJECTION_FLAG_ROWS,
    OPTIONAL_COLUMNS,
    SHEET_COLUMNS,
    SHEET_KIND,
    SheetProblem,
    Sheets,
    SheetsError,
    cell_text,
    decision_problem,
    frame_rows,
    normalize_vocabulary,
    order_key,
    row_hash,
    sheet_checksum,
    text_hash,
    wilson,
)

OverlapPolicy = Literal["adjudicate", "union", "intersection"]
#: What a decision log records per (document, verifier, label): a proposal kept or rejected, or a
#: right label the verifier supplied after rejecting every proposal.
DECISIONS = ("keep", "reject", "supplied")
ADJUDICATOR = "adjudicator"
DECISION_SCHEMA = {"doc_id": pl.Utf8, "coder": pl.Utf8, "label": pl.Utf8, "decision": pl.Utf8,
                   "raw": pl.Utf8, "comment": pl.Utf8, "sheet": pl.Utf8, "row": pl.Int64,
                   "round": pl.Utf8}
RELIABILITY_SCHEMA = {"scope": pl.Utf8, "coefficient": pl.Utf8, "estimate": pl.Float64,
                      "se": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                      "n_units": pl.Int64, "n_coders": pl.Int64, "method": pl.Utf8}
_FIX_RESTORE = ("restore the row as llmcoder wrote it (copy it from the blank sheet); "
                "only 'decision' and 'comment' may be edited")


# -- reading one filled sheet -------------------------------------------------------------------------

@dataclass
class FilledSheet:
    """A filled sheet as read: its meta data, header, non-empty rows (spreadsheet row, cells), and the
    completion field: ``finished`` is ``(name, date)`` as written (``None``: the sheet has no such
    field), ``finished_at`` says where it is, for messages."""

    path: Path
    meta: dict[str, Any] | None
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    finished: tuple[str, str] | None = None
    finished_at: str = ""


def _meta_value(v: Any) -> Any:
    t = cell_text(v)
    return {"true": True, "false": False}.get(t.lower(), t)


def _read_xlsx(path: Path) -> FilledSheet:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb[DATA_SHEET] if DATA_SHEET in wb.sheetnames else wb.worksheets[0]
        ws.reset_dimensions()  # some writers record a wrong used range; read every row there is
        it = ws.iter_rows(values_only=True)
        header = [cell_text(h).strip() for h in next(it, ())]
        rows = []
        for r, rec in enumerate(it, start=2):
            vals = [cell_text(v) for v in rec]
            if any(v.strip() for v in vals):
                rows.append((r, {h: (vals[j] if j < len(vals) else "") for j, h in enumerate(header) if h}))
        finished = None
        if FINISHED_SHEET in wb.sheetnames:
            fs = wb[FINISHED_SHEET]
            finished = (cell_text(fs[FINISHED_NAME_CELL].value).strip(),
                        cell_text(fs[FINISHED_DATE_CELL].value).strip())
        meta: dict[str, Any] | None = None
        if META_SHEET in wb.sheetnames:
            meta = {}
            for rec in wb[META_SHEET].iter_rows(values_only=True):
                if rec and rec[0] is not None:
                    meta[cell_text(rec[0])] = _meta_value(rec[1] if len(rec) > 1 else None)
        elif wb.properties.keywords and "llmcoder;" in wb.properties.keywords:
            kv = dict(p.split("=", 1) for p in wb.properties.keywords.split(";") if "=" in p)
            meta = {"kind": SHEET_KIND, "study": kv.get("study"), "coder": kv.get("coder"),
                    "sheet_sha256": kv.get("sha256"), "round": None}
    finally:
        wb.close()
    where = f"worksheet '{FINISHED_SHEET}', cells {FINISHED_NAME_CELL} (name) and {FINISHED_DATE_CELL} (date)"
    return FilledSheet(path, meta, header, rows, finished, where)


def _read_csv(path: Path) -> FilledSheet:
    text = path.read_bytes().decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delim = max([",", ";", "\t"], key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = [h.strip() for h in next(reader, [])]
    rows = []
    finished, finished_at = None, f"the row with item '{FINISHED_ITEM}' (it is missing)"
    for r, rec in enumerate(reader, start=2):
        vals = [cell_text(v) for v in rec]
        cells = {h: (vals[j] if j < len(vals) else "") for j, h in enumerate(header) if h}
        if cells.get("item", "").strip().lower() == FINISHED_ITEM:
            done = cells.get("comment", "").strip()
            finished, finished_at = (done, done), f"row {r}, column 'comment' (item '{FINISHED_ITEM}')"
        elif any(v.strip() for v in vals):
            rows.append((r, cells))
    side = path.with_name(path.stem + ".meta.json")
    meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None
    return FilledSheet(path, meta, header, rows, finished, finished_at)


def read_filled_sheet(path: str | os.PathLike[str]) -> tuple[FilledSheet | None, list[SheetProblem]]:
    """Read a filled XLSX or CSV sheet; return it, or None and the problems that prevent reading it."""
    p = Path(path)
    f = p.name
    if not p.is_file():
        return None, [SheetProblem("file not found", file=str(p), fix="check the path of the filled sheet")]
    if f.startswith("~$") or f.startswith(".~lock."):
        real = f.removeprefix("~$").removeprefix(".~lock.").removesuffix("#")
        return None, [SheetProblem(f"this is the lock file that Excel or LibreOffice keeps while '{real}' is open, "
                                   "not a sheet", file=f, fix=f"close the workbook, then pass '{real}' itself")]
    suffix = p.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            sheet = _read_xlsx(p)
        elif suffix in (".csv", ".tsv", ".txt"):
            sheet = _read_csv(p)
        else:
            return None, [SheetProblem(f"unknown file type '{p.suffix}'", file=f,
                                       fix="save the sheet as .xlsx (or .csv with its .meta.json beside it)")]
    except UnicodeDecodeError:
        return None, [SheetProblem("not UTF-8 text", file=f,
                                   fix="save it as 'CSV UTF-8', or better fill and return the .xlsx sheet")]
    except json.JSONDecodeError as e:
        return None, [SheetProblem(f"its .meta.json is not valid JSON ({e.msg})", file=f,
                                   fix="copy the .meta.json written with the blank sheet again")]
    except Exception as e:  # openpyxl raises many kinds for a broken workbook
        return None, [SheetProblem(f"not a readable workbook ({type(e).__name__}: {e})", file=f,
                                   fix="open it in a spreadsheet program and save it again as .xlsx")]
    if sheet.meta is None:
        fix = ("copy <coder>.meta.json from the blank sheets' folder next to this CSV"
               if suffix != ".xlsx" else
               "fill the .xlsx file llmcoder wrote (copying the rows into a new workbook loses its meta data)")
        return None, [SheetProblem("no llmcoder meta data: cannot tell which study and coder this sheet "
                                   "belongs to", file=f, fix=fix)]
    return sheet, []


# -- the manifest -------------------------------------------------------------------------------------

def load_manifest(manifest: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read ``manifest.json`` written by :func:`write_sheets` (or pass its parsed content)."""
    if isinstance(manifest, Mapping):
        man = dict(manifest)
        src = "<manifest>"
    else:
        src = str(manifest)
        p = Path(manifest)
        if not p.is_file():
            raise InputError(src, "manifest not found",
                             fix="pass the manifest.json written by 'llmcoder verify sheets'")
        try:
            man = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(src, f"not valid JSON ({e})", fix="write the sheets again") from e
    if man.get("kind") != MANIFEST_KIND or "coders" not in man:
        raise InputError(src, "not a verification manifest",
                         fix="pass the manifest.json written by 'llmcoder verify sheets'")
    man.setdefault("_source", src)
    return man


# -- validating rows --------------------------------------------------------------------------------------

@dataclass
class _Expected:
    """The rows a sheet must hold: item → [item, doc_id, label, row hash, text hash]."""

    rows: dict[int, list[Any]]
    checksum: str
    docs: set[str]


def _check_rows(sheet: FilledSheet, exp: _Expected, *, coder: str, round_: str, known_docs: set[str],
                cb: Codebook, vocab: dict[str, str], variants: Counter[tuple[str, str]],
                problems: list[SheetProblem]) -> list[dict[str, Any]]:
    """The decisions of one sheet's rows (and the right labels it supplies), every problem collected."""
    known_labels = set(cb.ids)
    f = sheet.path.name
    need = [c for c in SHEET_COLUMNS if c not in OPTIONAL_COLUMNS]
    missing = [c for c in need if c not in sheet.header]
    if missing:
        problems.append(SheetProblem(f"column(s) {', '.join(repr(c) for c in missing)} missing from the header",
                                     row=1, file=f, fix="restore the header row as llmcoder wrote it"))
        return []
    dup_cols = sorted({h for h in sheet.header if h and sheet.header.count(h) > 1})
    if dup_cols:
        problems.append(SheetProblem(f"column(s) {dup_cols} appear twice in the header", row=1, file=f,
                                     fix="delete the copied columns"))
        return []
    out: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    seen_pairs: dict[tuple[str, str], int] = {}
    for r, cells in sheet.rows:
        raw_item = cells.get("item", "").strip()
        doc, lab = cells.get("doc_id", "").strip(), cells.get("label", "").strip()
        try:
            item = int(float(raw_item))
        except ValueError:
            problems.append(SheetProblem(
                f"a row that llmcoder did not write (item is '{raw_item}'; document '{doc}', label '{lab}')",
                row=r, column="item", file=f, fix="delete rows you added; only the rows llmcoder wrote are read"))
            continue
        if item in seen:
            problems.append(SheetProblem(f"item {item} appears twice (first at row {seen[item]})", row=r,
                                         column="item", file=f, fix="delete the duplicate row"))
            continue
        if (doc, lab) in seen_pairs:
            problems.append(SheetProblem(
                f"document '{doc}' with label '{lab}' appears twice (first at row {seen_pairs[(doc, lab)]})",
                row=r, file=f, fix="delete the duplicate row"))
            continue
        seen_pairs[(doc, lab)] = r
        expected = exp.rows.get(item)
        if expected is None:
            problems.append(SheetProblem(f"item {item} is not on the sheet llmcoder wrote (a row was added or its "
                                         "item number edited)", row=r, column="item", file=f,
                                         fix="delete rows you added and restore edited item numbers"))
            continue
        seen[item] = r
        _, e_doc, e_lab, e_hash, e_text = expected
        bad = False
        if doc != e_doc:
            bad = True
            what = (f"unknown document '{doc}'" if doc not in known_docs
                    else f"document id changed from '{e_doc}' to '{doc}'")
            problems.append(SheetProblem(f"{what} (item {item})", row=r, column="doc_id", file=f, fix=_FIX_RESTORE))
        if lab != e_lab:
            bad = True
            what = (f"unknown label '{lab}' (not in the codebook)" if lab not in known_labels
                    else f"label changed from '{e_lab}' to '{lab}'")
            problems.append(SheetProblem(f"{what} (item {item})", row=r, column="label", file=f, fix=_FIX_RESTORE))
        if not bad:
            text = cells.get("text", "")
            if text_hash(text) != e_text:
                bad = True
                problems.append(SheetProblem(f"the text of item {item} (document '{doc}') was changed", row=r,
                                             column="text", file=f, fix=_FIX_RESTORE))
            elif row_hash(doc, lab, text, cells.get("label_name", ""), cells.get("definition", "")) != e_hash:
                bad = True
                problems.append(SheetProblem(f"the label name or definition of item {item} was changed", row=r,
                                             column="label_name", file=f, fix=_FIX_RESTORE))
        raw = cells.get("decision", "")
        key = raw.strip().lower()
        decision = vocab.get(key)
        if decision is None:
            problems.append(SheetProblem(f"{decision_problem(raw)} (item {item}, document '{doc}', label '{lab}')",
                                         row=r, column="decision", file=f, fix=DECISION_FIX))
            continue
        variants[(key, decision)] += 1
        right = cells.get("right_label", "").strip()
        right_id = cb.resolve(right) if right else None
        if right and right_id is None:
            problems.append(SheetProblem(f"right label '{right}' is not a label of the codebook (item {item}, "
                                         f"document '{doc}')", row=r, column="right_label", file=f,
                                         fix="pick the label from the drop-down list, or leave the cell empty"))
            continue
        if not bad:
            out.append({"doc_id": doc, "coder": coder, "label": lab, "decision": decision, "raw": raw.strip(),
                        "comment": cells.get("comment", "").strip() or None, "sheet": f, "row": r,
                        "round": round_, "right_label": right_id, "right_raw": right})
    for item in sorted(set(exp.rows) - set(seen)):
        _, d, lab, _, _ = exp.rows[item]
        if (d, lab) in seen_pairs:
            continue  # its row exists with an edited item number; reported above
        problems.append(SheetProblem(
            f"item {item} (document '{d}', label '{lab}'; row {item + 1} as written) is missing: a row was deleted",
            file=f, fix="put the row back (copy it from the blank sheet) and leave its decision empty to keep"))
    return out


def _supplied(rows: list[dict[str, Any]], *, task: str, file: str,
              problems: list[SheetProblem]) -> list[dict[str, Any]]:
    """The decision rows of one sheet, plus one ``supplied`` row per right label a coder gave for a
    document whose proposals they all rejected; contradictions are problems (file, row, fix)."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_doc.setdefault(r["doc_id"], []).append(r)
    out = [{k: v for k, v in r.items() if k not in ("right_label", "right_raw")} for r in rows]
    for doc, drows in by_doc.items():
        given = [r for r in drows if r["right_label"]]
        if not given:
            continue
        labels = sorted({r["right_label"] for r in given})
        proposed = {r["label"] for r in drows}
        kept = sorted(r["label"] for r in drows if r["decision"] == "keep")
        at = given[0]["row"]
        if task == "single" and len(labels) > 1:
            problems.append(SheetProblem(f"document '{doc}' has two right labels ({', '.join(labels)}) but takes one",
                                         row=at, column="right_label", file=file, fix="leave one right label"))
        elif task == "single" and kept:
            problems.append(SheetProblem(
                f"document '{doc}': label '{kept[0]}' is kept and '{labels[0]}' given as the right label",
                row=at, column="right_label", file=file,
                fix="give a right label only when you reject every proposed label of the document"))
        elif proposed & set(labels):
            lab = sorted(proposed & set(labels))[0]
            problems.append(SheetProblem(
                f"document '{doc}': right label '{lab}' is one of its proposed labels", row=at,
                column="right_label", file=file, fix=f"keep the row of '{lab}' instead, and clear the right label"))
        else:
            for r in given:
                if any(o["label"] == r["right_label"] and o["decision"] == "supplied" for o in out
                       if o["doc_id"] == doc):
                    continue
                out.append({**{k: v for k, v in r.items() if k not in ("right_label", "right_raw")},
                            "label": r["right_label"], "decision": "supplied", "raw": r["right_raw"]})
    return out


def _check_finished(sheet: FilledSheet, problems: list[SheetProblem]) -> bool:
    """A sheet is read only when its coder said it is finished (name and date in the completion field):
    a sheet handed back as it was issued must not pass for "every label kept"."""
    f = sheet.path.name
    csv_sheet = sheet.path.suffix.lower() != ".xlsx"
    if sheet.finished is None:
        what = (f"the sheet has no completion row (item '{FINISHED_ITEM}')" if csv_sheet else
                f"the workbook has no worksheet '{FINISHED_SHEET}' (the completion field)")
        fix = (f"add a last row with item '{FINISHED_ITEM}' and your name and the date in its comment cell"
               if csv_sheet else
               f"add a worksheet named '{FINISHED_SHEET}' with your name in {FINISHED_NAME_CELL} and the date in "
               f"{FINISHED_DATE_CELL}, or fill the sheet llmcoder wrote")
        problems.append(SheetProblem(f"{what}: cannot tell that the sheet is finished", file=f, fix=fix))
        return False
    name, date = sheet.finished
    if not name or not date:
        empty = " and ".join(w for w, v in (("name", name), ("date", date)) if not v)
        problems.append(SheetProblem(
            f"the sheet is not marked finished: {empty} empty in {sheet.finished_at}", file=f,
            fix="when every row is decided, write your name and the date there and save; a sheet handed back "
                "as it was issued would otherwise read as 'every label kept'"))
        return False
    return True


def _no_rejection_flags(decisions: Sequence[Mapping[str, Any]], coder_file: Mapping[str, str]) -> list[dict[str, Any]]:
    """Finished sheets with no rejection over many rows: accepted, but flagged for the summary and the
    methods text (a coder who kept every proposal may not have read the texts)."""
    rows, rejected = Counter(d["coder"] for d in decisions), Counter(
        d["coder"] for d in decisions if d["decision"] == "reject")
    return [{"coder": c, "sheet": coder_file.get(c, ""), "rows": n,
             "why": f"no rejection in {n} rows: check that the coder read every text (an empty cell means keep)"}
            for c, n in sorted(rows.items()) if n >= NO_REJECTION_FLAG_ROWS and rejected[c] == 0]


def _check_meta(sheet: FilledSheet, *, study: str, round_: str, problems: list[SheetProblem]) -> str | None:
    """Check that the sheet belongs to this study and round; return its coder."""
    f = sheet.path.name
    meta = sheet.meta or {}
    if meta.get("kind") != SHEET_KIND:
        problems.append(SheetProblem("its meta data is not that of an llmcoder verification sheet", file=f,
                                     fix="fill the sheet that 'llmcoder verify sheets' wrote"))
        return None
    if str(meta.get("study")) != study:
        problems.append(SheetProblem(
            f"this sheet belongs to study '{meta.get('study')}', not to study '{study}'", file=f,
            fix=f"ingest it with the manifest of study '{meta.get('study')}', or pass the sheet of study '{study}'"))
        return None
    got_round = meta.get("round") or round_
    if got_round != round_:
        where = "--adjudication" if got_round == "adjudication" else "the list of filled sheets"
        problems.append(SheetProblem(f"this is a{'n' if got_round[0] in 'aeiou' else ''} {got_round} sheet, "
                                     f"passed as a{'n' if round_[0] in 'aeiou' else ''} {round_} sheet", file=f,
                                     fix=f"pass it as {where}"))
        return None
    return str(meta.get("coder") or "")


# -- ingest ----------------------------------------------------------------------------------------------------

def ingest(
    sheet_paths: Sequence[str | os.PathLike[str]],
    *,
    codebook: Codebook | str | os.PathLike[str],
    manifest: str | os.PathLike[str] | Mapping[str, Any],
    adjudication: str | os.PathLike[str] | None = None,
    vocabulary: Mapping[str, Iterable[str]] | None = None,
    require_all: bool = True,
    overlap_policy: OverlapPolicy = "adjudicate",
) -> VerifyResult:
    """Read and validate filled sheets (XLSX or CSV) and turn them into verified labels.

    Args:
        sheet_paths: One filled sheet per human coder.
        codebook: The study's codebook (labels are checked against it; single or multi-label).
        manifest: ``manifest.json`` written with the blank sheets.
        adjudication: The filled adjudication sheet written by a previous ingest (optional); the
            adjudicator's decision wins for the documents on it.
        vocabulary: Accepted spellings, ``{"reject": [...], "keep": [...]}`` (default: reject or x;
            keep or an empty cell), compared case-insensitively; any other value is an error, and
            yes/no-like words can never be decisions.
        require_all: Fail when a coder of the manifest has no sheet; otherwise the missing coders are
            listed in the summary (``coders_missing``) and their documents are not verified.
        overlap_policy: Documents verified by several coders who disagree: ``"adjudicate"`` (queue),
            ``"union"`` (kept if anyone kept) or ``"intersection"`` (kept if everyone kept).

    Raises:
        SheetsError: an :class:`InputError` listing every problem of every sheet (file, row, fix).
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    man = load_manifest(manifest)
    study = str(man["study"])
    vocab = normalize_vocabulary(vocabulary)
    problems: list[SheetProblem] = []
    man_labels = set(man.get("labels") or [])
    missing_labels = sorted(man_labels - set(cb.ids))
    for lab in missing_labels:
        problems.append(SheetProblem(f"label '{lab}' of the sheets is not in this codebook", file=cb.source,
                                     fix="pass the codebook the sheets were made with"))
    if man.get("task") and man["task"] != cb.task:
        problems.append(SheetProblem(f"the sheets were made for a {man['task']}-label codebook, this one is "
                                     f"{cb.task}-label", file=cb.source, fix="pass the study's codebook"))
    known_docs = {r[1] for c in man["coders"].values() for r in c["rows"]}
    variants: Counter[tuple[str, str]] = Counter()
    decisions: list[dict[str, Any]] = []
    texts: dict[str, str] = {}
    coder_file: dict[str, str] = {}
    simulated = False
    for path in sheet_paths:
        sheet, probs = read_filled_sheet(path)
        problems += probs
        if sheet is None:
            continue
        coder = _check_meta(sheet, study=study, round_="verify", problems=problems)
        if coder is None:
            continue
        f = sheet.path.name
        if coder not in man["coders"]:
            problems.append(SheetProblem(f"unknown coder '{coder}' (the study's coders: "
                                         f"{', '.join(sorted(man['coders']))})", file=f,
                                         fix="pass only the sheets written for this study's coders"))
            continue
        if coder in coder_file:
            problems.append(SheetProblem(f"coder '{coder}' appears twice (also in {coder_file[coder]})", file=f,
                                         fix="pass one filled sheet per coder"))
            continue
        coder_file[coder] = f
        simulated = simulated or sheet.meta.get("simulated") is True
        entry = man["coders"][coder]
        exp = _Expected({int(r[0]): r for r in entry["rows"]}, entry["sheet_sha256"], set())
        if sheet.meta.get("sheet_sha256") != entry["sheet_sha256"]:
            problems.append(SheetProblem(
                f"this sheet of coder '{coder}' was made by another run of 'llmcoder verify sheets' "
                "(its checksum differs from the manifest)", file=f,
                fix="fill the sheet written with this manifest, or pass the manifest written with this sheet"))
            continue
        if not _check_finished(sheet, problems):
            continue
        got = _check_rows(sheet, exp, coder=coder, round_="verify", known_docs=known_docs,
                          cb=cb, vocab=vocab, variants=variants, problems=problems)
        decisions += _supplied(got, task=cb.task, file=f, problems=problems)
        for _, cells in sheet.rows:
            texts.setdefault(cells.get("doc_id", "").strip(), cells.get("text", ""))
    if require_all:
        for coder in sorted(set(man["coders"]) - set(coder_file)):
            problems.append(SheetProblem(
                f"no filled sheet of coder '{coder}'", file=f"<{len(list(sheet_paths))} sheets given>",
                fix=f"pass {coder}.xlsx as filled by {coder}, or ingest without it "
                    "(--allow-missing, require_all=False)"))
    seed = int((man.get("settings") or {}).get("random_state") or 0)
    frame = pl.DataFrame(decisions, schema=DECISION_SCHEMA)
    adj_frame = None
    if adjudication is not None:
        adj_frame = _read_adjudication(adjudication, frame, study=study, cb=cb, texts=texts, seed=seed,
                                       vocab=vocab, variants=variants, problems=problems,
                                       checked=not problems, overlap_policy=overlap_policy)
    if problems:
        raise SheetsError(
            f"{len(list(sheet_paths)) + (adjudication is not None)} filled sheet(s)",
            f"cannot be ingested: {len(problems)} problem(s); nothing was written", problems,
            fix="correct the sheets as listed and run ingest again")
    props = _manifest_proposals(man)
    notes = []
    if man.get("codebook_sha256") and man["codebook_sha256"] != cb.sha256():
        notes.append("the codebook changed since the sheets were made (same labels; names or definitions differ)")
    return verify_decisions(
        frame, task=cb.task, proposals=props, adjudication=adj_frame, overlap_policy=overlap_policy,
        simulated=simulated or bool(man.get("simulated")), study=study, codebook=cb, texts=texts,
        random_state=seed,
        summary_extra={"decision_variants": _variants_summary(variants), "notes": notes,
                       "sheets": coder_file, "manifest": man.get("_source"),
                       "coders_missing": sorted(set(man["coders"]) - set(coder_file)),
                       "flags": _no_rejection_flags(decisions, coder_file),
                       "documents_without_proposals": len((man.get("settings") or {})
                                                          .get("documents_without_proposals") or [])})


def _variants_summary(variants: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"written": k if k else "(blank)", "read_as": v, "rows": n}
            for (k, v), n in sorted(variants.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0]))]


def _manifest_proposals(man: Mapping[str, Any]) -> pl.DataFrame | None:
    props = man.get("proposals")
    if props is None:
        return None
    return pl.DataFrame({"doc_id": [p[0] for p in props], "label": [p[1] for p in props],
                         "llm_coders": [list(p[2]) for p in props]},
                        schema={"doc_id": pl.Utf8, "label": pl.Utf8, "llm_coders": pl.List(pl.Utf8)})


def _read_adjudication(path: str | os.PathLike[str], first: pl.DataFrame, *, study: str, cb: Codebook,
                       texts: Mapping[str, str], seed: int, vocab: dict[str, str],
                       variants: Counter[tuple[str, str]], problems: list[SheetProblem], checked: bool,
                       overlap_policy: OverlapPolicy) -> pl.DataFrame | None:
    sheet, probs = read_filled_sheet(path)
    problems += probs
    if sheet is None:
        return None
    coder = _check_meta(sheet, study=study, round_="adjudication", problems=problems)
    if coder is None or not _check_finished(sheet, problems) or not checked:
        return None  # the first-round sheets have problems: the queue cannot be recomputed yet
    prelim = verify_decisions(first, task=cb.task, overlap_policy=overlap_policy, codebook=cb, texts=texts,
                              random_state=seed, reliability=False)
    expected = prelim.adjudication_sheet
    if expected is None or expected.height == 0:
        problems.append(SheetProblem("there is nothing to adjudicate: the filled sheets leave no document in "
                                     "the adjudication queue", file=sheet.path.name,
                                     fix="run ingest without the adjudication sheet"))
        return None
    rows = frame_rows(expected)
    checksum = sheet_checksum(rows)
    if sheet.meta.get("sheet_sha256") != checksum:
        problems.append(SheetProblem(
            "this adjudication sheet does not match the adjudication queue of these filled sheets (the sheets "
            "changed since it was written)", file=sheet.path.name,
            fix="ingest the filled sheets again without --adjudication and adjudicate the new queue"))
        return None
    exp = _Expected({int(r[0]): r for r in rows}, checksum, set())
    got = _check_rows(sheet, exp, coder=coder or ADJUDICATOR, round_="adjudication",
                      known_docs=set(expected["doc_id"].to_list()), cb=cb, vocab=vocab,
                      variants=variants, problems=problems)
    got = _supplied(got, task=cb.task, file=sheet.path.name, problems=problems)
    return pl.DataFrame(got, schema=DECISION_SCHEMA)


# -- from the decision log on ---------------------------------------------------------------------------------

@dataclass
class VerifyResult:
    """Everything ingest produces. ``write(out_dir)`` writes it (Parquet and CSV, atomically)."""

    task: str
    verified: pl.DataFrame
    decisions: pl.DataFrame
    queue: pl.DataFrame
    acceptance: pl.DataFrame
    workload: pl.DataFrame
    reliability: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    adjudication_sheet: pl.DataFrame | None = None
    simulated: bool = False
    study: str | None = None

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the tables as ``<name>.parquet`` and ``<name>.csv``, the adjudication sheet (if any
        document awaits adjudication) under ``adjudication/``, and ``summary.json`` with provenance."""
        out = Path(out_dir)
        written: dict[str, Path] = {}
        tables = {"verified": self.verified, "decisions": self.decisions, "adjudication_queue": self.queue,
                  "acceptance": self.acceptance, "workload": self.workload, "reliability": self.reliability}
        with staged_dir(out) as stage:  # every table, the adjudication sheet and the summary, or none
            for name, df in tables.items():
                write_parquet(df, stage / f"{name}.parquet")
                write_csv(df, stage / f"{name}.csv")
                written[f"{name}.parquet"], written[f"{name}.csv"] = out / f"{name}.parquet", out / f"{name}.csv"
            if self.adjudication_sheet is not None and self.adjudication_sheet.height and self.study:
                from llmcoder.verify.sheets import write_sheets

                adj = Sheets({ADJUDICATOR: self.adjudication_sheet}, kind="adjudication",
                             simulated=self.simulated)
                for k in write_sheets(adj, stage / "adjudication", study=self.study, manifest=False):
                    written[f"adjudication/{k}"] = out / "adjudication" / k
            summary = {**self.summary, "simulated": self.simulated,
                       "provenance": provenance(stage="verify-ingest", study=self.study, simulated=self.simulated)}
            write_json(summary, stage / "summary.json")
            written["summary.json"] = out / "summary.json"
        return written


def _source(base: str, simulated: bool) -> str:
    return f"simulated-{base}" if simulated else base


def verify_decisions(
    decisions: pl.DataFrame,
    *,
    task: str,
    proposals: pl.DataFrame | None = None,
    adjudication: pl.DataFrame | None = None,
    overlap_policy: OverlapPolicy = "adjudicate",
    simulated: bool = False,
    study: str | None = None,
    codebook: Codebook | None = None,
    texts: Mapping[str, str] | None = None,
    random_state: int = 0,
    reliability: bool = True,
    summary_extra: Mapping[str, Any] | None = None,
) -> VerifyResult:
    """Verified labels, adjudication queue, acceptance rates, workload and reliability from a decision log.

    Args:
        decisions: One row per (doc_id, coder, label) with ``decision`` ``keep`` or ``reject``
            (further columns of the decision log are kept as they are).
        task: ``"single"`` (a document with exactly one kept label is verified; none or several go to
            adjudication) or ``"multi"`` (the kept set, possibly empty, is verified).
        proposals: ``doc_id, label, llm_coders`` (list): which LLM coder proposed what.
        adjudication: The adjudicator's decisions (same columns); they win for their documents.
        overlap_policy: Documents decided by several coders who disagree on a label: ``"adjudicate"``,
            ``"union"`` or ``"intersection"``.
        simulated: The decisions come from :func:`simulate_verification`; said in ``source``.
        codebook, texts, random_state: Used to build the adjudication sheet (all codebook labels for a
            single-label document with no kept label; else the labels decided on).
    """
    if task not in ("single", "multi"):
        raise ValueError(f"task must be 'single' or 'multi', not {task!r}")
    if overlap_policy not in ("adjudicate", "union", "intersection"):
        raise ValueError(f"overlap_policy must be adjudicate, union or intersection, not {overlap_policy!r}")
    d = decisions
    for c, t in DECISION_SCHEMA.items():
        if c not in d.columns:
            d = d.with_columns(pl.lit("verify" if c == "round" else None, t).alias(c))
    d = d.with_columns(pl.col("doc_id").cast(pl.Utf8), pl.col("coder").cast(pl.Utf8),
                       pl.col("label").cast(pl.Utf8))
    bad = d.filter(~pl.col("decision").is_in(list(DECISIONS)))
    if bad.height:
        raise ValueError(f"decisions must be one of {', '.join(DECISIONS)}; "
                         f"found {bad['decision'].unique().to_list()[:5]}")
    first = d.filter(pl.col("round") == "verify")
    dup = first.select("doc_id", "coder", "label").is_duplicated()
    if dup.any():
        ex = first.filter(dup).row(0, named=True)
        raise ValueError(f"{int(dup.sum())} duplicate decisions, e.g. coder '{ex['coder']}' on document "
                         f"'{ex['doc_id']}', label '{ex['label']}'")
    if adjudication is not None and adjudication.height:
        adj = adjudication.with_columns(pl.lit("adjudication").alias("round"))
        for c, t in DECISION_SCHEMA.items():
            if c not in adj.columns:
                adj = adj.with_columns(pl.lit(None, t).alias(c))
        d = pl.concat([d, adj.select(d.columns)], how="vertical_relaxed")
    log = d.sort("round", "doc_id", "coder", "label", descending=[True, False, False, False])

    # unit status per (doc, label) and coders per doc
    units: dict[str, dict[str, dict[str, str]]] = {}
    supplied: set[tuple[str, str]] = set()
    for doc, coder, lab, dec in first.select("doc_id", "coder", "label", "decision").iter_rows():
        units.setdefault(doc, {}).setdefault(lab, {})[coder] = "keep" if dec == "supplied" else dec
        if dec == "supplied":
            supplied.add((doc, lab))
    adj_kept: dict[str, set[str]] = {}
    adj_coder: dict[str, str] = {}
    if adjudication is not None:
        for doc, coder, lab, dec in adjudication.select("doc_id", "coder", "label", "decision").iter_rows():
            s = adj_kept.setdefault(str(doc), set())
            adj_coder[str(doc)] = str(coder)
            if dec in ("keep", "supplied"):
                s.add(str(lab))
    verified_rows: list[tuple[str, list[str], int, str]] = []
    queue_rows: list[dict[str, Any]] = []
    for doc in sorted(units):
        labs = units[doc]
        coders = sorted({c for per in labs.values() for c in per})
        kept, conflict = set(), set()
        for lab, per in labs.items():
            vals = set(per.values())
            if vals == {"keep"}:
                kept.add(lab)
            elif len(vals) > 1:
                conflict.add(lab)
        reason = None
        base = "human" if len(coders) == 1 else "human-agreement"
        if conflict:
            if overlap_policy == "adjudicate":
                reason = "coders disagree"
            else:
                base = f"human-{overlap_policy}"
                if overlap_policy == "union":
                    kept |= conflict
        if reason is None and task == "single" and len(kept) != 1:
            reason = "none kept" if not kept else "several kept"
        if doc in adj_kept:
            k = adj_kept[doc]
            if task == "multi" or len(k) == 1:
                verified_rows.append((doc, sorted(k), len(coders) + 1, _source("adjudication", simulated)))
                continue
            reason = f"adjudication unresolved ({len(k)} labels kept)"
        if reason is not None:
            kept_by = {c: "|".join(sorted(lab for lab, p in labs.items() if p.get(c) == "keep")) or "-"
                       for c in coders}
            queue_rows.append({
                "doc_id": doc, "reason": reason, "coders": coders,
                "kept": "; ".join(f"{c}: {k}" for c, k in kept_by.items()),
                "labels": sorted(labs),
            })
            continue
        if any((doc, lab) in supplied for lab in kept):
            base += "-supplied"  # a verifier gave the label; it was not an LLM's proposal
        verified_rows.append((doc, sorted(kept), len(coders), _source(base, simulated)))
    if task == "single":
        verified = pl.DataFrame({"doc_id": [r[0] for r in verified_rows], "label": [r[1][0] for r in verified_rows],
                                 "n_verifiers": [r[2] for r in verified_rows], "source": [r[3] for r in verified_rows]},
                                schema={"doc_id": pl.Utf8, "label": pl.Utf8, "n_verifiers": pl.Int64,
                                        "source": pl.Utf8})
    else:
        verified = pl.DataFrame({"doc_id": [r[0] for r in verified_rows], "labels": [r[1] for r in verified_rows],
                                 "n_verifiers": [r[2] for r in verified_rows], "source": [r[3] for r in verified_rows]},
                                schema={"doc_id": pl.Utf8, "labels": pl.List(pl.Utf8), "n_verifiers": pl.Int64,
                                        "source": pl.Utf8})
    queue = pl.DataFrame(queue_rows, schema={"doc_id": pl.Utf8, "reason": pl.Utf8, "coders": pl.List(pl.Utf8),
                                             "kept": pl.Utf8, "labels": pl.List(pl.Utf8)})
    adj_sheet = _adjudication_sheet(queue, task=task, codebook=codebook, texts=texts, seed=random_state)
    vsets = {r[0]: set(r[1]) for r in verified_rows}
    acceptance = _acceptance(first, proposals, vsets)
    workload = _workload(d)
    rel, rel_note = (_reliability(first, task=task) if reliability
                     else (pl.DataFrame(schema=RELIABILITY_SCHEMA), None))
    reasons = Counter(q["reason"] for q in queue_rows)
    summary: dict[str, Any] = {
        "study": study, "task": task, "overlap_policy": overlap_policy, "simulated": simulated,
        "n_documents": len(units), "n_verified": len(verified_rows), "n_adjudication_queue": len(queue_rows),
        "adjudication_reasons": dict(sorted(reasons.items())), "n_decisions": first.height,
        "n_rejected": int((first["decision"] == "reject").sum()),
        "n_supplied": int((first["decision"] == "supplied").sum()),
        "n_adjudicated": len(adj_kept), "coders": sorted(set(first["coder"].to_list())),
        "n_overlap_documents": sum(1 for labs in units.values()
                                   if len({c for per in labs.values() for c in per}) > 1),
    }
    if rel_note:
        summary["reliability_note"] = rel_note
    summary.update(summary_extra or {})
    return VerifyResult(task=task, verified=verified, decisions=log, queue=queue, acceptance=acceptance,
                        workload=workload, reliability=rel, summary=summary, adjudication_sheet=adj_sheet,
                        simulated=simulated, study=study)


def _adjudication_sheet(queue: pl.DataFrame, *, task: str, codebook: Codebook | None,
                        texts: Mapping[str, str] | None, seed: int) -> pl.DataFrame | None:
    if texts is None or queue.height == 0:
        return None
    names = codebook.names if codebook else {}
    defs = {lab.id: lab.definition for lab in codebook.labels} if codebook else {}
    from llmcoder.verify.sheets import _clean

    rows: dict[str, list[Any]] = {c: [] for c in SHEET_COLUMNS}
    for doc, reason, labs in queue.select("doc_id", "reason", "labels").iter_rows():
        if task == "single" and reason == "none kept" and codebook is not None:
            labs = codebook.ids
        for lab in sorted(labs, key=lambda lab, doc=doc: order_key(seed, doc, lab)):
            rows["item"].append(len(rows["item"]) + 1)
            rows["doc_id"].append(doc)
            rows["text"].append(texts.get(doc, ""))
            rows["label"].append(lab)
            rows["label_name"].append(_clean(names.get(lab, lab)))
            rows["definition"].append(_clean(defs.get(lab, "")))
            rows["decision"].append(None)
            rows["right_label"].append(None)
            rows["comment"].append(None)
    return pl.DataFrame(rows, schema={c: (pl.Int64 if c == "item" else pl.Utf8) for c in SHEET_COLUMNS})


def _acceptance(first: pl.DataFrame, proposals: pl.DataFrame | None,
                verified: Mapping[str, set[str]]) -> pl.DataFrame:
    """Per LLM coder: share of the human decisions on its proposals that kept them (Wilson CI), and
    share of its proposals on verified documents that are in the verified set."""
    schema = {"llm_coder": pl.Utf8, "n_proposals": pl.Int64, "n_decisions": pl.Int64, "n_kept": pl.Int64,
              "acceptance": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "n_on_verified": pl.Int64, "verified_precision": pl.Float64, "vp_ci_low": pl.Float64,
              "vp_ci_high": pl.Float64}
    if proposals is None or proposals.height == 0:
        return pl.DataFrame(schema=schema)
    p = proposals.explode("llm_coders").rename({"llm_coders": "llm_coder"}).unique()
    j = p.join(first.select("doc_id", "label", "decision"), on=["doc_id", "label"], how="inner")
    rows = []
    for llm in sorted(p["llm_coder"].unique().to_list()):
        sub = j.filter(pl.col("llm_coder") == llm)
        k, n = int((sub["decision"] == "keep").sum()), sub.height
        mine = p.filter(pl.col("llm_coder") == llm)
        on_v = [(doc, lab) for doc, lab in mine.select("doc_id", "label").iter_rows() if doc in verified]
        kv = sum(1 for doc, lab in on_v if lab in verified[doc])
        lo, hi = wilson(k, n)
        vlo, vhi = wilson(kv, len(on_v))
        rows.append({"llm_coder": llm, "n_proposals": mine.height, "n_decisions": n, "n_kept": k,
                     "acceptance": k / n if n else None, "ci_low": lo, "ci_high": hi,
                     "n_on_verified": len(on_v), "verified_precision": kv / len(on_v) if on_v else None,
                     "vp_ci_low": vlo, "vp_ci_high": vhi})
    return pl.DataFrame(rows, schema=schema)


def _ratings(first: pl.DataFrame, task: str) -> pl.DataFrame:
    """Decisions as keep/reject ratings: supplied -> keep, and (single-label) an implied reject for
    each other coder of the document who left a label that somebody supplied."""
    d = first.with_columns(pl.when(pl.col("decision") == "supplied").then(pl.lit("keep"))
                           .otherwise(pl.col("decision")).alias("decision"))
    sup = first.filter(pl.col("decision") == "supplied").select("doc_id", "label").unique()
    if task != "single" or sup.height == 0:
        return d
    coders = d.select("doc_id", "coder").unique()
    implied = (sup.join(coders, on="doc_id").join(d.select("doc_id", "label", "coder"),
                                                  on=["doc_id", "label", "coder"], how="anti")
               .with_columns(pl.lit("reject").alias("decision")))
    return pl.concat([d, implied], how="diagonal_relaxed")


def _workload(d: pl.DataFrame) -> pl.DataFrame:
    multi = (d.filter(pl.col("round") == "verify").group_by("doc_id")
             .agg(pl.col("coder").n_unique().alias("n")).filter(pl.col("n") > 1)["doc_id"])
    return (d.group_by("coder", "round")
            .agg(pl.len().alias("rows"), pl.col("doc_id").n_unique().alias("documents"),
                 (pl.col("decision") == "reject").sum().cast(pl.Int64).alias("rejections"),
                 (pl.col("decision") == "supplied").sum().cast(pl.Int64).alias("supplied"),
                 pl.col("doc_id").filter(pl.col("doc_id").is_in(multi.implode())).n_unique()
                 .alias("overlap_documents"))
            .with_columns(pl.col("rows").cast(pl.Int64), pl.col("documents").cast(pl.Int64),
                          pl.col("overlap_documents").cast(pl.Int64),
                          (pl.col("rejections") / pl.col("rows")).alias("rejection_rate"))
            .sort("round", "coder", descending=[True, False]))


def _reliability(first: pl.DataFrame, min_units: int = 10, task: str = "single") -> tuple[pl.DataFrame, str | None]:
    """Agreement of the human coders on the overlap (rating = keep/reject), overall (unit = document
    × label) and per label with at least ``min_units`` shared documents. A supplied right label counts
    as kept; single-label, a coder of the document who did not give that label rejected it."""
    first = _ratings(first, task)
    try:
        from llmcoder.reliability import reliability
    except ImportError:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: llmcoder.reliability is not available"
    shared = (first.group_by("doc_id", "label").agg(pl.col("coder").n_unique().alias("n"))
              .filter(pl.col("n") > 1).select("doc_id", "label"))
    if shared.height == 0:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: no document was verified by two coders"
    r = first.join(shared, on=["doc_id", "label"]).select("doc_id", "label", "coder", "decision")
    overall = r.select((pl.col("doc_id") + "\x1f" + pl.col("label")).alias("doc_id"), "coder",
                       pl.col("decision").alias("label"))
    counts = shared.group_by("label").len()
    labels = sorted(counts.filter(pl.col("len") >= min_units)["label"].to_list())
    jobs = [("all labels", overall)] + [
        (lab, r.filter(pl.col("label") == lab).select("doc_id", "coder", pl.col("decision").alias("label")))
        for lab in labels]
    frames, skipped = [], []
    for scope, ratings in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = reliability(ratings, level="nominal", categories=["keep", "reject"])
        except Exception as e:  # too few units or coders for this label
            skipped.append(f"{scope} ({type(e).__name__}: {e})")
            continue
        frames.append(res.with_columns(pl.lit(scope).alias("scope")))
    notes = []
    if counts.height > len(labels):
        notes.append(f"{counts.height - len(labels)} label(s) with fewer than {min_units} shared documents "
                     "have no per-label row")
    if skipped:
        notes.append(f"skipped {len(skipped)}: " + "; ".join(skipped[:5]))
    if not frames:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: " + "; ".join(notes)
    out = pl.concat(frames, how="diagonal_relaxed")
    cols = ["scope"] + [c for c in out.columns if c != "scope"]
    return out.select(cols), "; ".join(notes) or None


# -- telling people which sheets to fill ------------------------------------------------------------------------

def missing_sheets_message(
    study: str,
    coders: Sequence[str],
    *,
    sheets_dir: str | os.PathLike[str] | None = None,
    filled_dir: str | os.PathLike[str] | None = None,
    ext: str = "xlsx",
) -> str | None:
    """A message naming each filled sheet that does not exist yet and where its blank sheet is; None
    when every coder's filled sheet is in place.

    Defaults: blank sheets in ``results/<study>/verify/sheets``, filled ones in
    ``results/<study>/verify/filled/<coder>.xlsx`` (the input of the ingest rule).
    """
    sheets = Path(sheets_dir or f"results/{study}/verify/sheets")
    filled = Path(filled_dir or f"results/{study}/verify/filled")
    missing = [c for c in coders if not (filled / f"{c}.{ext}").is_file()]
    if not missing:
        return None
    lines = [f"Human verification of study '{study}' is not done yet: "
             f"{len(missing)} of {len(coders)} filled sheet(s) missing.",
             "",
             "For each coder below, give the blank sheet to the coder; they mark every proposed label that does",
             "NOT apply to the text with 'reject' (or x) in the decision column and leave the others empty; then",
             "save the filled sheet, unchanged otherwise, under the name shown:",
             ""]
    for c in missing:
        lines.append(f"  {c}: fill  {sheets / f'{c}.{ext}'}")
        lines.append(f"  {' ' * len(c)}  save {filled / f'{c}.{ext}'}")
    lines += ["", f"Then run the workflow again; ingest checks every filled sheet against {sheets / 'manifest.json'}."]
    return "\n".join(lines)


def require_filled_sheets(study: str, coders: Sequence[str], **kwargs: Any) -> list[Path]:
    """The filled sheets' paths, or an :class:`InputError` with :func:`missing_sheets_message`."""
    msg = missing_sheets_message(study, coders, **kwargs)
    filled = Path(kwargs.get("filled_dir") or f"results/{study}/verify/filled")
    if msg:
        raise InputError(str(filled), msg, fix="fill the sheets listed above")
    return [filled / f"{c}.{kwargs.get('ext', 'xlsx')}" for c in coders]
