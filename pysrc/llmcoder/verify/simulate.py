"""A simulated verifier for demos and tests: fills the sheets from gold labels with seeded errors.

Nobody looked at these sheets. Everything downstream says so: the filled sheets' meta data, the
manifest and summary carry ``simulated: true`` and the verified table's ``source`` starts with
``simulated-``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.errors import InputError, Problem
from llmcoder.verify._common import SHEET_COLUMNS, Sheets

#: What the simulated verifier writes in the completion field: no person signed these sheets.
SIMULATED_SIGNATURE = "simulated verifier (no person)"


def _gold_sets(gold: pl.DataFrame) -> dict[str, set[str]]:
    if "doc_id" not in gold.columns or not ({"label", "labels"} & set(gold.columns)):
        raise InputError("<gold>", "gold labels need doc_id and label (single) or labels (multi)",
                         fix="pass the canonical corpus with its gold column")
    ids = gold["doc_id"].cast(pl.Utf8).to_list()
    if "labels" in gold.columns:
        vals = [set(v or []) for v in gold["labels"].to_list()]
    else:
        vals = [set() if v is None else {str(v)} for v in gold["label"].to_list()]
    return dict(zip(ids, vals, strict=True))


def simulate_verification(
    sheets: Mapping[str, pl.DataFrame],
    gold: pl.DataFrame,
    *,
    error_rate: float = 0.05,
    random_state: int = 0,
    reject: str = "reject",
    keep: str = "",
) -> Sheets:
    """Fill each sheet's decision column from the gold labels: reject a proposed label that is not
    gold, keep one that is, and flip each decision with probability ``error_rate``.

    Args:
        sheets: Sheets from :func:`make_sheets` (``{coder: frame}``).
        gold: Frame with ``doc_id`` and the gold ``label`` (single) or ``labels`` (multi, a list).
        error_rate: Probability that a simulated coder gets a decision wrong (independent per row).
        random_state: Seed; each coder gets their own stream, so results do not depend on sheet order.
        reject, keep: What the simulated coder writes (``keep=""`` leaves the cell empty, as people do).

    Returns:
        :class:`Sheets` with the decisions filled and ``simulated=True``.
    """
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate must be between 0 and 1, not {error_rate}")
    truth = _gold_sets(gold)
    missing = sorted({d for f in sheets.values() for d in f["doc_id"].to_list()} - set(truth))
    if missing:
        raise InputError("<gold>", f"{len(missing)} document(s) on the sheets have no gold label",
                         [Problem(f"document '{d}'") for d in missing[:20]],
                         fix="simulate only with a corpus whose every document has a gold label")
    cb = getattr(sheets, "codebook", None)
    names = cb.names if cb is not None else {}
    filled = {}
    for i, coder in enumerate(sorted(sheets)):
        frame = sheets[coder]
        rng = np.random.default_rng([random_state, i])
        applies = np.array([lab in truth[d] for d, lab in frame.select("doc_id", "label").iter_rows()],
                           dtype=bool)
        wrong = rng.random(frame.height) < error_rate
        keep_it = applies ^ wrong
        right = _right_labels(frame, keep_it, truth, names, rng, error_rate) if names else [None] * frame.height
        filled[coder] = frame.with_columns(
            pl.Series("decision", np.where(keep_it, keep, reject).tolist(), dtype=pl.Utf8),
            pl.Series("right_label", right, dtype=pl.Utf8))
    finished = dict.fromkeys(filled, (SIMULATED_SIGNATURE, "-"))
    if isinstance(sheets, Sheets):
        return sheets.derive(filled, simulated=True, finished=finished)
    return Sheets(filled, simulated=True, finished=finished)


def _right_labels(frame: pl.DataFrame, kept: np.ndarray, truth: Mapping[str, set[str]], names: Mapping[str, str],
                  rng: np.random.Generator, error_rate: float) -> list[str | None]:
    """The right-label column a simulated verifier fills: for a document whose every proposal it
    rejected, the gold labels that were not proposed, one per row (each wrong with ``error_rate``)."""
    out: list[str | None] = [None] * frame.height
    rows_of: dict[str, list[int]] = {}
    for j, d in enumerate(frame["doc_id"].to_list()):
        rows_of.setdefault(d, []).append(j)
    labels = frame["label"].to_list()
    ids = list(names)
    for d, rows in rows_of.items():
        if kept[rows].any():
            continue
        missing = sorted(truth[d] - {labels[j] for j in rows})
        for j, lab in zip(rows, missing, strict=False):
            if rng.random() < error_rate:  # a wrong label, never one of the (rejected) proposals
                others = [x for x in ids if x not in truth[d] and x not in {labels[k] for k in rows}]
                lab = others[int(rng.integers(len(others)))] if others else lab
            out[j] = names[lab]
    return out


def simulate_adjudication(sheet: pl.DataFrame, gold: pl.DataFrame, *, codebook: Any = None,
                          error_rate: float = 0.05, random_state: int = 0) -> Sheets:
    """Fill the adjudication sheet from gold with seeded errors, as :func:`simulate_verification` does
    the first round, so that a demo trains on what a team that adjudicates would have (marked simulated)."""
    from llmcoder.verify.ingest import ADJUDICATOR

    blank = Sheets({ADJUDICATOR: sheet}, codebook=codebook, kind="adjudication")
    return simulate_verification(blank, gold, error_rate=error_rate, random_state=random_state + 7919)


def read_blank_sheets(sheets_dir: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Sheets:
    """The sheets written by :func:`write_sheets`, read back as frames (XLSX, else CSV)."""
    from llmcoder.verify.ingest import read_filled_sheet

    frames = {}
    for coder, entry in manifest["coders"].items():
        name = entry.get("xlsx") or entry.get("csv")
        sheet, problems = read_filled_sheet(Path(sheets_dir) / name)
        if sheet is None:
            raise InputError(str(Path(sheets_dir) / name), "cannot read the blank sheet", problems,
                             fix="write the sheets again with 'llmcoder verify sheets'")
        data = {c: [cells.get(c, "") for _, cells in sheet.rows] for c in SHEET_COLUMNS}
        data["item"] = [int(float(v)) for v in data["item"]]
        frames[coder] = pl.DataFrame(data, schema={c: (pl.Int64 if c == "item" else pl.Utf8)
                                                   for c in SHEET_COLUMNS})
    return Sheets(frames, settings=manifest.get("settings") or {})
