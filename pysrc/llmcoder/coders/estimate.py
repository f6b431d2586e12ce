"""Cost and time estimate of a coding run before it starts (``llmcoder code --estimate``).

Tokens are counted with the real tokenizer. A local prefix-cached model pays the shared prefix once
per label order; an HTTP coder pays it with every request. Cost comes from a price table (per
million input/output tokens; zero for local models). Local coders also time a short warm-up.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.coders.config import CoderConfig
from llmcoder.coders.prompt import TEXT_MARK, build_http_messages, rotation_order
from llmcoder.coders.run import check_model, load_docs
from llmcoder.coders.scoring import length_batches

#: Output tokens of one JSON answer (``{"label": "A"}``), used when the server is not asked.
HTTP_OUTPUT_TOKENS = {"single": 8, "multi": 16}


def _price(cfg: CoderConfig, prices: dict[str, dict[str, float]] | None) -> tuple[float, float]:
    if prices and cfg.model in prices:
        p = prices[cfg.model]
        return float(p.get("input_per_1m", 0.0)), float(p.get("output_per_1m", 0.0))
    return cfg.price_input_per_1m, cfg.price_output_per_1m


def estimate(corpus: str | os.PathLike[str] | pl.DataFrame, codebook: Codebook, coder: CoderConfig, *,
             rotations: int = 1, limit: int | None = None, prices: dict[str, dict[str, float]] | None = None,
             warmup_docs: int = 16, backend: Any = None, show: bool = True) -> dict[str, Any]:
    """Tokens, cost and (local) measured speed of coding ``corpus``; prints a table when ``show``.

    Parameters
    ----------
    prices : ``{model: {"input_per_1m": ..., "output_per_1m": ...}}``; overrides the coder's prices.
    warmup_docs : documents coded (not saved) to measure docs/s of a local model; 0 skips it.

    Returns
    -------
    dict with n_docs, rotations, tokens per document (mean, max), input/output token totals,
    cost, and for local models docs_per_s and eta_s.
    """
    docs = load_docs(corpus, limit=limit)
    if docs.height == 0:
        from llmcoder.errors import InputError

        raise InputError(str(corpus), "no documents to estimate", fix="check the corpus and --limit")
    if backend is None:
        check_model(coder)
    texts = docs["text"].to_list()
    order = rotation_order(codebook, 0, coder.seed)
    p_in, p_out = _price(coder, prices)
    out: dict[str, Any] = {"coder_id": coder.coder_id, "model": coder.model, "backend": coder.backend,
                           "n_docs": docs.height, "rotations": rotations}
    if coder.backend == "local":
        from llmcoder.coders.backends import make_backend

        be = backend or make_backend(coder, codebook)
        scorer = be.prepare(order)
        if coder.long_docs == "chunk":  # every window costs its tokens and the labels' continuations
            enc, owner = scorer.encode_windows(texts, coder.chunk_overlap)
            per_doc = np.bincount(owner, weights=[scorer.n_input_tokens(e) - scorer.n_prefix_tokens for e in enc],
                                  minlength=len(texts)).astype(np.int64)
        else:
            enc, owner = scorer.encode(texts), list(range(len(texts)))
            per_doc = np.array([scorer.n_input_tokens(e) - scorer.n_prefix_tokens for e in enc])
        total_in = int((per_doc.sum() + scorer.n_prefix_tokens) * rotations)
        out.update(prefix_tokens=scorer.n_prefix_tokens, tokens_per_doc_mean=float(per_doc.mean()),
                   tokens_per_doc_max=int(per_doc.max()), input_tokens=total_in, output_tokens=0,
                   tokens_without_prefix_cache=int((per_doc.sum() + scorer.n_prefix_tokens * len(texts))
                                                   * rotations))
        if hasattr(be, "truncation"):
            out["truncation"] = be.truncation(scorer, texts)
        if warmup_docs:
            n_warm = min(warmup_docs, len(texts))
            idx = np.flatnonzero(np.asarray(owner) < n_warm).tolist()  # every window of the warm-up documents
            lens = [len(enc[i]) for i in idx]
            scorer.prefix_cache()
            t0 = time.perf_counter()
            for b in length_batches(lens, coder.batch_size):
                scorer.score_encoded([enc[idx[i]] for i in b])
            dps = n_warm / max(1e-9, time.perf_counter() - t0)  # documents, not windows, per second
            out.update(warmup_docs=n_warm, docs_per_s=dps, eta_s=docs.height * rotations / dps)
    else:
        tok = None
        if coder.tokenizer:
            from llmcoder.coders.models import load_tokenizer

            tok = load_tokenizer(coder.tokenizer)
        msgs, _ = build_http_messages(coder, codebook, order=order)
        template = "\n".join(m["content"] for m in msgs)

        def count(s: str) -> int:
            return len(tok(s, add_special_tokens=False)["input_ids"]) if tok is not None else max(1, len(s) // 4)

        overhead = count(template.replace(TEXT_MARK, "")) + 8 * len(msgs)  # role/format tokens
        if coder.long_docs == "chunk":  # one request per window, each with the prompt
            from llmcoder.coders.http import text_windows

            wins = [text_windows(t, coder) for t in texts]
            per_doc = np.array([sum(count(w) for w in ws) for ws in wins])
            n_req = np.array([len(ws) for ws in wins])
        else:
            per_doc = np.array([count(t) for t in texts])
            n_req = np.ones(len(texts), dtype=np.int64)
        n_out = HTTP_OUTPUT_TOKENS[codebook.task]
        out.update(prefix_tokens=overhead, tokens_per_doc_mean=float((per_doc + overhead * n_req).mean()),
                   tokens_per_doc_max=int((per_doc + overhead * n_req).max()),
                   input_tokens=int((per_doc.sum() + overhead * n_req.sum()) * rotations),
                   output_tokens=int(n_out * n_req.sum() * rotations),
                   token_counter="tokenizer" if tok is not None else "characters/4")
    out["cost"] = out["input_tokens"] / 1e6 * p_in + out["output_tokens"] / 1e6 * p_out
    out["price_input_per_1m"], out["price_output_per_1m"] = p_in, p_out
    if show:
        print_estimate(out)
    return out


def print_estimate(est: dict[str, Any]) -> None:
    """A small rich table of an estimate."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Estimate for {est['coder_id']} ({est['model']}, {est['backend']})")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [("documents x rotations", f"{est['n_docs']} x {est['rotations']}"),
            ("prefix tokens" + (" (once per rotation)" if est["backend"] == "local" else " (per request)"),
             f"{est['prefix_tokens']:,}"),
            ("tokens per document (mean / max)", f"{est['tokens_per_doc_mean']:.1f} / {est['tokens_per_doc_max']:,}"),
            ("input tokens", f"{est['input_tokens']:,}"), ("output tokens", f"{est['output_tokens']:,}"),
            ("cost", f"{est['cost']:.4f}")]
    if est.get("truncation"):
        tr = est["truncation"]
        if tr.get("long_docs") == "chunk":
            rows.append((f"documents in windows of max_doc_tokens={tr['max_doc_tokens']}",
                         f"{tr['n_docs_chunked']:,} of {tr['n_docs']:,} ({tr['n_windows']:,} windows)"))
        else:
            rows.append((f"documents cut to max_doc_tokens={tr['max_doc_tokens']}",
                         f"{tr['n_docs_truncated']:,} of {tr['n_docs']:,} (longest {tr['longest_doc_tokens']:,})"))
    if "docs_per_s" in est:
        rows += [("measured docs/s (warm-up)", f"{est['docs_per_s']:.2f}"), ("ETA", f"{est['eta_s']:.0f} s")]
    for k, v in rows:
        t.add_row(k, v)
    Console(stderr=True).print(t)
