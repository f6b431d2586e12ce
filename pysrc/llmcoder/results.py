"""The results contract: every file under ``results/<study>/``, its path, columns, types and JSON keys.

One written contract (``llmcoder/schemas/results.yaml``) names each results file by a *key*
(``evaluation_metrics``, ``learning_curve``, ...) with its path pattern, the workflow step that writes
it, and its columns (tables) or keys (JSON). Python checks what it writes against it
(:func:`check_frame`, :func:`check_record`); a run's manifest (:func:`write_manifest`) lists the files a
step may read, each with its key, wildcards and checksum, and carries the contract entries of those keys,
so that R (``read_results()``) reads named files with known columns and never globs a folder.

Search this module (and the YAML beside it) to find where any results file is written and read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl
import yaml

__all__ = [
    "CONTRACT_VERSION",
    "Column",
    "Entry",
    "MANIFEST",
    "check_frame",
    "check_record",
    "checked",
    "contract",
    "entry",
    "manifest_files",
    "match",
    "path_of",
    "read_manifest",
    "read_table",
    "validate_file",
    "validate_results",
    "write_manifest",
]

#: Version of the contract; a manifest written under another version is refused by R and Python.
CONTRACT_VERSION = 1
#: File name of a manifest, at the top of a study's results folder.
MANIFEST = "manifest.json"
_TYPES = ("string", "integer", "number", "boolean", "list", "object", "any")
#: Formats of results files; text and binary files are checked for existence only.
_FORMATS = ("parquet", "csv", "json", "xlsx", "text", "binary")


@dataclass(frozen=True)
class Column:
    """One column of a table, or one key of a JSON record."""

    name: str
    type: str
    what: str
    required: bool = True
    nullable: bool = True


@dataclass(frozen=True)
class Entry:
    """One kind of results file: where it lies, who writes it, what it holds."""

    key: str
    path: str
    format: str
    step: str
    what: str
    fields: tuple[Column, ...] = ()
    open: bool = False  # other columns / keys may follow (e.g. the corpus's strata)
    wildcards: tuple[str, ...] = field(default=())

    @property
    def regex(self) -> re.Pattern[str]:
        """The path pattern as a regular expression with one named group per wildcard."""
        parts = re.split(r"(\{[a-z_]+\})", self.path)
        rx = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{rx}$")

    def as_manifest(self) -> dict[str, Any]:
        """What a manifest says of this entry: enough for a reader in another language."""
        name = "columns" if self.format in ("csv", "parquet") else "keys"
        return {"path": self.path, "format": self.format, "step": self.step, "what": self.what,
                "open": self.open, name: {c.name: {"type": c.type, "required": c.required, "what": c.what}
                                          for c in self.fields}}


@cache
def contract() -> dict[str, Entry]:
    """The contract, read once from the package: key -> :class:`Entry`."""
    text = resources.files("llmcoder").joinpath("schemas/results.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    if doc.get("version") != CONTRACT_VERSION:
        raise RuntimeError(f"schemas/results.yaml is version {doc.get('version')}, this code reads {CONTRACT_VERSION}")
    out: dict[str, Entry] = {}
    for key, spec in doc["files"].items():
        fields = spec.get("columns") or spec.get("keys") or {}
        cols = []
        for name, c in fields.items():
            c = {"type": c} if isinstance(c, str) else c
            if set(c) - {"type", "what", "required", "nullable"} or "type" not in c:  # e.g. an unquoted comma
                raise RuntimeError(f"schemas/results.yaml: {key}.{name} has keys {sorted(c)}; quote its 'what'")
            if c["type"] not in _TYPES:
                raise RuntimeError(f"schemas/results.yaml: {key}.{name} has unknown type {c['type']!r}")
            cols.append(Column(name, c["type"], c.get("what", ""), c.get("required", True), c.get("nullable", True)))
        if spec["format"] not in _FORMATS:
            raise RuntimeError(f"schemas/results.yaml: {key} has unknown format {spec['format']!r}")
        out[key] = Entry(key=key, path=spec["path"], format=spec["format"], step=spec["step"], what=spec["what"],
                         fields=tuple(cols), open=bool(spec.get("open", False)),
                         wildcards=tuple(re.findall(r"\{([a-z_]+)\}", spec["path"])))
    return out


def entry(key: str) -> Entry:
    """The contract entry of ``key``; a KeyError names the known keys."""
    try:
        return contract()[key]
    except KeyError:
        raise KeyError(f"{key!r} is not in the results contract; known: {', '.join(sorted(contract()))}") from None


def path_of(key: str, **wildcards: Any) -> PurePosixPath:
    """The path of a results file relative to the study's folder, e.g. ``evaluation/minilm/metrics.csv``."""
    e = entry(key)
    missing = set(e.wildcards) - set(wildcards)
    if missing:
        raise TypeError(f"{key}: give {', '.join(sorted(missing))}")
    return PurePosixPath(e.path.format(**{k: str(v) for k, v in wildcards.items()}))


def match(relpath: str | PurePosixPath) -> tuple[Entry, dict[str, str]] | None:
    """The entry a relative path belongs to, with its wildcard values; None for a file outside the contract."""
    rel = PurePosixPath(relpath).as_posix()
    hits = [(e, m.groupdict()) for e in contract().values() if (m := e.regex.match(rel))]
    if not hits:
        return None
    # the most specific pattern wins: coders/{coder}_orders.parquet before coders/{coder}.parquet
    return max(hits, key=lambda h: len(re.sub(r"\{[a-z_]+\}", "", h[0].path)))


# -- checks -----------------------------------------------------------------------------------------

def _dtype_kind(dtype: pl.DataType) -> str:
    if dtype == pl.Utf8 or dtype == pl.Categorical or dtype == pl.Enum:
        return "string"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    if isinstance(dtype, (pl.List, pl.Array)):
        return "list"
    if dtype == pl.Null:
        return "null"
    return str(dtype)


def _fits(kind: str, want: str) -> bool:
    return want == "any" or kind == want or kind == "null" or (want == "number" and kind == "integer")


def _csv_fits(values: pl.Series, want: str) -> bool:
    """Whether every non-empty cell of a CSV column (read as text) parses as ``want``."""
    vals = [v for v in values.to_list() if v not in (None, "")]
    try:
        if want == "integer":
            [int(v) for v in vals]
        elif want == "number":
            [float(v) for v in vals]
        elif want == "boolean":
            return all(v in ("true", "false") for v in vals)
    except ValueError:
        return False
    return True


def check_frame(key: str, df: pl.DataFrame, *, from_csv: bool = False) -> list[str]:
    """What is wrong with a table under ``key`` (missing or mistyped columns, columns not in the contract)."""
    e = entry(key)
    problems = []
    known = {c.name: c for c in e.fields}
    for c in e.fields:
        if c.name not in df.columns:
            if c.required:
                problems.append(f"column {c.name} is missing")
            continue
        ok = _csv_fits(df[c.name], c.type) if from_csv else _fits(_dtype_kind(df.schema[c.name]), c.type)
        if not ok:
            problems.append(f"column {c.name} is {df.schema[c.name]}, the contract says {c.type}")
        if not c.nullable and df[c.name].null_count():
            problems.append(f"column {c.name} has {df[c.name].null_count()} empty cell(s)")
    if not e.open:
        problems += [f"column {name} is not in the contract" for name in df.columns if name not in known]
    return problems


def checked(key: str, data: Any) -> Any:
    """``data`` (a table or a JSON record), after checking it against the contract entry ``key``.

    Writers pass what they write through this, so a results file that breaks the contract is never
    written: a RuntimeError (a bug of llmcoder, not a user's mistake) names the key and the problems.
    """
    problems = check_frame(key, data) if isinstance(data, pl.DataFrame) else check_record(key, data)
    if problems:
        raise RuntimeError(f"{entry(key).path} would break the results contract: {'; '.join(problems)}")
    return data


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number" if math.isfinite(v) else "string"
    if isinstance(v, str):
        return "string"
    return "list" if isinstance(v, list) else "object"


def check_record(key: str, doc: Mapping[str, Any]) -> list[str]:
    """What is wrong with a JSON record under ``key`` (missing or mistyped keys, keys not in the contract)."""
    e = entry(key)
    if not isinstance(doc, Mapping):
        return [f"is a JSON {_json_kind(doc)}, the contract says an object"]
    problems = []
    known = {c.name for c in e.fields}
    for c in e.fields:
        if c.name not in doc:
            if c.required:
                problems.append(f"key {c.name} is missing")
        elif not _fits(_json_kind(doc[c.name]), c.type):
            problems.append(f"key {c.name} is a {_json_kind(doc[c.name])}, the contract says {c.type}")
    if not e.open:
        problems += [f"key {k} is not in the contract" for k in doc if k not in known]
    return problems


def validate_file(path: str | os.PathLike[str], key: str) -> list[str]:
    """Read one results file and check it against the entry ``key``."""
    e = entry(key)
    p = Path(path)
    if e.format == "parquet":
        return check_frame(key, pl.read_parquet(p))
    if e.format == "csv":
        return check_frame(key, pl.read_csv(p, infer_schema=False), from_csv=True)
    if e.format == "json":
        return check_record(key, json.loads(p.read_text(encoding="utf-8")))
    return [] if p.exists() else ["is missing"]


#: The polars type a CSV column of each contract type is read as.
_POLARS_TYPES: dict[str, Any] = {"string": pl.Utf8, "integer": pl.Int64, "number": pl.Float64}


def read_table(key: str, path: str | os.PathLike[str], *,
               fix: str = "run the workflow step that writes it again") -> pl.DataFrame:
    """A results table (CSV or Parquet) read through its contract entry: checked, columns typed.

    The Python counterpart of R's ``read_results()``: a CSV is read as text, checked against the entry
    ``key`` and each column cast to its contract type (``NaN``/``inf`` stay numbers, ``true``/``false``
    booleans), so no reader guesses a type. A missing, unreadable or non-conforming file raises
    :class:`~llmcoder.errors.InputError` naming it.
    """
    from llmcoder.errors import InputError, Problem

    e = entry(key)
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), f"{e.what.rstrip('.')}: file not found", fix=fix)
    try:
        df = pl.read_parquet(p) if e.format == "parquet" else pl.read_csv(p, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise InputError(str(p), f"not a readable {e.format.upper()} file ({err})", fix=fix) from err
    problems = check_frame(key, df, from_csv=e.format == "csv")
    if problems:
        raise InputError(str(p), f"does not match the results contract ({key})", [Problem(x) for x in problems],
                         fix=fix)
    if e.format != "csv":
        return df
    casts = []
    for c in e.fields:
        if c.name not in df.columns:
            continue
        if c.type == "boolean":
            casts.append((pl.col(c.name) == "true").alias(c.name))
        elif c.type in _POLARS_TYPES:
            casts.append(pl.col(c.name).cast(_POLARS_TYPES[c.type]))
    return df.with_columns(casts) if casts else df


def _outside_contract(rel: PurePosixPath) -> bool:
    """Files no results reader opens: Snakemake's benchmark files (``benchmarks/``) and a fine-tuned
    model's own folder (``finetune/<model>/<job>/model/``: weights, tokenizer, adapter, its metadata)."""
    parts = rel.parts
    return parts[0] == "benchmarks" or (len(parts) > 4 and parts[0] == "finetune" and parts[3] == "model")


def _results_files(root: Path) -> Iterable[PurePosixPath]:
    for p in sorted(root.rglob("*")):
        rel = PurePosixPath(p.relative_to(root).as_posix())
        if p.is_dir() or any(part.startswith(".") for part in rel.parts):
            continue  # output marks, staged folders left by a killed step, journals
        if not _outside_contract(rel):
            yield rel


def validate_results(results_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Check every file of a study's results folder: relative path -> problems (only files with problems).

    A file that no contract entry names is a problem too: nothing is written outside the contract.
    """
    root = Path(results_dir)
    out: dict[str, list[str]] = {}
    for rel in _results_files(root):
        hit = match(rel)
        problems = ["no entry of the results contract names this file"] if hit is None else \
            validate_file(root / rel, hit[0].key)
        if problems:
            out[rel.as_posix()] = problems
    return out


# -- the manifest ------------------------------------------------------------------------------------

def manifest_files(results_dir: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The files a manifest lists for the declared ``inputs`` of a step: each input, and the files beside
    it that the same workflow job wrote (same step, and the same value of every wildcard they share:
    ``coders/x.json`` goes with ``coders/x.parquet``, ``coders/y.json`` does not; every person's sheet goes
    with ``verify/sheets/manifest.json``). A step's folder is replaced whole, so none is stale."""
    root = Path(results_dir).absolute()
    chosen: dict[str, None] = {}
    for inp in inputs:
        rel = PurePosixPath(Path(inp).absolute().relative_to(root).as_posix())
        hit = match(rel)
        if hit is None:
            raise ValueError(f"{rel}: not a results file of the contract")
        step, wildcards = hit[0].step, hit[1]
        chosen[rel.as_posix()] = None
        for sib in sorted((root / rel.parent).iterdir()):
            sib_rel = rel.parent / sib.name
            h = match(sib_rel)
            same_job = h is not None and h[0].step == step and all(
                wildcards[k] == v for k, v in h[1].items() if k in wildcards)  # verify/sheets/<human>.xlsx: yes
            if sib.is_file() and same_job:
                chosen[sib_rel.as_posix()] = None
    return list(chosen)


def write_manifest(results_dir: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], *,
                   study: str, out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``manifest.json``: the files of ``inputs`` (see :func:`manifest_files`), each checked against
    the contract, with key, wildcards and sha256, and the contract entries of the keys used."""
    from llmcoder.io import file_sha256, write_json

    root = Path(results_dir)
    files, used = [], {}
    problems = {}
    for rel in manifest_files(root, inputs):
        e, wc = match(rel)  # type: ignore[misc]
        bad = validate_file(root / rel, e.key)
        if bad:
            problems[rel] = bad
        files.append({"key": e.key, "path": rel, "wildcards": wc, "sha256": file_sha256(root / rel),
                      "md5": hashlib.md5((root / rel).read_bytes()).hexdigest()})  # R checks with tools::md5sum
        used[e.key] = e.as_manifest()
    if problems:  # a writer broke the contract: a bug of llmcoder, never a user's mistake
        lines = "; ".join(f"{k}: {', '.join(v)}" for k, v in problems.items())
        raise RuntimeError(f"results files that break the results contract: {lines}")
    doc = {"contract": "llmcoder-results", "contract_version": CONTRACT_VERSION, "study": study,
           "files": files, "entries": dict(sorted(used.items()))}
    target = Path(out) if out is not None else root / MANIFEST
    write_json(doc, target)
    return target


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a manifest, refusing one of another contract version (InputError naming the file)."""
    from llmcoder.errors import InputError

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(str(p), "no manifest here", fix="run the workflow for this study (snakemake) first") from None
    except (OSError, ValueError) as e:
        raise InputError(str(p), f"not a readable manifest ({e})", fix="run the workflow again to rewrite it") from None
    if doc.get("contract") != "llmcoder-results" or doc.get("contract_version") != CONTRACT_VERSION:
        raise InputError(str(p), f"written under results contract version {doc.get('contract_version')!r}, this "
                                 f"llmcoder reads version {CONTRACT_VERSION}", fix="run the workflow again")
    return doc
