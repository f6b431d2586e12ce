"""Bias checks of a coder: label-order (positional) bias, recall asymmetry, strata, error sheets.

Codings are the LLM coders' long output ``doc_id, coder_id, rotation, label[, prob, chosen]``:
one row per (document, coder, rotation, label); when a ``chosen`` column is present only rows with
``chosen`` true are the coder's answer. The label order shown in each rotation is a separate input
(``orders``), either a mapping ``{rotation: [label, ...]}`` (the same order for every document) or
a table ``rotation, position, label`` with optional ``doc_id`` and/or ``coder_id`` columns when the
order differed by document or coder. The first-listed label is the one with the smallest position.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from llmcoder.errors import InputError
from llmcoder.metrics import evaluate

# -- positional bias -------------------------------------------------------------------------------


def _orders_frame(orders: pl.DataFrame | Mapping[Any, Sequence[str]]) -> pl.DataFrame:
    if isinstance(orders, Mapping):
        rows = [(int(r), i, str(lab)) for r, labs in orders.items() for i, lab in enumerate(labs)]
        return pl.DataFrame(rows, schema={"rotation": pl.Int64, "position": pl.Int64, "label": pl.Utf8}, orient="row")
    missing = [c for c in ("rotation", "position", "label") if c not in orders.columns]
    if missing:
        raise InputError(
            "orders",
            f"column(s) {', '.join(missing)} missing",
            fix="give the label order as rotation, position, label (+ doc_id, coder_id)",
        )
    casts = [pl.col("rotation").cast(pl.Int64), pl.col("position").cast(pl.Int64), pl.col("label").cast(pl.Utf8)]
    casts += [pl.col(c).cast(pl.Utf8) for c in ("doc_id", "coder_id") if c in orders.columns]
    return orders.select(casts)


def _chosen_sets(codings: pl.DataFrame) -> pl.DataFrame:
    if "coder_id" not in codings.columns:
        codings = codings.with_columns(pl.lit("coder").alias("coder_id"))
    missing = [c for c in ("doc_id", "rotation", "label") if c not in codings.columns]
    if missing:
        raise InputError(
            "codings",
            f"column(s) {', '.join(missing)} missing",
            fix="codings are doc_id, coder_id, rotation, label[, chosen]",
        )
    c = codings.with_columns(
        pl.col("doc_id").cast(pl.Utf8),
        pl.col("coder_id").cast(pl.Utf8),
        pl.col("rotation").cast(pl.Int64),
        pl.col("label").cast(pl.Utf8),
    )
    chosen = (
        pl.col("label").filter(pl.col("chosen").cast(pl.Boolean).fill_null(False))
        if "chosen" in c.columns
        else pl.col("label")
    )
    return c.group_by("coder_id", "doc_id", "rotation", maintain_order=True).agg(
        chosen.drop_nulls().unique().sort().alias("chosen")
    )


def positional_bias(
    codings: pl.DataFrame,
    orders: pl.DataFrame | Mapping[Any, Sequence[str]],
    *,
    alternative: str = "two-sided",
) -> pl.DataFrame:
    """Does a coder's answer depend on the order in which the labels were listed?

    Parameters
    ----------
    codings : polars.DataFrame
        Long codings ``doc_id, coder_id, rotation, label[, chosen]`` for several rotations of the
        label order.
    orders : mapping or polars.DataFrame
        The label order of each rotation (see the module docstring).
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative of the binomial test of the first-listed label.

    Returns
    -------
    polars.DataFrame
        One row per coder: ``n_docs`` (coded in at least two rotations), ``n_flipped`` and
        ``flip_rate`` (share of those whose chosen label set changes across rotations),
        ``n_codings`` (document x rotation), ``first_chosen`` and ``first_share`` (codings whose
        answer contains the first-listed label), ``first_base_rate`` (the share expected without
        positional bias: the mean, over codings, of how often the coder chooses that coding's
        first-listed label across all rotations), ``first_ratio`` (share / base rate) and
        ``p_value`` (binomial test of ``first_chosen`` out of ``n_codings`` at the base rate; the
        base rate varies across codings, so this is the binomial approximation of a
        Poisson-binomial test).
    """
    sets = _chosen_sets(codings)
    o = _orders_frame(orders)
    keys = ["rotation"] + [c for c in ("doc_id", "coder_id") if c in o.columns]
    first = o.sort("position").group_by(keys, maintain_order=True).agg(pl.col("label").first().alias("first_label"))
    joined = sets.join(first, on=keys, how="left")
    lacking = joined.filter(pl.col("first_label").is_null())
    if lacking.height:
        rot = sorted(set(lacking["rotation"].to_list()))
        raise InputError(
            "orders",
            f"{lacking.height} coding(s) have no label order (rotations {rot[:10]})",
            fix="give the label order of every rotation (and document/coder if it varied)",
        )
    joined = joined.with_columns(pl.col("chosen").list.contains(pl.col("first_label")).alias("first_chosen"))
    # base rate: how often the coder's answer contains a label, over all its codings
    n_cod = joined.group_by("coder_id").len().rename({"len": "n_all"})
    share = (
        joined.explode("chosen")
        .drop_nulls("chosen")
        .group_by("coder_id", "chosen")
        .len()
        .join(n_cod, on="coder_id")
        .with_columns((pl.col("len") / pl.col("n_all")).alias("base"))
        .select("coder_id", pl.col("chosen").alias("first_label"), "base")
    )
    joined = joined.join(share, on=["coder_id", "first_label"], how="left").with_columns(pl.col("base").fill_null(0.0))
    flips = (
        sets.group_by("coder_id", "doc_id")
        .agg(
            pl.col("rotation").n_unique().alias("n_rot"),
            pl.col("chosen").list.join("\x1f").n_unique().alias("n_answers"),
        )
        .filter(pl.col("n_rot") >= 2)
        .group_by("coder_id")
        .agg(pl.len().alias("n_docs"), (pl.col("n_answers") > 1).sum().alias("n_flipped"))
    )
    summary = joined.group_by("coder_id", maintain_order=True).agg(
        pl.len().alias("n_codings"),
        pl.col("first_chosen").sum().alias("first_chosen"),
        pl.col("base").mean().alias("first_base_rate"),
    )
    out = summary.join(flips, on="coder_id", how="left").with_columns(
        pl.col("n_docs").fill_null(0), pl.col("n_flipped").fill_null(0)
    )
    rows = []
    for r in out.iter_rows(named=True):
        k, n, p0 = int(r["first_chosen"]), int(r["n_codings"]), float(r["first_base_rate"])
        p_value = stats.binomtest(k, n, min(max(p0, 0.0), 1.0), alternative=alternative).pvalue if n else math.nan
        share_ = k / n if n else math.nan
        rows.append(
            {
                "coder_id": r["coder_id"],
                "n_docs": int(r["n_docs"]),
                "n_flipped": int(r["n_flipped"]),
                "flip_rate": r["n_flipped"] / r["n_docs"] if r["n_docs"] else math.nan,
                "n_codings": n,
                "first_chosen": k,
                "first_share": share_,
                "first_base_rate": p0,
                "first_ratio": share_ / p0 if p0 > 0 else math.nan,
                "p_value": float(p_value),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "coder_id": pl.Utf8,
            "n_docs": pl.Int64,
            "n_flipped": pl.Int64,
            "flip_rate": pl.Float64,
            "n_codings": pl.Int64,
            "first_chosen": pl.Int64,
            "first_share": pl.Float64,
            "first_base_rate": pl.Float64,
            "first_ratio": pl.Float64,
            "p_value": pl.Float64,
        },
    )


# -- recall asymmetry ----------------------------------------------------------------------------


def recall_gap_intervals(
    gold: pl.DataFrame,
    pred: pl.DataFrame,
    *,
    labels: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: int | None = 0,
) -> pl.DataFrame:
    """Percentile bootstrap intervals of each label's recall gap (its recall minus the mean recall).

    Documents are resampled, as in :func:`llmcoder.metrics.evaluate`; in each resample the mean is
    taken over the labels with support there, and a label without support in a resample has no
    gap in it (left out of its interval). ``gold`` and ``pred`` are long ``doc_id, label`` tables
    (one row per label, so single- and multi-label alike); a gold document without a prediction
    counts as coded with no label.

    Returns
    -------
    polars.DataFrame
        ``label, recall_gap, ci_low, ci_high`` (``ci_*`` null when ``n_boot`` is 0).
    """
    from llmcoder.metrics import bootstrap_sums, percentile_ci

    labels = list(labels)
    col = {lab: j for j, lab in enumerate(labels)}
    doc_ids = gold["doc_id"].cast(pl.Utf8).unique(maintain_order=True).to_list()
    row = {d: i for i, d in enumerate(doc_ids)}

    def indicator(df: pl.DataFrame) -> np.ndarray:
        y = np.zeros((len(doc_ids), len(labels)), dtype=bool)
        for d, lab in zip(df["doc_id"].cast(pl.Utf8).to_list(), df["label"].to_list(), strict=True):
            if d in row and lab in col:
                y[row[d], col[lab]] = True
        return y

    g, p = indicator(gold), indicator(pred)
    x = np.concatenate([g, g & p], axis=1).astype(float)  # support, true positives per label

    def gaps(sums: np.ndarray) -> np.ndarray:
        k = len(labels)
        support, tp = sums[..., :k], sums[..., k:]
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(support > 0, tp / support, np.nan)
        return recall - np.nanmean(recall, axis=-1, keepdims=True)

    point = gaps(x.sum(axis=0))
    if n_boot > 0 and len(doc_ids):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # resamples without any supported label
            boot = bootstrap_sums(x, n_boot, random_state=random_state, statistic=gaps)
        bounds = [percentile_ci(boot[:, j], ci) for j in range(len(labels))]
    else:
        bounds = [(None, None)] * len(labels)
    return pl.DataFrame(
        {
            "label": labels,
            "recall_gap": [None if math.isnan(v) else float(v) for v in point],
            "ci_low": [None if b[0] is None or math.isnan(b[0]) else b[0] for b in bounds],
            "ci_high": [None if b[1] is None or math.isnan(b[1]) else b[1] for b in bounds],
        },
        schema={"label": pl.Utf8, "recall_gap": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64},
    )


def recall_asymmetry(result: dict[str, Any], *, threshold: float = 0.15,
                     intervals: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per-class recall against the mean recall, with the label each class is most confused with.

    Parameters
    ----------
    result : dict
        The output of :func:`llmcoder.metrics.evaluate`, or an evaluation read back by
        :func:`llmcoder.metrics.read_evaluation` (``task``, ``per_class``, ``confusion``).
    threshold : float, default=0.15
        A class is flagged when its recall differs from the macro mean recall by more than this,
        or when the coder predicts it ``1 + threshold`` times as often as it occurs (or
        ``1 - threshold`` times as rarely).

    Returns
    -------
    polars.DataFrame
        ``label, support, predicted, recall, precision, recall_gap`` (recall minus the mean
        recall over labels with support), ``pred_ratio`` (predicted / support),
        ``most_confused_as`` and ``n_confused_as`` (single-label only), ``flag``; with
        ``intervals`` (from :func:`recall_gap_intervals` on the same documents) also ``ci_low`` and
        ``ci_high`` of the recall gap.
    """
    pc = result["per_class"]
    conf = result["confusion"]
    if result["task"] == "single":
        off = conf.filter(pl.col("gold") != pl.col("pred")).sort(["gold", "n"], descending=[False, True])
        worst = (
            off.group_by("gold", maintain_order=True)
            .agg(pl.col("pred").first().alias("most_confused_as"), pl.col("n").first().alias("n_confused_as"))
            .rename({"gold": "label"})
        )
    else:
        worst = pl.DataFrame(schema={"label": pl.Utf8, "most_confused_as": pl.Utf8, "n_confused_as": pl.Int64})
    t = pc.select("label", "support", "predicted", "recall", "precision").join(worst, on="label", how="left")
    mean_recall = t.filter(pl.col("support") > 0)["recall"].mean()
    t = t.with_columns(
        (pl.col("recall") - mean_recall).alias("recall_gap"),
        pl.when(pl.col("support") > 0).then(pl.col("predicted") / pl.col("support")).alias("pred_ratio"),
    ).with_columns(
        (
            (pl.col("recall_gap").abs() > threshold) & (pl.col("support") > 0)
            | (pl.col("pred_ratio") > 1 + threshold)
            | (pl.col("pred_ratio") < 1 - threshold)
        )
        .fill_null(False)
        .alias("flag")
    )
    cols = ["label", "support", "predicted", "recall", "precision", "recall_gap", "pred_ratio",
            "most_confused_as", "n_confused_as", "flag"]
    if intervals is not None:
        iv = intervals.select("label", "recall_gap", "ci_low", "ci_high")
        check = t.select("label", "recall_gap").join(iv, on="label", how="left", suffix="_boot")
        off = check.filter((pl.col("recall_gap") - pl.col("recall_gap_boot")).abs() > 1e-9)
        if off.height:  # the intervals were computed on other documents than the evaluation
            raise ValueError(f"recall gaps disagree with the evaluation for labels {off['label'].to_list()}")
        t = t.join(iv.drop("recall_gap"), on="label", how="left")
        cols += ["ci_low", "ci_high"]
    return t.select(cols)


# -- strata ----------------------------------------------------------------------------------------


def stratum_metrics(
    gold: pl.DataFrame,
    pred: pl.DataFrame,
    strata: pl.DataFrame,
    *,
    by: str,
    metrics: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    task: str | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: int | None = 0,
    min_docs: int = 1,
) -> pl.DataFrame:
    """Metrics per stratum (party, year, source...) with bootstrap CIs, against the overall value.

    Parameters
    ----------
    gold, pred : polars.DataFrame
        As for :func:`llmcoder.metrics.evaluate`.
    strata : polars.DataFrame
        ``doc_id`` and the column ``by`` (e.g. the canonical corpus).
    by : str
        The stratum column.
    metrics : sequence of str, default=None
        Metrics to report; ``None`` is the task's headline metrics (those with CIs).
    min_docs : int, default=1
        Strata with fewer gold documents are skipped.

    Returns
    -------
    polars.DataFrame
        ``<by>, metric, estimate, ci_low, ci_high, n, overall, below_overall`` where
        ``below_overall`` flags strata whose CI upper bound is below the overall estimate.
    """
    if by not in strata.columns or "doc_id" not in strata.columns:
        raise InputError(
            "strata",
            f"columns doc_id and '{by}' are needed (have: {', '.join(strata.columns)})",
            fix="pass the corpus table with its strata columns",
        )
    overall = evaluate(gold, pred, labels=labels, task=task, n_boot=0)
    labels = labels or overall["labels"]
    task = task or overall["task"]
    keys = (
        list(metrics)
        if metrics
        else list(overall["ci"])
        or (
            ["accuracy", "macro_f1", "cohen_kappa"]
            if task == "single"
            else ["hamming_loss", "jaccard_samples", "micro_f1", "macro_f1"]
        )
    )
    s = strata.select(pl.col("doc_id").cast(pl.Utf8), pl.col(by).cast(pl.Utf8))
    g = gold.with_columns(pl.col("doc_id").cast(pl.Utf8)).join(s, on="doc_id", how="left")
    rows = []
    for value in sorted(g[by].unique().to_list(), key=lambda v: (v is None, v)):
        sub = g.filter(pl.col(by).is_null() if value is None else pl.col(by) == value).drop(by)
        if sub["doc_id"].n_unique() < min_docs:
            continue
        p = pred.with_columns(pl.col("doc_id").cast(pl.Utf8)).filter(pl.col("doc_id").is_in(sub["doc_id"].implode()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = evaluate(sub, p, labels=labels, task=task, n_boot=n_boot, ci=ci, random_state=random_state)
        for k in keys:
            lo, hi = r["ci"].get(k, (None, None))
            rows.append((value, k, r["metrics"][k], lo, hi, r["n"], overall["metrics"][k]))
    out = pl.DataFrame(
        rows,
        schema={
            by: pl.Utf8,
            "metric": pl.Utf8,
            "estimate": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n": pl.Int64,
            "overall": pl.Float64,
        },
        orient="row",
    )
    lower_is_better = pl.col("metric") == "hamming_loss"
    return out.with_columns(
        pl.when(lower_is_better)
        .then(pl.col("ci_low") > pl.col("overall"))
        .otherwise(pl.col("ci_high") < pl.col("overall"))
        .fill_null(False)
        .alias("below_overall")
    )


# -- error analysis sheet --------------------------------------------------------------------------


def error_sample(
    gold: pl.DataFrame,
    pred: pl.DataFrame,
    *,
    n_per_pair: int = 5,
    random_state: int | None = 0,
    texts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """A seeded sample of misclassified documents for each confusion pair, for reading.

    Single-label: pairs are (gold, pred) with gold != pred. Multi-label: pairs are (label,
    "missed") for a gold label not predicted and (label, "spurious") for a predicted label not in
    gold. ``texts`` (``doc_id, text``, e.g. the corpus) adds the text.

    Returns
    -------
    polars.DataFrame
        ``gold, pred, n_errors`` (size of the pair), ``doc_id`` [, ``text``], the most frequent
        pairs first; at most ``n_per_pair`` documents per pair, drawn with ``random_state``.
    """
    g = gold.select(pl.col("doc_id").cast(pl.Utf8), pl.col("label").cast(pl.Utf8))
    p = pred.select(pl.col("doc_id").cast(pl.Utf8), pl.col("label").cast(pl.Utf8))
    p = p.filter(pl.col("doc_id").is_in(g["doc_id"].implode()))
    multi = g["doc_id"].is_duplicated().any() or p["doc_id"].is_duplicated().any()
    if not multi:
        errors = (
            g.join(p, on="doc_id", how="left", suffix="_pred")
            .select("doc_id", pl.col("label").alias("gold"), pl.col("label_pred").fill_null("(none)").alias("pred"))
            .filter(pl.col("gold") != pl.col("pred"))
        )
    else:
        gs = g.drop_nulls("label").with_columns(pl.lit(True).alias("in_gold"))
        ps = p.drop_nulls("label").with_columns(pl.lit(True).alias("in_pred"))
        both = gs.join(ps, on=["doc_id", "label"], how="full", coalesce=True)
        errors = pl.concat(
            [
                both.filter(pl.col("in_pred").is_null()).select(
                    "doc_id", pl.col("label").alias("gold"), pl.lit("missed").alias("pred")
                ),
                both.filter(pl.col("in_gold").is_null()).select(
                    "doc_id", pl.col("label").alias("gold"), pl.lit("spurious").alias("pred")
                ),
            ]
        )
    rng = np.random.default_rng(random_state)
    errors = errors.sort("gold", "pred", "doc_id").with_columns(pl.Series("_r", rng.random(errors.height)))
    out = (
        errors.with_columns(
            pl.len().over("gold", "pred").alias("n_errors"),
            pl.col("_r").rank("ordinal").over("gold", "pred").alias("_k"),
        )
        .filter(pl.col("_k") <= n_per_pair)
        .sort(["n_errors", "gold", "pred", "_k"], descending=[True, False, False, False])
        .select("gold", "pred", pl.col("n_errors").cast(pl.Int64), "doc_id")
    )
    if texts is not None:
        out = out.join(
            texts.select(pl.col("doc_id").cast(pl.Utf8), "text"), on="doc_id", how="left", maintain_order="left"
        )
    return out
