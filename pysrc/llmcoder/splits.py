"""Stratified train/dev/test splits and nested training-size subsets for learning curves.

Single-label corpora are stratified by allocating each class's documents to the splits in
proportion (largest remainder), so even rare classes are spread as evenly as their counts allow;
multi-label corpora use iterative stratification (Sechidis et al. 2011, via ``iterstrat``). The
nested subsets (e.g. 5%, 25%, 50%, 100% of train) each contain the smaller ones, so a learning curve
adds data instead of drawing new samples. Same corpus, settings and seed give byte-identical files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from llmcoder.errors import InputError, Problem
from llmcoder.io import write_parquet

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitConfig:
    """How to split a corpus.

    Args:
        train, dev, test: Shares of the labelled documents (must sum to 1).
        sizes: Nested training-size fractions for learning curves, each in (0, 1].
        seed: Random seed; the same seed gives the same split.
        stratify: Stratify by the gold label(s) when the corpus has them.
    """

    train: float = 0.8
    dev: float = 0.1
    test: float = 0.1
    sizes: Sequence[float] = field(default_factory=lambda: (0.05, 0.25, 0.5, 1.0))
    seed: int = 1
    stratify: bool = True

    def __post_init__(self) -> None:
        shares = (self.train, self.dev, self.test)
        if any(s < 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
            raise ValueError(f"split shares train={self.train}, dev={self.dev}, test={self.test} "
                             "must be non-negative and sum to 1")
        if not self.sizes or any(not 0 < s <= 1 for s in self.sizes):
            raise ValueError(f"sizes {list(self.sizes)} must be fractions in (0, 1]")

    @classmethod
    def from_config(cls, cfg: dict) -> SplitConfig:
        """Build from a study's ``split:`` block in config.yaml."""
        keys = ("train", "dev", "test", "sizes", "seed", "stratify")
        return cls(**{k: (tuple(cfg[k]) if k == "sizes" else cfg[k]) for k in keys if k in cfg})


def size_column(fraction: float) -> str:
    """Column name of a nested subset: 0.05 -> ``in_size_5``, 0.125 -> ``in_size_12p5``."""
    pct = round(fraction * 100, 6)
    text = f"{pct:g}".replace(".", "p")
    return f"in_size_{text}"


def _allocate(n: int, shares: Sequence[float], offset: int = 0) -> list[int]:
    """Split ``n`` items by ``shares`` with the largest-remainder method (counts sum to ``n``).

    Ties between equal remainders go to the splits in turn (``offset``: the class's position), so
    that many small classes do not all round towards the same split.
    """
    raw = [n * s for s in shares]
    counts = [math.floor(r + 1e-9) for r in raw]
    k = len(shares)
    order = sorted(range(k), key=lambda i: (-round(raw[i] - counts[i], 9), (i + offset) % k))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _single_label_assignment(groups: list[np.ndarray], cfg: SplitConfig,
                             rng: np.random.Generator) -> dict[int, str]:
    shares = (cfg.train, cfg.dev, cfg.test)
    out: dict[int, str] = {}
    for pos, members in enumerate(groups):
        members = rng.permutation(members)
        counts = _allocate(len(members), shares, offset=pos)
        start = 0
        for name, c in zip(SPLITS, counts, strict=True):
            for idx in members[start:start + c]:
                out[int(idx)] = name
            start += c
    return out


def _multi_label_assignment(indices: np.ndarray, label_sets: list[list[str]], cfg: SplitConfig,
                            seed: int) -> dict[int, str]:
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    labels = sorted({lab for s in label_sets for lab in s})
    y = np.zeros((len(indices), len(labels)), dtype=int)
    pos = {lab: j for j, lab in enumerate(labels)}
    for i, s in enumerate(label_sets):
        for lab in s:
            y[i, pos[lab]] = 1
    out: dict[int, str] = {}
    rest = np.arange(len(indices))
    if cfg.test > 0:
        mss = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=cfg.test, random_state=seed)
        tr, te = next(mss.split(np.zeros(len(rest)), y[rest]))
        out.update({int(indices[rest[i]]): "test" for i in te})
        rest = rest[tr]
    if cfg.dev > 0:
        dev_share = cfg.dev / (cfg.train + cfg.dev)
        mss = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=dev_share, random_state=seed + 1)
        tr, de = next(mss.split(np.zeros(len(rest)), y[rest]))
        out.update({int(indices[rest[i]]): "dev" for i in de})
        rest = rest[tr]
    out.update({int(indices[i]): "train" for i in rest})
    return out


def make_splits(corpus: pl.DataFrame, config: SplitConfig | None = None, *,
                source: str = "corpus") -> pl.DataFrame:
    """Assign every document to train/dev/test and to the nested training-size subsets.

    A split whose share is above 0 but that would get no document (too few labelled documents, or
    classes too small for per-class rounding) is an :class:`~llmcoder.errors.InputError`: an empty
    test split would silently leave a study without its test.

    Parameters
    ----------
    corpus : canonical corpus with ``doc_id`` and optionally ``label`` or ``labels``.
    config : shares, sizes and seed; defaults to 80/10/10 with sizes 5/25/50/100%.
    source : the corpus file, named in error messages.

    Returns
    -------
    polars.DataFrame with ``doc_id``, ``split`` and one boolean ``in_size_<pct>`` column per size,
    in corpus order. Documents without a gold label get split ``unlabelled``.

    Examples
    --------
    >>> import polars as pl
    >>> c = pl.DataFrame({"doc_id": [str(i) for i in range(20)], "label": ["a", "b"] * 10})
    >>> s = make_splits(c, SplitConfig(train=0.5, dev=0.25, test=0.25, sizes=(0.5, 1.0)))
    >>> s.group_by("split").len().sort("split")["len"].to_list()
    [5, 5, 10]
    """
    cfg = config or SplitConfig()
    rng = np.random.default_rng(cfg.seed)
    n = corpus.height
    if "label" in corpus.columns:
        gold = corpus["label"].to_list()
        labelled = np.array([g is not None for g in gold])
    elif "labels" in corpus.columns:
        gold = corpus["labels"].to_list()
        labelled = np.array([bool(g) for g in gold])
    else:
        gold, labelled = [None] * n, np.ones(n, dtype=bool)
    idx = np.flatnonzero(labelled)
    if idx.size == 0:
        raise InputError(source, f"no document of the {n} has a gold label, so there is nothing to split",
                         fix="give the corpus gold labels, or prepare it without corpus.label/labels to split "
                             "every document")
    stratified = cfg.stratify and ("label" in corpus.columns or "labels" in corpus.columns)
    if stratified and "labels" in corpus.columns:
        try:
            assign = _multi_label_assignment(idx, [gold[i] for i in idx], cfg, cfg.seed)
        except ValueError as err:
            raise InputError(source, f"{idx.size} labelled documents are too few to split "
                             f"train={cfg.train:g}, dev={cfg.dev:g}, test={cfg.test:g}: a split would be empty",
                             fix=_EMPTY_FIX) from err
    elif stratified:
        by_class: dict[str, list[int]] = {}
        for i in idx:
            by_class.setdefault(gold[i], []).append(int(i))
        groups = [np.array(by_class[k]) for k in sorted(by_class)]
        assign = _single_label_assignment(groups, cfg, rng)
    else:
        assign = _single_label_assignment([idx], cfg, rng)
    split = [assign.get(i, "unlabelled") for i in range(n)]
    per_class = stratified and "label" in corpus.columns
    _check_not_empty(split, cfg, source, n_classes=len({gold[i] for i in idx}) if per_class else 0)

    # Nested subsets: one seeded order of the training documents (per class for single-label, so
    # each subset keeps the class balance); a subset of fraction f takes the first ceil(f * n_c).
    sub_rng = np.random.default_rng(cfg.seed + 7919)
    train_idx = [i for i in range(n) if split[i] == "train"]
    if stratified and "label" in corpus.columns:
        strata: dict[str, list[int]] = {}
        for i in train_idx:
            strata.setdefault(gold[i], []).append(i)
        orders = [list(sub_rng.permutation(strata[k])) for k in sorted(strata)]
    else:
        orders = [list(sub_rng.permutation(train_idx))] if train_idx else []
    columns: dict[str, list[bool]] = {}
    for frac in sorted(set(cfg.sizes)):
        member = np.zeros(n, dtype=bool)
        for order in orders:
            k = len(order) if frac >= 1 else max(1, math.ceil(frac * len(order)))
            member[order[:k]] = True
        columns[size_column(frac)] = member.tolist()
    return pl.DataFrame({"doc_id": corpus["doc_id"], "split": split, **columns})


_EMPTY_FIX = ("give that split a larger share (--dev/--test; split.dev/split.test in config.yaml), label more "
              "documents, or set its share to 0 if the study needs no such split")


def _check_not_empty(split: list[str], cfg: SplitConfig, source: str, n_classes: int) -> None:
    """Every split with a share above 0 gets at least one document, or an error says which and why."""
    counts = {name: split.count(name) for name in SPLITS}
    labelled = sum(counts.values())
    empty = [name for name in SPLITS if getattr(cfg, name) > 0 and counts[name] == 0]
    if not empty:
        return
    problems = [Problem(f"the {name} split (share {getattr(cfg, name):g}) would get 0 of the {labelled} "
                        "labelled documents") for name in empty]
    fix = _EMPTY_FIX
    if n_classes > 1:
        problems.append(Problem(f"the shares are applied within each of the {n_classes} classes, and each class "
                                "is too small to give that split a document"))
        fix += "; or split without stratifying (--no-stratify; split.stratify: false)"
    raise InputError(source, f"the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''} would be empty",
                     problems, fix=fix)


def split_method(corpus: pl.DataFrame, config: SplitConfig) -> str:
    """How :func:`make_splits` assigns a corpus: ``per_class`` (single-label, stratified by class),
    ``iterative`` (multi-label, iterative stratification) or ``random`` (not stratified)."""
    if config.stratify and "labels" in corpus.columns:
        return "iterative"
    if config.stratify and "label" in corpus.columns:
        return "per_class"
    return "random"


def split_record(corpus: pl.DataFrame, splits: pl.DataFrame, config: SplitConfig) -> dict:
    """The split's design for the methods text: method, shares, nested sizes, seed and documents per split."""
    counts = dict(splits.group_by("split").len().iter_rows())
    return {
        "method": split_method(corpus, config),
        "shares": {"train": config.train, "dev": config.dev, "test": config.test},
        "sizes": sorted(set(float(f) for f in config.sizes)),
        "seed": config.seed,
        "n_docs": splits.height,
        "n": {name: int(counts.get(name, 0)) for name in (*SPLITS, "unlabelled")},
    }


def write_splits(splits: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the splits table atomically."""
    write_parquet(splits, path)
