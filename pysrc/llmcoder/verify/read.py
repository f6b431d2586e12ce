"""Reading what comes back from people: filled sheets (XLSX or CSV) and the manifest they are checked against.

Reading never raises for a bad sheet: :func:`read_filled_sheet` returns the problems that keep it from
being read, so that ingest can report every sheet's problems at once.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError
from llmcoder.verify._common import (
    DATA_SHEET,
    FINISHED_DATE_CELL,
    FINISHED_ITEM,
    FINISHED_NAME_CELL,
    FINISHED_SHEET,
    MANIFEST_KIND,
    META_SHEET,
    SHEET_KIND,
    SheetProblem,
    cell_text,
)
from llmcoder.verify.messages import FIX_MANIFEST


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
    """A cell of the meta worksheet as written by llmcoder: 'true'/'false' back to booleans."""
    t = cell_text(v)
    return {"true": True, "false": False}.get(t.lower(), t)


def _xlsx_meta(wb: Any) -> dict[str, Any] | None:
    """The sheet's meta data: the hidden meta worksheet, or (older sheets) the workbook's keywords."""
    if META_SHEET in wb.sheetnames:
        meta: dict[str, Any] = {}
        for rec in wb[META_SHEET].iter_rows(values_only=True):
            if rec and rec[0] is not None:
                meta[cell_text(rec[0])] = _meta_value(rec[1] if len(rec) > 1 else None)
        return meta
    if wb.properties.keywords and "llmcoder;" in wb.properties.keywords:
        kv = dict(p.split("=", 1) for p in wb.properties.keywords.split(";") if "=" in p)
        return {"kind": SHEET_KIND, "study": kv.get("study"), "coder": kv.get("coder"),
                "sheet_sha256": kv.get("sha256"), "round": None}
    return None


def _read_xlsx(path: Path) -> FilledSheet:
    """Read the data worksheet, the completion worksheet and the meta data of a filled workbook."""
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
        meta = _xlsx_meta(wb)
    finally:
        wb.close()
    where = f"worksheet '{FINISHED_SHEET}', cells {FINISHED_NAME_CELL} (name) and {FINISHED_DATE_CELL} (date)"
    return FilledSheet(path, meta, header, rows, finished, where)


def _read_csv(path: Path) -> FilledSheet:
    """Read a filled CSV sheet (delimiter sniffed from the header), its ``finished`` row and .meta.json."""
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


def load_manifest(manifest: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read ``manifest.json`` written by :func:`write_sheets` (or pass its parsed content)."""
    if isinstance(manifest, Mapping):
        man = dict(manifest)
        src = "<manifest>"
    else:
        src = str(manifest)
        p = Path(manifest)
        if not p.is_file():
            raise InputError(src, "manifest not found", fix=FIX_MANIFEST)
        try:
            man = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(src, f"not valid JSON ({e})", fix="write the sheets again") from e
    if man.get("kind") != MANIFEST_KIND or "coders" not in man:
        raise InputError(src, "not a verification manifest", fix=FIX_MANIFEST)
    man.setdefault("_source", src)
    return man


def manifest_proposals(man: Mapping[str, Any]) -> pl.DataFrame | None:
    """Which LLM coder proposed which label, as stored in the manifest (``None`` for older manifests)."""
    props = man.get("proposals")
    if props is None:
        return None
    return pl.DataFrame({"doc_id": [p[0] for p in props], "label": [p[1] for p in props],
                         "llm_coders": [list(p[2]) for p in props]},
                        schema={"doc_id": pl.Utf8, "label": pl.Utf8, "llm_coders": pl.List(pl.Utf8)})
