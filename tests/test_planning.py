"""Planning the labelled sample for a regression coefficient from a pilot (`llmcoder plan --estimand coefficient`).

The plan is checked against the estimators themselves: at the pilot's size each variance curve gives the
SE the estimator reports; in simulated corpora with a known linear relation and a surrogate of known
accuracy, samples of the planned size give intervals of the planned half-width on average, and the
curves follow the realised SEs from the pilot's size to most of the corpus (where the corpus' fixed
size N matters and a plain ``1/n`` rescaling would be far off).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from llmcoder import inference as inf
from llmcoder import planning
from llmcoder.cli import app

TERMS = ["Intercept", "party[T.b]", "party[T.c]"]
Z95 = 1.959963984540054
runner = CliRunner()


def corpus(N: int, surrogate: str, seed: int = 0, accuracy: float = 0.95):
    """A corpus of N documents in three parties, a 0/1 label linear in party, and a surrogate of it.

    ``flip``: the label with each document's value flipped with probability ``1 - accuracy``;
    ``prob``: a noisy probability; ``perfect``: the label itself; ``random``: 0/1 unrelated to the label.
    """
    rng = np.random.default_rng(seed)
    party = rng.choice(3, N, p=[0.4, 0.35, 0.25])
    X = np.column_stack([np.ones(N), party == 1, party == 2]).astype(float)
    y = (rng.random(N) < 0.2 + 0.15 * (party == 1) + 0.3 * (party == 2)).astype(float)
    if surrogate == "flip":
        f = np.where(rng.random(N) < 1 - accuracy, 1 - y, y)
    elif surrogate == "prob":
        f = np.clip(np.where(y == 1, 0.7, 0.25) + rng.normal(0, 0.15, N), 0.01, 0.99)
    elif surrogate == "perfect":
        f = y.copy()
    else:
        f = (rng.random(N) < 0.3).astype(float)
    return X, y, f


def uniform_pilot(N: int, n0: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.sort(np.random.default_rng(seed).choice(N, n0, replace=False))
    return idx, np.full(n0, n0 / N)


def realised(X, y, f, n: int, method: str, reps: int, rng) -> np.ndarray:
    """Mean over ``reps`` uniform samples of ``n`` of each coefficient's SE^2 as the estimator reports it."""
    N = len(f)
    out = []
    for _ in range(reps):
        s = np.sort(rng.choice(N, n, replace=False))
        rows = inf.regression_estimates(y[s], f, X, s, np.full(n, n / N), methods=[method])
        out.append([r["se"] ** 2 for r in rows])
    return np.mean(out, axis=0)


@pytest.mark.parametrize("model,surrogate", [("linear", "flip"), ("logistic", "prob")])
def test_each_curve_gives_the_estimators_own_se_at_the_pilots_size(model, surrogate):
    """Under an unequal-probability pilot too: the decomposition starts where the real estimator is."""
    X, y, f = corpus(1500, surrogate, seed=3)
    u = 1 - np.maximum(f, 1 - f) + 0.05
    pi = inf.inclusion_probabilities(1500, 250, "uncertainty", uncertainty=u)
    idx = np.flatnonzero(np.random.default_rng(4).random(1500) < pi)
    curves = planning.coefficient_variance_curves(y[idx], f, X, idx, pi[idx], model=model)
    rows = inf.regression_estimates(y[idx], f, X, idx, pi[idx], model=model, methods=list(planning.PLAN_METHODS))
    for m, c in curves.items():
        se = np.array([r["se"] for r in rows if r["method"] == m])
        assert c.se_pilot == pytest.approx(se, rel=1e-12)
        if m == "classical":  # the corpus' bread in place of the pilot's: equal but for the pilot's covariate mix
            assert np.sqrt(c.variance(len(idx))) == pytest.approx(se, rel=0.15)
        else:
            assert np.sqrt(c.variance(len(idx))) == pytest.approx(se, rel=1e-8)
    lam = next(r["lambda"] for r in rows if r["method"] == "ppi")
    assert curves["ppi"].lam(len(idx)) == pytest.approx(lam, rel=1e-8)
    if model == "linear":  # tuned inside (0, 1) here (clipped at 1 in the logistic case)
        assert 0 < lam < 1 and curves["ppi"].lam(1500) < lam  # lambda shrinks as the labelled share grows


@pytest.mark.parametrize("model", ["linear", "logistic"])
def test_a_pilot_of_the_whole_corpus_gives_the_classical_se(model):
    """Where the pilot's covariate mix is the corpus' (every document labelled), classical is exact too."""
    X, y, f = corpus(400, "prob", seed=6)
    idx = np.arange(400)
    curves = planning.coefficient_variance_curves(y, f, X, idx, np.ones(400), model=model, methods=["classical"])
    assert np.sqrt(curves["classical"].variance(400)) == pytest.approx(curves["classical"].se_pilot, rel=1e-8)


def test_planned_n_gives_the_planned_half_width_in_simulated_samples():
    """A known linear relation and a 0/1 surrogate right on 90% of documents; pilot of 400 of 2,000."""
    N, h = 2000, 0.06
    X, y, f = corpus(N, "flip", accuracy=0.9)
    idx, pi = uniform_pilot(N, 400, seed=1)
    plan = planning.plan_coefficient(y[idx], f, X, idx, pi, half_width=h, terms=TERMS)
    assert plan.height == 9 and plan["reachable"].all()
    n = {(r["term"], r["method"]): r["n"] for r in plan.iter_rows(named=True)}
    assert n["party[T.b]", "ppi"] < 0.6 * n["party[T.b]", "classical"]  # the surrogate is worth labels
    curves = planning.coefficient_variance_curves(y[idx], f, X, idx, pi)
    rng = np.random.default_rng(2)
    for r in plan.filter(pl.col("term") != "Intercept").iter_rows(named=True):
        j = TERMS.index(r["term"])
        one_less = Z95 * np.sqrt(curves[r["method"]].variance(r["n"] - 1)[j])
        assert r["ci_half_width"] <= h < one_less  # the smallest n that reaches h
        se2 = realised(X, y, f, r["n"], r["method"], reps=20, rng=rng)
        width = Z95 * np.sqrt(se2[j])
        assert width == pytest.approx(h, rel=0.12), (r["term"], r["method"], r["n"], width)


def test_curves_follow_the_realised_variance_as_n_nears_the_corpus():
    """From the pilot's 400 to 1,600 of 2,000 documents: PPI++'s and DSL's variance fall less than 1/n
    (the corpus-size part stays), and the curves say by how much. (A probability surrogate: every labelled
    document tells of its error; with 0/1 errors on 5% of documents DSL's labelled part rests on ~20.)"""
    N, n0, n1 = 2000, 400, 1600
    X, y, f = corpus(N, "prob")
    idx, pi = uniform_pilot(N, n0, seed=1)
    curves = planning.coefficient_variance_curves(y[idx], f, X, idx, pi)
    rng = np.random.default_rng(5)
    for m in ("ppi", "dsl"):
        predicted = curves[m].variance(n1) / curves[m].variance(n0)
        assert np.all(predicted > 1.2 * n0 / n1)  # a plain rescaling of the pilot's SE would be off
        seen = realised(X, y, f, n1, m, 20, rng) / realised(X, y, f, n0, m, 20, rng)
        assert predicted == pytest.approx(seen, rel=0.1), m


def test_a_perfect_surrogate_saves_most_labels_and_a_random_one_none():
    N = 3000
    idx, pi = uniform_pilot(N, 300, seed=1)
    X, y, f = corpus(N, "perfect")
    good = planning.plan_coefficient(y[idx], f, X, idx, pi, half_width=0.08, terms=TERMS)
    X, y, f = corpus(N, "random")
    bad = planning.plan_coefficient(y[idx], f, X, idx, pi, half_width=0.08, terms=TERMS)
    for term in TERMS[1:]:
        n = {r["method"]: r["n"] for r in good.filter(pl.col("term") == term).iter_rows(named=True)}
        assert n["ppi"] < n["classical"] / 5 and n["dsl"] < n["classical"] / 5
        n = {r["method"]: r["n"] for r in bad.filter(pl.col("term") == term).iter_rows(named=True)}
        assert n["ppi"] == pytest.approx(n["classical"], rel=0.1)
        assert n["dsl"] > 1.3 * n["classical"]  # DSL cannot turn a useless surrogate down


def test_an_unreachable_width_says_so():
    N = 1000
    X, y, f = corpus(N, "flip")
    idx, pi = uniform_pilot(N, 200, seed=1)
    plan = planning.plan_coefficient(y[idx], f, X, idx, pi, half_width=0.01, terms=TERMS)
    assert not plan["reachable"].any() and plan["n"].null_count() == plan.height
    assert (plan["ci_half_width"] > 0.01).all()
    with pytest.raises(ValueError, match="half_width"):
        planning.plan_coefficient(y[idx], f, X, idx, pi, half_width=0)


# -- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """A corpus of 600 documents in two chambers, probability predictions, a uniform pilot of 120 with pi."""
    rng = np.random.default_rng(11)
    N = 600
    ids = [f"d{i}" for i in range(N)]
    chamber = rng.choice(["HR", "S"], N)
    gold = np.where(rng.random(N) < np.where(chamber == "S", 0.4, 0.2), "health", "other")
    p = np.clip(np.where(gold == "health", 0.7, 0.2) + rng.normal(0, 0.1, N), 0.01, 0.99)
    pl.DataFrame({"doc_id": ids, "chamber": chamber}).write_csv(tmp_path / "corpus.csv")
    pl.DataFrame(
        {"doc_id": ids * 2, "label": ["health"] * N + ["other"] * N, "prob": np.concatenate([p, 1 - p])}
    ).write_parquet(tmp_path / "pred.parquet")
    s = inf.draw_sample(ids, 120, "uniform", seed=1)
    lab = s.filter("labelled").join(pl.DataFrame({"doc_id": ids, "label": gold}), on="doc_id")
    lab.select("doc_id", "label", "pi").write_csv(tmp_path / "sample.csv")
    return tmp_path


def plan_cli(files, *extra, formula='label == "health" ~ chamber', sample="sample.csv"):
    args = ["plan", "--estimand", "coefficient", "--half-width", "0.1", "--formula", formula]
    for opt, name in (("--predictions", "pred.parquet"), ("--sample", sample), ("--corpus", "corpus.csv")):
        args += [opt, str(files / name)]
    return runner.invoke(app, [*args, *extra])


def test_plan_coefficient_command_prints_the_plan(files):
    res = plan_cli(files)
    assert res.exit_code == 0, res.output
    plan, _ = planning.plan_coefficient_files(
        files / "pred.parquet", files / "sample.csv", files / "corpus.csv", 'label == "health" ~ chamber', 0.1
    )
    assert plan["term"].to_list() == ["chamber[T.S]"] * 3  # the intercept is left out unless asked for
    n = dict(zip(plan["method"], plan["n"], strict=True))
    assert "pilot 120 labelled of 600" in res.output
    assert f"chamber[T.S]  classical (labelled only)  {n['classical']}" in res.output
    lam = plan.filter(pl.col("method") == "ppi")["lambda"][0]
    assert f"PPI++ (lambda {lam:.2f})" in res.output and f"DSL                        {n['dsl']}" in res.output
    res = plan_cli(files, "--term", "Intercept", "--half-width", "0.001")
    assert res.exit_code == 0, res.output
    assert res.output.count("not reachable") == 3 and "chamber[T.S]" not in res.output


@pytest.mark.parametrize(
    "extra,kwargs,expected",
    [
        ((), {"sample": "nowhere.csv"}, ["nowhere.csv: file not found", "fix: check the path"]),
        ((), {"formula": 'label == "health" ~ party'}, ["--formula", "'party' not in the corpus", "fix:"]),
        ((), {"formula": "health ~ chamber"}, ["--formula", 'label == "<label>"', "fix:"]),
        ((), {"formula": 'label == "sport" ~ chamber'}, ["--formula", "unknown label 'sport'", "health, other"]),
        (("--term", "chamber[T.X]"), {}, ["--term", "no term 'chamber[T.X]'", "Intercept, chamber[T.S]"]),
        (("--model", "probit"), {}, ["--model", "'probit'", "linear or logistic"]),
    ],
)
def test_plan_coefficient_command_refuses_bad_input(files, extra, kwargs, expected):
    res = plan_cli(files, *extra, **kwargs)
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output, res.output
    assert "Traceback" not in res.output


def test_plan_coefficient_needs_a_pilot():
    res = runner.invoke(app, ["plan", "--estimand", "coefficient", "--half-width", "0.1", "--formula", "x"])
    assert res.exit_code == 2 and "--predictions" in res.output and "--sample" in res.output
    assert "Traceback" not in res.output
