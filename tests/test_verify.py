"""Verification by rejection: sheets, simulated verifier, ingest round trips with asserted values."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import verify_helpers as h

from llmcoder.verify import (
    Sheets,
    SheetsError,
    ingest,
    make_sheets,
    missing_sheets_message,
    require_filled_sheets,
    simulate_verification,
    write_sheets,
)
from llmcoder.verify._common import SHEET_COLUMNS

CODERS = ["anna", "ben", "cara"]


@pytest.fixture
def study():
    cb, corp = h.codebook(), h.corpus()
    return cb, corp, h.codings(corp)


def _paths(d: Path, coders=CODERS, ext="xlsx") -> list[Path]:
    return [d / f"{c}.{ext}" for c in coders]


def test_sheets_are_blind_grouped_and_deterministic(study):
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.25, random_state=3)
    again = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.25, random_state=3)
    other = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.25, random_state=4)
    for c in CODERS:
        assert tuple(s[c].columns) == SHEET_COLUMNS  # no model name, no probability
        assert s[c].equals(again[c])
        assert s[c]["decision"].null_count() == s[c].height
        docs = s[c]["doc_id"].to_list()  # a document's rows are consecutive
        runs = [d for i, d in enumerate(docs) if i == 0 or docs[i - 1] != d]
        assert len(runs) == len(set(runs))
        assert s[c]["item"].to_list() == list(range(1, s[c].height + 1))
    assert any(not s[c].equals(other[c]) for c in CODERS)
    # proposals: gpt's gold label on every doc, llama's wrong label on odd docs
    n_rows = sum(f.height for f in s.values())
    a = s.assignments
    assert a.height == 40 and a["overlap"].sum() == 10
    assert n_rows == sum(n * len(cs) for n, cs in a.select("n_labels", "coders").iter_rows())
    assert set(a.filter(pl.col("doc_id") == "d001")["n_labels"]) == {2}
    assert set(a.filter(pl.col("doc_id") == "d002")["n_labels"]) == {1}
    # labels are not in the order of the codebook or of confidence for every document
    orders = {tuple(g["label"].to_list()) for _, g in pl.concat(list(s.values())).group_by("doc_id")
              if g.height == 2 and g["doc_id"][0] in ("d001", "d003", "d005", "d007", "d009", "d011")}
    assert len(orders) > 1
    # workload is balanced
    loads = [f.height for f in s.values()]
    assert max(loads) - min(loads) <= 3


def test_overlap_coders_three_and_single_coder(study):
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.5, overlap_coders=3)
    a = s.assignments
    assert a.filter("overlap")["coders"].list.len().unique().to_list() == [3]
    assert a.filter(~pl.col("overlap"))["coders"].list.len().unique().to_list() == [1]
    assert a["overlap"].sum() == 20
    one = make_sheets(corp, cod, cb, coders=["solo"], overlap=0.2)
    assert one["solo"]["doc_id"].n_unique() == 40


def test_route_uncertain_first(study):
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=["anna"], route="uncertain_first")
    docs = s["anna"]["doc_id"].unique(maintain_order=True).to_list()
    odd = [d for d in docs if int(d[1:]) % 2 == 1]  # llama disagrees with gpt on odd documents
    assert docs[: len(odd)] == odd


def test_min_prob_and_rotations(study):
    cb, corp, cod = study
    # rotation 1 of llama proposes 'defense' for every document: only with rotations="all"
    extra = cod.filter((pl.col("coder_id") == "llama") & (pl.col("rotation") == 1)).with_columns(
        chosen=pl.col("label") == "defense", prob=pl.when(pl.col("label") == "defense").then(0.6).otherwise(0.1))
    cod2 = pl.concat([cod.filter(~((pl.col("coder_id") == "llama") & (pl.col("rotation") == 1))), extra])
    first = make_sheets(corp, cod2, cb, coders=["anna"])
    alls = make_sheets(corp, cod2, cb, coders=["anna"], rotations="all")
    assert alls["anna"].height > first["anna"].height
    assert alls.proposals.filter(pl.col("label") == "defense")["doc_id"].n_unique() == 40
    # min_prob 0.05 makes every label a proposal
    every = make_sheets(corp, cod, cb, coders=["anna"], min_prob=0.05)
    assert every["anna"].height == 40 * 4


def test_roundtrip_single_label_exact(study, tmp_path):
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.25, random_state=1)
    write_sheets(s, tmp_path / "sheets", study="demo")
    filled = simulate_verification(s, corp, error_rate=0.0)
    assert filled.simulated and filled.proposals is s.proposals
    write_sheets(filled, tmp_path / "filled", study="demo", formats=["xlsx"], manifest=False)
    res = ingest(_paths(tmp_path / "filled"), codebook=cb, manifest=tmp_path / "sheets" / "manifest.json")
    v = res.verified
    assert v.height == 40 and res.queue.height == 0
    gold = dict(corp.select("doc_id", "label").iter_rows())
    assert all(gold[d] == lab for d, lab in v.select("doc_id", "label").iter_rows())
    assert v["n_verifiers"].sum() == 50  # 10 overlap documents verified twice
    assert set(v["source"]) == {"simulated-human", "simulated-human-agreement"}
    acc = {r["llm_coder"]: r for r in res.acceptance.iter_rows(named=True)}
    assert acc["gpt"]["acceptance"] == 1.0 and acc["gpt"]["n_decisions"] == 50
    assert acc["llama"]["n_kept"] == acc["llama"]["n_decisions"] - res.summary["n_rejected"]
    assert acc["llama"]["verified_precision"] == 0.5 and acc["llama"]["n_proposals"] == 40
    lo, hi = acc["llama"]["vp_ci_low"], acc["llama"]["vp_ci_high"]
    assert lo == pytest.approx(0.352, abs=1e-3) and hi == pytest.approx(0.648, abs=1e-3)  # Wilson, n=40
    wl = res.workload
    assert wl["rows"].sum() == sum(f.height for f in s.values()) == res.decisions.height
    assert wl["documents"].sum() == 50 and wl["overlap_documents"].sum() == 20
    assert res.summary["decision_variants"] == [
        {"written": "(blank)", "read_as": "keep", "rows": 50},
        {"written": "reject", "read_as": "reject", "rows": wl["rejections"].sum()}]
    if not res.reliability.is_empty():
        overall = res.reliability.filter(pl.col("scope") == "all labels")
        assert overall.filter(pl.col("coefficient") == "percent_agreement")["estimate"].item() == 1.0
        assert overall["n_units"][0] == 15  # 10 overlap docs: 5 with one proposal, 5 with two
    written = res.write(tmp_path / "out")
    assert {"verified.parquet", "verified.csv", "decisions.parquet", "adjudication_queue.csv",
            "acceptance.parquet", "workload.csv", "reliability.parquet", "summary.json"} <= set(written)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["simulated"] is True
    log = pl.read_parquet(tmp_path / "out" / "decisions.parquet")
    assert {"doc_id", "coder", "label", "decision", "sheet", "row"} <= set(log.columns)
    assert log["row"].min() == 2 and set(log["sheet"]) == {"anna.xlsx", "ben.xlsx", "cara.xlsx"}


def test_roundtrip_errors_then_adjudication(study, tmp_path):
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=CODERS, overlap=0.5, random_state=2)
    write_sheets(s, tmp_path / "sheets", study="demo")
    filled = simulate_verification(s, corp, error_rate=0.3, random_state=5)
    write_sheets(filled, tmp_path / "filled", study="demo", formats=["xlsx"], manifest=False)
    man = tmp_path / "sheets" / "manifest.json"
    res = ingest(_paths(tmp_path / "filled"), codebook=cb, manifest=man)
    q = res.queue
    assert q.height > 0 and res.verified.height + q.height == 40
    assert set(q["reason"]) <= {"none kept", "several kept", "coders disagree"}
    adj = res.adjudication_sheet
    none_kept = q.filter(pl.col("reason") == "none kept")["doc_id"].to_list()
    for d in none_kept:  # single-label, nothing kept: the adjudicator sees every label
        assert adj.filter(pl.col("doc_id") == d).height == 4
    res.write(tmp_path / "out")
    adj_path = tmp_path / "out" / "adjudication" / "adjudicator.xlsx"
    assert adj_path.is_file()
    # the adjudicator decides from the gold labels, without errors
    blank = Sheets({"adjudicator": adj}, kind="adjudication")
    done = simulate_verification(blank, corp, error_rate=0.0)
    write_sheets(done, tmp_path / "adj_filled", study="demo", formats=["xlsx"], manifest=False)
    res2 = ingest(_paths(tmp_path / "filled"), codebook=cb, manifest=man,
                  adjudication=tmp_path / "adj_filled" / "adjudicator.xlsx")
    assert res2.queue.height == 0 and res2.verified.height == 40
    adjudicated = res2.verified.filter(pl.col("source") == "simulated-adjudication")
    assert adjudicated.height == q.height
    gold = dict(corp.select("doc_id", "label").iter_rows())
    assert all(gold[d] == lab for d, lab in adjudicated.select("doc_id", "label").iter_rows())
    assert set(res2.decisions["round"]) == {"verify", "adjudication"}
    assert res2.summary["n_adjudicated"] == q.height


def test_roundtrip_multi_label(tmp_path):
    cb, corp = h.codebook("multi"), h.corpus(24, "multi")
    s = make_sheets(corp, h.codings(corp, "multi"), cb, coders=["anna", "ben"], overlap=0.25)
    write_sheets(s, tmp_path / "sheets", study="m")
    filled = simulate_verification(s, corp, error_rate=0.0)
    write_sheets(filled, tmp_path / "filled", study="m", formats=["xlsx"], manifest=False)
    res = ingest(_paths(tmp_path / "filled", ["anna", "ben"]), codebook=cb,
                 manifest=tmp_path / "sheets" / "manifest.json")
    assert res.task == "multi" and res.verified.columns == ["doc_id", "labels", "n_verifiers", "source"]
    gold = {d: sorted(labs) for d, labs in corp.select("doc_id", "labels").iter_rows()}
    assert {d: labs for d, labs in res.verified.select("doc_id", "labels").iter_rows()} == gold
    res.write(tmp_path / "out")
    assert "|" in (tmp_path / "out" / "verified.csv").read_text()


def test_csv_sheets_semicolons_and_decision_variants(study, tmp_path):
    """A CSV sheet saved by Excel in a German locale (semicolons): reject/x/keep/empty in any case are read
    as written, and the completion row is required and read."""
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=["anna"])
    write_sheets(s, tmp_path / "sheets", study="demo")
    frame = pl.read_csv(tmp_path / "sheets" / "anna.csv", infer_schema=False).filter(pl.col("item") != "finished")
    spell = ["X", " x ", "Reject", "", "keep", "KEEP", " Keep"]
    frame = frame.with_columns(pl.Series("decision", [spell[i % len(spell)] for i in range(frame.height)]))
    out = tmp_path / "filled"
    out.mkdir()
    frame.write_csv(out / "anna.csv", separator=";")  # Excel in a German locale
    (out / "anna.meta.json").write_text((tmp_path / "sheets" / "anna.meta.json").read_text())
    with pytest.raises(SheetsError, match="no completion row"):
        ingest([out / "anna.csv"], codebook=cb, manifest=tmp_path / "sheets" / "manifest.json")
    h.finish(out / "anna.csv")
    res = ingest([out / "anna.csv"], codebook=cb, manifest=tmp_path / "sheets" / "manifest.json")
    variants = {v["written"]: (v["read_as"], v["rows"]) for v in res.summary["decision_variants"]}
    assert variants["x"][0] == variants["reject"][0] == "reject"
    assert variants["(blank)"][0] == variants["keep"][0] == "keep"
    n_reject = sum(1 for i in range(frame.height) if i % len(spell) < 3)
    assert res.summary["n_rejected"] == n_reject


def test_custom_vocabulary(study, tmp_path):
    """A team's own decision words are accepted; yes/no-like words never are, in any language."""
    cb, corp, cod = study
    s = make_sheets(corp, cod, cb, coders=["anna"])
    write_sheets(s, tmp_path / "sheets", study="demo")
    h.edit_xlsx(tmp_path / "sheets" / "anna.xlsx",
                lambda ws: ws.cell(2, h.column(ws, "decision"), "ablehnen"))
    h.finish(tmp_path / "sheets" / "anna.xlsx")
    res = ingest([tmp_path / "sheets" / "anna.xlsx"], codebook=cb, manifest=tmp_path / "sheets" / "manifest.json",
                 vocabulary={"reject": ["ablehnen"], "keep": ["", "behalten"]})
    assert res.summary["n_rejected"] == 1
    for words in ({"reject": ["nein"]}, {"keep": ["ja"]}, {"reject": ["Yes"]}, {"keep": ["0"]}):
        with pytest.raises(ValueError, match="cannot be a decision word"):
            ingest([tmp_path / "sheets" / "anna.xlsx"], codebook=cb,
                   manifest=tmp_path / "sheets" / "manifest.json", vocabulary=words)


def test_xlsx_layout_and_formula_like_text(tmp_path):
    cb = h.codebook()
    corp = h.corpus(8).with_columns(
        pl.when(pl.col("doc_id") == "d000").then(pl.lit("=SUM(A1:A3) is not a formula\x07"))
        .otherwise(pl.col("text")).alias("text"))
    s = make_sheets(corp, h.codings(corp), cb, coders=["anna"])
    write_sheets(s, tmp_path, study="demo")
    wb = openpyxl.load_workbook(tmp_path / "anna.xlsx")
    ws = wb["verify"]
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == list(SHEET_COLUMNS)
    assert ws.data_validations.dataValidation[0].formula1 == '"reject,keep,x"'
    assert ws.cell(2, h.column(ws, "text")).alignment.wrap_text
    assert wb["meta"].sheet_state == "hidden"
    meta = {r[0]: r[1] for r in wb["meta"].iter_rows(values_only=True)}
    assert meta["study"] == "demo" and meta["coder"] == "anna" and len(meta["sheet_sha256"]) == 64
    assert "sha256=" in wb.properties.keywords
    texts = [ws.cell(r, h.column(ws, "text")).value for r in range(2, ws.max_row + 1)]
    assert "=SUM(A1:A3) is not a formula" in texts  # stored as text, control character removed
    h.finish(tmp_path / "anna.xlsx")
    res = ingest([tmp_path / "anna.xlsx"], codebook=cb, manifest=tmp_path / "manifest.json")
    assert res.verified.height + res.queue.height == 8


def test_missing_sheets_message(tmp_path):
    filled = tmp_path / "filled"
    msg = missing_sheets_message("demo", ["anna", "ben"], sheets_dir=tmp_path / "sheets", filled_dir=filled)
    assert f"fill  {tmp_path / 'sheets' / 'anna.xlsx'}" in msg
    assert f"save {filled / 'ben.xlsx'}" in msg and "2 of 2" in msg
    filled.mkdir()
    (filled / "anna.xlsx").write_bytes(b"")
    msg = missing_sheets_message("demo", ["anna", "ben"], sheets_dir=tmp_path / "sheets", filled_dir=filled)
    assert "anna" not in msg.split("missing.")[1] and "1 of 2" in msg
    default = missing_sheets_message("s1", ["zoe"])
    assert "results/s1/verify/filled/zoe.xlsx" in default and "results/s1/verify/sheets/zoe.xlsx" in default
    with pytest.raises(Exception, match="ben.xlsx"):
        require_filled_sheets("demo", ["anna", "ben"], filled_dir=filled)
    (filled / "ben.xlsx").write_bytes(b"")
    assert missing_sheets_message("demo", ["anna", "ben"], filled_dir=filled) is None
    assert require_filled_sheets("demo", ["anna", "ben"], filled_dir=filled) == [filled / "anna.xlsx",
                                                                                 filled / "ben.xlsx"]


def test_bad_codings_are_reported(study):
    cb, corp, cod = study
    bad = cod.with_columns(pl.when(pl.col("doc_id") == "d003").then(pl.lit("sports")).otherwise(pl.col("label"))
                           .alias("label"))
    with pytest.raises(Exception, match="label 'sports' is not in the codebook"):
        make_sheets(corp, bad, cb, coders=["anna"])
    with pytest.raises(Exception, match="not in the corpus"):
        make_sheets(corp.head(10), cod, cb, coders=["anna"])
    with pytest.raises(Exception, match="named twice"):
        make_sheets(corp, cod, cb, coders=["anna", "anna"])
