"""Small synthetic labelled corpora for tests, examples and benchmarks (no real data needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

TOPICS: dict[str, list[str]] = {
    "health": ["hospital", "doctors", "medicine", "patients", "nurses", "vaccine", "clinic"],
    "education": ["schools", "teachers", "students", "university", "curriculum", "pupils"],
    "energy": ["electricity", "gas", "power", "solar", "wind", "nuclear", "grid"],
}
_FILLER = ["the", "minister", "plans", "for", "new", "funding", "of", "rules", "about", "local",
           "reform", "question", "on", "budget", "and", "regional", "policy"]


def synthetic_corpus(n: int, *, seed: int = 0, multi: bool = False, min_words: int = 6,
                     max_words: int = 20) -> pl.DataFrame:
    """``n`` documents ``doc_id, text, label`` (or list ``labels`` when ``multi``) over 3 topics.

    Each text mixes filler words with words of its topic(s), so a classifier can learn it.
    """
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    ids, texts, labels = [], [], []
    for i in range(n):
        k = int(rng.integers(min_words, max_words + 1))
        if multi:
            labs = sorted(set(rng.choice(names, size=int(rng.integers(1, 3)), replace=True).tolist()))
        else:
            labs = [names[i % len(names)]]
        words = list(rng.choice(_FILLER, size=k))
        for lab in labs:
            words[int(rng.integers(0, k))] = str(rng.choice(TOPICS[lab]))
            words.append(str(rng.choice(TOPICS[lab])))
        ids.append(f"d{i:07d}")
        texts.append(" ".join(words).capitalize() + "?")
        labels.append(labs if multi else labs[0])
    col = "labels" if multi else "label"
    return pl.DataFrame({"doc_id": ids, "text": texts, col: labels})


def write_synthetic_corpus(path: str | os.PathLike[str], n: int, *, seed: int = 0,
                           rows_per_write: int = 100_000) -> Path:
    """Write a large synthetic corpus Parquet piece by piece (bounded memory), row groups of 10k."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for start in range(0, n, rows_per_write):
            part = synthetic_corpus(min(rows_per_write, n - start), seed=seed + start)
            part = part.with_columns(pl.format("d{}", pl.int_range(start, start + part.height)
                                               .cast(pl.Utf8).str.zfill(9)).alias("doc_id"))
            table = part.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=10_000)
    finally:
        if writer is not None:
            writer.close()
    return path
