"""Verification in the browser (llmcoder.verify.web): tokens, CSRF, escaping, durability, and the export
read by the same ingest as sheets filled in Excel."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import verify_helpers as h

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from llmcoder.errors import InputError  # noqa: E402
from llmcoder.verify import adjudication_message, ingest, make_sheets, write_sheets  # noqa: E402
from llmcoder.verify.web import ADMIN, create_app, export_decisions  # noqa: E402

CODERS = ["ana", "ben"]
SCRIPT = "<script>window.pwned = 1</script>"


@pytest.fixture
def study(tmp_path: Path):
    cb = h.codebook()
    corp = h.corpus(16)
    corp = corp.with_columns(pl.when(pl.col("doc_id") == "d003").then(pl.lit(f"Energy {SCRIPT} <b>bold</b>"))
                             .otherwise(pl.col("text")).alias("text"))
    s = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.5, random_state=1)
    write_sheets(s, tmp_path / "sheets", study="web")
    gold = dict(zip(corp["doc_id"].to_list(), corp["label"].to_list(), strict=True))
    return cb, tmp_path / "sheets" / "manifest.json", gold, tmp_path


def _client(study, db="app.sqlite"):
    cb, man, _, tmp = study
    app = create_app(man, tmp / db, codebook=cb)
    return TestClient(app), app.state.tokens, app.state.assignments


def _csrf(client: TestClient, token: str) -> str:
    page = client.get(f"/v/{token}/doc/0").text
    return re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)


def _view(client: TestClient, token: str, i: int) -> int:
    return int(re.search(r"view = (\d+)", client.get(f"/v/{token}/doc/{i}").text).group(1))


def _plan(a, coder, gold):
    """A person's decisions: reject what is not gold; on the first document, reject everything and
    give a right label that was not proposed (a 'supplied' row)."""
    out = []
    for di, doc in enumerate(a.docs[coder]):
        proposed = {r["label"] for r in doc.rows}
        everything = di == 0
        for r in doc.rows:
            out.append((di, r["item"], "reject" if everything or r["label"] != gold[doc.doc_id] else "keep"))
        if everything:
            other = sorted(set(h.LABELS) - proposed)[0]
            out.append((di, None, other))
    return out


def _decide_all(client, token, a, coder, gold, finish=True):
    hdr = {"X-CSRF-Token": _csrf(client, token)}
    for di, item, what in _plan(a, coder, gold):
        view = _view(client, token, di)
        if item is None:
            r = client.post(f"/v/{token}/api/right", json={"doc_index": di, "labels": [what], "view_id": view},
                            headers=hdr)
        else:
            r = client.post(f"/v/{token}/api/decide", json={"item": item, "decision": what, "view_id": view},
                            headers=hdr)
        assert r.status_code == 200, r.text
    assert "Every label is decided" in client.get(f"/v/{token}/finish").text
    if finish:
        r = client.post(f"/v/{token}/api/finish", json={"name": coder.title(), "date": "2026-12-03"}, headers=hdr)
        assert r.status_code == 200, r.text


def test_two_verifiers_overlap_export_equals_sheets(study):
    cb, man, gold, tmp = study
    client, tokens, a = _client(study)
    shared = set(d.doc_id for d in a.docs["ana"]) & set(d.doc_id for d in a.docs["ben"])
    assert shared  # the overlap is served to both
    # both at once: interleave their decisions
    plans = {c: _plan(a, c, gold) for c in CODERS}
    hdr = {c: {"X-CSRF-Token": _csrf(client, tokens[c])} for c in CODERS}
    for k in range(max(len(p) for p in plans.values())):
        for c in CODERS:
            if k < len(plans[c]):
                di, item, what = plans[c][k]
                body = ({"doc_index": di, "labels": [what]} if item is None else {"item": item, "decision": what})
                body["view_id"] = _view(client, tokens[c], di)
                path = "right" if item is None else "decide"
                assert client.post(f"/v/{tokens[c]}/api/{path}", json=body, headers=hdr[c]).status_code == 200
    for c in CODERS:
        r = client.post(f"/v/{tokens[c]}/api/finish", json={"name": c, "date": "2026-12-03"}, headers=hdr[c])
        assert r.status_code == 200
    team = client.get(f"/team?token={tokens[ADMIN]}")
    assert team.status_code == 200 and "Agreement on the overlap" in team.text
    assert f"{len(shared)} overlap document(s) decided" in team.text
    assert "<td>all labels</td>" in team.text  # human_reliability, as in the reliability step
    n_ana = sum(len(d.rows) for d in a.docs["ana"])
    assert f"<td>{n_ana} / {n_ana}</td>" in team.text and "built-in" not in team.text

    res = export_decisions(man, tmp / "app.sqlite", tmp / "exported", codebook=cb)
    assert res["unfinished"] == []
    timing = pl.read_csv(res["timing"])
    assert timing.height == sum(len(d.rows) for c in CODERS for d in a.docs[c])
    assert (timing["seconds"] >= 0).all()
    from_app = ingest(res["sheets"], codebook=cb, manifest=man)

    # the same decisions written into the blank sheets, as a person would in Excel
    import shutil

    filled = tmp / "filled"
    shutil.copytree(tmp / "sheets", filled)
    names = cb.names
    for c in CODERS:
        plan = _plan(a, c, gold)
        dec = {item: what for _, item, what in plan if item is not None}
        right = {di: what for di, item, what in plan if item is None}
        first_item = {di: a.docs[c][di].rows[0]["item"] for di in right}

        def fill(ws, dec=dec, right=right, first_item=first_item):
            ci, cd, cr = h.column(ws, "item"), h.column(ws, "decision"), h.column(ws, "right_label")
            for row in range(2, ws.max_row + 1):
                item = ws.cell(row, ci).value
                if item is None:
                    continue
                ws.cell(row, cd).value = dec[int(item)]
                for di, it in first_item.items():
                    if it == int(item):
                        ws.cell(row, cr).value = names[right[di]]

        h.edit_xlsx(filled / f"{c}.xlsx", fill)
        h.finish(filled / f"{c}.xlsx", name=c, date="2026-12-03")
    from_sheets = ingest([filled / f"{c}.xlsx" for c in CODERS], codebook=cb, manifest=man)
    assert from_app.verified.equals(from_sheets.verified)
    assert from_app.decisions.equals(from_sheets.decisions)
    assert (from_app.decisions["decision"] == "supplied").sum() == len(CODERS)
    assert from_app.reliability.equals(from_sheets.reliability)


def test_tokens_csrf_and_isolation(study):
    client, tokens, a = _client(study)
    ta, tb = tokens["ana"], tokens["ben"]
    assert client.get("/v/not-a-token/doc/0").status_code == 403
    assert client.get("/team").status_code == 401
    assert client.get(f"/team?token={ta}").status_code == 403
    assert client.get(f"/v/{tokens[ADMIN]}/doc/0").status_code == 403
    item_a = a.docs["ana"][0].rows[0]["item"]
    # no CSRF header, a wrong one, and a cross-origin page are refused
    assert client.post(f"/v/{ta}/api/decide", json={"item": item_a, "decision": "keep"}).status_code == 403
    assert client.post(f"/v/{ta}/api/decide", json={"item": item_a, "decision": "keep"},
                       headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    csrf_a, csrf_b = _csrf(client, ta), _csrf(client, tb)
    assert client.post(f"/v/{ta}/api/decide", json={"item": item_a, "decision": "keep"},
                       headers={"X-CSRF-Token": csrf_a, "Origin": "http://evil.example"}).status_code == 403
    # B's CSRF token does not work for A
    assert client.post(f"/v/{ta}/api/decide", json={"item": item_a, "decision": "keep"},
                       headers={"X-CSRF-Token": csrf_b}).status_code == 403
    ok = client.post(f"/v/{ta}/api/decide", json={"item": item_a, "decision": "reject"},
                     headers={"X-CSRF-Token": csrf_a, "Origin": "http://testserver"})
    assert ok.status_code == 200
    # A's token reaches only A's items: an item number beyond A's sheet is unknown, B's state untouched
    n_a = sum(len(d.rows) for d in a.docs["ana"])
    assert client.post(f"/v/{ta}/api/decide", json={"item": n_a + 1, "decision": "keep"},
                       headers={"X-CSRF-Token": csrf_a}).status_code == 404
    assert client.get(f"/v/{ta}/doc/{len(a.docs['ana'])}").status_code == 404
    assert client.get(f"/v/{tb}/api/state").json()["decisions"] == {}
    assert client.get(f"/v/{ta}/api/state").json()["decisions"] == {str(item_a): "reject"}
    # nothing on a page tells which LLM coder proposed a label, or what the other person decided
    page = client.get(f"/v/{tb}/doc/0").text
    assert "gpt" not in page and "llama" not in page and "ana" not in page
    # undo
    assert client.post(f"/v/{ta}/api/undo", json={}, headers={"X-CSRF-Token": csrf_a}).json()["doc_index"] == 0
    assert client.get(f"/v/{ta}/api/state").json()["decisions"] == {}


def test_script_document_is_inert(study):
    client, tokens, a = _client(study)
    for c in CODERS:
        for i, d in enumerate(a.docs[c]):
            if d.doc_id == "d003":
                page = client.get(f"/v/{tokens[c]}/doc/{i}").text
                assert SCRIPT not in page and "<b>bold</b>" not in page
                assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
                return
    pytest.fail("d003 is on nobody's sheet")


def test_decisions_survive_reopening(study):
    _, _, gold, _ = study
    client, tokens, a = _client(study)
    _decide_all(client, tokens["ana"], a, "ana", gold, finish=False)
    before = client.get(f"/v/{tokens['ana']}/api/state").json()
    assert client.get(f"/v/{tokens['ben']}/finish").text.count("/doc/") > 1  # ben's undecided documents listed
    client.close()
    again, tokens2, _ = _client(study)
    assert tokens2 == tokens  # the links stay valid
    assert again.get(f"/v/{tokens['ana']}/api/state").json() == before


def test_database_of_other_sheets_is_refused(study, tmp_path):
    from llmcoder.errors import InputError

    cb, man, _, tmp = study
    _client(study)
    corp = h.corpus(12)
    s = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.5, random_state=9)
    write_sheets(s, tmp / "other", study="web")
    with pytest.raises(InputError, match="other sheets"):
        create_app(tmp / "other" / "manifest.json", tmp / "app.sqlite", codebook=cb)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(man, db, cbfile, port=None):
    """``llmcoder verify serve`` in a subprocess on a free loopback port: (process, links, base URL)."""
    import httpx

    port = port or _free_port()
    cmd = [sys.executable, "-c", "from llmcoder.cli import main; main()", "verify", "serve", "--sheets", str(man),
           "--db", str(db), "--codebook", str(cbfile), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    links = {}
    for _ in range(len(CODERS) + 1):
        who, url = proc.stdout.readline().strip().split(": ", 1)
        links[who] = url
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/team", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, links, base


def test_sigkill_loses_nothing_acknowledged(study, tmp_path):
    import httpx

    cb, man, gold, tmp = study
    cbfile = tmp / "codebook.yaml"
    cb.save(cbfile)
    db = tmp / "killed.sqlite"

    def start():
        return _serve(man, db, cbfile)

    proc, links, base = start()
    try:
        url = links["ana"]
        token = url.rsplit("/", 1)[1]
        page = httpx.get(f"{base}/v/{token}/doc/0").text
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)
        acked = {}
        for _, item, what in [p for p in _plan(_client(study, "scratch.sqlite")[2], "ana", gold)
                              if p[1] is not None][:6]:
            r = httpx.post(f"{base}/v/{token}/api/decide", json={"item": item, "decision": what},
                           headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200
            acked[str(item)] = what
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc, links2, base = start()
    try:
        assert links2 == {k: v.replace(v.split("/")[2], base.split("/")[2]) for k, v in links.items()}
        state = httpx.get(f"{base}/v/{token}/api/state").json()
        assert state["decisions"] == acked
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_export_and_errors(study):
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.verify import register

    cb, man, gold, tmp = study
    cb.save(tmp / "codebook.yaml")
    client, tokens, a = _client(study)
    _decide_all(client, tokens["ana"], a, "ana", gold)
    app = typer.Typer()
    register(app)
    app.command("other")(lambda: None)
    run = CliRunner().invoke
    r = run(app, ["verify", "export", "--sheets", str(man), "--db", str(tmp / "app.sqlite"), "--codebook",
                  str(tmp / "codebook.yaml"), "--out", str(tmp / "out")])
    assert r.exit_code == 0, r.output
    assert "not marked finished" not in r.output  # ana finished; ben never started
    # ben worked offline: no sheet is written for him, so his Excel sheet in the same folder is safe
    assert "no decision in the browser, no sheet written" in r.output and r.output.rstrip().endswith("ben")
    assert (tmp / "out" / "ana.xlsx").is_file() and (tmp / "out" / "timing.csv").is_file()
    assert not (tmp / "out" / "ben.xlsx").exists()
    (tmp / "out" / "ben.xlsx").write_bytes(b"ben's own sheet")
    r = run(app, ["verify", "export", "--sheets", str(man), "--db", str(tmp / "app.sqlite"), "--codebook",
                  str(tmp / "codebook.yaml"), "--out", str(tmp / "out")])
    assert r.exit_code == 0, r.output  # ana's exported sheet may be written again
    assert (tmp / "out" / "ben.xlsx").read_bytes() == b"ben's own sheet"
    # a sheet the export did not write is never overwritten
    (tmp / "out3").mkdir()
    (tmp / "out3" / "ana.xlsx").write_bytes(b"filled in Excel")
    r = run(app, ["verify", "export", "--sheets", str(man), "--db", str(tmp / "app.sqlite"), "--out",
                  str(tmp / "out3")])
    assert r.exit_code == 2 and "was not written by an export" in r.output and "ana.xlsx" in r.output
    assert (tmp / "out3" / "ana.xlsx").read_bytes() == b"filled in Excel"
    r = run(app, ["verify", "export", "--sheets", str(man), "--db", str(tmp / "nope.sqlite"), "--out",
                  str(tmp / "out2")])
    assert r.exit_code == 2 and "database not found" in r.output and "Traceback" not in r.output
    r = run(app, ["verify", "serve", "--sheets", str(tmp / "missing.json"), "--db", str(tmp / "x.sqlite")])
    assert r.exit_code == 2 and "manifest not found" in r.output and "Traceback" not in r.output


def test_adjudication_served_exported_and_ingested(study):
    """The queue the first round leaves is served to the adjudicator like a sheet; the export is the
    filled adjudication sheet that ingest reads; an adjudication sheet filled elsewhere is never
    overwritten."""
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.verify import register
    from llmcoder.verify.web import export_adjudication, load_assignments

    cb, man, gold, tmp = study
    cb.save(tmp / "codebook.yaml")
    client, tokens, a = _client(study)
    _decide_all(client, tokens["ana"], a, "ana", gold)
    # ben disagrees with ana on every shared document: he rejects what is proposed there and supplies a
    # label that is not gold (never the label ana kept)
    shared = {d.doc_id for d in a.docs["ana"]} & {d.doc_id for d in a.docs["ben"]}
    hdr = {"X-CSRF-Token": _csrf(client, tokens["ben"])}
    for di, doc in enumerate(a.docs["ben"]):
        wrong = doc.doc_id in shared
        for r in doc.rows:
            what = "reject" if wrong or r["label"] != gold[doc.doc_id] else "keep"
            body = {"item": r["item"], "decision": what, "view_id": _view(client, tokens["ben"], di)}
            assert client.post(f"/v/{tokens['ben']}/api/decide", json=body, headers=hdr).status_code == 200
        if wrong:
            other = sorted(set(h.LABELS) - {r["label"] for r in doc.rows} - {gold[doc.doc_id]})[0]
            body = {"doc_index": di, "labels": [other], "view_id": _view(client, tokens["ben"], di)}
            assert client.post(f"/v/{tokens['ben']}/api/right", json=body, headers=hdr).status_code == 200
    assert client.post(f"/v/{tokens['ben']}/api/finish", json={"name": "Ben", "date": "2026-12-07"},
                       headers=hdr).status_code == 200
    sheets = export_decisions(man, tmp / "app.sqlite", tmp / "filled", codebook=cb)["sheets"]
    first = ingest(sheets, codebook=cb, manifest=man)
    queue = set(first.queue["doc_id"].to_list())
    assert queue and queue <= shared
    first.write(tmp / "ingest")
    folder = tmp / "ingest" / "adjudication"
    said = adjudication_message("web", ingest_dir=tmp / "ingest", adjudicated=tmp / "verify" / "adjudicated.xlsx",
                                web=True, codebook="codebook.yaml")
    assert f"{len(queue)} document(s) await adjudication" in said
    assert f"llmcoder verify serve --sheets {folder} --db {tmp / 'verify' / 'adjudication.sqlite'}" in said
    assert f"--out {tmp / 'verify' / 'adjudicated.xlsx'} --codebook codebook.yaml" in said

    # the adjudicator keeps gold where it is on the sheet, else rejects all and gives gold as the right label
    adj = create_app(folder, tmp / "adj.sqlite", codebook=cb)
    served = adj.state.assignments
    assert served.round == "adjudication" and list(served.docs) == ["adjudicator"]
    assert {d.doc_id for d in served.docs["adjudicator"]} == queue
    ac, tok = TestClient(adj), adj.state.tokens["adjudicator"]
    assert "Adjudication: the verifiers disagreed" in ac.get(f"/v/{tok}/doc/0").text
    assert "Adjudication of web" in ac.get(f"/team?token={adj.state.tokens[ADMIN]}").text
    assert ac.get(f"/v/{tokens['ana']}").status_code == 403  # a first-round link is no key to the adjudication
    ahdr = {"X-CSRF-Token": _csrf(ac, tok)}
    for di, doc in enumerate(served.docs["adjudicator"]):
        labels = {r["label"] for r in doc.rows}
        for r in doc.rows:
            body = {"item": r["item"], "decision": "keep" if r["label"] == gold[doc.doc_id] else "reject",
                    "view_id": _view(ac, tok, di)}
            assert ac.post(f"/v/{tok}/api/decide", json=body, headers=ahdr).status_code == 200
        if gold[doc.doc_id] not in labels:
            body = {"doc_index": di, "labels": [gold[doc.doc_id]], "view_id": _view(ac, tok, di)}
            assert ac.post(f"/v/{tok}/api/right", json=body, headers=ahdr).status_code == 200

    app = typer.Typer()
    register(app)
    app.command("other")(lambda: None)
    run = CliRunner().invoke
    args = ["verify", "export", "--sheets", str(folder), "--db", str(tmp / "adj.sqlite"), "--codebook",
            str(tmp / "codebook.yaml"), "--out", str(tmp / "verify" / "adjudicated.xlsx")]
    r = run(app, args)
    assert r.exit_code == 0 and "not marked finished" in r.output, r.output
    assert ac.post(f"/v/{tok}/api/finish", json={"name": "Ada", "date": "2026-12-07"}, headers=ahdr).status_code == 200
    r = run(app, args)  # its own earlier export may be written again
    assert r.exit_code == 0 and "not marked finished" not in r.output, r.output
    assert adjudication_message("web", ingest_dir=tmp / "ingest", adjudicated=tmp / "verify" / "adjudicated.xlsx") \
        is None  # the workflow stops asking once the filled sheet is there
    final = ingest(sheets, codebook=cb, manifest=man, adjudication=tmp / "verify" / "adjudicated.xlsx")
    assert final.queue.height == 0
    settled = final.verified.filter(pl.col("doc_id").is_in(list(queue)))
    assert settled.height == len(queue)
    assert set(settled["source"]) == {"adjudication"}
    assert dict(settled.select("doc_id", "label").iter_rows()) == {d: gold[d] for d in queue}

    # an adjudication sheet that this database did not write is never overwritten
    (tmp / "elsewhere.xlsx").write_bytes(b"filled in Excel")
    r = run(app, [*args[:-1], str(tmp / "elsewhere.xlsx")])
    assert r.exit_code == 2 and "this database did not write it" in r.output and "Traceback" not in r.output
    assert (tmp / "elsewhere.xlsx").read_bytes() == b"filled in Excel"
    r = run(app, [*args[:-1], str(tmp / "adjudicated.csv")])
    assert r.exit_code == 2 and "written as .xlsx" in r.output
    # the two rounds are not confused
    with pytest.raises(InputError, match="first round's sheets"):
        export_adjudication(man, tmp / "app.sqlite", tmp / "x.xlsx", codebook=cb)
    with pytest.raises(InputError, match="adjudication sheets"):
        export_decisions(folder, tmp / "adj.sqlite", tmp / "x", codebook=cb)
    with pytest.raises(InputError, match="no manifest.json and no adjudication sheet"):
        load_assignments(tmp / "filled", cb)


def test_selection_mode_documents_timed_and_compared(study, tmp_path):
    """verify.selection_share: a seeded share of each person's documents is shown for selection (the
    codebook, no proposal); a choice decides every row of the sheet at once (kept if chosen, else
    rejected, the right label when not proposed), undo takes it back whole, and the timing summary
    compares seconds per document and agreement with gold between the two modes."""
    import numpy as np

    from llmcoder.verify.web import load_assignments, timing_summary

    cb, _, gold, tmp = study
    corp = h.corpus(16)
    sheets = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.5, random_state=1)
    sheets.settings["selection_share"] = 0.5
    write_sheets(sheets, tmp_path / "sel", study="web")
    man = tmp_path / "sel" / "manifest.json"
    a = load_assignments(man, cb)
    for c in CODERS:
        assert len(a.selection[c]) == round(0.5 * len(a.docs[c]))
    assert load_assignments(man, cb).selection == a.selection  # the same on every restart
    app = create_app(man, tmp_path / "sel.sqlite", codebook=cb)
    client, tok = TestClient(app), app.state.tokens["ana"]
    hdr = {"X-CSRF-Token": _csrf(client, tok)}
    sel, rej = sorted(a.selection["ana"]), sorted(set(range(len(a.docs["ana"]))) - a.selection["ana"])
    page = client.get(f"/v/{tok}/doc/{sel[0]}").text
    assert "Choose the label that applies" in page
    assert all(f'data-label="{lab}"' in page for lab in h.LABELS)  # the whole codebook, no proposal marked
    assert "Choose the label" not in client.get(f"/v/{tok}/doc/{rej[0]}").text
    # the two modes do not mix
    item = a.docs["ana"][sel[0]].rows[0]["item"]
    assert client.post(f"/v/{tok}/api/decide", json={"item": item, "decision": "keep"}, headers=hdr).status_code == 409
    assert client.post(f"/v/{tok}/api/select", json={"doc_index": rej[0], "labels": []}, headers=hdr).status_code == 409
    assert client.post(f"/v/{tok}/api/select", json={"doc_index": sel[0], "labels": ["nope"]},
                       headers=hdr).status_code == 422
    # a choice, then undo: the whole document is undecided again
    view = _view(client, tok, sel[0])
    r = client.post(f"/v/{tok}/api/select", json={"doc_index": sel[0], "labels": [h.LABELS[0]], "view_id": view},
                    headers=hdr)
    assert r.status_code == 200 and r.json()["decided"] == len(a.docs["ana"][sel[0]].rows)
    assert client.post(f"/v/{tok}/api/undo", json={}, headers=hdr).json()["doc_index"] == sel[0]
    assert client.get(f"/v/{tok}/api/state").json()["decisions"] == {}
    # ana: gold on every selection document; the rejection documents as _plan says
    for di in sel:
        body = {"doc_index": di, "labels": [gold[a.docs["ana"][di].doc_id]], "view_id": _view(client, tok, di)}
        assert client.post(f"/v/{tok}/api/select", json=body, headers=hdr).status_code == 200
    for di, item, what in _plan(a, "ana", gold):
        if di in a.selection["ana"]:
            continue
        body = ({"doc_index": di, "labels": [what]} if item is None else {"item": item, "decision": what})
        body["view_id"] = _view(client, tok, di)
        assert client.post(f"/v/{tok}/api/{'right' if item is None else 'decide'}", json=body,
                           headers=hdr).status_code == 200
    assert client.post(f"/v/{tok}/api/finish", json={"name": "Ana", "date": "2026-12-07"}, headers=hdr).status_code == 200
    res = export_decisions(man, tmp_path / "sel.sqlite", tmp_path / "sel-out", codebook=cb)
    timing = pl.read_csv(res["timing"])
    assert set(timing["mode"]) == {"rejection", "selection"}
    on_sel = timing.filter(pl.col("mode") == "selection")
    assert set(on_sel["doc_id"]) == {a.docs["ana"][di].doc_id for di in sel}
    assert on_sel.group_by("doc_id").agg(pl.col("decided_at").n_unique())["decided_at"].max() == 1  # one choice
    got = ingest(res["sheets"], codebook=cb, manifest=man, require_all=False)
    own = got.decisions.filter(pl.col("decision").is_in(["keep", "supplied"]) & (pl.col("coder") == "ana"))
    for di in sel:  # the choice is the person's label: kept where proposed, supplied where not
        d = a.docs["ana"][di].doc_id
        assert own.filter(pl.col("doc_id") == d)["label"].to_list() == [gold[d]]
    t = timing_summary(res["timing"], decisions=got.decisions, gold=gold)
    # per-decision figures are the rejection mode's
    assert t["n_decisions"] == timing.filter(pl.col("mode") == "rejection").height
    by = t["by_mode"]
    assert by["selection"]["n_documents"] == len(sel) and by["rejection"]["n_documents"] == len(rej)
    assert by["selection"]["agreement_with_gold"] == 1.0
    wrong = sum(1 for di, item, _ in _plan(a, "ana", gold) if item is None and di not in a.selection["ana"])
    assert by["rejection"]["agreement_with_gold"] == pytest.approx((len(rej) - wrong) / len(rej))
    for mode, idx in (("selection", sel), ("rejection", rej)):
        per_doc = [timing.filter((pl.col("mode") == mode) & (pl.col("doc_id") == a.docs["ana"][di].doc_id))["seconds"].max()
                   for di in idx]
        assert by[mode]["median_seconds_per_document"] == pytest.approx(float(np.median(per_doc)))


def _chrome():
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("no chromium/chromedriver (apt-get install chromium chromium-driver; make test does it as root)")
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium")
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(shutil.which("chromedriver")))


def test_browser_two_verifiers_keyboard_sigkill(study):
    """Headless Chromium, keyboard only: two verifiers at once; the server SIGKILLed half-way and restarted
    on the same port; the <script> document inert; the export ingested as sheets are."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    cb, man, gold, tmp = study
    cb.save(tmp / "codebook.yaml")
    db = tmp / "browser.sqlite"
    names = cb.names
    corp_texts = {}
    a = _client(study, "scratch.sqlite")[2]
    for c in CODERS:
        for d in a.docs[c]:
            corp_texts[d.text] = gold[d.doc_id]
    drivers = {}
    proc, links, base = _serve(man, db, tmp / "codebook.yaml")
    port = int(base.rsplit(":", 1)[1])
    try:
        for c in CODERS:
            drivers[c] = _chrome()
            drivers[c].get(links[c])

        def one_document(c):
            """Decide the document on screen from the keyboard: keep the gold label, reject the others."""
            drv = drivers[c]
            url = drv.current_url
            text = drv.find_element(By.ID, "text").text
            assert drv.execute_script("return window.pwned === undefined")
            want = names[corp_texts[text.strip()] if text.strip() in corp_texts else
                         next(g for t, g in corp_texts.items() if t.strip() == text.strip())]
            boxes = drv.find_elements(By.CSS_SELECTOR, ".label")
            body = drv.find_element(By.TAG_NAME, "body")
            for i, box in enumerate(boxes):
                body.send_keys("k" if box.find_element(By.TAG_NAME, "b").text == want else "r")
                if i < len(boxes) - 1:
                    WebDriverWait(drv, 10).until(lambda d, box=box: box.find_element(By.CSS_SELECTOR, ".d").text)
            WebDriverWait(drv, 10).until(lambda d: d.current_url != url)

        n_docs = {c: len(a.docs[c]) for c in CODERS}
        done = dict.fromkeys(CODERS, 0)
        for c in CODERS:  # half of each assignment, taking turns
            for _ in range(n_docs[c] // 2):
                one_document(c)
                done[c] += 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc, _, _ = _serve(man, db, tmp / "codebook.yaml", port=port)
        for c in CODERS:
            drivers[c].get(links[c])  # the same link resumes at the first undecided document
            assert drivers[c].current_url.endswith(f"/doc/{done[c]}")
            while done[c] < n_docs[c]:
                one_document(c)
                done[c] += 1
            drv = drivers[c]
            assert drv.current_url.endswith("/finish")
            drv.find_element(By.ID, "name").send_keys(c)
            drv.find_element(By.ID, "done").send_keys(Keys.ENTER)
            WebDriverWait(drv, 10).until(lambda d: "Marked finished" in d.find_element(By.ID, "status").text)
    finally:
        for drv in drivers.values():
            drv.quit()
        proc.terminate()
        proc.wait(10)
    res = export_decisions(man, db, tmp / "exported", codebook=cb)
    assert res["unfinished"] == []
    out = ingest(res["sheets"], codebook=cb, manifest=man)
    verified = dict(zip(out.verified["doc_id"].to_list(), out.verified["label"].to_list(), strict=True))
    assert verified == {d: g for d, g in gold.items() if d in verified} and len(verified) == len(
        {d.doc_id for c in CODERS for d in a.docs[c]})


def test_browser_selection_mode_keyboard(study, tmp_path):
    """Headless Chromium, keyboard only, verify.selection_share 0.5: a digit chooses the label on a
    selection page, u takes the choice back, k/r decide the rejection pages; the export ingests to gold."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from llmcoder.verify.web import load_assignments

    cb, _, gold, tmp = study
    cb.save(tmp / "codebook.yaml")
    corp = h.corpus(16)
    sheets = make_sheets(corp, h.codings(corp), cb, coders=CODERS, overlap=0.5, random_state=1)
    sheets.settings["selection_share"] = 0.5
    write_sheets(sheets, tmp_path / "sel", study="web")
    man = tmp_path / "sel" / "manifest.json"
    a = load_assignments(man, cb)
    order = [i for i, _ in a.label_choices]
    names = cb.names
    proc, links, _ = _serve(man, tmp_path / "sel.sqlite", tmp / "codebook.yaml")
    drv = _chrome()
    try:
        drv.get(links["ana"])
        undone = False
        for di, doc in enumerate(a.docs["ana"]):
            WebDriverWait(drv, 10).until(lambda d, di=di: d.current_url.endswith(f"/doc/{di}"))
            body = drv.find_element(By.TAG_NAME, "body")
            want = gold[doc.doc_id]
            if a.mode("ana", di) == "selection":
                assert drv.find_elements(By.ID, "mode")
                body.send_keys(str(order.index(want) + 1))
                if not undone:  # take the first choice back: the same page, nothing decided
                    WebDriverWait(drv, 10).until(lambda d, di=di: not d.current_url.endswith(f"/doc/{di}"))
                    drv.find_element(By.TAG_NAME, "body").send_keys("u")
                    WebDriverWait(drv, 10).until(lambda d, di=di: d.current_url.endswith(f"/doc/{di}"))
                    assert not drv.find_elements(By.CSS_SELECTOR, ".label.keep")
                    drv.find_element(By.TAG_NAME, "body").send_keys(str(order.index(want) + 1))
                    undone = True
                continue
            assert not drv.find_elements(By.ID, "mode")
            boxes = drv.find_elements(By.CSS_SELECTOR, ".label")
            for i, box in enumerate(boxes):
                body.send_keys("k" if box.find_element(By.TAG_NAME, "b").text == names[want] else "r")
                if i < len(boxes) - 1:
                    WebDriverWait(drv, 10).until(lambda d, box=box: box.find_element(By.CSS_SELECTOR, ".d").text)
            if all(r["label"] != want for r in doc.rows):  # every proposal rejected: the right label, by keyboard
                WebDriverWait(drv, 10).until(lambda d: not d.find_element(By.ID, "right").get_attribute("hidden"))
                sel = drv.find_element(By.ID, "rightsel")
                sel.send_keys(names[want])
                sel.send_keys(Keys.ENTER)
        WebDriverWait(drv, 10).until(lambda d: d.current_url.endswith("/finish"))
        drv.find_element(By.ID, "name").send_keys("Ana")
        drv.find_element(By.ID, "done").send_keys(Keys.ENTER)
        WebDriverWait(drv, 10).until(lambda d: "Marked finished" in d.find_element(By.ID, "status").text)
    finally:
        drv.quit()
        proc.terminate()
        proc.wait(10)
    assert undone
    res = export_decisions(man, tmp_path / "sel.sqlite", tmp_path / "out", codebook=cb)
    timing = pl.read_csv(res["timing"])
    assert set(timing.filter(pl.col("mode") == "selection")["doc_id"]) == {
        a.docs["ana"][di].doc_id for di in a.selection["ana"]}
    out = ingest(res["sheets"], codebook=cb, manifest=man, require_all=False)
    own = out.decisions.filter(pl.col("decision").is_in(["keep", "supplied"]))
    assert dict(own.select("doc_id", "label").iter_rows()) == {d.doc_id: gold[d.doc_id] for d in a.docs["ana"]}
