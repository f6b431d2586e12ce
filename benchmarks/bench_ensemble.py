"""Benchmark: an ensemble of a study's LLM coders against its members, on the codings a run wrote.

Reads ``results/<study>/coders/<member>.parquet`` (rotation 0), the corpus's gold labels and the
split, combines the members by ``mean`` and by ``vote`` (:func:`llmcoder.coders.ensemble.combine_codings`,
what the ``code_ensemble`` rule runs) and scores every system with :func:`llmcoder.metrics.evaluate`
(the evaluation's own scorer, with bootstrap CIs) on the test split and on every document with gold;
the members' agreement comes from :func:`llmcoder.coders.ensemble.member_agreement`. No model runs.

Run after ``make demo`` (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_ensemble.py [--study demo] [--members smollm2,gemma3] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import markers, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def score(codings: pl.DataFrame, gold: pl.DataFrame, labels: list[str], docs: list[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and Cohen's kappa (with 95% CIs) of the chosen labels on ``docs``."""
    from llmcoder.metrics import evaluate

    pred = codings.filter((pl.col("rotation") == 0) & pl.col("chosen") & pl.col("doc_id").is_in(docs)) \
        .select("doc_id", "label")
    res = evaluate(gold.filter(pl.col("doc_id").is_in(docs)), pred, labels=labels, n_boot=1000, random_state=0)
    out = {}
    for m in ("accuracy", "macro_f1", "cohen_kappa"):
        ci = res["ci"][m]
        out[m] = (res["metrics"][m], ci[0], ci[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="demo")
    ap.add_argument("--members", default="smollm2,gemma3")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from llmcoder.coders.ensemble import combine_codings, member_agreement

    root = ROOT / "results" / args.study
    members = args.members.split(",")
    frames = {m: pl.read_parquet(root / "coders" / f"{m}.parquet") for m in members}
    labels = frames[members[0]]["label"].unique(maintain_order=True).to_list()
    gold = pl.read_parquet(root / "corpus.parquet").select("doc_id", "label").drop_nulls()
    test = pl.read_parquet(root / "splits.parquet").filter(pl.col("split") == "test")["doc_id"].to_list()
    systems = dict(frames)
    for combine in ("mean", "vote"):
        systems[f"ensemble ({combine})"] = combine_codings(frames, labels, task="single", combine=combine,
                                                           coder_id=f"ensemble-{combine}")
    agree = member_agreement(frames, task="single", n_boot=1000)
    kappa = next(c for c in agree["coefficients"] if c["coefficient"] == "fleiss_kappa")
    scopes = {"test split": [d for d in test if d in set(gold["doc_id"])], "all documents": gold["doc_id"].to_list()}

    def fmt(t: tuple[float, float, float]) -> str:
        return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"

    start, end = markers("bench_ensemble")
    lines = [start, "## Ensembles of the LLM coders (`benchmarks/bench_ensemble.py`)", "",
             f"{dt.date.today().isoformat()}, study `{args.study}`, from the codings its run wrote (rotation 0; no "
             f"model runs). Members: {', '.join(f'`{m}`' for m in members)}; they chose the same label for "
             f"{agree['n_all_agree']} of {agree['n_documents']} documents ({100 * agree['share_all_agree']:.1f}%), "
             f"Fleiss' kappa {kappa['estimate']:.3f} [{kappa['ci_low']:.3f}, {kappa['ci_high']:.3f}]. Scored by "
             "`llmcoder.metrics.evaluate` (95% percentile bootstrap CIs, 1,000 resamples).", ""]
    for scope, docs in scopes.items():
        lines += [f"**{scope}** ({len(docs)} documents)", "", "| system | accuracy | macro-F1 | Cohen's kappa |",
                  "|:--|--:|--:|--:|"]
        for name, df in systems.items():
            s = score(df, gold, labels, docs)
            lines.append(f"| {name} | {fmt(s['accuracy'])} | {fmt(s['macro_f1'])} | {fmt(s['cohen_kappa'])} |")
        lines.append("")
    lines += [f"Command: `TZ=UTC .venv/bin/python benchmarks/bench_ensemble.py --study {args.study} --members "
              f"{args.members}`", end]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, start, end)


if __name__ == "__main__":
    main()
