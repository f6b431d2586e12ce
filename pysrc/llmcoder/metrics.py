"""Validation of a coder (LLM, fine-tuned model, human) against gold labels.

Every point estimate comes from scikit-learn (and ``krippendorff`` for alpha); this module adds what
they lack: long-format inputs with explicit checks, specificity, percentile bootstrap confidence
intervals over documents (vectorised: documents are resampled as count weights and the metrics are
recomputed from resampled confusion counts / per-document indicators, never by calling sklearn once
per resample), and the files ``llmcoder evaluate`` writes.

Inputs are long tables with one row per (document, label): ``doc_id, label``. A single-label coding
has one row per document; a multi-label coding has one row per assigned label, and a document with
no label has one row whose ``label`` is null. A canonical corpus (``doc_id`` plus ``label`` or a
list column ``labels``) is accepted as gold directly.

Output files (``write_evaluation``, as in the shared contract), one folder per system:

``metrics.json``
    flat ``metric -> value`` plus ``system, task, n, ci`` (``metric -> [low, high]``), the
    settings and the counts of ignored / invalid predictions. With the system's probabilities (every
    LLM coder and fine-tuned model in the workflow): the calibration scores (``ece_top_label``,
    ``ece_classwise``, ``brier``; multi-label ``ece_per_label_mean``, ``brier_per_label_mean``) and
    ``calibration``: the binning (10 equal-width bins), the documents scored and left out (no
    probability), per-label ECE and Brier, and the reliability diagram's bins (``n``, mean
    ``confidence``, ``accuracy``) - see :func:`calibration`.
``metrics.csv``
    ``system, metric, estimate, ci_low, ci_high`` (CI empty when not bootstrapped).
``per_class.csv``
    ``system, label, precision, recall, f1, sensitivity, specificity, support, predicted``.
``confusion.csv``
    ``system, gold, pred, n``. Single-label: every (gold, pred) cell including zeros, with
    ``pred = "(none)"`` for missing or out-of-label-set predictions when there are any.
    Multi-label: gold x pred label co-occurrence over documents (the diagonal is the true
    positives), with ``"(none)"`` for a document without any gold or predicted label.
``provenance.json``
    llmcoder version, git revision, time.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from llmcoder.errors import InputError, Problem

Task = Literal["single", "multi"]

#: Pseudo-label for a prediction that is missing (null) or not in the label set (single-label).
NONE_LABEL = "(none)"
#: Headline metrics that get bootstrap confidence intervals.
HEADLINE_SINGLE = ("accuracy", "macro_f1", "cohen_kappa")
HEADLINE_MULTI = ("hamming_loss", "jaccard_samples", "jaccard_gold_docs", "hamming_gold_docs", "micro_f1",
                  "macro_f1")
#: Rows of metrics.csv, in order.
SINGLE_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "cohen_kappa",
    "krippendorff_alpha",
)
MULTI_KEYS = (
    "hamming_loss",
    "jaccard_samples",
    "jaccard_gold_docs",
    "hamming_gold_docs",
    "jaccard_macro",
    "subset_accuracy",
    "any_correct",
    "micro_f1",
    "macro_f1",
)
_MAX_CELLS = 4_000_000  # bootstrap chunk size: resamples x documents held at once


# -- input normalisation -------------------------------------------------------------------------


def _read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "file not found", fix="check the path")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(p)
        if suffix in (".csv", ".tsv", ".tab"):
            return pl.read_csv(p, separator="\t" if suffix != ".csv" else ",", infer_schema=False)
    except pl.exceptions.PolarsError as e:
        raise InputError(str(p), f"could not be read ({e})", fix="write it again as CSV or Parquet") from e
    raise InputError(str(p), f"unknown file type '{p.suffix}'", fix="use .csv, .tsv or .parquet")


def _as_long(df: Any, what: str) -> pl.DataFrame:
    """``doc_id, label`` (strings; null label = a document with no label) from a frame or a path."""
    if isinstance(df, (str, os.PathLike)):
        src = str(df)
        df = _read_table(df)
    else:
        src = what
        if not isinstance(df, pl.DataFrame):
            df = pl.from_pandas(df) if hasattr(df, "to_numpy") else pl.DataFrame(df)
    if "doc_id" not in df.columns:
        raise InputError(
            src,
            f"no 'doc_id' column (have: {', '.join(df.columns)})",
            fix="name the document id column doc_id",
        )
    if "label" in df.columns and not isinstance(df.schema["label"], pl.List):
        out = df.select(pl.col("doc_id").cast(pl.Utf8), pl.col("label").cast(pl.Utf8))
    elif "labels" in df.columns or "label" in df.columns:
        col = "labels" if "labels" in df.columns else "label"
        lab = df[col]
        if not isinstance(lab.dtype, pl.List):  # "a|b" strings
            lab = lab.cast(pl.Utf8).fill_null("").str.split("|")
        out = (
            df.select(pl.col("doc_id").cast(pl.Utf8), lab.alias("label"))
            .with_columns(
                pl.col("label")
                .list.eval(pl.element().cast(pl.Utf8).str.strip_chars())
                .list.eval(pl.element().filter(pl.element() != ""))
            )
            .with_columns(
                pl.when(pl.col("label").list.len() == 0)
                .then(pl.lit([None], pl.List(pl.Utf8)))
                .otherwise(pl.col("label"))
                .alias("label")
            )
            .explode("label")
        )
    else:
        raise InputError(
            src,
            f"no 'label' or 'labels' column (have: {', '.join(df.columns)})",
            fix="give the labels in a column named label (one row per label)",
        )
    out = out.with_columns(
        pl.col("doc_id").str.strip_chars(),
        pl.when(pl.col("label").str.strip_chars() == "")
        .then(None)
        .otherwise(pl.col("label").str.strip_chars())
        .alias("label"),
    )
    bad = out["doc_id"].is_null() | (out["doc_id"] == "")
    if bad.any():
        raise InputError(
            src,
            f"{int(bad.sum())} row(s) with an empty doc_id",
            [Problem("empty doc_id", row=i + 2) for i in bad.arg_true().to_list()],
            fix="give every row a document id",
        )
    return out.unique(maintain_order=True)


def _missing_problem(ids: Sequence[str]) -> list[Problem]:
    return [Problem(f"doc_id '{d}'") for d in ids]


def _align(gold: pl.DataFrame, pred: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str], int]:
    """Restrict pred to gold's documents; fail if gold documents lack a prediction."""
    gold_ids = gold["doc_id"].unique(maintain_order=True)
    pred_ids = pred["doc_id"].unique()
    missing = gold_ids.filter(~gold_ids.is_in(pred_ids.implode())).to_list()
    if missing:
        raise InputError(
            "pred",
            f"{len(missing)} gold document(s) have no prediction",
            _missing_problem(missing),
            fix="code every gold document (or restrict the gold file to coded documents)",
        )
    extra = int((~pred_ids.is_in(gold_ids.implode())).sum())
    if extra:
        warnings.warn(
            f"{extra} predicted document(s) are not in the gold standard and were ignored",
            UserWarning,
            stacklevel=3,
        )
    pred = pred.filter(pl.col("doc_id").is_in(gold_ids.implode()))
    return gold, pred, gold_ids.to_list(), extra


def _infer_task(gold: pl.DataFrame, pred: pl.DataFrame) -> Task:
    multi = gold["doc_id"].is_duplicated().any() or pred["doc_id"].is_duplicated().any()
    return "multi" if multi else "single"


def _resolve_labels(
    labels: Sequence[str] | None, gold: pl.DataFrame, pred: pl.DataFrame, codebook: Any = None
) -> list[str]:
    if labels is None and codebook is not None:
        labels = list(codebook.ids)
    if labels is None:
        seen = set(gold["label"].drop_nulls().to_list()) | set(pred["label"].drop_nulls().to_list())
        return sorted(seen)
    labels = [str(x) for x in labels]
    if len(set(labels)) != len(labels):
        raise ValueError("labels= contains duplicates")
    unknown = sorted(set(gold["label"].drop_nulls().to_list()) - set(labels))
    if unknown:
        raise InputError(
            "gold",
            f"{len(unknown)} gold label(s) are not in the label set (the codebook, or labels=)",
            [Problem(f"label '{u}'") for u in unknown],
            fix="add them to the codebook or correct the gold file",
        )
    return labels


# -- shared helpers ------------------------------------------------------------------------------


def _safe_div(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def _warn_undefined(kind: str, names: Sequence[str], zero_division: float) -> str | None:
    if not len(names):
        return None
    msg = (
        f"{kind} is undefined for {len(names)} label(s) ({', '.join(map(str, names[:10]))}"
        f"{', ...' if len(names) > 10 else ''}); set to zero_division={zero_division}"
    )
    warnings.warn(msg, UndefinedMetricWarning, stacklevel=4)
    return msg


def bootstrap_sums(
    x: Any,
    n_boot: int,
    *,
    random_state: int | None = 0,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    max_cells: int = _MAX_CELLS,
) -> np.ndarray:
    """Column sums of ``x`` over ``n_boot`` bootstrap resamples of its rows.

    Each resample draws ``len(x)`` rows with replacement; its sums are ``W @ x`` where ``W[b, i]``
    counts how often row ``i`` was drawn in resample ``b``. Any statistic that is a function of
    such sums (confusion counts, per-document indicators) is then computed for all resamples at
    once, in chunks of resamples so that memory stays bounded.

    Parameters
    ----------
    x : ndarray or scipy.sparse matrix of shape (n_rows, n_cols)
        Per-row (per-document) contributions; sparse one-hot rows are summed in O(nnz).
    n_boot : int
        Number of resamples.
    random_state : int or None, default=0
        Seed of :func:`numpy.random.default_rng`.
    statistic : callable, default=None
        Applied to each chunk of sums (shape ``(b, n_cols)``), returning ``(b, ...)``; ``None``
        returns the sums themselves.

    Returns
    -------
    ndarray of shape (n_boot, n_cols) or (n_boot, ...) with ``statistic``
    """
    import scipy.sparse as sp

    if sp.issparse(x):
        xt = sp.csr_matrix(x, dtype=float).T  # CSC: (n_cols, n_rows) @ (n_rows, b)
        n = x.shape[0]
    else:
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        xt = None
        n = x.shape[0]
    rng = np.random.default_rng(random_state)
    parts = []
    chunk = max(1, min(n_boot, max_cells // max(n, 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        w = np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)
        sums = np.asarray((xt @ w.T).T) if xt is not None else w @ x
        parts.append(statistic(sums) if statistic is not None else sums)
    return np.concatenate(parts, axis=0)


def percentile_ci(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates are left out)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    a = (1.0 - ci) / 2.0
    lo, hi = np.quantile(v, [a, 1.0 - a])
    return (float(lo), float(hi))


# -- single-label --------------------------------------------------------------------------------


def _single_from_confusion(cm: np.ndarray, n_labels: int, zero_division: float) -> dict[str, np.ndarray]:
    """Accuracy, macro F1 and Cohen's kappa for a stack of confusion matrices (..., K, K).

    The first ``n_labels`` rows/columns are the labels; a further column (and zero row) holds
    predictions outside the label set. Formulas follow sklearn: F = 2tp / (2tp + fp + fn).
    """
    n = cm.sum(axis=(-2, -1))
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    acc = _safe_div(diag.sum(-1), n, math.nan)
    tp = diag[..., :n_labels]
    fp = cm.sum(axis=-2)[..., :n_labels] - tp
    fn = cm.sum(axis=-1)[..., :n_labels] - tp
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn, zero_division)
    macro_f1 = f1.mean(-1)
    rows = cm.sum(axis=-1)
    cols = cm.sum(axis=-2)
    po = acc
    pe = _safe_div((rows * cols).sum(-1), n**2, math.nan)
    kappa = _safe_div(po - pe, 1 - pe, math.nan)
    return {"accuracy": acc, "macro_f1": macro_f1, "cohen_kappa": kappa}


def _per_class_frame(labels: Sequence[str], prec: np.ndarray, rec: np.ndarray, f1: np.ndarray,
                     spec: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> pl.DataFrame:
    """The per-class table; sensitivity is recall under the name clinicians and psychologists use.
    ``support`` counts the documents with the label in gold, ``predicted`` those the system gave it."""
    return pl.DataFrame({
        "label": list(labels), "precision": prec.astype(float), "recall": rec.astype(float),
        "f1": f1.astype(float), "sensitivity": rec.astype(float), "specificity": spec.astype(float),
        "support": support.astype(np.int64), "predicted": np.asarray(predicted).astype(np.int64),
    })


def _evaluate_single(
    gold: pl.DataFrame,
    pred: pl.DataFrame,
    doc_ids: list[str],
    labels: list[str],
    *,
    n_boot: int,
    ci: float,
    random_state: int | None,
    zero_division: float,
) -> dict[str, Any]:
    import krippendorff
    import scipy.sparse as sp

    dup = gold.filter(pl.col("doc_id").is_duplicated())["doc_id"].unique(maintain_order=True).to_list()
    if dup:
        raise InputError(
            "gold",
            f"{len(dup)} document(s) have several gold labels in a single-label task",
            _missing_problem(dup),
            fix="use task='multi' or keep one label per document",
        )
    dup = pred.filter(pl.col("doc_id").is_duplicated())["doc_id"].unique(maintain_order=True).to_list()
    if dup:
        raise InputError(
            "pred",
            f"{len(dup)} document(s) have several predicted labels in a single-label task",
            _missing_problem(dup),
            fix="use task='multi' or keep one label per document",
        )
    nulls = gold.filter(pl.col("label").is_null())["doc_id"].to_list()
    if nulls:
        raise InputError(
            "gold",
            f"{len(nulls)} gold document(s) have no label",
            _missing_problem(nulls),
            fix="drop unlabelled documents from the gold file",
        )
    g_map = dict(zip(gold["doc_id"].to_list(), gold["label"].to_list(), strict=True))
    p_map = dict(zip(pred["doc_id"].to_list(), pred["label"].to_list(), strict=True))
    y_true = np.array([g_map[d] for d in doc_ids], dtype=object)
    y_pred = np.array([p_map[d] for d in doc_ids], dtype=object)
    label_set = set(labels)
    invalid = np.array([p is None or p not in label_set for p in y_pred])
    msgs: list[str] = []
    if invalid.any():
        msg = (
            f"{int(invalid.sum())} prediction(s) are missing or not in the label set; "
            f"counted as '{NONE_LABEL}' (always wrong)"
        )
        warnings.warn(msg, UserWarning, stacklevel=3)
        msgs.append(msg)
        y_pred = np.where(invalid, NONE_LABEL, y_pred)
    all_labels = labels + ([NONE_LABEL] if invalid.any() else [])
    n = len(doc_ids)

    # point estimates: sklearn
    cm = skm.confusion_matrix(y_true, y_pred, labels=all_labels)
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=zero_division
    )
    tp = np.diag(cm)[: len(labels)]
    fp = cm.sum(0)[: len(labels)] - tp
    fn = cm.sum(1)[: len(labels)] - tp
    tn = n - tp - fp - fn
    spec = _safe_div(tn, tn + fp, zero_division)
    for kind, den in (("precision", tp + fp), ("recall", tp + fn), ("specificity", tn + fp)):
        m = _warn_undefined(kind, [lab for lab, d in zip(labels, den, strict=True) if d == 0], zero_division)
        if m:
            msgs.append(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)  # balanced accuracy: classes absent from y_pred
        values = {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "macro_f1": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=zero_division),
            "micro_f1": skm.f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=zero_division),
            "weighted_f1": skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=zero_division),
            "cohen_kappa": skm.cohen_kappa_score(y_true, y_pred, labels=all_labels),
        }
    codes = {lab: i for i, lab in enumerate(all_labels)}
    g_codes = np.array([codes[v] for v in y_true], dtype=float)
    p_codes = np.array([codes[v] for v in y_pred], dtype=float)
    if len(set(g_codes) | set(p_codes)) > 1:
        values["krippendorff_alpha"] = float(
            krippendorff.alpha(
                reliability_data=np.vstack([g_codes, p_codes]),
                level_of_measurement="nominal",
                value_domain=list(range(len(all_labels))),
            )
        )
    else:
        values["krippendorff_alpha"] = math.nan
        msgs.append("krippendorff_alpha is undefined: gold and predictions use a single label")
        warnings.warn(msgs[-1], UndefinedMetricWarning, stacklevel=3)
    if not np.isfinite(values["cohen_kappa"]):
        msgs.append("cohen_kappa is undefined (chance agreement is 1: a single label is used)")
        warnings.warn(msgs[-1], UndefinedMetricWarning, stacklevel=3)
    values = {k: float(v) for k, v in values.items()}

    # bootstrap over documents: resample the per-document confusion cell indicators
    cis: dict[str, list[float]] = {}
    if n_boot and n_boot > 0:
        k = len(all_labels)
        cell = (g_codes * k + p_codes).astype(np.int64)
        onehot = sp.csr_matrix((np.ones(n), (np.arange(n), cell)), shape=(n, k * k))
        boot = _single_from_confusion(
            bootstrap_sums(onehot, n_boot, random_state=random_state).reshape(n_boot, k, k),
            len(labels),
            zero_division,
        )
        check = _single_from_confusion(cm.astype(float), len(labels), zero_division)
        for key in HEADLINE_SINGLE:  # the vectorised formulas must reproduce sklearn
            if not (np.isclose(check[key], values[key]) or (np.isnan(check[key]) and np.isnan(values[key]))):
                raise AssertionError(f"bootstrap formula for {key} disagrees with sklearn")
            cis[key] = list(percentile_ci(boot[key], ci))

    per_class = _per_class_frame(labels, prec, rec, f1, spec, support, tp + fp)
    confusion = pl.DataFrame(
        {
            "gold": np.repeat(np.array(all_labels, dtype=object), len(all_labels)).tolist(),
            "pred": all_labels * len(all_labels),
            "n": cm.ravel().astype(np.int64),
        }
    ).filter(pl.col("gold") != NONE_LABEL)
    return {
        "task": "single",
        "n": n,
        "labels": labels,
        "metrics": values,
        "ci": cis,
        "per_class": per_class,
        "confusion": confusion,
        "n_invalid_pred": int(invalid.sum()),
        "warnings": msgs,
    }


# -- multi-label ---------------------------------------------------------------------------------


def _indicator(df: pl.DataFrame, doc_ids: list[str], labels: list[str]) -> tuple[np.ndarray, int]:
    pos = {d: i for i, d in enumerate(doc_ids)}
    col = {lab: j for j, lab in enumerate(labels)}
    y = np.zeros((len(doc_ids), len(labels)), dtype=bool)
    invalid = 0
    for d, lab in zip(df["doc_id"].to_list(), df["label"].to_list(), strict=True):
        if lab is None:
            continue
        j = col.get(lab)
        if j is None:
            invalid += 1
            continue
        y[pos[d], j] = True
    return y, invalid


def _multi_from_sums(s: np.ndarray, n_labels: int, zero_division: float) -> dict[str, np.ndarray]:
    """Headline multi-label metrics from summed per-document columns (see ``_multi_columns``)."""
    n = s[..., 0]
    ham = _safe_div(s[..., 1], n * n_labels, math.nan)
    jac = _safe_div(s[..., 2], n, math.nan)
    tp = s[..., 3 : 3 + n_labels]
    fp = s[..., 3 + n_labels : 3 + 2 * n_labels]
    fn = s[..., 3 + 2 * n_labels : 3 + 3 * n_labels]
    micro = _safe_div(2 * tp.sum(-1), (2 * tp + fp + fn).sum(-1), zero_division)
    macro = _safe_div(2 * tp, 2 * tp + fp + fn, zero_division).mean(-1)
    g = s[..., 3 + 3 * n_labels]
    jac_g = _safe_div(s[..., 4 + 3 * n_labels], g, math.nan)
    ham_g = _safe_div(s[..., 5 + 3 * n_labels], g * n_labels, math.nan)
    return {"hamming_loss": ham, "jaccard_samples": jac, "jaccard_gold_docs": jac_g, "hamming_gold_docs": ham_g,
            "micro_f1": micro, "macro_f1": macro}


def _multi_columns(y: np.ndarray, p: np.ndarray, zero_division: float) -> np.ndarray:
    inter = (y & p).sum(1)
    union = (y | p).sum(1)
    jac = _safe_div(inter, union, zero_division)
    g = y.any(1)  # documents with a gold label: the only ones the *_gold_docs metrics average over
    jac_g = np.where(g, _safe_div(inter, union, 0.0), 0.0)
    ham_g = np.where(g, (y != p).sum(1), 0)
    cols = [np.ones(len(y)), (y != p).sum(1), jac, (y & p), (~y & p), (y & ~p), g, jac_g, ham_g]
    return np.column_stack([c if c.ndim == 2 else c[:, None] for c in cols]).astype(float)


def _evaluate_multi(
    gold: pl.DataFrame,
    pred: pl.DataFrame,
    doc_ids: list[str],
    labels: list[str],
    *,
    n_boot: int,
    ci: float,
    random_state: int | None,
    zero_division: float,
) -> dict[str, Any]:
    y, _ = _indicator(gold, doc_ids, labels)
    p, invalid = _indicator(pred, doc_ids, labels)
    msgs: list[str] = []
    if invalid:
        msg = f"{invalid} predicted label(s) are not in the label set and were ignored"
        warnings.warn(msg, UserWarning, stacklevel=3)
        msgs.append(msg)
    n, k = y.shape
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, p, average=None, zero_division=zero_division)
    mcm = skm.multilabel_confusion_matrix(y, p)  # (k, 2, 2): [[tn, fp], [fn, tp]]
    tn, fp, fn, tp = mcm[:, 0, 0], mcm[:, 0, 1], mcm[:, 1, 0], mcm[:, 1, 1]
    spec = _safe_div(tn, tn + fp, zero_division)
    for kind, den in (("precision", tp + fp), ("recall", tp + fn), ("specificity", tn + fp)):
        m = _warn_undefined(kind, [lab for lab, d in zip(labels, den, strict=True) if d == 0], zero_division)
        if m:
            msgs.append(m)
    empty_both = int((~y.any(1) & ~p.any(1)).sum())
    if empty_both:
        msgs.append(
            f"jaccard_samples is undefined for {empty_both} document(s) with no gold and no "
            f"predicted label; set to zero_division={zero_division}"
        )
        warnings.warn(msgs[-1], UndefinedMetricWarning, stacklevel=3)
    has_gold = y.any(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        values = {
            "hamming_loss": skm.hamming_loss(y, p),
            "jaccard_samples": skm.jaccard_score(y, p, average="samples", zero_division=zero_division),
            "jaccard_macro": skm.jaccard_score(y, p, average="macro", zero_division=zero_division),
            # the Rethinking Scale paper's definitions: per document with at least one gold label,
            # |gold & pred| / |gold | pred| and |gold ^ pred| / n_labels, averaged over those documents
            "jaccard_gold_docs": (skm.jaccard_score(y[has_gold], p[has_gold], average="samples")
                                  if has_gold.any() else math.nan),
            "hamming_gold_docs": skm.hamming_loss(y[has_gold], p[has_gold]) if has_gold.any() else math.nan,
            "subset_accuracy": skm.accuracy_score(y, p),
            "any_correct": float((y & p).any(1)[has_gold].mean()) if has_gold.any() else math.nan,
            "micro_f1": skm.f1_score(y, p, average="micro", zero_division=zero_division),
            "macro_f1": skm.f1_score(y, p, average="macro", zero_division=zero_division),
        }
    values = {key: float(v) for key, v in values.items()}
    cis: dict[str, list[float]] = {}
    if n_boot and n_boot > 0:
        cols = _multi_columns(y, p, zero_division)
        check = _multi_from_sums(cols.sum(0), k, zero_division)
        for key in HEADLINE_MULTI:
            if not np.isclose(check[key], values[key]):
                raise AssertionError(f"bootstrap formula for {key} disagrees with sklearn")
        boot = _multi_from_sums(bootstrap_sums(cols, n_boot, random_state=random_state), k, zero_division)
        for key in HEADLINE_MULTI:
            cis[key] = list(percentile_ci(boot[key], ci))
    per_class = _per_class_frame(labels, prec, rec, f1, spec, support, tp + fp)
    label_counts = pl.DataFrame(
        {
            "label": labels,
            "tp": tp.astype(np.int64),
            "fp": fp.astype(np.int64),
            "fn": fn.astype(np.int64),
            "tn": tn.astype(np.int64),
        }
    )
    # gold x pred label co-occurrence over documents; "(none)" = a document with no label
    yy = np.column_stack([y, ~y.any(1)]).astype(np.int64)
    pp = np.column_stack([p, ~p.any(1)]).astype(np.int64)
    co = yy.T @ pp
    names = labels + [NONE_LABEL]
    confusion = pl.DataFrame(
        {
            "gold": [g for g in names for _ in names],
            "pred": names * len(names),
            "n": co.ravel(),
        }
    ).filter(~((pl.col("gold") == NONE_LABEL) & (pl.col("pred") == NONE_LABEL) & (pl.col("n") == 0)))
    return {
        "task": "multi",
        "n": n,
        "labels": labels,
        "metrics": values,
        "ci": cis,
        "per_class": per_class,
        "confusion": confusion,
        "label_counts": label_counts,
        "n_invalid_pred": invalid,
        "n_docs_with_gold": int(has_gold.sum()),
        "warnings": msgs,
    }


# -- calibration ---------------------------------------------------------------------------------

#: Equal-width confidence bins of the calibration scores and the reliability diagrams.
CALIBRATION_BINS = 10
#: How the confidences are binned, as recorded in metrics.json.
BINNING = ("equal-width over [0, 1]: bin b (1-based) holds low <= confidence < high, the last bin also "
           "confidence = 1 (R's calibration_bins(); scikit-learn's calibration_curve puts a value on an edge "
           "in the bin below)")


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """0-based bin of each confidence: ``[low, high)``, the last bin closed (as R's ``findInterval``)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(confidence, edges, right=False), 1, bins) - 1


def reliability_bins(confidence: Any, correct: Any, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """The reliability diagram's data: one entry per non-empty equal-width bin, ``bin`` (1-based),
    ``low``, ``high``, ``n``, ``confidence`` (mean) and ``accuracy`` (share correct)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size and (np.isnan(conf).any() or conf.min() < 0 or conf.max() > 1):
        raise ValueError("confidences must be finite and in [0, 1]; leave out rows without a probability")
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = _bin_index(conf, bins)
    out = []
    for k in np.unique(b):
        m = b == k
        out.append({"bin": int(k) + 1, "low": float(edges[k]), "high": float(edges[k + 1]), "n": int(m.sum()),
                    "confidence": float(conf[m].mean()), "accuracy": float(hit[m].mean())})
    return out


def expected_calibration_error(confidence: Any, correct: Any, bins: int = CALIBRATION_BINS) -> float:
    """ECE: the mean over equal-width bins of |share correct - mean confidence|, weighted by the rows in
    each bin (Guo et al. 2017); NaN without rows. The one implementation behind ``evaluate`` and the report."""
    rows = reliability_bins(confidence, correct, bins)
    total = sum(r["n"] for r in rows)
    if total == 0:
        return math.nan
    return float(sum(r["n"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows))


def _prob_frame(probs: Any) -> pl.DataFrame:
    """``doc_id, label, prob[, chosen]`` with a missing probability (null or NaN) as null."""
    if not isinstance(probs, pl.DataFrame):
        probs = pl.from_pandas(probs) if hasattr(probs, "to_numpy") else pl.DataFrame(probs)
    missing = [c for c in ("doc_id", "label", "prob") if c not in probs.columns]
    if missing:
        raise InputError("pred", f"no probabilities: column(s) {', '.join(missing)} missing",
                         fix="give the coder's or model's long output (doc_id, label, prob, chosen)")
    cols = [pl.col("doc_id").cast(pl.Utf8), pl.col("label").cast(pl.Utf8),
            pl.col("prob").cast(pl.Float64).fill_nan(None)]
    if "chosen" in probs.columns:
        cols.append(pl.col("chosen").cast(pl.Boolean))
    return probs.select(cols)


def _answered(probs: pl.DataFrame, doc_ids: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """The documents with a finite probability for every label, and those without (no valid answer,
    or labels missing from the file): these are left out of every calibration score and counted."""
    have = (probs.filter(pl.col("label").is_in(list(labels)) & pl.col("prob").is_not_null())
            .group_by("doc_id").agg(pl.col("label").n_unique().alias("_k")))
    full = set(have.filter(pl.col("_k") == len(labels))["doc_id"].to_list())
    return [d for d in doc_ids if d in full], [d for d in doc_ids if d not in full]


def top_label(probs: pl.DataFrame) -> pl.DataFrame:
    """One row per document: the label the system gave, its probability, and ``given`` whether it gave it.

    A document with exactly one chosen label gives that label. One with none (a model below its
    threshold) is scored by the evaluation as ``(none)``, always wrong: it keeps its most probable
    label (``given`` false, so never correct). A document whose probabilities are all missing (NaN: no
    valid answer) states no confidence and is left out.
    """
    probs = probs.with_columns(pl.col("prob").fill_nan(None))
    chosen = probs.filter(pl.col("chosen")) if "chosen" in probs.columns else probs.clear()
    one = chosen.group_by("doc_id").agg(pl.len().alias("_n")).filter(pl.col("_n") == 1).select("doc_id")
    picked = chosen.join(one, on="doc_id").filter(pl.col("prob").is_not_null())
    rest = probs.join(chosen.select("doc_id").unique(), on="doc_id", how="anti").filter(pl.col("prob").is_not_null())
    rest = rest.sort(["doc_id", "prob", "label"], descending=[False, True, False]).group_by(
        "doc_id", maintain_order=True).first()
    return pl.concat([picked.select("doc_id", "label", "prob", pl.lit(True).alias("given")),
                      rest.select("doc_id", "label", "prob", pl.lit(False).alias("given"))])


def calibration_rows(gold: Any, probs: Any, *, labels: Sequence[str], task: Task) -> pl.DataFrame:
    """The rows behind the calibration scores and the reliability diagram: ``doc_id, label, confidence,
    correct, kind``, for the gold documents with a probability for every label (:func:`_answered`).

    Single-label (kind ``top label``): one row per document, the probability of the label the system
    gave (:func:`top_label`) and whether it is the gold label. Multi-label (kind ``per label``): one row
    per document and label, its probability and whether the label applies in gold.
    """
    g = _as_long(gold, "gold")
    p = _prob_frame(probs).filter(pl.col("label").is_in(list(labels)))
    docs, _ = _answered(p, g["doc_id"].unique(maintain_order=True).to_list(), labels)
    g = g.filter(pl.col("label").is_not_null())
    p = p.filter(pl.col("doc_id").is_in(docs))
    schema = {"doc_id": pl.Utf8, "label": pl.Utf8, "confidence": pl.Float64, "correct": pl.Boolean, "kind": pl.Utf8}
    if task == "multi":
        applies = g.with_columns(pl.lit(True).alias("correct"))
        out = (p.select("doc_id", "label", pl.col("prob").alias("confidence"))
               .join(applies, on=["doc_id", "label"], how="left")
               .with_columns(pl.col("correct").fill_null(False), pl.lit("per label").alias("kind")))
    else:
        out = (top_label(p).join(g.rename({"label": "_gold"}), on="doc_id")
               .select("doc_id", "label", pl.col("prob").alias("confidence"),
                       (pl.col("given") & (pl.col("label") == pl.col("_gold"))).alias("correct"),
                       pl.lit("top label").alias("kind")))
    out = out.select(list(schema)).cast(schema)  # type: ignore[arg-type]
    return out.with_columns(pl.col("confidence").clip(0.0, 1.0)).sort("doc_id", "label")


def calibration(gold: Any, probs: Any, *, labels: Sequence[str], task: Task,
                bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Calibration of a system's probabilities on the gold documents: scores and reliability-diagram data.

    Only documents with a finite probability for every label are scored; the others (an LLM coder's
    unanswered documents, whose probabilities are NaN) are left out and counted (``n_excluded``), never
    scored as zero. Confidences are binned in ``bins`` equal-width bins (:data:`BINNING`).

    Single-label: ``ece_top_label`` (ECE of the probability of the label given, correct when it is the
    gold label; a document without a chosen label is never correct, as in the evaluation),
    ``ece_classwise`` (the mean over labels of the ECE of p(label) against "the label is gold"; Kull et
    al. 2019) and ``brier`` (multi-class Brier score: the mean over documents of sum_k (p_k - y_k)^2, from
    0 to 2). Multi-label: per label the ECE and the Brier score (mean (p - y)^2) of its probability
    against "the label applies", and their means over labels ``ece_per_label_mean``,
    ``brier_per_label_mean``.

    Returns ``metrics`` (the scores above, NaN when no document has probabilities) and ``record``
    (``bins``, ``binning``, ``kind``, ``n``, ``n_excluded``, ``excluded`` (their doc ids, up to 20),
    ``reliability`` (the diagram's bins, :func:`reliability_bins`, of the top-label rows or of every
    document-label row), ``ece`` (that diagram's ECE) and ``per_label`` (label -> ``ece, brier``)).
    """
    g = _as_long(gold, "gold")
    p = _prob_frame(probs).filter(pl.col("label").is_in(list(labels)))
    doc_ids = g["doc_id"].unique(maintain_order=True).to_list()
    docs, excluded = _answered(p, doc_ids, labels)
    rows = calibration_rows(g, p, labels=labels, task=task)
    pos = {d: i for i, d in enumerate(docs)}
    lab = {x: j for j, x in enumerate(labels)}
    P = np.zeros((len(docs), len(labels)))
    Y = np.zeros((len(docs), len(labels)))
    pp = p.filter(pl.col("doc_id").is_in(docs))
    P[[pos[d] for d in pp["doc_id"]], [lab[x] for x in pp["label"]]] = pp["prob"].to_numpy()
    P = np.clip(P, 0.0, 1.0)
    gg = g.filter(pl.col("doc_id").is_in(docs) & pl.col("label").is_in(list(labels)))
    Y[[pos[d] for d in gg["doc_id"]], [lab[x] for x in gg["label"]]] = 1.0
    per_label: dict[str, dict[str, Any]] = {}
    for j, x in enumerate(labels):
        per_label[x] = {"ece": expected_calibration_error(P[:, j], Y[:, j], bins) if docs else math.nan,
                        "brier": float(np.mean((P[:, j] - Y[:, j]) ** 2)) if docs else math.nan}
    if task == "single":
        metrics = {
            "ece_top_label": expected_calibration_error(rows["confidence"], rows["correct"], bins),
            "ece_classwise": float(np.mean([v["ece"] for v in per_label.values()])) if docs else math.nan,
            "brier": float(np.mean(((P - Y) ** 2).sum(axis=1))) if docs else math.nan,
        }
    else:
        metrics = {
            "ece_per_label_mean": float(np.mean([v["ece"] for v in per_label.values()])) if docs else math.nan,
            "brier_per_label_mean": float(np.mean([v["brier"] for v in per_label.values()])) if docs else math.nan,
        }
    record = {
        "bins": bins, "binning": BINNING, "kind": "top label" if task == "single" else "per label",
        "n": len(docs), "n_excluded": len(excluded), "excluded": excluded[:20],
        "reliability": reliability_bins(rows["confidence"], rows["correct"], bins),
        "ece": expected_calibration_error(rows["confidence"], rows["correct"], bins),
        "per_label": {x: {k: _json_number(v) for k, v in d.items()} for x, d in per_label.items()},
    }
    record["ece"] = _json_number(record["ece"])
    return {"metrics": metrics, "record": record}


# -- public API ----------------------------------------------------------------------------------


def evaluate(
    gold: Any,
    pred: Any,
    *,
    labels: Sequence[str] | None = None,
    task: Task | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    random_state: int | None = 0,
    zero_division: float = 0.0,
    probs: Any = None,
    bins: int = CALIBRATION_BINS,
) -> dict[str, Any]:
    """Validate predicted labels against gold labels.

    Parameters
    ----------
    gold : polars.DataFrame, pandas.DataFrame or path
        Long table ``doc_id, label`` (one row per label; a null label marks a document with no
        label), or a corpus with a list column ``labels``.
    pred : polars.DataFrame, pandas.DataFrame or path
        The coder's labels in the same format. Every gold document must have a prediction;
        predictions for documents outside the gold standard are ignored with a warning.
    labels : sequence of str, default=None
        The label set and its order, including labels absent from both inputs. ``None`` uses the
        sorted union of observed labels.
    task : {"single", "multi"} or None, default=None
        ``None`` infers ``"multi"`` when any document has more than one row (or none) in gold or
        pred.
    n_boot : int, default=1000
        Bootstrap resamples of documents for the headline metrics' CIs (0 disables them).
    ci : float, default=0.95
        Level of the percentile bootstrap intervals.
    random_state : int or None, default=0
        Seed of the bootstrap.
    zero_division : float, default=0.0
        Value of a metric whose denominator is zero (sklearn's convention); a warning names it.
    probs : polars.DataFrame, pandas.DataFrame or None, default=None
        The system's probabilities, long ``doc_id, label, prob[, chosen]`` (an LLM coder's codings
        under one label order, a fine-tuned model's predictions). When given, the calibration scores
        (:func:`calibration`) join the metrics and its record is returned as ``calibration``.
    bins : int, default=10
        Equal-width confidence bins of the calibration scores.

    Returns
    -------
    dict
        ``task, n, labels, metrics`` (name -> value), ``ci`` (name -> [low, high]),
        ``per_class`` and ``confusion`` (polars DataFrames), ``n_ignored_pred``,
        ``n_invalid_pred``, ``warnings``, ``n_boot``, ``ci_level``, ``random_state``.
        Single-label metrics: accuracy, balanced_accuracy, macro_f1, micro_f1, weighted_f1,
        cohen_kappa, krippendorff_alpha (nominal). Multi-label: hamming_loss, jaccard_samples
        (scikit-learn's: every document, ``zero_division`` for one with no gold and no predicted
        label), jaccard_gold_docs and hamming_gold_docs (the Rethinking Scale paper's: the mean of
        |gold & pred| / |gold | pred| and of |gold ^ pred| / n_labels over the documents with at least
        one gold label only), jaccard_macro, subset_accuracy, any_correct (share of documents with a
        gold label of which at least one is predicted), micro_f1, macro_f1. With ``probs``:
        ece_top_label, ece_classwise, brier (single-label) or ece_per_label_mean,
        brier_per_label_mean (multi-label), and ``calibration`` (bins, counts, reliability diagram).

    See Also
    --------
    write_evaluation, evaluate_files, llmcoder.reliability.agreement_with_gold

    Examples
    --------
    >>> import polars as pl
    >>> gold = pl.DataFrame({"doc_id": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]})
    >>> pred = pl.DataFrame({"doc_id": ["a", "b", "c", "d"], "label": ["x", "y", "y", "y"]})
    >>> r = evaluate(gold, pred, n_boot=0)
    >>> r["metrics"]["accuracy"], round(r["metrics"]["cohen_kappa"], 3)
    (0.75, 0.5)
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    if task not in (None, "single", "multi"):
        raise ValueError(f"task must be 'single', 'multi' or None, got {task!r}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    g = _as_long(gold, "gold")
    p = _as_long(pred, "pred")
    if g.height == 0:
        raise InputError("gold", "no gold documents", fix="check the gold file")
    g, p, doc_ids, extra = _align(g, p)
    task = task or _infer_task(g, p)
    labs = _resolve_labels(labels, g, p)
    if len(labs) < 1:
        raise InputError("gold", "no labels", fix="pass labels= or a codebook")
    fn = _evaluate_single if task == "single" else _evaluate_multi
    out = fn(
        g,
        p,
        doc_ids,
        labs,
        n_boot=n_boot,
        ci=ci,
        random_state=random_state,
        zero_division=zero_division,
    )
    out.update(
        n_ignored_pred=extra,
        n_boot=n_boot,
        ci_level=ci,
        random_state=random_state,
        zero_division=zero_division,
    )
    if probs is not None:
        pr = _prob_frame(probs)
        cal = calibration(g, pr.filter(pl.col("doc_id").is_in(doc_ids)), labels=labs, task=task, bins=bins)
        out["metrics"].update(cal["metrics"])
        out["calibration"] = cal["record"]
    return out


def metrics_table(result: dict[str, Any], *, system: str | None = None) -> pl.DataFrame:
    """Headline metrics of :func:`evaluate`: ``system, metric, estimate, ci_low, ci_high``."""
    keys = SINGLE_KEYS if result["task"] == "single" else MULTI_KEYS
    rows = []
    for k in keys:
        lo, hi = result["ci"].get(k, (None, None))
        rows.append((system, k, result["metrics"][k], lo, hi))
    return pl.DataFrame(
        rows,
        schema={
            "system": pl.Utf8,
            "metric": pl.Utf8,
            "estimate": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
        },
        orient="row",
    )


def _json_number(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


#: The files :func:`write_evaluation` writes; the folder holding them is replaced as a whole.
EVALUATION_FILES = ("metrics.json", "metrics.csv", "per_class.csv", "confusion.csv", "provenance.json")
#: Names other tools put in an output folder, which a replacement may drop (Snakemake's stamp).
_TOOL_FILES = (".snakemake_timestamp",)


def check_output_folder(target: str | os.PathLike[str], produces: Sequence[str], *, option: str = "--out",
                        what: str = "output", claim: bool = False) -> Path:
    """Check, before any work, that ``target`` can become a folder holding ``produces`` (replaced whole).

    The folder is replaced in one step by a staged copy (:func:`llmcoder.io.staged_dir`), so it must
    not be a file, must hold nothing but an earlier run's outputs, and its parent must be writable.
    Nothing is created; raises :class:`InputError` naming the path, the option and the fix. With
    ``claim`` (just before writing), a folder of these outputs written by an llmcoder older than the
    staged writes gets the mark :func:`~llmcoder.io.staged_dir` looks for, so that it can be replaced.
    """
    from llmcoder.io import OUTPUT_MARK, ensure_writable

    out = Path(target).absolute()
    shown = str(target)
    here = Path.cwd().absolute()
    if out == here or out in here.parents:
        raise InputError(shown, f"{option} names the folder llmcoder runs in (or one above it), which would be "
                                "replaced whole", fix=f"give {option} a new folder, e.g. {option} evaluation")
    if out.exists() and not out.is_dir():
        raise InputError(shown, f"a file stands where the {what} folder should be",
                         fix=f"move that file away, or give {option} a folder path")
    if out.is_dir():
        names = {p.name for p in out.iterdir()}
        foreign = sorted(names - set(produces) - {OUTPUT_MARK, *_TOOL_FILES})
        if foreign:
            raise InputError(
                shown, f"{option} names a folder that holds files this command did not write; "
                       "the whole folder is replaced by the new outputs",
                [Problem(f"'{name}' is in the folder") for name in foreign],
                fix=f"move those files out of the folder, or give {option} a new folder (or one an earlier "
                    "run of this command wrote)")
        if claim and names and OUTPUT_MARK not in names:
            (out / OUTPUT_MARK).write_text("llmcoder writes this folder as a whole and replaces it on every run.\n",
                                           encoding="utf-8")
    ensure_writable(out.parent, folder=True)
    return out


def check_output_file(target: str | os.PathLike[str], *, option: str = "--out", suffix: str | None = None) -> Path:
    """Check, before any work, that the file ``target`` can be written (atomically, beside itself).

    Nothing is created; raises :class:`InputError` when a folder stands there, the suffix is wrong
    or the nearest existing parent folder cannot be written.
    """
    from llmcoder.io import ensure_writable

    out = Path(target).absolute()
    if out.is_dir():
        raise InputError(str(target), "a folder stands where the output file should be",
                         fix=f"give {option} a file path" + (f" ending in {suffix}" if suffix else ""))
    if suffix is not None and out.suffix.lower() != suffix:
        raise InputError(str(target), f"{option} must be a {suffix} file (it is written as {suffix.lstrip('.')})",
                         fix=f"give {option} a path ending in {suffix}")
    ensure_writable(out)
    return out


def check_settings(*, n_boot: int | None = None, ci: float | None = None, seed: int | None = None,
                   names: dict[str, str] | None = None) -> None:
    """Check the bootstrap settings a person typed; raise :class:`InputError` naming the option.

    ``names`` maps ``n_boot``, ``ci`` and ``seed`` to how the user spells them (``--n-boot`` on the
    command line, ``evaluate.n_boot`` in config.yaml).
    """
    spell = {"n_boot": "--n-boot", "ci": "--ci", "seed": "--seed", **(names or {})}
    if ci is not None and not (isinstance(ci, (int, float)) and 0 < ci < 1):
        hint = f"did you mean {ci / 100:g}?" if isinstance(ci, (int, float)) and 1 < ci < 100 else \
            "give a level such as 0.95"
        raise InputError(spell["ci"], f"{ci:g} is out of range: {spell['ci']} is a confidence level between 0 and 1 "
                                      f"({hint})", fix=f"{spell['ci']} 0.95 gives 95% intervals")
    if n_boot is not None and (not isinstance(n_boot, int) or n_boot < 0):
        raise InputError(spell["n_boot"], f"{n_boot} is not a number of bootstrap resamples",
                         fix=f"give {spell['n_boot']} 0 (no intervals) or a positive count such as 1000")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise InputError(spell["seed"], f"{seed} is not a valid seed", fix=f"give {spell['seed']} a whole number >= 0")


def write_evaluation(result: dict[str, Any], out_dir: str | os.PathLike[str], *, system: str | None = None,
                     source: str | os.PathLike[str] | None = None) -> Path:
    """Write metrics.json, metrics.csv, per_class.csv, confusion.csv and provenance.json, all or nothing.

    The files are written into a staged folder that replaces ``out_dir`` in one step, so a failure
    leaves the previous evaluation whole. ``metrics.json`` is flat: each metric name maps to its
    value (null when undefined), next to ``system, task, n, ci`` (metric -> [low, high]) and the
    settings (``labels, n_boot, ci_level, random_state, zero_division``) and counts
    (``n_ignored_pred, n_invalid_pred``). ``source``, the predictions file scored, is recorded in
    ``provenance.json`` (``predictions``) so that readers use the same file (the report's calibration).
    """
    from llmcoder.io import provenance, staged_dir, write_csv, write_json

    out = check_output_folder(out_dir, EVALUATION_FILES, option="out_dir", what="evaluation", claim=True)
    system = system or "system"
    doc: dict[str, Any] = {k: _json_number(v) for k, v in result["metrics"].items()}
    doc.update(
        system=system,
        ci={k: [_json_number(x) for x in v] for k, v in result["ci"].items()},
        **{
            k: result[k]
            for k in (
                "task",
                "n",
                "labels",
                "n_boot",
                "ci_level",
                "random_state",
                "zero_division",
                "n_ignored_pred",
                "n_invalid_pred",
                "warnings",
                "calibration",
            )
            if k in result
        },
    )
    from llmcoder.results import checked

    sys_col = pl.lit(system).alias("system")
    with staged_dir(out) as stage:
        write_json(checked("evaluation_record", doc), stage / "metrics.json")
        write_csv(checked("evaluation_metrics", metrics_table(result, system=system)), stage / "metrics.csv")
        write_csv(checked("evaluation_per_class", result["per_class"].select(sys_col, pl.all())),
                  stage / "per_class.csv")
        write_csv(checked("evaluation_confusion", result["confusion"].select(sys_col, pl.all())),
                  stage / "confusion.csv")
        record = provenance(artifact="evaluation", system=system)
        if source is not None:
            record["predictions"] = Path(source).as_posix()
        write_json(checked("evaluation_provenance", record), stage / "provenance.json")
    return Path(out_dir)


def read_evaluation(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """An evaluation written by :func:`write_evaluation`, read back through the results contract.

    Returns what :func:`evaluate` returned, less the bootstrap draws: ``task``, ``n``, ``labels``,
    ``metrics``, ``ci``, ``per_class`` and ``confusion`` (without the ``system`` column) and the counts.
    Steps that need a system's scores (the bias checks) read them here instead of scoring again.
    """
    import json

    from llmcoder.results import check_record, read_table

    out = Path(folder)
    record_path = out / "metrics.json"
    if not record_path.is_file():
        raise InputError(str(record_path), "evaluation not found", fix="run the evaluate step first")
    try:
        doc = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(str(record_path), f"not a readable JSON file ({e})", fix="run the evaluate step again") from e
    problems = check_record("evaluation_record", doc)
    if problems:
        raise InputError(str(record_path), "does not match the results contract (evaluation_record)",
                         [Problem(x) for x in problems], fix="run the evaluate step again")
    settings = {"task", "n", "labels", "ci", "system", "n_boot", "ci_level", "random_state", "zero_division",
                "n_ignored_pred", "n_invalid_pred", "warnings", "calibration"}
    return {
        **{k: doc[k] for k in settings if k in doc and k not in ("system", "ci")},
        "system": doc["system"],
        "metrics": {k: math.nan if v is None else v for k, v in doc.items() if k not in settings},
        "ci": doc["ci"],
        "per_class": read_table("evaluation_per_class", out / "per_class.csv").drop("system"),
        "confusion": read_table("evaluation_confusion", out / "confusion.csv").drop("system"),
    }


def evaluate_files(
    gold_path: str | os.PathLike[str],
    pred_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    codebook: Any = None,
    system: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Read gold and predictions (CSV or Parquet), evaluate, write the files, return the result.

    ``codebook`` (a :class:`~llmcoder.codebook.Codebook` or a path to one) fixes the label set and
    the task; other keyword arguments go to :func:`evaluate`. The settings and the output folder are
    checked before any file is read, and nothing is written unless every input is valid.
    """
    check_settings(n_boot=kwargs.get("n_boot"), ci=kwargs.get("ci"), seed=kwargs.get("random_state"),
                   names={"seed": "--seed"})
    check_output_folder(out_dir, EVALUATION_FILES, what="evaluation")
    if codebook is not None and not hasattr(codebook, "ids"):
        from llmcoder.codebook import load_codebook

        codebook = load_codebook(codebook)
    if codebook is not None:
        kwargs.setdefault("labels", codebook.ids)
        kwargs.setdefault("task", codebook.task)
    gold = _as_long(gold_path, str(gold_path))
    pred = _as_long(pred_path, str(pred_path))
    try:
        result = evaluate(gold, pred, **kwargs)
    except InputError as e:  # name the real files
        e.path = {"gold": str(gold_path), "pred": str(pred_path)}.get(e.path, e.path)
        raise InputError(e.path, e.what, e.problems, e.fix) from None
    write_evaluation(result, out_dir, system=system or Path(pred_path).stem, source=pred_path)
    return result
