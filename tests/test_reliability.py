"""llmcoder.reliability against published values, irrCAC, krippendorff and sklearn."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import krippendorff
import numpy as np
import polars as pl
import pytest
from irrCAC.datasets import raw_4raters
from sklearn.metrics import cohen_kappa_score

from llmcoder.errors import InputError
from llmcoder.reliability import (
    _alpha_bootstrap,
    _delta,
    _ordinal_delta,
    _unit_counts,
    agreement_with_gold,
    alpha_from_counts,
    cohen_kappa_se,
    human_ceiling,
    krippendorff_alpha_sets,
    masi_distance,
    pairwise_cohen,
    reliability,
    reliability_multilabel,
)

DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists, 5 diagnoses (1 depression, 2 personality
# disorder, 3 schizophrenia, 4 neurosis, 5 other), as the R package irr ships it (`diagnoses`) and
# statsmodels' test suite copies it (statsmodels/stats/tests/test_inter_rater.py). Published
# kappa 0.430; R irr::kappam.fleiss(diagnoses) gives 0.4302445.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]


def _long_from_wide(mat, missing=np.nan) -> pl.DataFrame:
    rows = []
    for u, row in enumerate(np.asarray(mat, dtype=float)):
        for c, v in enumerate(row):
            if not np.isnan(v):
                rows.append((f"u{u}", f"c{c}", str(int(v)) if float(v).is_integer() else str(v)))
    return pl.DataFrame(rows, schema=["doc_id", "coder", "label"], orient="row")


def _coef(table: pl.DataFrame, name: str) -> dict:
    return table.filter(pl.col("coefficient") == name).row(0, named=True)


@pytest.fixture
def krippendorff_2011() -> pl.DataFrame:
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers x
    12 units, values 1-5, with missing values (irrCAC.datasets.raw_4raters, cac.raw4raters in R)."""
    return _long_from_wide(raw_4raters().to_numpy())


def _random_ratings(seed: int, n: int = 200, coders: int = 4, q: int = 3, p_missing: float = 0.3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, q + 1, n)
    x = np.where(rng.random((n, coders)) < 0.6, truth[:, None], rng.integers(1, q + 1, (n, coders)))
    x = x.astype(float)
    x[rng.random((n, coders)) < p_missing] = np.nan
    return x


# -- published values ----------------------------------------------------------------------------


def test_krippendorff_2011_example(krippendorff_2011):
    t = reliability(krippendorff_2011)
    # Krippendorff (2011): nominal alpha = 0.743
    assert round(_coef(t, "krippendorff_alpha")["estimate"], 4) == 0.7434
    assert _coef(t, "krippendorff_alpha")["method"].endswith("irrCAC")
    # R irrCAC on cac.raw4raters (values the afergadis/irrCAC tests compare against):
    assert round(_coef(t, "krippendorff_alpha")["se"], 3) == 0.146
    assert round(_coef(t, "krippendorff_alpha")["ci_low"], 3) == 0.419
    assert round(_coef(t, "fleiss_kappa")["estimate"], 4) == 0.7612
    assert round(_coef(t, "fleiss_kappa")["se"], 4) == 0.1530
    assert round(_coef(t, "gwet_ac1")["estimate"], 4) == 0.7754
    assert round(_coef(t, "gwet_ac1")["se"], 4) == 0.1429
    assert round(_coef(t, "conger_kappa")["estimate"], 4) == 0.7628
    assert round(_coef(t, "brennan_prediger")["estimate"], 4) == 0.7727
    assert round(_coef(t, "brennan_prediger")["se"], 3) == 0.145
    assert round(_coef(t, "percent_agreement")["estimate"], 4) == 0.8182
    assert t["n_units"][0] == 12 and t["n_coders"][0] == 4
    assert t["coefficient"].to_list() == [
        "percent_agreement",
        "cohen_kappa",
        "fleiss_kappa",
        "krippendorff_alpha",
        "gwet_ac1",
        "conger_kappa",
        "brennan_prediger",
    ]


def test_krippendorff_2011_other_levels(krippendorff_2011):
    # Krippendorff (2011): ordinal 0.815, interval 0.849
    o = _coef(reliability(krippendorff_2011, level="ordinal"), "krippendorff_alpha")
    i = _coef(reliability(krippendorff_2011, level="interval"), "krippendorff_alpha")
    assert round(o["estimate"], 3) == 0.815 and "bootstrap" in o["method"]
    assert o["ci_low"] < o["estimate"] <= o["ci_high"]
    assert round(i["estimate"], 3) == 0.849 and i["method"].endswith("irrCAC")


def test_fleiss_1971():
    t = reliability(_long_from_wide(FLEISS_1971))
    assert round(_coef(t, "fleiss_kappa")["estimate"], 4) == 0.4302
    assert t["n_units"][0] == 30 and t["n_coders"][0] == 6


def test_cohen_kappa_ase_sas_example():
    """SAS PROC FREQ example (as in statsmodels' tests): kappa 0.4842, ASE 0.1380, CI
    0.2137-0.7547; Cicchetti-Allison (linear) weighted kappa 0.4701, ASE 0.1457, CI 0.1845-0.7558."""
    table = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    k, se = cohen_kappa_se(table)
    assert (round(k, 4), round(se, 4)) == (0.4842, 0.1380)
    rows = [
        (f"u{i}", a, b)
        for i, (a, b) in enumerate((a, b) for a in range(3) for b in range(3) for _ in range(table[a, b]))
    ]
    ratings = pl.DataFrame(
        [(u, "r1", str(a + 1)) for u, a, _ in rows] + [(u, "r2", str(b + 1)) for u, _, b in rows],
        schema=["doc_id", "coder", "label"],
        orient="row",
    )
    c = _coef(reliability(ratings, categories=["1", "2", "3"]), "cohen_kappa")
    assert round(c["estimate"], 4) == 0.4842 and round(c["se"], 4) == 0.1380
    assert (round(c["ci_low"], 4), round(c["ci_high"], 4)) == (0.2137, 0.7547)
    w = _coef(reliability(ratings, level="ordinal", categories=["1", "2", "3"]), "cohen_kappa")
    assert round(w["estimate"], 4) == 0.4701 and round(w["se"], 4) == 0.1457
    assert (round(w["ci_low"], 4), round(w["ci_high"], 4)) == (0.1845, 0.7558)


# -- against the libraries -----------------------------------------------------------------------


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
@pytest.mark.parametrize("seed", [0, 1])
def test_alpha_from_counts_equals_krippendorff(level, seed):
    x = _random_ratings(seed)
    values = np.array([1.0, 2.0, 3.0])
    counts = _unit_counts(x, values)
    delta = _delta(level, values)
    got = alpha_from_counts(counts, delta if delta is not None else _ordinal_delta)
    assert got == pytest.approx(krippendorff.alpha(x.T, level_of_measurement=level), abs=1e-12)
    est = _coef(reliability(_long_from_wide(x), level=level), "krippendorff_alpha")["estimate"]
    assert est == pytest.approx(got, abs=1e-12)


def test_alpha_bootstrap_equals_explicit_resampling():
    x = _random_ratings(3, n=60)
    values = np.array([1.0, 2.0, 3.0])
    counts = _unit_counts(x, values)
    pairable = counts[counts.sum(1) >= 2]
    for delta in (_delta("nominal", values), _ordinal_delta):
        se, lo, hi = _alpha_bootstrap(counts, delta, 50, 0.9, 7)
        idx = np.random.default_rng(7).integers(0, len(pairable), size=(50, len(pairable)))
        boot = np.array([alpha_from_counts(pairable[i], delta) for i in idx])
        assert se == pytest.approx(boot.std(ddof=1))
        assert (lo, hi) == pytest.approx(tuple(np.quantile(boot, [0.05, 0.95])))


def test_two_coders_match_sklearn_and_krippendorff():
    x = _random_ratings(4, coders=2, p_missing=0.1)
    t = reliability(_long_from_wide(x))
    both = ~np.isnan(x).any(1)
    assert _coef(t, "cohen_kappa")["estimate"] == pytest.approx(cohen_kappa_score(x[both, 0], x[both, 1]))
    assert _coef(t, "krippendorff_alpha")["estimate"] == pytest.approx(
        krippendorff.alpha(x.T, level_of_measurement="nominal")
    )
    ti = reliability(_long_from_wide(x), level="interval")
    assert _coef(ti, "cohen_kappa")["estimate"] == pytest.approx(
        cohen_kappa_score(x[both, 0], x[both, 1], weights="quadratic")
    )


def test_pairwise_cohen_matches_sklearn_and_mean():
    x = _random_ratings(5, coders=4)
    ratings = _long_from_wide(x)
    pw = pairwise_cohen(ratings)
    assert pw.height == 6
    for (i, j), row in zip(itertools.combinations(range(4), 2), pw.iter_rows(named=True), strict=True):
        both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
        assert (row["coder_a"], row["coder_b"]) == (f"c{i}", f"c{j}")
        assert row["n_units"] == both.sum()
        assert row["kappa"] == pytest.approx(cohen_kappa_score(x[both, i], x[both, j]))
        assert row["percent_agreement"] == pytest.approx((x[both, i] == x[both, j]).mean())
        assert row["se"] == pytest.approx(
            cohen_kappa_se(np.histogram2d(x[both, i], x[both, j], bins=[[0.5, 1.5, 2.5, 3.5]] * 2)[0])[1]
        )
    c = _coef(reliability(ratings), "cohen_kappa")
    assert c["estimate"] == pytest.approx(pw["kappa"].mean())
    assert c["ci_low"] < c["estimate"] < c["ci_high"]
    lin = pairwise_cohen(ratings, level="ordinal")
    both = ~np.isnan(x[:, 0]) & ~np.isnan(x[:, 1])
    assert lin["kappa"][0] == pytest.approx(cohen_kappa_score(x[both, 0], x[both, 1], weights="linear"))


def test_duplicates_are_named_or_first_kept():
    r = pl.DataFrame(
        {"doc_id": ["1", "1", "1", "2", "2"], "coder": ["a", "a", "b", "a", "b"], "label": ["x", "y", "x", "y", "y"]}
    )
    with pytest.raises(InputError, match="doc_id '1', coder 'a': 2 ratings"):
        reliability(r)
    t = reliability(r, duplicates="first")
    assert _coef(t, "percent_agreement")["estimate"] == 1.0


def test_input_errors():
    with pytest.raises(InputError, match="only one coder"):
        reliability(pl.DataFrame({"doc_id": ["1", "2"], "coder": ["a", "a"], "label": ["x", "y"]}))
    with pytest.raises(InputError, match="no unit is rated by two coders"):
        reliability(pl.DataFrame({"doc_id": ["1", "2"], "coder": ["a", "b"], "label": ["x", "y"]}))
    with pytest.raises(InputError, match="column"):
        reliability(pl.DataFrame({"doc_id": ["1"], "rater": ["a"], "label": ["x"]}))
    with pytest.raises(InputError, match="ordered categories"):
        reliability(pl.DataFrame({"doc_id": ["1", "1"], "coder": ["a", "b"], "label": ["lo", "hi"]}), level="ordinal")
    with pytest.raises(InputError, match="not in categories"):
        reliability(
            pl.DataFrame({"doc_id": ["1", "1"], "coder": ["a", "b"], "label": ["x", "z"]}), categories=["x", "y"]
        )


def test_categories_fix_order_for_ordinal_labels():
    x = _random_ratings(6)
    names = {1.0: "low", 2.0: "mid", 3.0: "high"}
    named = _long_from_wide(x).with_columns(pl.col("label").replace({"1": "low", "2": "mid", "3": "high"}))
    a = reliability(named, level="ordinal", categories=["low", "mid", "high"])
    b = reliability(_long_from_wide(x), level="ordinal")
    np.testing.assert_allclose(a["estimate"], b["estimate"])
    assert names  # mapping documented above


# -- multi-label ---------------------------------------------------------------------------------


def test_masi_distance_values():
    assert masi_distance({"a"}, {"a"}) == 0.0
    assert masi_distance(set(), set()) == 0.0
    assert masi_distance({"a", "b"}, {"a"}) == pytest.approx(1 - 0.5 * 2 / 3)
    assert masi_distance({"a", "b"}, {"b", "c"}) == pytest.approx(1 - (1 / 3) * (1 / 3))
    assert masi_distance({"a"}, {"b"}) == 1.0
    assert masi_distance(set(), {"b"}) == 1.0


@pytest.mark.parametrize("distance", ["nominal", "jaccard", "masi"])
def test_set_alpha_on_single_labels_equals_krippendorff_nominal(distance):
    x = _random_ratings(8, coders=5)
    a = krippendorff_alpha_sets(_long_from_wide(x), distance=distance, n_boot=0)
    assert a["estimate"] == pytest.approx(krippendorff.alpha(x.T, level_of_measurement="nominal"), abs=1e-12)


def _multilabel_ratings(seed=0, n=150, labels=4, coders=3):
    rng = np.random.default_rng(seed)
    y = rng.random((n, labels)) < 0.35
    rows, sets = [], {}
    for c in range(coders):
        p = np.where(rng.random((n, labels)) < 0.85, y, ~y)
        for i in range(n):
            if rng.random() < 0.15:
                continue
            labs = [f"l{j}" for j in np.flatnonzero(p[i])]
            sets[(f"d{i}", f"c{c}")] = frozenset(labs)
            rows += [(f"d{i}", f"c{c}", lab) for lab in labs] or [(f"d{i}", f"c{c}", None)]
    return pl.DataFrame(rows, schema=["doc_id", "coder", "label"], orient="row"), sets


def test_masi_alpha_against_direct_definition():
    ratings, sets = _multilabel_ratings()
    a = krippendorff_alpha_sets(ratings, n_boot=100)
    units: dict[str, list[frozenset]] = {}
    for (d, _c), s in sets.items():
        units.setdefault(d, []).append(s)
    pairable = [v for v in units.values() if len(v) >= 2]
    values = [s for v in pairable for s in v]
    n = len(values)
    do = (
        sum(
            sum(masi_distance(a_, b_) for i, a_ in enumerate(v) for j, b_ in enumerate(v) if i != j) / (len(v) - 1)
            for v in pairable
        )
        / n
    )
    de = sum(masi_distance(a_, b_) for a_ in values for b_ in values) / (n * (n - 1))
    assert a["estimate"] == pytest.approx(1 - do / de)
    assert a["ci_low"] < a["estimate"] < a["ci_high"]


def test_reliability_multilabel_per_label_is_binary_reliability():
    ratings, sets = _multilabel_ratings(1)
    t = reliability_multilabel(ratings, labels=["l0", "l1", "l2", "l3", "never"], n_boot=50)
    assert t["label"].unique(maintain_order=True).to_list() == ["l0", "l1", "l2", "l3", "never", "(all)"]
    binary = pl.DataFrame(
        [(d, c, "1" if "l2" in s else "0") for (d, c), s in sets.items()],
        schema=["doc_id", "coder", "label"],
        orient="row",
    )
    ref = reliability(binary, categories=["0", "1"], n_boot=50)
    got = t.filter(pl.col("label") == "l2").drop("label")
    np.testing.assert_allclose(got["estimate"], ref["estimate"])
    never = t.filter((pl.col("label") == "never") & (pl.col("coefficient") == "percent_agreement"))
    assert never["estimate"].item() == 1.0  # everyone agrees it is absent
    masi = t.filter(pl.col("coefficient") == "krippendorff_alpha_masi")
    assert masi.height == 1 and masi["n_units"].item() == len({d for d, _ in sets})


# -- gold and ceiling ----------------------------------------------------------------------------


def test_agreement_with_gold_and_human_ceiling():
    x = _random_ratings(9, coders=3, p_missing=0.0)
    gold = pl.DataFrame({"doc_id": [f"u{i}" for i in range(len(x))], "label": x[:, 0].astype(int).astype(str)})
    pred = pl.DataFrame(
        {
            "doc_id": [f"u{i}" for i in range(len(x))] * 2,
            "coder": ["m1"] * len(x) + ["m2"] * len(x),
            "label": np.concatenate([x[:, 1], x[:, 2]]).astype(int).astype(str),
        }
    )
    t = agreement_with_gold(pred, gold, n_boot=0)
    assert t["comparison"].unique(maintain_order=True).to_list() == ["m1 vs gold", "m2 vs gold"]
    k = t.filter((pl.col("comparison") == "m1 vs gold") & (pl.col("coefficient") == "cohen_kappa"))["estimate"].item()
    assert k == pytest.approx(cohen_kappa_score(x[:, 0], x[:, 1]))
    h = human_ceiling(_long_from_wide(x), n_boot=0)
    assert {"pairwise_kappa_min", "pairwise_kappa_max"} <= set(h["coefficient"].to_list())
    kmin = _coef(h, "pairwise_kappa_min")["estimate"]
    kmax = _coef(h, "pairwise_kappa_max")["estimate"]
    assert kmin <= _coef(h, "cohen_kappa")["estimate"] <= kmax


# -- real data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def benoit() -> pl.DataFrame:
    path = DATA / "benoit_crowd_immigration" / "ratings.csv"
    if not path.is_file():
        pytest.skip(f"real data {path} absent (../shared/data sits beside the repository in CI)")
    return pl.read_csv(path, infer_schema=False)


def test_benoit_crowd_immigration_topic(benoit):
    """85 crowd raters, 6-11 ratings per sentence. The same rater sometimes rated a sentence twice
    (SOURCE.md: 2,350 pairs), so the first judgment per (sentence, rater) is kept."""
    ratings = benoit.select(pl.col("id").alias("doc_id"), pl.col("rater").alias("coder"), "label")
    with pytest.raises(InputError, match="rated more than once"):
        reliability(ratings)
    t = reliability(ratings, duplicates="first", n_boot=200)
    assert t["n_units"][0] == 7342 and t["n_coders"][0] == 85
    for row in t.iter_rows(named=True):
        assert np.isfinite([row["estimate"], row["se"], row["ci_low"], row["ci_high"]]).all(), row
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"], row
        assert 0 < row["se"] < 0.05, row
    alpha = _coef(t, "krippendorff_alpha")
    assert alpha["method"].endswith("irrCAC")  # the irrCAC and krippendorff estimates agreed
    dedup = ratings.unique(subset=["doc_id", "coder"], keep="first", maintain_order=True)
    wide = dedup.pivot(on="coder", index="doc_id", values="label")
    mat = (
        wide.drop("doc_id")
        .select(pl.all().replace_strict({"immigration": 1.0, "not_immigration": 0.0}, default=None))
        .to_numpy()
        .astype(float)
    )
    assert alpha["estimate"] == pytest.approx(krippendorff.alpha(mat.T, level_of_measurement="nominal"), abs=1e-10)
    assert 0.5 < alpha["estimate"] < 0.8


def test_benoit_stance_ordinal(benoit):
    stance = benoit.filter(pl.col("stance").is_not_null()).select(
        pl.col("id").alias("doc_id"), pl.col("rater").alias("coder"), pl.col("stance").alias("label")
    )
    t = reliability(stance, level="ordinal", categories=["open", "neutral", "closed"], duplicates="first", n_boot=200)
    alpha = _coef(t, "krippendorff_alpha")
    assert "bootstrap" in alpha["method"]
    assert alpha["ci_low"] < alpha["estimate"] < alpha["ci_high"]


def test_cli_reliability(tmp_path, krippendorff_2011):
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.stats import register

    app = typer.Typer()
    register(app)
    krippendorff_2011.write_csv(tmp_path / "ratings.csv")
    res = CliRunner().invoke(app, ["reliability", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    t = pl.read_csv(tmp_path / "r" / "reliability.csv")
    assert round(_coef(t, "krippendorff_alpha")["estimate"], 4) == 0.7434
    res = CliRunner().invoke(
        app,
        [
            "reliability",
            str(tmp_path / "ratings.csv"),
            "--out",
            str(tmp_path / "o"),
            "--level",
            "ordinal",
            "--n-boot",
            "100",
        ],
    )
    assert (
        res.exit_code == 0
        and round(_coef(pl.read_csv(tmp_path / "o" / "reliability.csv"), "krippendorff_alpha")["estimate"], 3) == 0.815
    )
    ratings, _ = _multilabel_ratings()
    ratings.write_csv(tmp_path / "ml.csv")
    res = CliRunner().invoke(
        app, ["reliability", str(tmp_path / "ml.csv"), "--out", str(tmp_path / "m"), "--multilabel", "--n-boot", "50"]
    )
    assert res.exit_code == 0, res.output
    assert "krippendorff_alpha_masi" in pl.read_csv(tmp_path / "m" / "reliability.csv")["coefficient"].to_list()
    dup = pl.concat([krippendorff_2011, krippendorff_2011.head(1)])
    dup.write_csv(tmp_path / "dup.csv")
    res = CliRunner().invoke(app, ["reliability", str(tmp_path / "dup.csv"), "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "dup.csv" in res.stderr and "rated more than once" in res.stderr
