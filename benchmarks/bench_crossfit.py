"""Benchmark: cross-fitting on cap_us -- the labelled sample trains the model and corrects its findings.

A study labels ``--n`` titles (a simple random sample of the 4,419 ``cap_us`` titles with a CAP topic;
code 99 dropped), trains a classifier on them, codes the rest and wants the shares of the three largest
topics and the Health ~ chamber slope (linear probability model), with valid 95% intervals, from those
same labels. Per repetition:

* **in sample** -- one model trained on all ``n`` labelled titles; PPI++ and DSL use its predictions for
  the labelled titles too, which it has seen (the misuse cross-fitting prevents);
* **cross-fitted** -- ``--folds`` models, each trained without one fold; a labelled title gets the
  prediction of the model that did not see it, the rest the models' mean (:mod:`llmcoder.crossfit`'s
  estimators: ``ppi_py.crossppi_*`` and DSL's cross-fitted pseudo-outcome; ``llmcoder.inference`` with
  ``folds=``);
* **classical** (the labels alone) and **naive** (the in-sample model's labels as if true).

The classifier is TF-IDF (words and bigrams, fitted once on all titles' text, no labels) + complement
naive Bayes (scikit-learn), chosen because it trains in milliseconds: ``(1 + folds) x reps`` fits. The
surrogate is the classifier's chosen label (0/1 per topic), as ``inference.surrogate_values: labels``.
Truth: the population's gold share and OLS slope. Reported: coverage and mean width per method over
``--reps`` repetitions.

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_crossfit.py [--reps 500] [--n 300] [--folds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
START, END = markers("bench_crossfit")
ARMS = ("naive", "classical", "ppi in sample", "dsl in sample", "ppi cross-fitted", "dsl cross-fitted")


def load() -> pl.DataFrame | None:
    path = DATA / "cap_us" / "congress_bills.csv"
    if not path.is_file():
        return None
    return pl.read_csv(path, infer_schema=False).filter(pl.col("label_code") != "99")


def _estimator(y: np.ndarray, X: np.ndarray | None, idx: np.ndarray, pi: np.ndarray):
    """est(f, folds, methods): the share (X None) or the slope's rows of the methods, for surrogate f."""
    from llmcoder import inference as inf

    def est(f: np.ndarray, folds: np.ndarray | None, methods: list[str]) -> list[dict]:
        if X is None:
            return inf.mean_estimates(y, f, idx, pi, methods=methods, folds=folds)
        return [r for r in inf.regression_estimates(y, f, X, idx, pi, terms=["Intercept", "x"], methods=methods,
                                                    folds=folds) if r["term"] == "x"]
    return est


def run(reps: int, n: int, folds: int, seed: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import ComplementNB

    df = load()
    if df is None:
        raise SystemExit(f"cap_us absent ({DATA / 'cap_us'}): ../shared/data sits beside the repository")
    texts, gold = df["text"].to_list(), df["label"].to_numpy()
    N = len(gold)
    classes = sorted(set(gold.tolist()))
    top = [c for c, _ in sorted(((c, int((gold == c).sum())) for c in classes), key=lambda t: -t[1])[:3]]
    V = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit_transform(texts)
    senate = (df["chamber"].to_numpy() == "S").astype(float)
    X = np.column_stack([np.ones(N), senate])
    y_all = {c: (gold == c).astype(float) for c in [*top, "Health"]}
    truth = {c: float(y_all[c].mean()) for c in top}
    slope = "Health ~ chamber"
    truth[slope] = float(np.linalg.lstsq(X, y_all["Health"], rcond=None)[0][1])
    quantities = [*top, slope]

    def predicted(train: np.ndarray) -> np.ndarray:
        return ComplementNB(alpha=0.3).fit(V[train], gold[train]).predict(V)

    def chosen(pred: np.ndarray) -> dict[str, np.ndarray]:
        return {c: (pred == c).astype(float) for c in y_all}

    rng = np.random.default_rng([seed, reps, n, folds])
    cover = {(q, a): [] for q in quantities for a in ARMS}
    width = {(q, a): [] for q in quantities for a in ARMS}
    acc_in, acc_oof = [], []
    t0 = time.perf_counter()
    for _ in range(reps):
        idx = np.sort(rng.choice(N, n, replace=False))
        pi = np.full(n, n / N)
        fold = rng.permutation(n) % folds
        pred_in = predicted(idx)  # in sample: the model that saw every labelled title
        full = chosen(pred_in)
        F = {c: np.zeros((N, folds)) for c in y_all}
        oof = np.empty(n, dtype=object)
        for k in range(folds):
            pred_k = predicted(idx[fold != k])
            oof[fold == k] = pred_k[idx[fold == k]]
            pk = chosen(pred_k)
            for c in y_all:
                F[c][:, k] = pk[c]
        f_cf = {}
        for c in y_all:
            f = F[c].mean(axis=1)
            f[idx] = F[c][idx, fold]  # out of fold
            f_cf[c] = f
        acc_in.append(float(np.mean(pred_in[idx] == gold[idx])))
        acc_oof.append(float(np.mean(oof == gold[idx])))
        rows: dict[str, dict[str, dict]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for q in quantities:
                lab = "Health" if q == slope else q
                y = y_all[lab][idx]
                est = _estimator(y, X if q == slope else None, idx, pi)
                plain = {r["method"]: r for r in est(full[lab], None, ["naive", "classical", "ppi", "dsl"])}
                cross = {r["method"]: r for r in est(f_cf[lab], F[lab], ["ppi", "dsl"])}
                rows[q] = {"naive": plain["naive"], "classical": plain["classical"],
                           "ppi in sample": plain["ppi"], "dsl in sample": plain["dsl"],
                           "ppi cross-fitted": cross["ppi"], "dsl cross-fitted": cross["dsl"]}
        for q in quantities:
            for a in ARMS:
                r = rows[q][a]
                cover[(q, a)].append(r["ci_low"] <= truth[q] <= r["ci_high"])
                width[(q, a)].append(r["ci_high"] - r["ci_low"])
    return {"coverage": {k: float(np.mean(v)) for k, v in cover.items()},
            "width": {k: float(np.mean(v)) for k, v in width.items()},
            "truth": truth, "quantities": quantities, "N": N, "n": n, "folds": folds, "reps": reps,
            "acc_in_sample": float(np.mean(acc_in)), "acc_out_of_fold": float(np.mean(acc_oof)),
            "seconds": time.perf_counter() - t0}


def section(out: dict, args: argparse.Namespace) -> str:
    q = out["quantities"]
    head = "| method | " + " | ".join(q) + " |"
    lines = [head, "|:--|" + "--:|" * len(q)]
    for a in ARMS:
        cells = [f"{out['coverage'][(x, a)]:.3f} / {out['width'][(x, a)]:.4f}" for x in q]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    cf = [out["coverage"][(x, a)] for x in q for a in ("ppi cross-fitted", "dsl cross-fitted")]
    ins = [out["coverage"][(x, a)] for x in q for a in ("ppi in sample", "dsl in sample")]
    ratio = np.mean([out["width"][(x, "ppi cross-fitted")] / out["width"][(x, "classical")] for x in q])
    truth = ", ".join(f"{k} {v:.4f}" for k, v in out["truth"].items())
    return "\n".join([
        START,
        "## Cross-fitting: the labelled sample trains the model and corrects the findings (cap_us)",
        "",
        f"`TZ=UTC .venv/bin/python benchmarks/bench_crossfit.py --reps {args.reps} --n {args.n} --folds {args.folds} "
        f"--seed {args.seed}`, {dt.date.today().isoformat()}, {cpu_name(cores=True)}; llmcoder "
        f"{version('llmcoder')}, ppi-python {version('ppi-python')}, scikit-learn {version('scikit-learn')}; "
        f"{out['seconds']:.0f} s.",
        "",
        f"Population: the N = {out['N']:,} cap_us titles with a CAP topic; per repetition a simple random sample "
        f"of n = {out['n']} titles is labelled and trains TF-IDF + complement naive Bayes; {out['reps']} "
        f"repetitions. Truth: {truth}. The classifier is right on {out['acc_in_sample']:.2f} of its own training "
        f"titles in sample and {out['acc_out_of_fold']:.2f} out of fold ({out['folds']} folds). Cells: coverage "
        "of the 95% interval / mean width.",
        "",
        *lines,
        "",
        f"Cross-fitted PPI and DSL covered at {min(cf):.3f}-{max(cf):.3f}; the same estimators fed the in-sample "
        f"predictions covered at {min(ins):.3f}-{max(ins):.3f}: a model scored on titles it was trained on looks "
        "better than it is, and the correction shrinks. Cross-fitted PPI's interval was "
        f"{ratio:.2f} of the classical width on average: the gain a model trained on the same {out['n']} labels "
        "can give.",
        END,
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    args = ap.parse_args()
    text = section(run(args.reps, args.n, args.folds, args.seed), args)
    print(text)
    if not args.no_write:
        write_section(text, START, END)


if __name__ == "__main__":
    main()
