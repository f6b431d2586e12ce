"""The coder configuration: model + prompt template + settings, read from a small YAML file.

A coder's id is stable: ``<name>-<8 hex>`` where the hex digits are the start of the SHA-256 of the
canonical JSON of everything that changes its answers (model, prompt template, settings). Changing
the prompt makes a new coder; changing only how fast it runs (batch size, concurrency, retries,
prices) does not.

Example YAML::

    name: smollm2
    model: smollm2-135m
    backend: local
    options: letters
    batch_size: 16
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from llmcoder.errors import InputError, Problem

Backend = Literal["local", "http"]
Options = Literal["letters", "numbers", "ids", "names"]
ResponseFormat = Literal["json_schema", "json_object"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

#: Fields that change how fast or where a coder runs, not what it answers: left out of the coder id.
RUNTIME_FIELDS = ("batch_size", "device", "threads", "http_concurrency", "http_timeout_s", "http_max_retries",
                  "http_backoff_s", "http_backoff_max_s", "http_api_key_env", "http_base_url",
                  "price_input_per_1m", "price_output_per_1m", "tokenizer")


@dataclass
class CoderConfig:
    """One LLM coder.

    Args:
        name: Short name, the first part of the coder id (letters, digits, ``_ . -``).
        model: Built-in alias (``smollm2-135m``, ``gemma3-270m``), local path, or HF id (local
            backend); the served model name (HTTP backend).
        backend: ``local`` (transformers, label scoring from log-probabilities) or ``http``
            (OpenAI-compatible server, JSON constrained to the codebook).
        options: How the model names a label: ``letters`` (A, B, C...), ``numbers`` (1, 2, 3...),
            ``ids`` (the codebook's label ids) or ``names`` (full label names, scored as multi-token
            continuations with length normalisation).
        system: System message (chat models).
        template: Prompt template; placeholders ``{instructions}``, ``{labels}``, ``{examples}``,
            ``{text}`` (required, exactly once, the document).
        answer_prefix: Text the answer starts with (written after the prompt, before the label).
        label_format: How one label line is written; placeholders ``{code}``, ``{name}``,
            ``{definition}``, ``{id}``.
        use_chat_template: Wrap the prompt in the tokenizer's chat template (instruction models).
        few_shot: Number of worked examples drawn from ``few_shot_source``.
        few_shot_source: ``codebook`` (the codebook's own label examples, taken one label at a time
            in turn, then shuffled with ``few_shot_seed``), or a labelled canonical corpus
            (Parquet/CSV with doc_id, text, label) to draw them from: training data only, never
            the documents being coded.
        few_shot_seed: Seed of the draw.
        calibrate: Contextual calibration (Zhao et al. 2021): divide each document's label
            probabilities by the label prior of content-free inputs (``N/A``, empty, ``[MASK]``)
            under the same prompt and renormalise; local backend only. Part of the coder id when on.
        multi_threshold: Multi-label: a label is chosen when its probability is at least this.
        max_doc_tokens: The most tokens of a document the coder reads at once.
        long_docs: What happens to a longer document: ``truncate`` (the first ``max_doc_tokens``;
            counted and reported) or ``chunk`` (overlapping windows of ``max_doc_tokens``, each
            coded, probabilities combined by ``chunk_aggregate``; see :mod:`llmcoder.chunking`).
        chunk_overlap: Tokens shared by consecutive windows (``chunk`` only; below ``max_doc_tokens``).
        chunk_aggregate: ``mean``, ``max`` or ``first``: how the windows' probabilities become the
            document's (``chunk`` only).
        batch_size: Documents per batch (local) or per journal checkpoint (HTTP).
        device: ``auto``, ``cpu`` or ``cuda[:n]``.
        threads: CPU threads for torch (0: torch's default); set it to the job's cores.
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        seed: Seed for label-order rotations.
        http_base_url: OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8000/v1``.
        http_api_key_env: Name of the environment variable holding the API key (never the key).
        http_concurrency: Requests in flight at once.
        http_timeout_s: Per-request timeout in seconds.
        http_max_retries: Retries on 429, 5xx, connection errors and timeouts.
        http_backoff_s: First back-off delay; doubles each retry.
        http_backoff_max_s: Longest back-off delay.
        http_response_format: ``json_schema`` (OpenAI, vLLM, SGLang, Ollama, llama.cpp) or
            ``json_object`` (llama-cpp-python's ``{"type": "json_object", "schema": ...}``).
        http_logprobs: Ask for token log-probabilities to turn the answer into a distribution.
        http_top_logprobs: Alternatives per token when ``http_logprobs`` is on.
        http_max_tokens: Longest answer in tokens.
        temperature: Sampling temperature of the HTTP backend (0: greedy).
        tokenizer: Local model (alias or path) whose tokenizer counts tokens for ``--estimate`` of
            an HTTP coder; characters / 4 when empty.
        price_input_per_1m: Price per million input tokens (``--estimate``; 0 for local models).
        price_output_per_1m: Price per million output tokens.
    """

    name: str = field(metadata={"help": "short name, the first part of the coder id"})
    model: str = field(metadata={"help": "model alias, local path, HF id, or served model name"})
    backend: Backend = field(default="local", metadata={"help": "local (transformers) or http"})
    options: Options = field(default="letters", metadata={"help": "letters, numbers, ids or names"})
    system: str = field(default="You are a careful research assistant who codes texts for social "
                                "science research. Follow the codebook exactly.",
                        metadata={"help": "system message"})
    template: str = field(default="", metadata={"help": "prompt template; empty: the built-in one"})
    answer_prefix: str = field(default="Answer:", metadata={"help": "text the answer starts with"})
    label_format: str = field(default="{code}. {name}{definition}",
                              metadata={"help": "one label line: {code} {name} {definition} {id}"})
    use_chat_template: bool = field(default=True, metadata={"help": "wrap in the chat template"})
    few_shot: int = field(default=0, metadata={"help": "number of worked examples"})
    few_shot_source: str | None = field(default=None, metadata={"help": "labelled corpus for examples"})
    few_shot_seed: int = field(default=0, metadata={"help": "seed of the example draw"})
    calibrate: bool = field(default=False, metadata={"help": "contextual calibration (content-free prior)"})
    multi_threshold: float = field(default=0.5, metadata={"help": "multi-label decision threshold"})
    max_doc_tokens: int = field(default=512, metadata={"help": "most document tokens read at once"})
    long_docs: Literal["truncate", "chunk"] = field(
        default="truncate", metadata={"help": "longer documents: truncate or chunk (overlapping windows)"})
    chunk_overlap: int = field(default=64, metadata={"help": "tokens shared by consecutive windows"})
    chunk_aggregate: Literal["mean", "max", "first"] = field(
        default="mean", metadata={"help": "windows' probabilities combined by mean, max or first"})
    batch_size: int = field(default=16, metadata={"help": "documents per batch"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda[:n]"})
    threads: int = field(default=0, metadata={"help": "CPU threads for torch (0: default)"})
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    seed: int = field(default=0, metadata={"help": "seed of label-order rotations"})
    http_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "server base URL"})
    http_api_key_env: str | None = field(default=None, metadata={"help": "env var with the API key"})
    http_concurrency: int = field(default=8, metadata={"help": "requests in flight"})
    http_timeout_s: float = field(default=60.0, metadata={"help": "per-request timeout (s)"})
    http_max_retries: int = field(default=6, metadata={"help": "retries on 429/5xx/connection errors"})
    http_backoff_s: float = field(default=0.5, metadata={"help": "first back-off delay (s)"})
    http_backoff_max_s: float = field(default=10.0, metadata={"help": "longest back-off delay (s)"})
    http_response_format: ResponseFormat = field(default="json_schema",
                                                 metadata={"help": "json_schema or json_object"})
    http_logprobs: bool = field(default=True, metadata={"help": "ask for token log-probabilities"})
    http_top_logprobs: int = field(default=20, metadata={"help": "alternatives per token"})
    http_max_tokens: int = field(default=64, metadata={"help": "longest answer in tokens"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (http)"})
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer for --estimate (http)"})
    price_input_per_1m: float = field(default=0.0, metadata={"help": "price per 1M input tokens"})
    price_output_per_1m: float = field(default=0.0, metadata={"help": "price per 1M output tokens"})
    source: str = field(default="<memory>", compare=False, repr=False,
                        metadata={"help": "where the config was read from (not part of the id)"})

    def __post_init__(self) -> None:
        problems = check_values(asdict(self), {})
        if problems:
            raise InputError(self.source, "invalid coder config", problems, fix=CONFIG_FIX)

    def where(self, key: str) -> str:
        """How a message names one key: ``line 4: key 'model'`` (with the line when read from YAML)."""
        return _where(key, getattr(self, "_lines", {}))

    # -- identity ------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What the coder id hashes: every field that changes the answers."""
        d = asdict(self)
        for k in (*RUNTIME_FIELDS, "source", "name"):
            d.pop(k, None)
        if not self.calibrate:  # added later: off keeps the ids of older coders
            d.pop("calibrate")
        if self.long_docs == "truncate":  # likewise: truncation keeps the ids of older coders
            for k in ("long_docs", "chunk_overlap", "chunk_aggregate"):
                d.pop(k)
        if self.backend == "local":
            for k in list(d):
                if k.startswith("http_") or k == "temperature":
                    d.pop(k)
        from llmcoder.coders.prompt import DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_MULTI

        d["template"] = self.template or (DEFAULT_TEMPLATE + "\n\n" + DEFAULT_TEMPLATE_MULTI)
        return d

    @property
    def coder_id(self) -> str:
        """``<name>-<first 8 hex of sha256(canonical JSON of model + prompt + settings)>``."""
        canon = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"{self.name}-{hashlib.sha256(canon.encode('utf-8')).hexdigest()[:8]}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        return d

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<memory>", lines: dict[str, int] | None = None) -> CoderConfig:
        """Build from parsed YAML; every key is checked (unknown, missing, type, range) before anything runs.

        ``lines`` maps keys to their line in the YAML file, so that each message can point at it.
        """
        lines = lines or {}
        if not isinstance(data, dict):
            kind = "empty" if data is None else f"a {_yaml_kind(data)}, not a mapping"
            raise InputError(source, f"a coder config must be a mapping of key: value (this file is {kind})",
                             fix="write one 'key: value' per line, at least 'name:' and 'model:' "
                                 "(see config/coders/smollm2.yaml)")
        known = [f.name for f in fields(cls) if f.name != "source"]
        problems: list[Problem] = []
        unknown = [str(k) for k in data if k not in known]
        for k in unknown:
            close = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            at = f"line {lines[k]}: " if k in lines else ""
            problems.append(Problem(f"{at}unknown key '{k}'{hint}"))
        for k in ("name", "model"):
            if k not in data:
                example = "my-coder" if k == "name" else "smollm2-135m"
                problems.append(Problem(f"key '{k}' is required but missing; add a line '{k}: {example}'"))
        defaults = {f.name: f.default for f in fields(cls) if f.name != "source" and f.default is not MISSING}
        values = {**defaults, **{k: v for k, v in data.items() if k in known}}
        problems += check_values(values, lines)
        if problems:
            problems.sort(key=_line_of)
            known_keys = f"; the known keys are: {', '.join(known)}" if unknown else ""
            raise InputError(source, "invalid coder config", problems, fix=CONFIG_FIX + known_keys)
        cfg = cls(**{k: v for k, v in data.items() if k in known}, source=source)
        cfg._lines = dict(lines)  # not a field: never part of the coder id or the provenance
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> CoderConfig:
        """Read and validate a coder YAML file; a syntax error or a repeated key is reported with its line."""
        p = Path(path)
        if p.is_dir():
            raise InputError(str(p), "is a folder, not a coder config file",
                             fix="pass the coder's YAML file to --coder, e.g. config/coders/smollm2.yaml")
        if not p.is_file():
            raise InputError(str(p), "coder config file not found",
                             fix="check the --coder path (relative paths start in the folder you run llmcoder from)")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(str(p), f"not UTF-8 text (byte {e.start})", fix="save the file as UTF-8") from e
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(str(p), f"not valid YAML{_yaml_where(e)}", fix=_yaml_fix(e)) from e
        lines, repeated = _key_lines(node)
        if repeated:
            raise InputError(str(p), "a key is given more than once (YAML would silently keep the last)",
                             [Problem(f"line {ln}: key '{k}' again (first at line {first})")
                              for k, ln, first in repeated],
                             fix="keep one line per key and delete the others")
        return cls.from_dict(data, source=str(p), lines=lines)


#: The fix printed under an invalid coder config.
CONFIG_FIX = ("correct each key listed above (the line numbers are those of the YAML file); every key and its "
              "allowed values are described in llmcoder.coders.config.CoderConfig")

_CHOICES: dict[str, tuple[str, ...]] = {
    "backend": ("local", "http"), "options": ("letters", "numbers", "ids", "names"),
    "dtype": ("auto", "float32", "bfloat16", "float16"), "http_response_format": ("json_schema", "json_object"),
    "long_docs": ("truncate", "chunk"), "chunk_aggregate": ("mean", "max", "first")}
_TEXT = ("name", "model", "system", "template", "answer_prefix", "label_format", "device", "http_base_url")
_OPTIONAL_TEXT = ("few_shot_source", "http_api_key_env", "tokenizer")
_BOOL = ("use_chat_template", "calibrate", "http_logprobs")
#: Whole-number keys and their smallest allowed value.
_INT_MIN = {"batch_size": 1, "max_doc_tokens": 1, "http_concurrency": 1, "http_max_tokens": 1, "few_shot": 0,
            "few_shot_seed": 0, "seed": 0, "threads": 0, "http_max_retries": 0, "http_top_logprobs": 0,
            "chunk_overlap": 0}
#: Number keys and their smallest allowed value (``>`` when the flag is true, ``>=`` otherwise).
_NUM_MIN = {"http_timeout_s": (0.0, True), "http_backoff_s": (0.0, False), "http_backoff_max_s": (0.0, False),
            "temperature": (0.0, False), "price_input_per_1m": (0.0, False), "price_output_per_1m": (0.0, False)}
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
#: The placeholder of ``label_format`` that shows the model the code it must answer with, per ``options``.
_CODE_PLACEHOLDERS = {"letters": ("{code}",), "numbers": ("{code}",), "ids": ("{code}", "{id}"),
                      "names": ("{code}", "{name}")}


def _where(key: str, lines: dict[str, int]) -> str:
    return f"line {lines[key]}: key '{key}'" if key in lines else f"key '{key}'"


def _line_of(p: Problem) -> float:
    """Sort key of a problem: its YAML line (problems without one last)."""
    m = re.match(r"line (\d+):", p.message)
    return int(m.group(1)) if m else math.inf


def _yaml_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "mapping"
    return type(v).__name__


def _show(v: Any) -> str:
    """A value as the user wrote it in YAML: ``'high'``, ``true``, ``16``, ``[1, 2]``, or ``empty``."""
    if v is None:
        return "empty"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return repr(v if len(v) <= 60 else v[:57] + "...")
    text = json.dumps(v, default=str) if isinstance(v, list | dict) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _looks_numeric(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def check_values(values: dict[str, Any], lines: dict[str, int]) -> list[Problem]:
    """Every problem with the values of a coder config, each naming its key, the bad value and what is allowed.

    Keys absent from ``values`` are skipped (a missing required key is reported by the caller).
    """
    problems: list[Problem] = []
    ok: set[str] = set()

    def bad(key: str, msg: str) -> None:
        problems.append(Problem(f"{_where(key, lines)}: {msg}"))

    for k in _TEXT:
        if k not in values:
            continue
        v = values.get(k)
        if isinstance(v, str):
            ok.add(k)
        elif v is None:
            bad(k, f"has no value; give one, write {k}: \"\" for an empty text, or delete the line to use "
                   "the default")
        else:
            bad(k, f"{_show(v)} is a {_yaml_kind(v)}, not text; put it in quotes")
    for k in _OPTIONAL_TEXT:
        if k not in values:
            continue
        v = values.get(k)
        if v is None or isinstance(v, str):
            ok.add(k)
        else:
            bad(k, f"{_show(v)} is a {_yaml_kind(v)}, not text; put it in quotes")
    for k in _BOOL:
        if k not in values:
            continue
        v = values.get(k)
        if isinstance(v, bool):
            ok.add(k)
        else:
            bad(k, f"{_show(v)} is not true or false; write {k}: true or {k}: false")
    for k, allowed in _CHOICES.items():
        if k not in values:
            continue
        v = values.get(k)
        if isinstance(v, str) and v in allowed:
            ok.add(k)
        else:
            close = difflib.get_close_matches(str(v), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            bad(k, f"{_show(v)} is not one of {', '.join(allowed)}{hint}")
    for k, lo in _INT_MIN.items():
        if k not in values:
            continue
        v = values.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v >= lo:
            ok.add(k)
        elif _looks_numeric(v):
            bad(k, f"{_show(v)} is text, not a number; write it without quotes (a whole number >= {lo})")
        else:
            bad(k, f"{_show(v)} is not a whole number >= {lo}")
    for k, (lo, strict) in _NUM_MIN.items():
        if k not in values:
            continue
        v = values.get(k)
        if _is_number(v) and (v > lo if strict else v >= lo):
            ok.add(k)
        elif _looks_numeric(v):
            bad(k, f"{_show(v)} is text, not a number; write it as a plain number such as 0.001 "
                   "(YAML reads 1e-3 as text: write 1.0e-3)")
        else:
            bad(k, f"{_show(v)} is not a number {'>' if strict else '>='} {lo:g}")
    v = values.get("multi_threshold", 0.5)
    if not (_is_number(v) and 0.0 < v < 1.0):
        kind = "text, not a number; write it without quotes, e.g. 0.5" if _looks_numeric(v) else \
            "not a number between 0 and 1 (exclusive), e.g. 0.5"
        bad("multi_threshold", f"{_show(v)} is {kind}")

    if "name" in ok and not _NAME_RE.match(values["name"]):
        bad("name", f"{_show(values['name'])} must be letters, digits, '_', '.', '-' (no spaces), "
                    "starting with a letter or digit")
    if ("chunk_overlap" in ok and "max_doc_tokens" in ok and values.get("long_docs") == "chunk"
            and values["chunk_overlap"] >= values["max_doc_tokens"]):
        bad("chunk_overlap", f"{values['chunk_overlap']} is not below max_doc_tokens ({values['max_doc_tokens']}); "
                             "windows would never advance: use an overlap of about an eighth of max_doc_tokens")
    if "model" in ok and not values["model"].strip():
        bad("model", "is empty; name a model (e.g. smollm2-135m)")
    if "device" in ok and not _DEVICE_RE.match(values["device"]):
        bad("device", f"{_show(values['device'])} is not one of auto, cpu, cuda, cuda:<n>, mps")
    if "template" in ok and values["template"] and values["template"].count("{text}") != 1:
        n = values["template"].count("{text}")
        bad("template", f"must contain the placeholder {{text}} (where the document goes) exactly once; "
                        f"it has it {n} times")
    if {"label_format", "options"} <= ok:
        need = _CODE_PLACEHOLDERS[values["options"]]
        if not any(p in values["label_format"] for p in need):
            bad("label_format", f"{_show(values['label_format'])} never shows the model the code it must "
                                f"answer with; include {' or '.join(need)}")
    if {"few_shot", "few_shot_source"} <= ok and values["few_shot"] and not values["few_shot_source"]:
        bad("few_shot_source", f"few_shot is {values['few_shot']} but no few_shot_source is given "
                               "(a labelled training corpus, or 'codebook' for the codebook's own examples)")
    if {"calibrate", "backend"} <= ok and values["calibrate"] and values["backend"] != "local":
        bad("calibrate", "is only available with the local backend (it needs every label's probability); "
                         "set calibrate: false")
    key_env = values.get("http_api_key_env")
    if "http_api_key_env" in ok and key_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key_env):
        bad("http_api_key_env", "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                                "never the key itself")
    if {"backend", "http_base_url"} <= ok and values["backend"] == "http" \
            and not values["http_base_url"].startswith(("http://", "https://")):
        bad("http_base_url", f"{_show(values['http_base_url'])} must start with http:// or https:// "
                             "(e.g. http://127.0.0.1:8000/v1)")
    return problems


def _key_lines(node: Any) -> tuple[dict[str, int], list[tuple[str, int, int]]]:
    """Line (1-based) of each top-level key of a composed YAML document, and the keys given twice."""
    lines: dict[str, int] = {}
    repeated: list[tuple[str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            line = key.start_mark.line + 1
            if key.value in lines:
                repeated.append((key.value, line, lines[key.value]))
            else:
                lines[key.value] = line
    return lines, repeated


def _yaml_where(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{at}: {what}" if what else at


def _yaml_fix(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    near = f" near line {mark.line + 1}" if mark is not None else ""
    return (f"check the indentation and quoting{near}: one 'key: value' per line, and quote a value that "
            "contains ': ', ' #', or starts with a special character ({, [, *, &, !, %, @)")
