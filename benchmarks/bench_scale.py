"""Benchmark: the paper's scale, 174,161 European Parliament questions, on this machine.

The corpus: the 1,001 real questions in ``../shared/data/rethinking_scale`` resampled with
replacement (seed 1) to the paper's 174,161 (Parquet, unique ``doc_id``). What is measured:

1. **The fine-tuned encoder** (all-MiniLM-L6-v2 fine-tuned on 2,000 CAP-coded US bill titles with the
   CAP major topics, one epoch; its quality is not the point here): docs/s of
   :func:`llmcoder.predict.predict` on 2,000 questions at 64, 128 and 256 tokens (a question is
   about 230 tokens), fp32, one process with 2 threads; and the whole corpus through ``predict``
   in a fresh subprocess at ``--full-length`` tokens, with its wall time and peak memory (VmHWM)
   against a 10,000-question run (memory flat = the same peak).
2. **The LLM coders** (SmolLM2-135M and Gemma 3 270M, the demo's coder configs, CAP codebook):
   docs/s on ``--llm-docs`` questions through ``code_corpus``.
3. **Projections**: hours for the whole corpus on this machine per system, and the cost of a hosted
   API from ``llmcoder code --estimate`` (characters / 4 tokens, the price given by ``--price-in``
   and ``--price-out`` per million tokens, dated in the table).

    TZ=UTC .venv/bin/python benchmarks/bench_scale.py [--no-full] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
QUESTIONS = SHARED / "rethinking_scale" / "eu_parliamentary_questions.csv"
CODEBOOK = SHARED / "rethinking_scale" / "cap_codebook.csv"
BILLS = SHARED / "cap_us" / "congress_bills.csv"
N_PAPER = 174_161

_CHILD = r"""
import json, resource, sys, time
from llmcoder.finetune import load_predictor
from llmcoder.predict import predict


def hwm_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

art, corpus, out, length = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pred = load_predictor(art, device="cpu")
pred.max_length = length
pred.predict_proba(["warm up"])
base = hwm_mib()
t0 = time.perf_counter()
predict(art, corpus, out, chunk_rows=50_000, batch_size=64, predictor=pred, progress=False)
print(json.dumps({"base_mib": base, "peak_mib": hwm_mib(), "seconds": time.perf_counter() - t0}))
"""


def build_corpus(path: Path, n: int) -> pl.DataFrame:
    """``n`` questions drawn with replacement (seed 1) from the 1,001 real ones, written to ``path``."""
    q = pl.read_csv(QUESTIONS, infer_schema=False).select("id", "text")
    out = q.sample(n, with_replacement=True, seed=1).select(
        pl.format("q{}", pl.int_range(pl.len()).cast(pl.Utf8).str.zfill(6)).alias("doc_id"), "text")
    out.write_parquet(path, compression="zstd")
    return out


def train_minilm(work: Path) -> tuple[Path, float, int]:
    from llmcoder.finetune import train

    raw = pl.read_csv(BILLS, infer_schema=False).filter(pl.col("label_code") != "99")
    df = raw.sample(2000, seed=1).select(pl.col("id").alias("doc_id"), "text", pl.col("label_code").alias("label"))
    t0 = time.perf_counter()
    art = train({"kind": "encoder", "model": "minilm", "epochs": 1, "max_length": 64, "batch_size": 16,
                 "seed": 1, "num_threads": 2}, df, None, work / "minilm")
    return art, time.perf_counter() - t0, df["label"].n_unique()


def throughput(art: Path, corpus: pl.DataFrame, work: Path, n: int) -> list[dict[str, Any]]:
    from llmcoder.finetune import load_predictor
    from llmcoder.predict import predict

    part = work / "slice.parquet"
    corpus.head(n).write_parquet(part)
    pred = load_predictor(art, device="cpu")
    pred.predict_proba(["warm up"])
    rows = []
    for length in (64, 128, 256):
        pred.max_length = length
        t0 = time.perf_counter()
        predict(art, part, work / f"tp{length}.parquet", batch_size=64, predictor=pred, progress=False)
        sec = time.perf_counter() - t0
        rows.append({"tokens": length, "docs": n, "seconds": sec, "docs_per_s": n / sec})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def full_run(art: Path, corpus_path: Path, work: Path, n_small: int, length: int,
             corpus: pl.DataFrame) -> list[dict[str, Any]]:
    small = work / "small.parquet"
    corpus.head(n_small).write_parquet(small)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "pysrc"), OMP_NUM_THREADS="2")
    rows = []
    for path, n in ((small, n_small), (corpus_path, corpus.height)):
        out = work / f"full_{n}.parquet"
        res = subprocess.run([sys.executable, "-c", _CHILD, str(art), str(path), str(out), str(length)],
                             capture_output=True, text=True, env=env, check=False)
        if res.returncode:
            raise SystemExit(f"predict failed for {n} documents:\n{res.stderr[-3000:]}")
        rec = json.loads(res.stdout.strip().splitlines()[-1])
        rec.update(docs=n, tokens=length, rows=pl.scan_parquet(out).select(pl.len()).collect().item())
        print(json.dumps(rec), flush=True)
        rows.append(rec)
        out.unlink()
    return rows


def llm_rates(corpus: pl.DataFrame, work: Path, n: int) -> list[dict[str, Any]]:
    import yaml

    from llmcoder.codebook import load_codebook
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.run import code_corpus

    cb = load_codebook(CODEBOOK)
    rows = []
    for name in ("smollm2", "gemma3"):
        cfg = CoderConfig.from_dict({**yaml.safe_load((ROOT / "config" / "coders" / f"{name}.yaml").read_text()),
                                     "threads": 2})
        t0 = time.perf_counter()
        code_corpus(corpus.head(n), cb, cfg, work / f"{name}.parquet", progress=False)
        sec = time.perf_counter() - t0
        prov = json.loads((work / f"{name}.json").read_text())
        rows.append({"coder": name, "model": cfg.model, "max_doc_tokens": cfg.max_doc_tokens, "docs": n,
                     "seconds": sec, "docs_per_s": n / sec,
                     "truncated": prov["truncation"]["n_docs_truncated"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def api_cost(corpus_path: Path, price_in: float, price_out: float) -> dict[str, Any]:
    from llmcoder.codebook import load_codebook
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.estimate import estimate

    cfg = CoderConfig(name="hosted", model="hosted-model", backend="http", price_input_per_1m=price_in,
                      price_output_per_1m=price_out)
    return estimate(corpus_path, load_codebook(CODEBOOK), cfg, show=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-docs", type=int, default=N_PAPER)
    ap.add_argument("--throughput-docs", type=int, default=2000)
    ap.add_argument("--full-length", type=int, default=64, help="tokens per question in the whole-corpus run")
    ap.add_argument("--llm-docs", type=int, default=16)
    ap.add_argument("--price-in", type=float, default=0.15, help="hosted API, $ per 1M input tokens")
    ap.add_argument("--price-out", type=float, default=0.60, help="hosted API, $ per 1M output tokens")
    ap.add_argument("--price-name", default="gpt-4o-mini list price as known to us, not checked today")
    ap.add_argument("--no-full", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    for f in (QUESTIONS, CODEBOOK, BILLS):
        if not f.is_file():
            sys.exit(f"skipped: {f} is absent (the shared data sets sit beside the checkout)")
    import torch

    torch.set_num_threads(2)
    started, load = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus_path = work / "questions.parquet"
        corpus = build_corpus(corpus_path, args.n_docs)
        from llmcoder.finetune import load_predictor

        art, train_s, n_topics = train_minilm(work)
        tok = load_predictor(art, device="cpu").tokenizer
        sample = corpus.head(2000)["text"].to_list()
        n_tok = [len(x) for x in tok(sample, add_special_tokens=False, truncation=True, max_length=4096)["input_ids"]]
        tp = throughput(art, corpus, work, args.throughput_docs)
        llm = llm_rates(corpus, work, args.llm_docs)
        from llmcoder.codebook import load_codebook

        n_codebook = len(load_codebook(CODEBOOK).ids)
        est = api_cost(corpus_path, args.price_in, args.price_out)
        full = [] if args.no_full else full_run(art, corpus_path, work, 10_000, args.full_length, corpus)
    from importlib.metadata import version

    hours = lambda rate: args.n_docs / rate / 3600  # noqa: E731
    start, end = markers("bench_scale")
    mean_tok = sum(n_tok) / len(n_tok)
    title = f"## The paper's scale: {args.n_docs:,} European Parliament questions (`benchmarks/bench_scale.py`)"
    lines = [start, title, "",
             f"{cpu_name(cores=True)}, torch {torch.__version__} (2 threads), transformers {version('transformers')}, "
             f"llmcoder {version('llmcoder')}; {started:%Y-%m-%d}; load average at the start {load:.1f} (the machine "
             "is shared: rates are for this run). The corpus: the 1,001 real questions resampled with replacement "
             f"(seed 1) to {args.n_docs:,}; a question is {mean_tok:.0f} MiniLM tokens on average "
             f"({sum(t > 256 for t in n_tok) / len(n_tok):.0%} over 256).", "",
             "**Fine-tuned encoder** (all-MiniLM-L6-v2 fine-tuned on 2,000 CAP-coded US bill titles, "
             f"{n_topics} topics, one epoch, {train_s / 60:.1f} min), `llmcoder.predict.predict`, fp32, batch 64:", "",
             "| tokens read | documents | seconds | docs/s | projected hours for the corpus |", "|--:|--:|--:|--:|--:|"]
    for r in tp:
        lines.append(f"| {r['tokens']} | {r['docs']:,} | {r['seconds']:.1f} | {r['docs_per_s']:.1f} | "
                     f"{hours(r['docs_per_s']):.2f} |")
    if full:
        small, big = full
        lines += ["", f"**The whole corpus through prediction** (fresh subprocess, {big['tokens']} tokens, "
                  "`chunk_rows` 50,000):", "",
                  "| documents | output rows | wall (min) | docs/s | RSS before (MiB) | peak RSS (MiB) |",
                  "|--:|--:|--:|--:|--:|--:|"]
        for r in full:
            lines.append(f"| {r['docs']:,} | {r['rows']:,} | {r['seconds'] / 60:.1f} | "
                         f"{r['docs'] / r['seconds']:.1f} | {r['base_mib']:.0f} | {r['peak_mib']:.0f} |")
        lines += ["", f"Peak memory grows {big['peak_mib'] / small['peak_mib']:.2f}× for "
                  f"{big['docs'] / small['docs']:.1f}× the documents."]
    lines += ["", f"**LLM coders** (the demo's configs, the paper's CAP codebook of {n_codebook} topics, "
              "label scoring, one label order), "
              f"`code_corpus` on {args.llm_docs} questions:", "",
              "| coder | max_doc_tokens | docs/s | projected hours for the corpus | questions truncated |",
              "|:--|--:|--:|--:|--:|"]
    for r in llm:
        lines.append(f"| {r['coder']} ({r['model']}) | {r['max_doc_tokens']} | {r['docs_per_s']:.2f} | "
                     f"{hours(r['docs_per_s']):,.0f} | {r['truncated']} of {r['docs']} |")
    lines += ["", f"**A hosted API** (`llmcoder code --estimate`, JSON answers, tokens counted as characters / 4, "
              f"${args.price_in}/1M input and ${args.price_out}/1M output tokens: {args.price_name}): "
              f"{est['input_tokens']:,} input and {est['output_tokens']:,} output tokens, **${est['cost']:,.2f}** "
              "for the corpus (a batch API at half price: "
              f"${est['cost'] / 2:,.2f}).", "",
              "No GPU was lent to this project's sessions (the GPU issue is blocked), so no per-GPU hours are "
              "projected from a measurement here.", "",
              "Command: `TZ=UTC .venv/bin/python benchmarks/bench_scale.py`", end]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, start, end)


if __name__ == "__main__":
    main()
