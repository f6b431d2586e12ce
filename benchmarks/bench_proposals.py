"""Benchmark: how much of a corpus gets a trustworthy label for how much human effort, per proposal policy.

For each policy (the coders' chosen label = top-1, top-3, probability mass 0.9, conformal APS sets at
0.9 calibrated on the dev split's gold) the real LLM coders' outputs of a study run are turned into
verification sheets for the documents of the train and dev splits (three verifiers, 20% overlap), a
simulated verifier fills them from gold with 5% errors (rejecting, keeping, and supplying the right
label when every proposal is wrong), ingest decides, and a simulated adjudicator decides the queue.
Reported per policy: the mean proposed-set size and its coverage of the gold label, the share of
documents verified by the verifiers alone and after adjudication, the decisions per verified document
(sheet rows plus adjudication rows), the accuracy of the verified labels against gold, and the test
accuracy of a TF-IDF + logistic regression model trained on them (the same job the workflow runs).

Run after the study's coders (e.g. ``make demo``) and write the section of benchmarks/RESULTS.md::

    TZ=UTC .venv/bin/python benchmarks/bench_proposals.py --study demo [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name, markers, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLICIES = {"top-1 (chosen)": {"policy": "chosen"}, "top-3": {"policy": "top_k", "k": 3},
            "mass 0.9": {"policy": "mass", "mass": 0.9}, "conformal 0.9": {"policy": "conformal", "coverage": 0.9}}
TFIDF = {"kind": "tfidf", "name": "tfidf", "class_weights": True, "seed": 1}


def run_policy(name: str, policy: dict[str, Any], res: Path, codebook: Path, work: Path) -> dict[str, Any]:
    """Sheets, simulated verification and adjudication, fine-tuning: one row of the table."""
    from llmcoder.jobs import train_and_predict
    from llmcoder.stages import ingest_verification, simulated_verification, verification_sheets

    coders = sorted((res / "coders").glob("*.parquet"))
    coders = [p for p in coders if not p.name.endswith("_orders.parquet")]
    settings = {"splits": ["train", "dev"], "humans": ["anna", "ben", "chloe"], "overlap": 0.2, "overlap_coders": 2,
                "min_prob": None, "route": "none", "uncertain_below": 0.5, "seed": 0, "proposals": policy}
    manifest = verification_sheets(res / "corpus.parquet", res / "splits.parquet", coders, codebook, work / "sheets",
                                   study="bench", settings=settings)
    filled = simulated_verification(manifest, res / "corpus.parquet", work / "filled", error_rate=0.05, seed=0,
                                    codebook=codebook)
    sheets = sorted(p for p in filled.values() if str(p).endswith(".xlsx"))
    first = ingest_verification(sheets, manifest, codebook, work / "first", overlap_policy="adjudicate")
    final = ingest_verification(sheets, manifest, codebook, work / "ingest", overlap_policy="adjudicate",
                                simulate_adjudication={"corpus": res / "corpus.parquet", "error_rate": 0.05, "seed": 0})
    man = json.loads(Path(manifest).read_text())
    prop = man["settings"]["proposals"]
    coded = pl.concat([pl.read_parquet(p, columns=["doc_id"]) for p in coders]).unique()  # a study run with
    n_docs = pl.read_parquet(res / "splits.parquet").filter(  # coding.limit codes only the first documents
        pl.col("split").is_in(["train", "dev"]) & pl.col("doc_id").is_in(coded["doc_id"].implode())).height
    verified = pl.read_parquet(work / "ingest" / "verified.parquet")
    gold = pl.read_parquet(res / "corpus.parquet").select("doc_id", pl.col("label").alias("gold"))
    acc = verified.join(gold, on="doc_id").select((pl.col("label") == pl.col("gold")).mean()).item()
    decisions = pl.read_parquet(work / "ingest" / "decisions.parquet").filter(pl.col("decision") != "supplied")
    job = train_and_predict({**TFIDF, "codebook": str(codebook)}, res / "corpus.parquet", res / "splits.parquet",
                            work / "ingest" / "verified.parquet", size=1.0, seed=1, out_dir=work / "tfidf")
    return {"policy": name, "mean_set_size": prop["mean_set_size"], "set_coverage": prop["coverage"],
            "verified_by_verifiers": first["n_verified"] / n_docs, "verified_after_adjudication":
            final["n_verified"] / n_docs, "decisions_per_verified": decisions.height / max(final["n_verified"], 1),
            "supplied": final.get("n_supplied", 0), "verified_accuracy": acc,
            "tfidf_test_accuracy": job["metrics"]["accuracy"], "n_documents": n_docs}


def table(rows: list[dict[str, Any]], study: str, command: str) -> str:
    """The Markdown section for RESULTS.md."""
    import llmcoder

    head = (f"### Proposal policies on the {study} study (simulated verifiers and adjudicator, 5% errors)\n\n"
            f"Machine: {cpu_name()}; llmcoder {llmcoder.__version__}; {dt.date.today().isoformat()}. "
            f"{rows[0]['n_documents']} train+dev documents (those the study's LLM coders coded), the coders' real "
            f"outputs. Command: `{command}`.\n\n"
            "| policy | mean set size | gold in set | verified by verifiers | verified after adjudication | "
            "decisions per verified doc | right labels supplied | verified labels correct | TF-IDF test accuracy |\n"
            "|:--|--:|--:|--:|--:|--:|--:|--:|--:|\n")
    body = "".join(
        f"| {r['policy']} | {r['mean_set_size']:.2f} | {r['set_coverage']:.3f} | {r['verified_by_verifiers']:.3f} | "
        f"{r['verified_after_adjudication']:.3f} | {r['decisions_per_verified']:.2f} | {r['supplied']} | "
        f"{r['verified_accuracy']:.3f} | {r['tfidf_test_accuracy']:.3f} |\n" for r in rows)
    return head + body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", default="demo")
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--codebook", type=Path, default=ROOT / "data" / "demo" / "codebook.yaml",
                    help="the study's codebook (cap_us: ../shared/data/rethinking_scale/cap_codebook.csv)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    res = args.results / args.study
    rows = []
    for name, policy in POLICIES.items():
        with tempfile.TemporaryDirectory(prefix="bench-proposals-") as tmp:
            rows.append(run_policy(name, policy, res, args.codebook, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    start, end = markers(f"bench_proposals:{args.study}")
    command = "TZ=UTC .venv/bin/python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    text = f"{start}\n{table(rows, args.study, command)}{end}"
    print(text)
    if not args.no_write:
        write_section(text, start, end)


if __name__ == "__main__":
    main()
