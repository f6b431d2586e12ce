"""Corpus reading and validation: every format, every kind of malformed input, real data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from conftest import shared_file
from llmcoder.codebook import Codebook, Label, load_codebook
from llmcoder.corpus import CorpusSpec, build_corpus, prepare_corpus, summarize
from llmcoder.errors import InputError

GOOD_ROWS = [
    {"id": "d1", "text": "Will the minister fund more hospital beds?", "label": "health", "party": "A", "year": "2019"},
    {"id": "d2", "text": "What is being done about school buildings?", "label": "education", "party": "B", "year": "2020"},
    {"id": "d3", "text": "Gas prices are rising; what will the government do?", "label": "energy", "party": "A", "year": "2021"},
    {"id": "007", "text": "Nurses' pay.", "label": "health", "party": "B", "year": "2021"},
]


def write_csv(path: Path, rows: list[dict], sep: str = ",") -> Path:
    df = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    df.write_csv(path, separator=sep)
    return path


def spec(path: Path, **kw) -> CorpusSpec:
    return CorpusSpec(path=str(path), label_col=kw.pop("label_col", "label"), **kw)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl", "xlsx"])
def test_every_format_gives_the_same_canonical_table(tmp_path, codebook_path, fmt):
    df = pl.DataFrame(GOOD_ROWS, schema={k: pl.Utf8 for k in GOOD_ROWS[0]})
    path = tmp_path / f"corpus.{fmt}"
    if fmt == "csv":
        df.write_csv(path)
    elif fmt == "tsv":
        df.write_csv(path, separator="\t")
    elif fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in GOOD_ROWS) + "\n", encoding="utf-8")
    else:
        import openpyxl

        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(list(GOOD_ROWS[0]))
        for r in GOOD_ROWS:
            ws.append([int(r["year"]) if k == "year" else r[k] for k in r])  # a number cell, as Excel stores it
        wb.save(path)
    out = build_corpus(spec(path), load_codebook(codebook_path))
    assert out.columns == ["doc_id", "text", "label", "party", "year"]
    assert out["doc_id"].to_list() == ["d1", "d2", "d3", "007"]  # leading zeros kept
    assert out["label"].to_list() == ["health", "education", "energy", "health"]
    assert out["year"].to_list() == ["2019", "2020", "2021", "2021"]
    assert out.schema["doc_id"] == pl.Utf8


def test_multilabel_corpus_parses_label_sets(tmp_path):
    cb = Codebook(labels=(Label("joy", "Joy"), Label("anger", "Anger"), Label("fear", "Fear")), task="multi")
    path = write_csv(tmp_path / "c.csv", [
        {"id": "1", "text": "yay", "labels": "joy"},
        {"id": "2", "text": "grr and eek", "labels": "anger | fear"},
        {"id": "3", "text": "meh", "labels": ""},
    ])
    out = build_corpus(CorpusSpec(path=str(path), labels_col="labels"), cb)
    assert out["labels"].to_list() == [["joy"], ["anger", "fear"], []]
    assert "3 rows; 2 with gold labels (3 distinct labels, multi)" in summarize(out)


def test_drop_labels_removes_documents(tmp_path, codebook_path):
    rows = GOOD_ROWS + [{"id": "x", "text": "Other things.", "label": "99", "party": "A", "year": "2020"}]
    path = write_csv(tmp_path / "c.csv", rows)
    out = build_corpus(spec(path, drop_labels=("99",)), load_codebook(codebook_path))
    assert out.height == 4 and "99" not in out["label"].to_list()


def test_prepare_writes_parquet_atomically(tmp_path, codebook_path):
    path = write_csv(tmp_path / "c.csv", GOOD_ROWS)
    out = tmp_path / "out" / "corpus.parquet"
    df = prepare_corpus(spec(path), load_codebook(codebook_path), out)
    assert pl.read_parquet(out).equals(df)
    assert [p.name for p in out.parent.iterdir()] == ["corpus.parquet"]  # no temp file left


# --- malformed inputs: each names file, row and fix, and writes nothing --------------------------

def _bad_bytes(tmp: Path) -> Path:
    p = tmp / "c.csv"
    p.write_bytes("id,text,label\nd1,caf\u00e9 ok,health\n".encode() + b"d2,caf\xe9 latin1,health\n")
    return p


def _ragged(tmp: Path) -> Path:
    p = tmp / "c.csv"
    p.write_text("id,text,label\nd1,hello,health\nd2,a, b, c,health\n", encoding="utf-8")
    return p


def _rows(tmp: Path, changes: dict[int, dict], drop: tuple[str, ...] = ()) -> Path:
    rows = [dict(r) for r in GOOD_ROWS]
    for i, ch in changes.items():
        rows[i].update(ch)
    rows = [{k: v for k, v in r.items() if k not in drop} for r in rows]
    return write_csv(tmp / "c.csv", rows)


def _jsonl_bad(tmp: Path) -> Path:
    p = tmp / "c.jsonl"
    p.write_text('{"id": "1", "text": "a", "label": "health"}\n{"id": "2", "text": "b", "label": \n',
                 encoding="utf-8")
    return p


def _jsonl_array(tmp: Path) -> Path:
    p = tmp / "c.jsonl"
    p.write_text('{"id": "1", "text": "a", "label": "health"}\n["2", "b"]\n', encoding="utf-8")
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "c.csv"
    p.write_text("", encoding="utf-8")
    return p


def _header_only(tmp: Path) -> Path:
    p = tmp / "c.csv"
    p.write_text("id,text,label\n", encoding="utf-8")
    return p


def _not_xlsx(tmp: Path) -> Path:
    p = tmp / "c.xlsx"
    p.write_text("this is not a workbook", encoding="utf-8")
    return p


def _bad_suffix(tmp: Path) -> Path:
    p = tmp / "c.docx"
    p.write_text("x", encoding="utf-8")
    return p


def _truncated_utf8(tmp: Path) -> Path:
    p = tmp / "c.csv"
    p.write_bytes(b"id,text,label\nd1,caf\xc3")
    return p


MALFORMED = {
    "missing file": (lambda t: t / "nope.csv", {}, "corpus file not found", None, "check corpus.path"),
    "unknown suffix": (_bad_suffix, {}, "unknown file type '.docx'", None, "use one of"),
    "undecodable bytes": (_bad_bytes, {}, "not valid UTF-8", "row 3", "re-save the file as UTF-8"),
    "truncated utf-8": (_truncated_utf8, {}, "ends in the middle of a UTF-8 character", "row 2", "export or copy the file again"),
    "empty file": (_empty, {}, "the file is empty", None, "header row"),
    "header only": (_header_only, {}, "the corpus has no rows", None, "holds the documents"),
    "ragged csv": (_ragged, {}, "wrong number of fields", "row 3", "quote fields"),
    "missing text column": (lambda t: _rows(t, {}, drop=("text",)), {}, "column(s) 'text' not found", "row 1 holds: 'id', 'label'", "--text"),
    "missing label column": (lambda t: _rows(t, {}, drop=("label",)), {}, "column(s) 'label' not found", "row 1 holds: 'id', 'text'", "corpus.label"),
    "missing stratum column": (lambda t: _rows(t, {}), {"strata": ["region"]}, "column(s) 'region' not found", None, "strata"),
    "duplicate id": (lambda t: _rows(t, {2: {"id": "d1"}}), {}, "duplicate id 'd1' (first at row 2)", "row 4", "unique"),
    "empty id": (lambda t: _rows(t, {1: {"id": "  "}}), {}, "empty document id", "row 3", "non-empty id"),
    "empty text": (lambda t: _rows(t, {0: {"text": ""}}), {}, "empty or whitespace-only text", "row 2", "non-empty text"),
    "whitespace text": (lambda t: _rows(t, {3: {"text": " \t "}}), {}, "empty or whitespace-only text", "row 5", "non-empty text"),
    "label not in codebook": (lambda t: _rows(t, {1: {"label": "defence"}}), {}, "label 'defence' is not in the codebook", "row 3", "health, education, energy"),
    "several labels in single task": (lambda t: _rows(t, {0: {"label": "health|energy"}}), {}, "has several labels in a single-label task", "row 2", "label ids"),
    "invalid json line": (_jsonl_bad, {}, "not valid JSON", "row 2", "one JSON object per line"),
    "json array line": (_jsonl_array, {}, "must hold one JSON object", "row 2", "one JSON object per line"),
    "not an xlsx": (_not_xlsx, {}, "not a readable XLSX workbook", None, "save as .xlsx"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_reported_and_nothing_is_written(tmp_path, codebook_path, case):
    make, kw, what, row, fix = MALFORMED[case]
    src = make(tmp_path)
    out = tmp_path / "results" / "corpus.parquet"
    out.parent.mkdir()
    out.write_bytes(b"previous good output")  # must survive a failed run untouched
    with pytest.raises(InputError) as info:
        prepare_corpus(spec(src, **kw), load_codebook(codebook_path), out)
    msg = str(info.value)
    assert msg.startswith(str(src)), msg  # names the file
    assert what in msg, msg
    if row:
        assert row in msg, msg
    assert fix in msg, msg
    assert out.read_bytes() == b"previous good output"
    assert sorted(p.name for p in out.parent.iterdir()) == ["corpus.parquet"]


def test_many_offenders_are_capped_with_a_count(tmp_path, codebook_path):
    rows = [{"id": f"d{i}", "text": "", "label": "health"} for i in range(45)]
    path = write_csv(tmp_path / "c.csv", rows)
    with pytest.raises(InputError) as info:
        build_corpus(spec(path), load_codebook(codebook_path))
    msg = str(info.value)
    assert msg.count("empty or whitespace-only text") == 20
    assert "... and 25 more (45 in all)" in msg


def test_multilabel_label_not_in_codebook(tmp_path):
    cb = Codebook(labels=(Label("joy", "Joy"), Label("anger", "Anger")), task="multi")
    path = write_csv(tmp_path / "c.csv", [{"id": "1", "text": "x", "labels": "joy|sadness"}])
    with pytest.raises(InputError, match=r"row 2, column 'labels': label 'sadness' is not in the codebook"):
        build_corpus(CorpusSpec(path=str(path), labels_col="labels"), cb)


def test_gold_may_name_labels_instead_of_ids(tmp_path, codebook_path):
    single = write_csv(tmp_path / "s.csv", [{"id": "1", "text": "x", "label": "  HEALTH"},
                                             {"id": "2", "text": "y", "label": "energy"}])
    assert build_corpus(spec(single), load_codebook(codebook_path))["label"].to_list() == ["health", "energy"]
    cb = Codebook(labels=(Label("pv", "Feeling having a political voice"), Label("happy", "Happiness")),
                  task="multi")
    multi = write_csv(tmp_path / "m.csv", [{"id": "1", "text": "x", "labels": "feeling  having a political voice|happy"},
                                            {"id": "2", "text": "y", "labels": "Happiness"}])
    out = build_corpus(CorpusSpec(path=str(multi), labels_col="labels"), cb)
    assert out["labels"].to_list() == [["pv", "happy"], ["happy"]]


# --- real data ---------------------------------------------------------------------------------

def test_real_cap_us_congress_bills():
    path = shared_file("cap_us", "congress_bills.csv")
    raw = pl.read_csv(path, infer_schema=False)
    names = raw.select("label_code", "label").unique().sort(pl.col("label_code").cast(pl.Int32))
    cb = Codebook(labels=tuple(Label(c, n) for c, n in names.iter_rows()), name="CAP (US bills)")
    corpus = build_corpus(CorpusSpec(path=str(path), label_col="label_code", strata=["chamber", "congress"],
                                     drop_labels=("99",)), cb)
    assert corpus.height == 4449 - 30  # SOURCE.md: 4,449 rows, 30 of them code 99
    assert corpus["label"].n_unique() == 19
    assert corpus.filter(pl.col("label") == "3").height == 617  # Health, per SOURCE.md
    assert corpus["doc_id"].is_unique().all()
    full = build_corpus(CorpusSpec(path=str(path), label_col="label_code", strata=["chamber"]), cb)
    counts = dict(full["chamber"].value_counts().iter_rows())
    assert counts == {"HR": 1269, "S": 3180}  # SOURCE.md
