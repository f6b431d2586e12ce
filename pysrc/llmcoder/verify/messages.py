"""What verification tells people beyond a single check: which sheets to fill, shared fix texts, summary notes.

A problem found by one check keeps its text next to that check (``verify/check.py``); the texts here are
used in several places or are whole messages of their own.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmcoder.errors import InputError
from llmcoder.verify._common import NO_REJECTION_FLAG_ROWS

#: The fix for a manifest that is missing or is not one.
FIX_MANIFEST = "pass the manifest.json written by 'llmcoder verify sheets'"
#: The fix for any edit of a column that llmcoder fills (document, label, text, name, definition).
FIX_RESTORE = ("restore the row as llmcoder wrote it (copy it from the blank sheet); "
               "only 'decision' and 'comment' may be edited")
#: The fix for a row that appears twice on a sheet.
FIX_DUPLICATE_ROW = "delete the duplicate row"


def article(word: str) -> str:
    """'a' or 'an' before ``word`` (by its first letter), e.g. 'an adjudication sheet'."""
    return f"a{'n' if word[0] in 'aeiou' else ''}"


def variants_summary(variants: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
    """How each written decision was read (the summary's ``decision_variants``): by what it was read
    as, then most rows first."""
    return [{"written": k if k else "(blank)", "read_as": v, "rows": n}
            for (k, v), n in sorted(variants.items(), key=lambda kv: (kv[0][1], -kv[1], kv[0][0]))]


def no_rejection_flags(decisions: Sequence[Mapping[str, Any]], coder_file: Mapping[str, str]) -> list[dict[str, Any]]:
    """Finished sheets with no rejection over many rows: accepted, but flagged for the summary and the
    methods text (a coder who kept every proposal may not have read the texts)."""
    rows, rejected = Counter(d["coder"] for d in decisions), Counter(
        d["coder"] for d in decisions if d["decision"] == "reject")
    return [{"coder": c, "sheet": coder_file.get(c, ""), "rows": n,
             "why": f"no rejection in {n} rows: check that the coder read every text (an empty cell means keep)"}
            for c, n in sorted(rows.items()) if n >= NO_REJECTION_FLAG_ROWS and rejected[c] == 0]


def missing_sheets_message(
    study: str,
    coders: Sequence[str],
    *,
    sheets_dir: str | os.PathLike[str] | None = None,
    filled_dir: str | os.PathLike[str] | None = None,
    ext: str = "xlsx",
    web: bool = False,
    codebook: str | os.PathLike[str] | None = None,
) -> str | None:
    """A message naming each filled sheet that does not exist yet and where its blank sheet is; None
    when every coder's filled sheet is in place. With ``web`` (``verify.mode: web``) it also gives the
    commands that serve the sheets in the browser and export the decisions as filled sheets.

    Defaults: blank sheets in ``results/<study>/verify/sheets``, filled ones in
    ``results/<study>/verify/filled/<coder>.xlsx`` (the input of the ingest rule).
    """
    sheets = Path(sheets_dir or f"results/{study}/verify/sheets")
    filled = Path(filled_dir or f"results/{study}/verify/filled")
    missing = [c for c in coders if not (filled / f"{c}.{ext}").is_file()]
    if not missing:
        return None
    lines = [f"Human verification of study '{study}' is not done yet: "
             f"{len(missing)} of {len(coders)} filled sheet(s) missing.", ""]
    if web:
        db = sheets.parent / "web.sqlite"
        cb = f" --codebook {codebook}" if codebook else ""
        lines += ["In the browser: serve the sheets (each person gets a personal link; keep the database):",
                  "",
                  f"  llmcoder verify serve --sheets {sheets / 'manifest.json'} --db {db}{cb}",
                  "",
                  "and when everyone has pressed 'finished', write their decisions as filled sheets:",
                  "",
                  f"  llmcoder verify export --sheets {sheets / 'manifest.json'} --db {db} --out {filled}{cb}",
                  "",
                  "Or, for anyone working offline:", ""]
    lines += ["For each coder below, give the blank sheet to the coder; they mark every proposed label that does",
             "NOT apply to the text with 'reject' (or x) in the decision column and leave the others empty; then",
             "save the filled sheet, unchanged otherwise, under the name shown:",
             ""]
    for c in missing:
        lines.append(f"  {c}: fill  {sheets / f'{c}.{ext}'}")
        lines.append(f"  {' ' * len(c)}  save {filled / f'{c}.{ext}'}")
    lines += ["", f"Then run the workflow again; ingest checks every filled sheet against {sheets / 'manifest.json'}."]
    return "\n".join(lines)


def adjudication_message(
    study: str,
    *,
    ingest_dir: str | os.PathLike[str] | None = None,
    adjudicated: str | os.PathLike[str] | None = None,
    web: bool = False,
    codebook: str | os.PathLike[str] | None = None,
) -> str | None:
    """What to do with the adjudication queue an ingest left: fill its sheet in Excel or serve it in the
    browser (``web``), and where to put the filled sheet; None when the ingest left no adjudication sheet
    or the filled one is in place. Defaults: ``results/<study>/verify/ingest`` and
    ``results/<study>/verify/adjudicated.xlsx`` (the ingest rule's declared input)."""
    ingest_dir = Path(ingest_dir or f"results/{study}/verify/ingest")
    filled = Path(adjudicated or f"results/{study}/verify/adjudicated.xlsx")
    folder = ingest_dir / "adjudication"
    blank = sorted(folder.glob("*.xlsx"))
    if not blank or filled.is_file():
        return None
    try:
        n = json.loads((ingest_dir / "summary.json").read_text(encoding="utf-8"))["n_adjudication_queue"]
        what = f"{n} document(s) await adjudication"
    except (OSError, ValueError, KeyError, TypeError):
        what = "documents await adjudication"
    lines = [f"Study '{study}': {what} (the verifiers disagreed, or kept no proposal); until then they "
             "have no verified label.", ""]
    if web:
        db = filled.parent / "adjudication.sqlite"
        cb = f" --codebook {codebook}" if codebook else ""
        lines += ["In the browser: serve the queue to the adjudicator (one personal link):", "",
                  f"  llmcoder verify serve --sheets {folder} --db {db}{cb}", "",
                  "and when the adjudicator has pressed 'finished', write the filled adjudication sheet:", "",
                  f"  llmcoder verify export --sheets {folder} --db {db} --out {filled}{cb}", "",
                  "Or in Excel:", ""]
    lines += [f"  fill  {blank[0]}", f"  save  {filled}", "",
              "Then run the workflow again: the ingest reads the filled adjudication sheet."]
    return "\n".join(lines)


def require_filled_sheets(study: str, coders: Sequence[str], **kwargs: Any) -> list[Path]:
    """The filled sheets' paths, or an :class:`InputError` with :func:`missing_sheets_message`."""
    msg = missing_sheets_message(study, coders, **kwargs)
    filled = Path(kwargs.get("filled_dir") or f"results/{study}/verify/filled")
    if msg:
        raise InputError(str(filled), msg, fix="fill the sheets listed above")
    return [filled / f"{c}.{kwargs.get('ext', 'xlsx')}" for c in coders]
