"""Adapters from other verification records to llmcoder's decision log.

The Human Flourishing data of "Rethinking Scale" (Carammia, Iacus & Porro 2024) is the paper's own
verification by rejection: each row is one label an LLM (LLAMA2 or GPT4) proposed for a tweet, the
human coder who checked it and whether it was accepted (Y/N). The label is ``dimension:level``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.errors import InputError, rows_problem
from llmcoder.verify.ingest import DECISION_SCHEMA, OverlapPolicy, VerifyResult, verify_decisions

FLOURISHING_COLUMNS = ("dimension", "value", "id", "coder", "accepted", "llm")
_WS = re.compile(r"\s+")


def _norm(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def _read_flourishing(path: str | os.PathLike[str], level: bool) -> pl.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "Human Flourishing codings not found",
                         fix="pass shared/data/rethinking_scale/flourishing_llm_codings_verified.csv")
    raw = pl.read_csv(p, infer_schema=False)
    missing = [c for c in FLOURISHING_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(str(p), f"column(s) {missing} missing", fix=f"expected {', '.join(FLOURISHING_COLUMNS)}")
    df = raw.with_row_index("row", offset=2).with_columns(
        pl.col("row").cast(pl.Int64), _norm("dimension").alias("dimension"), _norm("value").alias("value"),
        pl.col("id").str.strip_chars().alias("doc_id"), pl.col("coder").str.strip_chars().alias("coder"),
        pl.col("accepted").str.strip_chars().str.to_uppercase().alias("accepted"),
        pl.col("llm").str.strip_chars().alias("llm"))
    bad = df.filter(~pl.col("accepted").is_in(["Y", "N"]) | pl.col("accepted").is_null())
    if bad.height:
        raise InputError(str(p), "'accepted' must be Y or N",
                         rows_problem(bad["row"].to_list(), "not Y or N", "accepted"), fix="correct these rows")
    label = pl.concat_str("dimension", pl.lit(":"), "value") if level else pl.col("dimension")
    return df.with_columns(label.alias("label"))


def decisions_from_flourishing(path: str | os.PathLike[str], *, level: bool = True) -> pl.DataFrame:
    """The paper's verification as llmcoder's decision log (one row per tweet, human coder and label).

    ``accepted`` Y → ``keep``, N → ``reject``. The label is ``dimension:level`` (``level=False``:
    the dimension only), dimension names lower-cased with spaces collapsed. The file repeats some
    decisions (the same proposal from both LLMs, or twice from one); they are collapsed to one
    decision per (tweet, coder, label), kept if any copy was accepted (the rule that reproduces the
    published sets); ``raw`` shows every copy (e.g. ``Y/N`` where a coder's copies conflict),
    ``row`` the CSV row of the first copy.
    """
    df = _read_flourishing(path, level)
    return (df.group_by("doc_id", "coder", "label", maintain_order=True)
            .agg((pl.col("accepted") == "Y").any().alias("keep"),
                 pl.col("accepted").unique().sort().str.join("/").alias("raw"),
                 pl.col("row").min().alias("row"))
            .select("doc_id", "coder", "label",
                    pl.when(pl.col("keep")).then(pl.lit("keep")).otherwise(pl.lit("reject")).alias("decision"),
                    "raw", pl.lit(None, pl.Utf8).alias("comment"), pl.lit(Path(path).name).alias("sheet"),
                    "row", pl.lit("verify").alias("round"))
            .cast(DECISION_SCHEMA).sort("row"))


def proposals_from_flourishing(path: str | os.PathLike[str], *, level: bool = True) -> pl.DataFrame:
    """Which LLM proposed which label for which tweet: ``doc_id, label, llm_coders`` (list)."""
    df = _read_flourishing(path, level)
    return (df.group_by("doc_id", "label").agg(pl.col("llm").unique().sort().alias("llm_coders"))
            .sort("doc_id", "label"))


def _published(tweets_path: str | os.PathLike[str], level: bool) -> dict[str, set[str]]:
    t = pl.read_csv(tweets_path, infer_schema=False)
    col = "labels_with_level" if level else "dimensions"
    out = {}
    for doc, labs in t.select("id", col).iter_rows():
        out[doc.strip()] = {_WS.sub(" ", x.strip().lower()) for x in (labs or "").split("|") if x.strip()}
    return out


def compare_with_published(verified: pl.DataFrame, tweets_path: str | os.PathLike[str], *,
                           level: bool = True) -> dict[str, Any]:
    """Compare verified label sets with the published ``labels_with_level`` (or ``dimensions``).

    Returns the number of tweets compared (verified and published), the share whose sets are equal,
    the mean Jaccard similarity (two empty sets count 1), and how many published tweets are not in
    the verified table (e.g. waiting for adjudication).
    """
    pub = _published(tweets_path, level)
    ver = {d: set(labs) for d, labs in verified.select("doc_id", "labels").iter_rows()}
    both = sorted(set(pub) & set(ver))
    eq = sum(1 for d in both if pub[d] == ver[d])
    jac = [len(pub[d] & ver[d]) / len(pub[d] | ver[d]) if pub[d] | ver[d] else 1.0 for d in both]
    return {"n_published": len(pub), "n_verified": len(ver), "n_compared": len(both),
            "share_equal": eq / len(both) if both else None,
            "mean_jaccard": sum(jac) / len(jac) if jac else None,
            "n_published_not_verified": len(set(pub) - set(ver)),
            "n_verified_not_published": len(set(ver) - set(pub))}


def verify_flourishing(path: str | os.PathLike[str], tweets_path: str | os.PathLike[str] | None = None, *,
                       level: bool = True, overlap_policy: OverlapPolicy = "adjudicate",
                       reliability: bool = True) -> tuple[VerifyResult, dict[str, Any]]:
    """Run the paper's decisions through :func:`verify_decisions` (multi-label) and compare with the
    published sets when ``tweets_path`` (flourishing_tweets.csv) is given."""
    decisions = decisions_from_flourishing(path, level=level)
    proposals = proposals_from_flourishing(path, level=level)
    raw = _read_flourishing(path, level)
    result = verify_decisions(decisions, task="multi", proposals=proposals, overlap_policy=overlap_policy,
                              study="rethinking_scale_flourishing", reliability=reliability,
                              summary_extra={"source_file": str(path)})
    info: dict[str, Any] = {
        "n_rows": raw.height, "n_decisions": decisions.height,
        "n_collapsed_duplicates": raw.height - decisions.height,
        "n_conflicting_duplicates": int(decisions["raw"].str.contains("/").sum()),
    }
    if tweets_path is not None:
        dims = set()
        for v in pl.read_csv(tweets_path, infer_schema=False)["dimensions"].drop_nulls().to_list():
            dims |= {_WS.sub(" ", x.strip().lower()) for x in v.split("|") if x.strip()}
        llm_dims = set(raw["dimension"].unique().to_list())
        info["n_codebook_dimensions"] = len(dims)
        info["llm_dimensions_not_in_codebook"] = sorted(llm_dims - dims)
        info["comparison"] = compare_with_published(result.verified, tweets_path, level=level)
    return result, info


def report_flourishing(path: str | os.PathLike[str], tweets_path: str | os.PathLike[str]) -> str:
    """The numbers of the paper's verification run through llmcoder, as text."""
    lines = []
    for policy in ("adjudicate", "union"):
        res, info = verify_flourishing(path, tweets_path, overlap_policy=policy,  # type: ignore[arg-type]
                                       reliability=policy == "adjudicate")
        s, cmp = res.summary, info["comparison"]
        if policy == "adjudicate":
            lines.append(f"Human Flourishing verification ({path})")
            lines.append(f"  {info['n_rows']} rows -> {info['n_decisions']} decisions (tweet x coder x "
                         f"dimension:level); {info['n_collapsed_duplicates']} repeated rows collapsed, "
                         f"{info['n_conflicting_duplicates']} of them with conflicting Y/N (kept if any Y)")
            lines.append(f"  LLM dimensions not among the {info['n_codebook_dimensions']} codebook dimensions: "
                         f"{len(info['llm_dimensions_not_in_codebook'])} {info['llm_dimensions_not_in_codebook']}")
            lines.append(f"  {s['n_documents']} tweets, coders {', '.join(s['coders'])}; "
                         f"{s['n_overlap_documents']} tweets checked by more than one coder")
            lines.append("  acceptance per LLM (human decisions that kept its proposals; Wilson 95% CI):")
            for r in res.acceptance.iter_rows(named=True):
                lines.append(f"    {r['llm_coder']:7s} {r['n_kept']:5d}/{r['n_decisions']:5d} = {r['acceptance']:.3f} "
                             f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]; in the verified sets: "
                             f"{r['verified_precision']:.3f} [{r['vp_ci_low']:.3f}, {r['vp_ci_high']:.3f}] "
                             f"of {r['n_on_verified']} proposals")
            rel = res.reliability.filter(pl.col("scope") == "all labels")
            if rel.height:
                lines.append(f"  reliability on the overlap ({rel['n_units'][0]} tweet x label units, "
                             f"{rel['n_coders'][0]} coders; keep/reject):")
                for r in rel.iter_rows(named=True):
                    lines.append(f"    {r['coefficient']:20s} {r['estimate']:.3f} "
                                 f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
            else:
                lines.append(f"  reliability: {s.get('reliability_note')}")
            n_lab = res.reliability["scope"].n_unique() - 1 if rel.height else 0
            lines.append(f"  per-label reliability: {n_lab} labels with at least 10 shared tweets")
        lines.append(f"  overlap policy '{policy}': {s['n_verified']} tweets verified, {s['n_adjudication_queue']} "
                     f"to adjudicate; vs published labels_with_level: {cmp['n_compared']} compared, "
                     f"equal sets {cmp['share_equal']:.4f}, mean Jaccard {cmp['mean_jaccard']:.4f}")
    return "\n".join(lines)

