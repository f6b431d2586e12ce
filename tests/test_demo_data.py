"""The built-in demo corpus (data/demo): valid, large enough, balanced, free of near-duplicates, and
exactly what its seeded generator writes."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llmcoder.codebook import load_codebook
from llmcoder.corpus import CorpusSpec, build_corpus

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
CSV_PATH = DEMO / "questions.csv"
CODEBOOK_PATH = DEMO / "codebook.yaml"
GENERATOR = DEMO / "make_demo.py"
COLUMNS = ["id", "text", "label", "year", "party", "mixed", "secondary"]

_WORD = re.compile(r"[a-z0-9£']+")


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def near_duplicates(texts: list[str], limit: float = 0.8) -> list[tuple[int, int, float]]:
    """Pairs whose shared 5-grams exceed ``limit`` of the smaller text's 5-grams."""
    grams = [shingles(t) for t in texts]
    index: dict[tuple[str, ...], list[int]] = {}
    for i, g in enumerate(grams):
        for s in g:
            index.setdefault(s, []).append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for docs in index.values():
        for a in range(len(docs)):
            for b in range(a + 1, len(docs)):
                shared[docs[a], docs[b]] += 1
    out = []
    for (i, j), c in shared.items():
        share = c / min(len(grams[i]), len(grams[j]))
        if share > limit:
            out.append((i, j, share))
    return out


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK_PATH)


@pytest.fixture(scope="module")
def corpus(codebook):
    spec = CorpusSpec(path=str(CSV_PATH), id_col="id", text_col="text", label_col="label",
                      strata=["year", "party"])
    return build_corpus(spec, codebook)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with open(CSV_PATH, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_codebook_is_complete(codebook):
    assert codebook.task == "single"
    assert codebook.instructions
    assert len(codebook.ids) == 10
    for lab in codebook.labels:
        assert lab.definition, lab.id
        assert len(lab.examples) >= 2, lab.id
        assert 1 <= len(lab.exclusions) <= 2, lab.id


def test_corpus_loads_and_is_big_enough(corpus, codebook):
    assert corpus.height >= 800
    assert corpus["doc_id"].n_unique() == corpus.height
    assert set(corpus.columns) >= {"doc_id", "text", "label", "year", "party"}
    counts = Counter(corpus["label"].to_list())
    assert set(counts) <= set(codebook.ids)
    assert sum(n >= 50 for n in counts.values()) >= 8
    assert all(60 <= n <= 110 for n in counts.values()), counts


def test_texts_are_unique_and_not_near_duplicates(corpus):
    texts = corpus["text"].to_list()
    assert len(set(texts)) == len(texts)
    dups = near_duplicates(texts)
    assert not dups, [(texts[i], texts[j], round(s, 2)) for i, j, s in dups[:5]]


def test_codebook_examples_are_not_corpus_texts(corpus, codebook):
    grams = [shingles(t) for t in corpus["text"].to_list()]
    for lab in codebook.labels:
        for ex in lab.examples:
            g = shingles(ex)
            worst = max(len(g & t) / min(len(g), len(t)) for t in grams)
            assert worst <= 0.5, (lab.id, ex, worst)


def test_strata_and_mixed_columns(rows, codebook):
    years = {int(r["year"]) for r in rows}
    assert years <= set(range(2015, 2024)) and len(years) == 9
    assert len({r["party"] for r in rows}) == 5
    assert {r["mixed"] for r in rows} == {"true", "false"}
    mixed = [r for r in rows if r["mixed"] == "true"]
    assert 0.05 <= len(mixed) / len(rows) <= 0.20
    for r in rows:
        if r["mixed"] == "true":
            assert r["secondary"] in codebook.ids and r["secondary"] != r["label"], r
        else:
            assert r["secondary"] == "", r
    assert all(re.fullmatch(r"Q\d{4}", r["id"]) for r in rows)
    assert all(1 <= len(re.findall(r"[.?](?:\s|$)", r["text"])) <= 3 for r in rows)


def test_generator_reproduces_committed_csv(tmp_path):
    if not GENERATOR.exists():
        pytest.skip("no generator")
    out = tmp_path / "questions.csv"
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == CSV_PATH.read_bytes()
