"""Downstream inference: the sample design, naive / classical / PPI++ / DSL estimators, planning, `llmcoder infer`.

Reference values: PPI++ against ppi_py (to 1e-8) and against the closed form of its mean and lambda;
classical and naive against statsmodels and hand-written sandwiches; DSL against the closed form of
the mean, statsmodels OLS on the pseudo-outcome, an independent root-finder for the logistic moment
equations, and a coverage simulation with known truth. (The dsl R package's worked example could not
serve: its data are binary .rdata files and its default estimator cross-fits a random forest.)
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

from llmcoder import inference as inf
from llmcoder import planning
from llmcoder.cli import app

Z95 = 1.959963984540054


def population(N: int = 600, seed: int = 0, bias: float = 0.15, noise: float = 0.15):
    """A corpus with a covariate, a 0/1 label, a biased probability surrogate and an uncertainty score."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, N)
    p_true = 0.2 + 0.3 * x
    y = (rng.random(N) < p_true).astype(float)
    score = np.clip(0.6 * y + 0.25 + bias * x + rng.normal(0, noise, N), 0.01, 0.99)  # errors depend on x
    u = 1 - np.maximum(score, 1 - score)
    return x, y, score, u


def weighted_sample(u: np.ndarray, n: int, seed: int):
    pi = inf.inclusion_probabilities(len(u), n, "uncertainty", uncertainty=u)
    idx = np.flatnonzero(np.random.default_rng(seed).random(len(u)) < pi)
    return idx, pi[idx]


# -- the design ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("design", ["uniform", "stratified", "uncertainty"])
def test_inclusion_probabilities_sum_to_n_and_lie_in_0_1(design):
    rng = np.random.default_rng(1)
    N, n = 500, 60
    strata = rng.choice(["a", "b", "c"], N, p=[0.7, 0.25, 0.05])
    u = rng.beta(0.3, 2, N)
    u[:3] = 50  # a few very uncertain documents: capped at 1
    pi = inf.inclusion_probabilities(N, n, design, strata=strata, uncertainty=u)
    assert pi.sum() == pytest.approx(n, abs=1e-9)
    assert np.all(pi > 0) and np.all(pi <= 1)
    if design == "uncertainty":
        assert np.all(pi[:3] == 1.0)
        assert pi.min() >= n * 0.5 / N - 1e-12  # the uniform floor
    if design == "stratified":
        for s in "abc":
            assert np.ptp(pi[strata == s]) == 0
        s = inf.draw_sample([str(i) for i in range(N)], n, "stratified", seed=3, strata=strata)
        drawn = pl.DataFrame({"s": strata, "l": s["labelled"]}).group_by("s").agg(pl.col("l").sum()).sort("s")
        assert drawn["l"].to_list() == [round(pi[strata == h][0] * (strata == h).sum()) for h in "abc"]


def test_equal_allocation_caps_small_strata_and_keeps_the_total():
    strata = ["a"] * 90 + ["b"] * 8 + ["c"] * 2
    pi = inf.inclusion_probabilities(100, 30, "stratified", strata=strata, allocation="equal")
    assert pi.sum() == pytest.approx(30)
    assert pi[-1] == 1.0 and pi[91] == 1.0  # c (2) and b (8) taken whole, a gets the other 20
    assert pi[0] == pytest.approx(20 / 90)


def test_uniform_draw_is_exact_and_uncertainty_draw_has_expected_size():
    ids = [f"d{i}" for i in range(400)]
    s = inf.draw_sample(ids, 50, "uniform", seed=0)
    assert s.columns == ["doc_id", "pi", "labelled"] and s["labelled"].sum() == 50
    assert s["pi"].unique().to_list() == [50 / 400]
    u = np.random.default_rng(0).random(400)
    sizes = [inf.draw_sample(ids, 50, "uncertainty", seed=k, uncertainty=u)["labelled"].sum() for k in range(300)]
    assert np.mean(sizes) == pytest.approx(50, abs=4 * math.sqrt(50 / 300))


def test_horvitz_thompson_is_unbiased_under_the_uncertainty_design():
    x, y, score, u = population(N=400, seed=2)
    pi = inf.inclusion_probabilities(400, 40, "uncertainty", uncertainty=u)
    rng = np.random.default_rng(5)
    reps = 4000
    drawn = rng.random((reps, 400)) < pi  # Poisson sampling, as draw_sample does
    ht = (drawn * (y / pi)).sum(1) / 400
    assert abs(ht.mean() - y.mean()) < 4 * ht.std() / math.sqrt(reps)
    assert np.abs(drawn.mean(0) - pi).max() < 4 * math.sqrt(0.25 / reps)  # each pi is the inclusion frequency
    naive_mean = np.array([y[d].mean() for d in drawn[:500]]).mean()  # the unweighted mean is biased here
    assert abs(naive_mean - y.mean()) > 0.02


# -- PPI++ against ppi_py -----------------------------------------------------------------------------


def test_ppi_mean_equals_ppi_py_and_the_closed_form():
    from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

    x, y, score, u = population(N=800, seed=3, noise=0.4)  # a noisy surrogate: lambda strictly inside (0, 1)
    idx = np.random.default_rng(0).choice(800, 120, replace=False)
    pi = np.full(120, 120 / 800)
    (row,) = inf.mean_estimates(y[idx], score, idx, pi, methods=["ppi"])
    lo, hi = ppi_mean_ci(y[idx], score[idx], score, alpha=0.05)
    assert row["ci_low"] == pytest.approx(float(lo[0]), abs=1e-8)
    assert row["ci_high"] == pytest.approx(float(hi[0]), abs=1e-8)
    assert row["estimate"] == pytest.approx(
        float(np.ravel(ppi_mean_pointestimate(y[idx], score[idx], score))[0]), abs=1e-8
    )
    # PPI++ by hand: lambda = Cov(Y, Yhat) / ((1 + n/N) Var(Yhat)), Var over the labelled and all predictions
    Y, f_l, f = y[idx], score[idx], score
    n, N = len(Y), len(f)
    lam = np.cov(Y, f_l, ddof=0)[0, 1] / ((1 + n / N) * np.var(np.concatenate([f_l, f]), ddof=1))
    assert 0 < lam < 1 and row["lambda"] == pytest.approx(lam, abs=1e-10)
    est = lam * f.mean() + (Y - lam * f_l).mean()
    se = math.sqrt(np.var(lam * f) / N + np.var(Y - lam * f_l) / n)
    assert row["estimate"] == pytest.approx(est, abs=1e-10)
    assert row["se"] == pytest.approx(se, abs=1e-10)
    x, y, score, u = population(N=800, seed=3)  # a sharper surrogate: the unclipped lambda exceeds 1
    Y, f_l = y[idx], score[idx]
    assert np.cov(Y, f_l, ddof=0)[0, 1] / ((1 + n / N) * np.var(np.concatenate([f_l, score]), ddof=1)) > 1
    (row,) = inf.mean_estimates(Y, score, idx, pi, methods=["ppi"])
    assert row["lambda"] == 1.0


def test_ppi_weighted_mean_equals_ppi_py_with_weights():
    from ppi_py import ppi_mean_ci

    x, y, score, u = population(N=800, seed=4)
    idx, pi = weighted_sample(u, 150, seed=1)
    (row,) = inf.mean_estimates(y[idx], score, idx, pi, methods=["ppi"])
    lo, hi = ppi_mean_ci(y[idx], score[idx], score, alpha=0.05, w=1 / pi)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((float(lo[0]), float(hi[0])), abs=1e-8)


@pytest.mark.filterwarnings("ignore:'penalty' was deprecated:FutureWarning")  # ppi_py's own sklearn call
@pytest.mark.parametrize("model", ["linear", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ppi_regression_equals_ppi_py(model, weighted):
    from ppi_py import ppi_logistic_ci, ppi_ols_ci

    x, y, score, u = population(N=600, seed=5)
    X = np.column_stack([np.ones(600), x])
    if weighted:
        idx, pi = weighted_sample(u, 120, seed=2)
    else:
        idx = np.random.default_rng(1).choice(600, 120, replace=False)
        pi = np.full(120, 0.2)
    rows = inf.regression_estimates(y[idx], score, X, idx, pi, terms=["Intercept", "x"], model=model, methods=["ppi"])
    ci = ppi_ols_ci if model == "linear" else ppi_logistic_ci
    lo, hi = ci(X[idx], y[idx], score[idx], X, score, alpha=0.05, w=(1 / pi) if weighted else None)
    assert [r["ci_low"] for r in rows] == pytest.approx(list(lo), abs=1e-8)
    assert [r["ci_high"] for r in rows] == pytest.approx(list(hi), abs=1e-8)
    assert [r["estimate"] for r in rows] == pytest.approx(list((lo + hi) / 2), abs=1e-8)
    assert rows[0]["lambda"] == rows[1]["lambda"] and 0 <= rows[0]["lambda"] <= 1


# -- classical and naive against statsmodels ----------------------------------------------------------


def test_classical_and_naive_means_equal_statsmodels():
    x, y, score, u = population(N=700, seed=6)
    idx, pi = weighted_sample(u, 140, seed=3)
    rows = {r["method"]: r for r in inf.mean_estimates(y[idx], score, idx, pi, methods=["naive", "classical"])}
    wls = sm.WLS(y[idx], np.ones(len(idx)), weights=1 / pi).fit(cov_type="HC0")
    assert rows["classical"]["estimate"] == pytest.approx(wls.params[0], abs=1e-12)
    assert rows["classical"]["se"] == pytest.approx(wls.bse[0], abs=1e-12)
    assert rows["classical"]["ci_low"] == pytest.approx(wls.conf_int(0.05)[0, 0], abs=1e-10)
    w = 1 / pi
    assert rows["classical"]["estimate"] == pytest.approx((w * y[idx]).sum() / w.sum(), abs=1e-12)  # Hajek
    hard = (score > 0.5).astype(float)
    (naive,) = inf.mean_estimates(y[idx], hard, idx, pi, methods=["naive"])
    p = hard.mean()
    assert naive["estimate"] == p and naive["se"] == pytest.approx(math.sqrt(p * (1 - p) / 700), abs=1e-12)
    # uniform: the plain sample mean with its binomial SE
    idx = np.arange(0, 700, 7)
    (cl,) = inf.mean_estimates(y[idx], score, idx, np.full(100, 0.1), methods=["classical"])
    q = y[idx].mean()
    assert (cl["estimate"], cl["se"]) == pytest.approx((q, math.sqrt(q * (1 - q) / 100)), abs=1e-12)


@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_classical_and_naive_regressions_equal_statsmodels_and_the_sandwich(model):
    x, y, score, u = population(N=700, seed=7)
    X = np.column_stack([np.ones(700), x, np.random.default_rng(0).normal(size=700)])
    idx, pi = weighted_sample(u, 200, seed=4)
    rows = inf.regression_estimates(y[idx], score, X, idx, pi, model=model, methods=["naive", "classical"])
    by = {(r["method"], r["term"]): r for r in rows}
    # classical: weighted estimating equations sum w x (y - mu) = 0, sandwich by hand
    Xl, yl, w = X[idx], y[idx], 1 / pi
    if model == "linear":
        b = np.linalg.solve((Xl * w[:, None]).T @ Xl, (Xl * w[:, None]).T @ yl)
        h = np.ones(len(yl))
        mu = Xl @ b
    else:
        b = np.zeros(3)
        for _ in range(50):  # Newton on the weighted score equations
            mu = 1 / (1 + np.exp(-Xl @ b))
            b = b + np.linalg.solve((Xl * (w * mu * (1 - mu))[:, None]).T @ Xl, Xl.T @ (w * (yl - mu)))
        mu = 1 / (1 + np.exp(-Xl @ b))
        h = mu * (1 - mu)
    A = (Xl * (w * h)[:, None]).T @ Xl
    S = Xl * (w * (yl - mu))[:, None]
    V = np.linalg.inv(A) @ S.T @ S @ np.linalg.inv(A)
    for j in range(3):
        assert by[("classical", f"x{j}")]["estimate"] == pytest.approx(b[j], abs=1e-7)
        assert by[("classical", f"x{j}")]["se"] == pytest.approx(math.sqrt(V[j, j]), abs=1e-7)
    # naive: the surrogate over the corpus, as if true
    ref = (sm.OLS(score, X) if model == "linear" else sm.Logit(score, X)).fit(cov_type="HC0", disp=0)
    for j in range(3):
        assert by[("naive", f"x{j}")]["estimate"] == pytest.approx(ref.params[j], abs=1e-7)
        assert by[("naive", f"x{j}")]["se"] == pytest.approx(ref.bse[j], abs=1e-7)
    if model == "logistic":  # and the naive logit is our own moment solver on yhat
        bb = inf.logistic_moments(X, score)
        assert list(bb) == pytest.approx(list(ref.params), abs=1e-7)


# -- DSL --------------------------------------------------------------------------------------------


def test_dsl_mean_is_the_pseudo_outcome_mean_with_its_se():
    x, y, score, u = population(N=900, seed=8)
    idx, pi = weighted_sample(u, 150, seed=5)
    (row,) = inf.mean_estimates(y[idx], score, idx, pi, methods=["dsl"])
    yt = score.copy()
    yt[idx] = score[idx] + (y[idx] - score[idx]) / pi
    assert row["estimate"] == pytest.approx(yt.mean(), abs=1e-12)
    assert row["se"] == pytest.approx(math.sqrt(((yt - yt.mean()) ** 2).sum()) / 900, abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((yt.mean() - Z95 * row["se"], yt.mean() + Z95 * row["se"]))


def test_dsl_regressions_against_statsmodels_on_the_pseudo_outcome():
    x, y, score, u = population(N=900, seed=9)
    X = np.column_stack([np.ones(900), x])
    idx, pi = weighted_sample(u, 150, seed=6)
    yt = inf.dsl_pseudo_outcome(y[idx], score, idx, pi)
    assert yt.min() < 0 or yt.max() > 1  # the pseudo-outcome leaves [0, 1]
    b, se = inf.dsl_regression(y[idx], score, X, idx, pi, model="linear")
    ols = sm.OLS(yt, X).fit(cov_type="HC0")
    assert list(b) == pytest.approx(list(ols.params), abs=1e-10)
    assert list(se) == pytest.approx(list(ols.bse), abs=1e-10)
    b, se = inf.dsl_regression(y[idx], score, X, idx, pi, model="logistic")
    # statsmodels' binomial GLM solves the same equations sum x (yt - expit(x b)) = 0 (canonical link) by IRLS
    glm = sm.GLM(yt, X, family=sm.families.Binomial()).fit(cov_type="HC0", tol=1e-13)
    assert list(b) == pytest.approx(list(glm.params), abs=1e-8)
    assert list(se) == pytest.approx(list(glm.bse), abs=1e-8)
    assert np.abs(X.T @ (yt - 1 / (1 + np.exp(-X @ b)))).max() < 1e-8


def test_corrected_intervals_cover_the_corpus_value_and_naive_does_not():
    """400 uncertainty-weighted samples of one corpus with a biased surrogate; the truth is the corpus' own value.

    The standard errors treat the corpus as a sample from a larger process (and the draws as with
    replacement), so for the corpus' own value they may only err on the wide side: coverage must not
    fall below 0.95 by more than three binomial SEs (DSL's exact coverage is checked just below).
    """
    reps, N, n = 400, 1000, 150
    x, y, score, u = population(N=N, seed=12, bias=0.2)
    X = np.column_stack([np.ones(N), x])
    truth = {"mean": y.mean(), "slope": y[x == 1].mean() - y[x == 0].mean()}
    pi_all = inf.inclusion_probabilities(N, n, "uncertainty", uncertainty=u)
    rng = np.random.default_rng(7)
    cover: dict[str, int] = {}
    for _ in range(reps):
        idx = np.flatnonzero(rng.random(N) < pi_all)
        pi = pi_all[idx]
        for r in inf.mean_estimates(y[idx], score, idx, pi):
            cover[r["method"]] = cover.get(r["method"], 0) + (r["ci_low"] <= truth["mean"] <= r["ci_high"])
        for r in inf.regression_estimates(y[idx], score, X, idx, pi, terms=["1", "x"], methods=["classical", "dsl"]):
            if r["term"] == "x":
                key = r["method"] + " slope"
                cover[key] = cover.get(key, 0) + (r["ci_low"] <= truth["slope"] <= r["ci_high"])
    tol = 3 * math.sqrt(0.95 * 0.05 / reps)  # three binomial SEs
    for m in ("classical", "ppi", "dsl", "classical slope", "dsl slope"):
        assert 0.95 - tol <= cover[m] / reps < 1, (m, cover[m] / reps)
    assert cover["naive"] / reps < 0.5


def test_dsl_covers_a_superpopulation_mean_and_weighted_ppi_does_not():
    """DSL's sandwich is exact for the mean of the process that made the corpus (a new corpus every time);
    ppi_py's weighted SE leaves out that process' variance and undercovers it (the documented limitation)."""
    reps, N, n = 200, 800, 120
    truth = 0.5 * 0.2 + 0.5 * 0.5  # P(y = 1) with x ~ Bernoulli(0.5)
    hits = {"dsl": 0, "ppi": 0}
    for r in range(reps):
        x, y, score, u = population(N=N, seed=1000 + r, bias=0.2)
        idx, pi = weighted_sample(u, n, seed=r)
        for row in inf.mean_estimates(y[idx], score, idx, pi, methods=["ppi", "dsl"]):
            hits[row["method"]] += row["ci_low"] <= truth <= row["ci_high"]
    tol = 3 * math.sqrt(0.95 * 0.05 / reps)
    assert abs(hits["dsl"] / reps - 0.95) <= tol
    assert hits["ppi"] / reps < 0.95 - tol


# -- tables --------------------------------------------------------------------------------------------


def test_prevalence_table_per_label_and_stratum():
    x, y, score, u = population(N=500, seed=10)
    idx = np.random.default_rng(2).choice(500, 100, replace=False)
    pi = np.full(100, 0.2)
    t = inf.estimate_prevalence(
        {"a": y[idx], "b": 1 - y[idx]}, {"a": score, "b": 1 - score}, idx, pi, strata={"x": x}, design="uniform"
    )
    assert t.columns == list(inf.COLUMNS) and t.height == 2 * 3 * 4
    assert set(t["stratum"]) == {"", "x=0", "x=1"}
    sub = t.filter((pl.col("label") == "a") & (pl.col("stratum") == "x=1") & (pl.col("method") == "dsl"))
    inside = x[idx] == 1
    rows = np.flatnonzero(x == 1)
    new = np.searchsorted(rows, idx[inside])
    (ref,) = inf.mean_estimates(y[idx][inside], score[x == 1], new, pi[inside], methods=["dsl"])
    assert sub["estimate"][0] == pytest.approx(ref["estimate"]) and sub["n_labelled"][0] == inside.sum()
    assert sub["n_unlabelled"][0] == (x == 1).sum()
    a = t.filter((pl.col("label") == "a") & (pl.col("stratum") == ""))
    b = t.filter((pl.col("label") == "b") & (pl.col("stratum") == ""))
    assert a["estimate"].to_numpy() + b["estimate"].to_numpy() == pytest.approx(np.ones(4))
    assert t.filter(pl.col("method") == "ppi")["lambda"].null_count() == 0
    assert t.filter(pl.col("method") != "ppi")["lambda"].null_count() == 18


def test_design_matrix_from_a_formula():
    df = pl.DataFrame({"chamber": ["HR", "S", "S", "HR"], "year": [2001, 2002, 2003, 2004], "k": [1, 1, 1, 1]})
    label, X, terms = inf.design_matrix(df, "label == 'Health' ~ chamber + year")
    assert label == "Health" and terms == ["Intercept", "chamber[T.S]", "year"]
    assert X[:, 1].tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="not in the corpus"):
        inf.design_matrix(df, 'label == "Health" ~ party')
    with pytest.raises(ValueError, match="collinear"):
        inf.design_matrix(df, 'label == "Health" ~ chamber + k')
    with pytest.raises(ValueError, match="label =="):
        inf.design_matrix(df, "Health ~ chamber")


# -- planning ------------------------------------------------------------------------------------------


def test_kappa_variance_equals_statsmodels_and_the_plan_reaches_the_width():
    from statsmodels.stats.inter_rater import cohens_kappa

    table = planning.agreement_table(0.8, [0.5, 0.3, 0.2])
    assert table.sum(0) == pytest.approx([0.5, 0.3, 0.2]) and np.trace(table) == pytest.approx(0.8)
    res = cohens_kappa(table * 250)
    assert math.sqrt(planning.kappa_variance(table) / 250) == pytest.approx(res.std_kappa, rel=1e-10)
    plan = planning.plan_sample_size(0.05, estimand="kappa", agreement=0.8, n_categories=4)
    var1 = planning.kappa_variance(planning.agreement_table(0.8, [0.25] * 4))
    assert Z95 * math.sqrt(var1 / plan["n"]) <= 0.05 < Z95 * math.sqrt(var1 / (plan["n"] - 1))
    assert plan["kappa"] == pytest.approx((0.8 - 0.25) / 0.75)
    same = planning.plan_sample_size(0.05, estimand="kappa", kappa=plan["kappa"], n_categories=4)
    assert same["n"] == plan["n"]


def test_prevalence_plan_classical_and_ppi():
    r = planning.plan_sample_size(0.03, prevalence=0.3, accuracy=0.9, n_unlabelled=5000)
    assert r["n_classical"] == math.ceil(Z95**2 * 0.21 / 0.03**2)
    vy, cov, N = 0.21, 0.21 - 0.05, 5000

    def var(n):
        lam = cov / (vy * (1 + n / N))
        return (vy - 2 * lam * cov + lam**2 * vy) / n + lam**2 * vy / N

    n = r["n_ppi"]
    assert Z95 * math.sqrt(var(n)) <= 0.03 < Z95 * math.sqrt(var(n - 1))
    assert n < r["n_classical"] / 2 and r["n_dsl"] >= n
    worthless = planning.plan_sample_size(0.03, prevalence=0.3, correlation=0.0, n_unlabelled=5000)
    assert worthless["n_ppi"] == worthless["n_classical"] and worthless["lambda"] == 0


def test_ppi_plan_matches_the_simulated_width():
    """The planned n gives the planned half-width, on average, in simulated samples."""
    p, acc, N, h = 0.3, 0.9, 4000, 0.04
    r = planning.plan_sample_size(h, prevalence=p, accuracy=acc, n_unlabelled=N)
    rng = np.random.default_rng(0)
    widths = []
    for _ in range(30):
        y = (rng.random(N) < p).astype(float)
        flip = rng.random(N) < np.where(y == 1, (1 - acc) / 2 / p, (1 - acc) / 2 / (1 - p))  # balanced errors
        f = np.where(flip, 1 - y, y)
        idx = rng.choice(N, r["n_ppi"], replace=False)
        (row,) = inf.mean_estimates(y[idx], f, idx, np.full(len(idx), len(idx) / N), methods=["ppi"])
        widths.append((row["ci_high"] - row["ci_low"]) / 2)
    assert np.mean(widths) == pytest.approx(h, rel=0.15)


# -- the command line ----------------------------------------------------------------------------------


runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    """A corpus of 300 documents, long-format probability predictions, a labelled sample of 60 with pi."""
    rng = np.random.default_rng(11)
    N = 300
    ids = [f"d{i}" for i in range(N)]
    chamber = rng.choice(["HR", "S"], N)
    gold = np.where(rng.random(N) < np.where(chamber == "S", 0.4, 0.2), "health", "other")
    p_health = np.clip(np.where(gold == "health", 0.7, 0.2) + rng.normal(0, 0.1, N), 0.01, 0.99)
    pl.DataFrame({"doc_id": ids, "chamber": chamber, "text": ["t"] * N}).write_csv(tmp_path / "corpus.csv")
    pred = pl.DataFrame(
        {
            "doc_id": ids * 2,
            "label": ["health"] * N + ["other"] * N,
            "prob": np.concatenate([p_health, 1 - p_health]),
            "chosen": np.concatenate([p_health >= 0.5, p_health < 0.5]),
        }
    )
    pred.write_parquet(tmp_path / "pred.parquet")
    s = inf.draw_sample(ids, 60, "uncertainty", seed=1, uncertainty=1 - np.maximum(p_health, 1 - p_health))
    lab = s.filter("labelled").join(pl.DataFrame({"doc_id": ids, "label": gold}), on="doc_id")
    lab.select("doc_id", "label", "pi").write_csv(tmp_path / "sample.csv")
    return tmp_path


def infer(files, *extra):
    return runner.invoke(
        app,
        [
            "infer",
            "--predictions",
            str(files / "pred.parquet"),
            "--sample",
            str(files / "sample.csv"),
            "--out",
            str(files / "out"),
            *extra,
        ],
    )


def test_infer_writes_the_results_contract(files):
    res = infer(
        files,
        "--corpus",
        str(files / "corpus.csv"),
        "--strata",
        "chamber",
        "--formula",
        'label == "health" ~ chamber',
        "--design",
        "uncertainty",
    )
    assert res.exit_code == 0, res.output
    t = pl.read_csv(files / "out" / "estimates.csv")
    assert t.columns == list(inf.COLUMNS)
    assert set(t["method"]) == set(inf.METHODS) and set(t["estimand"]) == {"prevalence", "regression"}
    assert set(t["stratum"].fill_null("")) == {"", "chamber=HR", "chamber=S"}
    assert t.filter(pl.col("estimand") == "regression")["term"].unique().sort().to_list() == [
        "Intercept",
        "chamber[T.S]",
    ]
    assert set(t["design"]) == {"uncertainty"} and t["n_unlabelled"].max() == 300
    assert "surrogate: probabilities" in res.output and "health" in res.output
    only = infer(files, "--label", "health", "--method", "dsl", "--surrogate", "hard")
    assert only.exit_code == 0, only.output
    t = pl.read_csv(files / "out" / "estimates.csv")
    assert t.height == 1 and t["method"][0] == "dsl" and "0/1 labels" in only.output


def test_infer_without_pi_takes_a_simple_random_sample(files):
    pl.read_csv(files / "sample.csv").drop("pi").write_csv(files / "sample.csv")
    res = infer(files)
    assert res.exit_code == 0, res.output
    assert "pi = n/N" in res.output
    assert set(pl.read_csv(files / "out" / "estimates.csv")["design"]) == {"uniform"}


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing column", ["sample.csv: no 'label' column", "fix:"]),
        ("unknown doc_id", ["labelled document(s) are not in the predictions", "unknown doc_id 'nope'", "row 2"]),
        ("pi out of range", ["inclusion probabilities outside (0, 1]", "row 3, column 'pi': pi = 1.5", "fix:"]),
        ("unknown label", ["--label: unknown label(s) 'Health'", "fix: give labels that occur"]),
        ("bad formula", ["--formula:", "column(s) 'party' not in the corpus", "fix:"]),
        ("malformed formula", ["--formula:", "is not of the form label ==", "fix:"]),
    ],
)
def test_infer_bad_input_exits_2_with_a_message(files, case, expected):
    s = pl.read_csv(files / "sample.csv")
    extra: list[str] = []
    if case == "missing column":
        s.drop("label").write_csv(files / "sample.csv")
    elif case == "unknown doc_id":
        s.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("nope")).otherwise("doc_id").alias("doc_id")
        ).write_csv(files / "sample.csv")
    elif case == "pi out of range":
        s.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(1.5).otherwise("pi").alias("pi")).write_csv(
            files / "sample.csv"
        )
    elif case == "unknown label":
        extra = ["--label", "Health"]
    elif case == "bad formula":
        extra = ["--corpus", str(files / "corpus.csv"), "--formula", 'label == "health" ~ party']
    else:
        extra = ["--corpus", str(files / "corpus.csv"), "--formula", "health ~ chamber"]
    res = infer(files, *extra)
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output, res.output
    assert "Traceback" not in res.output
    assert not (files / "out" / "estimates.csv").exists()


def test_plan_command():
    res = runner.invoke(
        app, ["plan", "--half-width", "0.05", "--estimand", "kappa", "--kappa", "0.7", "--categories", "5"]
    )
    assert res.exit_code == 0, res.output
    n = planning.plan_sample_size(0.05, estimand="kappa", kappa=0.7, n_categories=5)["n"]
    assert f"label {n} documents" in res.output
    res = runner.invoke(
        app, ["plan", "--half-width", "0.03", "--prevalence", "0.3", "--accuracy", "0.9", "--corpus-size", "5000"]
    )
    assert res.exit_code == 0, res.output
    r = planning.plan_sample_size(0.03, prevalence=0.3, accuracy=0.9, n_unlabelled=5000)
    assert f"classical (labelled only)  {r['n_classical']}" in res.output and str(r["n_ppi"]) in res.output
    bad = runner.invoke(app, ["plan", "--half-width", "0.03", "--prevalence", "0.3", "--accuracy", "0.2"])
    assert bad.exit_code == 2 and "not possible" in bad.output and "Traceback" not in bad.output


def test_a_labelled_column_word_that_is_neither_true_nor_false_is_refused(files):
    """'yes' in the sample's labelled column was once read as 'not labelled' and the row silently dropped."""
    s = pl.read_csv(files / "sample.csv")
    s.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("yes")).otherwise(pl.lit("true")).alias("labelled")
    ).write_csv(files / "sample.csv")
    res = infer(files)
    assert res.exit_code == 2, res.output
    assert "column 'labelled' must be true or false" in res.output and "row 4" in res.output
    assert "Traceback" not in res.output
    s.with_columns(pl.lit("TRUE").alias("labelled")).write_csv(files / "sample.csv")
    assert infer(files).exit_code == 0
