"""Read a raw corpus (CSV, TSV, Parquet, JSONL, XLSX) into llmcoder's canonical table, or say why not.

The canonical corpus is a Parquet table with ``doc_id`` (string), ``text`` (string), optionally the
gold ``label`` (single-label) or ``labels`` (multi-label, a list of label ids), and the remaining
columns kept as strata (party, year, source...), all as strings so that ``007`` stays ``007``.

Validation is strict and all-or-nothing: every problem names the file, the row as a spreadsheet
shows it (the header is row 1, so the first record is row 2; JSONL and Parquet count records from
1) and the fix; nothing is written unless the whole corpus is valid.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.codebook import MULTI_SEP, Codebook
from llmcoder.errors import InputError, Problem, rows_problem
from llmcoder.io import write_parquet

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
RESERVED = ("doc_id", "text", "label", "labels")


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

    def __post_init__(self) -> None:
        if self.label_col and self.labels_col:
            raise ValueError("give either label_col (single-label) or labels_col (multi-label), not both")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CorpusSpec:
        """Build from a study's ``corpus:`` block in config.yaml (keys: path, id, text, label, labels...)."""
        return cls(
            path=str(cfg["path"]),
            id_col=cfg.get("id", "id"),
            text_col=cfg.get("text", "text"),
            label_col=cfg.get("label"),
            labels_col=cfg.get("labels"),
            labels_sep=cfg.get("labels_sep", MULTI_SEP),
            strata=cfg.get("strata"),
            drop_labels=tuple(str(x) for x in cfg.get("drop_labels", ()) or ()),
            format=cfg.get("format"),
            sheet=cfg.get("sheet"),
        )

    @property
    def fmt(self) -> str:
        if self.format:
            return self.format
        fmt = FORMATS.get(Path(self.path).suffix.lower())
        if fmt is None:
            raise InputError(self.path, f"unknown file type '{Path(self.path).suffix}'",
                             fix=f"use one of {', '.join(sorted(FORMATS))} or set corpus.format")
        return fmt


# -- reading raw files -------------------------------------------------------------------------

def _check_utf8(path: Path) -> None:
    """Fail with the line of the first byte that is not UTF-8 (streamed, so large files are fine)."""
    dec = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            try:
                dec.decode(block)
            except UnicodeDecodeError as e:
                line += block.count(b"\n", 0, e.start)
                raise InputError(
                    str(path), "the file is not valid UTF-8",
                    [Problem(f"byte 0x{block[e.start]:02x} cannot be decoded", row=line)],
                    fix="re-save the file as UTF-8 (in Excel: 'CSV UTF-8'; in R: write.csv(..., fileEncoding='UTF-8'))",
                ) from e
            line += block.count(b"\n")
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise InputError(str(path), "the file ends in the middle of a UTF-8 character",
                             [Problem("truncated character", row=line)], fix="re-save the file as UTF-8") from e


def _read_delimited(path: Path, sep: str) -> pl.DataFrame:
    _check_utf8(path)
    try:
        df = pl.read_csv(path, separator=sep, infer_schema=False, encoding="utf8")
    except pl.exceptions.NoDataError as e:
        raise InputError(str(path), "the file is empty", fix="export the corpus again with a header row") from e
    except pl.exceptions.PolarsError as e:
        # Find the first malformed record with the csv module, which knows record numbers.
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter=sep)
            header = next(reader, [])
            for i, rec in enumerate(reader, start=2):
                if len(rec) != len(header):
                    raise InputError(
                        str(path), "a record has the wrong number of fields",
                        [Problem(f"{len(rec)} fields, the header has {len(header)}", row=i)],
                        fix="quote fields that contain the separator or line breaks, then export again",
                    ) from e
        raise InputError(str(path), f"could not be parsed as {'TSV' if sep == chr(9) else 'CSV'}: {e}",
                         fix="check quoting and the separator") from e
    return df


def _read_jsonl(path: Path) -> pl.DataFrame:
    _check_utf8(path)
    records = []
    problems = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
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
    if problems:
        raise InputError(str(path), "invalid JSON lines", problems, fix="write one JSON object per line")
    if not records:
        raise InputError(str(path), "the file is empty", fix="write one JSON object per line")
    cols: dict[str, None] = {}
    for rec in records:
        cols.update(dict.fromkeys(rec))
    data = {c: [_jsonl_cell(r.get(c)) for r in records] for c in cols}
    return pl.DataFrame(data, schema={c: _jsonl_dtype(data[c]) for c in cols})


def _jsonl_cell(v: Any) -> Any:
    if v is None or isinstance(v, list):
        return [str(x) for x in v] if isinstance(v, list) else None
    return str(v)


def _jsonl_dtype(values: list[Any]) -> pl.DataType:
    return pl.List(pl.Utf8) if any(isinstance(v, list) for v in values) else pl.Utf8


def _read_xlsx(path: Path, sheet: str | None) -> pl.DataFrame:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a bad file
        raise InputError(str(path), f"not a readable XLSX workbook ({type(e).__name__})",
                         fix="open it in a spreadsheet program and save as .xlsx") from e
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise InputError(str(path), f"worksheet '{sheet}' not found (have: {', '.join(wb.sheetnames)})",
                             fix="set corpus.sheet to one of the worksheets")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise InputError(str(path), "the worksheet is empty", fix="put a header row in row 1")
        names = [str(h) if h is not None else f"column_{j + 1}" for j, h in enumerate(header)]
        data: list[list[str | None]] = [[] for _ in names]
        for rec in rows:
            for j in range(len(names)):
                v = rec[j] if j < len(rec) else None
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                data[j].append(None if v is None else str(v))
    finally:
        wb.close()
    return pl.DataFrame({n: col for n, col in zip(names, data, strict=True)},
                        schema={n: pl.Utf8 for n in names})


def read_raw(spec: CorpusSpec) -> tuple[pl.DataFrame, int]:
    """Read the raw file as strings; return it and the row number of its first record."""
    path = Path(spec.path)
    if not path.is_file():
        raise InputError(str(path), "corpus file not found",
                         fix="check corpus.path in config.yaml (paths are relative to the working directory)")
    fmt = spec.fmt
    if fmt in ("csv", "tsv"):
        return _read_delimited(path, "," if fmt == "csv" else "\t"), 2
    if fmt == "xlsx":
        return _read_xlsx(path, spec.sheet), 2
    if fmt == "jsonl":
        return _read_jsonl(path), 1
    if fmt == "parquet":
        try:
            df = pl.read_parquet(path)
        except Exception as e:
            raise InputError(str(path), f"not a readable Parquet file ({e})", fix="write it again") from e
        casts = [pl.col(c).cast(pl.List(pl.Utf8)) if isinstance(t, pl.List) else pl.col(c).cast(pl.Utf8)
                 for c, t in df.schema.items()]
        return df.select(casts), 1
    raise InputError(str(path), f"unknown format '{fmt}'", fix=f"use one of {sorted(set(FORMATS.values()))}")


# -- validation --------------------------------------------------------------------------------

def _row_numbers(mask: pl.Series, first_row: int) -> list[int]:
    return [i + first_row for i in mask.arg_true().to_list()]


def _parse_multi(series: pl.Series, sep: str) -> pl.Series:
    if isinstance(series.dtype, pl.List):
        return series.list.eval(pl.element().str.strip_chars()).list.eval(
            pl.element().filter(pl.element() != ""))
    return (series.fill_null("").str.split(sep)
            .list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != "")))


def build_corpus(spec: CorpusSpec, codebook: Codebook | None = None) -> pl.DataFrame:
    """Read and validate a raw corpus; return the canonical table or raise :class:`InputError`."""
    raw, first = read_raw(spec)
    src = spec.path
    if raw.height == 0:
        raise InputError(src, "the corpus has no rows", fix="check that the file holds the documents")
    wanted = [spec.id_col, spec.text_col] + [c for c in (spec.label_col, spec.labels_col) if c]
    wanted += list(spec.strata or [])
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise InputError(
            src, f"column(s) {', '.join(repr(c) for c in missing)} not found",
            fix=f"the file has: {', '.join(raw.columns)}; set corpus.id/text/label/strata in config.yaml",
        )
    problems: list[Problem] = []
    ids = raw[spec.id_col].cast(pl.Utf8).str.strip_chars()
    empty_id = ids.is_null() | (ids == "")
    problems += rows_problem(_row_numbers(empty_id, first), "empty document id", spec.id_col)
    dup = ids.is_duplicated() & ~empty_id
    if dup.any():
        first_seen: dict[str, int] = {}
        for i, v in enumerate(ids.to_list()):
            if v and dup[i]:
                if v in first_seen:
                    problems.append(Problem(f"duplicate id '{v}' (first at row {first_seen[v]})",
                                            row=i + first, column=spec.id_col))
                else:
                    first_seen[v] = i + first
    text = raw[spec.text_col].cast(pl.Utf8)
    empty_text = text.is_null() | (text.str.strip_chars() == "")
    problems += rows_problem(_row_numbers(empty_text, first), "empty or whitespace-only text", spec.text_col)
    if problems:
        raise InputError(src, "invalid documents", problems,
                         fix="give every row a unique, non-empty id and a non-empty text")

    out: dict[str, pl.Series] = {"doc_id": ids.alias("doc_id"), "text": text.alias("text")}
    keep = pl.Series([True] * raw.height)
    if spec.label_col:
        out["label"] = _gold_single(raw[spec.label_col], spec, codebook, first, problems)
        if spec.drop_labels:
            keep = ~out["label"].is_in(list(spec.drop_labels)).fill_null(False)
    if spec.labels_col:
        out["labels"] = _gold_multi(raw[spec.labels_col], spec, codebook, first, problems)
        if spec.drop_labels:
            out["labels"] = out["labels"].list.eval(
                pl.element().filter(~pl.element().is_in(list(spec.drop_labels))))
    if problems:
        raise InputError(src, "gold labels that are not in the codebook", problems,
                         fix=f"use the codebook's label ids ({_ids_hint(codebook)}) or names, or add the labels to it")
    strata = spec.strata if spec.strata is not None else [
        c for c in raw.columns if c not in {spec.id_col, spec.text_col, spec.label_col, spec.labels_col}]
    for c in strata:
        name = c if c not in RESERVED else f"stratum_{c}"
        out[name] = raw[c].alias(name)
    return pl.DataFrame(list(out.values())).filter(keep)


def _ids_hint(codebook: Codebook | None) -> str:
    if codebook is None:
        return "?"
    ids = codebook.ids
    return ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")


def _names_to_ids(values: pl.Series, cb: Codebook, drop_labels: Sequence[str]) -> dict[str, str]:
    """Gold values that give a label by its name (any case, spaces collapsed) mapped to the label's id.

    Ids and dropped labels stay as they are; unknown values too (they are reported as not in the codebook).
    """
    keep = set(cb.ids) | set(drop_labels)
    found = cb.resolve_many(v for v in values.drop_nulls().unique().to_list() if v not in keep)
    return {v: lid for v, lid in found.items() if lid is not None}


def _gold_single(col: pl.Series, spec: CorpusSpec, cb: Codebook | None, first: int,
                 problems: list[Problem]) -> pl.Series:
    if isinstance(col.dtype, pl.List):
        raise InputError(spec.path, f"column '{spec.label_col}' holds lists",
                         fix="a multi-label corpus sets corpus.labels instead of corpus.label")
    gold = col.cast(pl.Utf8).str.strip_chars()
    gold = pl.Series("label", [None if v == "" else v for v in gold.to_list()], dtype=pl.Utf8)
    if cb is not None:
        if cb.task == "multi":
            raise InputError(spec.path, "the codebook is multi-label but the corpus has a single 'label' column",
                             fix="set corpus.labels (not corpus.label) for a multi-label corpus")
        gold = gold.replace(_names_to_ids(gold, cb, spec.drop_labels))
        known = set(cb.ids) | set(spec.drop_labels)
        multi = gold.str.contains(spec.labels_sep, literal=True).fill_null(False)
        for i in multi.arg_true().to_list():
            problems.append(Problem(f"'{gold[i]}' has several labels in a single-label task",
                                    row=i + first, column=spec.label_col))
        bad = ~gold.is_in(list(known)).fill_null(True) & ~multi
        for i in bad.arg_true().to_list():
            problems.append(Problem(f"label '{gold[i]}' is not in the codebook", row=i + first,
                                    column=spec.label_col))
    return gold


def _gold_multi(col: pl.Series, spec: CorpusSpec, cb: Codebook | None, first: int,
                problems: list[Problem]) -> pl.Series:
    gold = _parse_multi(col, spec.labels_sep).alias("labels")
    if cb is not None:
        mapping = _names_to_ids(gold.explode(), cb, spec.drop_labels)
        if mapping:
            gold = gold.list.eval(pl.element().replace(mapping))
        known = set(cb.ids) | set(spec.drop_labels)
        for i, labs in enumerate(gold.to_list()):
            for lab in labs or []:
                if lab not in known:
                    problems.append(Problem(f"label '{lab}' is not in the codebook", row=i + first,
                                            column=spec.labels_col))
    return gold


def summarize(corpus: pl.DataFrame, codebook: Codebook | None = None) -> str:
    """One line: rows, gold labels and strata, as ``llmcoder validate`` prints it."""
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
    return "; ".join(parts)


def prepare_corpus(spec: CorpusSpec, codebook: Codebook | None, out: str | os.PathLike[str]) -> pl.DataFrame:
    """Validate the raw corpus and write the canonical Parquet table atomically."""
    corpus = build_corpus(spec, codebook)
    write_parquet(corpus, out)
    return corpus


def read_corpus(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read a canonical corpus written by :func:`prepare_corpus`."""
    return pl.read_parquet(path)
