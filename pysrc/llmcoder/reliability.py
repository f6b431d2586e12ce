"""Inter-coder reliability: any number of coders, missing ratings, nominal to interval data.

Coefficients come from the libraries that define them: Fleiss' kappa, Gwet's AC1/AC2, Conger's
kappa, Brennan-Prediger and their standard errors from ``irrCAC`` (Gwet 2014, linearisation
variance, t intervals), Krippendorff's alpha from ``krippendorff``, Cohen's kappa from
scikit-learn. This module adds only what they lack:

* the percent-agreement standard error (irrCAC for Python has no ``pa.coeff.raw``; the formula is
  the R package's, Gwet 2014);
* the asymptotic standard error of Cohen's kappa (Fleiss, Cohen & Everitt 1969), which sklearn
  does not give;
* Krippendorff's alpha from unit-level coincidences with any distance, used for a bootstrap
  interval over units and for multi-label data with the MASI set distance (Passonneau 2006).

Alpha's interval: irrCAC's alpha equals Krippendorff's for nominal and interval data (identity and
quadratic weights; checked at run time) and then its standard error and t interval are used. For
ordinal data irrCAC's "ordinal" weights are Gwet's, not Krippendorff's rank metric, and its
estimate differs (e.g. 0.834 vs 0.815 on Krippendorff's 4 x 12 example), so the estimate comes
from ``krippendorff`` and the interval from a percentile bootstrap over units.

The ratings table is long: ``doc_id, coder, label``, one row per rating (a multi-label rating is
one row per label; a null label in multi-label data marks a unit the coder rated with no label).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from llmcoder.errors import InputError, Problem
from llmcoder.metrics import bootstrap_sums, percentile_ci

Level = Literal["nominal", "ordinal", "interval"]
COEFFICIENTS = (
    "percent_agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "conger_kappa",
    "brennan_prediger",
)
COLUMNS = ("coefficient", "estimate", "se", "ci_low", "ci_high", "n_units", "n_coders", "method")
_IRR_WEIGHTS = {"nominal": "identity", "ordinal": "ordinal", "interval": "quadratic"}
_SK_WEIGHTS = {"nominal": None, "ordinal": "linear", "interval": "quadratic"}
_SCHEMA = {
    "coefficient": pl.Utf8,
    "estimate": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_units": pl.Int64,
    "n_coders": pl.Int64,
    "method": pl.Utf8,
}


# -- input ---------------------------------------------------------------------------------------


def _as_ratings(ratings: Any, what: str = "ratings") -> pl.DataFrame:
    if not isinstance(ratings, pl.DataFrame):
        ratings = pl.from_pandas(ratings) if hasattr(ratings, "to_numpy") else pl.DataFrame(ratings)
    missing = [c for c in ("doc_id", "coder", "label") if c not in ratings.columns]
    if missing:
        raise InputError(
            what,
            f"column(s) {', '.join(missing)} not found (have: {', '.join(ratings.columns)})",
            fix="give ratings as a long table doc_id, coder, label (one row per rating)",
        )
    out = ratings.select(
        pl.col("doc_id").cast(pl.Utf8),
        pl.col("coder").cast(pl.Utf8),
        pl.col("label").cast(pl.Utf8).str.strip_chars(),
    ).with_columns(pl.when(pl.col("label") == "").then(None).otherwise(pl.col("label")).alias("label"))
    return out


def _check_duplicates(df: pl.DataFrame, duplicates: str, what: str) -> pl.DataFrame:
    if duplicates not in ("error", "first"):
        raise ValueError(f"duplicates must be 'error' or 'first', got {duplicates!r}")
    dup = df.group_by("doc_id", "coder", maintain_order=True).len().filter(pl.col("len") > 1)
    if dup.height == 0:
        return df
    if duplicates == "first":
        return df.unique(subset=["doc_id", "coder"], keep="first", maintain_order=True)
    problems = [Problem(f"doc_id '{d}', coder '{c}': {n} ratings") for d, c, n in dup.iter_rows()]
    raise InputError(
        what,
        f"{dup.height} (doc_id, coder) pair(s) are rated more than once",
        problems,
        fix="keep one rating per coder and document, or pass duplicates='first'",
    )


def _categories(values: Sequence[str], categories: Sequence[Any] | None, level: str) -> list[str]:
    if categories is not None:
        cats = [str(c) for c in categories]
        unknown = sorted(set(values) - set(cats))
        if unknown:
            raise InputError(
                "ratings",
                f"{len(unknown)} rating value(s) are not in categories=",
                [Problem(f"value '{u}'") for u in unknown],
                fix="add them to categories= or correct the ratings",
            )
        return cats
    uniq = sorted(set(values))
    try:
        return sorted(uniq, key=float)
    except ValueError:
        if level != "nominal":
            raise InputError(
                "ratings",
                f"{level} data needs ordered categories but the values are not numbers",
                fix="pass categories= in their order (e.g. ['low', 'medium', 'high'])",
            ) from None
        return uniq


def _codes(cats: list[str], level: str) -> np.ndarray:
    if level == "interval":
        try:
            return np.array([float(c) for c in cats])
        except ValueError:
            raise InputError(
                "ratings", "interval data must be numbers", fix="use level='ordinal' for ordered labels"
            ) from None
    return np.arange(1, len(cats) + 1, dtype=float)


def _wide(df: pl.DataFrame, cats: list[str], values: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Units x coders matrix of category values (NaN = not rated)."""
    docs = df["doc_id"].unique(maintain_order=True).to_list()
    coders = sorted(df["coder"].unique().to_list())
    di = {d: i for i, d in enumerate(docs)}
    ci = {c: j for j, c in enumerate(coders)}
    vi = {c: v for c, v in zip(cats, values, strict=True)}
    x = np.full((len(docs), len(coders)), np.nan)
    rows = np.fromiter((di[d] for d in df["doc_id"].to_list()), dtype=np.int64, count=df.height)
    cols = np.fromiter((ci[c] for c in df["coder"].to_list()), dtype=np.int64, count=df.height)
    x[rows, cols] = np.fromiter((vi[v] for v in df["label"].to_list()), dtype=float, count=df.height)
    return x, docs, coders


def _unit_counts(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Units x categories: how many coders put each unit in each category."""
    return np.stack([(x == v).sum(1) for v in values], axis=1).astype(float)


# -- Krippendorff's alpha from coincidences -------------------------------------------------------


def _ordinal_delta(n_c: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric for marginal counts ``n_c`` of shape (..., q) -> (..., q, q).

    ``delta(c, k) = (sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2``.
    """
    n_c = np.asarray(n_c, dtype=float)
    q = n_c.shape[-1]
    i, j = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    cum = np.concatenate([np.zeros(n_c.shape[:-1] + (1,)), np.cumsum(n_c, axis=-1)], axis=-1)
    s = cum[..., hi + 1] - cum[..., lo] - (n_c[..., lo] + n_c[..., hi]) / 2
    return s**2


def _delta(level: str, values: np.ndarray) -> np.ndarray | None:
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    return None  # ordinal: depends on the marginals


def alpha_from_counts(
    counts: np.ndarray,
    delta: np.ndarray | Callable[[np.ndarray], np.ndarray],
) -> float:
    """Krippendorff's alpha from units x values counts and a distance matrix.

    ``alpha = 1 - (n - 1) * sum_u c_u' D c_u / (m_u - 1) / (n_c' D n_c)`` over pairable units
    (``m_u >= 2``), where ``n`` is the number of pairable values and ``n_c`` their marginals
    (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"). ``delta`` may be a function
    of the marginals (the ordinal metric).
    """
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(1)
    c = counts[m >= 2]
    m = m[m >= 2]
    if c.shape[0] == 0:
        return math.nan
    n_c = c.sum(0)
    d = delta(n_c) if callable(delta) else delta
    do = (((c @ d) * c).sum(1) / (m - 1)).sum()
    de = n_c @ d @ n_c
    return float(1.0 - (n_c.sum() - 1) * do / de) if de > 0 else math.nan


def _alpha_bootstrap(
    counts: np.ndarray,
    delta: np.ndarray | Callable[[np.ndarray], np.ndarray],
    n_boot: int,
    ci: float,
    random_state: int | None,
) -> tuple[float, float, float]:
    """SE and percentile CI of alpha over ``n_boot`` resamples of units (vectorised)."""
    counts = np.asarray(counts, dtype=float)
    m = counts.sum(1)
    c = counts[m >= 2]
    m = m[m >= 2]
    q = c.shape[1]
    if callable(delta):  # metric depends on the marginals: resample unit coincidence matrices
        o_u = (c[:, :, None] * c[:, None, :]) / (m - 1)[:, None, None]
        o_u[:, np.arange(q), np.arange(q)] -= c / (m - 1)[:, None]
        sums = bootstrap_sums(np.hstack([o_u.reshape(len(c), -1), c]), n_boot, random_state=random_state)
        o = sums[:, : q * q].reshape(-1, q, q)
        n_c = sums[:, q * q :]
        d = delta(n_c)
        do = (o * d).sum((1, 2))
    else:
        d = delta
        per_unit = ((c @ d) * c).sum(1) / (m - 1)
        sums = bootstrap_sums(np.column_stack([per_unit, c]), n_boot, random_state=random_state)
        do = sums[:, 0]
        n_c = sums[:, 1:]
        d = np.broadcast_to(d, (n_boot, q, q))
    de = np.einsum("bi,bij,bj->b", n_c, d, n_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = 1.0 - (n_c.sum(1) - 1) * do / de
    lo, hi = percentile_ci(boot, ci)
    return float(np.nanstd(boot, ddof=1)), lo, hi


# -- Cohen's kappa -------------------------------------------------------------------------------


def _agreement_weights(level: str, values: np.ndarray) -> np.ndarray:
    q = len(values)
    if level == "nominal" or q < 2:
        return np.eye(q)
    if level == "ordinal":
        r = np.arange(q, dtype=float)
        return 1.0 - np.abs(r[:, None] - r[None, :]) / (q - 1)
    span = values.max() - values.min()
    return 1.0 - (values[:, None] - values[None, :]) ** 2 / span**2


def cohen_kappa_se(table: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Cohen's (weighted) kappa and its asymptotic standard error from a q x q count table.

    Fleiss, Cohen & Everitt (1969), "Large sample standard errors of kappa and weighted kappa",
    Psychological Bulletin 72(5), 323-327 (the ASE that SAS PROC FREQ reports). ``weights`` are
    agreement weights (1 on the diagonal); ``None`` is unweighted kappa.
    """
    t = np.asarray(table, dtype=float)
    n = t.sum()
    w = np.eye(len(t)) if weights is None else np.asarray(weights, dtype=float)
    p = t / n
    pr, pc = p.sum(1), p.sum(0)
    po = (w * p).sum()
    pe = (w * np.outer(pr, pc)).sum()
    if pe >= 1:
        return math.nan, math.nan
    kappa = (po - pe) / (1 - pe)
    wr = w @ pc  # w-bar_i.
    wc = pr @ w  # w-bar_.j
    inner = (p * (w - (wr[:, None] + wc[None, :]) * (1 - kappa)) ** 2).sum()
    var = (inner - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    return float(kappa), float(math.sqrt(max(var, 0.0)))


def _cohen_pair(a: np.ndarray, b: np.ndarray, level: str, values: np.ndarray) -> tuple[float, float, int, float]:
    """kappa (sklearn), its ASE, units rated by both, percent agreement."""
    from sklearn.metrics import cohen_kappa_score

    both = ~np.isnan(a) & ~np.isnan(b)
    n = int(both.sum())
    if n == 0:
        return math.nan, math.nan, 0, math.nan
    a, b = a[both], b[both]
    q = len(values)
    ia = np.searchsorted(values, a)
    ib = np.searchsorted(values, b)
    table = np.zeros((q, q))
    np.add.at(table, (ia, ib), 1)
    w = _agreement_weights(level, values)
    k_formula, se = cohen_kappa_se(table, w)
    equidistant = level != "interval" or np.allclose(np.diff(values), np.diff(values)[0])
    if equidistant and not math.isnan(k_formula):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            k = float(cohen_kappa_score(ia, ib, labels=np.arange(q), weights=_SK_WEIGHTS[level]))
    else:
        k = k_formula
    pa = float((w * table).sum() / n)
    return k, se, n, pa


def pairwise_cohen(
    ratings: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    ci: float = 0.95,
    duplicates: Literal["error", "first"] = "error",
) -> pl.DataFrame:
    """Cohen's kappa for every pair of coders who share units, on the units both rated.

    Parameters
    ----------
    ratings : DataFrame
        Long ratings ``doc_id, coder, label``.
    level : {"nominal", "ordinal", "interval"}, default="nominal"
        Unweighted, linear-weighted or quadratic-weighted kappa.
    categories : sequence, default=None
        All categories in order (needed for ordinal data that are not numbers).
    ci : float, default=0.95
        Level of the normal interval kappa +- z * ASE.
    duplicates : {"error", "first"}, default="error"
        What to do with a coder rating the same unit twice.

    Returns
    -------
    polars.DataFrame
        ``coder_a, coder_b, n_units, percent_agreement, kappa, se, ci_low, ci_high``.
    """
    x, values, coders, _ = _prepare(ratings, level, categories, duplicates)
    z = stats.norm.ppf(0.5 + ci / 2)
    q = len(values)
    w = _agreement_weights(level, values)
    mat, pairs = _pair_cells(x, values)
    tables = np.asarray(mat.sum(0)).reshape(len(pairs), q, q)
    kappas = _kappa_from_tables(tables, w)
    rows = []
    for (i, j), t, k in zip(pairs, tables, kappas, strict=True):
        _k, se = cohen_kappa_se(t, w)
        n = int(t.sum())
        pa = float((w * t).sum() / n)
        rows.append((coders[i], coders[j], n, pa, float(k), se, k - z * se, min(1.0, k + z * se)))
    return pl.DataFrame(
        rows,
        schema={
            "coder_a": pl.Utf8,
            "coder_b": pl.Utf8,
            "n_units": pl.Int64,
            "percent_agreement": pl.Float64,
            "kappa": pl.Float64,
            "se": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
        },
        orient="row",
    )


# -- the reliability table -----------------------------------------------------------------------


def _prepare(
    ratings: Any, level: str, categories: Sequence[Any] | None, duplicates: str
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    if level not in _IRR_WEIGHTS:
        raise ValueError(f"level must be one of {sorted(_IRR_WEIGHTS)}, got {level!r}")
    df = _as_ratings(ratings).filter(pl.col("label").is_not_null())
    if df.height == 0:
        raise InputError("ratings", "no ratings", fix="give at least two coders' ratings")
    df = _check_duplicates(df, duplicates, "ratings")
    cats = _categories(df["label"].unique().to_list(), categories, level)
    values = _codes(cats, level)
    x, _docs, coders = _wide(df, cats, values)
    if len(coders) < 2:
        raise InputError("ratings", f"only one coder ('{coders[0]}')", fix="reliability needs two coders or more")
    if not ((~np.isnan(x)).sum(1) >= 2).any():
        raise InputError("ratings", "no unit is rated by two coders", fix="have units rated by several coders")
    order = np.argsort(values)
    return x, values[order], coders, [cats[i] for i in order]


def _percent_agreement(counts: np.ndarray, w: np.ndarray, ci: float) -> tuple[float, float, float, float]:
    """Percent agreement, SE and t interval as in R irrCAC's ``pa.coeff.raw`` (Gwet 2014)."""
    n = counts.shape[0]
    ri = counts.sum(1)
    sum_q = (counts * (counts @ w.T - 1)).sum(1)
    ok = ri >= 2
    n2 = ok.sum()
    pa = float((sum_q[ok] / (ri[ok] * (ri[ok] - 1))).sum() / n2)
    den = ri * (ri - 1)
    den = den - (den == 0)
    pa_i = (n / n2) * sum_q / den
    se = math.sqrt(((pa_i - pa) ** 2).sum() / (n * (n - 1))) if n > 1 else math.nan
    lo, hi = stats.t.interval(ci, df=n - 1, loc=pa, scale=se) if se > 0 else (pa, pa)
    return pa, se, float(lo), float(min(1.0, hi))


def _irr(cac: Any, method: str) -> tuple[float, float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = getattr(cac, method)()["est"]
    lo, hi = est["confidence_interval"]
    se = float(est["se"])
    return float(est["coefficient_value"]), (se if se > 1e-14 else 0.0), float(lo), float(hi)


def reliability(
    ratings: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    ci: float = 0.95,
    duplicates: Literal["error", "first"] = "error",
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> pl.DataFrame:
    """Agreement among any number of coders, with standard errors and confidence intervals.

    Parameters
    ----------
    ratings : polars.DataFrame or pandas.DataFrame
        Long ratings ``doc_id, coder, label``; coders may skip units (missing ratings). Rows with
        a null label are treated as missing.
    level : {"nominal", "ordinal", "interval"}, default="nominal"
        Measurement level: identity / ordinal / quadratic weights for irrCAC, the same
        ``level_of_measurement`` for ``krippendorff``, unweighted / linear / quadratic Cohen.
    categories : sequence, default=None
        All possible categories, in order (absent ones included). ``None`` uses the observed
        values, sorted numerically when they are numbers.
    ci : float, default=0.95
        Confidence level (irrCAC accepts 0.90 to 0.99).
    duplicates : {"error", "first"}, default="error"
        A (doc_id, coder) pair rated twice raises :class:`~llmcoder.errors.InputError` naming the
        pairs, or keeps the first rating with ``"first"``.
    n_boot : int, default=1000
        Bootstrap resamples of units where a bootstrap interval is used (ordinal alpha; the mean
        of pairwise Cohen kappas with more than two coders). 0 leaves those intervals empty.
    random_state : int or None, default=0
        Seed of the bootstrap.

    Returns
    -------
    polars.DataFrame
        One row per coefficient (``percent_agreement, cohen_kappa, fleiss_kappa,
        krippendorff_alpha, gwet_ac1, conger_kappa, brennan_prediger``) with columns
        ``coefficient, estimate, se, ci_low, ci_high, n_units, n_coders, method``. With weights
        (ordinal, interval) the rows are the weighted versions (e.g. Gwet's AC2). With more than
        two coders ``cohen_kappa`` is the mean of the pairwise kappas (see :func:`pairwise_cohen`).

    References
    ----------
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed. Advanced Analytics.
    Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
    Fleiss, J. L., Cohen, J., & Everitt, B. S. (1969). Large sample standard errors of kappa and
    weighted kappa. Psychological Bulletin, 72(5), 323-327.

    Examples
    --------
    >>> import polars as pl
    >>> r = pl.DataFrame({"doc_id": ["1", "1", "2", "2", "3", "3", "4", "4"],
    ...                   "coder": ["a", "b"] * 4,
    ...                   "label": ["x", "x", "y", "y", "x", "y", "y", "y"]})
    >>> t = reliability(r)
    >>> t.filter(pl.col("coefficient") == "cohen_kappa")["estimate"].round(3).item()
    0.5
    """
    import krippendorff
    import pandas as pd
    from irrCAC.raw import CAC

    if not 0.9 <= ci <= 0.99:
        raise ValueError(f"ci must be in [0.90, 0.99] (irrCAC's range), got {ci}")
    x, values, coders, _cats = _prepare(ratings, level, categories, duplicates)
    n_units, n_coders = x.shape
    rows: list[tuple[Any, ...]] = []

    def add(name: str, est: float, se: float, lo: float, hi: float, method: str) -> None:
        rows.append((name, est, se, lo, hi, n_units, n_coders, method))

    cac = CAC(
        pd.DataFrame(x),
        weights=_IRR_WEIGHTS[level],
        categories=list(values),
        confidence_level=ci,
        digits=10,
    )
    w = np.asarray(cac.weights_mat, dtype=float)
    counts = _unit_counts(x, values)

    add("percent_agreement", *_percent_agreement(counts, w, ci), "Gwet 2014 (R irrCAC pa.coeff.raw)")

    if n_coders == 2:
        k, se, _n, _pa = _cohen_pair(x[:, 0], x[:, 1], level, values)
        z = stats.norm.ppf(0.5 + ci / 2)
        add("cohen_kappa", k, se, k - z * se, min(1.0, k + z * se), "sklearn; ASE Fleiss-Cohen-Everitt 1969")
    else:
        est, se, lo, hi, n_pairs = _mean_pairwise_kappa(x, values, level, n_boot, ci, random_state)
        add("cohen_kappa", est, se, lo, hi, f"mean of {n_pairs} pairwise kappas; unit bootstrap")

    add("fleiss_kappa", *_irr(cac, "fleiss"), "irrCAC")

    alpha = float(krippendorff.alpha(reliability_data=x.T, level_of_measurement=level, value_domain=list(values)))
    irr_alpha = _irr(cac, "krippendorff")
    if level != "ordinal" and math.isclose(alpha, irr_alpha[0], abs_tol=1e-8):
        add("krippendorff_alpha", alpha, *irr_alpha[1:], "krippendorff; SE and t interval irrCAC")
    else:
        delta = _delta(level, values)
        se, lo, hi = (
            _alpha_bootstrap(counts, delta if delta is not None else _ordinal_delta, n_boot, ci, random_state)
            if n_boot
            else (math.nan, math.nan, math.nan)
        )
        add("krippendorff_alpha", alpha, se, lo, hi, "krippendorff; unit bootstrap percentile")

    add("gwet_ac1", *_irr(cac, "gwet"), "irrCAC")
    add("conger_kappa", *_irr(cac, "conger"), "irrCAC")
    add("brennan_prediger", *_irr(cac, "bp"), "irrCAC")
    out = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
    bad = out.filter(~pl.col("estimate").is_finite())["coefficient"].to_list()
    if bad:
        warnings.warn(
            f"undefined coefficient(s) {', '.join(bad)}: chance agreement is 1 (one category used)",
            RuntimeWarning,
            stacklevel=2,
        )
    return out


def _pair_cells(x: np.ndarray, values: np.ndarray) -> tuple[Any, list[tuple[int, int]]]:
    """Sparse units x (pair, cell) one-hot: for each pair of coders who both rated a unit, the cell
    (category of coder a, category of coder b) of that pair's q x q table."""
    import scipy.sparse as sp

    q = len(values)
    u, c = np.nonzero(~np.isnan(x))
    v = np.searchsorted(values, x[u, c])
    long = pl.DataFrame({"u": u, "c": c, "v": v})
    j = long.join(long, on="u", suffix="_b").filter(pl.col("c") < pl.col("c_b"))
    pid_raw = (j["c"].to_numpy() * x.shape[1] + j["c_b"].to_numpy()).astype(np.int64)
    uniq, pid = np.unique(pid_raw, return_inverse=True)
    pairs = [(int(k // x.shape[1]), int(k % x.shape[1])) for k in uniq]
    col = pid * q * q + j["v"].to_numpy() * q + j["v_b"].to_numpy()
    mat = sp.csr_matrix((np.ones(j.height), (j["u"].to_numpy(), col)), shape=(x.shape[0], len(pairs) * q * q))
    return mat, pairs


def _kappa_from_tables(t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(Weighted) Cohen kappa of count tables (..., q, q) with agreement weights ``w``."""
    n = t.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = t / n[..., None, None]
        po = (w * p).sum((-2, -1))
        pe = np.einsum("...i,ij,...j->...", p.sum(-1), w, p.sum(-2))
        k = (po - pe) / (1 - pe)
    return np.where(np.isclose(pe, 1.0), np.nan, k)


def _mean_pairwise_kappa(
    x: np.ndarray,
    values: np.ndarray,
    level: str,
    n_boot: int,
    ci: float,
    random_state: int | None,
) -> tuple[float, float, float, float, int]:
    """Mean of the pairwise Cohen kappas (vectorised) with a unit-bootstrap SE and interval."""
    q = len(values)
    w = _agreement_weights(level, values)
    mat, pairs = _pair_cells(x, values)
    tables = np.asarray(mat.sum(0)).reshape(len(pairs), q, q)
    est = float(np.nanmean(_kappa_from_tables(tables, w)))
    if not n_boot:
        return est, math.nan, math.nan, math.nan, len(pairs)

    def stat(sums: np.ndarray) -> np.ndarray:
        k = _kappa_from_tables(sums.reshape(len(sums), len(pairs), q, q), w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(k, axis=1)

    boot = bootstrap_sums(mat, n_boot, random_state=random_state, statistic=stat)
    lo, hi = percentile_ci(boot, ci)
    return est, float(np.nanstd(boot, ddof=1)), lo, hi, len(pairs)


# -- multi-label -----------------------------------------------------------------------------------


def masi_distance(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """MASI distance between two label sets (Passonneau 2006): ``1 - J * M``.

    ``J`` is the Jaccard index and ``M`` is 1 for identical sets, 2/3 when one contains the other,
    1/3 when they overlap otherwise and 0 when disjoint. Two empty sets are identical (distance 0).
    """
    a, b = set(a), set(b)
    if a == b:
        return 0.0
    inter = len(a & b)
    union = len(a | b)
    m = 2 / 3 if (a <= b or b <= a) else (1 / 3 if inter else 0.0)
    return 1.0 - (inter / union) * m


def _set_distance_matrix(sets: list[frozenset[str]], distance: str) -> np.ndarray:
    """Pairwise distances between distinct label sets, vectorised over a set x label indicator."""
    labels = sorted(set().union(*sets)) if sets else []
    li = {lab: j for j, lab in enumerate(labels)}
    ind = np.zeros((len(sets), max(len(labels), 1)))
    for i, s in enumerate(sets):
        for lab in s:
            ind[i, li[lab]] = 1.0
    inter = ind @ ind.T
    size = ind.sum(1)
    union = size[:, None] + size[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
    equal = (inter == size[:, None]) & (inter == size[None, :])
    if distance == "nominal":
        return 1.0 - equal.astype(float)
    if distance == "jaccard":
        return 1.0 - jac
    if distance != "masi":
        raise ValueError(f"distance must be 'masi', 'jaccard' or 'nominal', got {distance!r}")
    subset = (inter == size[:, None]) | (inter == size[None, :])
    m = np.where(equal, 1.0, np.where(subset, 2 / 3, np.where(inter > 0, 1 / 3, 0.0)))
    d = 1.0 - jac * m
    np.fill_diagonal(d, 0.0)
    return d


def _label_sets(ratings: Any) -> pl.DataFrame:
    """``doc_id, coder, labels`` (a sorted list; empty = rated with no label)."""
    df = _as_ratings(ratings)
    return df.group_by("doc_id", "coder", maintain_order=True).agg(
        pl.col("label").drop_nulls().unique().sort().alias("labels")
    )


def krippendorff_alpha_sets(
    ratings: Any,
    *,
    distance: Literal["masi", "jaccard", "nominal"] = "masi",
    ci: float = 0.95,
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> dict[str, float]:
    """Krippendorff's alpha for multi-label ratings with a set distance (MASI by default).

    Each (unit, coder) value is the set of labels the coder gave the unit; alpha is computed from
    the coincidences of these set values with the chosen distance (Passonneau 2006, "Measuring
    agreement on set-valued items (MASI) for semantic and pragmatic annotation", LREC). With
    single-label data and ``distance="nominal"`` (or ``"jaccard"``) this is exactly
    ``krippendorff.alpha(level_of_measurement="nominal")``.

    Returns
    -------
    dict
        ``estimate, se, ci_low, ci_high, n_units, n_coders, n_values`` (distinct label sets).
    """
    sets = _label_sets(ratings)
    keys = [frozenset(v) for v in sets["labels"].to_list()]
    distinct = sorted(set(keys), key=lambda s: (len(s), sorted(s)))
    vi = {s: i for i, s in enumerate(distinct)}
    docs = sets["doc_id"].to_list()
    di: dict[str, int] = {}
    for d in docs:
        di.setdefault(d, len(di))
    counts = np.zeros((len(di), len(distinct)))
    np.add.at(counts, (np.array([di[d] for d in docs]), np.array([vi[k] for k in keys])), 1.0)
    dmat = _set_distance_matrix(distinct, distance)
    est = alpha_from_counts(counts, dmat)
    se, lo, hi = _alpha_bootstrap(counts, dmat, n_boot, ci, random_state) if n_boot else (math.nan,) * 3
    return {
        "estimate": est,
        "se": se,
        "ci_low": lo,
        "ci_high": hi,
        "n_units": len(di),
        "n_coders": sets["coder"].n_unique(),
        "n_values": len(distinct),
    }


def reliability_multilabel(
    ratings: Any,
    *,
    labels: Sequence[str] | None = None,
    ci: float = 0.95,
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> pl.DataFrame:
    """Reliability of multi-label coding: per label (present/absent) and over label sets (MASI).

    Parameters
    ----------
    ratings : DataFrame
        Long ``doc_id, coder, label``: one row per label a coder gave a unit; a row with a null
        label records a unit the coder rated with no label. A label counts as absent only on units
        the coder rated.
    labels : sequence of str, default=None
        Labels to report (absent ones included); ``None`` uses the observed labels, sorted.

    Returns
    -------
    polars.DataFrame
        ``label`` plus the columns of :func:`reliability`, one block of rows per label, then
        rows with ``label = "(all)"``: ``krippendorff_alpha_masi`` and
        ``krippendorff_alpha_jaccard`` (unit bootstrap intervals).
    """
    sets = _label_sets(ratings)
    observed = sorted(set(sets["labels"].explode().drop_nulls().to_list()))
    labels = list(labels) if labels is not None else observed
    frames = []
    for lab in labels:
        binary = sets.select(
            "doc_id", "coder", pl.col("labels").list.contains(lab).cast(pl.Int8).cast(pl.Utf8).alias("label")
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            t = reliability(binary, categories=["0", "1"], ci=ci, n_boot=n_boot, random_state=random_state)
        frames.append(t.select(pl.lit(lab).alias("label"), pl.all()))
    for dist in ("masi", "jaccard"):
        a = krippendorff_alpha_sets(
            sets.explode("labels", empty_as_null=True).rename({"labels": "label"}),
            distance=dist,
            ci=ci,
            n_boot=n_boot,
            random_state=random_state,
        )
        frames.append(
            pl.DataFrame(
                [
                    (
                        "(all)",
                        f"krippendorff_alpha_{dist}",
                        a["estimate"],
                        a["se"],
                        a["ci_low"],
                        a["ci_high"],
                        a["n_units"],
                        a["n_coders"],
                        "set-valued alpha; unit bootstrap percentile",
                    )
                ],
                schema={"label": pl.Utf8, **_SCHEMA},
                orient="row",
            )
        )
    return pl.concat(frames)


# -- model vs gold, human ceiling ------------------------------------------------------------------


def agreement_with_gold(
    pred: Any,
    gold: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    ci: float = 0.95,
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> pl.DataFrame:
    """Agreement of each coder in ``pred`` with the gold labels, as a two-coder reliability table.

    ``pred`` is ``doc_id, label`` (one coder) or ``doc_id, coder, label`` (several; one table
    block per coder, with a ``comparison`` column "<coder> vs gold"). ``gold`` is ``doc_id, label``. Only gold documents
    are used; a gold document without a prediction is a missing rating.
    """
    pred = pred if isinstance(pred, pl.DataFrame) else pl.from_pandas(pred)
    gold = gold if isinstance(gold, pl.DataFrame) else pl.from_pandas(gold)
    if "coder" not in pred.columns:
        pred = pred.with_columns(pl.lit("model").alias("coder"))
    g = gold.select(pl.col("doc_id").cast(pl.Utf8), pl.lit("__gold__").alias("coder"), pl.col("label").cast(pl.Utf8))
    frames = []
    for coder in pred["coder"].unique(maintain_order=True).to_list():
        p = pred.filter(pl.col("coder") == coder).select(
            pl.col("doc_id").cast(pl.Utf8), pl.col("coder").cast(pl.Utf8), pl.col("label").cast(pl.Utf8)
        )
        p = p.filter(pl.col("doc_id").is_in(g["doc_id"].implode()))
        t = reliability(
            pl.concat([g, p]), level=level, categories=categories, ci=ci, n_boot=n_boot, random_state=random_state
        )
        frames.append(t.select(pl.lit(f"{coder} vs gold").alias("comparison"), pl.all()))
    return pl.concat(frames)


def human_ceiling(
    ratings: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    ci: float = 0.95,
    duplicates: Literal["error", "first"] = "error",
    n_boot: int = 1000,
    random_state: int | None = 0,
) -> pl.DataFrame:
    """Human-human agreement, the ceiling a model's agreement with one human is compared to.

    The reliability table of the human coders (:func:`reliability`) plus the range of their
    pairwise Cohen kappas: rows ``pairwise_kappa_min`` and ``pairwise_kappa_max``. A model whose
    ``cohen_kappa`` with the gold standard (:func:`agreement_with_gold`) reaches the humans' mean
    pairwise kappa agrees with people as well as they agree with each other.
    """
    t = reliability(
        ratings,
        level=level,
        categories=categories,
        ci=ci,
        duplicates=duplicates,
        n_boot=n_boot,
        random_state=random_state,
    )
    pw = pairwise_cohen(ratings, level=level, categories=categories, ci=ci, duplicates=duplicates)
    pw = pw.filter(pl.col("kappa").is_not_nan())
    if pw.height == 0:
        return t
    n_units, n_coders = t["n_units"][0], t["n_coders"][0]
    extra = []
    for name, fn in (("pairwise_kappa_min", pl.col("kappa").arg_min), ("pairwise_kappa_max", pl.col("kappa").arg_max)):
        i = pw.select(fn()).item()
        r = pw.row(i, named=True)
        extra.append(
            (
                name,
                r["kappa"],
                r["se"],
                r["ci_low"],
                r["ci_high"],
                n_units,
                n_coders,
                f"coders {r['coder_a']} and {r['coder_b']} ({r['n_units']} shared units)",
            )
        )
    return pl.concat([t, pl.DataFrame(extra, schema=_SCHEMA, orient="row")])
