"""Benchmark: reliability on 100,000 documents x 5 coders, and bootstrap CIs on 10,000 documents.

* ``llmcoder.reliability.reliability``: 100,000 documents, 5 coders, 4 categories, 30% of the
  ratings missing, nominal, ``n_boot=1000`` (the bootstrap of the mean pairwise Cohen kappa), and
  with ``n_boot=0`` (irrCAC, krippendorff and the pairwise kappas only).
* ``llmcoder.metrics.evaluate``: 1,000 bootstrap resamples of the headline metrics on 10,000
  documents, single-label (10 classes) and multi-label (11 labels); the point estimates are
  sklearn's and the resamples are vectorised.
* Baseline: the naive bootstrap that calls sklearn (accuracy, macro F1, Cohen kappa) once per
  resample, timed on ``--naive`` resamples and scaled to 1,000.

Each timing is the median of ``--repeats`` runs after one warm-up.

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_stats.py [--repeats 3] [--naive 100] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name as _cpu_name  # noqa: E402
from _results import write_section as _write_section  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- bench_stats:start -->", "<!-- bench_stats:end -->"


def cpu_name() -> str:
    """The CPU, as the RESULTS.md sections name it."""
    return _cpu_name(cores=False)


def write_section(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md."""
    _write_section(text, START, END)


def median_s(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ratings_frame(n: int = 100_000, coders: int = 5, q: int = 4, missing: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, n)
    x = np.where(rng.random((n, coders)) < 0.7, truth[:, None], rng.integers(0, q, (n, coders)))
    d, c = np.nonzero(rng.random((n, coders)) >= missing)
    return pl.DataFrame(
        {
            "doc_id": d.astype(str),
            "coder": np.char.add("c", c.astype(str)),
            "label": np.char.add("k", x[d, c].astype(str)),
        }
    )


def single_frames(n: int = 10_000, k: int = 10, seed: int = 1):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.7, g, rng.integers(0, k, n))
    ids = np.arange(n).astype(str)
    return (
        pl.DataFrame({"doc_id": ids, "label": np.char.add("c", g.astype(str))}),
        pl.DataFrame({"doc_id": ids, "label": np.char.add("c", p.astype(str))}),
        g,
        p,
    )


def multi_frames(n: int = 10_000, k: int = 11, seed: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)) < 0.3
    p = np.where(rng.random((n, k)) < 0.85, y, ~y)
    names = np.array([f"l{j}" for j in range(k)])

    def long(m):
        d, j = np.nonzero(m)
        empty = np.flatnonzero(~m.any(1))
        return pl.DataFrame(
            {
                "doc_id": np.concatenate([d, empty]).astype(str),
                "label": np.concatenate([names[j], np.full(len(empty), None)]),
            }
        )

    return long(y), long(p), list(names)


def run(repeats: int, naive: int) -> dict:
    from sklearn import metrics as skm

    from llmcoder.metrics import evaluate
    from llmcoder.reliability import reliability

    warnings.simplefilter("ignore")
    r = ratings_frame()
    out: dict = {"n_ratings": r.height}
    out["rel_boot"] = median_s(lambda: reliability(r, n_boot=1000), repeats)
    out["rel_noboot"] = median_s(lambda: reliability(r, n_boot=0), repeats)
    gold, pred, g, p = single_frames()
    out["eval_single"] = median_s(lambda: evaluate(gold, pred, n_boot=1000), repeats)
    out["eval_single_noboot"] = median_s(lambda: evaluate(gold, pred, n_boot=0), repeats)
    mg, mp, names = multi_frames()
    out["eval_multi"] = median_s(lambda: evaluate(mg, mp, labels=names, n_boot=1000), repeats)

    def naive_loop():
        rng = np.random.default_rng(0)
        for _ in range(naive):
            i = rng.integers(0, len(g), len(g))
            skm.accuracy_score(g[i], p[i])
            skm.f1_score(g[i], p[i], average="macro")
            skm.cohen_kappa_score(g[i], p[i])

    out["naive_1000"] = median_s(naive_loop, 1) * 1000 / naive
    out.update(
        cpu=cpu_name(),
        cores=os.cpu_count() or 0,
        python=platform.python_version(),
        versions=", ".join(
            f"{p} {version(p)}" for p in ("numpy", "scipy", "scikit-learn", "polars", "irrCAC", "krippendorff")
        ),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        repeats=repeats,
        naive=naive,
    )
    return out


def section(r: dict) -> str:
    return "\n".join(
        [
            START,
            "## Statistics: reliability and bootstrap CIs (`benchmarks/bench_stats.py`)",
            "",
            "| task | seconds |",
            "|---|---:|",
            f"| `reliability()`: 100,000 docs x 5 coders, 30% missing ({r['n_ratings']:,} ratings), "
            f"7 coefficients, n_boot=1000 | {r['rel_boot']:.2f} |",
            f"| same, n_boot=0 (irrCAC + krippendorff + pairwise kappas only) | {r['rel_noboot']:.2f} |",
            f"| `evaluate()` single-label, 10,000 docs, 10 classes, 1,000 resamples | {r['eval_single']:.2f} |",
            f"| same, n_boot=0 (sklearn point estimates only) | {r['eval_single_noboot']:.2f} |",
            f"| `evaluate()` multi-label, 10,000 docs, 11 labels, 1,000 resamples | {r['eval_multi']:.2f} |",
            f"| naive bootstrap: sklearn accuracy + macro F1 + kappa per resample, 1,000 resamples "
            f"(timed on {r['naive']}, scaled) | {r['naive_1000']:.1f} |",
            "",
            f"Vectorised bootstrap vs naive sklearn loop (single-label, 1,000 resamples): "
            f"{r['naive_1000'] / (r['eval_single'] - r['eval_single_noboot']):.0f}x faster "
            f"(bootstrap part only; {r['naive_1000'] / r['eval_single']:.0f}x for the whole `evaluate()`).",
            "",
            f"Machine: {r['cpu']}, {r['cores']} cores; Python {r['python']}; {r['versions']}. "
            f"Median of {r['repeats']} runs after a warm-up; {r['date']}.",
            "Command: `TZ=UTC .venv/bin/python benchmarks/bench_stats.py`",
            END,
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive", type=int, default=100, help="resamples of the naive loop (scaled to 1000)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    text = section(run(args.repeats, args.naive))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
