"""Which labels people are shown: proposal policies over the LLM coders' label probabilities.

Verification by rejection only works when the right label is among the proposals. A coder's single
chosen label is often wrong where its top three are right, so a study chooses how many labels each
LLM coder proposes for a document:

* ``chosen``: the labels the coder chose (plus every label with probability >= ``min_prob``);
* ``top_k``: the ``k`` most probable labels;
* ``mass``: the most probable labels until their probabilities add up to ``mass``;
* ``conformal``: split-conformal label sets with the adaptive prediction set score (APS) of Romano,
  Sesia & Candès (2020, "Classification with valid and adaptive coverage", NeurIPS): calibrated on a
  gold sample, the set contains the right label with probability at least ``coverage``.

People see the union over the LLM coders, in a random order and without scores (the sheets stay blind).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from llmcoder.errors import InputError

Policy = Literal["chosen", "top_k", "mass", "conformal"]
POLICIES: tuple[str, ...] = ("chosen", "top_k", "mass", "conformal")


@dataclass(frozen=True)
class ProposalPolicy:
    """How many labels each LLM coder proposes (see the module docstring); settings are checked here."""

    policy: str = "chosen"
    k: int = 3
    mass: float = 0.9
    coverage: float = 0.9
    min_prob: float | None = None

    def __post_init__(self) -> None:
        key = "verify.proposals"
        if self.policy not in POLICIES:
            raise InputError(key, f"policy '{self.policy}' is unknown", fix=f"use one of {', '.join(POLICIES)}")
        if self.policy == "top_k" and (not isinstance(self.k, int) or self.k < 1):
            raise InputError(f"{key}.k", f"{self.k!r} is not a whole number of labels >= 1", fix="e.g. k: 3")
        if self.policy == "mass" and not 0 < self.mass <= 1:
            raise InputError(f"{key}.mass", f"{self.mass!r} is not a probability in (0, 1]", fix="e.g. mass: 0.9")
        if self.policy == "conformal" and not 0 < self.coverage < 1:
            raise InputError(f"{key}.coverage", f"{self.coverage!r} is not a coverage in (0, 1)",
                             fix="e.g. coverage: 0.9 (the right label in the set for 90% of documents)")

    def to_dict(self) -> dict[str, Any]:
        """The settings that matter for this policy (for the manifest and the methods text)."""
        extra = {"chosen": {"min_prob": self.min_prob}, "top_k": {"k": self.k}, "mass": {"mass": self.mass},
                 "conformal": {"coverage": self.coverage, "score": "APS (Romano, Sesia & Candes 2020)"}}
        return {"policy": self.policy, **extra[self.policy]}


def ranked(codings: pl.DataFrame) -> pl.DataFrame:
    """Each (document, coder, rotation)'s labels by falling probability (ties: label id), with the
    probabilities normalised to sum to one, their ``rank`` (1 = most probable) and ``cum`` (cumulative)."""
    keys = ["doc_id", "coder_id", "rotation"]
    return (codings.select(*keys, "label", pl.col("prob").cast(pl.Float64).fill_null(0.0))
            .with_columns(pl.col("prob") / pl.col("prob").sum().over(keys))
            .sort([*keys, "prob", "label"], descending=[False, False, False, True, False])
            .with_columns(pl.col("label").cum_count().over(keys).alias("rank"),
                          pl.col("prob").cum_sum().over(keys).alias("cum")))


def aps_scores(codings: pl.DataFrame, gold: Mapping[str, str]) -> pl.DataFrame:
    """APS conformity score of each coder on each gold document (rotation 0): the total probability of
    the labels ranked at or above the gold label. Small: the coder put the right label near the top."""
    r = ranked(codings.filter(pl.col("rotation") == 0))
    g = pl.DataFrame({"doc_id": list(gold), "gold": list(gold.values())}, schema={"doc_id": pl.Utf8, "gold": pl.Utf8})
    return (r.join(g, on="doc_id").filter(pl.col("label") == pl.col("gold"))
            .select("coder_id", "doc_id", pl.col("cum").alias("score")).sort("coder_id", "doc_id"))


def conformal_thresholds(codings: pl.DataFrame, gold: Mapping[str, str], coverage: float) -> dict[str, dict[str, Any]]:
    """Per LLM coder, the split-conformal threshold of the APS score: the ceil((n + 1) * coverage)-th
    smallest calibration score (1.0, i.e. every label, when the sample is too small for the coverage)."""
    scores = aps_scores(codings, gold)
    out: dict[str, dict[str, Any]] = {}
    for coder in sorted(codings["coder_id"].unique().to_list()):
        s = sorted(scores.filter(pl.col("coder_id") == coder)["score"].to_list())
        n = len(s)
        if n == 0:
            raise InputError(f"coder '{coder}'", "no gold document of the calibration sample was coded by it",
                             fix="code the calibration sample (the dev split) with every LLM coder")
        rank = math.ceil((n + 1) * coverage)
        out[coder] = {"qhat": 1.0 if rank > n else s[rank - 1], "n_calibration": n, "coverage": coverage}
    return out


def propose(codings: pl.DataFrame, policy: ProposalPolicy, *, thresholds: Mapping[str, Mapping[str, Any]] | None = None,
            rotations: str = "first") -> pl.DataFrame:
    """The proposed labels, one row per (doc_id, coder_id, rotation, label), under ``policy``.

    ``codings`` is the long LLM coder output (``doc_id, coder_id, rotation, label, prob, chosen``);
    ``thresholds`` are :func:`conformal_thresholds` (needed for ``conformal``). A document always gets
    at least its most probable label from each coder under ``top_k``/``mass``/``conformal``.
    """
    c = codings if rotations == "all" else codings.filter(pl.col("rotation") == 0)
    keys = ["doc_id", "coder_id", "rotation", "label"]
    if policy.policy == "chosen":
        keep = pl.col("chosen")
        if policy.min_prob is not None:
            keep = keep | (pl.col("prob") >= policy.min_prob).fill_null(False)
        return c.filter(keep).select(keys)
    r = ranked(c)
    if policy.policy == "top_k":
        keep = pl.col("rank") <= policy.k
    elif policy.policy == "mass":
        keep = (pl.col("cum") - pl.col("prob")) < policy.mass  # up to and including the label that reaches it
    else:
        if thresholds is None:
            raise ValueError("conformal proposals need thresholds from conformal_thresholds()")
        qhat = pl.DataFrame({"coder_id": list(thresholds), "qhat": [float(t["qhat"]) for t in thresholds.values()]})
        r = r.join(qhat, on="coder_id", how="left")
        if r["qhat"].null_count():
            missing = sorted(set(r.filter(pl.col("qhat").is_null())["coder_id"].to_list()))
            raise InputError("verify.proposals", f"no conformal threshold for LLM coder(s) {missing}",
                             fix="calibrate every LLM coder on the gold calibration sample")
        keep = pl.col("cum") <= pl.col("qhat") + 1e-12
    return r.filter(keep | (pl.col("rank") == 1)).select(keys)


def set_summary(proposals: pl.DataFrame, gold: Mapping[str, Any]) -> dict[str, Any]:
    """Mean size of the proposed set (union over coders) per document, and where gold exists, the
    realised coverage: the share of documents whose gold label (every gold label, multi-label) is in it."""
    sets = proposals.group_by("doc_id").agg(pl.col("label").unique().alias("labels"))
    sizes = [len(v) for v in sets["labels"].to_list()]
    out: dict[str, Any] = {"n_documents": len(sizes), "mean_set_size": sum(sizes) / len(sizes) if sizes else None}
    covered = [set(g if isinstance(g, list | tuple | set) else [g]) <= set(labs)
               for d, labs in sets.select("doc_id", "labels").iter_rows() if (g := gold.get(d)) is not None]
    out["n_with_gold"] = len(covered)
    out["coverage"] = sum(covered) / len(covered) if covered else None
    return out
