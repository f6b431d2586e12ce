"""From a decision log to verified labels: which documents are verified, which wait for adjudication.

:func:`verify_decisions` is the one entry point, whether the decisions come from filled sheets
(:func:`llmcoder.verify.ingest.ingest`) or from elsewhere (:mod:`llmcoder.verify.adapters`). Per document,
the labels every coder kept are verified; a disagreement follows the overlap policy; the adjudicator's
decisions win for the documents they cover.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.io import provenance, staged_dir, write_csv, write_json, write_parquet
from llmcoder.verify._common import SHEET_COLUMNS, Sheets, order_key
from llmcoder.verify.measures import (
    RELIABILITY_SCHEMA,
    acceptance_rates,
    human_reliability,
    verifier_ceiling,
    workload,
)

OverlapPolicy = Literal["adjudicate", "union", "intersection"]
#: What a decision log records per (document, verifier, label): a proposal kept or rejected, or a
#: right label the verifier supplied after rejecting every proposal.
DECISIONS = ("keep", "reject", "supplied")
ADJUDICATOR = "adjudicator"
DECISION_SCHEMA = {"doc_id": pl.Utf8, "coder": pl.Utf8, "label": pl.Utf8, "decision": pl.Utf8,
                   "raw": pl.Utf8, "comment": pl.Utf8, "sheet": pl.Utf8, "row": pl.Int64,
                   "round": pl.Utf8}

#: Per document of the first round: label → coder → ``keep`` or ``reject`` (a supplied label is kept).
Units = dict[str, dict[str, dict[str, str]]]


@dataclass
class VerifyResult:
    """Everything ingest produces. ``write(out_dir)`` writes it (Parquet and CSV, atomically)."""

    task: str
    verified: pl.DataFrame
    decisions: pl.DataFrame
    queue: pl.DataFrame
    acceptance: pl.DataFrame
    workload: pl.DataFrame
    reliability: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    ceiling: pl.DataFrame | None = None  # the human ceiling (single-label), see measures.verifier_ceiling
    adjudication_sheet: pl.DataFrame | None = None
    simulated: bool = False
    study: str | None = None

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the tables as ``<name>.parquet`` and ``<name>.csv``, the adjudication sheet (if any
        document awaits adjudication) under ``adjudication/``, and ``summary.json`` with provenance."""
        out = Path(out_dir)
        written: dict[str, Path] = {}
        tables = {"verified": self.verified, "decisions": self.decisions, "adjudication_queue": self.queue,
                  "acceptance": self.acceptance, "workload": self.workload, "reliability": self.reliability}
        if self.ceiling is not None:
            tables["human_ceiling"] = self.ceiling
        from llmcoder.results import checked

        with staged_dir(out) as stage:  # every table, the adjudication sheet and the summary, or none
            for name, df in tables.items():
                checked("verifier_reliability" if name == "reliability" else name, df)  # the results contract
                write_parquet(df, stage / f"{name}.parquet")
                write_csv(df, stage / f"{name}.csv")
                written[f"{name}.parquet"], written[f"{name}.csv"] = out / f"{name}.parquet", out / f"{name}.csv"
            if self.adjudication_sheet is not None and self.adjudication_sheet.height and self.study:
                from llmcoder.verify.sheets import write_sheets

                adj = Sheets({ADJUDICATOR: self.adjudication_sheet}, kind="adjudication",
                             simulated=self.simulated)
                for k in write_sheets(adj, stage / "adjudication", study=self.study, manifest=False):
                    written[f"adjudication/{k}"] = out / "adjudication" / k
            summary = {**self.summary, "simulated": self.simulated,
                       "provenance": provenance(stage="verify-ingest", study=self.study, simulated=self.simulated)}
            write_json(checked("verification_summary", summary), stage / "summary.json")
            written["summary.json"] = out / "summary.json"
        return written


class _Verified(NamedTuple):
    """One verified document: its labels, how many people decided it, and where the labels come from."""

    doc_id: str
    labels: list[str]
    n_verifiers: int
    source: str


def _source(base: str, simulated: bool) -> str:
    """The ``source`` of a verified document, marked ``simulated-`` when no person decided it."""
    return f"simulated-{base}" if simulated else base


# -- the steps of verify_decisions, in order ------------------------------------------------------------------

def _check_settings(task: str, overlap_policy: str) -> None:
    """Refuse a task or overlap policy that verify_decisions does not know."""
    if task not in ("single", "multi"):
        raise ValueError(f"task must be 'single' or 'multi', not {task!r}")
    if overlap_policy not in ("adjudicate", "union", "intersection"):
        raise ValueError(f"overlap_policy must be adjudicate, union or intersection, not {overlap_policy!r}")


def _complete_log(decisions: pl.DataFrame) -> pl.DataFrame:
    """The decision log with every column of :data:`DECISION_SCHEMA` (a missing round is ``verify``) and
    only known decisions."""
    d = decisions
    for c, t in DECISION_SCHEMA.items():
        if c not in d.columns:
            d = d.with_columns(pl.lit("verify" if c == "round" else None, t).alias(c))
    d = d.with_columns(pl.col("doc_id").cast(pl.Utf8), pl.col("coder").cast(pl.Utf8),
                       pl.col("label").cast(pl.Utf8))
    bad = d.filter(~pl.col("decision").is_in(list(DECISIONS)))
    if bad.height:
        raise ValueError(f"decisions must be one of {', '.join(DECISIONS)}; "
                         f"found {bad['decision'].unique().to_list()[:5]}")
    return d


def _first_round(d: pl.DataFrame) -> pl.DataFrame:
    """The verifiers' decisions (round ``verify``), at most one per document, coder and label."""
    first = d.filter(pl.col("round") == "verify")
    dup = first.select("doc_id", "coder", "label").is_duplicated()
    if dup.any():
        ex = first.filter(dup).row(0, named=True)
        raise ValueError(f"{int(dup.sum())} duplicate decisions, e.g. coder '{ex['coder']}' on document "
                         f"'{ex['doc_id']}', label '{ex['label']}'")
    return first


def _with_adjudication(d: pl.DataFrame, adjudication: pl.DataFrame | None) -> pl.DataFrame:
    """The whole decision log: the first round and, marked round ``adjudication``, the adjudicator's."""
    if adjudication is None or not adjudication.height:
        return d
    adj = adjudication.with_columns(pl.lit("adjudication").alias("round"))
    for c, t in DECISION_SCHEMA.items():
        if c not in adj.columns:
            adj = adj.with_columns(pl.lit(None, t).alias(c))
    return pl.concat([d, adj.select(d.columns)], how="vertical_relaxed")


def _units(first: pl.DataFrame) -> tuple[Units, set[tuple[str, str]]]:
    """Each coder's decision per document and label, and the (document, label) pairs a coder supplied."""
    units: Units = {}
    supplied: set[tuple[str, str]] = set()
    for doc, coder, lab, dec in first.select("doc_id", "coder", "label", "decision").iter_rows():
        units.setdefault(doc, {}).setdefault(lab, {})[coder] = "keep" if dec == "supplied" else dec
        if dec == "supplied":
            supplied.add((doc, lab))
    return units, supplied


def _adjudicated_labels(adjudication: pl.DataFrame | None) -> dict[str, set[str]]:
    """Per document on the adjudication sheet, the labels the adjudicator kept or supplied (maybe none)."""
    kept: dict[str, set[str]] = {}
    if adjudication is not None:
        for doc, lab, dec in adjudication.select("doc_id", "label", "decision").iter_rows():
            s = kept.setdefault(str(doc), set())
            if dec in ("keep", "supplied"):
                s.add(str(lab))
    return kept


def _first_round_outcome(labs: Mapping[str, Mapping[str, str]], n_coders: int, *, task: str,
                         overlap_policy: OverlapPolicy) -> tuple[set[str], str, str | None]:
    """What the verifiers of one document decided: the kept labels, the ``source`` (before marks), and
    why the document goes to adjudication (``None``: it is verified)."""
    kept, conflict = set(), set()
    for lab, per in labs.items():
        vals = set(per.values())
        if vals == {"keep"}:
            kept.add(lab)
        elif len(vals) > 1:
            conflict.add(lab)
    reason = None
    base = "human" if n_coders == 1 else "human-agreement"
    if conflict:
        if overlap_policy == "adjudicate":
            reason = "coders disagree"
        else:
            base = f"human-{overlap_policy}"
            if overlap_policy == "union":
                kept |= conflict
    if reason is None and task == "single" and len(kept) != 1:
        reason = "none kept" if not kept else "several kept"
    return kept, base, reason


def _queue_entry(doc: str, labs: Mapping[str, Mapping[str, str]], coders: list[str], reason: str) -> dict[str, Any]:
    """A row of the adjudication queue: why, who decided, what each of them kept, the labels decided on."""
    kept_by = {c: "|".join(sorted(lab for lab, p in labs.items() if p.get(c) == "keep")) or "-"
               for c in coders}
    return {"doc_id": doc, "reason": reason, "coders": coders,
            "kept": "; ".join(f"{c}: {k}" for c, k in kept_by.items()), "labels": sorted(labs)}


def _decide_document(doc: str, labs: Mapping[str, Mapping[str, str]], *, task: str, overlap_policy: OverlapPolicy,
                     supplied: set[tuple[str, str]], adjudicated: set[str] | None,
                     simulated: bool) -> _Verified | dict[str, Any]:
    """One document: verified (by its verifiers, or by the adjudicator, who wins) or a queue entry."""
    coders = sorted({c for per in labs.values() for c in per})
    kept, base, reason = _first_round_outcome(labs, len(coders), task=task, overlap_policy=overlap_policy)
    if adjudicated is not None:
        if task == "multi" or len(adjudicated) == 1:
            return _Verified(doc, sorted(adjudicated), len(coders) + 1, _source("adjudication", simulated))
        reason = f"adjudication unresolved ({len(adjudicated)} labels kept)"
    if reason is not None:
        return _queue_entry(doc, labs, coders, reason)
    if any((doc, lab) in supplied for lab in kept):
        base += "-supplied"  # a verifier gave the label; it was not an LLM's proposal
    return _Verified(doc, sorted(kept), len(coders), _source(base, simulated))


def _verified_table(rows: list[_Verified], task: str) -> pl.DataFrame:
    """The verified labels: ``label`` (single-label) or ``labels`` (multi-label), verifiers, source."""
    common = {"doc_id": [r.doc_id for r in rows]}
    tail = {"n_verifiers": [r.n_verifiers for r in rows], "source": [r.source for r in rows]}
    tail_schema = {"n_verifiers": pl.Int64, "source": pl.Utf8}
    if task == "single":
        return pl.DataFrame({**common, "label": [r.labels[0] for r in rows], **tail},
                            schema={"doc_id": pl.Utf8, "label": pl.Utf8, **tail_schema})
    return pl.DataFrame({**common, "labels": [r.labels for r in rows], **tail},
                        schema={"doc_id": pl.Utf8, "labels": pl.List(pl.Utf8), **tail_schema})


def _queue_table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The adjudication queue as a table (empty, with its columns, when nothing waits)."""
    return pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "reason": pl.Utf8, "coders": pl.List(pl.Utf8),
                                      "kept": pl.Utf8, "labels": pl.List(pl.Utf8)})


def _adjudication_sheet(queue: pl.DataFrame, *, task: str, codebook: Codebook | None,
                        texts: Mapping[str, str] | None, seed: int) -> pl.DataFrame | None:
    """The blank sheet for the adjudicator (``None`` without texts or queue): all codebook labels for a
    single-label document with no kept label, else the labels decided on, in a blind order."""
    if texts is None or queue.height == 0:
        return None
    names = codebook.names if codebook else {}
    defs = {lab.id: lab.definition for lab in codebook.labels} if codebook else {}
    from llmcoder.verify.sheets import _clean

    rows: dict[str, list[Any]] = {c: [] for c in SHEET_COLUMNS}
    for doc, reason, labs in queue.select("doc_id", "reason", "labels").iter_rows():
        if task == "single" and reason == "none kept" and codebook is not None:
            labs = codebook.ids
        for lab in sorted(labs, key=lambda lab, doc=doc: order_key(seed, doc, lab)):
            rows["item"].append(len(rows["item"]) + 1)
            rows["doc_id"].append(doc)
            rows["text"].append(texts.get(doc, ""))
            rows["label"].append(lab)
            rows["label_name"].append(_clean(names.get(lab, lab)))
            rows["definition"].append(_clean(defs.get(lab, "")))
            rows["decision"].append(None)
            rows["right_label"].append(None)
            rows["comment"].append(None)
    return pl.DataFrame(rows, schema={c: (pl.Int64 if c == "item" else pl.Utf8) for c in SHEET_COLUMNS})


def _summary(first: pl.DataFrame, units: Units, verified: list[_Verified], queue: list[dict[str, Any]],
             adjudicated: Mapping[str, set[str]], *, study: str | None, task: str, overlap_policy: OverlapPolicy,
             simulated: bool) -> dict[str, Any]:
    """The counts of ``summary.json``: documents, verified, queued (and why), decisions, coders, overlap."""
    reasons = Counter(q["reason"] for q in queue)
    return {
        "study": study, "task": task, "overlap_policy": overlap_policy, "simulated": simulated,
        "n_documents": len(units), "n_verified": len(verified), "n_adjudication_queue": len(queue),
        "adjudication_reasons": dict(sorted(reasons.items())), "n_decisions": first.height,
        "n_rejected": int((first["decision"] == "reject").sum()),
        "n_supplied": int((first["decision"] == "supplied").sum()),
        "n_adjudicated": len(adjudicated), "coders": sorted(set(first["coder"].to_list())),
        "n_overlap_documents": sum(1 for labs in units.values()
                                   if len({c for per in labs.values() for c in per}) > 1),
    }


def verify_decisions(
    decisions: pl.DataFrame,
    *,
    task: str,
    proposals: pl.DataFrame | None = None,
    adjudication: pl.DataFrame | None = None,
    overlap_policy: OverlapPolicy = "adjudicate",
    simulated: bool = False,
    study: str | None = None,
    codebook: Codebook | None = None,
    texts: Mapping[str, str] | None = None,
    random_state: int = 0,
    reliability: bool = True,
    summary_extra: Mapping[str, Any] | None = None,
) -> VerifyResult:
    """Verified labels, adjudication queue, acceptance rates, workload and reliability from a decision log.

    Args:
        decisions: One row per (doc_id, coder, label) with ``decision`` ``keep`` or ``reject``
            (further columns of the decision log are kept as they are).
        task: ``"single"`` (a document with exactly one kept label is verified; none or several go to
            adjudication) or ``"multi"`` (the kept set, possibly empty, is verified).
        proposals: ``doc_id, label, llm_coders`` (list): which LLM coder proposed what.
        adjudication: The adjudicator's decisions (same columns); they win for their documents.
        overlap_policy: Documents decided by several coders who disagree on a label: ``"adjudicate"``,
            ``"union"`` or ``"intersection"``.
        simulated: The decisions come from :func:`simulate_verification`; said in ``source``.
        codebook, texts, random_state: Used to build the adjudication sheet (all codebook labels for a
            single-label document with no kept label; else the labels decided on).
    """
    _check_settings(task, overlap_policy)
    d = _complete_log(decisions)
    first = _first_round(d)
    d = _with_adjudication(d, adjudication)
    log = d.sort("round", "doc_id", "coder", "label", descending=[True, False, False, False])

    units, supplied = _units(first)
    adjudicated = _adjudicated_labels(adjudication)
    verified_rows: list[_Verified] = []
    queue_rows: list[dict[str, Any]] = []
    for doc in sorted(units):
        outcome = _decide_document(doc, units[doc], task=task, overlap_policy=overlap_policy, supplied=supplied,
                                   adjudicated=adjudicated.get(doc), simulated=simulated)
        if isinstance(outcome, _Verified):
            verified_rows.append(outcome)
        else:
            queue_rows.append(outcome)

    queue = _queue_table(queue_rows)
    adj_sheet = _adjudication_sheet(queue, task=task, codebook=codebook, texts=texts, seed=random_state)
    acceptance = acceptance_rates(first, proposals, {r.doc_id: set(r.labels) for r in verified_rows})
    rel, rel_note = (human_reliability(first, task=task) if reliability
                     else (pl.DataFrame(schema=RELIABILITY_SCHEMA), None))
    ceiling, ceiling_note = verifier_ceiling(first, task=task, labels=codebook.ids if codebook is not None else None) \
        if reliability else (None, None)
    summary = _summary(first, units, verified_rows, queue_rows, adjudicated, study=study, task=task,
                       overlap_policy=overlap_policy, simulated=simulated)
    if rel_note:
        summary["reliability_note"] = rel_note
    if ceiling_note:
        summary["human_ceiling_note"] = ceiling_note
    summary.update(summary_extra or {})
    return VerifyResult(task=task, verified=_verified_table(verified_rows, task), decisions=log, queue=queue,
                        acceptance=acceptance, workload=workload(d), reliability=rel, summary=summary,
                        adjudication_sheet=adj_sheet, simulated=simulated, study=study, ceiling=ceiling)
