"""Ensembles: a coder made of coders, by mean probability or majority vote over their codings.

An ensemble reads its members' codings (``coders/<member>.parquet``, the long format of
:func:`llmcoder.coders.run.code_corpus`) and writes codings in the same format, so that everything
downstream (verification sheets, evaluation, bias checks, the report) treats it as one more LLM coder.

* ``combine: mean``: each label's probability is the mean over the members that answered the document;
  single-label: the most probable label is chosen; multi-label: labels with a mean of 0.5 or more.
* ``combine: vote``: each label's probability is the share of answering members that chose it (a vote
  share, so that the members' disagreement is what the probability says); single-label: the label most
  members chose (a tie goes to the higher mean probability); multi-label: labels more than half chose.

Either way a document's top probability falls where the members disagree, which makes disagreement the
routing signal of ``verify.route: uncertain_first`` (``uncertain_below: 1`` with ``vote`` puts every
document the members do not all agree on first). :func:`member_agreement` measures the agreement between
the members (Fleiss' kappa, Krippendorff's alpha and Gwet's AC1 with CIs on their chosen labels).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from llmcoder.errors import InputError

__all__ = ["COMBINE", "EnsembleConfig", "combine_codings", "ensemble_codings", "is_ensemble", "member_agreement"]

#: How an ensemble combines its members.
COMBINE = ("mean", "vote")


def _checked(members: Mapping[str, pl.DataFrame], labels: list[str]) -> dict[str, pl.DataFrame]:
    """Each member's codings, checked to code the same documents, rotations and labels."""
    if len(members) < 2:
        raise InputError("members", f"an ensemble needs at least two member coders, not {len(members)}",
                         fix="list two or more coders of the study under members")
    keys = None
    out = {}
    for name, df in members.items():
        if set(df["label"].unique().to_list()) != set(labels):
            raise InputError(name, "its codings are not over the codebook's labels",
                             fix="code every member with the study's codebook")
        k = df.select("doc_id", "rotation").unique().sort("rotation", "doc_id")
        if keys is not None and not k.equals(keys):
            raise InputError(name, "it coded other documents or label orders than the first member",
                             fix="run every member on the same corpus with the same coding.rotations and limit")
        keys = k
        out[name] = df
    return out


def combine_codings(members: Mapping[str, pl.DataFrame], labels: list[str], *, task: str, combine: str,
                    coder_id: str) -> pl.DataFrame:
    """The ensemble's codings (the coder output format, rows in the first member's order) from its
    members' codings ``{name: codings}``; a document no member answered (NaN) stays unanswered."""
    if combine not in COMBINE:
        raise InputError("combine", f"is {combine!r}", fix=f"use one of {', '.join(COMBINE)}")
    ms = _checked(members, labels)
    first = next(iter(ms.values()))
    keys = ["doc_id", "rotation", "label"]
    base = first.select(keys)
    probs, chosen, tok_in, tok_out, lat = [], [], [], [], []
    for df in ms.values():
        d = base.join(df, on=keys, how="left", maintain_order="left")
        probs.append(d["prob"].to_numpy().astype(np.float64))
        chosen.append(d["chosen"].fill_null(False).to_numpy().astype(np.float64))
        tok_in.append(d["n_input_tokens"].to_numpy())
        tok_out.append(d["n_output_tokens"].to_numpy())
        lat.append(d["latency_s"].to_numpy())
    P, C = np.vstack(probs), np.vstack(chosen)  # members x rows
    # a member that gave no answer to a document (NaN) does not count for it
    answered = ~np.isnan(P)
    n_ans = answered.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_ans > 0, np.nansum(np.where(answered, P, 0), axis=0) / n_ans, np.nan)
        votes = np.where(n_ans > 0, np.where(answered, C, 0).sum(axis=0) / n_ans, np.nan)
    prob = mean if combine == "mean" else votes
    out = base.with_columns(pl.lit(coder_id).alias("coder_id"), pl.Series("prob", prob),
                            pl.Series("_mean", mean), pl.Series("_votes", votes))
    if task == "single":
        # per document and rotation: the label with the highest prob (vote share, ties to the mean)
        ranked = out.with_columns(
            pl.struct(pl.col("prob").fill_nan(-1.0), pl.col("_mean").fill_nan(-1.0))
            .rank("ordinal", descending=True).over("doc_id", "rotation").alias("_r"))
        out = ranked.with_columns(((pl.col("_r") == 1) & pl.col("prob").is_not_nan()).alias("chosen"))
    else:
        cut = (pl.col("_mean") >= 0.5) if combine == "mean" else (pl.col("_votes") > 0.5)
        out = out.with_columns((cut & pl.col("prob").is_not_nan()).alias("chosen"))
    return out.with_columns(
        pl.Series("n_input_tokens", np.vstack(tok_in).sum(axis=0).astype(np.int64)),
        pl.Series("n_output_tokens", np.vstack(tok_out).sum(axis=0).astype(np.int64)),
        pl.Series("latency_s", np.vstack(lat).sum(axis=0).astype(np.float64)),
    ).select("doc_id", "coder_id", pl.col("rotation").cast(pl.Int32), "label", "prob", "chosen", "n_input_tokens",
             "n_output_tokens", "latency_s")


def member_agreement(members: Mapping[str, pl.DataFrame], *, task: str, n_boot: int = 1000,
                     random_state: int = 0) -> dict[str, Any]:
    """How far the members agree on their chosen labels (rotation 0): the share of documents on which
    all chose the same (set of) labels, and the reliability coefficients with CIs
    (:func:`llmcoder.reliability.reliability`; multi-label: Krippendorff's alpha over label sets, MASI)."""
    from llmcoder.reliability import reliability, reliability_multilabel

    rows = []
    for name, df in members.items():
        ch = df.filter((pl.col("rotation") == 0) & pl.col("chosen")).select("doc_id", "label")
        rows.append(ch.with_columns(pl.lit(name).alias("coder")))
    ratings = pl.concat(rows).select("doc_id", "coder", "label")
    sets = ratings.group_by("doc_id", "coder").agg(pl.col("label").sort().str.join("|"))
    same = sets.group_by("doc_id").agg(pl.col("label").n_unique().alias("k"), pl.len().alias("n"))
    n_docs = int(same.height)
    all_agree = int(same.filter((pl.col("k") == 1) & (pl.col("n") == len(members))).height)
    table = (reliability(ratings, n_boot=n_boot, random_state=random_state) if task == "single" else
             reliability_multilabel(ratings, n_boot=n_boot, random_state=random_state))
    return {"members": list(members), "n_documents": n_docs, "n_all_agree": all_agree,
            "share_all_agree": all_agree / n_docs if n_docs else None,
            "coefficients": [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                             for r in table.iter_rows(named=True)]}


# -- the ensemble's YAML and its run -----------------------------------------------------------------

ENSEMBLE_KEYS = {"name": "the coder's name (default: the file name)", "kind": "ensemble",
                 "members": "two or more coders of the same study (their YAML file names without .yaml)",
                 "combine": f"how the members are combined: {' or '.join(COMBINE)} (default mean)"}


def is_ensemble(path: str | os.PathLike[str]) -> bool:
    """Whether the coder YAML at ``path`` describes an ensemble (``kind: ensemble``)."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False  # the coder's own run names the problem
    return isinstance(doc, dict) and doc.get("kind") == "ensemble"


@dataclass(frozen=True)
class EnsembleConfig:
    """An ensemble coder: its members (coder names of the same study) and how they are combined."""

    name: str
    members: tuple[str, ...]
    combine: str = "mean"
    source: str = ""

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> EnsembleConfig:
        src = str(path)
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise InputError(src, f"cannot be read ({e.strerror})",
                             fix="check the path in the study's coders") from None
        except yaml.YAMLError as e:
            raise InputError(src, f"is not valid YAML ({e})", fix="fix the YAML syntax") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ensemble":
            raise InputError(src, "is not an ensemble coder (kind: ensemble)", fix="set kind: ensemble")
        unknown = sorted(set(doc) - set(ENSEMBLE_KEYS))
        if unknown:
            raise InputError(src, f"unknown key(s) {', '.join(unknown)} for an ensemble",
                             fix="an ensemble takes only " + "; ".join(f"{k}: {v}" for k, v in ENSEMBLE_KEYS.items()))
        members = doc.get("members")
        if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) and m for m in members):
            raise InputError(src, "members: give a list of two or more coder names",
                             fix="e.g. members: [smollm2, gemma3] (coders listed in the same study)")
        if len(set(members)) != len(members):
            raise InputError(src, "members: a coder is listed twice", fix="list each member once")
        combine = doc.get("combine", "mean")
        if combine not in COMBINE:
            raise InputError(src, f"combine: is {combine!r}", fix=f"use {' or '.join(COMBINE)}")
        name = str(doc.get("name") or Path(path).stem)
        return cls(name, tuple(members), combine, src)

    def identity(self, member_ids: Mapping[str, str]) -> dict[str, Any]:
        """What the ensemble's id hashes: how it combines and its members' ids (their models and prompts)."""
        return {"kind": "ensemble", "combine": self.combine, "members": [member_ids[m] for m in self.members]}

    def coder_id(self, member_ids: Mapping[str, str]) -> str:
        canon = json.dumps(self.identity(member_ids), sort_keys=True, separators=(",", ":"))
        return f"{self.name}-{hashlib.sha256(canon.encode('utf-8')).hexdigest()[:8]}"


def ensemble_codings(codings: Mapping[str, str | os.PathLike[str]], provenance: Mapping[str, str | os.PathLike[str]],
                     orders: Mapping[str, str | os.PathLike[str]], cfg: EnsembleConfig,
                     out: str | os.PathLike[str], *, n_boot: int = 1000) -> pl.DataFrame:
    """Combine the members' codings (``{member: coders/<member>.parquet}``, with their provenance and
    label orders) and write the ensemble's codings, orders and provenance beside ``out``, all or nothing."""
    from llmcoder.coders.run import side_paths
    from llmcoder.io import file_sha256, write_json, write_parquet
    from llmcoder.io import provenance as stamp
    from llmcoder.results import checked

    missing = [m for m in cfg.members if m not in codings]
    if missing:
        raise InputError(cfg.source, f"members: {', '.join(missing)} not among the study's coders",
                         fix="list the members under the study's coders too")
    recs = {m: json.loads(Path(provenance[m]).read_text(encoding="utf-8")) for m in cfg.members}
    if any(r.get("step") == "ensemble" for r in recs.values()):
        raise InputError(cfg.source, "members: an ensemble cannot be a member", fix="list LLM coders only")
    first = recs[cfg.members[0]]
    for m, r in recs.items():
        if r.get("codebook", {}).get("sha256") != first.get("codebook", {}).get("sha256") or \
                r.get("corpus_sha256") != first.get("corpus_sha256"):
            raise InputError(str(provenance[m]), f"member {m} coded another corpus or codebook than "
                             f"{cfg.members[0]}", fix="run the members of an ensemble in the same study")
    order_frames = {m: pl.read_parquet(orders[m]).drop("coder_id") for m in cfg.members}
    if any(not f.equals(order_frames[cfg.members[0]]) for f in order_frames.values()):
        raise InputError(cfg.source, "the members coded under different label orders (their seeds differ)",
                         fix="give the members the same seed, so that each rotation is one order for all")
    member_ids = {m: str(recs[m]["coder_id"]) for m in cfg.members}
    coder_id = cfg.coder_id(member_ids)
    frames = {m: pl.read_parquet(codings[m]) for m in cfg.members}
    cb = first["codebook"]
    result = combine_codings(frames, list(cb["labels"]), task=cb["task"], combine=cfg.combine, coder_id=coder_id)
    agreement = member_agreement(frames, task=cb["task"], n_boot=n_boot)
    unanswered = result.group_by("doc_id", "rotation").agg(pl.col("prob").is_nan().all().alias("bad"))
    prov = stamp(
        step="ensemble", coder_id=coder_id,
        coder={"name": cfg.name, "kind": "ensemble", "members": list(cfg.members), "combine": cfg.combine},
        coder_identity=cfg.identity(member_ids),
        model={"kind": "ensemble", "members": {m: recs[m].get("model") for m in cfg.members}},
        codebook=cb, corpus_sha256=first["corpus_sha256"], n_docs=result["doc_id"].n_unique(),
        rotations=first["rotations"], rotation_orders=first["rotation_orders"],
        prompt_template=None, prompt_template_sha256=None, prompts={}, truncation=None,
        n_codings_without_answer=int(unanswered["bad"].sum()), seconds_last_session=0.0,
        package_versions={}, members={m: {"coder_id": member_ids[m], "codings_sha256": file_sha256(codings[m])}
                                      for m in cfg.members},
        agreement=agreement,
    )
    paths = side_paths(out)
    orders_df = pl.read_parquet(orders[cfg.members[0]]).with_columns(pl.lit(coder_id).alias("coder_id"))
    checked("coder_orders", orders_df), checked("coder_provenance", prov), checked("coder_codings", result)
    # each file atomic, the codings (the step's declared output) last: a kill before it leaves the step undone
    write_parquet(orders_df, paths["orders"])
    write_json(prov, paths["provenance"])
    write_parquet(result, paths["out"])
    return result
