"""LoRA / QLoRA fine-tuning of a small causal LM that codes by constrained label scoring.

Training pairs are rendered with the LLM coders' own prompt (``llmcoder.coders.prompt``): the
instruction is the codebook prompt with the document, the response is what the coders' scorer
reads: the gold label's code (single-label, e.g. ``" C"``) or ``" yes"``/``" no"`` after each
label's question (multi-label). The loss covers the response tokens only. Prediction calls the
coders' :func:`llmcoder.coders.scoring.score_labels` on the adapted model: the probability of every
label, never free text.

The base model is loaded by :func:`llmcoder.coders.models.load_causal_lm` (offline, GGUF
de-quantised once into a safetensors cache). QLoRA loads the same weights in 4-bit NF4 with
bfloat16 compute (CUDA and bitsandbytes only). The artifact keeps the adapter alone (a few MB) with
the base model's identity and hash, checked again when the adapter is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook, codebook_from_dict
from llmcoder.errors import InputError
from llmcoder.finetune.common import (
    Meta,
    evaluate,
    long_docs_settings,
    resolve_device,
    seed_everything,
    targets,
    tune_thresholds,
)
from llmcoder.finetune.config import FinetuneConfig
from llmcoder.io import file_sha256

log = logging.getLogger(__name__)
ADAPTER_DIR = "adapter"


@contextlib.contextmanager
def _peft_own_deprecation() -> Iterator[None]:
    """Hide the one deprecation peft causes on its own behalf: peft (0.21) reads the transformers 5
    alias ``model.is_gradient_checkpointing`` when it wraps or loads an adapter. Every other
    deprecation warning, above all one caused by our own arguments, still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                                category=FutureWarning)
        yield


# -- base model, prompt ------------------------------------------------------------------------------

def _coder_config(config: FinetuneConfig) -> Any:
    """The LLM coder config whose prompt is used (its model replaced by the fine-tuned base)."""
    from llmcoder.coders.config import CoderConfig

    if config.coder:
        cc = CoderConfig.from_yaml(config.coder)
        d = {f.name: getattr(cc, f.name) for f in fields(cc) if f.name != "source"}
        d.update(model=config.model)
        return CoderConfig(**d)
    name = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in config.name) or "lora"
    return CoderConfig(name=name, model=config.model, max_doc_tokens=config.max_length)


def _weights_sha256(path: Path) -> str:
    """SHA-256 over the weight files of a model directory (names and bytes, sorted)."""
    import hashlib

    h = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".gguf"))
    for p in files:
        h.update(p.name.encode() + b"\0" + file_sha256(p).encode())
    return h.hexdigest()


def base_identity(spec: str, info: dict[str, Any]) -> dict[str, Any]:
    """What the adapter was trained on: the model spec, its kind and a hash of its weights."""
    from llmcoder.coders.models import resolve_model

    where = resolve_model(spec)
    ident: dict[str, Any] = {"model": spec, "kind": where["kind"],
                             "architecture": info.get("architecture")}
    if where["kind"] == "gguf":
        ident["sha256"] = info.get("gguf_sha256") or file_sha256(where["path"])
        ident["hash_of"] = "gguf file"
    elif where.get("local"):
        ident["sha256"] = _weights_sha256(Path(where["id"]))
        ident["hash_of"] = "weight files"
    else:
        ident["revision"] = info.get("revision")
        ident["hash_of"] = "hub revision"
    return ident


def load_base(config_model: str, *, qlora: bool, device: str) -> tuple[Any, Any, dict[str, Any]]:
    """The base causal LM: full precision via the coders' loader, or 4-bit NF4 (QLoRA, CUDA)."""
    from llmcoder.coders.models import load_causal_lm

    if not qlora:
        return load_causal_lm(config_model, device=device)
    import torch

    if not torch.cuda.is_available():
        raise InputError("finetune config", "lora.qlora needs a CUDA GPU; torch sees none",
                         fix="set lora.qlora: false (plain LoRA) or run on a GPU machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise InputError("finetune config", "lora.qlora needs the bitsandbytes package",
                         fix="pip install bitsandbytes (on the GPU machine)") from e
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from llmcoder.coders.models import convert_gguf, resolve_model
    from llmcoder.finetune.models import offline

    where = resolve_model(config_model)
    info: dict[str, Any] = {"model": config_model, "kind": where["kind"]}
    if where["kind"] == "gguf":
        sha = file_sha256(where["path"])
        path = str(convert_gguf(where["path"], sha256=sha))
        info["gguf_sha256"] = sha
    else:
        path = where["id"]
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    with offline():
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=bnb, device_map={"": 0},
                                                     dtype=torch.bfloat16, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    info.update(device="cuda", dtype="nf4+bfloat16", architecture=type(model).__name__,
                revision=getattr(model.config, "_commit_hash", None))
    return model, tok, info


# -- supervised pairs --------------------------------------------------------------------------------

def sft_examples(scorer: Any, df: pl.DataFrame, labels: Sequence[str], task: str) -> list[tuple[list[int], int]]:
    """(token ids, response length) pairs in the scorer's own tokenisation.

    Single-label: ``prefix + document + suffix + code of the gold label`` (response: the code's
    tokens). Multi-label: per document and label, ``prefix + document + suffix + question`` then
    ``yes`` or ``no`` (response: that one token).
    """
    enc = scorer.enc
    docs = scorer.encode(df["text"].to_list())
    y = targets(df, labels, task, where="training data")
    out: list[tuple[list[int], int]] = []
    for i, d in enumerate(docs):
        head = enc.prefix + d
        if task == "single":
            cont = enc.continuations[int(y[i])]
            out.append((head + cont, len(cont)))
        else:
            for k, cont in enumerate(enc.continuations):
                ans = enc.yes if y[i, k] > 0.5 else enc.no
                out.append((head + cont + [ans], 1))
    return out


def _batch(examples: Sequence[tuple[list[int], int]], pad_id: int, device: str) -> tuple[Any, ...]:
    """Left-padded ids, mask, positions and the targets of the last ``r`` positions."""
    import torch

    B, L = len(examples), max(len(s) for s, _ in examples)
    r = max(n for _, n in examples)
    ids = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.long)
    tgt = torch.full((B, r), -100, dtype=torch.long)
    for i, (s, n) in enumerate(examples):
        ids[i, L - len(s):] = torch.tensor(s)
        mask[i, L - len(s):] = 1
        tgt[i, r - n:] = torch.tensor(s[len(s) - n:])
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device), tgt.to(device), r


def _loss(model: Any, batch: tuple[Any, ...]) -> Any:
    """Mean cross-entropy of the response tokens, every example run whole (the reference)."""
    import torch

    ids, mask, pos, tgt, r = batch
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                   logits_to_keep=r + 1).logits[:, :-1, :]
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                             ignore_index=-100)


def _shared_prefix_loss(model: Any, prefix: Sequence[int], examples: Sequence[tuple[list[int], int]],
                        pad_id: int, device: str) -> Any:
    """The loss of :func:`_loss`, with the prompt prefix that every example shares run once per batch.

    The prefix (the codebook prompt: most of each example's tokens) goes through the model once, with
    gradients, and its key/value cache is repeated for every row; the rest of each example follows it,
    left-padded after the prefix, with position ids that continue the prefix's without gaps (as the
    scorer does). Every token sees what it sees in the whole example and the gradient flows back through
    the repeated cache into the one prefix pass, so loss and gradients equal :func:`_loss`'s up to float
    rounding (tests/test_finetune_lora.py), for a fraction of the work.
    """
    import torch

    from llmcoder.coders.scoring import _select_rows, cache_kwarg, output_cache

    P = len(prefix)
    if any(list(s[:P]) != list(prefix) or len(s) - P < n + 1 for s, n in examples):
        return _loss(model, _batch(examples, pad_id, device))  # nothing after the prefix to predict from
    ids, dmask, _, tgt, r = _batch([(s[P:], n) for s, n in examples], pad_id, device)
    B = ids.shape[0]
    head = model(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True, logits_to_keep=1)
    cache = _select_rows(output_cache(head), torch.zeros(B, dtype=torch.long, device=device), inplace=True)
    mask = torch.cat([torch.ones((B, P), dtype=torch.long, device=device), dmask], 1)
    pos = P + (dmask.cumsum(1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=r + 1,
                   **{cache_kwarg(model): cache}).logits[:, :-1, :]
    return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                             ignore_index=-100)


# -- training ----------------------------------------------------------------------------------------

def train_lora(config: FinetuneConfig, train_df: pl.DataFrame, dev_df: pl.DataFrame, out_dir: Path, *,
               labels: list[str], task: str, codebook: Codebook | None) -> Meta:
    """Train a LoRA adapter on (prompt, label) pairs; write ``out_dir/adapter``; return the metadata."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import get_linear_schedule_with_warmup

    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer, score_labels

    if codebook is None:
        raise InputError("finetune config", "kind 'lora' needs a codebook", fix="set codebook: in the config")
    if list(labels) != codebook.ids:
        raise InputError("finetune config", "the label set differs from the codebook's",
                         fix="for kind 'lora' the labels are the codebook's, in its order")
    device = resolve_device(config.device)
    threads = torch.get_num_threads()
    det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        seed_everything(config.seed, deterministic=config.deterministic)
        base, tok, info = load_base(config.model, qlora=config.lora.qlora, device=device)
        ident = base_identity(config.model, info)
        coder = _coder_config(config)
        prompt = build_label_prompt(coder, codebook, tok)
        scorer = LabelScorer(base, tok, prompt, max_doc_tokens=config.max_length)
        examples = sft_examples(scorer, train_df, labels, task)
        spec = config.lora
        peft_cfg = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                              target_modules=list(spec.target_modules), task_type="CAUSAL_LM", bias="none")
        with _peft_own_deprecation():
            model = get_peft_model(base, peft_cfg)
        n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

        gen = torch.Generator().manual_seed(config.seed)
        steps_per_epoch = -(-len(examples) // (config.batch_size * config.grad_accum))
        total = steps_per_epoch * config.epochs
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                weight_decay=config.weight_decay)
        sched = get_linear_schedule_with_warmup(opt, int(config.warmup_ratio * total), max(total, 1))
        y_dev = targets(dev_df, labels, task, where="dev data") if dev_df.height else None
        best: dict[str, Any] = {"score": -1.0, "state": None, "epoch": 0, "metrics": {}, "thr": None}
        history: list[dict[str, Any]] = []
        stale = 0
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(len(examples), generator=gen).tolist()
            running, n_seen = 0.0, 0
            chunks = [perm[i:i + config.batch_size] for i in range(0, len(perm), config.batch_size)]
            for step, idx in enumerate(chunks, start=1):
                loss = _shared_prefix_loss(model, scorer.enc.prefix, [examples[i] for i in idx], scorer.pad_id,
                                           device)
                (loss / config.grad_accum).backward()
                running += loss.item() * len(idx)
                n_seen += len(idx)
                if step % config.grad_accum == 0 or step == len(chunks):
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
                    opt.step()
                    sched.step()
                    opt.zero_grad(set_to_none=True)
            model.eval()
            row: dict[str, Any] = {"epoch": epoch, "train_loss": running / max(n_seen, 1),
                                   "seconds": round(time.perf_counter() - t0, 2)}
            if y_dev is not None:
                p_dev = score_labels(model, tok, prompt, dev_df["text"].to_list(), batch_size=16,
                                     max_doc_tokens=config.max_length, **long_docs_settings(config.to_dict()),
                                     single_label=task == "single")
                thr = (tune_thresholds(y_dev, p_dev, objective=config.threshold_objective)
                       if task == "multi" and config.tune_thresholds else None)
                m = evaluate(task, y_dev, p_dev, thr)
                row["dev"] = m
                score = m["macro_f1"]
            else:
                score, thr, m = float(epoch), None, {}
            history.append(row)
            log.info("epoch %d/%d: train loss %.4f, dev macro-F1 %s, %.0f s", epoch, config.epochs,
                     row["train_loss"], f"{score:.4f}" if y_dev is not None else "-", row["seconds"])
            if score > best["score"]:
                state = get_peft_model_state_dict(model)
                best = {"score": score, "epoch": epoch, "metrics": m, "thr": thr,
                        "state": {k: v.detach().to("cpu", copy=True) for k, v in state.items()}}
                stale = 0
            else:
                stale += 1
                if config.patience and stale >= config.patience:
                    break
        set_peft_model_state_dict(model, best["state"])
        model.save_pretrained(out_dir / ADAPTER_DIR, safe_serialization=True)
        thresholds = best["thr"]
        if task == "multi" and thresholds is None:
            thresholds = [0.5] * len(labels)
        return Meta(kind="lora", task=task, labels=labels, config=config.to_dict(), thresholds=thresholds,
                    dev_metrics=best["metrics"],
                    extra={"best_epoch": best["epoch"], "history": history, "device": device,
                           "base": ident, "base_info": {k: v for k, v in info.items() if k != "model"},
                           "coder": coder.to_dict(), "codebook": codebook.to_dict(),
                           "prompt_sha256": prompt.sha256(), "n_train": train_df.height,
                           "n_examples": len(examples), "trainable_params": int(n_trainable)})
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det[0], warn_only=det[1])


# -- prediction --------------------------------------------------------------------------------------

class LoraPredictor:
    """A base causal LM plus its trained adapter, scoring every label of the codebook prompt."""

    def __init__(self, artifact_dir: str | Path, meta: Meta, *, device: str = "auto",
                 precision: str = "fp32") -> None:
        from peft import PeftModel

        from llmcoder.coders.config import CoderConfig
        from llmcoder.coders.models import load_causal_lm
        from llmcoder.coders.prompt import build_label_prompt

        adapter = Path(artifact_dir) / ADAPTER_DIR
        if not (adapter / "adapter_config.json").is_file():
            raise InputError(str(adapter), "the LoRA adapter is missing", fix="train the model again")
        self.labels, self.task, self.thresholds = list(meta.labels), meta.task, meta.thresholds
        self.max_length = int(meta.config.get("max_length", 256))
        self.long_docs = long_docs_settings(meta.config)
        ident = meta.extra["base"]
        dev = resolve_device(device)
        dtype = {"fp32": "float32", "bf16": "bfloat16"}.get(precision)
        if dtype is None:
            raise InputError("predict", f"precision is '{precision}'; use fp32 or bf16")
        base, tok, info = load_causal_lm(ident["model"], device=dev, dtype=dtype)
        now = base_identity(ident["model"], info)
        if now.get("sha256") != ident.get("sha256") or now.get("revision") != ident.get("revision"):
            raise InputError(str(artifact_dir), f"the base model '{ident['model']}' is not the one the adapter "
                             "was trained on (its weights' hash differs)",
                             fix="install the same base model version, or train the adapter again")
        with _peft_own_deprecation():
            self.model = PeftModel.from_pretrained(base, str(adapter)).eval()
        self.tokenizer = tok
        self.codebook = codebook_from_dict(meta.extra["codebook"], source=str(artifact_dir))
        coder = CoderConfig.from_dict(meta.extra["coder"], source=str(artifact_dir))
        self.prompt = build_label_prompt(coder, self.codebook, tok)
        if self.prompt.sha256() != meta.extra.get("prompt_sha256"):
            raise InputError(str(artifact_dir), "the prompt renders differently from training (llmcoder or "
                             "tokenizer changed)", fix="train the adapter again with this version")

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 16) -> np.ndarray:
        from llmcoder.coders.scoring import score_labels

        if not len(texts):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        p = score_labels(self.model, self.tokenizer, self.prompt, list(texts), batch_size=min(batch_size, 16),
                         max_doc_tokens=self.max_length, **self.long_docs, single_label=self.task == "single")
        return p.astype(np.float32)
