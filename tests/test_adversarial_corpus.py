"""Adversarial suite, data layer: the corpus, codebook, config and split inputs researchers really hand
llmcoder (Excel exports, other separators and encodings, title rows, lock files...), each run as a user
runs ``llmcoder validate / prepare / split``: exit 2, no traceback, a message naming the file, the row or
key and the fix, and no file created, changed or removed. The checks that such files are accepted, with
the right values, follow the table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from adversarial import CODEBOOK, CORPUS_CSV, Case, check, run_llmcoder

# -- small writers -------------------------------------------------------------------------------

ROWS = [["id", "text", "label"], ["d1", "More nurses for hospitals", "health"],
        ["d2", "New school buildings", "education"], ["d3", "Cheaper electricity", "energy"]]


def xlsx(*sheets: tuple[str, Sequence[Sequence[Any]]], merge: Sequence[str] = ()) -> Callable[[Path], None]:
    """A writer of a workbook with these sheets (name, rows); ``merge`` merges cell ranges on the first."""
    def write(path: Path) -> None:
        import openpyxl

        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, rows in sheets:
            ws = wb.create_sheet(name)
            for r in rows:
                ws.append(list(r))
        for rng in merge:
            wb.worksheets[0].merge_cells(rng)
        wb.save(path)
    return write


def parquet(**columns: Any) -> Callable[[Path], None]:
    """A writer of a Parquet file with these columns."""
    return lambda path: pl.DataFrame(columns).write_parquet(path)


def canonical(n: int, labels: Sequence[str | None] = ("health", "education", "energy")) -> Callable[[Path], None]:
    """A writer of a canonical corpus of ``n`` documents (as 'llmcoder prepare' writes it)."""
    return parquet(doc_id=[f"d{i}" for i in range(n)], text=[f"text {i}" for i in range(n)],
                   label=[labels[i % len(labels)] for i in range(n)])


def config(corpus: str, extra: str = "", path: str = "c.csv") -> str:
    """A config.yaml with one study 's' whose corpus block is ``{path: ..., <corpus>}``."""
    return f"studies:\n  s:\n    corpus: {{path: {path}{', ' + corpus if corpus else ''}}}\n    codebook: cb.yaml\n{extra}"


MULTI_CB = "task: multi\nlabels:\n  - {id: joy, name: Joy}\n  - {id: anger, name: Anger}\n  - {id: fear, name: Fear}\n"
CB = {"cb.yaml": CODEBOOK}
SEMI = "id;text;label\nd1;Hospitals, beds and nurses;health\nd2;Schools;education\n"
CP1252 = "id,text,label\nd1,Hospitals,health\nd2,Caf\u00e9 and schools,education\n".encode("cp1252")

CASES = [
    # --- corpus files: separators, encodings, headers ---------------------------------------------
    Case("csv-semicolon-given-comma", "validate c.csv --sep ,", {"c.csv": SEMI}, ("c.csv", "row 1", "--sep ';'")),
    Case("csv-cp1252-as-utf8", "validate c.csv", {"c.csv": CP1252}, ("c.csv", "row 3", "byte", "--encoding cp1252")),
    Case("csv-utf16", "validate c.csv", {"c.csv": "id\ttext\nd1\tHospitals\n".encode("utf-16")},
         ("c.csv", "UTF-16", "--encoding utf-16")),
    Case("csv-unknown-encoding", "validate c.csv --encoding utf9", {"c.csv": CORPUS_CSV},
         ("c.csv", "unknown encoding 'utf9'", "cp1252")),
    Case("csv-utf8-cut-off", "validate c.csv", {"c.csv": b"id,text\nd1,caf\xc3"},
         ("c.csv", "row 2", "ends in the middle", "again")),
    Case("csv-empty-file", "validate c.csv", {"c.csv": ""}, ("c.csv", "empty", "header row")),
    Case("csv-header-only", "validate c.csv", {"c.csv": "id,text,label\r\n"}, ("c.csv", "no rows", "documents")),
    Case("csv-title-rows", "validate c.csv", {"c.csv": "Questions export 2024\n\nid,text\nd1,Hospitals\n"},
         ("c.csv", "row 3", "--header-row 3", "corpus.header_row: 3")),
    Case("csv-header-case", "validate c.csv", {"c.csv": "ID,Text\nd1,Hospitals\n"},
         ("c.csv", "'id' may be 'ID'", "--text Text")),
    Case("csv-duplicate-column", "validate c.csv", {"c.csv": "id,text,text\nd1,a,b\n"},
         ("c.csv", "column 'text' appears 2 times", "different name")),
    Case("csv-ragged-row", "validate c.csv", {"c.csv": "id,text,label\nd1,Hospitals,health\nd2,a, b, c,health\n"},
         ("c.csv", "row 3", "wrong number of fields", "quote")),
    Case("csv-unclosed-quote", "validate c.csv", {"c.csv": 'id,text\nd1,ok\nd2,"He said hi\nd3,ok\n'},
         ("c.csv", "row 3", "never closed", "close the quote")),
    Case("csv-sep-two-characters", "validate c.csv --sep ';;'", {"c.csv": SEMI},
         ("c.csv", "not one character", "--sep ';'")),
    Case("csv-header-row-zero", "validate c.csv --header-row 0", {"c.csv": CORPUS_CSV},
         ("--header-row", "numbered from 1")),
    Case("csv-numbers-as-text", "validate c.csv --text year", {"c.csv": "id,year,body\nd1,2015,Hospitals\n"},
         ("c.csv", "column 'year' holds numbers", "row 2", "2015", "--text body")),
    # --- corpus rows ------------------------------------------------------------------------------
    Case("csv-bom-label-not-in-codebook", "validate c.csv --codebook cb.yaml",
         {"c.csv": "\ufeffid,text,label\nd1,Hospitals,health\nd2,Tanks,defence\n", **CB},
         ("c.csv", "row 3", "label 'defence' is not in the codebook", "health, education, energy")),
    Case("csv-crlf-empty-text", "validate c.csv", {"c.csv": b"id,text\r\nd1,Hospitals\r\nd2,  \r\n"},
         ("c.csv", "row 3", "empty or whitespace-only text", "non-empty text")),
    Case("csv-duplicate-ids", "validate c.csv", {"c.csv": "id,text\nd1,a\nd2,b\nd1,c\n"},
         ("c.csv", "row 4", "duplicate id 'd1' (first at row 2)", "unique")),
    Case("csv-empty-id", "validate c.csv", {"c.csv": "id,text\n,a\nd2,b\n"}, ("c.csv", "row 2", "empty document id")),
    Case("csv-ids-differ-by-space", "validate c.csv", {"c.csv": "id,text\nd1,a\n d1 ,b\n"},
         ("c.csv", "row 3", "duplicate id 'd1'", "without the spaces")),
    Case("csv-multilabel-wrong-sep", "validate c.csv --labels labels --codebook cb.yaml",
         {"c.csv": "id,text,labels\nd1,yay and grr,joy;anger\nd2,eek,fear\n", "cb.yaml": MULTI_CB},
         ("c.csv", "row 2", "'joy;anger'", "--labels-sep ';'")),
    Case("csv-several-labels-single", "validate c.csv --codebook cb.yaml",
         {"c.csv": "id,text,label\nd1,a,health|energy\n", **CB}, ("c.csv", "row 2", "several labels")),
    Case("csv-label-and-labels", "validate c.csv --label label --labels label", {"c.csv": CORPUS_CSV},
         ("c.csv", "not both")),
    Case("corpus-missing-typo", "validate corpus.csv", {"corpsu.csv": CORPUS_CSV},
         ("corpus.csv", "not found", "did you mean", "corpsu.csv")),
    Case("corpus-is-folder", "validate data", {"data/c.csv": CORPUS_CSV}, ("data", "folder", "file inside")),
    Case("corpus-old-xls", "validate c.xls", {"c.xls": b"\xd0\xcf\x11\xe0"}, ("c.xls", "old Excel", ".xlsx")),
    # --- XLSX -----------------------------------------------------------------------------------
    Case("xlsx-header-on-row-3", "validate c.xlsx", {"c.xlsx": xlsx(("data", [["Export"], [None], *ROWS]))},
         ("c.xlsx", "row 3 of sheet 'data'", "--header-row 3", "corpus.header_row: 3")),
    Case("xlsx-data-on-second-sheet", "validate c.xlsx",
         {"c.xlsx": xlsx(("Notes", [["Read me first"]]), ("data", ROWS))},
         ("c.xlsx", "row 1 of sheet 'data'", "--sheet data", "corpus.sheet: data")),
    Case("xlsx-wrong-sheet-case", "validate c.xlsx --sheet Data", {"c.xlsx": xlsx(("data", ROWS))},
         ("c.xlsx", "'Data' not found", "--sheet data")),
    Case("xlsx-merged-labels", "validate c.xlsx",
         {"c.xlsx": xlsx(("data", [*ROWS, ["d4", "Wind parks", "energy"]]), merge=["C4:C5"])},
         ("c.xlsx", "row 4", "C4:C5", "unmerge")),
    Case("xlsx-numbers-as-text", "validate c.xlsx --text year",
         {"c.xlsx": xlsx(("data", [["id", "year", "body"], ["d1", 2015, "Hospitals"]]))},
         ("c.xlsx", "column 'year' holds numbers", "row 2", "--text body")),
    Case("xlsx-empty-workbook", "validate c.xlsx", {"c.xlsx": xlsx(("Sheet1", []))}, ("c.xlsx", "empty", "row 1")),
    Case("xlsx-not-a-workbook", "validate c.xlsx", {"c.xlsx": "id,text\nd1,a\n"}, ("c.xlsx", "not a readable XLSX")),
    Case("xlsx-excel-lock-file", "validate ~$c.xlsx", {"~$c.xlsx": b"\x05owner", "c.xlsx": xlsx(("data", ROWS))},
         ("~$c.xlsx", "lock file", "Excel", "pass 'c.xlsx'")),
    Case("xlsx-excel-lock-long-name", "validate ~$estions.xlsx",
         {"~$estions.xlsx": b"\x05owner", "questions.xlsx": xlsx(("data", ROWS))}, ("lock file", "'questions.xlsx'")),
    Case("xlsx-libreoffice-lock-file", "validate .~lock.c.xlsx#", {".~lock.c.xlsx#": "user,host,2024;"},
         ("lock file", "LibreOffice", "c.xlsx")),
    # --- Parquet / JSONL --------------------------------------------------------------------------
    Case("parquet-text-lists", "validate c.parquet", {"c.parquet": parquet(id=["1", "2"], text=[["a", "b"], ["c"]])},
         ("c.parquet", "column 'text' holds lists", "row 1", "join")),
    Case("parquet-text-booleans", "validate c.parquet", {"c.parquet": parquet(id=["1"], text=[True], body=["Hi"])},
         ("c.parquet", "true/false", "--text body")),
    Case("parquet-text-structs", "validate c.parquet", {"c.parquet": parquet(id=["1"], text=[{"en": "Hi"}])},
         ("c.parquet", "structs", "row 1")),
    Case("jsonl-text-list-in-one-row", "validate c.jsonl",
         {"c.jsonl": '{"id": 1, "text": "a"}\n{"id": 2, "text": ["b", "c"]}\n'}, ("c.jsonl", "row 2", "holds lists")),
    Case("jsonl-bad-line", "validate c.jsonl", {"c.jsonl": '{"id": 1, "text": "a"}\n{"id": 2, "text": \n'},
         ("c.jsonl", "row 2", "not valid JSON")),
    # --- codebooks ------------------------------------------------------------------------------
    Case("codebook-csv-other-layout", "validate c.csv --codebook cb.csv",
         {"c.csv": CORPUS_CSV, "cb.csv": "category_id,category_text\n1,Health\n2,Energy\n"},
         ("cb.csv", "'category_id', 'category_text'", "id, name", "YAML")),
    Case("codebook-csv-duplicate-id", "validate c.csv --codebook cb.csv",
         {"c.csv": CORPUS_CSV, "cb.csv": "id,name\nhealth,Health\nhealth,Energy\n"}, ("cb.csv", "row 3", "repeats row 2")),
    Case("codebook-is-the-corpus", "validate c.csv --codebook c.csv", {"c.csv": CORPUS_CSV},
         ("c.csv", "looks like a corpus", "--codebook")),
    Case("codebook-yaml-duplicate-id", "validate c.csv --codebook cb.yaml",
         {"c.csv": CORPUS_CSV, "cb.yaml": "labels:\n  - {id: health, name: Health}\n  - {id: health, name: Care}\n"},
         ("cb.yaml", "repeats id 'health'", "unique")),
    Case("codebook-yaml-syntax", "validate c.csv --codebook cb.yaml",
         {"c.csv": CORPUS_CSV, "cb.yaml": "labels:\n  - id: a\n    name: A\n   - id: b\n"},
         ("cb.yaml", "line 4", "indentation")),
    Case("codebook-yaml-tabs", "validate c.csv --codebook cb.yaml",
         {"c.csv": CORPUS_CSV, "cb.yaml": "labels:\n\t- id: a\n"}, ("cb.yaml", "line 2", "tabs")),
    Case("codebook-missing", "validate c.csv --codebook nope.yaml", {"c.csv": CORPUS_CSV},
         ("nope.yaml", "codebook file not found", "--codebook")),
    Case("codebook-xlsx", "validate c.csv --codebook cb.xlsx",
         {"c.csv": CORPUS_CSV, "cb.xlsx": xlsx(("cb", [["id", "name"], ["a", "A"]]))}, ("cb.xlsx", "YAML", "CSV")),
    # --- config.yaml and prepare ----------------------------------------------------------------
    Case("config-unknown-key", "prepare --study s", {"config.yaml": config("sepp: ';'"), "c.csv": SEMI, **CB},
         ("config.yaml", "studies.s.corpus", "did you mean 'sep' (not 'sepp')")),
    Case("config-wrong-type", "prepare --study s", {"config.yaml": config("header_row: '3'"), "c.csv": SEMI, **CB},
         ("config.yaml", "studies.s.corpus.header_row", "integer")),
    Case("config-yaml-syntax", "prepare --study s", {"config.yaml": config("label: label").replace("}", ""), **CB},
         ("config.yaml", "line 4", "lines are counted from 1")),
    Case("config-empty", "prepare --study s", {"config.yaml": "# nothing yet\n"}, ("config.yaml", "empty", "studies:")),
    Case("prepare-unknown-study", "prepare --study t", {"config.yaml": config(""), "c.csv": SEMI, **CB},
         ("config.yaml", "unknown study 't'", "--study")),
    Case("prepare-config-sep-wrong", "prepare --study s", {"config.yaml": config("sep: ','"), "c.csv": SEMI, **CB},
         ("c.csv", "corpus.sep: ';'")),
    Case("prepare-xlsx-header-row", "prepare --study s",
         {"config.yaml": config("", path="c.xlsx"), "c.xlsx": xlsx(("data", [["Title"], *ROWS])), **CB},
         ("c.xlsx", "row 2 of sheet 'data'", "corpus.header_row: 2")),
    Case("prepare-label-and-labels", "prepare --study s",
         {"config.yaml": config("label: label, labels: label"), "c.csv": CORPUS_CSV, **CB}, ("c.csv", "not both")),
    Case("prepare-out-blocked-by-file", "prepare --study s",
         {"config.yaml": config("label: label"), "c.csv": CORPUS_CSV, "results": "a file", **CB},
         ("results/s/corpus.parquet", "'results' is a file", "rename")),
    Case("prepare-out-is-the-corpus", "prepare --study s --out c.csv",
         {"config.yaml": config("label: label"), "c.csv": CORPUS_CSV, **CB}, ("c.csv", "overwrite", "--out")),
    # --- split ----------------------------------------------------------------------------------
    Case("split-raw-csv", "split c.csv --out s.parquet", {"c.csv": CORPUS_CSV},
         ("c.csv", "raw CSV", "llmcoder prepare")),
    Case("split-missing-corpus", "split results/s/corpus.parquet --out s.parquet", {},
         ("results/s/corpus.parquet", "not found", "llmcoder prepare")),
    Case("split-splits-table", "split s.parquet --out t.parquet",
         {"s.parquet": parquet(doc_id=["d1"], split=["train"])}, ("s.parquet", "splits table", "llmcoder prepare")),
    Case("split-ten-documents", "split c.parquet --out s.parquet", {"c.parquet": canonical(10)},
         ("c.parquet", "test split would be empty", "0 of the 10", "--no-stratify")),
    Case("split-two-documents-multi", "split c.parquet --out s.parquet",
         {"c.parquet": parquet(doc_id=["a", "b"], text=["x", "y"], labels=[["joy"], ["fear"]])},
         ("c.parquet", "empty", "larger share")),
    Case("split-no-gold", "split c.parquet --out s.parquet", {"c.parquet": canonical(20, labels=(None,))},
         ("c.parquet", "no document", "gold label")),
    Case("split-out-is-the-corpus", "split c.parquet --out c.parquet", {"c.parquet": canonical(40)},
         ("c.parquet", "overwrite", "--out")),
    Case("split-out-blocked-by-file", "split c.parquet --out out/s.parquet", {"c.parquet": canonical(40), "out": "x"},
         ("out/s.parquet", "'out' is a file", "rename")),
    Case("split-bad-sizes", "split c.parquet --out s.parquet --sizes 0.5,all", {"c.parquet": canonical(40)},
         ("--sizes", "0.5,all", "0.1,0.5,1")),
    Case("split-shares-over-1", "split c.parquet --out s.parquet --train 0.9", {"c.parquet": canonical(40)},
         ("--train", "sum to 1")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_the_table_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


# -- what must be accepted, with the right values ----------------------------------------------------

def _ok(argv: list[str], cwd: Path) -> str:
    res = run_llmcoder(argv, cwd)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


def test_semicolon_csv_is_read_and_the_separator_reported(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(SEMI, encoding="utf-8")
    (tmp_path / "cb.yaml").write_text(CODEBOOK, encoding="utf-8")
    out = _ok(["validate", "c.csv", "--codebook", "cb.yaml"], tmp_path)
    assert out.strip() == ("c.csv: ok: 2 rows; 2 with gold label (2 distinct labels, single); codebook "
                           "'Mini policy topics' (3 labels, single); strata: none; read with separator ';' (detected)")
    from llmcoder.corpus import CorpusSpec, build_corpus

    df = build_corpus(CorpusSpec(path=str(tmp_path / "c.csv"), label_col="label"))
    assert df["text"].to_list() == ["Hospitals, beds and nurses", "Schools"]  # the comma stays in the text


def test_cp1252_file_with_encoding_option(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_bytes(CP1252)
    out = _ok(["validate", "c.csv", "--encoding", "cp1252"], tmp_path)
    assert "read with separator ',' (detected), encoding cp1252" in out
    from llmcoder.corpus import CorpusSpec, build_corpus

    df = build_corpus(CorpusSpec(path=str(tmp_path / "c.csv"), encoding="cp1252", label_col="label"))
    assert df["text"].to_list() == ["Hospitals", "Caf\u00e9 and schools"]


def test_xlsx_header_on_row_3_of_a_named_sheet_through_prepare(tmp_path: Path) -> None:
    xlsx(("Notes", [["see data"]]), ("data", [["Export of 2024"], [None], *ROWS, ["d4", 2021, "health"]]))(
        tmp_path / "c.xlsx")
    (tmp_path / "cb.yaml").write_text(CODEBOOK, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(config("label: label, sheet: data, header_row: 3", path="c.xlsx"))
    out = _ok(["prepare", "--study", "s"], tmp_path)
    assert out.startswith("s: 4 rows; 4 with gold label") and "read with sheet 'data', header on row 3" in out
    df = pl.read_parquet(tmp_path / "results/s/corpus.parquet")
    assert df["doc_id"].to_list() == ["d1", "d2", "d3", "d4"]
    assert df["text"].to_list()[3] == "2021"  # a number among texts is kept as its text
    assert df["label"].to_list() == ["health", "education", "energy", "health"]


def test_csv_header_row_option(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("Export\n\nid;text\nd1;Hospitals\nd2;Schools\n", encoding="utf-8")
    out = _ok(["validate", "c.csv", "--header-row", "3"], tmp_path)
    assert "2 rows" in out and "separator ';' (detected), header on row 3" in out
    from llmcoder.corpus import CorpusSpec, build_corpus

    df = build_corpus(CorpusSpec(path=str(tmp_path / "c.csv"), header_row=3))
    assert df["doc_id"].to_list() == ["d1", "d2"] and df["text"].to_list() == ["Hospitals", "Schools"]


def test_long_text_is_kept_and_reported(tmp_path: Path) -> None:
    long = "word " * 200_000
    (tmp_path / "c.csv").write_text(f"id,text\nd1,{long}\nd2,short\n", encoding="utf-8")
    out = _ok(["validate", "c.csv"], tmp_path)
    assert "1 text longer than 32,000 characters (longest 1,000,000)" in out
    from llmcoder.corpus import CorpusSpec, build_corpus

    assert build_corpus(CorpusSpec(path=str(tmp_path / "c.csv")))["text"][0] == long
    from llmcoder.corpus import SHEET_TEXT_LIMIT
    from llmcoder.verify._common import MAX_CELL

    assert SHEET_TEXT_LIMIT == MAX_CELL  # the limit the summary names is the sheets' own


def test_csv_codebook_one_row_per_label_is_found(tmp_path: Path) -> None:
    from llmcoder.codebook import load_codebook

    p = tmp_path / "cb.csv"
    p.write_text("\ufeffcode;label;description\nh;Health;Hospitals; doctors\ne;Education;Schools\n".replace(
        "Hospitals; doctors", '"Hospitals; doctors"'), encoding="utf-8")
    cb = load_codebook(p)
    assert cb.ids == ["h", "e"] and cb.names == {"h": "Health", "e": "Education"}
    assert cb.label("h").definition == "Hospitals; doctors"


def test_parquet_float_labels_and_struct_strata(tmp_path: Path) -> None:
    from llmcoder.codebook import Codebook, Label
    from llmcoder.corpus import CorpusSpec, build_corpus

    p = tmp_path / "c.parquet"
    pl.DataFrame({"id": [1, 2, 3], "text": ["a", "b", "c"], "code": [3.0, None, 12.0],
                  "meta": [{"x": 1}, {"x": 2}, {"x": 3}]}).write_parquet(p)
    cb = Codebook(labels=(Label("3", "Health"), Label("12", "Law")))
    df = build_corpus(CorpusSpec(path=str(p), label_col="code"), cb)
    assert df["doc_id"].to_list() == ["1", "2", "3"]
    assert df["label"].to_list() == ["3", None, "12"]  # pandas' float codes, not '3.0'
    assert df["meta"].to_list() == ['{"x":1}', '{"x":2}', '{"x":3}']


def test_split_of_a_small_corpus_without_stratifying(tmp_path: Path) -> None:
    canonical(10)(tmp_path / "c.parquet")
    out = _ok(["split", "c.parquet", "--out", "s.parquet", "--no-stratify"], tmp_path)
    assert out.strip() == "s.parquet: dev 1, test 1, train 8"


def test_workflow_split_rule_refuses_an_empty_test_split(tmp_path: Path) -> None:
    """The split rule shares make_splits: 10 documents in 3 classes fail the rule, with the message in its log."""
    from test_workflow_data import run_snakemake

    (tmp_path / "c.csv").write_text("id,text,label\n" + "".join(
        f"d{i},text {i},{('health', 'education', 'energy')[i % 3]}\n" for i in range(10)), encoding="utf-8")
    (tmp_path / "cb.yaml").write_text(CODEBOOK, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(config("label: label"), encoding="utf-8")
    res = run_snakemake(tmp_path, "results/s/splits.parquet")
    assert res.returncode != 0
    log = (tmp_path / "logs/s/split.log").read_text(encoding="utf-8")
    assert "the test split would be empty" in log and "studies.s.split" in log and "Traceback" not in log
    assert (tmp_path / "results/s/corpus.parquet").is_file()
    assert not (tmp_path / "results/s/splits.parquet").exists()


def test_prepare_killed_at_any_point_leaves_the_old_corpus_or_the_new_one(tmp_path: Path) -> None:
    """SIGKILL during 'llmcoder prepare': the corpus Parquet is the previous one or the complete new one, and
    the next run leaves no temporary file behind."""
    import signal
    import subprocess
    import time

    from adversarial import llmcoder_command

    n = 200_000
    (tmp_path / "c.csv").write_text("id,text,label\n" + "".join(
        f"d{i},Question {i} about the hospitals of region {i % 97},{('health', 'energy')[i % 2]}\n"
        for i in range(n)), encoding="utf-8")
    (tmp_path / "cb.yaml").write_text(CODEBOOK, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(config("label: label"), encoding="utf-8")
    target = tmp_path / "results/s/corpus.parquet"
    target.parent.mkdir(parents=True)
    old = pl.DataFrame({"doc_id": ["old"], "text": ["old corpus"], "label": ["health"]})
    old.write_parquet(target)
    old_bytes = target.read_bytes()
    for delay in (0.4, 0.9, 1.5):
        proc = subprocess.Popen([*llmcoder_command(), "prepare", "--study", "s"], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = target.read_bytes()
        if data != old_bytes:  # the new corpus, whole
            assert pl.read_parquet(target).height == n
    _ok(["prepare", "--study", "s"], tmp_path)
    assert pl.read_parquet(target).height == n
    assert sorted(p.name for p in target.parent.iterdir()) == ["corpus.parquet"]
