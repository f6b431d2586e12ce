"""Read a raw corpus (CSV, TSV, Parquet, JSONL, XLSX) into llmcoder's canonical table, or say why not.

The canonical corpus is a Parquet table with ``doc_id`` (string), ``text`` (string), optionally the
gold ``label`` (single-label) or ``labels`` (multi-label, a list of label ids), and the remaining
columns kept as strata (party, year, source...), all as strings so that ``007`` stays ``007``.

Validation is strict and all-or-nothing: every problem names the file, the row as a spreadsheet
shows it (the header is row 1, so the first record is row 2; JSONL and Parquet count records from
1) and the fix; nothing is written unless the whole corpus is valid. The files researchers really
have are read as they are: the separator of a CSV is detected (``,`` ``;`` tab ``|``), the encoding
can be given (``cp1252`` for old Excel exports), and an XLSX corpus may sit on any sheet, below any
number of title rows.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import difflib
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.codebook import MULTI_SEP, Codebook
from llmcoder.errors import InputError, Problem, rows_problem
from llmcoder.io import write_parquet

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx", ".xlsm": "xlsx"}
#: Spreadsheet formats llmcoder does not read, with what to do instead.
OTHER_FORMATS = {
    ".xls": "the old Excel format (.xls): open it in Excel and save it as .xlsx (or as CSV UTF-8)",
    ".ods": "an OpenDocument spreadsheet: save it as .xlsx or CSV in LibreOffice (File > Save As)",
    ".numbers": "a Numbers spreadsheet: export it as CSV or Excel (File > Export To)",
    ".json": "a JSON file: write one JSON object per line (JSON Lines, .jsonl)",
}
RESERVED = ("doc_id", "text", "label", "labels")
#: Separators tried, in order of preference, when a CSV's separator is not given.
SEPARATORS = (",", ";", "\t", "|")
#: Encodings suggested when a file is not UTF-8 (Windows Excel's default, then one that decodes any byte).
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
#: Longest text a verification sheet shows whole: ``llmcoder.verify._common.MAX_CELL`` (Excel's cell limit),
#: repeated here to keep ``llmcoder validate`` from importing the verification stage (a test keeps them equal).
SHEET_TEXT_LIMIT = 32_000
#: Lines or rows searched for a header that is not where the spec says.
HEADER_SEARCH_ROWS = 30
_SNIFF_BYTES = 1 << 16
_NUMBER_RE = re.compile(r"^[+-]?(\d[\d_]*([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_BOOL_VALUES = {"true", "false", "wahr", "falsch", "vrai", "faux"}


def sep_name(sep: str) -> str:
    """A separator as a person reads it: ``','``, ``';'``, ``tab``."""
    return "tab" if sep == "\t" else repr(sep)


def parse_sep(value: str | None) -> str | None:
    """A separator given by a person (``;``, ``tab``, ``\\t``) as the character itself."""
    if value is None:
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    return named.get(value.strip().lower(), value) if value.strip() else value


@dataclass(frozen=True)
class CorpusSpec:
    """How to read one raw corpus file.

    Args:
        path: The raw file.
        id_col: Column with the document id (unique, non-empty).
        text_col: Column with the text.
        label_col: Column with the gold label of a single-label corpus (optional).
        labels_col: Column with the gold labels of a multi-label corpus: a list, or a string joined
            by ``labels_sep`` (optional).
        labels_sep: Separator of labels inside one cell of ``labels_col``.
        strata: Columns kept as strata; ``None`` keeps every other column.
        drop_labels: Gold labels whose documents are left out (e.g. CAP code 99 "Other").
        format: ``csv``, ``tsv``, ``parquet``, ``jsonl`` or ``xlsx``; ``None`` infers it from the suffix.
        sheet: Worksheet of an XLSX file (default: the first).
        sep: Field separator of a CSV/TSV file; ``None`` detects it among ``,`` ``;`` tab ``|``.
        encoding: Text encoding of a CSV/TSV/JSONL file (``utf-8``; ``cp1252`` for old Excel exports).
        header_row: Row (as a spreadsheet numbers it) holding the column names, for XLSX and CSV files.
        detected: Settings found by :meth:`resolved` rather than given (reported in the summary line).
    """

    path: str
    id_col: str = "id"
    text_col: str = "text"
    label_col: str | None = None
    labels_col: str | None = None
    labels_sep: str = MULTI_SEP
    strata: Sequence[str] | None = None
    drop_labels: Sequence[str] = field(default_factory=tuple)
    format: str | None = None
    sheet: str | None = None
    sep: str | None = None
    encoding: str = "utf-8"
    header_row: int = 1
    detected: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.label_col and self.labels_col:
            raise InputError(self.path, "both a single-label and a multi-label gold column are given "
                             f"('{self.label_col}' and '{self.labels_col}')",
                             fix="give --label (corpus.label) for a single-label corpus or --labels "
                                 "(corpus.labels) for a multi-label one, not both")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CorpusSpec:
        """Build from a study's ``corpus:`` block in config.yaml (keys: path, id, text, label, labels...)."""
        return cls(
            path=str(cfg["path"]),
            id_col=str(cfg.get("id") or "id"),
            text_col=str(cfg.get("text") or "text"),
            label_col=cfg.get("label"),
            labels_col=cfg.get("labels"),
            labels_sep=cfg.get("labels_sep") or MULTI_SEP,
            strata=cfg.get("strata"),
            drop_labels=tuple(str(x) for x in cfg.get("drop_labels", ()) or ()),
            format=cfg.get("format"),
            sheet=None if cfg.get("sheet") is None else str(cfg["sheet"]),
            sep=parse_sep(cfg.get("sep")),
            encoding=cfg.get("encoding") or "utf-8",
            header_row=int(cfg.get("header_row") or 1),
        )

    @property
    def fmt(self) -> str:
        if self.format:
            return self.format
        suffix = Path(self.path).suffix.lower()
        fmt = FORMATS.get(suffix)
        if fmt is None:
            if suffix in OTHER_FORMATS:
                raise InputError(self.path, f"llmcoder cannot read {OTHER_FORMATS[suffix].split(':')[0]}",
                                 fix=OTHER_FORMATS[suffix].split(": ", 1)[1])
            raise InputError(self.path, f"unknown file type '{Path(self.path).suffix}'",
                             fix=f"use one of {', '.join(sorted(FORMATS))} or set corpus.format")
        return fmt

    def resolved(self) -> CorpusSpec:
        """This spec with what was not given found in the file: the CSV separator, the XLSX sheet.

        A file that cannot be looked at is left to :func:`build_corpus` to report.
        """
        path = Path(self.path)
        try:
            fmt = self.fmt
        except InputError:
            return self
        if not path.is_file():
            return self
        if fmt in ("csv", "tsv") and self.sep is None:
            sep = "\t" if fmt == "tsv" else sniff_separator(_sample_text(path, self.encoding), self.header_row)
            return dataclasses.replace(self, sep=sep, detected=(*self.detected, "sep"))
        if fmt == "xlsx" and self.sheet is None:
            names = _sheet_names(path)
            if names:
                return dataclasses.replace(self, sheet=names[0], detected=(*self.detected, "sheet"))
        return self

    def describe(self) -> str:
        """How the file was read, for the summary line (empty for self-describing formats)."""
        try:
            fmt = self.fmt
        except InputError:
            return ""
        parts = []
        if fmt in ("csv", "tsv") and self.sep is not None:
            parts.append(f"separator {sep_name(self.sep)}" + (" (detected)" if "sep" in self.detected else ""))
        if fmt in ("csv", "tsv", "jsonl") and _codec(self.encoding) != "utf-8":
            parts.append(f"encoding {self.encoding}")
        if fmt == "xlsx" and self.sheet is not None:
            parts.append(f"sheet '{self.sheet}'" + (" (the first)" if "sheet" in self.detected else ""))
        if fmt in ("csv", "tsv", "xlsx") and self.header_row != 1:
            parts.append(f"header on row {self.header_row}")
        return ", ".join(parts)


def _opt(flag: str, key: str, value: str | int) -> str:
    """A setting as both kinds of user give it: ``--sep ';' (config.yaml: corpus.sep: ';')``."""
    if value == "\t":
        value = "tab"
    shown = f"'{value}'" if isinstance(value, str) and (not value.strip() or set(value) & set(";|,#: ")) else value
    return f"--{flag} {shown} (config.yaml: corpus.{key}: {shown})"


# -- encodings ---------------------------------------------------------------------------------

def _codec(encoding: str) -> str:
    """The canonical codec name of an encoding, or an error naming the setting."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return "unknown"


def _check_encoding(path: Path, encoding: str) -> str:
    name = _codec(encoding)
    if name == "unknown":
        raise InputError(str(path), f"unknown encoding '{encoding}'",
                         fix="use utf-8 (the default), cp1252 (Windows Excel), latin-1 or utf-16: "
                             + _opt("encoding", "encoding", "cp1252"))
    return name


def _line_at(data: bytes, pos: int) -> tuple[int, bytes]:
    """The line number (from 1) of byte ``pos`` and the bytes of that line."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return data.count(b"\n", 0, pos) + 1, data[start: end if end >= 0 else len(data)].rstrip(b"\r")


def _decode_error(path: Path, data: bytes, err: UnicodeDecodeError, encoding: str) -> InputError:
    """An undecodable byte: where (line, byte), and which encoding reads the file instead."""
    line, raw_line = _line_at(data, err.start)
    problems = [Problem(f"byte {err.start} (0x{data[err.start]:02x}) cannot be decoded as {encoding}", row=line)]
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return InputError(str(path), "the file is UTF-16 (Excel's 'Unicode Text'), not UTF-8", problems,
                          fix=f"pass {_opt('encoding', 'encoding', 'utf-16')}, or save it as 'CSV UTF-8'")
    if err.end >= len(data) and err.reason == "unexpected end of data":
        return InputError(str(path), f"the file ends in the middle of a {encoding} character (it was cut off)",
                          problems, fix="export or copy the file again, whole")
    fixes = []
    for alt in FALLBACK_ENCODINGS:
        if _codec(alt) == _codec(encoding):
            continue
        try:
            data.decode(alt)
        except UnicodeDecodeError:
            continue
        problems.append(Problem(f"read as {alt}, that line is: {raw_line.decode(alt)[:120]!r}", row=line))
        fixes.append(alt)
        break
    fix = (f"if that reads right, pass {_opt('encoding', 'encoding', fixes[0])}; or re-save the file as UTF-8 "
           "(in Excel: 'CSV UTF-8'; in R: write.csv(..., fileEncoding='UTF-8'))" if fixes else
           "re-save the file as UTF-8 (in Excel: 'CSV UTF-8'; in R: write.csv(..., fileEncoding='UTF-8'))")
    return InputError(str(path), f"the file is not valid {encoding}", problems, fix=fix)


def _check_utf8(path: Path) -> None:
    """Fail with the line and byte of the first byte that is not UTF-8 (streamed, so large files are fine)."""
    dec = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        try:
            while block := f.read(1 << 22):
                dec.decode(block)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
        else:
            return
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _decode_error(path, data, e, "UTF-8") from e


def _read_text(path: Path, encoding: str) -> str:
    """The whole file decoded (UTF-8 checked first, with the line of a bad byte); a BOM is dropped."""
    codec = _check_encoding(path, encoding)
    if codec == "utf-8":
        _check_utf8(path)
        return path.read_text(encoding="utf-8-sig")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise _decode_error(path, data, e, encoding) from e
    return text.removeprefix("\ufeff")


def _sample_text(path: Path, encoding: str) -> str:
    """The first 64 KiB of a text file, decoded leniently (for detecting the separator)."""
    try:
        with open(path, "rb") as f:
            data = f.read(_SNIFF_BYTES)
    except OSError:
        return ""
    codec = _codec(encoding)
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and codec != "utf-8":
        codec = "utf-16"
    text = data.decode("utf-8-sig" if codec in ("utf-8", "unknown") else codec, errors="replace")
    if len(data) == _SNIFF_BYTES and "\n" in text:  # the last line may be cut
        text = text[: text.rfind("\n") + 1]
    return text


# -- separators --------------------------------------------------------------------------------

def _csv_field_limit() -> None:
    """Let the csv module read fields of any length (its default stops at 128 KiB)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _records(text: str, sep: str, limit: int | None = None) -> list[list[str]]:
    _csv_field_limit()
    out = []
    try:
        for rec in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
            out.append(rec)
            if limit is not None and len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def sniff_separator(sample: str, header_row: int = 1, candidates: Sequence[str] = SEPARATORS) -> str:
    """The separator of a delimited text: the one that splits the header into most columns while the
    following records have as many fields; ``,`` when none splits the header."""
    best, best_score = candidates[0], (False, 1)
    for sep in candidates:
        recs = [r for r in _records(sample, sep, limit=header_row + 50)[header_row - 1:] if r]
        if not recs or len(recs[0]) < 2:
            continue
        width = len(recs[0])
        body = recs[1:-1] if len(recs) > 2 else recs[1:]  # the last one may be cut by the sample
        consistent = not body or sum(len(r) == width for r in body) >= 0.9 * len(body)
        score = (consistent, width)
        if score > best_score:
            best, best_score = sep, score
    return best


# -- reading raw files -------------------------------------------------------------------------

@dataclass
class RawTable:
    """A raw file as read: string cells (lists for list columns) and what kind of value each column held.

    ``kinds`` maps a column to the kinds of value found in it (``text``, ``number``, ``boolean``,
    ``date``, ``list``, ``object``) with the first row and value of each, for formats that keep types.
    """

    frame: pl.DataFrame
    first_row: int
    kinds: dict[str, dict[str, tuple[int, str]]] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    where: str = ""


def _header_problem(path: Path, spec: CorpusSpec, names: Sequence[str], where: str) -> None:
    """Duplicate column names: an error when they make the columns llmcoder reads ambiguous."""
    seen: dict[str, int] = {}
    dups: dict[str, list[int]] = {}
    for j, n in enumerate(names):
        if n in seen:
            dups.setdefault(n, [seen[n]]).append(j)
        seen.setdefault(n, j)
    used = {spec.id_col, spec.text_col, spec.label_col, spec.labels_col, *(spec.strata or [])}
    bad = {n: js for n, js in dups.items() if spec.strata is None or n in used}
    if bad:
        problems = [Problem(f"column '{n}' appears {len(js)} times (columns "
                            + ", ".join(_column_letter(j) for j in js) + ")") for n, js in bad.items()]
        raise InputError(str(path), f"the header ({where}) names a column twice", problems,
                         fix="give every column a different name in the header row")


def _column_letter(j: int) -> str:
    """A 0-based column index as a spreadsheet names it: 0 -> A, 27 -> AB."""
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def _read_delimited(path: Path, spec: CorpusSpec, sep: str) -> RawTable:
    """A CSV/TSV file in any encoding, with the header on ``spec.header_row``; column names are stripped."""
    kind = "TSV" if sep == "\t" else "CSV"
    codec = _check_encoding(path, spec.encoding)
    if codec == "utf-8":  # polars reads the file itself (and drops a BOM)
        _check_utf8(path)
        text = None
        head_text = _sample_text(path, "utf-8")
    else:
        text = _read_text(path, spec.encoding)
        head_text = text[:_SNIFF_BYTES]
    if not head_text.strip():
        raise InputError(str(path), "the file is empty", fix="export the corpus again with a header row")
    skip = spec.header_row - 1
    head = _records(head_text, sep, limit=skip + 1)
    if len(head) <= skip or not any(h.strip() for h in head[skip]):
        raise InputError(str(path), f"row {spec.header_row} (the header row) is empty or missing",
                         fix=f"put the column names in row {spec.header_row}, or pass the right "
                             + _opt("header-row", "header_row", 1))
    names = [h.strip() for h in head[skip]]
    where = f"row {spec.header_row}"
    if spec.id_col not in names or spec.text_col not in names:
        for other in SEPARATORS:
            parts = [p.strip() for n in names for p in n.split(other)]
            if other != sep and len(parts) > len(names) and {spec.id_col, spec.text_col} <= set(parts):
                raise InputError(str(path), f"the header ({where}) is not separated by {sep_name(sep)} but by "
                                 f"{sep_name(other)}", [Problem(f"it reads: {head[skip]!r}", row=spec.header_row)],
                                 fix=f"pass {_opt('sep', 'sep', other)}, or leave the separator out to detect it")
        found = _find_header(_records(head_text, sep, limit=HEADER_SEARCH_ROWS), [spec.id_col, spec.text_col])
        if found is not None and found != spec.header_row:
            cols = f"'{spec.id_col}', '{spec.text_col}'"
            raise InputError(str(path), f"the columns {cols} are not in row {spec.header_row}",
                             [Problem(f"row {spec.header_row} holds: " + ", ".join(f"'{n}'" for n in names)),
                              Problem(f"the columns {cols} were found on row {found}")],
                             fix=f"pass {_opt('header-row', 'header_row', found)} (rows above the header are "
                                 "then ignored)")
    _header_problem(path, spec, names, where)
    if text is None and skip:
        text = _read_text(path, "utf-8")
    source: Any = path if text is None else io.BytesIO(text.encode("utf-8"))
    try:
        df = pl.read_csv(source, separator=sep, infer_schema=False, skip_rows=skip, encoding="utf8")
    except pl.exceptions.NoDataError as e:
        raise InputError(str(path), "the file is empty", fix="export the corpus again with a header row") from e
    except pl.exceptions.PolarsError as e:
        raise _malformed(path, spec, sep, _read_text(path, spec.encoding) if text is None else text, kind) from e
    if len(set(names)) == len(names) == df.width:
        df.columns = names
    return RawTable(df, spec.header_row + 1, header=names, where=where)


def _malformed(path: Path, spec: CorpusSpec, sep: str, text: str, kind: str) -> InputError:
    """The first malformed record, found with the csv module, which knows record numbers."""
    _csv_field_limit()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        for _ in range(spec.header_row - 1):
            next(reader, None)
        header = next(reader, [])
        last: tuple[int, int, list[str]] | None = None
        start = reader.line_num + 1
        for i, rec in enumerate(reader, start=spec.header_row + 1):
            last, start = (i, start, rec), reader.line_num + 1
            if rec and len(rec) != len(header):
                other = ";" if sep != ";" else ","
                guessed = spec.sep is None or "sep" in spec.detected
                return InputError(
                    str(path), "a record has the wrong number of fields",
                    [Problem(f"{len(rec)} fields, the header has {len(header)} (separator {sep_name(sep)})", row=i)],
                    fix="quote fields that contain the separator or line breaks, then export again"
                        + (f"; if the separator is not {sep_name(sep)}, pass {_opt('sep', 'sep', other)}"
                           if guessed else ""),
                )
        if last is not None and any("\n" in f for f in last[2]) and text.count('"') % 2:
            row, line, _ = last
            return InputError(str(path), "a quoted field is never closed",
                              [Problem(f"the field that opens with a quote on line {line} runs to the end of the "
                                       "file", row=row)],
                              fix="close the quote (a quote inside a quoted field is written twice: \"\"), "
                                  "then export again")
    except csv.Error as ce:
        return InputError(str(path), f"could not be parsed as {kind}: {ce}",
                          fix="check the quoting (a field that holds a quote character must be quoted "
                              "and the quote doubled)")
    return InputError(str(path), f"could not be parsed as {kind}", fix="check quoting and the separator")


def _value_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, dt.date | dt.datetime | dt.time | dt.timedelta):
        return "date"
    if isinstance(v, list | tuple):
        return "list"
    if isinstance(v, dict):
        return "object"
    return "text"


def _cell_text(v: Any) -> str | None:
    """A cell as llmcoder keeps it: integers without '.0', midnight datetimes as dates, objects as JSON."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date().isoformat()
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def _note_kinds(kinds: dict[str, dict[str, tuple[int, str]]], col: str, v: Any, row: int) -> None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return
    kinds.setdefault(col, {}).setdefault(_value_kind(v), (row, _cell_text(v) or ""))


def _read_jsonl(path: Path, spec: CorpusSpec) -> RawTable:
    text = _read_text(path, spec.encoding)
    records = []
    problems = []
    rows = []
    for i, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(f"not valid JSON ({e.msg})", row=i))
            continue
        if not isinstance(rec, dict):
            problems.append(Problem("a line must hold one JSON object", row=i))
            continue
        records.append(rec)
        rows.append(i)
    if problems:
        raise InputError(str(path), "invalid JSON lines", problems, fix="write one JSON object per line")
    if not records:
        raise InputError(str(path), "the file is empty", fix="write one JSON object per line")
    cols: dict[str, None] = {}
    kinds: dict[str, dict[str, tuple[int, str]]] = {}
    for rec, row in zip(records, rows, strict=True):
        cols.update(dict.fromkeys(rec))
        for c, v in rec.items():
            _note_kinds(kinds, c, v, row)
    frame = pl.DataFrame([_jsonl_column([r.get(c) for r in records]).alias(c) for c in cols])
    if rows != list(range(1, len(rows) + 1)):  # blank lines: keep row numbers as lines
        frame = frame.with_columns(pl.Series("__line__", rows))
    return RawTable(frame, 1, kinds, header=list(cols), where="the JSON keys")


def _jsonl_column(values: list[Any]) -> pl.Series:
    """One JSONL key's values as strings; a key that holds a list anywhere becomes a list column."""
    if any(isinstance(v, list) for v in values):
        return pl.Series([None if v is None else [_cell_text(x) for x in (v if isinstance(v, list) else [v])]
                          for v in values], dtype=pl.List(pl.Utf8))
    return pl.Series([_cell_text(v) for v in values], dtype=pl.Utf8)


def _sheet_names(path: Path) -> list[str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True)
    except Exception:  # reported by the reader
        return []
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _find_header(rows: Sequence[Sequence[Any]], wanted: Sequence[str]) -> int | None:
    """The first row (from 1) among the first ones that holds every wanted column name."""
    for i, rec in enumerate(rows[:HEADER_SEARCH_ROWS], start=1):
        names = {str(v).strip() for v in rec if v is not None}
        if all(w in names for w in wanted):
            return i
    return None


def _xlsx_rows(ws: Any) -> list[tuple[Any, ...]]:
    """Every row of a read-only worksheet from row 1, without the empty rows at the end.

    The size a workbook records for a sheet can be wrong (some programs write 'A1'); it is ignored, so that
    no row or column beyond it is silently left out.
    """
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()
    rows = [tuple(r) for r in ws.iter_rows(min_row=1, values_only=True)]
    while rows and all(v is None or (isinstance(v, str) and not v.strip()) for v in rows[-1]):
        rows.pop()  # rows that only carry formatting
    return rows


def _read_xlsx(path: Path, spec: CorpusSpec) -> RawTable:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a bad file
        raise InputError(str(path), f"not a readable XLSX workbook ({type(e).__name__})",
                         fix="open it in a spreadsheet program and save as .xlsx (a password-protected "
                             "workbook must be saved without the password)") from e
    try:
        return _read_sheet(path, spec, wb)
    finally:
        wb.close()


def _read_sheet(path: Path, spec: CorpusSpec, wb: Any) -> RawTable:
    if spec.sheet is not None and spec.sheet not in wb.sheetnames:
        near = [s for s in wb.sheetnames if s.strip().lower() == spec.sheet.strip().lower()]
        near = near or difflib.get_close_matches(spec.sheet, wb.sheetnames, n=1) or wb.sheetnames[:1]
        raise InputError(str(path), f"worksheet '{spec.sheet}' not found (have: "
                         + ", ".join(f"'{s}'" for s in wb.sheetnames) + "; names are compared exactly)",
                         fix="pass one of them, e.g. " + _opt("sheet", "sheet", near[0]))
    ws = wb[spec.sheet] if spec.sheet is not None else wb.worksheets[0]
    sheet = ws.title
    rows = _xlsx_rows(ws)
    wanted = [spec.id_col, spec.text_col]
    hr = spec.header_row
    header = rows[hr - 1] if len(rows) >= hr else ()
    names_here = {str(v).strip() for v in header if v is not None}
    if not all(w in names_here for w in wanted):
        _header_elsewhere(path, spec, wb, sheet, rows, wanted, names_here)
    if not any(v is not None for v in header):
        raise InputError(str(path), f"row {hr} of sheet '{sheet}' is empty: no column names",
                         fix=f"put the column names in row {hr} of sheet '{sheet}'")
    merged = sorted(r for r in _merged_ranges(path, ws) if r[1] >= hr)
    if merged:
        problems = [Problem(f"cells {ref} are merged", row=first) for first, _, ref in merged]
        raise InputError(str(path), f"sheet '{sheet}' has merged cells: only the first cell of a merged "
                         "range holds a value, the others would be read as empty", problems,
                         fix="select the sheet, unmerge the cells (Home > Merge & Center > Unmerge Cells) "
                             "and fill every cell with its value, then save")
    width = max(len(header), *(len(r) for r in rows[hr:])) if rows[hr:] else len(header)
    cols = list(header) + [None] * (width - len(header))
    keep = [j for j in range(width)
            if cols[j] is not None or any(j < len(r) and r[j] is not None for r in rows[hr:])]
    names = [str(cols[j]).strip() if cols[j] is not None else f"column_{_column_letter(j)}" for j in keep]
    where = f"row {hr} of sheet '{sheet}'"
    _header_problem(path, spec, names, where)
    data: list[list[str | None]] = [[] for _ in names]
    kinds: dict[str, dict[str, tuple[int, str]]] = {}
    for i, rec in enumerate(rows[hr:], start=hr + 1):
        for k, j in enumerate(keep):
            v = rec[j] if j < len(rec) else None
            _note_kinds(kinds, names[k], v, i)
            data[k].append(_cell_text(v))
    frame = pl.DataFrame({n: col for n, col in zip(names, data, strict=True)}, schema={n: pl.Utf8 for n in names})
    return RawTable(frame, hr + 1, kinds, header=names, where=where)


_MERGE_RE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Za-z]+\d+(?::[A-Za-z]+\d+)?)"')


def _merged_ranges(path: Path, ws: Any) -> list[tuple[int, int, str]]:
    """Merged cell ranges of a worksheet as (first row, last row, 'A2:A3').

    A read-only worksheet does not parse them, so they are read from the sheet's XML (streamed: large
    sheets stay cheap); where that part cannot be found, the sheet is loaded in full.
    """
    from openpyxl.utils.cell import range_boundaries

    part = getattr(ws, "_worksheet_path", None)
    refs: list[str] = []
    if part:
        import zipfile

        with zipfile.ZipFile(path) as zf, zf.open(part.lstrip("/")) as f:
            tail = b""
            while block := f.read(1 << 20):
                chunk = tail + block
                refs += [m.group(1).decode() for m in _MERGE_RE.finditer(chunk)]
                cut = chunk.rfind(b"<")  # a tag cut by the block boundary is searched again with the next block
                tail = chunk[cut:] if cut >= 0 and b">" not in chunk[cut:] else b""
    else:
        import openpyxl

        full = openpyxl.load_workbook(path)
        try:
            refs = [r.coord for r in full[ws.title].merged_cells.ranges]
        finally:
            full.close()
    out = []
    for ref in dict.fromkeys(refs):
        _, min_row, _, max_row = range_boundaries(ref)
        out.append((int(min_row or 1), int(max_row or min_row or 1), ref))
    return out


def _header_elsewhere(path: Path, spec: CorpusSpec, wb: Any, sheet: str, rows: list[tuple[Any, ...]],
                      wanted: list[str], names_here: set[str]) -> None:
    """The columns are not in the header row of this sheet: say where they are, if they are anywhere."""
    found = _find_header(rows, wanted)
    other_sheet = None
    if found is None:
        for ws in wb.worksheets:
            if ws.title != sheet:
                found = _find_header(_xlsx_rows(ws), wanted)
                if found is not None:
                    other_sheet = ws.title
                    break
    if found is None:
        if not rows:
            others = [s for s in wb.sheetnames if s != sheet]
            raise InputError(str(path), f"sheet '{sheet}' is empty"
                             + (f" (the workbook has: {', '.join(repr(s) for s in wb.sheetnames)})" if others else ""),
                             fix=f"put the corpus on it, with the column names in row {spec.header_row}"
                                 + (", or pass the sheet that holds it: " + _opt("sheet", "sheet", others[0])
                                    if others else ""))
        return  # the usual 'column not found' message lists what the header row holds
    cols = ", ".join(f"'{w}'" for w in wanted)
    at = f"row {found} of sheet '{other_sheet or sheet}'"
    fixes = []
    if other_sheet:
        fixes.append(_opt("sheet", "sheet", other_sheet))
    if found != spec.header_row:
        fixes.append(_opt("header-row", "header_row", found))
    raise InputError(
        str(path), f"the columns {cols} are not in row {spec.header_row} of sheet '{sheet}'",
        [Problem(f"row {spec.header_row} of sheet '{sheet}' holds: "
                 + (", ".join(sorted(names_here)) if names_here else "nothing")),
         Problem(f"the columns {cols} were found on {at}")],
        fix="pass " + " and ".join(fixes) + (" (rows above the header are then ignored)" if found > 1 else ""),
    )


def _stringify(s: pl.Series) -> pl.Series:
    """A Parquet column as strings (lists as lists of strings); integer-valued floats lose their '.0'."""
    dtype = s.dtype
    try:
        if dtype == pl.Utf8:
            return s
        if dtype.is_float():
            vals = s.drop_nulls().drop_nans()
            if vals.len() == s.drop_nulls().len() and (vals == vals.round(0)).all() and (vals.abs() < 2**53).all():
                return s.cast(pl.Int64).cast(pl.Utf8)
            return s.cast(pl.Utf8)
        if isinstance(dtype, pl.List | pl.Array):
            inner = dtype.inner
            if inner is not None and not isinstance(inner, pl.List | pl.Array | pl.Struct):
                return s.cast(pl.List(inner)).cast(pl.List(pl.Utf8))
        elif isinstance(dtype, pl.Struct):
            return s.struct.json_encode()
        else:
            return s.cast(pl.Utf8)
    except pl.exceptions.PolarsError:
        pass
    return pl.Series(s.name, [_cell_text(v) for v in s.to_list()], dtype=pl.Utf8)


def _parquet_kind(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_temporal():
        return "date"
    if isinstance(dtype, pl.List | pl.Array):
        return "list"
    if isinstance(dtype, pl.Struct):
        return "object"
    if dtype == pl.Binary:
        return "bytes"
    return "text"


def _read_parquet(path: Path) -> RawTable:
    try:
        df = pl.read_parquet(path)
    except Exception as e:
        raise InputError(str(path), f"not a readable Parquet file ({str(e).splitlines()[0]})",
                         fix="write it again (pandas: df.to_parquet(...); R: arrow::write_parquet(...))") from e
    kinds: dict[str, dict[str, tuple[int, str]]] = {}
    for c, t in df.schema.items():
        nonnull = df[c].drop_nulls()
        if nonnull.len() and _parquet_kind(t) != "text":
            first = int(df[c].is_not_null().arg_true()[0]) + 1
            value = nonnull[0]
            kinds[c] = {_parquet_kind(t): (first, _cell_text(value.to_list() if isinstance(value, pl.Series)
                                                             else value) or "")}
    frame = pl.DataFrame([_stringify(df[c]) for c in df.columns]) if df.width else df
    return RawTable(frame, 1, kinds, header=list(df.columns), where="the Parquet schema")


def _lock_file(path: Path) -> tuple[str, Path | None] | None:
    """An Excel (``~$name.xlsx``) or LibreOffice (``.~lock.name.xlsx#``) lock file: its program and real file."""
    name = path.name
    if name.startswith(".~lock.") and name.endswith("#"):
        real = path.with_name(name[len(".~lock."):-1])
        return "LibreOffice", real
    if name.startswith("~$"):
        rest = name[2:]
        candidates = [path.with_name(rest)]
        try:  # Excel replaces the first two characters of a long name: ~$estions.xlsx for questions.xlsx
            candidates += sorted(p for p in path.parent.iterdir()
                                 if p.name.endswith(rest) and len(p.name) == len(name) and p != path)
        except OSError:
            pass
        real = next((c for c in candidates if c.is_file()), None)
        return "Excel", real
    return None


def read_table(spec: CorpusSpec) -> RawTable:
    """Read the raw file of ``spec`` as strings, with the row number of its first record."""
    path = Path(spec.path)
    lock = _lock_file(path)
    if lock is not None:
        program, real = lock
        shown = real.name if real is not None else path.name.removeprefix("~$")
        raise InputError(str(path), f"this is the lock file {program} keeps while a workbook is open, "
                         "not a workbook", [Problem(f"the workbook itself is probably '{shown}'")],
                         fix=f"close the workbook in {program} and pass '{real or shown}' instead")
    if path.is_dir():
        raise InputError(str(path), "is a folder, not a corpus file", fix="pass the corpus file inside it")
    if not path.is_file():
        near = difflib.get_close_matches(path.name, _names_in(path.parent), n=1)
        raise InputError(str(path), "corpus file not found",
                         [Problem(f"did you mean '{path.with_name(near[0])}'?")] if near else [],
                         fix="check corpus.path in config.yaml, or the path given to llmcoder validate (paths "
                             "are relative to the folder you run llmcoder from)")
    fmt = spec.fmt
    _check_separators(spec)
    if fmt in ("csv", "tsv"):
        sep = spec.sep if spec.sep is not None else spec.resolved().sep or ","
        return _read_delimited(path, spec, sep)
    if fmt == "xlsx":
        return _read_xlsx(path, spec)
    if fmt == "jsonl":
        return _read_jsonl(path, spec)
    if fmt == "parquet":
        return _read_parquet(path)
    raise InputError(str(path), f"unknown format '{fmt}'", fix=f"use one of {sorted(set(FORMATS.values()))}")


def _check_separators(spec: CorpusSpec) -> None:
    """The field separator is one character other than a quote or a line break; the label separator is not empty."""
    if spec.sep is not None and (len(spec.sep) != 1 or spec.sep in "\"\r\n"):
        raise InputError(spec.path, f"the separator {spec.sep!r} is not one character",
                         fix="pass one character, or 'tab': " + _opt("sep", "sep", ";")
                             + "; or leave it out to detect it")
    if not spec.labels_sep:
        raise InputError(spec.path, f"the label separator {spec.labels_sep!r} is empty",
                         fix="pass the character between labels in a cell: " + _opt("labels-sep", "labels_sep", "|"))


def _names_in(folder: Path) -> list[str]:
    try:
        return [p.name for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []


def read_raw(spec: CorpusSpec) -> tuple[pl.DataFrame, int]:
    """Read the raw file as strings; return it and the row number of its first record."""
    table = read_table(spec)
    return table.frame, table.first_row


# -- validation --------------------------------------------------------------------------------

def _row_numbers(mask: pl.Series, rows: Sequence[int]) -> list[int]:
    return [rows[i] for i in mask.arg_true().to_list()]


def _parse_multi(series: pl.Series, sep: str) -> pl.Series:
    if isinstance(series.dtype, pl.List):
        return series.list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != ""))
    return (series.fill_null("").str.split(sep)
            .list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != "")))


def _missing_columns(table: RawTable, spec: CorpusSpec, missing: list[str]) -> InputError:
    """Columns not found: what the header holds, and the likeliest reason (separator, header row, spelling)."""
    have = [c for c in table.frame.columns if c != "__line__"]
    problems = [Problem(f"{table.where} holds: " + ", ".join(f"'{c}'" for c in have))]
    fixes = []
    try:
        fmt = spec.fmt
    except InputError:
        fmt = ""
    if fmt in ("csv", "tsv"):
        for sep in SEPARATORS:
            split = [p.strip() for c in have for p in c.split(sep)]
            if sep != spec.sep and len(split) > len(have) and all(m in split for m in missing):
                fixes.append(f"the header looks separated by {sep_name(sep)}: pass {_opt('sep', 'sep', sep)}")
                break
        else:
            text = _sample_text(Path(spec.path), spec.encoding)
            recs = _records(text, spec.sep or ",", limit=HEADER_SEARCH_ROWS)
            found = _find_header(recs, [m for m in (spec.id_col, spec.text_col) if m in missing] or missing)
            if found is not None and found != spec.header_row:
                fixes.append(f"the columns were found on row {found}: pass "
                             + _opt("header-row", "header_row", found))
    keys = {spec.id_col: ("id", "id"), spec.text_col: ("text", "text"), spec.label_col: ("label", "label"),
            spec.labels_col: ("labels", "labels")}
    for m in missing:
        near = difflib.get_close_matches(m, have, n=1, cutoff=0.6) or [c for c in have if c.lower() == m.lower()]
        flag, key = keys.get(m, ("stratum", "strata"))
        if near:
            fixes.append(f"'{m}' may be '{near[0]}': pass {_opt(flag, key, near[0])}")
    fixes.append("name the columns: --id, --text, --label/--labels, --stratum "
                 "(config.yaml: corpus.id, corpus.text, corpus.label/labels, corpus.strata)")
    return InputError(spec.path, f"column(s) {', '.join(repr(c) for c in missing)} not found", problems,
                      fix="; ".join(fixes))


_KIND_WORDS = {"number": "numbers", "boolean": "true/false values", "date": "dates", "list": "lists",
               "object": "JSON objects / structs", "bytes": "binary data", "text": "text"}


def _text_kinds(table: RawTable, col: str, rows: Sequence[int]) -> dict[str, tuple[int, str]]:
    """Kinds of value in a column: from the file's types, or read off the strings of a CSV."""
    if col in table.kinds:
        return table.kinds[col]
    out: dict[str, tuple[int, str]] = {}
    series = table.frame[col]
    if isinstance(series.dtype, pl.List):
        return {"list": (rows[0], str(series[0]))} if series.len() else {}
    for i, v in enumerate(series.to_list()):
        if v is None or not v.strip():
            continue
        s = v.strip()
        kind = "number" if _NUMBER_RE.match(s) else "boolean" if s.lower() in _BOOL_VALUES else "text"
        out.setdefault(kind, (rows[i], s))
        if kind == "text":
            break
    return out


def _check_text_column(table: RawTable, spec: CorpusSpec, rows: Sequence[int]) -> None:
    """The text column must hold text: not only numbers, and never lists, structs or binary data."""
    col = spec.text_col
    kinds = _text_kinds(table, col, rows)
    bad = {k: v for k, v in kinds.items() if k in ("list", "object", "bytes")}
    if not bad and ("text" in kinds or not kinds):
        return
    shown = bad or kinds
    kind, (row, example) = next(iter(shown.items()))
    words = " and ".join(_KIND_WORDS[k] for k in shown)
    others = [c for c in table.frame.columns if c not in (col, spec.id_col, "__line__")]
    guess = _likely_text_column(table.frame, others)
    fix = (f"pass the column with the text: {_opt('text', 'text', guess)}" if guess else
           "pass the column with the text: --text <column> (config.yaml: corpus.text)")
    if kind in ("list", "object"):
        fix += "; or join each document's pieces into one string before passing the file"
    raise InputError(spec.path, f"column '{col}' holds {words}, not text",
                     [Problem(f"e.g. {example[:80]!r}", row=row, column=col)], fix=fix)


def _likely_text_column(frame: pl.DataFrame, columns: Iterable[str]) -> str | None:
    """The string column with the longest texts on average (containing letters), if any."""
    best, best_len = None, 0.0
    for c in columns:
        s = frame[c]
        if s.dtype != pl.Utf8:
            continue
        vals = s.drop_nulls()
        if not vals.len() or not vals.str.contains(r"[^\W\d_]").any():
            continue
        mean = float(vals.str.len_chars().mean() or 0)
        if mean > best_len:
            best, best_len = c, mean
    return best


def build_corpus(spec: CorpusSpec, codebook: Codebook | None = None, *,
                 table: RawTable | None = None) -> pl.DataFrame:
    """Read and validate a raw corpus; return the canonical table or raise :class:`InputError`.

    ``table``: the file as :func:`read_table` read it with this spec, when the caller has it already.
    """
    spec = spec.resolved()
    table = table if table is not None else read_table(spec)
    raw = table.frame
    src = spec.path
    if raw.height == 0:
        raise InputError(src, f"the corpus has no rows: {table.where or 'the header'} names the columns, "
                         "but no document follows", fix="check that the file holds the documents")
    rows = raw["__line__"].to_list() if "__line__" in raw.columns else list(
        range(table.first_row, table.first_row + raw.height))
    wanted = [spec.id_col, spec.text_col] + [c for c in (spec.label_col, spec.labels_col) if c]
    wanted += list(spec.strata or [])
    missing = list(dict.fromkeys(c for c in wanted if c not in raw.columns or c == "__line__"))
    if missing:
        raise _missing_columns(table, spec, missing)
    _check_text_column(table, spec, rows)
    problems: list[Problem] = []
    if isinstance(raw[spec.id_col].dtype, pl.List | pl.Object):
        raise InputError(src, f"column '{spec.id_col}' holds lists, not document ids",
                         fix="pass the column with one id per document: --id <column> (config.yaml: corpus.id)")
    raw_ids = raw[spec.id_col].cast(pl.Utf8)
    ids = raw_ids.str.strip_chars()
    empty_id = ids.is_null() | (ids == "")
    problems += rows_problem(_row_numbers(empty_id, rows), "empty document id", spec.id_col)
    dup = ids.is_duplicated() & ~empty_id
    if dup.any():
        first_seen: dict[str, int] = {}
        spaced = False
        for i, v in enumerate(ids.to_list()):
            if v and dup[i]:
                if v in first_seen:
                    problems.append(Problem(f"duplicate id '{v}' (first at row {first_seen[v]})",
                                            row=rows[i], column=spec.id_col))
                else:
                    first_seen[v] = rows[i]
                spaced = spaced or raw_ids[i] != v
        if spaced:
            problems.append(Problem("ids are compared without the spaces around them ('d1 ' is 'd1')",
                                    column=spec.id_col))
    text = raw[spec.text_col].cast(pl.Utf8)
    empty_text = text.is_null() | (text.str.strip_chars() == "")
    problems += rows_problem(_row_numbers(empty_text, rows), "empty or whitespace-only text", spec.text_col)
    if problems:
        raise InputError(src, "invalid documents", problems,
                         fix="give every row a unique, non-empty id and a non-empty text")

    out: dict[str, pl.Series] = {"doc_id": ids.alias("doc_id"), "text": text.alias("text")}
    keep = pl.Series([True] * raw.height)
    hints: list[str] = []
    if spec.label_col:
        out["label"] = _gold_single(raw[spec.label_col], spec, codebook, rows, problems)
        if spec.drop_labels:
            keep = ~out["label"].is_in(list(spec.drop_labels)).fill_null(False)
    if spec.labels_col:
        out["labels"] = _gold_multi(raw[spec.labels_col], spec, codebook, rows, problems, hints)
        if spec.drop_labels:
            out["labels"] = out["labels"].list.eval(
                pl.element().filter(~pl.element().is_in(list(spec.drop_labels))))
    if problems:
        fix = f"use the codebook's label ids ({_ids_hint(codebook)}) or names, or add the labels to it"
        raise InputError(src, "gold labels that are not in the codebook", problems,
                         fix="; ".join([*hints, fix]))
    strata = spec.strata if spec.strata is not None else [
        c for c in raw.columns if c not in {spec.id_col, spec.text_col, spec.label_col, spec.labels_col, "__line__"}]
    for c in strata:
        name = c if c not in RESERVED else f"stratum_{c}"
        col = raw[c]
        if col.dtype == pl.Object:
            col = pl.Series(c, [_cell_text(v) for v in col.to_list()], dtype=pl.Utf8)
        out[name] = col.alias(name)
    return pl.DataFrame(list(out.values())).filter(keep)


def _ids_hint(codebook: Codebook | None) -> str:
    if codebook is None:
        return "?"
    ids = codebook.ids
    return ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")


def _names_to_ids(values: pl.Series, cb: Codebook, drop_labels: Sequence[str]) -> dict[str, str]:
    """Gold values that give a label by its name (any case, spaces collapsed) mapped to the label's id.

    Ids and dropped labels stay as they are; so do unknown values (they are reported as not in the
    codebook). A whole number written as a decimal (``3.0``, as pandas writes a column with gaps) is
    the label ``3`` when the codebook has it.
    """
    keep = set(cb.ids) | set(drop_labels)
    found = cb.resolve_many(v for v in values.drop_nulls().unique().to_list() if v not in keep)
    out = {v: lid for v, lid in found.items() if lid is not None}
    for v in found:
        whole = re.fullmatch(r"(\d+)\.0+", v.strip())
        if v not in out and whole and whole.group(1) in keep:
            out[v] = whole.group(1)
    return out


def _gold_single(col: pl.Series, spec: CorpusSpec, cb: Codebook | None, rows: Sequence[int],
                 problems: list[Problem]) -> pl.Series:
    if isinstance(col.dtype, pl.List | pl.Object):
        raise InputError(spec.path, f"column '{spec.label_col}' holds lists",
                         fix="a multi-label corpus sets --labels (corpus.labels) instead of --label (corpus.label)")
    gold = col.cast(pl.Utf8).str.strip_chars()
    gold = pl.Series("label", [None if v == "" else v for v in gold.to_list()], dtype=pl.Utf8)
    if cb is not None:
        if cb.task == "multi":
            raise InputError(spec.path, "the codebook is multi-label but the corpus has a single 'label' column",
                             fix="pass --labels (corpus.labels), not --label (corpus.label), for a multi-label corpus")
        gold = gold.replace(_names_to_ids(gold, cb, spec.drop_labels))
        known = set(cb.ids) | set(spec.drop_labels)
        multi = gold.str.contains(spec.labels_sep, literal=True).fill_null(False)
        for i in multi.arg_true().to_list():
            problems.append(Problem(f"'{gold[i]}' has several labels in a single-label task",
                                    row=rows[i], column=spec.label_col))
        bad = ~gold.is_in(list(known)).fill_null(True) & ~multi
        for i in bad.arg_true().to_list():
            problems.append(Problem(f"label '{gold[i]}' is not in the codebook", row=rows[i],
                                    column=spec.label_col))
    return gold


def _gold_multi(col: pl.Series, spec: CorpusSpec, cb: Codebook | None, rows: Sequence[int],
                problems: list[Problem], hints: list[str]) -> pl.Series:
    if col.dtype == pl.Object:
        col = pl.Series(col.name, [v if isinstance(v, list) else [v] if v is not None else [] for v in col.to_list()],
                        dtype=pl.List(pl.Utf8))
    gold = _parse_multi(col, spec.labels_sep).alias("labels")
    if cb is not None:
        mapping = _names_to_ids(gold.explode(), cb, spec.drop_labels)
        if mapping:
            gold = gold.list.eval(pl.element().replace(mapping))
        known = set(cb.ids) | set(spec.drop_labels)
        other_seps: dict[str, int] = {}
        for i, labs in enumerate(gold.to_list()):
            for lab in labs or []:
                if lab not in known:
                    problems.append(Problem(f"label '{lab}' is not in the codebook", row=rows[i],
                                            column=spec.labels_col))
                    for sep in (";", ",", "|", "/", "+"):
                        parts = [p.strip() for p in lab.split(sep)]
                        if sep != spec.labels_sep and len(parts) > 1 and all(
                                cb.resolve(p) or p in known for p in parts):
                            other_seps[sep] = other_seps.get(sep, 0) + 1
        if other_seps:
            sep = max(other_seps, key=lambda s: other_seps[s])
            hints.append(f"the cells seem to separate labels by {sep_name(sep)}, not {sep_name(spec.labels_sep)}: "
                         f"pass {_opt('labels-sep', 'labels_sep', sep)}")
    return gold


def long_texts(corpus: pl.DataFrame, limit: int | None = None) -> tuple[int, int]:
    """How many texts are longer than ``limit`` characters (default: what a verification sheet shows whole),
    and the length of the longest."""
    limit = SHEET_TEXT_LIMIT if limit is None else limit
    if "text" not in corpus.columns or corpus.height == 0:
        return 0, 0
    lengths = corpus["text"].str.len_chars()
    return int((lengths > limit).sum()), int(lengths.max() or 0)


def summarize(corpus: pl.DataFrame, codebook: Codebook | None = None, spec: CorpusSpec | None = None) -> str:
    """One line: rows, gold labels, strata, long texts and how the file was read, as ``llmcoder validate``
    prints it."""
    parts = [f"{corpus.height} rows"]
    if "label" in corpus.columns:
        n = corpus["label"].drop_nulls().n_unique()
        parts.append(f"{corpus['label'].is_not_null().sum()} with gold label ({n} distinct labels, single)")
    elif "labels" in corpus.columns:
        n = corpus["labels"].explode().drop_nulls().n_unique()
        parts.append(f"{(corpus['labels'].list.len() > 0).sum()} with gold labels ({n} distinct labels, multi)")
    else:
        parts.append("no gold labels")
    if codebook is not None:
        parts.append(f"codebook '{codebook.name}' ({len(codebook.labels)} labels, {codebook.task})")
    strata = [c for c in corpus.columns if c not in RESERVED]
    parts.append(f"strata: {', '.join(strata) if strata else 'none'}")
    n_long, longest = long_texts(corpus)
    if n_long:
        parts.append(f"{n_long} text{'s' if n_long > 1 else ''} longer than {SHEET_TEXT_LIMIT:,} characters "
                     f"(longest {longest:,}): kept whole in the corpus, but verification sheets cut them at "
                     f"{SHEET_TEXT_LIMIT:,} (Excel's cell limit) and coders read only their first max_doc_tokens "
                     "tokens")
    reading = spec.describe() if spec is not None else ""
    if reading:
        parts.append(f"read with {reading}")
    return "; ".join(parts)


def prepare_corpus(spec: CorpusSpec, codebook: Codebook | None, out: str | os.PathLike[str]) -> pl.DataFrame:
    """Validate the raw corpus and write the canonical Parquet table atomically."""
    corpus = build_corpus(spec, codebook)
    write_parquet(corpus, out)
    return corpus


def read_corpus(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a canonical corpus written by :func:`prepare_corpus`, or say why this file is not one."""
    p = Path(path)
    prepare = ("run 'llmcoder prepare --study <name>' on the raw corpus first, then pass the file it writes "
               "(results/<name>/corpus.parquet)")
    if not p.exists():
        raise InputError(str(p), "corpus file not found",
                         fix="check the path (relative to the folder you run llmcoder from); " + prepare)
    if p.is_dir():
        raise InputError(str(p), "is a folder, not a corpus file", fix="pass results/<name>/corpus.parquet")
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is not None and fmt != "parquet":
        raise InputError(str(p), f"this is a raw {fmt.upper()} corpus, not the canonical corpus Parquet", fix=prepare)
    try:
        df = pl.read_parquet(p)
    except Exception as e:
        raise InputError(str(p), f"not a readable Parquet file ({str(e).splitlines()[0]})", fix=prepare) from e
    missing = [c for c in ("doc_id", "text") if c not in df.columns]
    if missing:
        looks = " (it looks like a splits table)" if "split" in df.columns else ""
        raise InputError(str(p), f"not a canonical corpus: no column {', '.join(repr(c) for c in missing)}{looks}",
                         [Problem("it has: " + ", ".join(df.columns))], fix=prepare)
    return df
