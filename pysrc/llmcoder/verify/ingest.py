"""Ingest filled verification sheets: read and check them all, then decide the verified labels.

Reading is all-or-nothing: every problem of every sheet is collected (file, row as the spreadsheet
shows it, what, fix) and raised together as one :class:`SheetsError`; nothing is written unless all
sheets are valid. From the decision log on, :func:`verify_decisions` does the rest, and it is also
the entry point for decisions that come from elsewhere (e.g. the Human Flourishing adapter).

The work is done by ``read`` (files), ``check`` (rows against the manifest), ``decide`` (verified
labels), ``measures`` (acceptance, workload, reliability) and ``messages``; this module runs them in
order and keeps the names that callers import from it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from llmcoder.codebook import Codebook, load_codebook
from llmcoder.verify._common import (
    SheetProblem,
    SheetsError,
    frame_rows,
    normalize_vocabulary,
    sheet_checksum,
)
from llmcoder.verify.check import Expected, check_codebook, check_finished, check_meta, check_rows, with_supplied
from llmcoder.verify.decide import (
    ADJUDICATOR,
    DECISION_SCHEMA,
    DECISIONS,
    OverlapPolicy,
    VerifyResult,
    verify_decisions,
)
from llmcoder.verify.measures import RELIABILITY_SCHEMA
from llmcoder.verify.messages import (
    missing_sheets_message,
    no_rejection_flags,
    require_filled_sheets,
    variants_summary,
)
from llmcoder.verify.read import FilledSheet, load_manifest, manifest_proposals, read_filled_sheet

__all__ = [
    "ADJUDICATOR", "DECISIONS", "DECISION_SCHEMA", "RELIABILITY_SCHEMA", "FilledSheet", "OverlapPolicy",
    "VerifyResult", "ingest", "load_manifest", "missing_sheets_message", "read_filled_sheet",
    "require_filled_sheets", "verify_decisions",
]


@dataclass
class _FirstRound:
    """What the verifiers' sheets gave: decision rows, each document's text, each coder's sheet, and
    whether any sheet was filled by the simulated verifier."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    coder_file: dict[str, str] = field(default_factory=dict)
    simulated: bool = False


def _verifier(sheet: FilledSheet, man: Mapping[str, Any], *, study: str, coder_file: Mapping[str, str],
              problems: list[SheetProblem]) -> str | None:
    """The coder of a first-round sheet, if it is a sheet of this study by one of its coders not seen yet."""
    coder = check_meta(sheet, study=study, round_="verify", problems=problems)
    if coder is None:
        return None
    f = sheet.path.name
    if coder not in man["coders"]:
        problems.append(SheetProblem(f"unknown coder '{coder}' (the study's coders: "
                                     f"{', '.join(sorted(man['coders']))})", file=f,
                                     fix="pass only the sheets written for this study's coders"))
        return None
    if coder in coder_file:
        problems.append(SheetProblem(f"coder '{coder}' appears twice (also in {coder_file[coder]})", file=f,
                                     fix="pass one filled sheet per coder"))
        return None
    return coder


def _read_first_round(sheet_paths: Iterable[str | os.PathLike[str]], man: Mapping[str, Any], *, study: str,
                      cb: Codebook, vocab: dict[str, str], variants: Counter[tuple[str, str]],
                      problems: list[SheetProblem]) -> _FirstRound:
    """Read and check each verifier's sheet: its meta data, checksum, completion field and rows."""
    known_docs = {r[1] for c in man["coders"].values() for r in c["rows"]}
    got = _FirstRound()
    for path in sheet_paths:
        sheet, probs = read_filled_sheet(path)
        problems += probs
        if sheet is None:
            continue
        coder = _verifier(sheet, man, study=study, coder_file=got.coder_file, problems=problems)
        if coder is None:
            continue
        f = sheet.path.name
        meta = sheet.meta or {}
        got.coder_file[coder] = f
        got.simulated = got.simulated or meta.get("simulated") is True
        entry = man["coders"][coder]
        exp = Expected({int(r[0]): r for r in entry["rows"]}, entry["sheet_sha256"], set())
        if meta.get("sheet_sha256") != entry["sheet_sha256"]:
            problems.append(SheetProblem(
                f"this sheet of coder '{coder}' was made by another run of 'llmcoder verify sheets' "
                "(its checksum differs from the manifest)", file=f,
                fix="fill the sheet written with this manifest, or pass the manifest written with this sheet"))
            continue
        if not check_finished(sheet, problems):
            continue
        rows = check_rows(sheet, exp, coder=coder, round_="verify", known_docs=known_docs,
                          cb=cb, vocab=vocab, variants=variants, problems=problems)
        got.decisions += with_supplied(rows, task=cb.task, file=f, problems=problems)
        for _, cells in sheet.rows:
            got.texts.setdefault(cells.get("doc_id", "").strip(), cells.get("text", ""))
    return got


def _missing_coders(man: Mapping[str, Any], coder_file: Mapping[str, str], n_given: int) -> list[SheetProblem]:
    """One problem per coder of the manifest whose filled sheet was not given."""
    return [SheetProblem(f"no filled sheet of coder '{coder}'", file=f"<{n_given} sheets given>",
                         fix=f"pass {coder}.xlsx as filled by {coder}, or ingest without it "
                             "(--allow-missing, require_all=False)")
            for coder in sorted(set(man["coders"]) - set(coder_file))]


def _read_adjudication(path: str | os.PathLike[str], first: pl.DataFrame, *, study: str, cb: Codebook,
                       texts: Mapping[str, str], seed: int, vocab: dict[str, str],
                       variants: Counter[tuple[str, str]], problems: list[SheetProblem], checked: bool,
                       overlap_policy: OverlapPolicy) -> pl.DataFrame | None:
    """The adjudicator's decisions, checked against the queue that the first round leaves (recomputed
    here, so only when the first-round sheets have no problems: ``checked``)."""
    sheet, probs = read_filled_sheet(path)
    problems += probs
    if sheet is None:
        return None
    coder = check_meta(sheet, study=study, round_="adjudication", problems=problems)
    if coder is None or not check_finished(sheet, problems) or not checked:
        return None  # the first-round sheets have problems: the queue cannot be recomputed yet
    prelim = verify_decisions(first, task=cb.task, overlap_policy=overlap_policy, codebook=cb, texts=texts,
                              random_state=seed, reliability=False)
    expected = prelim.adjudication_sheet
    if expected is None or expected.height == 0:
        problems.append(SheetProblem("there is nothing to adjudicate: the filled sheets leave no document in "
                                     "the adjudication queue", file=sheet.path.name,
                                     fix="run ingest without the adjudication sheet"))
        return None
    rows = frame_rows(expected)
    checksum = sheet_checksum(rows)
    if (sheet.meta or {}).get("sheet_sha256") != checksum:
        problems.append(SheetProblem(
            "this adjudication sheet does not match the adjudication queue of these filled sheets (the sheets "
            "changed since it was written)", file=sheet.path.name,
            fix="ingest the filled sheets again without --adjudication and adjudicate the new queue"))
        return None
    exp = Expected({int(r[0]): r for r in rows}, checksum, set())
    got = check_rows(sheet, exp, coder=coder or ADJUDICATOR, round_="adjudication",
                     known_docs=set(expected["doc_id"].to_list()), cb=cb, vocab=vocab,
                     variants=variants, problems=problems)
    got = with_supplied(got, task=cb.task, file=sheet.path.name, problems=problems)
    return pl.DataFrame(got, schema=DECISION_SCHEMA)


def ingest(
    sheet_paths: Sequence[str | os.PathLike[str]],
    *,
    codebook: Codebook | str | os.PathLike[str],
    manifest: str | os.PathLike[str] | Mapping[str, Any],
    adjudication: str | os.PathLike[str] | None = None,
    vocabulary: Mapping[str, Iterable[str]] | None = None,
    require_all: bool = True,
    overlap_policy: OverlapPolicy = "adjudicate",
) -> VerifyResult:
    """Read and validate filled sheets (XLSX or CSV) and turn them into verified labels.

    Args:
        sheet_paths: One filled sheet per human coder.
        codebook: The study's codebook (labels are checked against it; single or multi-label).
        manifest: ``manifest.json`` written with the blank sheets.
        adjudication: The filled adjudication sheet written by a previous ingest (optional); the
            adjudicator's decision wins for the documents on it.
        vocabulary: Accepted spellings, ``{"reject": [...], "keep": [...]}`` (default: reject or x;
            keep or an empty cell), compared case-insensitively; any other value is an error, and
            yes/no-like words can never be decisions.
        require_all: Fail when a coder of the manifest has no sheet; otherwise the missing coders are
            listed in the summary (``coders_missing``) and their documents are not verified.
        overlap_policy: Documents verified by several coders who disagree: ``"adjudicate"`` (queue),
            ``"union"`` (kept if anyone kept) or ``"intersection"`` (kept if everyone kept).

    Raises:
        SheetsError: an :class:`InputError` listing every problem of every sheet (file, row, fix).
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    man = load_manifest(manifest)
    study = str(man["study"])
    vocab = normalize_vocabulary(vocabulary)
    problems = check_codebook(man, cb)
    variants: Counter[tuple[str, str]] = Counter()
    got = _read_first_round(sheet_paths, man, study=study, cb=cb, vocab=vocab, variants=variants,
                            problems=problems)
    if require_all:
        problems += _missing_coders(man, got.coder_file, len(list(sheet_paths)))
    seed = int((man.get("settings") or {}).get("random_state") or 0)
    frame = pl.DataFrame(got.decisions, schema=DECISION_SCHEMA)
    adj_frame = None
    if adjudication is not None:
        adj_frame = _read_adjudication(adjudication, frame, study=study, cb=cb, texts=got.texts, seed=seed,
                                       vocab=vocab, variants=variants, problems=problems,
                                       checked=not problems, overlap_policy=overlap_policy)
    if problems:
        raise SheetsError(
            f"{len(list(sheet_paths)) + (adjudication is not None)} filled sheet(s)",
            f"cannot be ingested: {len(problems)} problem(s); nothing was written", problems,
            fix="correct the sheets as listed and run ingest again")
    notes = []
    if man.get("codebook_sha256") and man["codebook_sha256"] != cb.sha256():
        notes.append("the codebook changed since the sheets were made (same labels; names or definitions differ)")
    return verify_decisions(
        frame, task=cb.task, proposals=manifest_proposals(man), adjudication=adj_frame,
        overlap_policy=overlap_policy, simulated=got.simulated or bool(man.get("simulated")), study=study,
        codebook=cb, texts=got.texts, random_state=seed,
        summary_extra={"decision_variants": variants_summary(variants), "notes": notes,
                       "sheets": got.coder_file, "manifest": man.get("_source"),
                       "coders_missing": sorted(set(man["coders"]) - set(got.coder_file)),
                       "flags": no_rejection_flags(got.decisions, got.coder_file),
                       "documents_without_proposals": len((man.get("settings") or {})
                                                          .get("documents_without_proposals") or [])})
