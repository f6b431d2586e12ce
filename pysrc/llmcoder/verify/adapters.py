"""Adapters from other verification records to llmcoder's decision log.

The Human Flourishing data of "Rethinking Scale" (Carammia, Iacus & Porro 2024) is the paper's own
verification by rejection: each row is one label an LLM (LLAMA2 or GPT4) proposed for a tweet, the
human coder who checked it and whether it was accepted (Y/N). The label is ``dimension:level``.

The formats that ``verify.mode: import`` reads (``verify.decisions_format``) are the importers in
:data:`IMPORTERS`, each registered under its name with :func:`register_importer`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.errors import InputError, rows_problem
from llmcoder.verify.decide import DECISION_SCHEMA, OverlapPolicy, VerifyResult, verify_decisions

FLOURISHING_COLUMNS = ("dimension", "value", "id", "coder", "accepted", "llm")
_WS = re.compile(r"\s+")


def _norm(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def _read_flourishing(path: str | os.PathLike[str], level: bool, codebook: Codebook | None = None) -> pl.DataFrame:
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
    df = df.with_columns(label.alias("label"))
    return df if codebook is None else labels_to_ids(df, codebook, source=str(p), column="dimension")


def labels_to_ids(df: pl.DataFrame, codebook: Codebook, *, source: str, column: str = "label") -> pl.DataFrame:
    """Replace ``label`` (a codebook id or name) by the label's id; rows naming no label are an error.

    ``df`` has a ``row`` column (the file's row numbers) so that the error names the rows to correct.
    """
    mapping = codebook.resolve_many(df["label"].unique().drop_nulls().to_list())
    unknown = sorted(v for v, lid in mapping.items() if lid is None)
    bad = df.filter(pl.col("label").is_null() | pl.col("label").is_in(unknown))
    if bad.height:
        raise InputError(source, f"{bad.height} decision(s) name a label that is not in the codebook "
                         f"({', '.join(repr(v) for v in unknown[:10])})",
                         rows_problem(bad["row"].to_list(), "label not in the codebook", column),
                         fix=f"use the ids or names of {codebook.source} ({', '.join(codebook.ids[:8])}, ...), "
                             "or add the labels to it")
    return df.with_columns(pl.col("label").replace_strict(mapping, return_dtype=pl.Utf8))


def decisions_from_flourishing(path: str | os.PathLike[str], *, level: bool = True,
                               codebook: Codebook | None = None) -> pl.DataFrame:
    """The paper's verification as llmcoder's decision log (one row per tweet, human coder and label).

    ``accepted`` Y → ``keep``, N → ``reject``. The label is ``dimension:level`` (``level=False``:
    the dimension only), dimension names lower-cased with spaces collapsed. The file repeats some
    decisions (the same proposal from both LLMs, or twice from one); they are collapsed to one
    decision per (tweet, coder, label), kept if any copy was accepted (the rule that reproduces the
    published sets); ``raw`` shows every copy (e.g. ``Y/N`` where a coder's copies conflict),
    ``row`` the CSV row of the first copy. With a ``codebook`` (dimensions only, ``level=False``)
    labels are the codebook's ids, and a dimension missing from it is an error naming the rows.
    """
    _check_level(level, codebook)
    df = _read_flourishing(path, level, codebook)
    return (df.group_by("doc_id", "coder", "label", maintain_order=True)
            .agg((pl.col("accepted") == "Y").any().alias("keep"),
                 pl.col("accepted").unique().sort().str.join("/").alias("raw"),
                 pl.col("row").min().alias("row"))
            .select("doc_id", "coder", "label",
                    pl.when(pl.col("keep")).then(pl.lit("keep")).otherwise(pl.lit("reject")).alias("decision"),
                    "raw", pl.lit(None, pl.Utf8).alias("comment"), pl.lit(Path(path).name).alias("sheet"),
                    "row", pl.lit("verify").alias("round"))
            .cast(DECISION_SCHEMA).sort("row"))


def proposals_from_flourishing(path: str | os.PathLike[str], *, level: bool = True,
                               codebook: Codebook | None = None) -> pl.DataFrame:
    """Which LLM proposed which label for which tweet: ``doc_id, label, llm_coders`` (list)."""
    _check_level(level, codebook)
    df = _read_flourishing(path, level, codebook)
    return (df.group_by("doc_id", "label").agg(pl.col("llm").unique().sort().alias("llm_coders"))
            .sort("doc_id", "label"))


def _check_level(level: bool, codebook: Codebook | None) -> None:
    if level and codebook is not None:
        raise ValueError("a codebook names dimensions: pass level=False to map the decisions onto its labels")


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
    cmp = compare_label_sets(ver, pub)
    return {"n_published": len(pub), "n_verified": len(ver), "n_compared": cmp["n_compared"],
            "share_equal": cmp["share_equal"], "mean_jaccard": cmp["mean_jaccard"],
            "n_published_not_verified": cmp["n_reference_only"], "n_verified_not_published": cmp["n_verified_only"]}


def compare_label_sets(verified: dict[str, set[str]], reference: dict[str, set[str]]) -> dict[str, Any]:
    """How far verified label sets agree with reference sets (e.g. the corpus gold), document by document.

    Returns the documents compared (in both), the share with equal sets, the mean Jaccard similarity
    (two empty sets count 1) and the documents found on one side only.
    """
    both = sorted(set(reference) & set(verified))
    eq = sum(1 for d in both if reference[d] == verified[d])
    jac = [len(reference[d] & verified[d]) / len(reference[d] | verified[d]) if reference[d] | verified[d] else 1.0
           for d in both]
    return {"n_compared": len(both), "share_equal": eq / len(both) if both else None,
            "mean_jaccard": sum(jac) / len(jac) if jac else None,
            "n_reference_only": len(set(reference) - set(verified)),
            "n_verified_only": len(set(verified) - set(reference))}


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


# -- the registry of decision-log importers -----------------------------------------------------------

#: An importer: (file, codebook) → the decisions and, where the file says who proposed what, the proposals,
#: with labels mapped to the codebook's ids.
DecisionImporter = Callable[[str | os.PathLike[str], Codebook], tuple[pl.DataFrame, pl.DataFrame | None]]
#: Format name (the values of ``verify.decisions_format``) → its importer, in the order registered.
IMPORTERS: dict[str, DecisionImporter] = {}


def register_importer(name: str) -> Callable[[DecisionImporter], DecisionImporter]:
    """Decorator that makes the function the importer of format ``name`` (a name is registered once)."""
    def register(importer: DecisionImporter) -> DecisionImporter:
        if name in IMPORTERS:
            raise ValueError(f"decision-log format {name!r} is registered twice")
        IMPORTERS[name] = importer
        return importer
    return register


def get_importer(fmt: str) -> DecisionImporter:
    """The importer of format ``fmt``; an unknown name is an :class:`InputError` naming the known ones."""
    try:
        return IMPORTERS[fmt]
    except (KeyError, TypeError):  # TypeError: an unhashable value, e.g. a list from a YAML config
        known = ", ".join(IMPORTERS)
        raise InputError("verify.decisions_format", f"unknown decision-log format {fmt!r} (known formats: {known})",
                         fix=f"use one of {known}") from None


# -- any external decision log ----------------------------------------------------------------------

DECISION_LOG_COLUMNS = ("doc_id", "coder", "label", "decision")
_KEEP = {"keep": "keep", "k": "keep", "y": "keep", "yes": "keep", "accept": "keep", "accepted": "keep",
         "reject": "reject", "r": "reject", "n": "reject", "no": "reject", "rejected": "reject"}


@register_importer("decisions")
def read_decision_log(path: str | os.PathLike[str], codebook: Codebook) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """A verification done elsewhere (another tool, a spreadsheet of one's own) as a decision log.

    The file (CSV, TSV or Parquet) has one row per document, human coder and proposed label:
    ``doc_id, coder, label, decision`` with ``decision`` keep/reject (or Y/N, yes/no), ``label`` a
    codebook id or name, and optionally ``llm_coder`` (which LLM proposed it; several joined by
    ``|``) and ``comment``. Returns the decisions and, when ``llm_coder`` is there, the proposals.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "decision log not found", fix="check verify.decisions in the config")
    if p.suffix.lower() in (".parquet", ".pq"):
        raw = pl.read_parquet(p).cast(pl.Utf8)
    else:
        raw = pl.read_csv(p, infer_schema=False, separator="\t" if p.suffix.lower() == ".tsv" else ",")
    missing = [c for c in DECISION_LOG_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(str(p), f"column(s) {missing} missing (have {', '.join(raw.columns)})",
                         fix=f"a decision log has the columns {', '.join(DECISION_LOG_COLUMNS)}")
    first_row = 1 if p.suffix.lower() in (".parquet", ".pq") else 2
    df = raw.with_row_index("row", offset=first_row).with_columns(
        pl.col("row").cast(pl.Int64), pl.col("doc_id").str.strip_chars(), pl.col("coder").str.strip_chars(),
        pl.col("label").str.strip_chars(), pl.col("decision").alias("raw"),
        pl.col("decision").str.strip_chars().str.to_lowercase().replace_strict(_KEEP, default=None)
        .alias("decision"))
    bad = df.filter(pl.col("decision").is_null() | pl.col("doc_id").is_null() | pl.col("coder").is_null())
    if bad.height:
        raise InputError(str(p), "rows without a keep/reject decision, a doc_id or a coder",
                         rows_problem(bad["row"].to_list(), "decision must be keep or reject (or Y/N); "
                                      "doc_id and coder must not be empty", "decision"),
                         fix="correct these rows")
    df = labels_to_ids(df, codebook, source=str(p))
    dup = df.filter(pl.struct("doc_id", "coder", "label").is_duplicated())
    if dup.height:
        raise InputError(str(p), "the same coder decided the same label of a document more than once",
                         rows_problem(dup["row"].to_list(), "repeated decision", "label"),
                         fix="keep one decision per document, coder and label")
    comment = pl.col("comment") if "comment" in df.columns else pl.lit(None, pl.Utf8)
    decisions = df.select("doc_id", "coder", "label", "decision", "raw", comment.alias("comment"),
                          pl.lit(p.name).alias("sheet"), "row", pl.lit("verify").alias("round")).cast(DECISION_SCHEMA)
    proposals = None
    if "llm_coder" in df.columns:
        proposals = (df.select("doc_id", "label", pl.col("llm_coder").fill_null("").str.split("|"))
                     .explode("llm_coder").filter(pl.col("llm_coder").str.strip_chars() != "")
                     .group_by("doc_id", "label").agg(pl.col("llm_coder").str.strip_chars().unique().sort()
                                                      .alias("llm_coders"))
                     .sort("doc_id", "label"))
    return decisions, proposals


@register_importer("flourishing")
def import_flourishing(path: str | os.PathLike[str],
                       codebook: Codebook) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The Rethinking Scale file as decisions and proposals, dimensions only, mapped to ``codebook``'s ids
    (:func:`decisions_from_flourishing`, :func:`proposals_from_flourishing`)."""
    return (decisions_from_flourishing(path, level=False, codebook=codebook),
            proposals_from_flourishing(path, level=False, codebook=codebook))


def import_decisions(path: str | os.PathLike[str], codebook: Codebook, *,
                     fmt: str = "decisions") -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Decisions (and proposals, where the file says who proposed what) of a verification done
    outside llmcoder, with labels mapped to ``codebook``'s ids.

    ``fmt``: a name in :data:`IMPORTERS`: ``decisions`` (:func:`read_decision_log`) or ``flourishing``
    (the Rethinking Scale file, dimensions only: :func:`import_flourishing`).
    """
    return get_importer(fmt)(path, codebook)
