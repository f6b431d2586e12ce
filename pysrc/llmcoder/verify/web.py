"""Verification in the browser: a small local web app that serves the sheets' assignments.

The app serves exactly the rows of the blank sheets (``manifest.json`` and the sheets beside it): the
same assignment, overlap and blind design. Each person opens a personal link with a token and sees only
their own rows, never another person's decisions nor which LLM coder proposed a label.

* :func:`create_app`: the FastAPI app (one SQLite database in WAL mode holds tokens, every time a
  document was shown and every decision, committed before the response acknowledges it).
* :func:`export_decisions`: the decisions as filled sheets (``<coder>.xlsx``, the completion field
  filled when the person pressed "finished"), which :func:`llmcoder.verify.ingest` reads like any
  sheet filled in Excel, plus ``timing.csv`` (seconds per decision). Sheets and the app can be mixed.
* The adjudication queue is served the same way: pass the folder ``verify/ingest/adjudication/`` that
  the ingest writes instead of the sheets' manifest; :func:`export_adjudication` writes the filled
  adjudication sheet (``verify/adjudicated.xlsx``, the ingest's declared input).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError
from llmcoder.io import write_text

try:  # the 'server' extra; FastAPI resolves the endpoints' annotations in this module's globals
    from starlette.requests import Request
except ImportError:  # pragma: no cover
    Request = Any  # type: ignore[misc,assignment]

ADMIN = "__team__"
TIMING_FILE = "timing.csv"
EXPORTED_FILE = "exported.json"  # the people whose sheets an export wrote (it may overwrite those only)
TIMING_COLUMNS = ("coder", "item", "doc_id", "label", "decision", "shown_at", "decided_at", "seconds", "mode")
#: How a document is shown: its proposals to keep or reject (the method), or the codebook to choose from
#: (``verify.selection_share`` of each person's documents: the paper's timing comparison).
MODES = ("rejection", "selection")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (coder TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS views (id INTEGER PRIMARY KEY AUTOINCREMENT, coder TEXT NOT NULL,
    doc_index INTEGER NOT NULL, shown_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, coder TEXT NOT NULL,
    kind TEXT NOT NULL, item INTEGER, doc_index INTEGER NOT NULL, value TEXT NOT NULL,
    view_id INTEGER, shown_at REAL, decided_at REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0, batch INTEGER);
CREATE TABLE IF NOT EXISTS finished (coder TEXT PRIMARY KEY, name TEXT NOT NULL, date TEXT NOT NULL,
    at REAL NOT NULL);
"""


@dataclass
class _Doc:
    doc_id: str
    text: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # item, label, label_name, definition


@dataclass
class Assignments:
    """What the app serves: per coder the documents of their blank sheet, in sheet order."""

    study: str
    task: str
    manifest: dict[str, Any]
    sheets_dir: Path
    docs: dict[str, list[_Doc]]
    label_choices: list[tuple[str, str]]  # (id, name) of the codebook, for the right label
    exclusions: dict[str, list[str]]
    codebook: Any = None
    round: str = "verify"  # or "adjudication": the adjudicator's sheet of the documents the first round left
    selection: dict[str, set[int]] = field(default_factory=dict)  # per coder, documents shown for selection
    definitions: dict[str, str] = field(default_factory=dict)  # label id -> definition, for the selection page

    def mode(self, coder: str, doc_index: int) -> str:
        """``selection`` or ``rejection``: how this person is shown this document."""
        return "selection" if doc_index in self.selection.get(coder, set()) else "rejection"

    def items(self, coder: str) -> dict[int, tuple[int, dict[str, Any]]]:
        """item number -> (document index, row) of one coder."""
        return {r["item"]: (i, r) for i, d in enumerate(self.docs[coder]) for r in d.rows}


ADJUDICATION = "adjudication"
FIX_SERVED = ("pass results/<study>/verify/sheets/manifest.json (the first round) or the folder "
              "results/<study>/verify/ingest/adjudication (the adjudication queue)")


def _adjudication_manifest(folder: Path) -> dict[str, Any]:
    """What the app needs of the adjudication sheet the ingest writes under ``adjudication/`` (which has
    no manifest): study, round and each sheet's checksum, from the ``<name>.meta.json`` beside it."""
    from llmcoder.verify._common import MANIFEST_KIND

    metas = sorted(folder.glob("*.meta.json"))
    if not metas:
        raise InputError(str(folder), "no manifest.json and no adjudication sheet (<name>.meta.json) in this folder",
                         fix=FIX_SERVED)
    coders: dict[str, Any] = {}
    study = None
    for path in metas:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            coder, study, sha = str(meta["coder"]), str(meta["study"]), str(meta["sheet_sha256"])
        except (ValueError, KeyError, TypeError):
            raise InputError(str(path), "not the meta data of a sheet llmcoder wrote",
                             fix="run 'llmcoder verify ingest' again to write the adjudication sheet") from None
        if meta.get("round") != ADJUDICATION:
            raise InputError(str(path), f"a sheet of round '{meta.get('round')}', not of the adjudication",
                             fix=FIX_SERVED)
        sheet = f"{coder}.xlsx" if (folder / f"{coder}.xlsx").is_file() else f"{coder}.csv"
        coders[coder] = {"xlsx" if sheet.endswith(".xlsx") else "csv": sheet, "sheet_sha256": sha}
    return {"kind": MANIFEST_KIND, "version": 1, "study": study, "round": ADJUDICATION, "coders": coders,
            "_source": str(folder)}


def load_assignments(manifest: str | os.PathLike[str], codebook: Any = None) -> Assignments:
    """The blank sheets to serve (and, optionally, the codebook for the labels' exclusions and the
    right-label choice): the first round's ``manifest.json`` and the sheets beside it, or the adjudication
    folder ``verify/ingest/adjudication/`` with the adjudicator's sheet."""
    from llmcoder.codebook import Codebook, load_codebook
    from llmcoder.verify.read import load_manifest
    from llmcoder.verify.simulate import read_blank_sheets

    given = Path(manifest)
    if given.is_dir():
        sheets_dir = given
        man = load_manifest(given / "manifest.json") if (given / "manifest.json").is_file() \
            else _adjudication_manifest(given)
    else:
        sheets_dir = given.parent
        man = load_manifest(given)
    round_ = str(man.get("round", "verify"))
    if round_ not in ("verify", ADJUDICATION):
        raise InputError(str(manifest), f"sheets of round '{round_}' cannot be served", fix=FIX_SERVED)
    frames = read_blank_sheets(sheets_dir, man)
    cb = None
    if codebook is not None:
        cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    docs: dict[str, list[_Doc]] = {}
    for coder, frame in frames.items():
        out: list[_Doc] = []
        for r in frame.sort("item").iter_rows(named=True):
            if not out or out[-1].doc_id != r["doc_id"]:
                out.append(_Doc(r["doc_id"], r["text"]))
            out[-1].rows.append({k: r[k] for k in ("item", "label", "label_name", "definition")})
        docs[coder] = out
    if cb is not None:
        choices = [(lab.id, lab.name) for lab in cb.labels]
        excl = {lab.id: list(lab.exclusions) for lab in cb.labels}
    else:
        names = {r["label"]: r["label_name"] for ds in docs.values() for d in ds for r in d.rows}
        choices = [(lab, names.get(lab, lab)) for lab in (man.get("labels") or sorted(names))]
        excl = {}
    task = (cb.task if cb is not None else None) or man.get("task") or "single"
    settings = man.get("settings") or {}
    share = float(settings.get("selection_share") or 0) if round_ == "verify" else 0.0
    if share and task != "single":
        raise InputError(str(manifest), "selection mode (verify.selection_share) is built for single-label "
                         "codebooks", fix="set verify.selection_share to 0 for a multi-label codebook")
    selection = {c: selection_documents(ds, c, share, int(settings.get("random_state") or 0))
                 for c, ds in docs.items()} if share else {}
    definitions = {r["label"]: r["definition"] or "" for ds in docs.values() for d in ds for r in d.rows}
    if cb is not None:
        definitions = {lab.id: lab.definition or "" for lab in cb.labels}
    return Assignments(str(man["study"]), str(task), man, sheets_dir, docs, choices, excl, cb, round_, selection,
                       definitions)


def selection_documents(docs: list[_Doc], coder: str, share: float, seed: int) -> set[int]:
    """The indices of the ``round(share * n)`` documents of one person shown for selection: those first in
    a seeded order of (person, document), so each person times both modes on a random split of their own
    documents, the same on every restart."""
    n = round(share * len(docs))
    key = [hashlib.sha256(f"{seed}|{coder}|{d.doc_id}".encode()).hexdigest() for d in docs]
    return set(sorted(range(len(docs)), key=key.__getitem__)[:n])


# -- storage ---------------------------------------------------------------------------------------

class Store:
    """The SQLite database (WAL mode, synchronous FULL): one short connection per operation, so that
    every decision is on disk when the call returns."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(_SCHEMA)
            if "batch" not in {r[1] for r in db.execute("PRAGMA table_info(events)")}:  # made before selection mode
                db.execute("ALTER TABLE events ADD COLUMN batch INTEGER")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    def bind(self, a: Assignments) -> dict[str, str]:
        """Check that the database belongs to these sheets (or claim it), make the missing tokens; return
        ``{coder: token}`` (with :data:`ADMIN`: the team view's token)."""
        sums = json.dumps({c: e["sheet_sha256"] for c, e in sorted(a.manifest["coders"].items())})
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT value FROM meta WHERE key='sheets'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('sheets', ?), ('study', ?), ('secret', ?)",
                           (sums, a.study, secrets.token_hex(32)))
            elif row[0] != sums:
                db.execute("ROLLBACK")
                raise InputError(str(self.path), "this database holds decisions on other sheets (another run of "
                                 "'llmcoder verify sheets')",
                                 fix="pass the database made for this manifest, or a new --db file")
            have = dict(db.execute("SELECT coder, token FROM tokens").fetchall())
            for coder in [*a.docs, ADMIN]:
                if coder not in have:
                    have[coder] = secrets.token_urlsafe(18)
                    db.execute("INSERT INTO tokens VALUES (?, ?)", (coder, have[coder]))
            db.execute("COMMIT")
        return have

    def secret(self) -> str:
        with self.connect() as db:
            return db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0]

    def view(self, coder: str, doc_index: int) -> tuple[int, float]:
        now = time.time()
        with self.connect() as db:
            cur = db.execute("INSERT INTO views (coder, doc_index, shown_at) VALUES (?, ?, ?)",
                             (coder, doc_index, now))
            return int(cur.lastrowid or 0), now

    def shown_at(self, coder: str, view_id: Any) -> float | None:
        with self.connect() as db:
            row = db.execute("SELECT shown_at FROM views WHERE id=? AND coder=?", (view_id, coder)).fetchone()
        return None if row is None else float(row[0])

    def record(self, coder: str, kind: str, item: int | None, doc_index: int, value: str,
               view_id: Any) -> None:
        shown = self.shown_at(coder, view_id) if view_id is not None else None
        with self.connect() as db:
            db.execute("INSERT INTO events (coder, kind, item, doc_index, value, view_id, shown_at, decided_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (coder, kind, item, doc_index, value, view_id if shown else None, shown, time.time()))

    def record_batch(self, coder: str, doc_index: int, decisions: Mapping[int, str], right: list[str],
                     view_id: Any) -> None:
        """A selection: every item's decision and the right labels, in one transaction and one batch (one
        time, one undo)."""
        shown = self.shown_at(coder, view_id) if view_id is not None else None
        view = view_id if shown else None
        now = time.time()
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            batch = None
            rows = [("decision", item, value) for item, value in decisions.items()]
            rows.append(("right", None, json.dumps(right)))
            for kind, item, value in rows:
                cur = db.execute("INSERT INTO events (coder, kind, item, doc_index, value, view_id, shown_at, "
                                 "decided_at, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (coder, kind, item, doc_index, value, view, shown, now, batch))
                if batch is None:
                    batch = int(cur.lastrowid or 0)
                    db.execute("UPDATE events SET batch=? WHERE id=?", (batch, batch))
            db.execute("COMMIT")

    def undo(self, coder: str) -> int | None:
        """Take back the latest decision (a whole selection, when it was one); returns its document index."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id, doc_index, batch FROM events WHERE coder=? AND undone=0 ORDER BY id DESC "
                             "LIMIT 1", (coder,)).fetchone()
            if row is not None:
                if row[2] is None:
                    db.execute("UPDATE events SET undone=1 WHERE id=?", (row[0],))
                else:
                    db.execute("UPDATE events SET undone=1 WHERE coder=? AND batch=?", (coder, row[2]))
                db.execute("DELETE FROM finished WHERE coder=?", (coder,))
            db.execute("COMMIT")
        return None if row is None else int(row[1])

    def state(self, coder: str) -> tuple[dict[int, dict[str, Any]], dict[int, list[str]]]:
        """The current decision of each item (latest event not undone) and the right labels per document."""
        with self.connect() as db:
            rows = db.execute("SELECT kind, item, doc_index, value, shown_at, decided_at FROM events "
                              "WHERE coder=? AND undone=0 ORDER BY id", (coder,)).fetchall()
        items: dict[int, dict[str, Any]] = {}
        right: dict[int, list[str]] = {}
        for kind, item, doc_index, value, shown, decided in rows:
            if kind == "decision":
                items[int(item)] = {"decision": value, "shown_at": shown, "decided_at": decided}
            else:
                right[int(doc_index)] = json.loads(value)
        return items, right

    def finish(self, coder: str, name: str, date: str) -> None:
        with self.connect() as db:
            db.execute("INSERT OR REPLACE INTO finished VALUES (?, ?, ?, ?)", (coder, name, date, time.time()))

    def finished(self) -> dict[str, tuple[str, str]]:
        with self.connect() as db:
            return {c: (n, d) for c, n, d in db.execute("SELECT coder, name, date FROM finished").fetchall()}


# -- what a person's decisions mean ---------------------------------------------------------------

def _current(a: Assignments, store: Store, coder: str) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Each decided item's decision and each document's right labels (only where every proposal is
    rejected; a right label left over from before a keep does not count)."""
    state, right = store.state(coder)
    decided = {i: s["decision"] for i, s in state.items()}
    valid = {}
    for di, labs in right.items():
        doc = a.docs[coder][di]
        if labs and all(decided.get(r["item"]) == "reject" for r in doc.rows):
            valid[di] = labs
    return decided, valid


def decision_log(a: Assignments, store: Store, coders: list[str] | None = None) -> pl.DataFrame:
    """The decisions so far as a decision log (``doc_id, coder, label, decision`` keep/reject/supplied),
    the form :func:`llmcoder.verify.measures.human_reliability` reads; undecided rows left out."""
    rows = []
    for coder in coders or list(a.docs):
        decided, right = _current(a, store, coder)
        for di, doc in enumerate(a.docs[coder]):
            for r in doc.rows:
                if r["item"] in decided:
                    rows.append({"doc_id": doc.doc_id, "coder": coder, "label": r["label"],
                                 "decision": decided[r["item"]]})
            for lab in right.get(di, []):
                rows.append({"doc_id": doc.doc_id, "coder": coder, "label": lab, "decision": "supplied"})
    return pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "coder": pl.Utf8, "label": pl.Utf8, "decision": pl.Utf8})


def _iso(t: float | None) -> str:
    return "" if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def export_decisions(manifest: str | os.PathLike[str], db_path: str | os.PathLike[str],
                     out_dir: str | os.PathLike[str], *, codebook: Any = None) -> dict[str, Any]:
    """Write the app's decisions as filled sheets ``<coder>.xlsx`` (completion field filled for those
    who pressed "finished") and ``timing.csv``; ``llmcoder verify ingest`` reads the sheets as it reads
    sheets filled in Excel. Returns ``{"sheets": [paths], "timing": path, "unfinished": [coders],
    "offline": [coders]}``.

    Sheets and the app can be mixed in one study: a person who made no decision in the app
    (``offline``) gets no sheet, so a sheet they filled in Excel and saved in ``out_dir`` stays as it
    is; and a sheet already in ``out_dir`` that an earlier export did not write (listed in
    ``exported.json`` there) is never overwritten: that is an :class:`InputError` naming it."""
    from llmcoder.verify._common import Sheets
    from llmcoder.verify.sheets import write_sheets

    a, store, blank = _open_export(manifest, db_path, codebook)
    if a.round == ADJUDICATION:
        raise InputError(str(manifest), "these are the adjudication sheets",
                         fix="export them with export_adjudication (or 'llmcoder verify export --out "
                             "results/<study>/verify/adjudicated.xlsx')")
    done = store.finished()
    active = {c for c in blank if c in done or any(part for part in store.state(c))}  # a decision or a right label
    out = Path(out_dir)
    ledger = out / EXPORTED_FILE
    try:
        before = set(json.loads(ledger.read_text(encoding="utf-8"))["coders"]) if ledger.is_file() else set()
    except (ValueError, KeyError, TypeError):
        raise InputError(str(ledger), "not the list of sheets an earlier export wrote",
                         fix="delete it if only exported sheets are in that folder") from None
    theirs = [c for c in sorted(active) if (out / f"{c}.xlsx").exists() and c not in before]
    if theirs:
        raise InputError(str(out / f"{theirs[0]}.xlsx"),
                         f"a sheet of {', '.join(theirs)} is already there and was not written by an export "
                         "(a sheet filled in Excel?); exporting would overwrite it",
                         fix="move the sheet away, or export into another folder")
    frames, timing = _filled_frames(a, store, blank, active)
    sheets = Sheets(frames, codebook=a.codebook, finished={c: done[c] for c in frames if c in done})
    # write_sheets replaces its folder whole: stage there, then move each exported sheet into out_dir,
    # so the sheets people filled in Excel and saved beside them stay
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.export-") as tmp:
        staged = write_sheets(sheets, Path(tmp) / "sheets", study=a.study, formats=["xlsx"], manifest=False)
        for c in frames:
            os.replace(staged[f"{c}.xlsx"], out / f"{c}.xlsx")
            paths.append(out / f"{c}.xlsx")
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TIMING_COLUMNS)
    w.writerows(timing)
    tpath = out / TIMING_FILE
    write_text(buf.getvalue(), tpath)
    write_text(json.dumps({"coders": sorted(before | set(frames))}, indent=2) + "\n", ledger)
    return {"sheets": paths, "timing": tpath,
            "unfinished": sorted(set(frames) - set(done)), "offline": sorted(set(blank) - active)}


def _open_export(manifest: str | os.PathLike[str], db_path: str | os.PathLike[str],
                 codebook: Any) -> tuple[Assignments, Store, dict[str, pl.DataFrame]]:
    """The served sheets, their database (checked to be theirs) and the blank sheets, for an export."""
    from llmcoder.verify.simulate import read_blank_sheets

    if not Path(db_path).is_file():
        raise InputError(str(db_path), "database not found", fix="pass the --db file that 'llmcoder verify serve' used")
    a = load_assignments(manifest, codebook)
    store = Store(db_path)
    store.bind(a)
    return a, store, read_blank_sheets(a.sheets_dir, a.manifest)


def _filled_frames(a: Assignments, store: Store, blank: Mapping[str, pl.DataFrame],
                   coders: set[str]) -> tuple[dict[str, pl.DataFrame], list[list[Any]]]:
    """The blank sheets of ``coders`` with their decisions and right labels filled in, and a row of
    ``timing.csv`` (:data:`TIMING_COLUMNS`) per decided item."""
    names = dict(a.label_choices)
    frames, timing = {}, []
    for coder, frame in blank.items():
        if coder not in coders:
            continue
        decided, right = _current(a, store, coder)
        state, _ = store.state(coder)
        dec_col, right_col = [], []
        doc_of = {r["item"]: (di, doc) for di, doc in enumerate(a.docs[coder]) for r in doc.rows}
        given: dict[int, list[str]] = {di: list(labs) for di, labs in right.items()}
        for item in frame["item"].to_list():
            dec_col.append(decided.get(item, ""))
            di, doc = doc_of[item]
            labs = given.get(di) or []
            right_col.append(names.get(labs.pop(0), None) if labs else None)  # one right label per row
            if item in state:
                s = state[item]
                secs = None if s["shown_at"] is None else round(s["decided_at"] - s["shown_at"], 3)
                lab = next(r["label"] for r in doc.rows if r["item"] == item)
                timing.append([coder, item, doc.doc_id, lab, s["decision"], _iso(s["shown_at"]),
                               _iso(s["decided_at"]), "" if secs is None else secs, a.mode(coder, di)])
        frames[coder] = frame.with_columns(pl.Series("decision", dec_col, dtype=pl.Utf8),
                                           pl.Series("right_label", right_col, dtype=pl.Utf8))
    return frames, timing


def export_adjudication(folder: str | os.PathLike[str], db_path: str | os.PathLike[str],
                        out_file: str | os.PathLike[str], *, codebook: Any = None) -> dict[str, Any]:
    """Write the adjudicator's decisions made in the browser as the filled adjudication sheet ``out_file``
    (``results/<study>/verify/adjudicated.xlsx``: the workflow's ingest reads it and reruns when it
    changes). Returns ``{"sheet": path, "n_decided": int, "n_items": int, "finished": bool}``.

    A file already at ``out_file`` is overwritten only when this database wrote it (its sha256 is the one
    recorded at the last export): an adjudication sheet filled in Excel is never lost."""
    from llmcoder.io import file_sha256
    from llmcoder.verify._common import Sheets
    from llmcoder.verify.sheets import write_sheets

    a, store, blank = _open_export(folder, db_path, codebook)
    if a.round != ADJUDICATION:
        raise InputError(str(folder), "these are the first round's sheets, not the adjudication",
                         fix="export them with 'llmcoder verify export --out results/<study>/verify/filled'")
    out = Path(out_file)
    if out.suffix.lower() != ".xlsx":
        raise InputError(str(out), "the filled adjudication sheet is written as .xlsx",
                         fix="pass e.g. results/<study>/verify/adjudicated.xlsx")
    if len(blank) != 1:
        raise InputError(str(folder), f"{len(blank)} adjudication sheets; the ingest reads one",
                         fix="run 'llmcoder verify ingest' again to write the adjudication sheet")
    with store.connect() as db:
        row = db.execute("SELECT value FROM meta WHERE key='adjudication_export'").fetchone()
    if out.exists() and (row is None or file_sha256(out) != row[0]):
        raise InputError(str(out), "an adjudication sheet is already there and this database did not write it "
                         "(filled in Excel, or exported from another database?); exporting would overwrite it",
                         fix="move it away, or export to another file")
    (coder,) = blank
    frames, _ = _filled_frames(a, store, blank, {coder})
    done = store.finished()
    sheets = Sheets(frames, codebook=a.codebook, kind=ADJUDICATION,
                    finished={coder: done[coder]} if coder in done else {})
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.export-") as tmp:
        staged = write_sheets(sheets, Path(tmp) / "sheets", study=a.study, formats=["xlsx"], manifest=False)
        sha = file_sha256(staged[f"{coder}.xlsx"])
        with store.connect() as db:  # recorded first: a crash between the two leaves a file we may overwrite
            db.execute("INSERT OR REPLACE INTO meta VALUES ('adjudication_export', ?)", (sha,))
        os.replace(staged[f"{coder}.xlsx"], out)
    decided, _ = _current(a, store, coder)
    return {"sheet": out, "n_decided": len(decided), "n_items": sum(len(d.rows) for d in a.docs[coder]),
            "finished": coder in done}


def timing_summary(path: str | os.PathLike[str], *, decisions: pl.DataFrame | None = None,
                   gold: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Seconds per decision from an export's ``timing.csv``: how many decisions were timed, their
    median and quartiles, and the median per person (for the verification summary and the report).

    A decision's seconds run from the moment its document was shown to the decision; decisions
    without a shown time are counted as untimed, never as zero seconds. These are the keep/reject
    decisions on proposals (rejection mode). Where some documents were shown for selection
    (``verify.selection_share``), ``by_mode`` compares the two modes per document: seconds per
    document (the last decision on it since it was shown) and, given the ingest's decision log and the
    corpus ``gold``, the share of documents whose person's own label (kept or chosen) is gold."""
    try:
        t = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(path), f"the timing file cannot be read ({type(e).__name__})",
                         fix="export again with 'llmcoder verify export'") from None
    missing = [c for c in TIMING_COLUMNS if c not in t.columns and c != "mode"]  # older exports have no mode
    if missing:
        raise InputError(str(path), f"column(s) {', '.join(missing)} missing",
                         fix="export again with 'llmcoder verify export'")
    if "mode" not in t.columns:
        t = t.with_columns(pl.lit("rejection").alias("mode"))
    bad_mode = t.filter(~pl.col("mode").is_in(list(MODES)))
    if bad_mode.height:
        raise InputError(str(path), f"mode {bad_mode['mode'][0]!r} is neither rejection nor selection",
                         fix="export again with 'llmcoder verify export'")
    secs = t.with_columns(pl.col("seconds").replace("", None).cast(pl.Float64, strict=False).alias("s"))
    bad = secs.filter(pl.col("s").is_null() & (pl.col("seconds").fill_null("") != ""))
    if bad.height:
        raise InputError(str(path),
                         f"{bad.height} value(s) of 'seconds' are not numbers (first: {bad['seconds'][0]!r})",
                         fix="export again with 'llmcoder verify export'")
    rejection = secs.filter(pl.col("mode") == "rejection")
    timed = rejection.filter(pl.col("s").is_not_null())
    s = timed["s"]
    out = {
        "file": str(path),
        "n_decisions": rejection.height,
        "n_timed": timed.height,
        "median_seconds": float(s.median()) if timed.height else None,
        "q1_seconds": float(s.quantile(0.25, "linear")) if timed.height else None,
        "q3_seconds": float(s.quantile(0.75, "linear")) if timed.height else None,
        "median_seconds_by_coder": {c: float(m) for c, m in timed.group_by("coder").agg(pl.col("s").median())
                                    .sort("coder").iter_rows()},
    }
    if (secs["mode"] == "selection").any():
        out["by_mode"] = {m: _mode_summary(secs.filter(pl.col("mode") == m), decisions, gold) for m in MODES}
    return out


def _mode_summary(rows: pl.DataFrame, decisions: pl.DataFrame | None,
                  gold: Mapping[str, str] | None) -> dict[str, Any]:
    """Per document of one mode: seconds (the latest decision's, untimed if any decision is) and, with the
    decision log and gold, whether the person's own label is gold (Wilson interval)."""
    from llmcoder.verify._common import wilson

    per_doc = rows.group_by("coder", "doc_id").agg(pl.col("s").max().alias("s"), pl.col("s").null_count().alias("u"))
    timed = per_doc.filter((pl.col("u") == 0) & pl.col("s").is_not_null())["s"]
    res: dict[str, Any] = {
        "n_documents": per_doc.height, "n_timed": timed.len(),
        "median_seconds_per_document": float(timed.median()) if timed.len() else None,
        "q1_seconds_per_document": float(timed.quantile(0.25, "linear")) if timed.len() else None,
        "q3_seconds_per_document": float(timed.quantile(0.75, "linear")) if timed.len() else None,
    }
    if decisions is not None and gold:
        own = decisions.filter(pl.col("decision").is_in(["keep", "supplied"]) & (pl.col("round") == "verify")
                               if "round" in decisions.columns else pl.col("decision").is_in(["keep", "supplied"]))
        labels: dict[tuple[str, str], set[str]] = {}
        for d, c, lab in own.select("doc_id", "coder", "label").iter_rows():
            labels.setdefault((c, d), set()).add(lab)
        pairs = [(c, d) for c, d in per_doc.select("coder", "doc_id").iter_rows() if gold.get(d)]
        k = sum(labels.get(pr, set()) == {gold[pr[1]]} for pr in pairs)
        lo, hi = wilson(k, len(pairs))
        res.update({"n_gold": len(pairs), "agreement_with_gold": k / len(pairs) if pairs else None,
                    "agreement_ci_low": lo, "agreement_ci_high": hi})
    return res


# -- the app ----------------------------------------------------------------------------------------

_BASE_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}
.text{white-space:pre-wrap;border:1px solid #ccc;padding:1rem;background:#fafafa;font-size:1.1rem}
.bar{height:.6rem;background:#eee;border-radius:.3rem}.bar div{height:100%;background:#3a7;border-radius:.3rem}
.label{border:2px solid #ddd;padding:.5rem .8rem;margin:.5rem 0;border-radius:.4rem}
.label.focus{border-color:#36c}.label.keep{background:#e8f6ec}.label.reject{background:#fbe9e9}
.label .d{font-weight:bold;float:right}.small{color:#666;font-size:.9rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}
"""

# The end of a document page, the same for both modes: previous/next/finish, the status line, and the
# start of its script (the page's constants and label boxes).
_NAV = """{% if index > 0 %}<a href="{{ base }}/doc/{{ index - 1 }}">previous</a>{% endif %}
{% if index + 1 < n_docs %}<a href="{{ base }}/doc/{{ index + 1 }}">next</a>{% endif %}
<a href="{{ base }}/finish">finish</a></p>
<p id="status" class="small" role="status"></p>
<script>
const base = {{ base | tojson }}, view = {{ view_id | tojson }}, index = {{ index | tojson }},
      nDocs = {{ n_docs | tojson }};
const csrf = document.querySelector('meta[name=csrf-token]').content;
const boxes = [...document.querySelectorAll('.label')];"""

_DOC = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{ csrf }}"><title>llmcoder {{ round }}: {{ study }}</title>
<style>{{ css }}</style></head><body>
<p class="small">Study {{ study }} · {{ round }} · {{ coder }} · document {{ index + 1 }} of {{ n_docs }}
 · {{ n_done }} of {{ n_items }} labels decided</p>
{% if round == "adjudication" %}<p id="round">Adjudication: the verifiers disagreed on this document, or kept
none of its proposals. Keep the label(s) that apply and reject the others.</p>{% endif %}
<div class="bar"><div style="width:{{ pct }}%"></div></div>
<div class="text" id="text">{{ doc.text }}</div>
<div id="labels">
{% for r in rows %}<div class="label {{ r.decision }}" data-item="{{ r.item }}">
<span class="d">{{ r.decision or "" }}</span><b>{{ r.label_name }}</b>
<div>{{ r.definition }}</div>
{% if r.exclusions %}<div class="small">Not: {{ r.exclusions | join("; ") }}</div>{% endif %}
</div>{% endfor %}
</div>
<div id="right" {% if not all_rejected %}hidden{% endif %}>
<p>Every proposed label is rejected. The label that applies (optional):</p>
<select id="rightsel" {% if multi %}multiple{% endif %}>
{% if not multi %}<option value="">(none of the codebook's labels applies)</option>{% endif %}
{% for id, name in choices %}<option value="{{ id }}" {% if id in right %}selected{% endif %}>{{ name }}</option>
{% endfor %}</select> <button id="saveright">save right label</button>
</div>
<p class="small">Keys: <b>k</b> keep, <b>r</b> or <b>x</b> reject, <b>↓</b>/<b>j</b> next label, <b>↑</b> previous
label, <b>→</b>/<b>n</b> next document, <b>←</b>/<b>p</b> previous document, <b>u</b> undo.
{% include "nav" %}
let focus = Math.max(0, boxes.findIndex(b => !b.querySelector('.d').textContent));
function show() { boxes.forEach((b, i) => b.classList.toggle('focus', i === focus)); }
async function post(path, body) {
  const r = await fetch(base + '/api/' + path, {method: 'POST', headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': csrf}, body: JSON.stringify(body)});
  if (!r.ok) { document.getElementById('status').textContent = 'not saved: ' + r.status; throw new Error(r.status); }
  return r.json();
}
function go(i) { if (i >= 0 && i < nDocs) location.href = base + '/doc/' + i; else if (i >= nDocs)
  location.href = base + '/finish'; }
async function decide(d) {
  const b = boxes[focus]; if (!b) return;
  await post('decide', {item: +b.dataset.item, decision: d, view_id: view});
  b.classList.remove('keep', 'reject'); b.classList.add(d); b.querySelector('.d').textContent = d;
  document.getElementById('status').textContent = 'saved';
  const allRej = boxes.every(x => x.classList.contains('reject'));
  document.getElementById('right').hidden = !allRej;
  const next = boxes.findIndex(x => !x.querySelector('.d').textContent);
  if (next >= 0) { focus = next; show(); } else if (!allRej) { go(index + 1); }
  else { document.getElementById('rightsel').focus(); }
}
document.getElementById('saveright').onclick = async () => {
  const labels = [...document.getElementById('rightsel').selectedOptions].map(o => o.value).filter(v => v);
  await post('right', {doc_index: index, labels: labels, view_id: view}); go(index + 1);
};
document.addEventListener('keydown', async e => {
  if (e.target.tagName === 'SELECT' && e.key !== 'Enter') return;
  if (e.target.tagName === 'SELECT') { document.getElementById('saveright').click(); return; }
  const k = e.key;
  if (k === 'k') await decide('keep');
  else if (k === 'r' || k === 'x') await decide('reject');
  else if (k === 'ArrowDown' || k === 'j') { focus = Math.min(boxes.length - 1, focus + 1); show(); }
  else if (k === 'ArrowUp') { focus = Math.max(0, focus - 1); show(); }
  else if (k === 'ArrowRight' || k === 'n') go(index + 1);
  else if (k === 'ArrowLeft' || k === 'p') go(index - 1);
  else if (k === 'u') { const r = await post('undo', {}); if (r.doc_index !== null) go(r.doc_index); }
  else return;
  e.preventDefault();
});
show();
</script></body></html>"""

_SELECT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{ csrf }}"><title>llmcoder {{ round }}: {{ study }}</title>
<style>{{ css }}</style></head><body>
<p class="small">Study {{ study }} · {{ round }} · {{ coder }} · document {{ index + 1 }} of {{ n_docs }}
 · {{ n_done }} of {{ n_items }} labels decided</p>
<div class="bar"><div style="width:{{ pct }}%"></div></div>
<p id="mode">Choose the label that applies to this text (no label is proposed for this one).</p>
<div class="text" id="text">{{ doc.text }}</div>
<div id="labels">
{% for l in labels %}<div class="label{% if l.id in chosen %} keep{% endif %}" data-label="{{ l.id }}">
<span class="d">{{ loop.index }}</span><b>{{ l.name }}</b>
<div>{{ l.definition }}</div>
{% if l.exclusions %}<div class="small">Not: {{ l.exclusions | join("; ") }}</div>{% endif %}
</div>{% endfor %}
<div class="label{% if done and not chosen %} keep{% endif %}" data-label=""><span class="d">0</span>
<b>none of these labels applies</b></div>
</div>
<p class="small">Keys: <b>↓</b>/<b>j</b> and <b>↑</b> move, <b>Enter</b> or <b>k</b> choose, <b>1</b>-<b>9</b> choose
that label, <b>0</b> none, <b>→</b>/<b>n</b> next document, <b>←</b>/<b>p</b> previous, <b>u</b> undo.
{% include "nav" %}
let focus = Math.max(0, boxes.findIndex(b => b.classList.contains('keep')));
function show() { boxes.forEach((b, i) => b.classList.toggle('focus', i === focus)); }
function go(i) { if (i >= 0 && i < nDocs) location.href = base + '/doc/' + i; else if (i >= nDocs)
  location.href = base + '/finish'; }
async function choose(i) {
  const b = boxes[i]; if (!b) return;
  const r = await fetch(base + '/api/select', {method: 'POST', headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': csrf}, body: JSON.stringify({doc_index: index, labels: b.dataset.label ? [b.dataset.label] : [],
    view_id: view})});
  if (!r.ok) { document.getElementById('status').textContent = 'not saved: ' + r.status; return; }
  boxes.forEach(x => x.classList.remove('keep')); b.classList.add('keep');
  document.getElementById('status').textContent = 'saved'; go(index + 1);
}
boxes.forEach((b, i) => b.onclick = () => choose(i));
document.addEventListener('keydown', async e => {
  const k = e.key;
  if (k === 'Enter' || k === 'k') await choose(focus);
  else if (k === '0') await choose(boxes.length - 1);
  else if (/^[1-9]$/.test(k) && +k <= boxes.length - 1) await choose(+k - 1);
  else if (k === 'ArrowDown' || k === 'j') { focus = Math.min(boxes.length - 1, focus + 1); show(); }
  else if (k === 'ArrowUp') { focus = Math.max(0, focus - 1); show(); }
  else if (k === 'ArrowRight' || k === 'n') go(index + 1);
  else if (k === 'ArrowLeft' || k === 'p') go(index - 1);
  else if (k === 'u') { const r = await fetch(base + '/api/undo', {method: 'POST', headers: {'X-CSRF-Token': csrf,
    'Content-Type': 'application/json'}, body: '{}'}); const j = await r.json();
    if (j.doc_index !== null) go(j.doc_index); }
  else return;
  e.preventDefault();
});
show();
</script></body></html>"""

_FINISH = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{ csrf }}"><title>finished: {{ study }}</title><style>{{ css }}</style></head><body>
<h1>Finished?</h1>
{% if missing %}<p>{{ missing | length }} document(s) still have undecided labels:
{% for i in missing[:20] %}<a href="{{ base }}/doc/{{ i }}">{{ i + 1 }}</a> {% endfor %}</p>
{% else %}<p>Every label is decided. Write your name and the date to say that you are done (this is the
sheet's completion field).</p>
<p><label>name <input id="name" value="{{ name }}"></label> <label>date <input id="date" value="{{ date }}"></label>
<button id="done">finished</button></p>{% endif %}
<p id="status" role="status">{% if finished %}Marked finished by {{ name }} on {{ date }}.{% endif %}</p>
<p><a href="{{ base }}/doc/0">back to the documents</a></p>
<script>
const base = {{ base | tojson }}, csrf = document.querySelector('meta[name=csrf-token]').content;
const b = document.getElementById('done');
if (b) b.onclick = async () => {
  const r = await fetch(base + '/api/finish', {method: 'POST', headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': csrf}, body: JSON.stringify({name: document.getElementById('name').value,
    date: document.getElementById('date').value})});
  document.getElementById('status').textContent = r.ok ? 'Marked finished. Thank you.' : 'not saved: ' + r.status;
};
</script></body></html>"""

_TEAM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>team: {{ study }}</title>
<meta http-equiv="refresh" content="30"><style>{{ css }}</style></head><body>
<h1>{{ round | capitalize }} of {{ study }}</h1>
<table><tr><th>person</th><th>labels decided</th><th>documents done</th><th>overlap documents done</th>
<th>finished</th></tr>
{% for p in people %}<tr><td>{{ p.coder }}</td><td>{{ p.done }} / {{ p.n_items }}</td>
<td>{{ p.docs_done }} / {{ p.docs }}</td><td>{{ p.overlap_done }} / {{ p.overlap }}</td>
<td>{{ p.finished }}</td></tr>{% endfor %}</table>
<h2>Agreement on the overlap so far</h2>
<p>{{ shared }} overlap document(s) decided by every coder assigned to them.</p>
{% if agreement %}<table><tr>{% for c in agreement[0] %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in agreement %}<tr>{% for c, v in row.items() %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>{{ agreement_note }}</p>{% endif %}
</body></html>"""


def _env() -> Any:
    import jinja2

    templates = {"nav": _NAV, "doc": _DOC, "select": _SELECT, "finish": _FINISH, "team": _TEAM}
    return jinja2.Environment(autoescape=True, loader=jinja2.DictLoader(templates))


def _origin_ok(request: Any) -> bool:
    """A state-changing request from a page of another site is refused (its Origin is not this server)."""
    from urllib.parse import urlsplit

    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def create_app(manifest: str | os.PathLike[str] | Assignments, db_path: str | os.PathLike[str], *,
               codebook: Any = None) -> Any:
    """The FastAPI app serving the sheets of ``manifest`` (its blank sheets beside it), storing in ``db_path``.

    ``app.state.tokens`` is ``{coder: token}`` (and :data:`ADMIN` for the team view); the links are
    ``/v/<token>`` for each person and ``/team?token=<admin token>``.
    """
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

    a = manifest if isinstance(manifest, Assignments) else load_assignments(manifest, codebook)
    store = Store(db_path)
    tokens = store.bind(a)
    by_token = {t: c for c, t in tokens.items()}
    secret = store.secret().encode()
    env = _env()
    app = FastAPI(title="llmcoder verification", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tokens = tokens
    app.state.assignments = a
    overlap_docs = {d for d, cs, o, *_ in (a.manifest.get("assignments") or []) if o and len(cs) > 1}

    def csrf_of(token: str) -> str:
        return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()

    def coder_of(token: str) -> str:
        coder = by_token.get(token)
        if coder is None or coder == ADMIN:
            raise HTTPException(403, "unknown token: use the personal link you were given")
        return coder

    async def checked_body(request: Request, token: str) -> dict[str, Any]:
        if not _origin_ok(request):
            raise HTTPException(403, "cross-origin request refused")
        if not hmac.compare_digest(request.headers.get("x-csrf-token", ""), csrf_of(token)):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
        try:
            body = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPException(400, "the request body is not JSON") from e
        if not isinstance(body, dict):
            raise HTTPException(400, "the request body is not a JSON object")
        return body

    def page(template: str, **kw: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(css=_BASE_CSS, study=a.study, round=a.round, **kw),
                            headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                     "style-src 'unsafe-inline'; frame-ancestors 'none'",
                                     "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                                     "Cache-Control": "no-store"})

    @app.get("/v/{token}")
    def start(token: str) -> RedirectResponse:
        coder = coder_of(token)
        decided, _ = _current(a, store, coder)
        docs = a.docs[coder]
        first = next((i for i, d in enumerate(docs) if any(r["item"] not in decided for r in d.rows)), None)
        return RedirectResponse(f"/v/{token}/doc/{first}" if first is not None else f"/v/{token}/finish", 303)

    @app.get("/v/{token}/doc/{index}")
    def doc_page(token: str, index: int) -> HTMLResponse:
        coder = coder_of(token)
        docs = a.docs[coder]
        if not 0 <= index < len(docs):
            raise HTTPException(404, f"no document {index} on this assignment (0 to {len(docs) - 1})")
        decided, right = _current(a, store, coder)
        view_id, _ = store.view(coder, index)
        doc = docs[index]
        rows = [{**r, "decision": decided.get(r["item"], ""), "exclusions": a.exclusions.get(r["label"], [])}
                for r in doc.rows]
        n_items = sum(len(d.rows) for d in docs)
        if a.mode(coder, index) == "selection":  # the codebook to choose from, no proposal shown
            chosen = right.get(index) or [r["label"] for r in doc.rows if decided.get(r["item"]) == "keep"]
            done = all(r["item"] in decided for r in doc.rows)
            return page("select", csrf=csrf_of(token), coder=coder, base=f"/v/{token}", index=index,
                        n_docs=len(docs), n_done=len(decided), n_items=n_items,
                        pct=round(100 * len(decided) / max(n_items, 1)), doc=doc, view_id=view_id,
                        labels=[{"id": i, "name": n, "definition": a.definitions.get(i, ""),
                                 "exclusions": a.exclusions.get(i, [])} for i, n in a.label_choices],
                        chosen=chosen if done else [], done=done)
        return page("doc", csrf=csrf_of(token), coder=coder, base=f"/v/{token}", index=index, n_docs=len(docs),
                    n_done=len(decided), n_items=n_items, pct=round(100 * len(decided) / max(n_items, 1)),
                    doc=doc, rows=rows, all_rejected=all(r["decision"] == "reject" for r in rows),
                    choices=[(i, n) for i, n in a.label_choices if i not in {r["label"] for r in rows}],
                    right=right.get(index, []), multi=a.task == "multi", view_id=view_id)

    @app.get("/v/{token}/api/state")
    def state(token: str) -> JSONResponse:
        coder = coder_of(token)
        decided, right = _current(a, store, coder)
        return JSONResponse({"coder": coder, "decisions": {str(k): v for k, v in decided.items()},
                             "right": {str(k): v for k, v in right.items()},
                             "finished": store.finished().get(coder)})

    @app.post("/v/{token}/api/decide")
    async def decide(token: str, request: Request) -> JSONResponse:
        coder = coder_of(token)
        body = await checked_body(request, token)
        items = a.items(coder)
        item, decision = body.get("item"), body.get("decision")
        if not isinstance(item, int) or item not in items:
            raise HTTPException(404, "no such item on this assignment")
        if decision not in ("keep", "reject"):
            raise HTTPException(422, "decision must be 'keep' or 'reject'")
        if a.mode(coder, items[item][0]) == "selection":
            raise HTTPException(409, "this document is shown for selection: choose its label")
        store.record(coder, "decision", item, items[item][0], decision, body.get("view_id"))
        decided, _ = _current(a, store, coder)
        return JSONResponse({"ok": True, "decided": len(decided), "items": len(items)})

    @app.post("/v/{token}/api/right")
    async def right_label(token: str, request: Request) -> JSONResponse:
        coder = coder_of(token)
        body = await checked_body(request, token)
        di, labels = body.get("doc_index"), body.get("labels")
        docs = a.docs[coder]
        if not isinstance(di, int) or not 0 <= di < len(docs):
            raise HTTPException(404, "no such document on this assignment")
        if a.mode(coder, di) == "selection":
            raise HTTPException(409, "this document is shown for selection: choose its label")
        known = {i for i, _ in a.label_choices} - {r["label"] for r in docs[di].rows}
        if not isinstance(labels, list) or not all(isinstance(x, str) and x in known for x in labels):
            raise HTTPException(422, "right labels must be labels of the codebook that were not proposed")
        if a.task == "single" and len(labels) > 1:
            raise HTTPException(422, "a single-label study takes one right label")
        if len(labels) > len(docs[di].rows):  # the sheet holds one right label per row
            raise HTTPException(422, f"at most {len(docs[di].rows)} right label(s) for this document")
        decided, _ = _current(a, store, coder)
        if labels and not all(decided.get(r["item"]) == "reject" for r in docs[di].rows):
            raise HTTPException(409, "give a right label only when every proposed label is rejected")
        store.record(coder, "right", None, di, json.dumps(sorted(labels)), body.get("view_id"))
        return JSONResponse({"ok": True})

    @app.post("/v/{token}/api/select")
    async def select(token: str, request: Request) -> JSONResponse:
        """A document shown for selection: the label chosen from the codebook (or none) decides every
        proposal on the sheet (kept if chosen, else rejected; a chosen label not proposed is the right label)."""
        coder = coder_of(token)
        body = await checked_body(request, token)
        di, labels = body.get("doc_index"), body.get("labels")
        docs = a.docs[coder]
        if not isinstance(di, int) or not 0 <= di < len(docs):
            raise HTTPException(404, "no such document on this assignment")
        if a.mode(coder, di) != "selection":
            raise HTTPException(409, "this document is shown for rejection, not selection")
        known = {i for i, _ in a.label_choices}
        if not isinstance(labels, list) or len(labels) > 1 or not all(isinstance(x, str) and x in known
                                                                      for x in labels):
            raise HTTPException(422, "choose one label of the codebook, or none")
        rows = docs[di].rows
        decisions = {r["item"]: ("keep" if r["label"] in labels else "reject") for r in rows}
        right = [x for x in labels if x not in {r["label"] for r in rows}]
        store.record_batch(coder, di, decisions, right, body.get("view_id"))
        decided, _ = _current(a, store, coder)
        return JSONResponse({"ok": True, "decided": len(decided), "items": len(a.items(coder))})

    @app.post("/v/{token}/api/undo")
    async def undo(token: str, request: Request) -> JSONResponse:
        coder = coder_of(token)
        await checked_body(request, token)
        return JSONResponse({"ok": True, "doc_index": store.undo(coder)})

    @app.get("/v/{token}/finish")
    def finish_page(token: str) -> HTMLResponse:
        coder = coder_of(token)
        decided, _ = _current(a, store, coder)
        missing = [i for i, d in enumerate(a.docs[coder]) if any(r["item"] not in decided for r in d.rows)]
        done = store.finished().get(coder)
        name, date = done or ("", datetime.now(UTC).date().isoformat())
        return page("finish", csrf=csrf_of(token), base=f"/v/{token}", missing=missing, finished=done is not None,
                    name=name, date=date)

    @app.post("/v/{token}/api/finish")
    async def finish(token: str, request: Request) -> JSONResponse:
        coder = coder_of(token)
        body = await checked_body(request, token)
        name, date = str(body.get("name") or "").strip(), str(body.get("date") or "").strip()
        if not name or not date:
            raise HTTPException(422, "write your name and the date")
        decided, _ = _current(a, store, coder)
        left = sum(1 for r in a.items(coder) if r not in decided)
        if left:
            raise HTTPException(409, f"{left} label(s) are not decided yet")
        store.finish(coder, name, date)
        return JSONResponse({"ok": True})

    @app.get("/team")
    def team(token: str | None = None) -> HTMLResponse:
        if token is None:
            raise HTTPException(401, "the team view needs ?token=<the team token printed by 'llmcoder verify serve'>")
        if by_token.get(token) != ADMIN:
            raise HTTPException(403, "wrong team token")
        return page("team", **team_status(a, store, overlap_docs))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        from fastapi.responses import PlainTextResponse

        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    return app


def team_status(a: Assignments, store: Store, overlap_docs: set[str]) -> dict[str, Any]:
    """Progress per person, overlap documents done, and the verifiers' agreement so far (computed by
    :func:`llmcoder.verify.measures.human_reliability`, as the reliability step does)."""
    from llmcoder.verify.measures import human_reliability

    done = store.finished()
    people, done_docs = [], {}
    for coder, docs in a.docs.items():
        decided, _ = _current(a, store, coder)
        full = {d.doc_id for d in docs if all(r["item"] in decided for r in d.rows)}
        done_docs[coder] = full
        mine = {d.doc_id for d in docs} & overlap_docs
        people.append({"coder": coder, "done": len(decided), "n_items": sum(len(d.rows) for d in docs),
                       "docs_done": len(full), "docs": len(docs), "overlap_done": len(full & mine),
                       "overlap": len(mine), "finished": " ".join(done[coder]) if coder in done else "no"})
    assigned: dict[str, list[str]] = {}
    for coder, docs in a.docs.items():
        for d in docs:
            assigned.setdefault(d.doc_id, []).append(coder)
    shared = sorted(d for d in overlap_docs if d in assigned and all(d in done_docs[c] for c in assigned[d]))
    log = decision_log(a, store).filter(pl.col("doc_id").is_in(shared))
    agreement, note = [], "not computed: no overlap document is decided by all its coders yet"
    if shared:
        res, note = human_reliability(log, min_units=10, task=a.task)
        agreement = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                     for r in res.iter_rows(named=True)]
    return {"people": people, "shared": len(shared), "agreement": agreement, "agreement_note": note or ""}


def links(tokens: Mapping[str, str], base: str) -> dict[str, str]:
    """Each person's personal link and the team view's link."""
    out = {c: f"{base}/v/{t}" for c, t in tokens.items() if c != ADMIN}
    out["team view"] = f"{base}/team?token={tokens[ADMIN]}"
    return out
