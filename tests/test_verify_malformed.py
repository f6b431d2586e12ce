"""Malformed filled sheets: every problem named with file, row and fix; nothing written.

Each test breaks the filled sheets the way people do, runs ``llmcoder verify ingest`` and checks the
message (exit status 2) and that the output folder was not created.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
import verify_helpers as h
from typer.testing import CliRunner

from llmcoder.cli.verify import register
from llmcoder.verify import make_sheets, simulate_verification, write_sheets

CODERS = ["anna", "ben"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    cb, corp = h.codebook(), h.corpus(16)
    cb.save(root / "codebook.yaml")
    s = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.25, random_state=0)
    write_sheets(s, root / "sheets", study="demo")
    filled = simulate_verification(s, corp, error_rate=0.0)
    write_sheets(filled, root / "filled", study="demo", formats=["xlsx", "csv"], manifest=False)
    other = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.25, random_state=9)
    write_sheets(other, root / "other_run", study="demo")
    write_sheets(s, root / "other_study", study="another")
    return root


@pytest.fixture
def work(made, tmp_path):
    shutil.copytree(made, tmp_path / "w")
    return tmp_path / "w"


def run_ingest(work: Path, sheets: list[Path], *extra: str):
    app = typer.Typer()
    register(app)
    out = work / "out"
    res = CliRunner().invoke(app, ["verify", "ingest", *map(str, sheets), "--manifest",
                                   str(work / "sheets" / "manifest.json"), "--codebook",
                                   str(work / "codebook.yaml"), "--out", str(out), *extra])
    return res, out


def expect_error(work: Path, sheets: list[Path], *needles: str, extra: tuple[str, ...] = ()) -> str:
    res, out = run_ingest(work, sheets, *extra)
    assert res.exit_code == 2, res.output
    msg = res.stderr
    for n in needles:
        assert n in msg, f"{n!r} not in:\n{msg}"
    assert "nothing was written" in msg or "error:" in msg
    assert not out.exists()
    return msg


def filled(work: Path, ext: str = "xlsx") -> list[Path]:
    return [work / "filled" / f"{c}.{ext}" for c in CODERS]


def test_valid_sheets_pass(work):
    res, out = run_ingest(work, filled(work))
    assert res.exit_code == 0, res.output
    assert "SIMULATED" in res.output and (out / "verified.parquet").is_file()


def test_unknown_document(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(3, h.column(ws, "doc_id"), "d999"))
    expect_error(work, filled(work), "anna.xlsx, row 3, column 'doc_id': unknown document 'd999'", "fix: restore")


def test_unknown_label(work):
    h.edit_xlsx(work / "filled" / "ben.xlsx", lambda ws: ws.cell(2, h.column(ws, "label"), "sports"))
    expect_error(work, filled(work), "ben.xlsx, row 2, column 'label': unknown label 'sports' (not in the codebook)")


def test_label_swapped_for_another_known_label(work):
    def swap(ws):
        c = h.column(ws, "label")
        old = ws.cell(2, c).value
        ws.cell(2, c, next(lab for lab in h.LABELS if lab != old))
    h.edit_xlsx(work / "filled" / "anna.xlsx", swap)
    expect_error(work, filled(work), "anna.xlsx, row 2, column 'label': label changed from")


def test_text_changed(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(4, h.column(ws, "text"), "typo fixed"))
    expect_error(work, filled(work), "anna.xlsx, row 4, column 'text': the text of item 3", "was changed")


def test_definition_changed(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(2, h.column(ws, "definition"), "my own"))
    expect_error(work, filled(work), "anna.xlsx, row 2", "label name or definition of item 1 was changed")


def test_row_deleted(work):
    h.edit_xlsx(work / "filled" / "ben.xlsx", lambda ws: ws.delete_rows(3))
    expect_error(work, filled(work), "ben.xlsx: item 2 (document", "row 3 as written) is missing",
                 "fix: put the row back")


def test_row_added(work):
    def add(ws):
        ws.append([None, "d000", "my text", "health", "Health", "", "keep", ""])
    h.edit_xlsx(work / "filled" / "anna.xlsx", add)
    msg = expect_error(work, filled(work), "a row that llmcoder did not write", "fix: delete rows you added")
    assert "anna.xlsx, row " in msg


def test_duplicate_row(work):
    def dup(ws):
        ws.append([c.value for c in ws[2]])
    h.edit_xlsx(work / "filled" / "anna.xlsx", dup)
    expect_error(work, filled(work), "item 1 appears twice (first at row 2)", "fix: delete the duplicate row")


def test_decision_not_in_vocabulary(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(5, h.column(ws, "decision"), "maybe"))
    expect_error(work, filled(work), "anna.xlsx, row 5, column 'decision': decision 'maybe' is not one of reject, x, keep or empty",
                 "write reject (or x)")


def test_sheet_of_another_study(work):
    sheets = [work / "other_study" / "anna.xlsx", work / "filled" / "ben.xlsx"]
    expect_error(work, sheets, "anna.xlsx: this sheet belongs to study 'another', not to study 'demo'",
                 "no filled sheet of coder 'anna'")


def test_sheet_of_another_run(work):
    sheets = [work / "other_run" / "anna.xlsx", work / "filled" / "ben.xlsx"]
    expect_error(work, sheets, "was made by another run of 'llmcoder verify sheets'")


def test_unknown_coder(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(3, 2, "zoe"), sheet="meta")
    expect_error(work, filled(work), "unknown coder 'zoe' (the study's coders: anna, ben)")


def test_same_coder_twice(work):
    shutil.copy(work / "filled" / "anna.xlsx", work / "filled" / "anna_copy.xlsx")
    expect_error(work, [*filled(work), work / "filled" / "anna_copy.xlsx"],
                 "anna_copy.xlsx: coder 'anna' appears twice (also in anna.xlsx)")


def test_missing_coder(work):
    expect_error(work, filled(work)[:1], "no filled sheet of coder 'ben'", "fix: pass ben.xlsx")
    res, out = run_ingest(work, filled(work)[:1], "--allow-missing")
    assert res.exit_code == 0, res.output


def test_csv_without_meta_sidecar(work):
    (work / "filled" / "anna.meta.json").unlink()
    expect_error(work, filled(work, "csv"), "anna.csv: no llmcoder meta data",
                 "copy <coder>.meta.json from the blank sheets' folder")


def test_header_column_deleted(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.delete_cols(h.column(ws, "decision")))
    expect_error(work, filled(work), "anna.xlsx, row 1: column(s) 'decision' missing from the header")


def test_not_a_workbook(work):
    (work / "filled" / "anna.xlsx").write_text("not a zip")
    expect_error(work, filled(work), "anna.xlsx: not a readable workbook", "save it again as .xlsx")


def test_adjudication_sheet_passed_as_coder_sheet(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(4, 2, "adjudication"), sheet="meta")
    expect_error(work, filled(work), "this is an adjudication sheet, passed as a verify sheet",
                 "pass it as --adjudication")


def test_all_problems_of_all_sheets_listed(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(2, h.column(ws, "decision"), "??"))
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(3, h.column(ws, "label"), "sports"))
    h.edit_xlsx(work / "filled" / "ben.xlsx", lambda ws: ws.cell(2, h.column(ws, "decision"), "perhaps"))
    msg = expect_error(work, filled(work), "3 problem(s)", "anna.xlsx, row 2", "anna.xlsx, row 3",
                       "ben.xlsx, row 2, column 'decision': decision 'perhaps'")
    assert msg.index("anna.xlsx, row 2") < msg.index("ben.xlsx")


def test_study_of_csv_sidecar_checked(work):
    side = work / "filled" / "ben.meta.json"
    meta = json.loads(side.read_text())
    meta["study"] = "elsewhere"
    side.write_text(json.dumps(meta))
    expect_error(work, filled(work, "csv"), "ben.csv: this sheet belongs to study 'elsewhere'")


def test_sorted_rows_and_comments_are_fine(work):
    def sort_rows(ws):
        rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
        rows.sort(key=lambda r: (r[3], r[1]))  # sorted by label, then document
        rows[0][h.column(ws, "comment") - 1] = "hard one"
        for i, r in enumerate(rows, start=2):
            for j, v in enumerate(r, start=1):
                ws.cell(i, j, v)
    h.edit_xlsx(work / "filled" / "anna.xlsx", sort_rows)
    res, out = run_ingest(work, filled(work))
    assert res.exit_code == 0, res.output
    import polars as pl
    log = pl.read_parquet(out / "decisions.parquet")
    assert log.filter(pl.col("comment") == "hard one").height == 1


def test_custom_spellings_on_the_command_line(work):
    h.edit_xlsx(work / "filled" / "anna.xlsx", lambda ws: ws.cell(2, h.column(ws, "decision"), "falsch"))
    expect_error(work, filled(work), "decision 'falsch' is not one of reject, x, keep or empty")
    res, _ = run_ingest(work, filled(work), "--reject-as", "reject,falsch")
    assert res.exit_code == 0, res.output
    assert "'falsch' read as reject: 1 rows" in res.output
