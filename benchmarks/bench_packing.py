"""Benchmark: label-name scoring with the continuations packed after the document vs the prefix
cache expanded once per label, on one of the demo's coders (SmolLM2, or Gemma 3 whose sliding-window
layers get one mask per layer type).

Both paths score the same documents with the same prompt (the demo coder's
``config/coders/smollm2.yaml``: chat template, codebook with definitions, full label names, batches
of 16), in one process, interleaved in blocks (each block by both paths, order alternating) so that
load drift on a shared machine hits both alike. Reported: docs/s of each path, the speed-up, and the
largest difference between their label probabilities (the packed path is exact up to float rounding;
``tests/test_coders_scoring.py`` checks both against the uncached reference).

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_packing.py [--coder smollm2|gemma3] [--n 160] [--threads 2] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=160, help="documents (a seeded sample of the demo corpus)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--coder", default="smollm2", choices=["smollm2", "gemma3"],
                    help="the demo coder config (config/coders/<coder>.yaml); each writes its own section")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import polars as pl
    import torch

    from llmcoder.codebook import load_codebook
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.models import load_causal_lm
    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer, length_batches

    torch.set_num_threads(args.threads)
    coder = CoderConfig.from_yaml(REPO / "config" / "coders" / f"{args.coder}.yaml")
    cb = load_codebook(REPO / "data" / "demo" / "codebook.yaml")
    docs = pl.read_csv(REPO / "data" / "demo" / "questions.csv", infer_schema=False).sample(
        n=args.n, shuffle=True, seed=0)["text"].to_list()
    model, tok, _ = load_causal_lm(coder.model, device="cpu", dtype="float32")
    prompt = build_label_prompt(coder, cb, tok)
    scorers = {"packed": LabelScorer(model, tok, prompt, max_doc_tokens=coder.max_doc_tokens, packed=None),
               "expanded": LabelScorer(model, tok, prompt, max_doc_tokens=coder.max_doc_tokens, packed=False)}
    assert scorers["packed"].can_pack(coder.max_doc_tokens), f"the demo prompt should pack on {args.coder}"
    for sc in scorers.values():  # warm-up: the prefix cache and the first allocations
        sc.score_encoded(sc.encode(docs[:2]))

    secs = dict.fromkeys(scorers, 0.0)
    scores = {k: np.zeros((len(docs), len(cb.ids))) for k in scorers}
    size = -(-len(docs) // args.blocks)
    for b in range(args.blocks):
        idx = list(range(b * size, min(len(docs), (b + 1) * size)))
        names = list(scorers) if b % 2 == 0 else list(reversed(scorers))
        for name in names:
            sc = scorers[name]
            enc = sc.encode([docs[i] for i in idx])
            t0 = time.perf_counter()
            for batch in length_batches([len(e) for e in enc], coder.batch_size):
                scores[name][[idx[i] for i in batch]] = sc.score_encoded([enc[i] for i in batch])
            secs[name] += time.perf_counter() - t0
    probs = {k: scorers[k].raw_probs(v) for k, v in scores.items()}
    diff = float(np.abs(probs["packed"] - probs["expanded"]).max())
    same = float((probs["packed"].argmax(1) == probs["expanded"].argmax(1)).mean())
    n = len(docs)
    rows = "\n".join(f"| {k} | {secs[k]:.1f} | {n / secs[k]:.2f} | {secs['expanded'] / secs[k]:.2f}× |"
                     for k in ("expanded", "packed"))
    start, end = markers("bench_packing" if args.coder == "smollm2" else f"bench_packing_{args.coder}")
    model_name = {"smollm2": "SmolLM2-135M-Instruct", "gemma3": "Gemma 3 270M (sliding window "
                  f"{getattr(model.config.get_text_config(), 'sliding_window', None)} tokens)"}[args.coder]
    template = ", chat template" if coder.use_chat_template else ", no chat template"
    exactness = ("" if args.coder == "smollm2" else
                 "\nWith a prompt longer than the sliding window the expanded path is the inexact one (its left pads"
                 "\ntake places in the window); the packed path equals each label's prompt run alone, uncached"
                 "\n(to 1e-5: `tests/test_coders_scoring.py::"
                 "test_gemma3_270m_packed_equals_each_label_alone_on_demo_questions`).")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = f"""{start}
## Label-name scoring: continuations packed after the document (`benchmarks/bench_packing.py`, {args.coder})

{model_name} with the demo coder's prompt (`config/coders/{args.coder}.yaml`{template},
codebook with definitions, {scorers['packed'].n_prefix_tokens} prefix tokens; 10 labels scored by their
full names, {sum(len(c) > 1 for c in scorers['packed'].enc.continuations)} of them several tokens long),
{n} demo questions (seeded sample), batches of {coder.batch_size}, float32, {args.threads} torch thread(s),
{args.blocks} interleaved blocks. Expanded = the document's cache repeated once per multi-token label
(the path before); packed = every label's continuation after the document in one row under a 4-D mask.

| path | scoring (s) | docs/s | speed-up |
|:--|--:|--:|--:|
{rows}

Largest difference between the two paths' label probabilities (raw, before any calibration): {diff:.1e};
same top label for {same:.1%} of the documents.{exactness}

Machine: {cpu_name(cores=True)}; load average {load:.1f} at the end. Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.
Command: `TZ=UTC .venv/bin/python benchmarks/bench_packing.py --coder {args.coder} --n {n} --threads {args.threads}`
{end}"""
    print(text)
    if not args.no_write:
        write_section(text, start, end)


if __name__ == "__main__":
    main()
