"""A study's configuration: read config.yaml, check it against the schema, fill the defaults.

The schema (``llmcoder/schemas/config.schema.yaml``, inside the package so that an installed llmcoder
works from any folder; ``workflow/schemas/config.schema.yaml`` links to it) is the single source of
every key, its description and its default; the code holds no defaults of its own for config keys.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from llmcoder.errors import InputError, Problem

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/name``)."""
    if "$ref" not in schema:
        return schema
    target: Any = root
    for part in schema["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return target


def _fill_defaults(node: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """Insert schema defaults into ``node`` recursively (properties and additionalProperties)."""
    schema = _resolve(schema, root)
    if not isinstance(node, dict):
        return node
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in node and "default" in sub:
            node[key] = deepcopy(sub["default"])
        if key in node:
            node[key] = _fill_defaults(node[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in node:
            if key not in schema.get("properties", {}):
                node[key] = _fill_defaults(node[key], extra, root)
    return node


def with_defaults(block: str, settings: dict[str, Any], *,
                  schema_path: str | os.PathLike[str] = SCHEMA_PATH) -> dict[str, Any]:
    """A study's settings block (``verify``, ``split``, ...) given in part, completed with the schema's
    defaults: the one place defaults come from when a step is called without a validated config."""
    root = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    if block not in root["$defs"]:
        raise KeyError(f"{block!r} is not a block of a study; known: {', '.join(sorted(root['$defs']))}")
    return _fill_defaults(deepcopy(dict(settings)), root["$defs"][block], root)


def _path_of(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def validate_config(config: dict[str, Any], *, source: str = "config.yaml",
                    schema_path: str | os.PathLike[str] = SCHEMA_PATH) -> dict[str, Any]:
    """Check a config against the schema and return a copy with every default filled in.

    Raises :class:`InputError` naming each offending key (``studies.demo.split.train``) and why.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = []
        for e in errors:
            msg = e.message
            if e.validator == "additionalProperties":
                allowed = sorted(e.schema.get("properties", {}))
                extra = sorted(set(e.instance) - set(allowed)) if isinstance(e.instance, dict) else []
                near = [f"'{m[0]}' (not '{k}')" for k in extra
                        if (m := difflib.get_close_matches(str(k), allowed, n=1))]
                msg += f" (allowed keys: {', '.join(allowed)})" + (f"; did you mean {', '.join(near)}?" if near else "")
            problems.append(Problem(f"{_path_of(e)}: {msg}"))
        raise InputError(source, "invalid configuration", problems,
                         fix=f"correct the keys above; every key is described in {schema_path}")
    filled = _fill_defaults(deepcopy(config), schema, schema)
    for name, study in filled.get("studies", {}).items():
        split = study.get("split", {})
        for model, sizes in study.get("finetune", {}).get("sizes", {}).items():
            extra = sorted(set(sizes) - set(split.get("sizes", [])))
            if extra:
                raise InputError(source, "invalid configuration",
                                 [Problem(f"studies.{name}.finetune.sizes.{model}: {extra} not in split.sizes "
                                          f"{split.get('sizes')}")],
                                 fix="a model's training sizes must be among the split's nested sizes")
        verify = study.get("verify", {})
        if verify.get("mode") == "import" and not verify.get("decisions"):
            raise InputError(source, "invalid configuration",
                             [Problem(f"studies.{name}.verify: mode is 'import' but verify.decisions is not set")],
                             fix="set verify.decisions to the file of the verification done elsewhere")
        total = split.get("train", 0) + split.get("dev", 0) + split.get("test", 0)
        if abs(total - 1) > 1e-9:
            raise InputError(source, "invalid configuration",
                             [Problem(f"studies.{name}.split: train + dev + test = {total:g}, not 1")],
                             fix="make the three shares sum to 1")
    return filled


#: Where a project keeps the workflow's config (the Snakemake workflow catalog's layout).
CONFIG_PATH = Path("config") / "config.yaml"


def default_config_path() -> Path:
    """``config/config.yaml`` of the current folder; an older project's top-level ``config.yaml`` when only
    that one exists."""
    legacy = Path("config.yaml")
    return legacy if not CONFIG_PATH.is_file() and legacy.is_file() else CONFIG_PATH


def project_folder(config_path: str | os.PathLike[str]) -> Path:
    """The folder a config's relative paths start from (where Snakemake runs): the one holding ``config/``
    for ``config/config.yaml``, else the config's own folder."""
    here = Path(config_path).resolve().parent
    return here.parent if here.name == "config" else here


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read config.yaml, validate it and fill defaults."""
    from llmcoder.codebook import yaml_error

    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), "is a folder, not a config file", fix=f"pass --config {p / 'config.yaml'}")
    if not p.is_file():
        raise InputError(str(p), "config file not found", fix="pass --config or run from the project folder")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(str(p), f"not UTF-8 text (byte {e.start})", fix="save the config as UTF-8") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise yaml_error(p, e, text) from e
    if data is None:
        raise InputError(str(p), "the config file is empty",
                         fix="define at least one study under 'studies:' (see the project's config.yaml)")
    if not isinstance(data, dict):
        raise InputError(str(p), f"the config must be a mapping of keys (results, run, studies), not a "
                         f"{type(data).__name__}", fix="see the project's config.yaml for the layout")
    return validate_config(data, source=str(p))


def study_config(config: dict[str, Any], study: str, source: str = "config.yaml") -> dict[str, Any]:
    """The block of one study, with a clear error for an unknown name (``source``: the config's path)."""
    studies = config.get("studies", {})
    if study not in studies:
        raise InputError(str(source), f"unknown study '{study}'",
                         fix=f"pass --study with one of: {', '.join(studies) or '(none defined under studies:)'}")
    return studies[study]


def active_studies(config: dict[str, Any]) -> Iterator[str]:
    """Studies built by default: those listed under ``run``, else all."""
    yield from (config.get("run") or list(config.get("studies", {})))


def prepare_study_corpus(config: dict[str, Any], study: str, out: str | os.PathLike[str],
                         source: str = "config.yaml") -> str:
    """Validate a study's raw corpus against its codebook, write the canonical Parquet; return a summary.

    Nothing is written when the corpus or the codebook is invalid, or when ``out`` is the raw corpus itself.
    """
    from llmcoder.stages import canonical_corpus

    block = study_config(config, study, source)
    return canonical_corpus(block["corpus"], block["codebook"], out, study=study)
