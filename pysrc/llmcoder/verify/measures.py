"""What the decisions say about the coders: LLM acceptance rates, human workload, human-human reliability.

Each takes the first-round decision log (``round == "verify"``) or all of it, and returns one table of
:class:`~llmcoder.verify.decide.VerifyResult`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import polars as pl

from llmcoder.verify._common import wilson

RELIABILITY_SCHEMA = {"scope": pl.Utf8, "coefficient": pl.Utf8, "estimate": pl.Float64,
                      "se": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                      "n_units": pl.Int64, "n_coders": pl.Int64, "method": pl.Utf8}


def acceptance_rates(first: pl.DataFrame, proposals: pl.DataFrame | None,
                     verified: Mapping[str, set[str]]) -> pl.DataFrame:
    """Per LLM coder: share of the human decisions on its proposals that kept them (Wilson CI), and
    share of its proposals on verified documents that are in the verified set."""
    schema = {"llm_coder": pl.Utf8, "n_proposals": pl.Int64, "n_decisions": pl.Int64, "n_kept": pl.Int64,
              "acceptance": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "n_on_verified": pl.Int64, "verified_precision": pl.Float64, "vp_ci_low": pl.Float64,
              "vp_ci_high": pl.Float64}
    if proposals is None or proposals.height == 0:
        return pl.DataFrame(schema=schema)
    p = proposals.explode("llm_coders").rename({"llm_coders": "llm_coder"}).unique()
    j = p.join(first.select("doc_id", "label", "decision"), on=["doc_id", "label"], how="inner")
    rows = []
    for llm in sorted(p["llm_coder"].unique().to_list()):
        sub = j.filter(pl.col("llm_coder") == llm)
        k, n = int((sub["decision"] == "keep").sum()), sub.height
        mine = p.filter(pl.col("llm_coder") == llm)
        on_v = [(doc, lab) for doc, lab in mine.select("doc_id", "label").iter_rows() if doc in verified]
        kv = sum(1 for doc, lab in on_v if lab in verified[doc])
        lo, hi = wilson(k, n)
        vlo, vhi = wilson(kv, len(on_v))
        rows.append({"llm_coder": llm, "n_proposals": mine.height, "n_decisions": n, "n_kept": k,
                     "acceptance": k / n if n else None, "ci_low": lo, "ci_high": hi,
                     "n_on_verified": len(on_v), "verified_precision": kv / len(on_v) if on_v else None,
                     "vp_ci_low": vlo, "vp_ci_high": vhi})
    return pl.DataFrame(rows, schema=schema)


def _ratings(first: pl.DataFrame, task: str) -> pl.DataFrame:
    """Decisions as keep/reject ratings: supplied -> keep, and (single-label) an implied reject for
    each other coder of the document who left a label that somebody supplied."""
    d = first.with_columns(pl.when(pl.col("decision") == "supplied").then(pl.lit("keep"))
                           .otherwise(pl.col("decision")).alias("decision"))
    sup = first.filter(pl.col("decision") == "supplied").select("doc_id", "label").unique()
    if task != "single" or sup.height == 0:
        return d
    coders = d.select("doc_id", "coder").unique()
    implied = (sup.join(coders, on="doc_id").join(d.select("doc_id", "label", "coder"),
                                                  on=["doc_id", "label", "coder"], how="anti")
               .with_columns(pl.lit("reject").alias("decision")))
    return pl.concat([d, implied], how="diagonal_relaxed")


def workload(d: pl.DataFrame) -> pl.DataFrame:
    """Per human coder and round: rows, documents, rejections, supplied labels, overlap documents."""
    multi = (d.filter(pl.col("round") == "verify").group_by("doc_id")
             .agg(pl.col("coder").n_unique().alias("n")).filter(pl.col("n") > 1)["doc_id"])
    return (d.group_by("coder", "round")
            .agg(pl.len().alias("rows"), pl.col("doc_id").n_unique().alias("documents"),
                 (pl.col("decision") == "reject").sum().cast(pl.Int64).alias("rejections"),
                 (pl.col("decision") == "supplied").sum().cast(pl.Int64).alias("supplied"),
                 pl.col("doc_id").filter(pl.col("doc_id").is_in(multi.implode())).n_unique()
                 .alias("overlap_documents"))
            .with_columns(pl.col("rows").cast(pl.Int64), pl.col("documents").cast(pl.Int64),
                          pl.col("overlap_documents").cast(pl.Int64),
                          (pl.col("rejections") / pl.col("rows")).alias("rejection_rate"))
            .sort("round", "coder", descending=[True, False]))


def human_reliability(first: pl.DataFrame, min_units: int = 10,
                      task: str = "single") -> tuple[pl.DataFrame, str | None]:
    """Agreement of the human coders on the overlap (rating = keep/reject), overall (unit = document
    × label) and per label with at least ``min_units`` shared documents. A supplied right label counts
    as kept; single-label, a coder of the document who did not give that label rejected it."""
    first = _ratings(first, task)
    try:
        from llmcoder.reliability import reliability
    except ImportError:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: llmcoder.reliability is not available"
    shared = (first.group_by("doc_id", "label").agg(pl.col("coder").n_unique().alias("n"))
              .filter(pl.col("n") > 1).select("doc_id", "label"))
    if shared.height == 0:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: no document was verified by two coders"
    r = first.join(shared, on=["doc_id", "label"]).select("doc_id", "label", "coder", "decision")
    overall = r.select((pl.col("doc_id") + "\x1f" + pl.col("label")).alias("doc_id"), "coder",
                       pl.col("decision").alias("label"))
    counts = shared.group_by("label").len()
    labels = sorted(counts.filter(pl.col("len") >= min_units)["label"].to_list())
    jobs = [("all labels", overall)] + [
        (lab, r.filter(pl.col("label") == lab).select("doc_id", "coder", pl.col("decision").alias("label")))
        for lab in labels]
    frames, skipped = [], []
    for scope, ratings in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = reliability(ratings, level="nominal", categories=["keep", "reject"])
        except Exception as e:  # too few units or coders for this label
            skipped.append(f"{scope} ({type(e).__name__}: {e})")
            continue
        frames.append(res.with_columns(pl.lit(scope).alias("scope")))
    notes = []
    if counts.height > len(labels):
        notes.append(f"{counts.height - len(labels)} label(s) with fewer than {min_units} shared documents "
                     "have no per-label row")
    if skipped:
        notes.append(f"skipped {len(skipped)}: " + "; ".join(skipped[:5]))
    if not frames:
        return pl.DataFrame(schema=RELIABILITY_SCHEMA), "not computed: " + "; ".join(notes)
    out = pl.concat(frames, how="diagonal_relaxed")
    cols = ["scope"] + [c for c in out.columns if c != "scope"]
    return out.select(cols), "; ".join(notes) or None


def human_labels(first: pl.DataFrame) -> pl.DataFrame:
    """Each person's own label of each document (single-label) as ``doc_id, coder, label``: the right label
    they supplied, else the one proposal they kept; a person who kept none or several gives no label."""
    supplied = first.filter(pl.col("decision") == "supplied").select("doc_id", "coder", "label")
    kept = (first.filter(pl.col("decision") == "keep").group_by("doc_id", "coder")
            .agg(pl.col("label").unique().alias("labels"))
            .filter(pl.col("labels").list.len() == 1)
            .select("doc_id", "coder", pl.col("labels").list.first().alias("label"))
            .join(supplied, on=["doc_id", "coder"], how="anti"))
    return pl.concat([supplied, kept]).unique(["doc_id", "coder"], keep="first").sort("doc_id", "coder")


def verifier_ceiling(first: pl.DataFrame, *, task: str,
                     labels: list[str] | None = None) -> tuple[pl.DataFrame, str | None]:
    """The human ceiling: agreement of the people's own labels on the documents two or more of them
    verified (:func:`llmcoder.reliability.human_ceiling`), the level a coder's agreement with gold is read
    against. Single-label only; an empty table and a note otherwise."""
    from llmcoder.reliability import _SCHEMA, human_ceiling

    if task != "single":
        return pl.DataFrame(schema=_SCHEMA), "not computed: the human ceiling is for single-label codebooks"
    own = human_labels(first)
    shared = own.group_by("doc_id").len().filter(pl.col("len") > 1).select("doc_id")
    own = own.join(shared, on="doc_id")
    if shared.height < 2:
        return pl.DataFrame(schema=_SCHEMA), "not computed: fewer than two documents labelled by two people"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = human_ceiling(own, level="nominal", categories=labels)
    return table, None
