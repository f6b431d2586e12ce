"""A real (unsimulated) verification run: the workflow stops at the human step, says which sheets to
fill, goes on when people have filled them, and reruns only what depends on an edited sheet."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
STUDY = "human"


def snakemake(workdir: Path, *targets: str, dry: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), "--cores", "2",
           "--workflow-profile", str(REPO / "workflow/profiles/default"), *(["-n"] if dry else []), *targets]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir)
    if check:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


TOPICS = {"health": "hospital waiting lists", "education": "school teachers", "energy": "gas and power prices"}


def write_topic_corpus(path: Path, *, per_label: int = 40, party: bool = False) -> None:
    """Short texts over the three labels of the mini codebook, ``per_label`` each (a two-party column if asked)."""
    head = "id,text,label" + (",party" if party else "")
    rows = [head] + [f"q{i},Question {i} about {TOPICS[lab]} in region {i % 7},{lab}" + (f",p{i % 2}" if party else "")
                     for i, lab in enumerate(list(TOPICS) * per_label)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def fake_coder_output(workdir: Path) -> None:
    """An LLM coder's output, as `llmcoder code` writes it, made from gold with 30% wrong answers.

    Coding with a real LLM is tested in test_coders_*; here the subject is the human step."""
    corpus = pl.read_parquet(workdir / f"results/{STUDY}/corpus.parquet")
    labels = sorted(corpus["label"].unique())
    rng = np.random.default_rng(0)
    rows = []
    for doc, gold in corpus.select("doc_id", "label").iter_rows():
        chosen = gold if rng.random() > 0.3 else labels[int(rng.integers(len(labels)))]
        for lab in labels:
            rows.append({"doc_id": doc, "coder_id": "fake-00000000", "rotation": 0, "label": lab,
                         "prob": 0.9 if lab == chosen else 0.1 / (len(labels) - 1), "chosen": lab == chosen,
                         "n_input_tokens": 100, "n_output_tokens": 1, "latency_s": 0.01})
    out = workdir / f"results/{STUDY}/coders"
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).with_columns(pl.col("rotation").cast(pl.Int32)).write_parquet(out / "fake.parquet")
    pl.DataFrame({"coder_id": "fake-00000000", "rotation": 0, "position": list(range(len(labels))),
                  "label": labels}).write_parquet(out / "fake_orders.parquet")
    # the provenance record every coder output carries (results contract key coder_provenance), fabricated
    from llmcoder.io import provenance

    (out / "fake.json").write_text(json.dumps({
        **provenance(), "step": "code", "coder_id": "fake-00000000", "coder": {"name": "fake"},
        "coder_identity": {"name": "fake"}, "model": {"model": "fabricated for a test"},
        "codebook": {"labels": labels}, "corpus_sha256": "0" * 64, "n_docs": corpus.height, "rotations": 1,
        "rotation_orders": {"0": labels}, "prompt_template": "", "prompt_template_sha256": "0" * 64,
        "prompts": {}, "truncation": {}, "n_codings_without_answer": 0, "seconds_last_session": 0.0,
        "package_versions": {}}))


def fill_like_a_person(blank: Path, filled: Path, gold: dict[str, str], finish: bool = True) -> int:
    """Open the blank XLSX, type 'x' next to each proposed label that is not the gold one, sign the
    'finished' worksheet (unless ``finish`` is false: a person who forgot), save."""
    wb = openpyxl.load_workbook(blank)
    if finish:
        wb["finished"]["B3"], wb["finished"]["B4"] = f"{filled.stem} (test)", "2026-12-01"
    ws = wb["verify"]
    header = [c.value for c in ws[1]]
    doc_col, label_col, dec_col = (header.index(k) + 1 for k in ("doc_id", "label", "decision"))
    rejected = 0
    for row in range(2, ws.max_row + 1):
        doc, lab = ws.cell(row, doc_col).value, ws.cell(row, label_col).value
        if doc is not None and lab != gold[doc]:
            ws.cell(row, dec_col).value = "x"
            rejected += 1
    filled.parent.mkdir(parents=True, exist_ok=True)
    wb.save(filled)
    return rejected


@pytest.mark.slow
def test_run_stops_at_the_human_step_and_resumes(tmp_path, codebook_path):
    write_topic_corpus(tmp_path / "corpus.csv")
    (tmp_path / "fake.yaml").write_text("name: fake\nmodel: smollm2-135m\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(f"""
studies:
  {STUDY}:
    corpus: {{path: corpus.csv, label: label}}
    codebook: codebook.yaml
    split: {{train: 0.6, dev: 0.2, test: 0.2, sizes: [1.0]}}
    coders: [fake.yaml]
    verify: {{mode: human, humans: [ann, bob], overlap: 0.25, splits: [train, dev]}}
    evaluate: {{n_boot: 50}}
    report: {{formats: [html]}}
""", encoding="utf-8")
    snakemake(tmp_path, f"results/{STUDY}/corpus.parquet", f"results/{STUDY}/splits.parquet")
    fake_coder_output(tmp_path)

    # 1. The run makes the blank sheets, stops there and says what to fill.
    first = snakemake(tmp_path)
    said = first.stdout + first.stderr
    sheets = tmp_path / f"results/{STUDY}/verify/sheets"
    assert (sheets / "ann.xlsx").is_file() and (sheets / "bob.xlsx").is_file()
    assert f"Human verification of study '{STUDY}' is not done yet: 2 of 2 filled sheet(s) missing." in said
    assert f"save results/{STUDY}/verify/filled/ann.xlsx" in said
    assert not (tmp_path / f"results/{STUDY}/verify/ingest/verified.parquet").exists()

    # 2. People fill the sheets; the next run ingests them.
    gold = dict(pl.read_csv(tmp_path / "corpus.csv").select("id", "label").iter_rows())
    filled = tmp_path / f"results/{STUDY}/verify/filled"
    # A sheet handed back without its completion field stops the ingest with a message, not a traceback.
    for coder in ("ann", "bob"):
        assert fill_like_a_person(sheets / f"{coder}.xlsx", filled / f"{coder}.xlsx", gold, coder == "ann") > 0
    unfinished = snakemake(tmp_path, check=False)
    said = unfinished.stdout + unfinished.stderr
    assert unfinished.returncode != 0
    assert "bob.xlsx: the sheet is not marked finished: name and date empty in worksheet 'finished'" in said
    assert "Traceback" not in said and "Traceback" not in (tmp_path / f"logs/{STUDY}/verify_ingest.log").read_text()
    assert not (tmp_path / f"results/{STUDY}/verify/ingest/verified.parquet").exists()
    assert fill_like_a_person(sheets / "bob.xlsx", filled / "bob.xlsx", gold) > 0
    second = snakemake(tmp_path)
    assert "verify_ingest" in second.stdout + second.stderr
    verified = pl.read_parquet(tmp_path / f"results/{STUDY}/verify/ingest/verified.parquet")
    n_verify = pl.read_parquet(tmp_path / f"results/{STUDY}/splits.parquet").filter(
        pl.col("split").is_in(["train", "dev"])).height
    # A document is verified when its gold label was proposed (70% right answers, rest adjudicated).
    assert 0.6 * n_verify <= verified.height <= n_verify
    assert all(gold[d] == lab for d, lab in verified.select("doc_id", "label").iter_rows())
    assert "Human verification" not in second.stdout + second.stderr
    again = snakemake(tmp_path, dry=True)
    assert "Nothing to be done" in again.stdout + again.stderr

    # 2b. The adjudication sheet is a declared input: once the adjudicator puts it there (and whenever it is
    # saved again) the ingest reruns. (Reading it is tested in test_verify; here, the workflow's wiring.)
    adjudicated = tmp_path / f"results/{STUDY}/verify/adjudicated.xlsx"
    shutil.copy(filled / "ann.xlsx", adjudicated)
    plan = snakemake(tmp_path, dry=True)
    assert "verify_ingest" in plan.stdout + plan.stderr and "verify_sheets" not in plan.stdout + plan.stderr
    adjudicated.unlink()
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake(tmp_path, dry=True))
    # every file of this real run is one the results contract names, with its columns
    from llmcoder.results import validate_results

    assert validate_results(tmp_path / f"results/{STUDY}") == {}

    # 3. Editing one filled sheet reruns the ingest and what follows, not the sheets.
    wb = openpyxl.load_workbook(filled / "ann.xlsx")
    ws = wb["verify"]
    dec_col = [c.value for c in ws[1]].index("decision") + 1
    ws.cell(2, dec_col).value = "x" if ws.cell(2, dec_col).value is None else None
    wb.save(filled / "ann.xlsx")
    plan = snakemake(tmp_path, dry=True)
    out = plan.stdout + plan.stderr
    assert "verify_ingest" in out and "verify_sheets" not in out and "prepare_corpus" not in out

    # 4. Snakemake's HTML report holds the registered figures, tables and methods text.
    snakemake(tmp_path, "--report", "report.zip")
    import zipfile

    with zipfile.ZipFile(tmp_path / "report.zip") as z:
        names = z.namelist()
    for part in ("confusion_fake.png", "metrics.html", "reliability.html", "methods.md"):
        assert any(n.endswith(part) for n in names), (part, names)



@pytest.mark.slow
def test_web_mode_stops_serves_and_resumes_with_sheets_mixed_in(tmp_path, codebook_path):
    """verify.mode: web -- the run stops at the human step and gives the serve and export commands; two
    people decide in the app, a third fills the Excel sheet; `llmcoder verify export` (the real command)
    writes the app's sheets beside the Excel one, and the next run ingests all three."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from llmcoder.verify.web import create_app

    write_topic_corpus(tmp_path / "corpus.csv", per_label=20)
    (tmp_path / "fake.yaml").write_text("name: fake\nmodel: smollm2-135m\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(f"""
studies:
  {STUDY}:
    corpus: {{path: corpus.csv, label: label}}
    codebook: codebook.yaml
    split: {{train: 0.6, dev: 0.2, test: 0.2, sizes: [1.0]}}
    coders: [fake.yaml]
    verify: {{mode: web, humans: [ann, bob, cid], overlap: 0.25, splits: [train, dev], selection_share: 0.25}}
    report: {{enabled: false}}
""", encoding="utf-8")
    snakemake(tmp_path, f"results/{STUDY}/corpus.parquet", f"results/{STUDY}/splits.parquet")
    fake_coder_output(tmp_path)
    verified = tmp_path / f"results/{STUDY}/verify/ingest/verified.parquet"
    first = snakemake(tmp_path)
    said = first.stdout + first.stderr
    sheets = tmp_path / f"results/{STUDY}/verify/sheets"
    serve = (f"llmcoder verify serve --sheets results/{STUDY}/verify/sheets/manifest.json "
             f"--db results/{STUDY}/verify/web.sqlite --codebook codebook.yaml")
    assert serve in said and f"--out results/{STUDY}/verify/filled" in said, said[-3000:]
    assert not verified.exists()

    gold = dict(pl.read_csv(tmp_path / "corpus.csv").select("id", "label").iter_rows())
    app = create_app(sheets / "manifest.json", tmp_path / f"results/{STUDY}/verify/web.sqlite",
                     codebook=tmp_path / "codebook.yaml")
    client, a = TestClient(app), app.state.assignments
    for coder in ("ann", "bob"):
        token = app.state.tokens[coder]
        page = client.get(f"/v/{token}/doc/0").text
        hdr = {"X-CSRF-Token": re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)}
        for di, doc in enumerate(a.docs[coder]):
            view = int(re.search(r"view = (\d+)", client.get(f"/v/{token}/doc/{di}").text).group(1))
            if a.mode(coder, di) == "selection":  # verify.selection_share: the label chosen from the codebook
                res = client.post(f"/v/{token}/api/select", json={"doc_index": di, "labels": [gold[doc.doc_id]],
                                                                  "view_id": view}, headers=hdr)
                assert res.status_code == 200, res.text
                continue
            for r in doc.rows:
                what = "keep" if r["label"] == gold[doc.doc_id] else "reject"
                res = client.post(f"/v/{token}/api/decide", json={"item": r["item"], "decision": what, "view_id": view},
                                  headers=hdr)
                assert res.status_code == 200, res.text
        assert client.post(f"/v/{token}/api/finish", json={"name": coder, "date": "2026-12-04"},
                           headers=hdr).status_code == 200
    filled = tmp_path / f"results/{STUDY}/verify/filled"
    assert fill_like_a_person(sheets / "cid.xlsx", filled / "cid.xlsx", gold) > 0  # cid works in Excel
    cid_sheet = (filled / "cid.xlsx").read_bytes()
    export = subprocess.run(
        [str(Path(sys.executable).with_name("llmcoder")), "verify", "export", "--sheets",
         f"results/{STUDY}/verify/sheets/manifest.json", "--db", f"results/{STUDY}/verify/web.sqlite",
         "--codebook", "codebook.yaml", "--out", f"results/{STUDY}/verify/filled"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert export.returncode == 0, export.stdout + export.stderr
    assert "no sheet written" in export.stdout and export.stdout.rstrip().endswith("cid")
    assert (filled / "cid.xlsx").read_bytes() == cid_sheet  # the Excel sheet is left as it was
    assert (filled / "timing.csv").is_file()
    second = snakemake(tmp_path)
    assert "verify_ingest" in second.stdout + second.stderr
    got = pl.read_parquet(verified)
    assert got.height > 0 and all(gold[d] == lab for d, lab in got.select("doc_id", "label").iter_rows())
    summary = json.loads((tmp_path / f"results/{STUDY}/verify/ingest/summary.json").read_text())
    assert sorted(summary["coders"]) == ["ann", "bob", "cid"]
    # seconds per decision of the browser part, from the export's timing.csv (cid worked in Excel: untimed)
    timing = pl.read_csv(filled / "timing.csv")
    assert set(timing["coder"]) == {"ann", "bob"}
    t = summary["timing"]
    assert t["n_decisions"] == t["n_timed"] == timing.filter(pl.col("mode") == "rejection").height
    assert t["median_seconds"] == pytest.approx(float(np.median(
        timing.filter(pl.col("mode") == "rejection")["seconds"].to_numpy())))
    assert set(t["median_seconds_by_coder"]) == {"ann", "bob"}
    # a quarter of each person's documents were shown for selection; both modes compared against gold
    n_sel = sum(len(a.selection[c]) for c in ("ann", "bob"))
    assert n_sel == sum(round(0.25 * len(a.docs[c])) for c in ("ann", "bob")) > 0
    by = t["by_mode"]
    assert by["selection"]["n_documents"] == n_sel and by["selection"]["n_gold"] == n_sel
    assert by["selection"]["agreement_with_gold"] == 1.0
    # in rejection mode a person who rejects every proposal and gives no right label has no label: gold is
    # theirs exactly where it was proposed
    rej = [gold[doc.doc_id] in {r["label"] for r in doc.rows}
           for c in ("ann", "bob") for di, doc in enumerate(a.docs[c]) if a.mode(c, di) == "rejection"]
    assert by["rejection"]["n_documents"] == len(rej)
    assert by["rejection"]["agreement_with_gold"] == pytest.approx(sum(rej) / len(rej)) and 0 < sum(rej) < len(rej)
    assert t["n_decisions"] == timing.filter(pl.col("mode") == "rejection").height
    # the app's database and the export's timing.csv and ledger are named by the results contract
    from llmcoder.results import validate_results

    assert (tmp_path / f"results/{STUDY}/verify/web.sqlite").is_file()
    assert validate_results(tmp_path / f"results/{STUDY}") == {}
