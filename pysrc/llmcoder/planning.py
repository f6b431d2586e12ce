"""Planning the labelled sample: how many documents to label for a confidence interval of a given half-width.

Three estimands. ``kappa`` (a coder against gold) and ``prevalence`` (a label's share) are planned from
a few numbers (:func:`plan_sample_size`). A ``coefficient`` of a regression of a label on corpus
covariates is planned from a pilot (:func:`plan_coefficient`, :func:`plan_coefficient_files`): the
surrogate for the whole corpus, a labelled pilot sample with known inclusion probabilities, and the
design matrix of a formula. For each method (classical, PPI++, DSL) the pilot gives the estimator's
variance as a function of the number ``n`` of labelled documents in a corpus of ``N``; the plan is the
smallest ``n`` whose interval is as narrow as asked.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from llmcoder.errors import InputError
from llmcoder.inference import (
    MODELS,
    Model,
    _expit,
    _ppi_py,
    _read,
    _sandwich,
    _weights,
    _z,
    design_matrix,
    infer_files,
    parse_formula,
    read_predictions,
    read_sample,
    regression_estimates,
    surrogate_arrays,
)

#: The methods a coefficient plan covers (naive needs no labels).
PLAN_METHODS: tuple[str, ...] = ("classical", "ppi", "dsl")

# --------------------------------------------------------------------------------------------------
# Kappa and a prevalence, from a few numbers
# --------------------------------------------------------------------------------------------------


def kappa_variance(table: np.ndarray) -> float:
    """Large-sample variance of Cohen's kappa (times n) from a joint probability table (Fleiss, Cohen & Everitt 1969).

    ``Var(kappa_hat) = [sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2 + (1 - k)^2 sum_{i != j} p_ij (p_.i + p_j.)^2
    - (k - p_e (1 - k))^2] / (n (1 - p_e)^2)``; returned times ``n``. Fleiss, J. L., Cohen, J. &
    Everitt, B. S. (1969). Large sample standard errors of kappa and weighted kappa. *Psychological
    Bulletin* 72(5), 323-327 (the form statsmodels' ``cohens_kappa`` uses).
    """
    p = np.asarray(table, dtype=float)
    p = p / p.sum()
    row, col = p.sum(1), p.sum(0)
    po, pe = np.trace(p), float(row @ col)
    k = (po - pe) / (1 - pe)
    a = (np.diag(p) * (1 - (row + col) * (1 - k)) ** 2).sum()
    b = p * (col[:, None] + row[None, :]) ** 2
    np.fill_diagonal(b, 0)
    c = (k - pe * (1 - k)) ** 2
    return float((a + (1 - k) ** 2 * b.sum() - c) / (1 - pe) ** 2)


def agreement_table(agreement: float, marginals: Sequence[float]) -> np.ndarray:
    """The joint table of two raters with the same ``marginals``, agreeing with probability ``agreement``,
    disagreements spread as chance would (``p_ij`` proportional to ``m_i m_j``)."""
    m = np.asarray(marginals, dtype=float)
    m = m / m.sum()
    off = np.outer(m, m)
    np.fill_diagonal(off, 0)
    off *= (1 - agreement) / off.sum()
    diag = m - off.sum(1)
    if np.any(diag < -1e-12):
        raise ValueError(f"agreement {agreement} is below what these marginals allow")
    return off + np.diag(np.maximum(diag, 0))


def _n_for(var1: Any, half_width: float, z: float, n_max: int | None = None) -> int:
    """The smallest n with ``z * sqrt(var(n)) <= half_width``; ``var1`` a number (var of one) or a function of n."""
    target = (half_width / z) ** 2
    if not callable(var1):
        return max(2, math.ceil(var1 / target - 1e-9))
    hi = n_max if n_max is not None else 10**9
    if var1(hi) > target:
        return hi if n_max is None else n_max + 1  # not reachable with the documents there are
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if var1(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return max(2, lo)


def plan_sample_size(
    half_width: float,
    *,
    estimand: Literal["kappa", "prevalence"] = "prevalence",
    level: float = 0.95,
    kappa: float | None = None,
    agreement: float | None = None,
    n_categories: int | None = None,
    marginals: Sequence[float] | None = None,
    prevalence: float | None = None,
    accuracy: float | None = None,
    correlation: float | None = None,
    residual_variance: float | None = None,
    surrogate_variance: float | None = None,
    n_unlabelled: int | None = None,
) -> dict[str, float]:
    """How many documents to label for a confidence interval of ``+/- half_width``: plain numbers out.

    ``estimand="kappa"``: Cohen's kappa of a coder against gold, given the expected ``agreement``
    (share of documents coded alike) or ``kappa``, and ``n_categories`` (equally common) or
    ``marginals``; the variance is the large-sample one of Fleiss, Cohen & Everitt (1969)
    (:func:`kappa_variance`) on the table :func:`agreement_table` describes. Returns ``n``,
    ``kappa``, ``agreement``, ``chance_agreement``, ``se`` (at ``n``).

    ``estimand="prevalence"``: a label's prevalence ``p``. Classical: ``p(1-p)/n``. PPI++: the
    variance ``Var(Y - lam Yhat)/n + lam^2 Var(Yhat)/N`` at the best ``lam``
    (``Cov(Y, Yhat) / ((1 + n/N) Var(Yhat))``), given the surrogate's quality from a pilot, one of:
    ``accuracy`` (share of documents where the 0/1 surrogate equals the label, errors balanced so that
    the surrogate's prevalence is ``p`` too), ``correlation`` of ``Y`` and ``Yhat``, or
    ``residual_variance`` ``Var(Y - Yhat)``; ``surrogate_variance`` ``Var(Yhat)`` defaults to
    ``p(1-p)``; ``n_unlabelled`` ``N`` (the corpus) defaults to infinite. DSL is PPI with ``lam = 1``
    to first order. Returns ``n_classical``, ``n_ppi``, ``n_dsl``, ``lambda`` (at ``n_ppi``),
    ``var_y``, ``var_yhat``, ``cov``. An ``n`` larger than ``N`` means the target cannot be reached.

    Examples
    --------
    >>> plan_sample_size(0.05, prevalence=0.2)["n_classical"]
    246
    >>> plan_sample_size(0.1, estimand="kappa", kappa=0.7, n_categories=5)["n"]
    110
    """
    z = _z(level)
    if not half_width > 0:
        raise ValueError(f"half_width must be > 0, not {half_width}")
    if estimand == "kappa":
        if marginals is None:
            if n_categories is None or n_categories < 2:
                raise ValueError("give n_categories (>= 2) or marginals")
            marginals = [1 / n_categories] * n_categories
        m = np.asarray(marginals, dtype=float) / np.sum(marginals)
        pe = float(m @ m)
        if (agreement is None) == (kappa is None):
            raise ValueError("give one of agreement or kappa")
        po = float(agreement) if agreement is not None else float(kappa) * (1 - pe) + pe  # type: ignore[arg-type]
        if not pe < po <= 1:
            raise ValueError(f"agreement {po:.3f} must lie above chance ({pe:.3f}) and at most 1")
        var1 = kappa_variance(agreement_table(po, m))
        n = _n_for(var1, half_width, z)
        return {
            "n": n,
            "kappa": (po - pe) / (1 - pe),
            "agreement": po,
            "chance_agreement": pe,
            "se": math.sqrt(var1 / n),
            "half_width": half_width,
            "level": level,
        }
    if estimand != "prevalence":
        raise ValueError(f"estimand must be 'kappa' or 'prevalence', not {estimand!r}")
    if prevalence is None or not 0 < prevalence < 1:
        raise ValueError("give the expected prevalence, between 0 and 1")
    p = float(prevalence)
    vy = p * (1 - p)
    vf = float(surrogate_variance) if surrogate_variance is not None else vy
    given = [x is not None for x in (accuracy, correlation, residual_variance)]
    if sum(given) > 1:
        raise ValueError("give at most one of accuracy, correlation, residual_variance")
    if accuracy is not None:
        if not 0 <= accuracy <= 1 or (1 - accuracy) / 2 > min(p, 1 - p):
            raise ValueError(f"accuracy {accuracy} is not possible with prevalence {p} and balanced errors")
        cov = vy - (1 - accuracy) / 2  # Var(Y - Yhat) = P(Y != Yhat) = 1 - accuracy; Var(Y) = Var(Yhat)
        vf = vy
    elif correlation is not None:
        cov = float(correlation) * math.sqrt(vy * vf)
    elif residual_variance is not None:
        cov = (vy + vf - float(residual_variance)) / 2
    else:
        cov = 0.0
    N = n_unlabelled

    def var_ppi(n: int) -> float:
        lam = min(max(cov / (vf * (1 + (n / N if N else 0.0))), 0.0), 1.0) if vf > 0 else 0.0
        return (vy - 2 * lam * cov + lam**2 * vf) / n + (lam**2 * vf / N if N else 0.0)

    def var_dsl(n: int) -> float:
        return (vy - 2 * cov + vf) / n + (vf / N if N else 0.0)

    n_cl = _n_for(vy, half_width, z)
    n_ppi = _n_for(var_ppi, half_width, z, N)
    n_dsl = _n_for(var_dsl, half_width, z, N)
    lam = min(max(cov / (vf * (1 + (n_ppi / N if N else 0.0))), 0.0), 1.0) if vf > 0 else 0.0
    return {
        "n_classical": n_cl,
        "n_ppi": n_ppi,
        "n_dsl": n_dsl,
        "lambda": lam,
        "var_y": vy,
        "var_yhat": vf,
        "cov": cov,
        "half_width": half_width,
        "level": level,
    }


# --------------------------------------------------------------------------------------------------
# A regression coefficient, from a pilot
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VarianceCurve:
    """One method's variance of every coefficient as a function of the labelled-sample size ``n`` (corpus fixed).

    ``se_pilot`` are the estimator's own standard errors on the pilot; ``variance(n_pilot)`` equals
    ``se_pilot ** 2`` for PPI++ and DSL (tested), and for classical up to the pilot's covariate mix
    (:func:`coefficient_variance_curves`); ``lam(n)`` is PPI++'s power-tuning parameter at ``n``.
    """

    method: str
    se_pilot: np.ndarray
    variance: Callable[[float], np.ndarray]
    lam: Callable[[float], float] | None = None


def _diag_sandwich(inv_hessian: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """``diag(H^-1 M H^-1)``: the variance of each coefficient from a bread and a meat."""
    return np.einsum("ij,jk,ik->i", inv_hessian, meat, inv_hessian)


def _labelled_part(
    X: np.ndarray, idx: np.ndarray, resid: np.ndarray, pi: np.ndarray, est: np.ndarray, model: str
) -> np.ndarray:
    """``diag(A^-1 sum_labelled x x' (resid / pi)^2 A^-1)``, ``A = sum_corpus h x x'`` (``h`` = 1 or ``mu (1 - mu)``
    at ``est``): the estimators' HC0 sandwich (:func:`llmcoder.inference._sandwich`) with the corpus' bread."""
    eta = X @ est
    h = np.ones(len(X)) if model == "linear" else _expit(eta) * (1 - _expit(eta))
    r = np.zeros(len(X))
    r[idx] = resid / pi
    return np.diag(_sandwich(X, r, h))


def _ppi_curve(
    X: np.ndarray,
    y: np.ndarray,
    f: np.ndarray,
    idx: np.ndarray,
    pi: np.ndarray,
    est: np.ndarray,
    lam0: float,
    model: str,
) -> tuple[Callable[[float], np.ndarray], Callable[[float], float]]:
    """PPI++'s variance at ``n`` split into ppi_py's labelled and unlabelled parts, lambda re-tuned for each ``n``.

    ppi_py's interval uses ``Sigma = H^-1 (Var(g - lam g_hat) + (n/N) Var(lam g_hat_unl)) H^-1 / n`` with the
    per-document gradients ``g`` (label), ``g_hat`` (surrogate) and ``g_hat_unl`` (surrogate, whole corpus)
    that its own ``_ols_get_stats`` / ``_logistic_get_stats`` return at the pilot's estimate; its
    ``_calc_lam_glm`` tunes ``lam`` with a denominator proportional to ``1 + n/N``, so
    ``lam(n) = clip(lam_raw (1 + n0/N) / (1 + n/N), 0, 1)``.
    """
    ppi = _ppi_py()
    n0, N, p = len(y), len(f), X.shape[1]
    w = _weights(pi)
    wn = np.ones(n0) if w is None else w / w.sum() * n0  # as _ppi_regression and ppi_py normalise them
    wu = np.ones(N)
    point, get_stats = (
        (ppi.ppi_ols_pointestimate, ppi.ppi._ols_get_stats)
        if model == "linear"
        else (ppi.ppi_logistic_pointestimate, ppi.ppi._logistic_get_stats)
    )
    X_l, f_l = X[idx], f[idx]
    with warnings.catch_warnings():
        # ppi_py 0.2.3's LogisticRegression(penalty=None), deprecated in scikit-learn 1.8 (as in _ppi_regression)
        warnings.filterwarnings("ignore", message=".*'penalty' was deprecated", category=FutureWarning)
        g, gh, gu, inv_h = get_stats(est, X_l, y, f_l, X, f, wn, wu, lam0 != 0)
        raw = 0.0
        if lam0 > 0:  # lambda as _ppi_regression tunes it (at the lam=None point estimate), before clipping
            theta = point(X_l, y, f_l, X, f, w=wn)
            raw = float(ppi.ppi._calc_lam_glm(*get_stats(theta, X_l, y, f_l, X, f, wn, wu, True), coord=None))
    c = np.cov(np.hstack([g, gh]).T).reshape(2 * p, 2 * p)  # ddof 1, as ppi_py
    v_gg = _diag_sandwich(inv_h, c[:p, :p])
    v_gh = _diag_sandwich(inv_h, c[:p, p:] + c[p:, :p])
    v_hh = _diag_sandwich(inv_h, c[p:, p:])
    v_u = _diag_sandwich(inv_h, np.cov(gu.T).reshape(p, p))

    def lam(n: float) -> float:
        return float(np.clip(raw * (1 + n0 / N) / (1 + n / N), 0.0, 1.0))

    def variance(n: float) -> np.ndarray:
        lm = lam(n)
        return (v_gg - lm * v_gh + lm**2 * v_hh) / n + lm**2 * v_u / N

    return variance, lam


def coefficient_variance_curves(
    y: Sequence[float] | np.ndarray,
    yhat: Sequence[float] | np.ndarray,
    X: np.ndarray,
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    model: Model = "linear",
    methods: Sequence[str] = PLAN_METHODS,
) -> dict[str, VarianceCurve]:
    """Each method's coefficient variances as functions of ``n``, from a pilot, split into labelled and corpus parts.

    The pilot (``y`` and ``pi`` of its ``n0`` labelled documents at rows ``sample_idx``, the surrogate
    ``yhat`` and design matrix ``X`` of all ``N`` corpus documents) is run through
    :func:`llmcoder.inference.regression_estimates` (coefficients, SEs, lambda); the planned sample is
    drawn like the pilot, its ``pi`` scaled by ``n / n0``. The variances are the estimators' own
    influence-function (sandwich) variances, with no finite-population correction, as in the intervals
    ``llmcoder infer`` prints:

    - classical: ``V_c / n``, ``V_c / n0 = A^-1 sum_labelled x x' (e / pi)^2 A^-1`` its HC0 sandwich
      (``e`` its residuals) with the bread ``A`` of the corpus (``X'X``; ``sum h x x'`` for a logistic
      model), which every sample estimates: the pilot's own bread would carry the pilot's covariate
      mix into the plan (at ``n0`` it gives the estimator's SE up to that mix).
    - DSL: its HC0 sandwich over the corpus, ``A^-1 sum_i x_i x_i' (u_i + R_i d_i / pi_i)^2 A^-1``
      (``u = Yhat - fit``, ``d = Y - Yhat``), has a part that does not depend on ``n`` and a labelled
      part ``L = A^-1 sum_labelled x x' (d / pi)^2 A^-1`` that scales as ``n0 / n``:
      ``se0^2 - L + L n0 / n``, ``se0`` the SE DSL reports on the pilot (exact at ``n0``).
    - PPI++: ``V_l(lam) / n + V_u(lam) / N`` from ppi_py's own gradient statistics, ``lam`` re-tuned at
      each ``n`` (:func:`_ppi_curve`; exact at ``n0``).

    Raises ValueError when a method's fit fails on the pilot.
    """
    from llmcoder.inference import _check_arrays

    yv, f, idx, pv, Xv = _check_arrays(y, yhat, sample_idx, pi, X)
    assert Xv is not None
    bad = [m for m in methods if m not in PLAN_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be among {', '.join(PLAN_METHODS)} (got {', '.join(bad) or 'none'})")
    n0, p = len(yv), Xv.shape[1]
    if n0 <= p + 1:
        raise ValueError(f"a pilot of {n0} labelled documents is too small for {p} coefficients")
    rows = regression_estimates(yv, f, Xv, idx, pv, model=model, methods=methods)
    curves: dict[str, VarianceCurve] = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        est = np.array([r["estimate"] for r in mine])
        se = np.array([r["se"] for r in mine])
        if not (np.all(np.isfinite(est)) and np.all(np.isfinite(se))):
            raise ValueError(f"the {m} regression failed on the pilot (see the warning)")
        if m == "classical":
            eta = Xv[idx] @ est
            e = yv - (eta if model == "linear" else _expit(eta))
            v_c = _labelled_part(Xv, idx, e, pv, est, model) * n0
            curves[m] = VarianceCurve(m, se, lambda n, v_c=v_c: v_c / n)
        elif m == "dsl":
            lab = _labelled_part(Xv, idx, yv - f[idx], pv, est, model)
            rest = se**2 - lab  # may be negative (a surrogate whose errors offset its spread): the sum is not
            curves[m] = VarianceCurve(m, se, lambda n, rest=rest, lab=lab: np.maximum(rest + lab * n0 / n, 0.0))
        else:
            lam0 = float(mine[0]["lambda"])
            variance, lam = _ppi_curve(Xv, yv, f, idx, pv, est, lam0, model)
            curves[m] = VarianceCurve(m, se, variance, lam)
    return curves


def plan_coefficient(
    y: Sequence[float] | np.ndarray,
    yhat: Sequence[float] | np.ndarray,
    X: np.ndarray,
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    half_width: float,
    terms: Sequence[str] | None = None,
    model: Model = "linear",
    methods: Sequence[str] = PLAN_METHODS,
    level: float = 0.95,
) -> pl.DataFrame:
    """How many documents to label for a ``level`` interval of ``+/- half_width`` on each coefficient, by method.

    Arguments as :func:`coefficient_variance_curves` (the pilot). For each term and method, ``n`` is the
    smallest sample size (at least ``p + 1``, at most the corpus' ``N``) with ``z * sqrt(var(n)) <=
    half_width``; when even ``n = N`` does not reach it, ``n`` is null, ``reachable`` false and ``se`` /
    ``ci_half_width`` are those at ``N``. Columns: ``term, method, n, reachable, se, ci_half_width,
    lambda`` (PPI++'s at ``n``), ``se_pilot, n_pilot, n_corpus``. A planned ``n`` far below the pilot's
    ``n0`` means the pilot already suffices (the large-sample formulas are not meant for tiny ``n``).
    """
    if not half_width > 0:
        raise ValueError(f"half_width must be > 0, not {half_width}")
    z = _z(level)
    curves = coefficient_variance_curves(y, yhat, X, sample_idx, pi, model=model, methods=methods)
    N, p = np.asarray(X).shape
    n0 = len(np.asarray(sample_idx).reshape(-1))
    names = [f"x{j}" for j in range(p)] if terms is None else list(terms)
    if len(names) != p:
        raise ValueError(f"{len(names)} term names for {p} columns of X")
    rows: list[dict[str, Any]] = []
    for j, term in enumerate(names):
        for m, c in curves.items():

            def var_j(n: float, c: VarianceCurve = c, j: int = j) -> float:
                return float(c.variance(n)[j])

            n = _n_for(var_j, half_width, z, N)
            ok = n <= N
            n = max(n, p + 1) if ok else N
            se = math.sqrt(var_j(n))
            rows.append(
                {
                    "term": term,
                    "method": m,
                    "n": n if ok else None,
                    "reachable": ok,
                    "se": se,
                    "ci_half_width": z * se,
                    "lambda": c.lam(n) if c.lam is not None else None,
                    "se_pilot": float(c.se_pilot[j]),
                    "n_pilot": n0,
                    "n_corpus": N,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "term": pl.Utf8,
            "method": pl.Utf8,
            "n": pl.Int64,
            "reachable": pl.Boolean,
            "se": pl.Float64,
            "ci_half_width": pl.Float64,
            "lambda": pl.Float64,
            "se_pilot": pl.Float64,
            "n_pilot": pl.Int64,
            "n_corpus": pl.Int64,
        },
    )


def plan_coefficient_files(
    predictions: str | Path,
    sample: str | Path,
    corpus: str | Path,
    formula: str,
    half_width: float,
    *,
    terms: Sequence[str] | None = None,
    model: Model = "linear",
    methods: Sequence[str] = PLAN_METHODS,
    surrogate: Literal["auto", "prob", "hard"] = "auto",
    level: float = 0.95,
) -> tuple[pl.DataFrame, list[str]]:
    """:func:`plan_coefficient` from the files ``llmcoder infer`` reads: predictions, a labelled pilot, the corpus.

    The files are checked by :func:`llmcoder.inference.infer_files` itself (the same messages as
    ``infer``), then read into arrays the same way. ``terms`` picks coefficients (default: all but the
    intercept). Returns the plan and the notes for the person; bad input raises :class:`InputError`.
    """
    if not half_width > 0:
        raise InputError(
            "--half-width", f"{half_width:g} is not a half-width", fix="give a positive number, e.g. --half-width 0.05"
        )
    if model not in MODELS:
        raise InputError("--model", f"'{model}' is not a regression model", fix="give --model linear or logistic")
    bad = [m for m in methods if m not in PLAN_METHODS]
    if bad or not methods:
        raise InputError(
            "--method", f"unknown method(s) {', '.join(bad) or '(none)'}", fix=f"give {', '.join(PLAN_METHODS)}"
        )
    # every check infer makes: files, columns, labels, the formula against the corpus (naive: no labelled fits)
    _, checked = infer_files(
        predictions, sample, corpus=corpus, formulas=[formula], model=model, methods=["naive"], surrogate=surrogate
    )
    notes = [x for x in checked if not x.startswith("warning:")]
    label, _ = parse_formula(formula)
    pred, samp = read_predictions(predictions), read_sample(sample)
    corp = _read(corpus).with_columns(pl.col("doc_id").cast(pl.Utf8).str.strip_chars())
    doc_ids = corp["doc_id"].to_list()
    pos = {d: i for i, d in enumerate(doc_ids)}
    docs = samp.group_by("doc_id", maintain_order=True).agg(pl.col("pi").first(), pl.col("label"))
    idx = np.array([pos[d] for d in docs["doc_id"]], dtype=np.int64)
    n0, N = len(idx), len(doc_ids)
    pi = np.full(n0, n0 / N) if docs["pi"].null_count() else docs["pi"].to_numpy().astype(float)
    y = np.array([label in set(ls) for ls in docs["label"].to_list()], dtype=float)
    yhat, _ = surrogate_arrays(pred, doc_ids, [label], surrogate=surrogate, src=str(predictions))
    _, X, names = design_matrix(corp, formula)
    if terms:
        unknown = [t for t in terms if t not in names]
        if unknown:
            raise InputError(
                "--term",
                f"no term {', '.join(repr(t) for t in unknown)} in '{formula}'",
                fix=f"give --term among {', '.join(names)}",
            )
        chosen = list(dict.fromkeys(terms))
    else:
        chosen = [t for t in names if t != "Intercept"] or names
    if np.ptp(pi) > 0:
        notes.append(
            f"the pilot's inclusion probabilities differ: the plan is for a sample drawn the same way, each pi "
            f"scaled by n/{n0}"
        )
    try:
        plan = plan_coefficient(
            y, yhat[label], X, idx, pi, half_width=half_width, terms=names, model=model, methods=methods, level=level
        )
    except ValueError as err:
        raise InputError(
            str(sample),
            f"the pilot cannot be used for '{formula}': {err}",
            fix="label more pilot documents, or drop covariates from the formula",
        ) from err
    return plan.filter(pl.col("term").is_in(chosen)), notes
