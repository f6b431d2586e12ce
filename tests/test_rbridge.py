"""The polars <-> R bridge: exact round trips, R-made frames, calls, and a psych/sklearn kappa check."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

from conftest import shared_file

pytest.importorskip("rpy2", reason="rpy2 (and R) are needed for the R bridge")
rbridge = pytest.importorskip("llmcoder.rbridge")

try:
    rbridge.r_session()
except Exception as err:  # pragma: no cover - depends on the machine
    pytest.skip(f"embedded R does not start: {err}", allow_module_level=True)

from llmcoder.rbridge import from_r, r_call, r_library_path, to_r  # noqa: E402


def r_eval(code: str):
    """Evaluate R code (test helper only)."""
    ri = rbridge.r_session()
    return ri.baseenv["eval"](ri.parse(code))


def has_r_package(name: str) -> bool:
    return bool(r_call("base::requireNamespace", name, quietly=True)[0])


# -- round trips ---------------------------------------------------------------------------------


def test_round_trip_keeps_values_nulls_and_unicode():
    df = pl.DataFrame(
        {
            "x": [1.5, None, float("nan"), -0.0, 1e300],
            "i": [1, None, 3, -2_147_483_647, 2_147_483_647],
            "b": [True, None, False, True, None],
            "s": ["é", "日本語", None, "emoji 🙂", "é"],
            "d": [dt.date(2020, 2, 29), None, dt.date(1900, 1, 1), dt.date(1970, 1, 1), None],
        }
    )
    back = from_r(to_r(df))
    assert_frame_equal(back, df)
    assert math.isnan(back["x"][2]) and back["x"][1] is None  # NaN and NA stay distinct


def test_r_sees_the_right_types_and_na():
    df = pl.DataFrame({"x": [1.0, None], "i": [1, None], "b": [None, True], "s": ["a", None]})
    ri = rbridge.r_session()
    ri.globalenv["bridged"] = to_r(df)
    assert list(r_eval("vapply(bridged, function(v) class(v)[1], '')")) == [
        "numeric", "integer", "logical", "factor",
    ]
    assert list(r_eval("vapply(bridged, function(v) sum(is.na(v)), 1L)")) == [1, 1, 1, 1]
    assert list(r_eval("as.character(bridged$s)"))[0] == "a"
    assert r_eval("is.na(bridged$x[2]) && !is.nan(bridged$x[2])")[0]
    assert list(r_eval("dim(bridged)")) == [2, 4]


def test_strings_become_factors_with_sorted_levels():
    df = pl.DataFrame({"g": ["b", "a", None, "b", "c"]})
    r = to_r(df)
    assert list(r_call("base::levels", r[0])) == ["a", "b", "c"]
    assert list(r_call("base::as.integer", r[0])) == [2, 1, rbridge._NA_INT, 2, 3]


def test_enum_levels_and_order_survive_with_factors_enum():
    dtype = pl.Enum(["low", "mid", "high", "unused"])
    df = pl.DataFrame({"e": pl.Series(["high", None, "low"], dtype=dtype)})
    back = from_r(to_r(df), factors="enum")
    assert back.schema["e"] == dtype
    assert_frame_equal(back, df)
    assert from_r(to_r(df))["e"].dtype == pl.String


def test_datetimes_keep_the_instant_and_time_zone():
    s = pl.Series(
        "t", [dt.datetime(2024, 3, 31, 1, 30, 0, 250000), None, dt.datetime(1969, 7, 20, 20, 17)]
    )
    aware = s.dt.replace_time_zone("Europe/Berlin")
    df = pl.DataFrame([aware])
    back = from_r(to_r(df))
    assert_series_equal(back["t"], df["t"].dt.cast_time_unit("us"))
    assert r_eval("function(x) attr(x, 'tzone')")(to_r(df)[0])[0] == "Europe/Berlin"
    # naive datetimes are taken as UTC
    naive = from_r(to_r(pl.DataFrame([s])))["t"]
    assert_series_equal(naive, s.dt.replace_time_zone("UTC"))


def test_wide_integers_go_as_doubles_and_small_ints_widen():
    df = pl.DataFrame(
        {
            "big": pl.Series([2**40, None], dtype=pl.Int64),
            "u8": pl.Series([1, 255], dtype=pl.UInt8),
            "f32": pl.Series([0.5, None], dtype=pl.Float32),
        }
    )
    back = from_r(to_r(df))
    assert back.schema == {"big": pl.Float64, "u8": pl.Int64, "f32": pl.Float64}
    assert back["big"].to_list() == [float(2**40), None]
    assert back["u8"].to_list() == [1, 255]


def test_empty_and_all_null_columns():
    empty = pl.DataFrame({"x": pl.Series([], dtype=pl.Float64), "s": pl.Series([], dtype=pl.String)})
    assert_frame_equal(from_r(to_r(empty)), empty)
    nulls = pl.DataFrame({"s": pl.Series([None, None], dtype=pl.String)})
    assert_frame_equal(from_r(to_r(nulls)), nulls)
    assert list(r_call("base::nrow", to_r(pl.DataFrame({"a": [1, 2, 3]})))) == [3]


def test_large_frame_round_trip():
    n = 100_000
    rng = np.random.default_rng(7)
    df = pl.DataFrame(
        {
            "x": rng.normal(size=n),
            "s": rng.choice(["alpha", "beta", "γ"], n),
            "b": rng.random(n) < 0.5,
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 9 == 0).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("x", "s", "b")
    )
    assert_frame_equal(from_r(to_r(df)), df)


# -- frames made in R ------------------------------------------------------------------------------


def test_from_r_reads_frames_made_in_r():
    r = r_eval(
        """data.frame(
            chr = c("x", NA, "ü", "x"),
            fac = factor(c("b", "a", NA, "b"), levels = c("b", "a", "z")),
            int = c(1L, NA, 3L, 4L),
            lgl = c(TRUE, NA, FALSE, TRUE),
            dbl = c(0.25, NA, NaN, Inf),
            date = as.Date(c("2021-01-01", NA, "1999-12-31", "2000-02-29")),
            stringsAsFactors = FALSE
        )"""
    )
    df = from_r(r)
    expected = pl.DataFrame(
        {
            "chr": ["x", None, "ü", "x"],
            "fac": ["b", "a", None, "b"],
            "int": [1, None, 3, 4],
            "lgl": [True, None, False, True],
            "dbl": [0.25, None, float("nan"), float("inf")],
            "date": [dt.date(2021, 1, 1), None, dt.date(1999, 12, 31), dt.date(2000, 2, 29)],
        }
    )
    assert_frame_equal(df, expected)
    assert from_r(r, factors="enum").schema["fac"] == pl.Enum(["b", "a", "z"])


def test_from_r_reads_tibbles_and_named_lists():
    if not has_r_package("tibble"):
        pytest.skip("R package tibble absent")
    df = from_r(r_eval("tibble::tibble(a = 1:2, b = c('p', 'q'))"))
    assert_frame_equal(df, pl.DataFrame({"a": [1, 2], "b": ["p", "q"]}))
    assert from_r(r_eval("list(u = c(1.5, 2))")).to_dict(as_series=False) == {"u": [1.5, 2.0]}


def test_bridge_rejects_what_it_cannot_convert():
    with pytest.raises(TypeError, match="column 'l' has dtype"):
        to_r(pl.DataFrame({"l": [[1, 2], [3]]}))
    with pytest.raises(TypeError, match="polars.DataFrame"):
        to_r({"a": [1]})
    with pytest.raises(TypeError, match="R data.frame"):
        from_r(r_eval("1:3"))
    with pytest.raises(ValueError, match="factors"):
        from_r(to_r(pl.DataFrame({"a": [1]})), factors="category")


# -- calls -----------------------------------------------------------------------------------------


def test_r_call_converts_arguments():
    assert r_call("stats::median", [1, 5, 3])[0] == 3
    assert r_call("base::paste", "a", "b", sep="-")[0] == "a-b"
    assert r_call("base::sum", [1.5, 2], **{"na.rm": True})[0] == 3.5
    assert r_call("base::is.null", None)[0]
    named = r_call("base::names", {"alpha": 1, "beta": "x"})
    assert list(named) == ["alpha", "beta"]
    assert r_call("nchar", "héllo")[0] == 5  # a bare name is found from the global environment
    assert r_call("base::sum", pl.Series([1, None, 3]), **{"na.rm": True})[0] == 4
    with pytest.raises(TypeError, match="cannot pass"):
        r_call("base::identity", object())


def test_r_library_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMCODER_RLIB", str(tmp_path))
    assert r_library_path() == tmp_path.resolve()
    monkeypatch.delenv("LLMCODER_RLIB")
    lib = r_library_path()
    assert lib is None or lib.name == ".rlib"


# -- psych's Cohen's kappa equals sklearn's -------------------------------------------------------------


def psych_kappa(pair: pl.DataFrame) -> float:
    if not has_r_package("psych"):
        pytest.skip("R package psych absent")
    fit = r_call("psych::cohen.kappa", pair)
    names = list(r_call("base::names", fit))
    return float(fit[names.index("kappa")][0])


def test_kappa_matches_sklearn_on_synthetic_ratings():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    cats = np.array(["econ", "health", "crime", "env"])
    a = rng.choice(cats, 500, p=[0.4, 0.3, 0.2, 0.1])
    b = np.where(rng.random(500) < 0.7, a, rng.choice(cats, 500))
    pair = pl.DataFrame({"a": a, "b": b})
    expected = cohen_kappa_score(a, b)
    assert psych_kappa(pair) == pytest.approx(expected, abs=1e-6)
    if has_r_package("llmcoder"):
        check = r_call("llmcoder::cohen_kappa_check", pair)
        names = list(r_call("base::names", check))
        assert check[names.index("kappa")][0] == pytest.approx(expected, abs=1e-6)


def test_kappa_matches_sklearn_on_benoit_crowd_raters():
    from sklearn.metrics import cohen_kappa_score

    path = shared_file("benoit_crowd_immigration", "ratings.csv")
    ratings = pl.read_csv(path, infer_schema=False).filter(pl.col("is_gold") == "false")
    # The two most active workers, on the sentences both coded in the same job (first judgment).
    top = ratings.group_by("rater").len().sort(["len", "rater"], descending=[True, False])
    a_id, b_id = top["rater"][0], top["rater"][1]
    code = pl.col("label") + pl.lit(":") + pl.col("stance").fill_null("none")

    def one(rater: str) -> pl.DataFrame:
        return (
            ratings.filter(pl.col("rater") == rater)
            .sort("judgment_id")
            .unique(["id", "job"], keep="first", maintain_order=True)
            .select("id", "job", code.alias(rater))
        )

    pair = one(a_id).join(one(b_id), on=["id", "job"]).select(a_id, b_id)
    assert pair.height > 500
    for frame in (pair, pair.with_columns(pl.col(c).str.split(":").list.first() for c in pair.columns)):
        expected = cohen_kappa_score(frame[a_id].to_numpy(), frame[b_id].to_numpy())
        assert psych_kappa(frame) == pytest.approx(expected, abs=1e-6)
