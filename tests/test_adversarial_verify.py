"""Adversarial suite, human verification: what people really hand back, and what must never pass.

Each case starts from one small study (blank sheets, correctly filled and finished sheets, and the
output of an earlier successful ingest in ``out/``), breaks one thing the way a verifier or a new
user does, runs the real ``llmcoder verify ...`` command, and checks the exit status, the message
(file, row or key, fix) and that no file changed — the earlier ``out/`` included.
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import verify_helpers as h
from adversarial import Case, check, llmcoder_command, run_llmcoder, snapshot

from llmcoder.verify import ingest, make_sheets, simulate_verification, write_sheets

CODERS = ["anna", "ben"]
INGEST = "verify ingest filled/anna.xlsx filled/ben.xlsx --manifest sheets/manifest.json --codebook codebook.yaml --out out"


@functools.cache
def base() -> Path:
    """One small study, made once: corpus, codebook, blank sheets, finished sheets, an earlier ingest."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="llmcoder-adv-verify-"))
    cb, corp = h.codebook(), h.corpus(40)
    cb.save(root / "codebook.yaml")
    corp.write_parquet(root / "corpus.parquet")
    h.codings(corp).write_parquet(root / "codings.parquet")
    sheets = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.25, random_state=0)
    write_sheets(sheets, root / "sheets", study="demo")
    filled = simulate_verification(sheets, corp, error_rate=0.1, random_state=3)
    write_sheets(filled, root / "filled", study="demo", formats=["xlsx", "csv"], manifest=False)
    ingest([root / "filled" / f"{c}.xlsx" for c in CODERS], codebook=root / "codebook.yaml",
           manifest=root / "sheets" / "manifest.json").write(root / "out")
    write_sheets(sheets, root / "other_study", study="another")
    write_sheets(make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.25, random_state=9),
                 root / "other_run", study="demo")
    return root


def study(*names: str) -> Callable[[Path], None]:
    """Copy the base study's files into the case folder (``path`` is the case folder's first entry)."""
    def write(path: Path) -> None:
        for name in names:
            src = base() / name
            if src.is_dir():
                shutil.copytree(src, path.parent / name, dirs_exist_ok=True)
            else:
                shutil.copy2(src, path.parent / name)
    return write


STUDY = {"codebook.yaml": study("codebook.yaml", "corpus.parquet", "codings.parquet", "sheets", "filled", "out")}


def edited(sheet: str, fn: Callable[[object], None], worksheet: str = "verify") -> dict[str, Callable[[Path], None]]:
    """The study, with one filled XLSX sheet edited by ``fn(worksheet)`` (openpyxl)."""
    def write(path: Path) -> None:
        h.edit_xlsx(path, fn, sheet=worksheet)
    return {**STUDY, f"filled/{sheet}": write}


def csv_edited(sheet: str, fn: Callable[[list[str]], list[str]]) -> dict[str, Callable[[Path], None]]:
    """The study, with the lines of one filled CSV sheet changed by ``fn``."""
    def write(path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(fn(lines)) + "\n", encoding="utf-8")
    return {**STUDY, f"filled/{sheet}": write}


def decision(value: object, row: int = 2) -> Callable[[object], None]:
    """Set the decision cell of one spreadsheet row."""
    def fn(ws) -> None:
        ws.cell(row=row, column=h.column(ws, "decision"), value=value)
    return fn


def cell(ref: str, value: object) -> Callable[[object], None]:
    def fn(ws) -> None:
        ws[ref] = value
    return fn


def blank_copy(name: str) -> dict[str, Callable[[Path], None]]:
    """The study, with the blank sheet handed back as it was issued."""
    def write(path: Path) -> None:
        shutil.copy2(base() / "sheets" / name, path)
    return {**STUDY, f"filled/{name}": write}


def drop_finished_sheet(ws) -> None:
    ws.parent.remove(ws.parent["finished"])


def replace_decision(old: str, new: str, nth: int = 1) -> Callable[[list[str]], list[str]]:
    """Change the decision of the ``nth`` data line of a CSV sheet (7th column) from ``old`` to ``new``."""
    import csv
    import io

    def fn(lines: list[str]) -> list[str]:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
        rows[nth][6] = new
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().splitlines()
    return fn


def unfinish_csv(lines: list[str]) -> list[str]:
    """Clear the comment cell of the CSV sheet's completion row (its last line)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    comment = rows[0].index("comment")
    assert rows[-1][0] == "finished" and rows[-1][comment]
    rows[-1][comment] = ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().splitlines()


SHEETS = "verify sheets --corpus corpus.parquet --codings codings.parquet --codebook codebook.yaml --out newsheets"
INGEST_CSV = ("verify ingest filled/anna.csv filled/ben.csv --manifest sheets/manifest.json --codebook codebook.yaml "
              "--out out")
FIX = "reject (or x)"

CASES = [
    # decisions that answer the drop-down's old question instead of naming a decision
    Case("decision-yes", INGEST, edited("anna.xlsx", decision("yes")), ("anna.xlsx", "row 2", "'yes' is ambiguous", FIX)),
    Case("decision-no", INGEST, edited("anna.xlsx", decision("no", 3)), ("anna.xlsx", "row 3", "'no' is ambiguous", FIX)),
    Case("decision-Y-upper", INGEST, edited("ben.xlsx", decision("Y")), ("ben.xlsx", "row 2", "'Y' is ambiguous", FIX)),
    Case("decision-1-number", INGEST, edited("anna.xlsx", decision(1)), ("anna.xlsx", "row 2", "'1' is ambiguous", FIX)),
    Case("decision-0-number", INGEST, edited("anna.xlsx", decision(0, 4)), ("anna.xlsx", "row 4", "'0' is ambiguous")),
    Case("decision-TRUE-boolean", INGEST, edited("anna.xlsx", decision(True)), ("anna.xlsx", "row 2", "'true' is ambiguous")),
    Case("decision-typo", INGEST, edited("anna.xlsx", decision("rejcet")), ("anna.xlsx", "row 2", "'rejcet' is not one of", FIX)),
    Case("decision-checkmark", INGEST, edited("ben.xlsx", decision("✓", 5)), ("ben.xlsx", "row 5", "ambiguous")),
    Case("decision-csv-yes", INGEST_CSV, csv_edited("anna.csv", replace_decision("", "yes")), ("anna.csv", "row 2", "'yes' is ambiguous")),
    Case("decision-csv-rejected", INGEST_CSV, csv_edited("ben.csv", replace_decision("", "rejected", 2)), ("ben.csv", "row 3", "not one of")),
    # a sheet must say it is finished
    Case("unfinished-blank-xlsx", INGEST, blank_copy("anna.xlsx"), ("anna.xlsx", "not marked finished", "name and date", "B3")),
    Case("unfinished-name-only", INGEST, edited("ben.xlsx", cell("B4", None), "finished"), ("ben.xlsx", "date empty", "B4")),
    Case("unfinished-date-only", INGEST, edited("ben.xlsx", cell("B3", "  "), "finished"), ("ben.xlsx", "name empty", "B3")),
    Case("no-finished-worksheet", INGEST, edited("anna.xlsx", drop_finished_sheet, "finished"), ("anna.xlsx", "no worksheet 'finished'", "add a worksheet")),
    Case("unfinished-blank-csv", INGEST_CSV, blank_copy("anna.csv"), ("anna.csv", "not marked finished", "item 'finished'")),
    Case("unfinished-csv-comment-cleared", INGEST_CSV, csv_edited("ben.csv", unfinish_csv), ("ben.csv", "not marked finished")),
    Case("csv-finished-row-deleted", INGEST_CSV, csv_edited("anna.csv", lambda ls: ls[:-1]), ("anna.csv", "no completion row")),
    # the wrong files
    Case("excel-lock-file", INGEST.replace("filled/anna.xlsx", "filled/~$anna.xlsx"),
         {**STUDY, "filled/~$anna.xlsx": b"\x00lock"}, ("~$anna.xlsx", "lock file", "close the workbook", "anna.xlsx")),
    Case("not-a-workbook", INGEST, {**STUDY, "filled/ben.xlsx": b"PK\x03\x04 broken"}, ("ben.xlsx", "not a readable workbook", "save it again")),
    Case("ods-file", INGEST.replace("filled/ben.xlsx", "ben.ods"), {**STUDY, "ben.ods": b"x"}, ("ben.ods", "unknown file type", ".xlsx")),
    Case("sheet-missing-file", INGEST.replace("filled/ben.xlsx", "filled/benn.xlsx"), STUDY, ("benn.xlsx", "file not found")),
    Case("coder-missing", INGEST.replace(" filled/ben.xlsx", ""), STUDY, ("no filled sheet of coder 'ben'", "--allow-missing")),
    Case("same-sheet-twice", INGEST.replace("filled/ben.xlsx", "filled/anna.xlsx"), STUDY, ("coder 'anna' appears twice",)),
    Case("other-study", INGEST.replace("filled/ben.xlsx", "other_study/ben.xlsx"), {"codebook.yaml": study("codebook.yaml", "sheets", "filled", "out", "other_study")}, ("ben.xlsx", "study 'another'")),
    Case("other-run", INGEST.replace("filled/ben.xlsx", "other_run/ben.xlsx"), {"codebook.yaml": study("codebook.yaml", "sheets", "filled", "out", "other_run")}, ("ben.xlsx", "another run")),
    Case("manifest-missing", INGEST.replace("sheets/manifest.json", "manifest.json"), STUDY, ("manifest.json", "manifest not found")),
    Case("manifest-not-json", INGEST, {**STUDY, "sheets/manifest.json": "{not json"}, ("manifest.json", "not valid JSON")),
    # rows edited
    Case("row-deleted", INGEST, edited("anna.xlsx", lambda ws: ws.delete_rows(3)), ("anna.xlsx", "is missing: a row was deleted")),
    Case("row-added", INGEST, edited("anna.xlsx", lambda ws: ws.append([None, "d001", "new", "health"])), ("anna.xlsx", "did not write")),
    Case("text-edited", INGEST, edited("ben.xlsx", lambda ws: ws.cell(row=2, column=3, value="changed")), ("ben.xlsx", "row 2", "was changed")),
    Case("label-edited", INGEST, edited("ben.xlsx", lambda ws: ws.cell(row=2, column=4, value="sports")), ("ben.xlsx", "row 2", "unknown label 'sports'")),
    # options and destinations
    Case("reject-as-yes", INGEST + " --reject-as yes", STUDY, ("--reject-as", "'yes' cannot be a decision word")),
    Case("keep-as-no", INGEST + " --keep-as no,n", STUDY, ("--keep-as", "'no' cannot be a decision word")),
    Case("overlap-policy-typo", INGEST + " --overlap-policy majority", STUDY, ("--overlap-policy", "'majority'", "adjudicate")),
    Case("out-is-a-file", INGEST.replace("--out out", "--out results.txt"), {**STUDY, "results.txt": "mine"}, ("results.txt", "a file stands")),
    Case("out-holds-my-files", INGEST.replace("--out out", "--out mine"), {**STUDY, "mine/thesis.docx": b"chapter"}, ("mine", "did not write", "new or empty")),
    Case("out-is-the-sheets-folder", INGEST.replace("--out out", "--out sheets"), STUDY, ("sheets", "holds the input", "sheets/manifest.json")),
    Case("out-holds-the-filled-sheets", INGEST.replace("--out out", "--out filled"), STUDY, ("filled", "holds the input")),
    Case("adjudication-inside-out", INGEST + " --adjudication out/adjudication/adjudicator.xlsx", STUDY, ("out", "holds the input", "adjudicated.xlsx")),
    Case("sheets-out-holds-the-corpus", SHEETS.replace("--out newsheets", "--out .") + " --coders anna,ben", STUDY, ("holds the input", "corpus.parquet")),
    Case("sheets-coder-twice", SHEETS + " --coders anna,anna", STUDY, ("coder 'anna' is named twice",)),
    Case("sheets-coder-bad-name", SHEETS + " --coders 'anna maria,ben'", STUDY, ("anna maria", "letters, digits")),
    Case("sheets-codings-missing", SHEETS.replace("codings.parquet", "llm.parquet") + " --coders anna,ben", STUDY, ("llm.parquet", "not found")),
    Case("sheets-overlap-percent", SHEETS + " --coders anna,ben --overlap 20", STUDY, ("--overlap", "between 0 and 1")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# -- what must be read right ---------------------------------------------------------------------------

def _work(tmp_path: Path) -> Path:
    study("codebook.yaml", "corpus.parquet", "codings.parquet", "sheets", "filled", "out")(tmp_path / "x")
    return tmp_path


def test_decision_words_in_any_case_are_read_as_written(tmp_path: Path) -> None:
    """reject / x / keep / empty, in any case and with spaces, mean what they say; nothing else is read."""
    w = _work(tmp_path)
    spellings = {2: " Reject ", 3: "X", 4: "KEEP", 5: None, 6: "x "}

    def fill(ws) -> None:
        for row, value in spellings.items():
            ws.cell(row=row, column=h.column(ws, "decision")).value = value
    h.edit_xlsx(w / "filled" / "anna.xlsx", fill)
    res = run_llmcoder(INGEST.split(), w)
    assert res.returncode == 0, res.stderr
    log = pl.read_parquet(w / "out" / "decisions.parquet").filter(pl.col("coder") == "anna")
    got = dict(log.select("row", "decision").iter_rows())
    assert {r: got[r] for r in spellings} == {2: "reject", 3: "reject", 4: "keep", 5: "keep", 6: "reject"}


def test_dropdown_names_the_two_decisions(tmp_path: Path) -> None:
    """The XLSX drop-down offers reject/keep, refuses other values, and asks no yes/no question."""
    import openpyxl

    wb = openpyxl.load_workbook(base() / "sheets" / "anna.xlsx")
    dv = wb["verify"].data_validations.dataValidation[0]
    assert dv.formula1 == '"reject,keep,x"' and dv.errorStyle == "stop"
    assert "?" not in (dv.promptTitle or "") and "apply?" not in (dv.prompt or "")
    assert wb["finished"]["B3"].value is None and wb["finished"]["B4"].value is None
    instructions = "\n".join(str(r[0].value or "") for r in wb["instructions"].iter_rows())
    assert "reject  the label does NOT apply" in instructions and "keep    the label applies" in instructions


def test_finished_sheet_without_rejections_is_flagged(tmp_path: Path) -> None:
    """Every label kept over many rows: accepted (a coder may agree with everything), but flagged."""
    w = _work(tmp_path)

    def keep_all(ws) -> None:
        for row in range(2, ws.max_row + 1):
            ws.cell(row=row, column=h.column(ws, "decision")).value = None
    h.edit_xlsx(w / "filled" / "ben.xlsx", keep_all)
    res = run_llmcoder(INGEST.split(), w)
    assert res.returncode == 0, res.stderr
    assert "FLAG ben.xlsx (ben): no rejection in" in res.stdout
    summary = json.loads((w / "out" / "summary.json").read_text())
    rows = pl.read_parquet(w / "out" / "decisions.parquet").filter(pl.col("coder") == "ben").height
    assert summary["flags"] == [{"coder": "ben", "sheet": "ben.xlsx", "rows": rows,
                                 "why": f"no rejection in {rows} rows: check that the coder read every text "
                                        "(an empty cell means keep)"}]
    assert rows >= 20


def test_missing_sheets_are_reported_when_allowed(tmp_path: Path) -> None:
    """--allow-missing ingests the finished sheets there are and names the coders still missing."""
    w = _work(tmp_path)
    res = run_llmcoder(INGEST.replace(" filled/ben.xlsx", "").split() + ["--allow-missing"], w)
    assert res.returncode == 0, res.stderr
    assert "not ingested (no filled sheet): ben" in res.stdout
    summary = json.loads((w / "out" / "summary.json").read_text())
    assert summary["coders_missing"] == ["ben"] and list(summary["sheets"]) == ["anna"]
    assert set(pl.read_parquet(w / "out" / "decisions.parquet")["coder"]) == {"anna"}


def test_output_folder_is_replaced_whole(tmp_path: Path) -> None:
    """A rerun replaces the ingest folder as a whole: nothing of an earlier run (here a table an older
    version wrote) lingers beside the new tables, and no staged folder is left."""
    w = _work(tmp_path)
    (w / "out" / "stale_table.csv").write_text("from an earlier run\n")
    res = run_llmcoder(INGEST.split() + ["--overlap-policy", "union"], w)
    assert res.returncode == 0, res.stderr
    summary = json.loads((w / "out" / "summary.json").read_text())
    assert summary["overlap_policy"] == "union"
    assert not (w / "out" / "stale_table.csv").exists()
    assert {p.name for p in (w / "out").iterdir()} >= {"verified.parquet", "decisions.csv", "summary.json"}
    assert not [p.name for p in w.iterdir() if p.name.startswith(".out.")]


def test_sigkill_during_ingest_leaves_previous_or_new_outputs_whole(tmp_path: Path) -> None:
    """SIGKILL ``verify ingest`` at several moments: the output folder is always either the earlier run's,
    byte for byte, or the complete new one; the next run leaves no temporary folder behind."""
    w = _work(tmp_path)
    previous = snapshot(w / "out")
    argv = INGEST.split() + ["--overlap-policy", "intersection"]
    t0 = time.monotonic()
    assert run_llmcoder(argv, w).returncode == 0
    duration = time.monotonic() - t0
    new_names = set(snapshot(w / "out"))
    shutil.rmtree(w / "out")
    shutil.copytree(base() / "out", w / "out")
    outcomes = set()
    for frac in (0.3, 0.6, 0.8, 0.9, 0.95, 0.98):
        proc = subprocess.Popen([*llmcoder_command(), *argv], cwd=w, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        time.sleep(duration * frac)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = snapshot(w / "out")
        if now == previous:
            outcomes.add("previous")
        else:
            assert set(now) == new_names, f"killed at {frac:.0%}: a mixed folder {sorted(set(now) ^ new_names)}"
            summary = json.loads((w / "out" / "summary.json").read_text())
            assert summary["overlap_policy"] == "intersection"
            outcomes.add("new")
            shutil.rmtree(w / "out")
            shutil.copytree(base() / "out", w / "out")
    assert outcomes, "no kill landed"
    assert run_llmcoder(argv, w).returncode == 0
    assert not [p.name for p in w.iterdir() if p.name.startswith(".")], "temporary folders left behind"
    assert set(snapshot(w / "out")) == new_names
