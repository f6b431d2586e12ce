"""Valid downstream inference from imperfect surrogate labels: naive, classical, PPI++ and DSL estimates.

A researcher publishes quantities (the share of bills about health, a regression of topic on
chamber), not labels. Surrogate labels from an LLM coder or a fine-tuned model are imperfect, and
estimates that treat them as true are biased with intervals that are too narrow. This module turns
the surrogate for every corpus document plus human labels on a sample drawn with *known inclusion
probabilities* into estimates with valid 95% confidence intervals.

The sample design (:func:`inclusion_probabilities`, :func:`draw_sample`)
    ``uniform``: a simple random sample of ``n`` of the ``N`` documents, without replacement,
    ``pi = n / N``. ``stratified``: a simple random sample within each stratum (proportional or
    equal allocation), ``pi = n_h / N_h``. ``uncertainty``: Poisson sampling (each document drawn
    independently) with ``pi_i = n * (floor / N + (1 - floor) * u_i / sum(u))``, ``u_i`` an
    uncertainty score such as ``1 - max probability``, capped at 1 with the excess spread over the
    others: the expected size is ``n`` and every ``pi_i >= n * floor / N`` (active sampling).

The estimators and the probability each one uses (``pi`` is always the document's probability of
being in the labelled sample under the design actually used, never a share computed afterwards)
    ``naive``: the surrogate over the whole corpus as if it were true (mean with its binomial SE;
    statsmodels ``OLS`` / ``Logit`` with HC0 SE). Uses no human label and no ``pi``.
    ``classical``: the labelled documents only, each weighted by ``1 / pi`` (Hajek mean
    ``sum(Y / pi) / sum(1 / pi)``; statsmodels ``WLS`` / ``GLM(Binomial, var_weights=1/pi)``); HC0
    sandwich SE. Under a uniform design the weights are constant and these are the plain estimators.
    ``ppi``: PPI++ (Angelopoulos, Duchi & Zrnic 2024) with the power-tuning parameter ``lambda``
    estimated, computed by ``ppi_py`` (``ppi_mean_ci``, ``ppi_ols_ci``, ``ppi_logistic_ci``). The
    labelled documents get ``ppi_py``'s weights ``w = 1 / pi`` (ppi_py rescales them to mean 1, so
    each labelled moment is a Hajek estimate of its corpus mean); the "unlabelled" set is the whole
    corpus (all ``N`` documents, labelled ones included, weight 1), which *is* the population, so
    it needs no weights. Under a uniform design ``w`` is left out (all equal).
    ``dsl``: design-based supervised learning (Egami, Hinck, Stewart & Wei 2023): the pseudo-outcome
    ``Ytilde_i = Yhat_i + (R_i / pi_i) (Y_i - Yhat_i)`` for every corpus document (``R_i`` = 1 if
    labelled), then the mean / OLS / logistic moment equations solved on ``Ytilde`` with the
    sandwich (M-estimation) SE. ``1 / pi`` enters unnormalised (Horvitz-Thompson form).

What the intervals cover. The estimand is the corpus' own value (the share of its documents with
the label, the least-squares coefficient over its documents), as in the coverage benchmark. Standard
errors treat the labelled documents as independent draws (the with-replacement / Poisson
approximation, no finite-population correction), so for the corpus' value they err on the wide side
by about ``n / N``. DSL's sandwich and, under a uniform design, PPI's and the classical SE also
cover the mean of the process that produced the corpus (a superpopulation); with unequal ``pi``,
ppi_py's weighted SE and the classical Hajek SE do not include that process' variance ``Var(Y)/N``
and undercover it (measured: 0.86 instead of 0.95 for weighted PPI in a simulation where the
rectifier ``Y - Yhat`` has a mean far from 0), while they cover the corpus' value. Use DSL when the
target is the process rather than the corpus and the design is not uniform.

Assumptions. PPI and DSL are valid whatever the surrogate's errors, provided the surrogate was not
fitted on the labelled documents (train it on other documents, or cross-fit) and ``pi`` is known;
PPI in addition assumes that the labelled documents represent the corpus, which the ``1 / pi``
weights restore under an unequal-probability design. Intervals are normal (Wald) intervals and are
not clipped to [0, 1].

DSL and the ``dsl`` R package: the package's moment equations are those used here (its
``helper_moment.R``), but by default it replaces the surrogate by a random forest of ``Y`` on the
surrogate and the covariates, cross-fitted on the labelled documents and repeated over sample
splits. Here the surrogate itself is the prediction (``g = Yhat``), which keeps DSL's validity and
needs no second model. Its worked example (Pan & Chen 2018 in the vignette) publishes estimates,
but its data (``PanChen.rdata``) are binary and were not reachable, and the forest makes them
random, so DSL is checked instead against the closed form of the mean, statsmodels on ``Ytilde``
and a coverage simulation with known truth (``tests/test_inference.py``).

The results contract (``inference/estimates.csv``): :data:`COLUMNS`, one row per estimate.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from llmcoder.errors import InputError, Problem

Design = Literal["uniform", "stratified", "uncertainty"]
Method = Literal["naive", "classical", "ppi", "dsl"]
Model = Literal["linear", "logistic"]

DESIGNS: tuple[str, ...] = ("uniform", "stratified", "uncertainty")
METHODS: tuple[str, ...] = ("naive", "classical", "ppi", "dsl")
MODELS: tuple[str, ...] = ("linear", "logistic")

#: The columns of ``inference/estimates.csv``, in order (the R side reads them by name).
COLUMNS: tuple[str, ...] = (
    "estimand",
    "label",
    "stratum",
    "term",
    "method",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n_labelled",
    "n_unlabelled",
    "design",
    "lambda",
)
SCHEMA: dict[str, Any] = {
    "estimand": pl.Utf8,
    "label": pl.Utf8,
    "stratum": pl.Utf8,
    "term": pl.Utf8,
    "method": pl.Utf8,
    "estimate": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_labelled": pl.Int64,
    "n_unlabelled": pl.Int64,
    "design": pl.Utf8,
    "lambda": pl.Float64,
}


# --------------------------------------------------------------------------------------------------
# The sample design
# --------------------------------------------------------------------------------------------------


def _allocate(sizes: np.ndarray, shares: np.ndarray, n: int) -> np.ndarray:
    """Whole numbers n_h, 1 <= n_h <= N_h, summing to n, as close to n * shares as the caps allow."""
    cap = sizes.astype(float)
    want = np.zeros(len(sizes))
    free = np.ones(len(sizes), dtype=bool)
    left = float(n)
    while free.any():  # water-filling: strata that cannot take their share are filled, the rest share the remainder
        w = shares * free
        w = w / w.sum() if w.sum() > 0 else free / free.sum()
        trial = left * w
        over = free & (trial >= cap)
        if not over.any():
            want[free] = trial[free]
            break
        want[over] = cap[over]
        left -= cap[over].sum()
        free &= ~over
    alloc = np.minimum(np.floor(want + 1e-9), sizes).astype(int)
    alloc = np.maximum(alloc, 1)
    while alloc.sum() > n:  # the minimum of one per stratum may overshoot: take from the largest
        alloc[np.argmax(np.where(alloc > 1, alloc - want, -np.inf))] -= 1
    rest = want - alloc
    while alloc.sum() < n:
        room = alloc < sizes
        alloc[np.argmax(np.where(room, rest, -np.inf))] += 1
        rest = want - alloc
    return alloc


def _cap_at_one(raw: np.ndarray, n: float) -> np.ndarray:
    """``n * raw / sum(raw)`` with every value capped at 1 and the excess spread over the others (sum n)."""
    pi = np.zeros(len(raw))
    free = np.ones(len(raw), dtype=bool)
    left = float(n)
    while True:
        share = raw * free
        trial = left * share / share.sum()
        over = free & (trial >= 1.0)
        if not over.any():
            pi[free] = trial[free]
            return pi
        pi[over] = 1.0
        left -= over.sum()
        free &= ~over
        if not free.any() or left <= 0:
            return pi


def inclusion_probabilities(
    n_docs: int,
    n: int,
    design: Design = "uniform",
    *,
    strata: Sequence[Any] | np.ndarray | None = None,
    uncertainty: Sequence[float] | np.ndarray | None = None,
    allocation: Literal["proportional", "equal"] = "proportional",
    floor: float = 0.5,
) -> np.ndarray:
    """Each document's known probability of entering the labelled sample under ``design`` (they sum to ``n``).

    Parameters
    ----------
    n_docs : int
        ``N``, the documents of the corpus.
    n : int
        The sample size (the expected size for ``uncertainty``).
    design : {"uniform", "stratified", "uncertainty"}
        ``uniform``: ``n / N``; ``stratified``: ``n_h / N_h`` with ``n_h`` from ``allocation``
        (at least one per stratum); ``uncertainty``: ``n * (floor / N + (1 - floor) * u / sum(u))``,
        capped at 1 (the excess goes to the others, so the sum stays ``n``).
    strata : array of length N, for ``stratified``
    uncertainty : array of non-negative scores of length N, for ``uncertainty`` (e.g. 1 - max probability)
    allocation : {"proportional", "equal"}
        Stratum sizes ``n_h`` proportional to ``N_h`` or equal, whole numbers summing to ``n``.
    floor : float in (0, 1]
        Share of the uniform design mixed in: every ``pi >= n * floor / N`` (1 is uniform).

    Examples
    --------
    >>> inclusion_probabilities(4, 2).tolist()
    [0.5, 0.5, 0.5, 0.5]
    >>> inclusion_probabilities(4, 2, "stratified", strata=["a", "a", "a", "b"], allocation="equal").tolist()
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 1.0]
    """
    if not isinstance(n_docs, (int, np.integer)) or n_docs < 1:
        raise ValueError(f"n_docs must be a positive whole number, not {n_docs!r}")
    if not isinstance(n, (int, np.integer)) or not 1 <= n <= n_docs:
        raise ValueError(f"n must be a whole number between 1 and the {n_docs} documents, not {n!r}")
    if design == "uniform":
        return np.full(n_docs, n / n_docs)
    if design == "stratified":
        if strata is None or len(strata) != n_docs:
            raise ValueError("the stratified design needs strata: one value per document")
        values, codes = np.unique(np.asarray(strata, dtype=object).astype(str), return_inverse=True)
        sizes = np.bincount(codes, minlength=len(values))
        if n < len(values):
            raise ValueError(f"n = {n} is smaller than the {len(values)} strata (one document each at least)")
        if allocation == "proportional":
            shares = sizes / sizes.sum()
        elif allocation == "equal":
            shares = np.full(len(values), 1 / len(values))
        else:
            raise ValueError(f"allocation must be 'proportional' or 'equal', not {allocation!r}")
        n_h = _allocate(sizes, shares, n)
        return (n_h / sizes)[codes]
    if design == "uncertainty":
        if uncertainty is None or len(uncertainty) != n_docs:
            raise ValueError("the uncertainty design needs an uncertainty score per document")
        u = np.asarray(uncertainty, dtype=float)
        if not np.all(np.isfinite(u)) or np.any(u < 0):
            raise ValueError("uncertainty scores must be finite and >= 0")
        if not 0 < floor <= 1:
            raise ValueError(f"floor must be in (0, 1], not {floor}")
        raw = floor / n_docs + ((1 - floor) * u / u.sum() if u.sum() > 0 else (1 - floor) / n_docs)
        return _cap_at_one(raw, n)
    raise ValueError(f"design must be one of {', '.join(DESIGNS)}, not {design!r}")


def draw_sample(
    doc_ids: Sequence[str],
    n: int,
    design: Design = "uniform",
    seed: int = 0,
    strata: Sequence[Any] | np.ndarray | None = None,
    uncertainty: Sequence[float] | np.ndarray | None = None,
    *,
    allocation: Literal["proportional", "equal"] = "proportional",
    floor: float = 0.5,
) -> pl.DataFrame:
    """Draw the labelled sample: ``doc_id, pi, labelled`` for every document, ``pi`` its known inclusion probability.

    ``uniform`` and ``stratified`` draw exactly ``n`` (``n_h`` per stratum) without replacement;
    ``uncertainty`` draws each document independently with probability ``pi`` (Poisson sampling, size
    ``n`` on average). See :func:`inclusion_probabilities` for ``pi``. The documents drawn are the ones
    people label; they must not be in the surrogate model's training set (or get cross-fitted
    predictions), so that the surrogate's errors on them are those it makes on the rest.

    Examples
    --------
    >>> s = draw_sample([f"d{i}" for i in range(10)], 3, seed=1)
    >>> int(s["labelled"].sum()), s["pi"].unique().to_list()
    (3, [0.3])
    """
    ids = [str(d) for d in doc_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("doc_ids must be unique")
    pi = inclusion_probabilities(
        len(ids), n, design, strata=strata, uncertainty=uncertainty, allocation=allocation, floor=floor
    )
    rng = np.random.default_rng(seed)
    labelled = np.zeros(len(ids), dtype=bool)
    if design == "uniform":
        labelled[rng.choice(len(ids), size=n, replace=False)] = True
    elif design == "stratified":
        codes = np.unique(np.asarray(strata, dtype=object).astype(str), return_inverse=True)[1]
        for h in range(codes.max() + 1):
            members = np.flatnonzero(codes == h)
            n_h = int(round(pi[members[0]] * len(members)))
            labelled[rng.choice(members, size=n_h, replace=False)] = True
    else:
        labelled = rng.random(len(ids)) < pi
    return pl.DataFrame({"doc_id": ids, "pi": pi, "labelled": labelled})


# --------------------------------------------------------------------------------------------------
# Estimators on arrays
# --------------------------------------------------------------------------------------------------


def _z(level: float) -> float:
    from scipy.stats import norm

    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level}")
    return float(norm.ppf(0.5 + level / 2))


def _check_arrays(
    y: Any, yhat: Any, sample_idx: Any, pi: Any, X: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    yv = np.asarray(y, dtype=float).reshape(-1)
    fv = np.asarray(yhat, dtype=float).reshape(-1)
    idx = np.asarray(sample_idx).reshape(-1)
    pv = np.asarray(pi, dtype=float).reshape(-1)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("sample_idx must hold whole numbers: the corpus rows of the labelled documents")
    if len(yv) != len(idx) or len(pv) != len(idx):
        raise ValueError(
            f"y ({len(yv)}), sample_idx ({len(idx)}) and pi ({len(pv)}) must have one value per labelled document"
        )
    if len(idx) and (idx.min() < 0 or idx.max() >= len(fv)):
        raise ValueError("sample_idx points outside the corpus (yhat has one value per corpus document)")
    if len(np.unique(idx)) != len(idx):
        raise ValueError("sample_idx lists a document twice")
    if not (np.all(np.isfinite(yv)) and np.all(np.isfinite(fv))):
        raise ValueError("y and yhat must be finite numbers")
    if np.any(~(pv > 0) | (pv > 1)):
        raise ValueError("every pi must be in (0, 1]")
    Xv = None
    if X is not None:
        Xv = np.asarray(X, dtype=float)
        if Xv.ndim != 2 or Xv.shape[0] != len(fv):
            raise ValueError("X must be a matrix with one row per corpus document")
        if not np.all(np.isfinite(Xv)):
            raise ValueError("X must be finite")
    return yv, fv, idx.astype(np.int64), pv, Xv


def _row(method: str, estimate: float, se: float, z: float, lam: float | None = None, term: str = "") -> dict[str, Any]:
    est, s = float(estimate), float(se)
    return {
        "term": term,
        "method": method,
        "estimate": est,
        "se": s,
        "ci_low": est - z * s,
        "ci_high": est + z * s,
        "lambda": None if lam is None else float(lam),
    }


def _nan_rows(method: str, terms: Sequence[str]) -> list[dict[str, Any]]:
    return [_row(method, math.nan, math.nan, 0.0, None, t) for t in terms]


def _ppi_py() -> Any:
    """ppi_py, imported without its import-time ``warnings.simplefilter("ignore")`` leaking into the process."""
    with warnings.catch_warnings():
        import ppi_py
        import ppi_py.ppi  # noqa: F401  (the private helpers that report lambda)
    return ppi_py


def _weights(pi: np.ndarray) -> np.ndarray | None:
    """ppi_py's labelled-sample weights ``1 / pi``, or None when every ``pi`` is equal (the uniform design)."""
    return None if np.ptp(pi) == 0 else 1.0 / pi


def _ppi_mean(
    y: np.ndarray, yhat_l: np.ndarray, yhat_all: np.ndarray, w: np.ndarray | None, level: float
) -> tuple[float, float, float]:
    """PPI++ mean through ppi_py: (estimate, se, lambda); lambda as ``ppi_mean_ci`` picks it with ``lam=None``."""
    ppi = _ppi_py()
    n = len(y)
    wn = np.ones(n) if w is None else w / w.sum() * n  # ppi_py's normalisation (construct_weight_vector)
    theta1 = yhat_all.mean() + (wn * (y - yhat_l)).mean()  # ppi_py's lam = 1 estimate, its starting point
    pooled = np.concatenate([wn * (yhat_l - theta1), yhat_all - theta1])
    if np.ptp(pooled) == 0:  # a constant surrogate carries no information: lambda = 0 is the classical estimate
        lam = 0.0
    else:
        lam = float(
            ppi.ppi._calc_lam_glm(
                wn * (y - theta1),
                wn * (yhat_l - theta1),
                yhat_all - theta1,
                np.eye(1),
                coord=None,
                clip=True,
                optim_mode="overall",
            )
        )
    lo, hi = ppi.ppi_mean_ci(y, yhat_l, yhat_all, alpha=1 - level, lam=lam, w=w)
    lo, hi = float(np.ravel(lo)[0]), float(np.ravel(hi)[0])
    return (lo + hi) / 2, (hi - lo) / (2 * _z(level)), lam


def mean_estimates(
    y: Sequence[float] | np.ndarray,
    yhat: Sequence[float] | np.ndarray,
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    methods: Sequence[str] = METHODS,
    level: float = 0.95,
    folds: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The mean of ``Y`` over the corpus (a label's prevalence when ``Y`` is 0/1) by each method.

    Parameters
    ----------
    y : array of length n
        Human labels of the labelled documents (0/1 per label, or any outcome).
    yhat : array of length N
        The surrogate for every corpus document (a hard 0/1 label or a probability).
    sample_idx : array of n whole numbers
        The corpus row (position in ``yhat``) of each labelled document.
    pi : array of length n
        Each labelled document's known inclusion probability.
    methods : subset of ("naive", "classical", "ppi", "dsl")
    level : float
        Confidence level of the intervals.
    folds : array N x K, optional
        Cross-fitting (:mod:`llmcoder.crossfit`): each of K models' prediction for every document, the
        models trained on the labelled documents of the other folds. ``yhat`` then holds each labelled
        document's out-of-fold prediction and the K models' mean for the rest; PPI is the
        cross-prediction estimator (``ppi_py.crossppi_*``, lambda 1) and the sample must be uniform.

    Returns
    -------
    list of dict
        One per method: ``term`` (""), ``method``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``lambda`` (PPI++'s power-tuning parameter; None for the other methods).
    """
    y, f, idx, pi, _ = _check_arrays(y, yhat, sample_idx, pi)
    _check_methods(methods)
    F = _check_folds(folds, len(f), pi)
    z = _z(level)
    N, n = len(f), len(y)
    rows = []
    for m in methods:
        if m == "naive":
            rows.append(_row(m, f.mean(), f.std() / math.sqrt(N), z))
        elif n < 2:
            rows.extend(_nan_rows(m, [""]))
        elif m == "classical":
            w = 1.0 / pi
            est = (w * y).sum() / w.sum()
            rows.append(_row(m, est, math.sqrt((w**2 * (y - est) ** 2).sum()) / w.sum(), z))
        elif m == "ppi" and F is not None:
            ppi = _ppi_py()
            F_u = np.delete(F, idx, axis=0)
            est = float(np.ravel(ppi.crossppi_mean_pointestimate(y, f[idx], F_u))[0])
            lo, hi = ppi.crossppi_mean_ci(y, f[idx], F_u, alpha=1 - level)
            rows.append(_row(m, est, (float(np.ravel(hi)[0]) - float(np.ravel(lo)[0])) / (2 * z), z, 1.0))
        elif m == "ppi":
            est, se, lam = _ppi_mean(y, f[idx], f, _weights(pi), level)
            rows.append(_row(m, est, se, z, lam))
        elif m == "dsl":
            yt = dsl_pseudo_outcome(y, f, idx, pi)
            rows.append(_row(m, yt.mean(), yt.std() / math.sqrt(N), z))
    return rows


def _check_folds(folds: Any, N: int, pi: np.ndarray) -> np.ndarray | None:
    """The cross-fitted models' predictions as an N x K matrix (None without cross-fitting)."""
    if folds is None:
        return None
    F = np.asarray(folds, dtype=float)
    if F.ndim != 2 or F.shape[0] != N or F.shape[1] < 2:
        raise ValueError("folds must be a matrix with one row per corpus document and one column per model (K >= 2)")
    if not np.all(np.isfinite(F)):
        raise ValueError("folds must be finite numbers")
    if np.ptp(pi) > 0:
        raise ValueError("cross-fitted estimates need a uniform labelled sample (every pi equal)")
    return F


def dsl_pseudo_outcome(y: Any, yhat: Any, sample_idx: Any, pi: Any) -> np.ndarray:
    """DSL's pseudo-outcome ``Yhat + (R / pi) (Y - Yhat)`` for every corpus document (unbiased for ``Y``)."""
    y, f, idx, pi, _ = _check_arrays(y, yhat, sample_idx, pi)
    yt = f.copy()
    yt[idx] += (y - f[idx]) / pi
    return yt


def _sandwich(X: np.ndarray, resid: np.ndarray, hess_w: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """HC0 sandwich ``A^-1 B A^-1`` of an M-estimator with scores ``w x resid`` and Hessian ``sum w hess_w x x'``."""
    w = np.ones(len(resid)) if w is None else w
    A = (X * (w * hess_w)[:, None]).T @ X
    S = X * (w * resid)[:, None]
    Ainv = np.linalg.inv(A)
    return Ainv @ (S.T @ S) @ Ainv


def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def logistic_moments(X: np.ndarray, yt: np.ndarray, *, tol: float = 1e-12, max_iter: int = 100) -> np.ndarray:
    """Solve ``sum_i x_i (yt_i - expit(x_i b)) = 0`` by Newton with step halving (``yt`` may leave [0, 1])."""
    from scipy.special import log_expit

    def nll(b: np.ndarray) -> float:  # the logistic loss with yt in place of y; convex whatever yt is
        eta = X @ b
        return float(-(yt * eta).sum() - log_expit(-eta).sum())  # log(1 + e^eta) = -log_expit(-eta)

    b = np.zeros(X.shape[1])
    for _ in range(max_iter):
        mu = _expit(X @ b)
        grad = X.T @ (yt - mu)
        H = (X * (mu * (1 - mu))[:, None]).T @ X
        step = np.linalg.solve(H, grad)
        t, f0 = 1.0, nll(b)
        while nll(b + t * step) > f0 + 1e-12 * abs(f0) and t > 1e-10:
            t /= 2
        b = b + t * step
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(b))):
            break
    else:
        raise np.linalg.LinAlgError("the logistic moment equations did not converge (separation?)")
    return b


def _no_separation(fit: Any) -> Any:
    """Run a statsmodels fit; perfect separation (coefficients running off to infinity) raises ValueError."""
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit()
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            raise ValueError("perfect separation: a covariate value where every document has the same outcome")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return res


def _fit_classical(y: np.ndarray, X: np.ndarray, w: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels WLS / binomial GLM with ``var_weights = 1 / pi`` and the HC0 sandwich."""
    import statsmodels.api as sm

    if model == "linear":
        res = sm.WLS(y, X, weights=w).fit(cov_type="HC0")
    else:
        res = _no_separation(lambda: sm.GLM(y, X, family=sm.families.Binomial(), var_weights=w).fit(cov_type="HC0"))
    return np.asarray(res.params), np.asarray(res.bse)


def _fit_naive(f: np.ndarray, X: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels OLS / Logit of the surrogate on the whole corpus, HC0 sandwich."""
    import statsmodels.api as sm

    if model == "linear":
        res = sm.OLS(f, X).fit(cov_type="HC0")
    else:
        res = _no_separation(lambda: sm.Logit(f, X).fit(disp=0, cov_type="HC0"))
    return np.asarray(res.params), np.asarray(res.bse)


def _ppi_regression(
    X_l: np.ndarray,
    y: np.ndarray,
    f_l: np.ndarray,
    X: np.ndarray,
    f: np.ndarray,
    w: np.ndarray | None,
    model: str,
    level: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """PPI++ OLS / logistic through ppi_py: (estimates, ses, lambda), lambda as ``ppi_*_ci`` picks it with ``lam=None``.

    ``ppi_ols_ci(lam=None)`` tunes lambda at ``ppi_ols_pointestimate(lam=None)`` (itself tuned at the
    lam = 1 fit) and centres the interval on the estimate at that lambda; the lambda is recomputed here
    with ppi_py's own helpers so that it can be reported, and the interval comes from ``ppi_*_ci`` with
    it (equal to ``lam=None``'s, tested). The estimate is the interval's centre.
    """
    ppi = _ppi_py()
    n, N = len(y), len(f)
    wn = np.ones(n) if w is None else w / w.sum() * n  # as ppi_*_ci normalise w before their own calls
    wu = np.ones(N)
    point, get_stats, ci = (
        (ppi.ppi_ols_pointestimate, ppi.ppi._ols_get_stats, ppi.ppi_ols_ci)
        if model == "linear"
        else (ppi.ppi_logistic_pointestimate, ppi.ppi._logistic_get_stats, ppi.ppi_logistic_ci)
    )
    with warnings.catch_warnings():
        # ppi_py 0.2.3 starts its logistic fit with LogisticRegression(penalty=None), deprecated in scikit-learn 1.8:
        # ppi_py's call, not ours (it goes when ppi_py moves to C=np.inf)
        warnings.filterwarnings("ignore", message=".*'penalty' was deprecated", category=FutureWarning)
        if np.ptp(f) == 0:
            lam = 0.0
        else:
            theta = point(X_l, y, f_l, X, f, w=wn)
            stats = get_stats(theta, X_l, y, f_l, X, f, wn, wu, True)
            lam = float(ppi.ppi._calc_lam_glm(*stats, coord=None, clip=True))
            if not math.isfinite(lam):
                lam = 0.0
        lo, hi = ci(X_l, y, f_l, X, f, alpha=1 - level, lam=lam, w=wn)
    lo, hi = np.asarray(lo, dtype=float).reshape(-1), np.asarray(hi, dtype=float).reshape(-1)
    return (lo + hi) / 2, (hi - lo) / (2 * _z(level)), lam


def _crossppi_regression(
    X_l: np.ndarray, y: np.ndarray, f_l: np.ndarray, X_u: np.ndarray, F_u: np.ndarray, model: str, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-prediction-powered OLS / logistic coefficients through ppi_py: (estimates, ses from the interval)."""
    ppi = _ppi_py()
    point, ci = ((ppi.crossppi_ols_pointestimate, ppi.crossppi_ols_ci) if model == "linear"
                 else (ppi.crossppi_logistic_pointestimate, ppi.crossppi_logistic_ci))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'penalty' was deprecated", category=FutureWarning)
        est = np.asarray(point(X_l, y, f_l, X_u, F_u), dtype=float).reshape(-1)
        lo, hi = ci(X_l, y, f_l, X_u, F_u, alpha=1 - level)
    lo, hi = np.asarray(lo, dtype=float).reshape(-1), np.asarray(hi, dtype=float).reshape(-1)
    return est, (hi - lo) / (2 * _z(level))


def regression_estimates(
    y: Sequence[float] | np.ndarray,
    yhat: Sequence[float] | np.ndarray,
    X: np.ndarray,
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    terms: Sequence[str] | None = None,
    model: Model = "linear",
    methods: Sequence[str] = METHODS,
    level: float = 0.95,
    folds: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Coefficients of a linear (OLS, linear probability) or logistic regression of ``Y`` on ``X`` by each method.

    ``X`` is the design matrix of every corpus document (N x p, with the intercept column if wanted),
    ``yhat`` the surrogate outcome for every document, ``y`` and ``pi`` the human outcome and the
    inclusion probability of the labelled documents at rows ``sample_idx``. Returns one dict per
    (method, term), as :func:`mean_estimates`; a fit that fails (separation, collinear columns) gives
    NaN with a warning. ``folds``: cross-fitted predictions, as in :func:`mean_estimates`.
    """
    y, f, idx, pi, Xv = _check_arrays(y, yhat, sample_idx, pi, X)
    assert Xv is not None
    _check_methods(methods)
    F = _check_folds(folds, len(f), pi)
    if model not in MODELS:
        raise ValueError(f"model must be 'linear' or 'logistic', not {model!r}")
    p = Xv.shape[1]
    terms = [f"x{j}" for j in range(p)] if terms is None else list(terms)
    if len(terms) != p:
        raise ValueError(f"{len(terms)} term names for {p} columns of X")
    if model == "logistic" and (np.any((y < 0) | (y > 1)) or np.any((f < 0) | (f > 1))):
        raise ValueError("a logistic regression needs y and yhat in [0, 1]")
    z = _z(level)
    X_l = Xv[idx]
    rows: list[dict[str, Any]] = []
    for m in methods:
        if m != "naive" and len(y) <= p:
            rows.extend(_nan_rows(m, terms))
            continue
        try:
            if m == "naive":
                est, se = _fit_naive(f, Xv, model)
                lam = None
            elif m == "classical":
                est, se = _fit_classical(y, X_l, 1.0 / pi, model)
                lam = None
            elif m == "ppi" and F is not None:
                est, se = _crossppi_regression(X_l, y, f[idx], np.delete(Xv, idx, axis=0),
                                               np.delete(F, idx, axis=0), model, level)
                lam = 1.0
            elif m == "ppi":
                est, se, lam = _ppi_regression(X_l, y, f[idx], Xv, f, _weights(pi), model, level)
            else:
                est, se = dsl_regression(y, f, Xv, idx, pi, model=model)
                lam = None
            if not (np.all(np.isfinite(est)) and np.all(np.isfinite(se))):
                raise np.linalg.LinAlgError("non-finite estimates")
        except (np.linalg.LinAlgError, ValueError, ZeroDivisionError) as err:
            warnings.warn(f"{m} {model} regression failed ({err}); its estimates are NaN", stacklevel=2)
            rows.extend(_nan_rows(m, terms))
            continue
        rows.extend(_row(m, e, s, z, lam, t) for t, e, s in zip(terms, est, se, strict=True))
    return rows


def dsl_regression(
    y: Any, yhat: Any, X: np.ndarray, sample_idx: Any, pi: Any, *, model: Model = "linear"
) -> tuple[np.ndarray, np.ndarray]:
    """DSL coefficients and sandwich SEs: OLS or logistic moment equations solved on the pseudo-outcome.

    Linear: ``b = (X'X)^-1 X' Ytilde``; logistic: ``sum_i x_i (Ytilde_i - expit(x_i b)) = 0``
    (:func:`logistic_moments`). SE from ``A^-1 B A^-1`` with ``A = sum h_i x_i x_i'``
    (``h_i`` = 1 or ``mu_i (1 - mu_i)``) and ``B = sum x_i x_i' (Ytilde_i - fit_i)^2``, the HC0
    sandwich over all N documents, as in the ``dsl`` R package's moment functions.
    """
    yt = dsl_pseudo_outcome(y, yhat, sample_idx, pi)
    Xv = np.asarray(X, dtype=float)
    if model == "linear":
        b = np.linalg.lstsq(Xv, yt, rcond=None)[0]
        if np.linalg.matrix_rank(Xv) < Xv.shape[1]:
            raise np.linalg.LinAlgError("X has collinear columns")
        V = _sandwich(Xv, yt - Xv @ b, np.ones(len(yt)))
    else:
        b = logistic_moments(Xv, yt)
        mu = _expit(Xv @ b)
        V = _sandwich(Xv, yt - mu, mu * (1 - mu))
    return b, np.sqrt(np.diag(V))


def _check_methods(methods: Sequence[str]) -> None:
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be among {', '.join(METHODS)} (got {', '.join(map(str, methods)) or 'none'})")


# --------------------------------------------------------------------------------------------------
# Tables: per label, per stratum, per formula
# --------------------------------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=SCHEMA)
    return pl.DataFrame(rows, schema=SCHEMA).select(COLUMNS)


def _restrict(mask: np.ndarray, sample_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corpus rows in ``mask``, and for the labelled documents inside it: (their positions in y, their new rows)."""
    where = np.flatnonzero(mask)
    new_row = np.full(len(mask), -1)
    new_row[where] = np.arange(len(where))
    keep = np.flatnonzero(mask[sample_idx])
    return keep, new_row[sample_idx[keep]]


def estimate_prevalence(
    y: Mapping[str, Sequence[float] | np.ndarray],
    yhat: Mapping[str, Sequence[float] | np.ndarray],
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    strata: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    methods: Sequence[str] = METHODS,
    design: str = "",
    level: float = 0.95,
    folds: Mapping[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """Prevalence of each label, overall and per stratum, by each method: rows of the results contract.

    Parameters
    ----------
    y : mapping label -> array of length n
        Human 0/1 labels of the labelled documents (multi-label: one 0/1 outcome per label).
    yhat : mapping label -> array of length N
        The surrogate for every corpus document (0/1 or a probability), same labels as ``y``.
    sample_idx, pi : arrays of length n
        Corpus rows and inclusion probabilities of the labelled documents.
    strata : mapping column -> array of length N, optional
        Stratum of every document; each value gets its own rows, ``stratum = "column=value"``, with the
        estimators restricted to that stratum's documents (``pi`` unchanged: domain estimation).
    design : str
        Written in the ``design`` column (e.g. "uniform").
    folds : mapping label -> array N x K, optional
        Cross-fitted predictions of each label (see :func:`mean_estimates`).

    Examples
    --------
    >>> t = estimate_prevalence({"a": [1, 0]}, {"a": [1, 1, 1, 1]}, [0, 1], [0.5, 0.5], methods=["naive", "dsl"])
    >>> t.select("method", "estimate").rows()
    [('naive', 1.0), ('dsl', 0.5)]
    """
    idx = np.asarray(sample_idx).reshape(-1)
    pv = np.asarray(pi, dtype=float).reshape(-1)
    missing = sorted(set(yhat) ^ set(y))
    if missing:
        raise ValueError(f"y and yhat must have the same labels (only in one: {', '.join(missing)})")
    scopes: list[tuple[str, np.ndarray | None]] = [("", None)]
    N = len(np.asarray(next(iter(yhat.values())))) if yhat else 0
    for col, values in (strata or {}).items():
        v = np.asarray(values, dtype=object).astype(str)
        if len(v) != N:
            raise ValueError(f"strata column {col!r} has {len(v)} values for {N} documents")
        scopes += [(f"{col}={s}", v == s) for s in np.unique(v)]
    rows: list[dict[str, Any]] = []
    for label in yhat:
        yl, fl = np.asarray(y[label], dtype=float), np.asarray(yhat[label], dtype=float)
        for name, mask in scopes:
            F = None if folds is None else np.asarray(folds[label], dtype=float)
            if mask is None:
                keep, rows_in = np.arange(len(idx)), idx
                f_in, F_in = fl, F
            else:
                keep, rows_in = _restrict(mask, idx)
                f_in, F_in = fl[mask], None if F is None else F[mask]
            est = mean_estimates(yl[keep], f_in, rows_in, pv[keep], methods=methods, level=level, folds=F_in)
            rows += [
                {
                    "estimand": "prevalence",
                    "label": label,
                    "stratum": name,
                    **r,
                    "n_labelled": len(keep),
                    "n_unlabelled": len(f_in),
                    "design": design,
                }
                for r in est
            ]
    return _frame(rows)


def estimate_regression(
    y: Sequence[float] | np.ndarray,
    yhat: Sequence[float] | np.ndarray,
    X: np.ndarray,
    sample_idx: Sequence[int] | np.ndarray,
    pi: Sequence[float] | np.ndarray,
    *,
    label: str,
    terms: Sequence[str] | None = None,
    model: Model = "linear",
    methods: Sequence[str] = METHODS,
    design: str = "",
    level: float = 0.95,
    folds: np.ndarray | None = None,
) -> pl.DataFrame:
    """A regression of one label's indicator on corpus covariates by each method: rows of the results contract.

    Arguments as :func:`regression_estimates`; ``label`` names the outcome (``estimand = "regression"``,
    ``term`` the coefficient). :func:`design_matrix` builds ``X`` and ``terms`` from a formula.
    """
    rows = regression_estimates(y, yhat, X, sample_idx, pi, terms=terms, model=model, methods=methods, level=level,
                                folds=folds)
    n, N = len(np.asarray(sample_idx).reshape(-1)), np.asarray(X).shape[0]
    return _frame(
        [
            {
                "estimand": "regression",
                "label": label,
                "stratum": "",
                **r,
                "n_labelled": n,
                "n_unlabelled": N,
                "design": design,
            }
            for r in rows
        ]
    )


_LHS = re.compile(r"""^\s*label\s*==\s*(?:"([^"]*)"|'([^']*)')\s*$""")


def parse_formula(formula: str) -> tuple[str, str]:
    """``label == "Health" ~ chamber + congress`` -> ("Health", "chamber + congress"); ValueError when malformed."""
    if formula.count("~") != 1:
        raise ValueError(f"'{formula}' is not a formula 'label == \"<label>\" ~ <covariates>' (one '~')")
    lhs, rhs = formula.split("~")
    m = _LHS.match(lhs)
    if not m:
        raise ValueError(f"the outcome '{lhs.strip()}' is not of the form label == \"<label>\"")
    if not rhs.strip():
        raise ValueError("the formula has no covariates after '~' (write 1 for an intercept only)")
    return (m.group(1) if m.group(1) is not None else m.group(2)), rhs.strip()


def _plain(err: Exception) -> str:
    """An error message on one line, without formulaic's terminal colours and markers."""
    text = re.sub(r"\x1b\[[0-9;]*m|[\u29da\u29db]", "", str(err))
    return " ".join(text.split())


def design_matrix(corpus: pl.DataFrame, formula: str) -> tuple[str, np.ndarray, list[str]]:
    """The outcome label, the design matrix (one row per corpus row) and its term names, from a formula.

    The right-hand side is a formulaic formula over the corpus' columns (strings become treatment-coded
    factors, ``C(year)`` makes a number one; an intercept unless ``- 1``). Raises ValueError naming the
    problem: an unknown column, a missing value, collinear columns.

    Examples
    --------
    >>> df = pl.DataFrame({"chamber": ["HR", "S", "S"], "year": [1, 2, 3]})
    >>> label, X, terms = design_matrix(df, 'label == "Health" ~ chamber + year')
    >>> label, terms, X.tolist()
    ('Health', ['Intercept', 'chamber[T.S]', 'year'], [[1.0, 0.0, 1.0], [1.0, 1.0, 2.0], [1.0, 1.0, 3.0]])
    """
    from formulaic import Formula

    label, rhs = parse_formula(formula)
    try:
        spec = Formula(rhs)
        needed = sorted(spec.required_variables)
    except Exception as err:  # formulaic raises its own parser errors
        raise ValueError(f"the covariates '{rhs}' could not be parsed ({_plain(err)})") from err
    unknown = [v for v in needed if v not in corpus.columns]
    if unknown:
        raise ValueError(
            f"column(s) {', '.join(repr(u) for u in unknown)} not in the corpus (have: {', '.join(corpus.columns)})"
        )
    for v in needed:
        nulls = corpus[v].is_null()
        if nulls.any():
            raise ValueError(
                f"column '{v}' has {int(nulls.sum())} missing value(s) (first at corpus row "
                f"{int(nulls.arg_true()[0]) + 2})"
            )
    data = (corpus.select(needed) if needed else pl.DataFrame({"_": np.zeros(corpus.height)})).to_pandas()
    try:
        mm = spec.get_model_matrix(data, na_action="raise")
    except Exception as err:
        raise ValueError(f"the covariates '{rhs}' could not be evaluated ({_plain(err)})") from err
    X = np.asarray(mm, dtype=float)
    if X.shape[0] != corpus.height:
        raise ValueError("the formula dropped rows")
    if X.shape[1] == 0:
        raise ValueError("the formula has no columns")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(
            f"the columns of '{rhs}' are collinear (a covariate with one value, or one that "
            "repeats another): drop it from the formula"
        )
    return label, X, [str(c) for c in mm.columns]


# --------------------------------------------------------------------------------------------------
# Files: predictions, labelled sample, corpus -> estimates.csv
# --------------------------------------------------------------------------------------------------


def _read(path: str | Path) -> pl.DataFrame:
    from llmcoder.metrics import _read_table

    return _read_table(path)


def _require(df: pl.DataFrame, src: str, cols: Sequence[str], fix: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(
            src, f"no {', '.join(repr(c) for c in missing)} column (have: {', '.join(df.columns)})", fix=fix
        )


def _numbers(df: pl.DataFrame, col: str, src: str) -> np.ndarray:
    """A column as floats; InputError listing the rows that are not numbers."""
    s = df[col]
    as_f = s.cast(pl.Float64, strict=False) if s.dtype != pl.Float64 else s
    bad = as_f.is_null() | ~as_f.is_finite().fill_null(False)
    if bad.any():
        rows = bad.arg_true().to_list()
        raise InputError(
            src,
            f"{len(rows)} value(s) in column '{col}' are not numbers",
            [Problem(f"'{s[i]}'", row=i + 2, column=col) for i in rows],
            fix=f"give every row a number in '{col}'",
        )
    return as_f.to_numpy().astype(float)


def _long(df: pl.DataFrame, src: str) -> pl.DataFrame:
    """``doc_id, label`` strings (null label: a document with no label), stripped, with the file's row number."""
    out = (
        df.with_row_index("_row", offset=2)
        .with_columns(
            pl.col("doc_id").cast(pl.Utf8).str.strip_chars(),
            pl.col("label").cast(pl.Utf8).str.strip_chars(),
        )
        .with_columns(pl.when(pl.col("label") == "").then(None).otherwise(pl.col("label")).alias("label"))
    )
    bad = out["doc_id"].is_null() | (out["doc_id"] == "")
    if bad.any():
        raise InputError(
            src,
            "row(s) without a doc_id",
            [Problem("empty doc_id", row=int(r)) for r in out.filter(bad)["_row"].to_list()],
            fix="give every row a document id",
        )
    return out


def read_predictions(path: str | Path) -> pl.DataFrame:
    """A predictions file as ``doc_id, label[, prob][, chosen]`` (llmcoder's long format or one row per label given)."""
    src = str(path)
    df = _read(path)
    _require(
        df,
        src,
        ["doc_id", "label"],
        "give the predictions as doc_id, label (and prob) columns, one row per "
        "(document, label), as 'llmcoder predict' writes them",
    )
    out = _long(df, src)
    if "prob" in df.columns:
        prob = _numbers(out, "prob", src)
        bad = np.flatnonzero((prob < 0) | (prob > 1))
        if len(bad):
            raise InputError(
                src,
                f"{len(bad)} probabilities outside [0, 1]",
                [Problem(f"{prob[i]:g}", row=int(i) + 2, column="prob") for i in bad],
                fix="give probabilities between 0 and 1",
            )
        out = out.with_columns(pl.Series("prob", prob))
    if "chosen" in df.columns:
        out = out.with_columns(_flags(out, "chosen", src))
    return out


def _flags(df: pl.DataFrame, col: str, src: str) -> pl.Series:
    """A true/false column (true, false, 1, 0 in any case) as booleans; any other word is refused, naming
    the file's rows, since reading it as either would change which rows count."""
    text = df[col].cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    ok = text.is_in(["true", "false", "1", "0"])
    if not ok.all():
        raise InputError(
            src,
            f"column '{col}' must be true or false",
            [Problem(f"'{df[col][i]}'", row=int(df["_row"][i]), column=col) for i in (~ok).arg_true().to_list()],
            fix=f"write {col} as true/false (or 1/0)",
        )
    return text.is_in(["true", "1"]).alias(col)


def read_sample(path: str | Path) -> pl.DataFrame:
    """The labelled sample as ``doc_id, label, pi`` (pi null when absent); rows with ``labelled`` false are dropped."""
    src = str(path)
    df = _read(path)
    _require(
        df,
        src,
        ["doc_id", "label"],
        "give the labelled sample as doc_id, label (and pi) columns, one row per (document, label)",
    )
    out = _long(df, src)
    if "labelled" in out.columns:
        out = out.filter(_flags(out, "labelled", src))
    if "pi" in out.columns:
        pi = _numbers(out, "pi", src)
        bad = np.flatnonzero(~((pi > 0) & (pi <= 1)))
        if len(bad):
            raise InputError(
                src,
                f"{len(bad)} inclusion probabilities outside (0, 1]",
                [Problem(f"pi = {pi[i]:g}", row=int(out["_row"][int(i)]), column="pi") for i in bad],
                fix="pi is the document's probability of being drawn for labelling: a number in (0, 1] "
                "(n/N for a simple random sample)",
            )
        out = out.with_columns(pl.Series("pi", pi))
        per_doc = out.group_by("doc_id").agg(pl.col("pi").n_unique().alias("k"), pl.col("_row").first())
        if (per_doc["k"] > 1).any():
            bad_docs = per_doc.filter(pl.col("k") > 1).sort("_row")
            raise InputError(
                src,
                "a document has different pi on different rows",
                [
                    Problem(f"doc_id '{d}'", row=int(r))
                    for d, r in zip(bad_docs["doc_id"], bad_docs["_row"], strict=True)
                ],
                fix="give each document one inclusion probability",
            )
    else:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("pi"))
    return out


def surrogate_arrays(
    pred: pl.DataFrame,
    doc_ids: Sequence[str],
    labels: Sequence[str],
    *,
    surrogate: Literal["auto", "prob", "hard"] = "auto",
    src: str = "predictions",
) -> tuple[dict[str, np.ndarray], str]:
    """The surrogate of each label for the documents ``doc_ids``: probabilities or 0/1, and which was used.

    ``prob`` needs a probability for every (document, label) (llmcoder's long format); ``hard``
    marks the labels a document was given (rows with ``chosen`` true when that column exists, else
    every row). ``auto`` takes ``prob`` where it can.
    """
    pos = {d: i for i, d in enumerate(doc_ids)}
    pred = pred.filter(pl.col("doc_id").is_in(list(pos)))
    full = False
    if "prob" in pred.columns:
        counts = pred.filter(pl.col("label").is_in(list(labels))).group_by("doc_id", "label").len()
        full = counts.height == len(doc_ids) * len(labels) and bool((counts["len"] == 1).all())
    if surrogate == "prob" and not full:
        raise InputError(
            src,
            "--surrogate prob needs a probability for every document and label",
            fix="give one row per (document, label) with prob (as 'llmcoder predict' writes), or use --surrogate hard",
        )
    kind = "prob" if full and surrogate != "hard" else "hard"
    out = {}
    rows = pred.filter(pl.col("label").is_in(list(labels)))
    if kind == "hard" and "chosen" in rows.columns:
        rows = rows.filter(pl.col("chosen"))
    idx = np.array([pos[d] for d in rows["doc_id"]], dtype=np.int64)
    lab = rows["label"].to_numpy()
    val = rows["prob"].to_numpy().astype(float) if kind == "prob" else np.ones(len(idx))
    for label in labels:
        a = np.zeros(len(doc_ids))
        sel = lab == label
        a[idx[sel]] = val[sel]
        out[label] = a
    return out, kind


def infer_files(
    predictions: str | Path,
    sample: str | Path,
    out: str | Path | None = None,
    *,
    corpus: str | Path | None = None,
    labels: Sequence[str] | None = None,
    strata: Sequence[str] = (),
    formulas: Sequence[str] = (),
    model: Model = "linear",
    methods: Sequence[str] = METHODS,
    surrogate: Literal["auto", "prob", "hard"] = "auto",
    design: str | None = None,
    level: float = 0.95,
) -> tuple[pl.DataFrame, list[str]]:
    """Read the predictions, the labelled sample (and the corpus), estimate, and write ``out/estimates.csv``.

    The population is the corpus' documents (``--corpus``) or else the predicted documents; every one
    needs a prediction, and every labelled document must be one of them. Without a ``pi`` column every
    labelled document is taken as drawn by a simple random sample (``pi = n / N``). Returns the table
    and the notes for the person (defaults taken, documents ignored). Bad input raises
    :class:`InputError` naming file, row, column and fix.
    """
    methods = list(dict.fromkeys(methods))
    bad_m = [m for m in methods if m not in METHODS]
    if bad_m or not methods:
        raise InputError(
            "--method",
            f"unknown method(s) {', '.join(bad_m) or '(none)'}",
            fix=f"give --method among {', '.join(METHODS)}",
        )
    if model not in MODELS:
        raise InputError("--model", f"'{model}' is not a regression model", fix="give --model linear or logistic")
    if surrogate not in ("auto", "prob", "hard"):
        raise InputError("--surrogate", f"'{surrogate}' is not a surrogate kind", fix="give auto, prob or hard")
    if not 0 < level < 1:
        raise InputError("--level", f"{level:g} is not a confidence level", fix="give a level such as 0.95")
    notes: list[str] = []
    target = None
    if out is not None:
        from llmcoder.metrics import check_output_file

        target = check_output_file(Path(out) / "estimates.csv", option="--out")
    pred = read_predictions(predictions)
    samp = read_sample(sample)
    if (strata or formulas) and corpus is None:
        raise InputError(
            "--corpus",
            "--strata and --formula need the corpus' columns",
            fix="give --corpus (the corpus CSV/Parquet with doc_id and the columns used)",
        )
    corp = None
    if corpus is not None:
        corp = _read(corpus)
        _require(corp, str(corpus), ["doc_id"], "name the corpus' document id column doc_id")
        corp = corp.with_columns(pl.col("doc_id").cast(pl.Utf8).str.strip_chars())
        dup = corp["doc_id"].is_duplicated()
        if dup.any():
            rows = dup.arg_true().to_list()
            raise InputError(
                str(corpus),
                "doc_id repeats",
                [Problem(f"doc_id '{corp['doc_id'][i]}'", row=i + 2) for i in rows],
                fix="give each document one row",
            )
        doc_ids = corp["doc_id"].to_list()
        have = set(pred["doc_id"].unique().to_list())
        lacking = [d for d in doc_ids if d not in have]
        if lacking:
            raise InputError(
                str(predictions),
                f"{len(lacking)} corpus document(s) have no prediction",
                [Problem(f"doc_id '{d}'") for d in lacking],
                fix="predict every corpus document (the estimators need the surrogate for all)",
            )
        extra = len(have - set(doc_ids))
        if extra:
            notes.append(f"{extra} predicted document(s) are not in the corpus and were ignored")
    else:
        doc_ids = pred["doc_id"].unique(maintain_order=True).to_list()
    pos = {d: i for i, d in enumerate(doc_ids)}
    unknown = samp.filter(~pl.col("doc_id").is_in(list(pos)))
    if unknown.height:
        raise InputError(
            str(sample),
            f"{unknown['doc_id'].n_unique()} labelled document(s) are not in the "
            f"{'corpus' if corp is not None else 'predictions'}",
            [
                Problem(f"unknown doc_id '{d}'", row=int(r), column="doc_id")
                for d, r in zip(unknown["doc_id"], unknown["_row"], strict=True)
            ],
            fix="label documents of the corpus only (check the doc_id spelling)",
        )
    known = sorted(set(pred["label"].drop_nulls().to_list()) | set(samp["label"].drop_nulls().to_list()))
    if labels:
        bad = [lab for lab in labels if lab not in known]
        if bad:
            raise InputError(
                "--label",
                f"unknown label(s) {', '.join(repr(b) for b in bad)}",
                fix=f"give labels that occur in the predictions or the sample: {', '.join(known)}",
            )
        chosen = list(dict.fromkeys(labels))
    else:
        chosen = known
    parsed = []
    seen: dict[str, str] = {}
    for fm in formulas:
        try:
            lab, _ = parse_formula(fm)
        except ValueError as err:
            raise InputError("--formula", str(err), fix="write e.g. --formula 'label == \"Health\" ~ chamber'") from err
        if lab not in known:
            raise InputError(
                "--formula",
                f"unknown label '{lab}' in '{fm}'",
                fix=f"the outcome must be one of the labels: {', '.join(known)}",
            )
        if lab in seen:
            raise InputError(
                "--formula",
                f"two formulas for label '{lab}' ('{seen[lab]}' and '{fm}'): "
                "estimates.csv has no formula column to tell them apart",
                fix="run the second formula with another --out folder",
            )
        seen[lab] = fm
        parsed.append((lab, fm))
    docs = samp.group_by("doc_id", maintain_order=True).agg(pl.col("pi").first(), pl.col("label"))
    sample_idx = np.array([pos[d] for d in docs["doc_id"]], dtype=np.int64)
    n, N = len(sample_idx), len(doc_ids)
    if n < 2:
        raise InputError(str(sample), f"{n} labelled document(s): too few for an interval", fix="label more documents")
    if docs["pi"].null_count():
        pi = np.full(n, n / N)
        notes.append(
            f"no 'pi' column in {sample}: the {n} labelled documents are taken as a simple random sample "
            f"of the {N}, pi = n/N = {n / N:.4g}"
        )
        design = design or "uniform"
    else:
        pi = docs["pi"].to_numpy().astype(float)
        if design is None:
            design = "uniform" if np.ptp(pi) == 0 else "weighted"
        if np.ptp(pi) == 0 and abs(pi[0] * N / n - 1) > 0.05:
            notes.append(
                f"every pi is {pi[0]:.4g} but n/N = {n / N:.4g}: check that pi is the probability with "
                "which the documents were drawn, and that every drawn document was labelled"
            )
    given = [set(x for x in ls if x is not None) for ls in docs["label"].to_list()]
    need = list(dict.fromkeys([*chosen, *(lab for lab, _ in parsed)]))
    y = {lab: np.array([lab in g for g in given], dtype=float) for lab in need}
    yhat, kind = surrogate_arrays(pred, doc_ids, need, surrogate=surrogate, src=str(predictions))
    notes.append(f"surrogate: {'probabilities' if kind == 'prob' else '0/1 labels'} from {predictions}")
    strata_arrays = {}
    if strata:
        assert corp is not None
        for col in strata:
            if col not in corp.columns:
                raise InputError(
                    str(corpus),
                    f"no stratum column '{col}' (have: {', '.join(corp.columns)})",
                    fix="give --strata a column of the corpus",
                )
            nulls = corp[col].is_null()
            if nulls.any():
                raise InputError(
                    str(corpus),
                    f"stratum column '{col}' has missing values",
                    [Problem("missing", row=i + 2, column=col) for i in nulls.arg_true().to_list()],
                    fix="give every document a stratum",
                )
            strata_arrays[col] = corp[col].cast(pl.Utf8).to_numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = [
            estimate_prevalence(
                {k: y[k] for k in chosen},
                {k: yhat[k] for k in chosen},
                sample_idx,
                pi,
                strata=strata_arrays,
                methods=methods,
                design=design,
                level=level,
            )
        ]
        for lab, fm in parsed:
            assert corp is not None
            try:
                _, X, terms = design_matrix(corp, fm)
            except ValueError as err:
                raise InputError(
                    "--formula",
                    f"'{fm}': {err}",
                    fix=f"check the formula against the corpus' columns ({', '.join(corp.columns)})",
                ) from err
            if model == "logistic" and kind == "prob" and np.any((yhat[lab] < 0) | (yhat[lab] > 1)):
                raise InputError(str(predictions), "probabilities outside [0, 1]", fix="check the prob column")
            parts.append(
                estimate_regression(
                    y[lab],
                    yhat[lab],
                    X,
                    sample_idx,
                    pi,
                    label=lab,
                    terms=terms,
                    model=model,
                    methods=methods,
                    design=design,
                    level=level,
                )
            )
    for w in caught:  # deprecations go on as warnings (the tests turn ours into errors); the rest become notes
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            notes.append(f"warning: {w.message}")
    table = pl.concat(parts)
    if target is not None:
        from llmcoder.io import write_csv

        write_csv(table, target)
    return table, notes
