"""Shared pieces of human verification: sheet columns, decision vocabulary, checksums, problems."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from llmcoder.errors import MAX_LISTED, InputError, Problem

#: Columns of a verification sheet, in the order a coder sees them.
SHEET_COLUMNS = ("item", "doc_id", "text", "label", "label_name", "definition", "decision", "right_label",
                 "comment")
#: Columns whose content is fixed by llmcoder: any edit of them is a changed row.
FIXED_COLUMNS = ("item", "doc_id", "text", "label", "label_name", "definition")
#: Columns the human coder fills. ``right_label``: when every proposal of a document is rejected, the
#: label that does apply, picked from the codebook (recorded as "supplied", not as "kept").
FILL_COLUMNS = ("decision", "right_label", "comment")
#: Columns a filled sheet may lack (sheets made before they existed, or deleted by the coder).
OPTIONAL_COLUMNS = ("right_label", "comment")
#: The hidden worksheet with the codebook's label names, the drop-down list of ``right_label``.
LABELS_SHEET = "labels"
#: Name of the worksheet with the rows, and of the hidden worksheet with the meta data.
DATA_SHEET = "verify"
META_SHEET = "meta"
#: Excel's limit on the characters of one cell, less room for the truncation mark.
MAX_CELL = 32_000
TRUNCATED = " […truncated by llmcoder]"

#: The only decisions a sheet takes (compared after stripping and lower-casing): ``reject`` (or ``x``)
#: when the label does not apply, ``keep`` (or an empty cell) when it does. Answers to a yes/no question
#: are refused: "yes" could mean "yes, it applies" or "yes, reject it", and reading it either way would
#: silently invert somebody's ground truth.
DEFAULT_VOCABULARY: dict[str, tuple[str, ...]] = {
    "reject": ("reject", "x"),
    "keep": ("", "keep"),
}
#: Values that answer a question instead of naming a decision; each gets a message of its own.
AMBIGUOUS_DECISIONS = frozenset({
    "yes", "y", "no", "n", "1", "0", "true", "false", "ja", "nein", "oui", "non", "si", "sí", "ok", "applies",
    "wrong", "right", "correct", "incorrect", "✓", "✔", "✗", "-", "+", "?",
})
DECISION_FIX = ("write reject (or x) if the label does NOT apply to the text; write keep or leave the cell "
                "empty if it applies")
#: The worksheet (XLSX) or the row (CSV, item ``finished``) where the coder says the sheet is done.
FINISHED_SHEET = "finished"
FINISHED_ITEM = "finished"
#: Cells of the ``finished`` worksheet: the coder's name and the date.
FINISHED_NAME_CELL = "B3"
FINISHED_DATE_CELL = "B4"
#: A finished sheet with no rejection over at least this many rows is flagged (summary, methods text).
NO_REJECTION_FLAG_ROWS = 20

MANIFEST_KIND = "llmcoder-verify-manifest"
SHEET_KIND = "llmcoder-verify-sheet"


def normalize_vocabulary(vocabulary: Mapping[str, Iterable[str]] | None) -> dict[str, str]:
    """Map each accepted spelling (lower-case, stripped) to ``reject`` or ``keep``.

    A custom vocabulary (e.g. a team's own language) may add words, but never an answer to a yes/no
    question (:data:`AMBIGUOUS_DECISIONS`): the drop-down asks for a decision, not whether it applies.
    """
    vocab = DEFAULT_VOCABULARY if vocabulary is None else vocabulary
    unknown = set(vocab) - {"reject", "keep"}
    if unknown:
        raise ValueError(f"vocabulary keys must be 'reject' and 'keep', not {sorted(unknown)}")
    out: dict[str, str] = {}
    for canonical, spellings in vocab.items():
        for s in [canonical, *spellings]:
            key = str(s).strip().lower()
            if key in AMBIGUOUS_DECISIONS:
                raise ValueError(f"'{s}' cannot be a decision word: it answers a yes/no question, so it could "
                                 "mean keep or reject; use words that name the decision")
            if key in out and out[key] != canonical:
                raise ValueError(f"'{s}' is listed both as reject and as keep")
            out[key] = canonical
    return out


def decision_problem(raw: str) -> str:
    """Why a decision cell is refused, in words that tell the coder what was wrong with it."""
    value = raw.strip()
    if value.lower() in AMBIGUOUS_DECISIONS:
        return (f"decision '{value}' is ambiguous: it answers a yes/no question, so it could mean keep or "
                "reject, and llmcoder will not guess")
    return f"decision '{value}' is not one of reject, x, keep or empty"


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: None → '', 7.0 → '7', line breaks normalised to '\\n'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n")


def row_hash(doc_id: str, label: str, text: str, label_name: str, definition: str) -> str:
    """Short hash of the fixed content of one sheet row (identifies a changed row)."""
    payload = "\x1f".join([doc_id, label, text, label_name, definition])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def sheet_checksum(rows: Sequence[Sequence[Any]]) -> str:
    """SHA-256 over the (item, doc_id, label, row hash) of every row, in item order."""
    canon = sorted((int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows)
    return hashlib.sha256(json.dumps(canon, separators=(",", ":")).encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def frame_rows(frame: pl.DataFrame) -> list[list[Any]]:
    """``[item, doc_id, label, row_hash, text_hash]`` per row of a sheet frame (stored in the manifest)."""
    return [
        [int(r["item"]), r["doc_id"], r["label"],
         row_hash(r["doc_id"], r["label"], r["text"], r["label_name"], r["definition"]),
         text_hash(r["text"])]
        for r in frame.select(FIXED_COLUMNS).iter_rows(named=True)
    ]


class Sheets(dict[str, pl.DataFrame]):
    """Verification sheets, one data frame per human coder, with what the manifest needs.

    A plain ``dict[coder, DataFrame]``; the attributes travel from :func:`make_sheets` to
    :func:`write_sheets` (proposals for acceptance rates, settings for provenance) and mark sheets
    filled by :func:`simulate_verification` as simulated.
    """

    def __init__(self, frames: Mapping[str, pl.DataFrame] | None = None, *,
                 proposals: pl.DataFrame | None = None, assignments: pl.DataFrame | None = None,
                 settings: Mapping[str, Any] | None = None, codebook: Any = None,
                 simulated: bool = False, kind: str = "verify",
                 finished: Mapping[str, tuple[str, str]] | None = None) -> None:
        super().__init__(frames or {})
        self.proposals = proposals
        self.assignments = assignments
        self.settings = dict(settings or {})
        self.codebook = codebook
        self.simulated = simulated
        self.kind = kind
        #: Per coder, the (name, date) of the completion field, for sheets written already filled
        #: (the simulated verifier's); blank sheets leave it empty for the person to fill.
        self.finished = dict(finished or {})

    def derive(self, frames: Mapping[str, pl.DataFrame], **changes: Any) -> Sheets:
        """A copy with other frames (and attributes changed as given)."""
        attrs = {"proposals": self.proposals, "assignments": self.assignments,
                 "settings": self.settings, "codebook": self.codebook,
                 "simulated": self.simulated, "kind": self.kind, "finished": self.finished}
        attrs.update(changes)
        return Sheets(frames, **attrs)


@dataclass
class SheetProblem(Problem):
    """A problem in one filled sheet: file, row as the spreadsheet shows it, what, and the fix."""

    file: str = ""
    fix: str = ""

    def render(self) -> str:
        where = [self.file] if self.file else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass
class SheetsError(InputError):
    """Filled sheets that cannot be ingested; lists the problems of every sheet, file by file."""

    def __str__(self) -> str:
        lines = [f"{self.path}: {self.what}"]
        by_file: dict[str, list[Problem]] = {}
        for p in self.problems:
            by_file.setdefault(getattr(p, "file", "") or "", []).append(p)
        for probs in by_file.values():
            shown = probs[:MAX_LISTED]
            lines += [f"  - {p.render()}" for p in shown]
            if len(probs) > len(shown):
                lines.append(f"  ... and {len(probs) - len(shown)} more in this file ({len(probs)} in all)")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion k/n (None, None when n is 0)."""
    if n <= 0:
        return None, None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def order_key(seed: int, doc_id: str, label: str) -> str:
    """Deterministic pseudo-random order of labels within a document (blind: not by confidence)."""
    return hashlib.sha256(f"{seed}\x1f{doc_id}\x1f{label}".encode()).hexdigest()
