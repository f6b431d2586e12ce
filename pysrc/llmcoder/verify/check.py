"""Checking a filled sheet against what llmcoder wrote: meta data, completion field, header and every row.

Each check appends :class:`SheetProblem` s (file, row as the spreadsheet shows it, what, fix) to a list
instead of raising, so that one ingest reports every problem of every sheet; a row with a problem gives
no decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmcoder.codebook import Codebook
from llmcoder.verify._common import (
    DECISION_FIX,
    FINISHED_DATE_CELL,
    FINISHED_ITEM,
    FINISHED_NAME_CELL,
    FINISHED_SHEET,
    OPTIONAL_COLUMNS,
    SHEET_COLUMNS,
    SHEET_KIND,
    SheetProblem,
    decision_problem,
    row_hash,
    text_hash,
)
from llmcoder.verify.messages import FIX_DUPLICATE_ROW, FIX_RESTORE, article
from llmcoder.verify.read import FilledSheet


@dataclass
class Expected:
    """The rows a sheet must hold: item → [item, doc_id, label, row hash, text hash]."""

    rows: dict[int, list[Any]]
    checksum: str
    docs: set[str]


def check_codebook(man: Mapping[str, Any], cb: Codebook) -> list[SheetProblem]:
    """The codebook must be the one the sheets were made with: every label of the sheets, the same task."""
    problems = [SheetProblem(f"label '{lab}' of the sheets is not in this codebook", file=cb.source,
                             fix="pass the codebook the sheets were made with")
                for lab in sorted(set(man.get("labels") or []) - set(cb.ids))]
    if man.get("task") and man["task"] != cb.task:
        problems.append(SheetProblem(f"the sheets were made for a {man['task']}-label codebook, this one is "
                                     f"{cb.task}-label", file=cb.source, fix="pass the study's codebook"))
    return problems


def check_meta(sheet: FilledSheet, *, study: str, round_: str, problems: list[SheetProblem]) -> str | None:
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
        problems.append(SheetProblem(f"this is {article(got_round)} {got_round} sheet, "
                                     f"passed as {article(round_)} {round_} sheet", file=f,
                                     fix=f"pass it as {where}"))
        return None
    return str(meta.get("coder") or "")


def check_finished(sheet: FilledSheet, problems: list[SheetProblem]) -> bool:
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


def _check_header(sheet: FilledSheet, problems: list[SheetProblem]) -> bool:
    """Every required column once: a sheet whose header is broken is not read row by row."""
    f = sheet.path.name
    need = [c for c in SHEET_COLUMNS if c not in OPTIONAL_COLUMNS]
    missing = [c for c in need if c not in sheet.header]
    if missing:
        problems.append(SheetProblem(f"column(s) {', '.join(repr(c) for c in missing)} missing from the header",
                                     row=1, file=f, fix="restore the header row as llmcoder wrote it"))
        return False
    dup_cols = sorted({h for h in sheet.header if h and sheet.header.count(h) > 1})
    if dup_cols:
        problems.append(SheetProblem(f"column(s) {dup_cols} appear twice in the header", row=1, file=f,
                                     fix="delete the copied columns"))
        return False
    return True


def _fixed_cells_changed(cells: Mapping[str, str], expected: list[Any], *, item: int, row: int, file: str,
                         known_docs: set[str], known_labels: set[str], problems: list[SheetProblem]) -> bool:
    """Whether the columns llmcoder wrote (document, label, text, name, definition) were edited."""
    doc, lab = cells.get("doc_id", "").strip(), cells.get("label", "").strip()
    _, e_doc, e_lab, e_hash, e_text = expected
    bad = False
    if doc != e_doc:
        bad = True
        what = (f"unknown document '{doc}'" if doc not in known_docs
                else f"document id changed from '{e_doc}' to '{doc}'")
        problems.append(SheetProblem(f"{what} (item {item})", row=row, column="doc_id", file=file, fix=FIX_RESTORE))
    if lab != e_lab:
        bad = True
        what = (f"unknown label '{lab}' (not in the codebook)" if lab not in known_labels
                else f"label changed from '{e_lab}' to '{lab}'")
        problems.append(SheetProblem(f"{what} (item {item})", row=row, column="label", file=file, fix=FIX_RESTORE))
    if not bad:
        text = cells.get("text", "")
        if text_hash(text) != e_text:
            bad = True
            problems.append(SheetProblem(f"the text of item {item} (document '{doc}') was changed", row=row,
                                         column="text", file=file, fix=FIX_RESTORE))
        elif row_hash(doc, lab, text, cells.get("label_name", ""), cells.get("definition", "")) != e_hash:
            bad = True
            problems.append(SheetProblem(f"the label name or definition of item {item} was changed", row=row,
                                         column="label_name", file=file, fix=FIX_RESTORE))
    return bad


def check_rows(sheet: FilledSheet, exp: Expected, *, coder: str, round_: str, known_docs: set[str],
               cb: Codebook, vocab: dict[str, str], variants: Counter[tuple[str, str]],
               problems: list[SheetProblem]) -> list[dict[str, Any]]:
    """The decisions of one sheet's rows (and the right labels it supplies), every problem collected.

    ``variants`` counts how each decision was written and read (for the summary).
    """
    if not _check_header(sheet, problems):
        return []
    known_labels = set(cb.ids)
    f = sheet.path.name
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
                                         column="item", file=f, fix=FIX_DUPLICATE_ROW))
            continue
        if (doc, lab) in seen_pairs:
            problems.append(SheetProblem(
                f"document '{doc}' with label '{lab}' appears twice (first at row {seen_pairs[(doc, lab)]})",
                row=r, file=f, fix=FIX_DUPLICATE_ROW))
            continue
        seen_pairs[(doc, lab)] = r
        expected = exp.rows.get(item)
        if expected is None:
            problems.append(SheetProblem(f"item {item} is not on the sheet llmcoder wrote (a row was added or its "
                                         "item number edited)", row=r, column="item", file=f,
                                         fix="delete rows you added and restore edited item numbers"))
            continue
        seen[item] = r
        bad = _fixed_cells_changed(cells, expected, item=item, row=r, file=f, known_docs=known_docs,
                                   known_labels=known_labels, problems=problems)
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
    _missing_items(exp, seen, seen_pairs, file=f, problems=problems)
    return out


def _missing_items(exp: Expected, seen: Mapping[int, int], seen_pairs: Mapping[tuple[str, str], int], *,
                   file: str, problems: list[SheetProblem]) -> None:
    """Rows llmcoder wrote that are not on the sheet any more (deleted, not renumbered)."""
    for item in sorted(set(exp.rows) - set(seen)):
        _, d, lab, _, _ = exp.rows[item]
        if (d, lab) in seen_pairs:
            continue  # its row exists with an edited item number; reported by check_rows
        problems.append(SheetProblem(
            f"item {item} (document '{d}', label '{lab}'; row {item + 1} as written) is missing: a row was deleted",
            file=file, fix="put the row back (copy it from the blank sheet) and leave its decision empty to keep"))


def _without_right_label(row: Mapping[str, Any]) -> dict[str, Any]:
    """A decision row without the sheet's right-label cells (they are not part of the decision log)."""
    return {k: v for k, v in row.items() if k not in ("right_label", "right_raw")}


def with_supplied(rows: list[dict[str, Any]], *, task: str, file: str,
                  problems: list[SheetProblem]) -> list[dict[str, Any]]:
    """The decision rows of one sheet, plus one ``supplied`` row per right label a coder gave for a
    document whose proposals they all rejected; contradictions are problems (file, row, fix)."""
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_doc.setdefault(r["doc_id"], []).append(r)
    out = [_without_right_label(r) for r in rows]
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
                out.append({**_without_right_label(r),
                            "label": r["right_label"], "decision": "supplied", "raw": r["right_raw"]})
    return out
