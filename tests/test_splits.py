"""Splits: stratified, nested, deterministic to the byte."""

from __future__ import annotations

import polars as pl
import pytest

from conftest import shared_file
from llmcoder.splits import SplitConfig, make_splits, size_column, write_splits


def corpus(n_per_class: dict[str, int]) -> pl.DataFrame:
    ids, labels = [], []
    for lab, n in n_per_class.items():
        for i in range(n):
            ids.append(f"{lab}{i}")
            labels.append(lab)
    return pl.DataFrame({"doc_id": ids, "label": labels})


def test_stratified_counts_per_class():
    c = corpus({"a": 100, "b": 50, "c": 10})
    s = make_splits(c, SplitConfig(train=0.8, dev=0.1, test=0.1, seed=3)).join(c, on="doc_id")
    got = {(r["label"], r["split"]): r["len"] for r in s.group_by("label", "split").len().iter_rows(named=True)}
    assert got == {("a", "train"): 80, ("a", "dev"): 10, ("a", "test"): 10,
                   ("b", "train"): 40, ("b", "dev"): 5, ("b", "test"): 5,
                   ("c", "train"): 8, ("c", "dev"): 1, ("c", "test"): 1}


def test_nested_sizes_contain_each_other_and_keep_balance():
    c = corpus({"a": 200, "b": 100})
    s = make_splits(c, SplitConfig(sizes=(0.05, 0.25, 0.5, 1.0), seed=1))
    cols = [size_column(f) for f in (0.05, 0.25, 0.5, 1.0)]
    assert cols == ["in_size_5", "in_size_25", "in_size_50", "in_size_100"]
    for small, big in zip(cols, cols[1:], strict=False):
        assert (s[small] & ~s[big]).sum() == 0  # each subset is inside the next
    assert s.filter(pl.col("in_size_100"))["split"].unique().to_list() == ["train"]
    assert s["in_size_100"].sum() == (s["split"] == "train").sum() == 240
    five = s.filter(pl.col("in_size_5")).join(c, on="doc_id")["label"].value_counts().sort("label")
    assert five["count"].to_list() == [8, 4]  # ceil(5% of 160) and ceil(5% of 80)


def test_same_seed_gives_byte_identical_files(tmp_path):
    c = corpus({"a": 40, "b": 30, "c": 7})
    write_splits(make_splits(c, SplitConfig(seed=5)), tmp_path / "one.parquet")
    write_splits(make_splits(c, SplitConfig(seed=5)), tmp_path / "two.parquet")
    write_splits(make_splits(c, SplitConfig(seed=6)), tmp_path / "three.parquet")
    one = (tmp_path / "one.parquet").read_bytes()
    assert one == (tmp_path / "two.parquet").read_bytes()
    assert one != (tmp_path / "three.parquet").read_bytes()


def test_unlabelled_documents_and_unlabelled_corpus():
    c = pl.DataFrame({"doc_id": [str(i) for i in range(10)], "label": ["a", "b"] * 4 + [None, None]})
    s = make_splits(c, SplitConfig(train=0.5, dev=0.25, test=0.25))
    assert s.filter(pl.col("split") == "unlabelled")["doc_id"].to_list() == ["8", "9"]
    plain = make_splits(pl.DataFrame({"doc_id": [str(i) for i in range(10)]}),
                        SplitConfig(train=0.6, dev=0.2, test=0.2))
    assert dict(plain.group_by("split").len().iter_rows()) == {"train": 6, "dev": 2, "test": 2}


def test_multilabel_iterative_stratification():
    labels = [["x"], ["y"], ["x", "y"], ["z"]] * 50
    c = pl.DataFrame({"doc_id": [str(i) for i in range(200)], "labels": labels})
    s = make_splits(c, SplitConfig(train=0.8, dev=0.1, test=0.1)).join(c, on="doc_id")
    counts = dict(s.group_by("split").len().iter_rows())
    # Iterative stratification balances label counts, at the price of split sizes close to, not
    # exactly at, the shares.
    assert abs(counts["train"] - 160) <= 5 and abs(counts["test"] - 20) <= 4, counts
    got = dict(s.filter(pl.col("split") == "test")["labels"].explode().value_counts().iter_rows())
    assert abs(got["x"] - 10) <= 2 and abs(got["y"] - 10) <= 2 and abs(got["z"] - 5) <= 2, got


@pytest.mark.parametrize("kw, msg", [
    ({"train": 0.8, "dev": 0.3, "test": 0.1}, "must be non-negative and sum to 1"),
    ({"sizes": (0.0, 1.0)}, "must be fractions in (0, 1]"),
    ({"sizes": ()}, "must be fractions in (0, 1]"),
])
def test_bad_split_config(kw, msg):
    with pytest.raises(ValueError) as info:
        SplitConfig(**kw)
    assert msg in str(info.value)


def test_real_cap_us_split():
    from llmcoder.codebook import Codebook, Label
    from llmcoder.corpus import CorpusSpec, build_corpus

    path = shared_file("cap_us", "congress_bills.csv")
    raw = pl.read_csv(path, infer_schema=False)
    cb = Codebook(labels=tuple(Label(c, c) for c in sorted(raw["label_code"].unique())))
    c = build_corpus(CorpusSpec(path=str(path), label_col="label_code", strata=[], drop_labels=("99",)), cb)
    s = make_splits(c, SplitConfig(train=0.8, dev=0.1, test=0.1, seed=1))
    counts = dict(s.group_by("split").len().iter_rows())
    assert sum(counts.values()) == 4419
    assert abs(counts["test"] - 442) <= 10 and abs(counts["dev"] - 442) <= 10
    per_class_test = s.join(c, on="doc_id").filter(pl.col("split") == "test")["label"].n_unique()
    assert per_class_test == 19  # every topic is in the test split


def test_split_record_states_the_design(tmp_path):
    """split.json: method, shares, sizes, seed and the documents per split, as make_splits drew them."""
    import json

    from llmcoder.results import check_record
    from llmcoder.splits import SplitConfig, split_record
    from llmcoder.stages import study_splits

    docs = pl.DataFrame({"doc_id": [str(i) for i in range(40)], "text": "t",
                         "label": (["a", "b", "c", None] * 10)})
    docs.write_parquet(tmp_path / "corpus.parquet")
    cfg = SplitConfig(train=0.5, dev=0.25, test=0.25, sizes=(1.0, 0.5), seed=3)
    study_splits(tmp_path / "corpus.parquet", cfg, tmp_path / "splits.parquet", source="c",
                 record=tmp_path / "split.json")
    rec = json.loads((tmp_path / "split.json").read_text())
    splits = pl.read_parquet(tmp_path / "splits.parquet")
    assert rec["method"] == "per_class" and rec["seed"] == 3 and rec["sizes"] == [0.5, 1.0]
    assert rec["shares"] == {"train": 0.5, "dev": 0.25, "test": 0.25}
    assert rec["n"] == {k: int((splits["split"] == k).sum()) for k in ("train", "dev", "test", "unlabelled")}
    assert rec["n"]["unlabelled"] == 10 and sum(rec["n"].values()) == rec["n_docs"] == 40
    assert check_record("split_record", rec) == []
    multi = docs.drop("label").with_columns(pl.lit(["a"]).alias("labels"))
    assert split_record(multi, splits, cfg)["method"] == "iterative"
    assert split_record(docs, splits, SplitConfig(stratify=False))["method"] == "random"
