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
import io
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


def yaml_error(path: str | os.PathLike[str], err: yaml.YAMLError, text: str) -> InputError:
    """A YAML syntax error as a person reads it: the line and column, the line itself, and the usual cause."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    problems = []
    fix = "check the indentation (spaces, the same for every key of a block) and quote values that hold ':' or '#'"
    if mark is not None:
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        problems.append(Problem(f"line {mark.line + 1}, column {mark.column + 1}: {problem}: {line.strip()[:100]!r}"))
        if "\t" in line[: mark.column + 1] or "'\\t'" in problem:
            fix = "YAML does not allow tabs for indentation: indent with spaces"
        where = f"line {mark.line + 1}"
    else:
        problems.append(Problem(problem))
        where = "?"
    return InputError(str(path), f"not valid YAML (at {where}; lines are counted from 1)", problems, fix=fix)


def load_codebook(path: str | os.PathLike[str]) -> Codebook:
    """Read and validate a YAML codebook (or a CSV one: see :func:`codebook_from_csv`)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), "is a folder, not a codebook file", fix="pass the codebook YAML (or CSV) file")
    if not p.is_file():
        raise InputError(str(p), "codebook file not found",
                         fix="check the path (--codebook / the study's 'codebook:' key in config.yaml; paths are "
                             "relative to the folder you run llmcoder from)")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return codebook_from_csv(p)
    if suffix in (".xlsx", ".xls", ".ods", ".docx", ".doc", ".pdf", ".parquet"):
        raise InputError(str(p), f"a codebook cannot be read from a {suffix} file",
                         fix="write it as YAML (see data/demo/codebook.yaml), or save the sheet as CSV with the "
                             "columns id, name, definition (one row per label)")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(str(p), f"not UTF-8 text (byte {e.start})", fix="save the file as UTF-8") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise yaml_error(p, e, text) from e
    return codebook_from_dict(data, source=str(p))


#: Column names recognised in a CSV codebook with one row per label (compared in lower case).
CSV_ID_COLUMNS = ("id", "label_id", "code", "value", "key")
CSV_NAME_COLUMNS = ("name", "label_name", "label", "category", "title")
CSV_DEFINITION_COLUMNS = ("definition", "description", "desc", "explanation")
CSV_LAYOUTS = ("one row per label: id, name and optionally definition (also accepted: code/label_id for the id, "
               "label/category for the name, description for the definition); or the CAP master codebook: "
               "major, major_topic_label, subtopic, subtopic_label")


def _pick(cols: list[str], names: tuple[str, ...], taken: set[str]) -> str | None:
    lower = {c.strip().lower(): c for c in cols if c not in taken}
    return next((lower[n] for n in names if n in lower), None)


def _read_csv_rows(p: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the non-empty rows (with their row numbers) of a CSV/TSV codebook; the separator is
    detected, a BOM dropped, fields may be of any size."""
    from llmcoder.corpus import _csv_field_limit, sniff_separator

    try:
        data = p.read_bytes()
    except FileNotFoundError as e:
        raise InputError(str(p), "codebook file not found", fix="check the path") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        alt = ""
        try:
            data.decode("cp1252")
            alt = " (it reads as cp1252, Windows Excel's encoding)"
        except UnicodeDecodeError:
            pass
        raise InputError(str(p), f"not UTF-8 text{alt}",
                         [Problem(f"byte {e.start} (0x{data[e.start]:02x}) cannot be decoded", row=line)],
                         fix="save the codebook as UTF-8 (in Excel: 'CSV UTF-8'), or write it as YAML") from e
    sep = "\t" if p.suffix.lower() == ".tsv" else sniff_separator(text[:1 << 16])
    _csv_field_limit()
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        records = [r for r in reader]
    except csv.Error as e:
        raise InputError(str(p), f"could not be parsed as CSV ({e})", fix="check the quoting") from e
    if not records or not any(c.strip() for c in records[0]):
        raise InputError(str(p), "the codebook file is empty", fix=f"write a header row and one row per label: "
                         f"{CSV_LAYOUTS}")
    header = [c.strip() for c in records[0]]
    rows = [(i, dict(zip(header, r, strict=False))) for i, r in enumerate(records[1:], start=2)
            if any(v.strip() for v in r)]
    return header, rows


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
    automatically: each major topic becomes a label whose definition lists its subtopics. With one row
    per label, columns named ``id``, ``name`` and ``definition`` (or the usual other names: ``code``,
    ``label``, ``description``...) are found automatically too.

    Parameters
    ----------
    path : path to the CSV (or TSV) file; the separator is detected.
    id_col, name_col : columns with the label id and name.
    definition_col : column with a definition (one row per label).
    detail_col : column whose values, joined per label, form the definition (one row per detail).
    """
    p = Path(path)
    header, rows = _read_csv_rows(p)
    cols = set(header)
    given = id_col is not None or name_col is not None
    if {"major", "major_topic_label", "subtopic_label"} <= cols and not given:
        id_col, name_col, detail_col = "major", "major_topic_label", "subtopic_label"
        name = name or "Comparative Agendas Project major topics"
    elif not given:
        id_col = _pick(header, CSV_ID_COLUMNS, set())
        name_col = _pick(header, CSV_NAME_COLUMNS, {id_col} if id_col else set())
        definition_col = definition_col or _pick(header, CSV_DEFINITION_COLUMNS, {id_col, name_col} - {None})
    missing = [c for c in (id_col, name_col) if c is None or c not in cols]
    if not given and not missing and "text" in {c.lower() for c in header} and not definition_col:
        raise InputError(str(p), "this looks like a corpus (it has a 'text' column), not a codebook",
                         [Problem("the header (row 1) holds: " + ", ".join(f"'{c}'" for c in header))],
                         fix="pass the codebook (YAML, or a CSV with one row per label: id, name, definition) "
                             "to --codebook / the study's 'codebook:' key, and the corpus as the corpus")
    if missing:
        found = ", ".join(f"'{c}'" for c in header)
        if given:
            what = f"column(s) {', '.join(repr(c) for c in missing if c)} not found"
        else:
            what = "the columns of this CSV codebook are not a layout llmcoder reads"
        raise InputError(str(p), what, [Problem(f"the header (row 1) holds: {found}")],
                         fix=f"rename the columns of row 1 so that it is {CSV_LAYOUTS}; or write the codebook "
                             "as YAML (see data/demo/codebook.yaml)")
    assert id_col is not None and name_col is not None
    problems: list[Problem] = []
    grouped: dict[str, dict[str, Any]] = {}
    names_seen: dict[str, int] = {}
    for i, r in rows:
        lid = str(r.get(id_col) or "").strip()
        lname = str(r.get(name_col) or "").strip()
        if not lid:
            problems.append(Problem("empty label id", row=i, column=id_col))
            continue
        if lid in grouped and detail_col is None:
            problems.append(Problem(f"label id '{lid}' repeats row {grouped[lid]['row']}", row=i, column=id_col))
            continue
        if detail_col is None and lname:
            first = names_seen.setdefault(normalize_name(lname), i)
            if first != i:
                problems.append(Problem(f"label name '{lname}' repeats row {first}", row=i, column=name_col))
        g = grouped.setdefault(lid, {"name": lname, "details": [], "definition": "", "row": i})
        if detail_col is not None and lname and g["name"] and lname != g["name"]:
            problems.append(Problem(f"label '{lid}' is named '{lname}' here but '{g['name']}' in row {g['row']}",
                                    row=i, column=name_col))
        if definition_col and r.get(definition_col):
            g["definition"] = r[definition_col].strip()
        if detail_col and r.get(detail_col):
            g["details"].append(r[detail_col].strip())
    if problems:
        raise InputError(str(p), "invalid CSV codebook", problems,
                         fix="give every label one row with a unique id and a unique name (is this file the "
                             "codebook, one row per label, and not the corpus?)")
    labels = []
    for lid, g in grouped.items():
        definition = g["definition"] or ("Includes: " + "; ".join(g["details"]) + "." if g["details"] else "")
        labels.append(Label(id=lid, name=g["name"], definition=definition))
    return Codebook(labels=tuple(labels), task=task, name=name or p.stem, source=str(p))
