"""The two coder backends behind one small interface used by the runner.

``prepare(order)`` builds the per-label-order state (prompt, prefix cache); ``lengths(state, texts)``
gives the sizes that fix the batches; ``code(state, texts)`` returns, for a batch, the label
probabilities (in ``order``) with token counts and latencies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmcoder.codebook import Codebook
from llmcoder.coders.config import CoderConfig


@dataclass
class BatchResult:
    probs: np.ndarray          # [B, K] in the state's label order
    n_input_tokens: list[int]
    n_output_tokens: list[int]
    latency_s: list[float]


class LocalBackend:
    """Label scoring with a local transformers model (prefix cache, length-sorted batches)."""

    def __init__(self, cfg: CoderConfig, codebook: Codebook, *, bundle: tuple[Any, Any, dict] | None = None,
                 examples: Sequence[tuple[str, Sequence[str]]] = ()):
        from llmcoder.coders.models import load_causal_lm

        self.cfg, self.codebook, self.examples = cfg, codebook, list(examples)
        if cfg.threads:
            import torch

            torch.set_num_threads(cfg.threads)
        self.model, self.tokenizer, self.info = bundle or load_causal_lm(
            cfg.model, device=cfg.device, dtype=cfg.dtype)
        self._encoded: dict[tuple[str, ...], list[list[int]]] = {}

    def prepare(self, order: Sequence[str]) -> Any:
        from llmcoder.coders.prompt import build_label_prompt
        from llmcoder.coders.scoring import LabelScorer

        prompt = build_label_prompt(self.cfg, self.codebook, self.tokenizer, order=order,
                                    examples=self.examples)
        return LabelScorer(self.model, self.tokenizer, prompt, max_doc_tokens=self.cfg.max_doc_tokens,
                           calibrate=self.cfg.calibrate)

    def encode(self, scorer: Any, texts: Sequence[str]) -> list[list[int]]:
        return scorer.encode(texts)

    def lengths(self, scorer: Any, texts: Sequence[str]) -> list[int]:
        if self.cfg.long_docs == "chunk":  # whole documents: long ones (many windows) batch together
            return scorer.doc_token_counts(texts)
        return [len(e) for e in scorer.encode(texts)]

    def code(self, scorer: Any, texts: Sequence[str]) -> BatchResult:
        t0 = time.perf_counter()
        if self.cfg.long_docs != "chunk":
            enc = scorer.encode(texts)
            probs = scorer.to_probs(scorer.score_encoded(enc))
            dt = (time.perf_counter() - t0) / max(1, len(texts))
            return BatchResult(probs, [scorer.n_input_tokens(e) for e in enc], [0] * len(texts),
                               [dt] * len(texts))
        from llmcoder.chunking import aggregate
        from llmcoder.coders.scoring import length_batches

        enc, owner = scorer.encode_windows(texts, self.cfg.chunk_overlap)
        window_probs = np.zeros((len(enc), len(scorer.prompt.label_ids)))
        for b in length_batches([len(e) for e in enc], self.cfg.batch_size):
            window_probs[b] = scorer.to_probs(scorer.score_encoded([enc[i] for i in b]))
        probs = aggregate(window_probs, owner, len(texts), self.cfg.chunk_aggregate,
                          single_label=self.codebook.task == "single")
        n_tokens = [0] * len(texts)
        for e, j in zip(enc, owner, strict=True):
            n_tokens[j] += scorer.n_input_tokens(e)
        dt = (time.perf_counter() - t0) / max(1, len(texts))
        return BatchResult(probs, n_tokens, [0] * len(texts), [dt] * len(texts))

    def truncation(self, scorer: Any, texts: Sequence[str]) -> dict[str, Any]:
        """How many documents are longer than ``max_doc_tokens``, and what was done with them: cut
        (how many tokens lost) or chunked (how many windows); reported, never silent."""
        counts = np.asarray(scorer.doc_token_counts(texts), dtype=np.int64)
        return long_docs_record(counts, self.cfg)


    def prompt_record(self, scorer: Any) -> dict[str, Any]:
        p = scorer.prompt
        rec = {"prefix": p.prefix, "doc_suffix": p.doc_suffix, "continuations": list(p.continuations),
               "mode": p.mode, "sha256": p.sha256(), "n_prefix_tokens": scorer.n_prefix_tokens,
               "calibrate": scorer.calibrate}
        if scorer.calibrate:  # the prior each document's probabilities were divided by
            rec["calibration"] = {"method": "contextual calibration (Zhao et al. 2021)",
                                  "content_free": list(scorer.content_free),
                                  "prior": dict(zip(p.label_ids, scorer.prior().tolist(), strict=True))}
        return rec


def long_docs_record(counts: np.ndarray, cfg: CoderConfig, *, unit: str = "tokens",
                     n_windows: int | None = None) -> dict[str, Any]:
    """The provenance's record of the documents longer than ``max_doc_tokens`` (``counts``: their lengths)."""
    from llmcoder.chunking import windows

    limit = int(cfg.max_doc_tokens)
    over = counts > limit
    rec: dict[str, Any] = {"max_doc_tokens": limit, "n_docs": int(counts.size), "long_docs": cfg.long_docs,
                           "longest_doc_tokens": int(counts.max()) if counts.size else 0}
    if unit != "tokens":
        rec["unit"] = unit
    if cfg.long_docs == "chunk":
        rec.update(n_docs_truncated=0, n_docs_chunked=int(over.sum()), chunk_overlap=int(cfg.chunk_overlap),
                   chunk_aggregate=cfg.chunk_aggregate,
                   n_windows=int(n_windows if n_windows is not None else
                                 sum(len(windows(int(n), limit, int(cfg.chunk_overlap))) for n in counts)))
    else:
        rec.update(n_docs_truncated=int(over.sum()), tokens_cut=int((counts[over] - limit).sum()))
    return rec


class HttpBackend:
    """JSON constrained to the codebook from an OpenAI-compatible server."""

    def __init__(self, cfg: CoderConfig, codebook: Codebook, *,
                 examples: Sequence[tuple[str, Sequence[str]]] = (), offline: bool = False):
        from llmcoder.coders.http import HttpCoder

        self.cfg, self.codebook = cfg, codebook
        self.client = HttpCoder(cfg, codebook, examples=examples, offline=offline)
        self.info = {"model": cfg.model, "kind": "http", "base_url": cfg.http_base_url}

    def prepare(self, order: Sequence[str]) -> Any:
        return self.client.prepare(order)

    def lengths(self, state: Any, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    def code(self, state: Any, texts: Sequence[str]) -> BatchResult:
        if self.cfg.long_docs != "chunk":
            res = self.client.code_texts(state, texts)
            return BatchResult(np.array([r.probs for r in res]), [r.n_input_tokens for r in res],
                               [r.n_output_tokens for r in res], [r.latency_s for r in res])
        from llmcoder.chunking import aggregate
        from llmcoder.coders.http import text_windows

        wins = [text_windows(t, self.cfg) for t in texts]
        owner = [j for j, ws in enumerate(wins) for _ in ws]
        res = self.client.code_texts(state, [w for ws in wins for w in ws])
        probs = aggregate(np.array([r.probs for r in res]), owner, len(texts), self.cfg.chunk_aggregate,
                          single_label=self.codebook.task == "single")  # a window without answer: NaN
        tot = {k: [0.0] * len(texts) for k in ("n_input_tokens", "n_output_tokens", "latency_s")}
        for r, j in zip(res, owner, strict=True):
            for k in tot:
                tot[k][j] += getattr(r, k)
        return BatchResult(probs, [int(x) for x in tot["n_input_tokens"]],
                           [int(x) for x in tot["n_output_tokens"]], tot["latency_s"])

    def truncation(self, state: Any, texts: Sequence[str]) -> dict[str, Any] | None:
        """With ``long_docs: truncate`` documents are sent whole (a server may refuse one longer than its
        context): nothing to record. With ``chunk``: the windows, measured in characters / 4."""
        if self.cfg.long_docs != "chunk":
            return None
        from llmcoder.coders.http import text_windows

        counts = np.array([-(-len(t) // 4) for t in texts], dtype=np.int64)
        return long_docs_record(counts, self.cfg, unit="tokens (characters / 4)",
                                n_windows=sum(len(text_windows(t, self.cfg)) for t in texts))

    def prompt_record(self, state: Any) -> dict[str, Any]:
        from llmcoder.io import text_sha256

        msgs = state.messages
        return {"messages": msgs, "codes": state.codes, "response_format": state.response_format,
                "sha256": text_sha256(repr(msgs) + repr(state.response_format))}


def make_backend(cfg: CoderConfig, codebook: Codebook, *, bundle: Any = None,
                 examples: Sequence[tuple[str, Sequence[str]]] | None = None) -> LocalBackend | HttpBackend:
    """The backend for ``cfg.backend``, with few-shot examples (drawn here unless already given)."""
    if examples is None:
        from llmcoder.coders.run import draw_coder_examples

        examples = draw_coder_examples(cfg, codebook)
    if cfg.backend == "http":
        return HttpBackend(cfg, codebook, examples=examples)
    return LocalBackend(cfg, codebook, bundle=bundle, examples=examples)
