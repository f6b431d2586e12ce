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

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
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
        max_doc_tokens: Documents longer than this many tokens are truncated.
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
    max_doc_tokens: int = field(default=512, metadata={"help": "truncate longer documents"})
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
        problems: list[Problem] = []

        def bad(name: str, msg: str) -> None:
            problems.append(Problem(msg, column=name))

        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            bad("name", f"'{self.name}' must be letters, digits, '_', '.', '-' (no spaces)")
        if not isinstance(self.model, str) or not self.model.strip():
            bad("model", "is empty; name a model (e.g. smollm2-135m)")
        choices = {"backend": ("local", "http"), "options": ("letters", "numbers", "ids", "names"),
                   "dtype": ("auto", "float32", "bfloat16", "float16"),
                   "http_response_format": ("json_schema", "json_object")}
        for k, allowed in choices.items():
            if getattr(self, k) not in allowed:
                bad(k, f"is '{getattr(self, k)}'; it must be one of {', '.join(allowed)}")
        if self.template and self.template.count("{text}") != 1:
            bad("template", "must contain the placeholder {text} exactly once")
        if not 0.0 < float(self.multi_threshold) < 1.0:
            bad("multi_threshold", f"is {self.multi_threshold}; it must be between 0 and 1 (exclusive)")
        for k in ("batch_size", "max_doc_tokens", "http_concurrency", "http_max_tokens"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(k, f"is {v!r}; it must be a whole number >= 1")
        for k in ("few_shot", "http_max_retries", "http_top_logprobs", "threads"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(k, f"is {v!r}; it must be a whole number >= 0")
        for k in ("http_timeout_s", "http_backoff_s", "http_backoff_max_s", "temperature",
                  "price_input_per_1m", "price_output_per_1m"):
            v = getattr(self, k)
            if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
                bad(k, f"is {v!r}; it must be a number >= 0")
        if self.few_shot and not self.few_shot_source:
            bad("few_shot_source", f"few_shot is {self.few_shot} but no few_shot_source is given "
                "(a labelled training corpus, or 'codebook' for the codebook's own examples)")
        if not isinstance(self.calibrate, bool):
            bad("calibrate", f"is {self.calibrate!r}; it must be true or false")
        elif self.calibrate and self.backend != "local":
            bad("calibrate", "is only available with the local backend (it needs every label's probability)")
        if self.http_api_key_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$",
                                                              str(self.http_api_key_env)):
            bad("http_api_key_env", "must be the NAME of an environment variable (not the key itself)")
        if self.backend == "http" and not str(self.http_base_url).startswith(("http://", "https://")):
            bad("http_base_url", f"'{self.http_base_url}' must start with http:// or https://")
        if problems:
            raise InputError(self.source, "invalid coder config", problems,
                             fix="correct the fields listed above (see CoderConfig for each field's meaning)")

    # -- identity ------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """What the coder id hashes: every field that changes the answers."""
        d = asdict(self)
        for k in (*RUNTIME_FIELDS, "source", "name"):
            d.pop(k, None)
        if not self.calibrate:  # added later: off keeps the ids of older coders
            d.pop("calibrate")
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
    def from_dict(cls, data: Any, *, source: str = "<memory>") -> CoderConfig:
        """Build from parsed YAML; unknown keys are rejected with the list of known ones."""
        if not isinstance(data, dict):
            raise InputError(source, "a coder config must be a mapping of field: value",
                             fix="see workflow/coders/smollm2.yaml")
        known = [f.name for f in fields(cls) if f.name != "source"]
        unknown = sorted(set(data) - set(known))
        problems = [Problem(f"unknown key '{k}'", column=k) for k in unknown]
        missing = [k for k in ("name", "model") if k not in data]
        problems += [Problem("is required", column=k) for k in missing]
        if problems:
            raise InputError(source, "invalid coder config", problems,
                             fix=f"known keys: {', '.join(known)}")
        return cls(**data, source=source)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> CoderConfig:
        """Read and validate a coder YAML file."""
        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), "coder config file not found", fix="check the --coder path")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise InputError(str(p), f"not valid YAML: {e}", fix="check indentation and quoting") from e
        return cls.from_dict(data, source=str(p))
