"""The codebook: the label scheme every coder (LLM, human, fine-tuned model) applies.

A codebook is a YAML file::

    name: CAP major topics
    task: single            # single: one label per document; multi: a set of labels
    instructions: |         # optional, shown to LLM coders and human verifiers
      Code the main policy topic of the parliamentary question.
    labels:
      - id: health          # short and stable: used in every output file
        name: Health
        definition: Health care, insurance, public health, drugs and medical research.
        examples: ["How will the minister shorten waiting lists for hip surgery?"]
        exclusions: ["Health insurance for veterans: code defense"]

It can also be imported from a CSV codebook such as the CAP master codebook (one row per subtopic).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from llmcoder.errors import InputError, Problem
from llmcoder.io import text_sha256, write_text

Task = Literal["single", "multi"]
#: Separator of label ids inside one cell of a multi-label column; label ids may not contain it.
MULTI_SEP = "|"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Label:
    """One category of the codebook.

    Args:
        id: Short, stable identifier used in every output file (letters, digits, ``_ . -``).
        name: Human-readable name shown to coders.
        definition: What the category covers.
        examples: Example texts that belong to it.
        exclusions: What does not belong to it, and where it goes instead.
    """

    id: str
    name: str
    definition: str = ""
    examples: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Codebook:
    """A validated label scheme.

    Args:
        labels: The categories, in their canonical order.
        task: ``"single"`` (exactly one label per document) or ``"multi"`` (a set of labels).
        name: Title of the codebook, used in reports.
        instructions: Coding instructions for LLM and human coders.
        source: Where the codebook was read from (for error messages and provenance).
    """

    labels: tuple[Label, ...]
    task: Task = "single"
    name: str = "codebook"
    instructions: str = ""
    source: str = "<memory>"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.task not in ("single", "multi"):
            problems.append(Problem(f"task is '{self.task}'; it must be 'single' or 'multi'"))
        if len(self.labels) < 2:
            problems.append(Problem(f"{len(self.labels)} label(s) defined; a codebook needs at least 2"))
        seen: dict[str, int] = {}
        for i, lab in enumerate(self.labels, start=1):
            if not lab.id or not str(lab.id).strip():
                problems.append(Problem(f"label {i} has an empty id"))
                continue
            if MULTI_SEP in lab.id:
                problems.append(
                    Problem(f"label {i} id '{lab.id}' contains the multi-label separator '{MULTI_SEP}'")
                )
            elif not _ID_RE.match(lab.id):
                problems.append(
                    Problem(f"label {i} id '{lab.id}' must be letters, digits, '_', '.', '-' only")
                )
            if lab.id in seen:
                problems.append(Problem(f"label {i} repeats id '{lab.id}' (first used by label {seen[lab.id]})"))
            seen.setdefault(lab.id, i)
            if not lab.name or not lab.name.strip():
                problems.append(Problem(f"label {i} ('{lab.id}') has an empty name"))
        if problems:
            raise InputError(
                self.source, "invalid codebook", problems,
                fix="give every label a unique short id and a non-empty name; task is single or multi",
            )

    @property
    def ids(self) -> list[str]:
        """Label ids in canonical order."""
        return [lab.id for lab in self.labels]

    @property
    def names(self) -> dict[str, str]:
        """Map from label id to label name."""
        return {lab.id: lab.name for lab in self.labels}

    def lookup(self) -> dict[str, str]:
        """Map each label id, and each name in lower case with spaces collapsed, to the label id.

        Gold columns and external decision logs often name labels rather than give their ids
        (e.g. "feeling having a political voice"); ids win where a name equals another label's id.
        """
        out = {normalize_name(lab.name): lab.id for lab in self.labels}
        out.update({lab.id: lab.id for lab in self.labels})
        return out

    def resolve(self, value: str) -> str | None:
        """The id of the label that ``value`` gives by id or by name; None when no label matches."""
        return self.resolve_many([value])[value]

    def resolve_many(self, values: Iterable[str]) -> dict[str, str | None]:
        """Each distinct value mapped to the id of the label it gives by id or name (None: no label)."""
        table = self.lookup()
        return {v: table.get(v.strip()) or table.get(normalize_name(v)) for v in set(values)}

    def label(self, label_id: str) -> Label:
        """The label with this id (KeyError names the known ids)."""
        for lab in self.labels:
            if lab.id == label_id:
                return lab
        raise KeyError(f"unknown label '{label_id}'; known: {', '.join(self.ids)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as written to YAML."""
        out: dict[str, Any] = {"name": self.name, "task": self.task}
        if self.instructions:
            out["instructions"] = self.instructions
        out["labels"] = []
        for lab in self.labels:
            d = {k: v for k, v in asdict(lab).items() if v not in ("", ())}
            for k in ("examples", "exclusions"):
                if k in d:
                    d[k] = list(d[k])
            out["labels"].append(d)
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def sha256(self) -> str:
        """Hash of the canonical YAML form: changes whenever a label, definition or instruction does."""
        return text_sha256(self.to_yaml())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the codebook as YAML (atomically)."""
        return write_text(self.to_yaml(), path)


def normalize_name(name: str) -> str:
    """A label name as compared when matching names: stripped, lower case, runs of spaces collapsed."""
    return re.sub(r"\s+", " ", name.strip().lower())


def _as_tuple(value: Any, where: str, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(Problem(f"{where} must be a string or a list of strings"))
    return ()


def codebook_from_dict(data: Any, *, source: str = "<memory>") -> Codebook:
    """Build a :class:`Codebook` from parsed YAML/JSON, with errors that name the entry at fault."""
    if not isinstance(data, dict):
        raise InputError(source, "a codebook must be a mapping with 'task' and 'labels'",
                         fix="see data/demo/codebook.yaml for the format")
    allowed = {"name", "task", "instructions", "labels"}
    unknown = sorted(set(data) - allowed)
    problems: list[Problem] = [Problem(f"unknown key '{k}' (allowed: {', '.join(sorted(allowed))})")
                               for k in unknown]
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list):
        raise InputError(source, "'labels' is missing or not a list", problems,
                         fix="add a 'labels:' list, each entry with an id and a name")
    labels = []
    for i, entry in enumerate(raw_labels, start=1):
        if isinstance(entry, str):  # shorthand: a bare name
            entry = {"id": entry, "name": entry}
        if not isinstance(entry, dict):
            problems.append(Problem(f"label {i} must be a mapping with id and name"))
            continue
        extra = sorted(set(entry) - {"id", "name", "definition", "examples", "exclusions"})
        for k in extra:
            problems.append(Problem(f"label {i} has unknown key '{k}'"))
        lid = entry.get("id", entry.get("name"))
        labels.append(Label(
            id=str(lid).strip() if lid is not None else "",
            name=str(entry.get("name") or "").strip(),
            definition=str(entry.get("definition") or "").strip(),
            examples=_as_tuple(entry.get("examples"), f"label {i} examples", problems),
            exclusions=_as_tuple(entry.get("exclusions"), f"label {i} exclusions", problems),
        ))
    if problems:
        raise InputError(source, "invalid codebook", problems, fix="correct the entries listed above")
    return Codebook(
        labels=tuple(labels),
        task=data.get("task", "single"),
        name=str(data.get("name") or Path(source).stem),
        instructions=str(data.get("instructions") or "").strip(),
        source=source,
    )


def load_codebook(path: str | os.PathLike[str]) -> Codebook:
    """Read and validate a YAML codebook (or a CSV one: see :func:`codebook_from_csv`)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "codebook file not found", fix="check the path in config.yaml")
    if p.suffix.lower() in (".csv", ".tsv"):
        return codebook_from_csv(p)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(str(p), f"not UTF-8 text (byte {e.start})", fix="save the file as UTF-8") from e
    except yaml.YAMLError as e:
        raise InputError(str(p), f"not valid YAML: {e}", fix="check indentation and quoting") from e
    return codebook_from_dict(data, source=str(p))


def codebook_from_csv(
    path: str | os.PathLike[str],
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    definition_col: str | None = None,
    detail_col: str | None = None,
    task: Task = "single",
    name: str | None = None,
) -> Codebook:
    """Import a CSV codebook: one row per label, or one row per subtopic grouped into labels.

    With the CAP layout (``major, major_topic_label, subtopic, subtopic_label``) the columns are found
    automatically: each major topic becomes a label whose definition lists its subtopics.

    Parameters
    ----------
    path : path to the CSV (or TSV) file.
    id_col, name_col : columns with the label id and name.
    definition_col : column with a definition (one row per label).
    detail_col : column whose values, joined per label, form the definition (one row per detail).
    """
    p = Path(path)
    delim = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        with open(p, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter=delim))
    except FileNotFoundError as e:
        raise InputError(str(p), "codebook file not found", fix="check the path") from e
    except UnicodeDecodeError as e:
        raise InputError(str(p), "not UTF-8 text", fix="save the file as UTF-8") from e
    cols = set(rows[0]) if rows else set()
    if {"major", "major_topic_label", "subtopic_label"} <= cols and id_col is None:
        id_col, name_col, detail_col = "major", "major_topic_label", "subtopic_label"
        name = name or "Comparative Agendas Project major topics"
    missing = [c for c in (id_col, name_col) if c is None or c not in cols]
    if missing:
        raise InputError(str(p), f"columns {missing} not found (have: {', '.join(sorted(cols))})",
                         fix="pass id_col= and name_col= naming the codebook's columns")
    grouped: dict[str, dict[str, Any]] = {}
    for r in rows:
        lid = str(r[id_col]).strip()
        g = grouped.setdefault(lid, {"name": r[name_col].strip(), "details": [], "definition": ""})
        if definition_col and r.get(definition_col):
            g["definition"] = r[definition_col].strip()
        if detail_col and r.get(detail_col):
            g["details"].append(r[detail_col].strip())
    labels = []
    for lid, g in grouped.items():
        definition = g["definition"] or ("Includes: " + "; ".join(g["details"]) + "." if g["details"] else "")
        labels.append(Label(id=lid, name=g["name"], definition=definition))
    return Codebook(labels=tuple(labels), task=task, name=name or p.stem, source=str(p))
