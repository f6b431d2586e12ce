"""Benchmark: encoder inference speed of ``llmcoder.predict.predict`` and its memory in corpus size.

1. Throughput: the same fine-tuned MiniLM classifier (19 labels; trained briefly here, the weights
   do not change the speed) codes the same 2,000 texts (CAP bill titles when ../shared/data is
   there, else synthetic) through ``predict`` (length-sorted batches of 64, inference mode, chunked
   Parquet in and out) and through a plain loop over ``transformers.pipeline("text-classification")``
   (one text per call, ``top_k=None`` so that it too returns every label's probability), in one
   process with the same torch threads. Docs/s is texts / wall time of the call(s), after a warm-up.
2. Memory: ``predict`` on synthetic corpora of 50,000 and 200,000 documents (``chunk_rows`` 50,000),
   each in a fresh subprocess, with a tiny randomly initialised BERT classifier (1 layer, hidden
   32: fast; the chunked reading and writing around it is what is measured). Peak RSS is the
   child's ``VmHWM`` (Linux; ``getrusage`` elsewhere); the baseline is the peak after imports and
   model load, before ``predict``. The memory runs go first, before this process loads MiniLM.

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_predict.py [--texts 2000] [--sizes 50000,200000] [--no-write]
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

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name as _cpu_name  # noqa: E402
from _results import write_section as _write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = "<!-- bench_predict:start -->", "<!-- bench_predict:end -->"


def cpu_name() -> str:
    """The CPU, as the RESULTS.md sections name it."""
    return _cpu_name(cores=True)


def write_section(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md."""
    _write_section(text, START, END)
ROWS = ROOT / "benchmarks" / "results_predict.json"  # last results: --skip keeps the other part


def texts_for(n: int) -> tuple[list[str], str]:
    path = DATA / "cap_us" / "congress_bills.csv"
    if path.is_file():
        df = pl.read_csv(path, infer_schema_length=0).sample(n=n, seed=1, with_replacement=n > 4449)
        return df["text"].to_list(), f"CAP US bill titles ({path.name}, {n:,} sampled with seed 1)"
    from llmcoder.finetune.synthetic import synthetic_corpus

    return synthetic_corpus(n, seed=1)["text"].to_list(), "synthetic texts"


def minilm_artifact(work: Path) -> Path:
    """A MiniLM classifier with 19 labels, trained one epoch on 64 synthetic documents."""
    from llmcoder.finetune import train
    from llmcoder.finetune.synthetic import synthetic_corpus

    labels = [f"t{i:02d}" for i in range(19)]
    df = synthetic_corpus(64, seed=0).with_columns(
        pl.Series("label", [labels[i % 19] for i in range(64)]))
    return train({"kind": "encoder", "model": "minilm", "epochs": 1, "max_length": 64, "batch_size": 32},
                 df, None, work / "minilm", labels=labels)


def throughput(work: Path, n_texts: int, batch_size: int, rounds: int = 8) -> dict[str, Any]:
    """Docs/s of predict (fp32, bf16) and of a pipeline loop, interleaved to even out load drift.

    The texts are cut into ``rounds`` blocks; each block is coded by the three paths in a rotating
    order, and each path's times are summed over the blocks.
    """
    import torch
    from transformers import pipeline

    from llmcoder.finetune import load_predictor
    from llmcoder.finetune.models import offline
    from llmcoder.io import write_parquet
    from llmcoder.predict import predict

    art = minilm_artifact(work)
    texts, source = texts_for(n_texts)
    predictors = {p: load_predictor(art, device="cpu", precision=p) for p in ("fp32", "bf16")}
    warm = write_parquet(pl.DataFrame({"doc_id": ["w0", "w1"], "text": texts[:2]}), work / "warm.parquet")
    for precision, pr in predictors.items():  # warm-up: first calls import and allocate
        pr.predict_proba(texts[:64])
        predict(art, warm, work / f"warm_{precision}.parquet", predictor=pr, progress=False)
    with offline():
        pipe = pipeline("text-classification", model=str(art / "model"), device=-1, top_k=None)
    kw = {"truncation": True, "max_length": predictors["fp32"].max_length}
    for t in texts[:20]:  # warm-up
        pipe(t, **kw)

    def run_predict(precision: str, block: int, corpus: Path) -> None:
        out = predict(art, corpus, work / f"pred_{precision}_{block}.parquet", batch_size=batch_size,
                      predictor=predictors[precision], progress=False)
        assert pl.read_parquet(out).height == n_block * 19

    def run_pipeline(block_texts: list[str]) -> None:
        with torch.inference_mode():
            res = [pipe(t, **kw) for t in block_texts]
        first = res[0][0] if isinstance(res[0][0], list) else res[0]
        assert len(res) == len(block_texts) and len(first) == 19

    secs = {"fp32": 0.0, "bf16": 0.0, "pipeline": 0.0}
    size = -(-len(texts) // rounds)
    paths = ["fp32", "bf16", "pipeline"]
    for b in range(rounds):
        block = texts[b * size:(b + 1) * size]
        n_block = len(block)
        corpus = write_parquet(pl.DataFrame({"doc_id": [f"d{b}_{i}" for i in range(n_block)], "text": block}),
                               work / f"texts_{b}.parquet")
        for path in paths[b % 3:] + paths[:b % 3]:  # rotate the order each round
            t0 = time.perf_counter()
            if path == "pipeline":
                run_pipeline(block)
            else:
                run_predict(path, b, corpus)
            secs[path] += time.perf_counter() - t0
    p32 = np.concatenate([pl.read_parquet(work / f"pred_fp32_{b}.parquet")["prob"].to_numpy() for b in range(rounds)])
    p16 = np.concatenate([pl.read_parquet(work / f"pred_bf16_{b}.parquet")["prob"].to_numpy() for b in range(rounds)])
    n = len(texts)
    return {"n_texts": n, "source": source, "batch_size": batch_size, "rounds": rounds,
            "pipeline_s": secs["pipeline"], "pipeline_dps": n / secs["pipeline"],
            "bf16_max_abs_diff": float(np.abs(p32 - p16).max()),
            **{f"predict_{k}_s": secs[k] for k in ("fp32", "bf16")},
            **{f"predict_{k}_dps": n / secs[k] for k in ("fp32", "bf16")},
            **{f"speedup_{k}": secs["pipeline"] / secs[k] for k in ("fp32", "bf16")}}


_CHILD = r"""
import json, resource, sys, time
from llmcoder.finetune import load_predictor
from llmcoder.predict import predict


def hwm_mib():  # this process image's peak RSS (VmHWM; getrusage's ru_maxrss survives exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

art, corpus, out, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pred = load_predictor(art, device="cpu")
pred.predict_proba(["warm up"])
base = hwm_mib()
t0 = time.perf_counter()
predict(art, corpus, out, chunk_rows=chunk, batch_size=64, predictor=pred, progress=False)
secs = time.perf_counter() - t0
print(json.dumps({"base_mib": base, "peak_mib": hwm_mib(), "seconds": secs}))
"""


def tiny_artifact(work: Path) -> Path:
    import transformers

    from llmcoder.finetune import train
    from llmcoder.finetune.models import encoder_path
    from llmcoder.finetune.synthetic import synthetic_corpus

    tok = transformers.AutoTokenizer.from_pretrained(encoder_path("minilm"))
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    base = work / "tiny-bert"
    transformers.BertModel(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    return train({"kind": "encoder", "model": str(base), "epochs": 1, "max_length": 32},
                 synthetic_corpus(32, seed=0), None, work / "tiny")


def memory(work: Path, sizes: list[int], chunk_rows: int) -> list[dict[str, Any]]:
    from llmcoder.finetune.synthetic import write_synthetic_corpus

    art = tiny_artifact(work)
    rows = []
    for n in sizes:
        corpus = write_synthetic_corpus(work / f"corpus_{n}.parquet", n, seed=3)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "pysrc"))
        res = subprocess.run([sys.executable, "-c", _CHILD, str(art), str(corpus), str(work / f"p_{n}.parquet"),
                              str(chunk_rows)], capture_output=True, text=True, env=env, check=False)
        if res.returncode:
            raise SystemExit(f"child failed for {n}:\n{res.stderr[-3000:]}")
        rec = json.loads(res.stdout.strip().splitlines()[-1])
        rec.update(n_docs=n, out_rows=pl.scan_parquet(work / f"p_{n}.parquet").select(pl.len()).collect().item())
        print(json.dumps(rec), flush=True)
        rows.append(rec)
        (work / f"p_{n}.parquet").unlink()
    return rows


def render(tp: dict[str, Any] | None, mem: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = [START, "## Prediction at scale (`benchmarks/bench_predict.py`)", "",
             f"CPU only ({env['cpu']}; {env['threads']} torch thread(s)), {env['date']}, one run; the machine "
             "is shared (load average at the start of each part given below), so absolute numbers are noisy "
             "and the ratios are the result.", ""]
    if tp:
        lines += [
            f"**Encoder throughput** — fine-tuned all-MiniLM-L6-v2, 19 labels, {tp['n_texts']:,} texts "
            f"({tp['source']}), max_length 64, all labels' probabilities returned by both; the texts are coded "
            f"in {tp.get('rounds', 1)} blocks, each by the three paths in a rotating order (times summed), "
            "so that the shared machine's load drift hits all paths alike.",
            "",
            f"Load average at start: {tp.get('load', '?')}.",
            "",
            "| path | wall (s) | docs/s | speed-up |",
            "|:--|--:|--:|--:|",
            f"| loop over `transformers.pipeline(\"text-classification\")` | {tp['pipeline_s']:.1f} | "
            f"{tp['pipeline_dps']:.0f} | 1.0× |",
            f"| `llmcoder.predict.predict` (batch {tp['batch_size']}, length-sorted, inference mode), fp32 | "
            f"{tp['predict_fp32_s']:.1f} | {tp['predict_fp32_dps']:.0f} | {tp['speedup_fp32']:.1f}× |",
            f"| `llmcoder.predict.predict`, `precision=\"bf16\"` (autocast) | "
            f"{tp['predict_bf16_s']:.1f} | {tp['predict_bf16_dps']:.0f} | **{tp['speedup_bf16']:.1f}×** |",
            "",
            f"bf16 probabilities differ from fp32 by at most {tp['bf16_max_abs_diff']:.1e} on these texts; "
            "fp32 stays the default (exact and the same on every machine).",
            "",
        ]
    if mem:
        lines += [
            f"**Peak memory against corpus size** — synthetic corpora, `chunk_rows` {env['chunk_rows']:,}, "
            "tiny random BERT classifier (3 labels), each size in a fresh subprocess; peak RSS = VmHWM.",
            "",
            f"Load average at start: {mem[0].get('load', '?')}.",
            "",
            "| documents | output rows | RSS before predict (MiB) | peak RSS (MiB) | predict (s) |",
            "|--:|--:|--:|--:|--:|",
        ]
        for r in mem:
            lines.append(f"| {r['n_docs']:,} | {r['out_rows']:,} | {r['base_mib']:.0f} | {r['peak_mib']:.0f} | "
                         f"{r['seconds']:.0f} |")
        if len(mem) >= 2:
            lo, hi = mem[0], mem[-1]
            lines += ["", f"Peak RSS grows {hi['peak_mib'] / lo['peak_mib']:.2f}× for "
                          f"{hi['n_docs'] / lo['n_docs']:.0f}× the documents."]
        lines.append("")
    lines += ["Command: `TZ=UTC .venv/bin/python benchmarks/bench_predict.py`", END]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sizes", default="50000,200000")
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: 2 if idle, else 1)")
    ap.add_argument("--skip", choices=["throughput", "memory"], default=None)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    import torch

    load = round(os.getloadavg()[0], 1)
    threads = args.threads or (2 if load < 0.5 else 1)
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the memory subprocesses
    tp, mem = None, []
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        work = Path(tmp)
        if args.skip != "memory":
            mem = memory(work, [int(s) for s in args.sizes.split(",")], args.chunk_rows)
        if args.skip != "throughput":
            tp = throughput(work, args.texts, args.batch_size)
            print(json.dumps(tp), flush=True)
    env = {"threads": threads, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
           "chunk_rows": args.chunk_rows, "cpu": cpu_name(), "load": load}
    if not args.no_write:
        old = json.loads(ROWS.read_text(encoding="utf-8")) if ROWS.exists() else {}
        tp = tp or old.get("throughput")
        mem = mem or old.get("memory", [])
        if tp is not None:
            tp.setdefault("load", load)
        for r in mem:
            r.setdefault("load", load)
        ROWS.write_text(json.dumps({"throughput": tp, "memory": mem, "env": env}, indent=2) + "\n",
                        encoding="utf-8")
    text = render(tp, mem, env)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
