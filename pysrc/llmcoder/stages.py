"""Study-level steps of the workflow: each Snakemake rule calls one function here (or, for the last two
steps, one function of the module named below), and the CLI calls the same functions.

==================  ==========================================  ==============================
rule                step function                               CLI
==================  ==========================================  ==============================
prepare_corpus      :func:`canonical_corpus`                    ``llmcoder prepare``
split               :func:`study_splits`                        ``llmcoder split``
code_llm            :func:`llm_codings`                         ``llmcoder code``
verify_sheets       :func:`verification_sheets`                 ``llmcoder verify sheets``
verify_simulate     :func:`simulated_verification`              ``llmcoder verify simulate``
verify_ingest       :func:`ingest_verification`                 ``llmcoder verify ingest``
verify_import       :func:`import_verification`                 ``llmcoder verify import``
finetune            :func:`finetuned_model`                     ``llmcoder finetune``
learning_curve      :func:`write_learning_curve`
predict_corpus      :func:`corpus_predictions`                  ``llmcoder predict``
evaluate            :func:`evaluate_coder`, :func:`evaluate_finetuned`  ``llmcoder evaluate``
coders_vs_gold      :func:`coders_vs_gold_reliability`
bias_checks         :func:`bias_checks`
infer               :func:`findings`                            ``llmcoder infer`` (on files)
manifest            :func:`llmcoder.results.write_manifest`
report              :func:`llmcoder.report.build_report`        ``llmcoder report``
==================  ==========================================  ==============================

These functions only join the stage modules (corpus, coders, verify, finetune, metrics, reliability,
bias, report) to the study's files under ``results/<study>/``; the statistics and models live in
those modules. Every function takes paths and plain settings and writes its outputs atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder.io import provenance, write_csv, write_json

PathLike = str | os.PathLike[str]


# -- data and coding -----------------------------------------------------------------------------

def canonical_corpus(corpus: Mapping[str, Any], codebook: PathLike, out: PathLike, *, study: str) -> str:
    """Validate a study's raw corpus (its ``corpus`` block) against the codebook; write the canonical
    Parquet; return a one-line summary. Nothing is written when the corpus or the codebook is invalid,
    or when ``out`` is the raw corpus itself."""
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import CorpusSpec, prepare_corpus, summarize
    from llmcoder.errors import InputError

    spec = CorpusSpec.from_config(corpus).resolved()
    if Path(out).resolve() == Path(spec.path).resolve():
        raise InputError(str(out), "the output would overwrite the raw corpus",
                         fix=f"write the canonical corpus elsewhere (--out results/{study}/corpus.parquet)")
    cb = load_codebook(codebook)
    df = prepare_corpus(spec, cb, out)
    return f"{study}: {summarize(df, cb, spec)}"


def study_splits(corpus: PathLike, split: Mapping[str, Any] | Any, out: PathLike, *, source: str,
                 record: PathLike | None = None) -> pl.DataFrame:
    """Stratified train/dev/test splits with nested training sizes (``split``: a study's ``split`` block
    or a :class:`~llmcoder.splits.SplitConfig`); write them, and the split's design to ``record``
    (``split.json``); return the split sizes."""
    from llmcoder.corpus import read_corpus
    from llmcoder.results import checked
    from llmcoder.splits import SplitConfig, make_splits, split_record, write_splits

    cfg = split if isinstance(split, SplitConfig) else SplitConfig.from_config(dict(split))
    docs = read_corpus(corpus)
    splits = make_splits(docs, cfg, source=source)
    write_splits(splits, out)
    if record is not None:
        write_json(checked("split_record", provenance(artifact="splits", **split_record(docs, splits, cfg))), record)
    return splits.group_by("split").len().sort("split")


def llm_codings(corpus: PathLike, codebook: PathLike, coder: PathLike, out: PathLike, *, rotations: int = 1,
                limit: int | None = None, threads: int | None = None, progress: bool = False) -> str:
    """Code every document with the LLM coder of ``coder`` (its YAML), resuming from the journal of an
    earlier, killed run; write the codings, label orders and provenance; return a one-line summary.
    ``threads`` sets torch's CPU threads without changing the coder's id."""
    from llmcoder.codebook import load_codebook
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.run import code_corpus, side_paths, summary_line

    cfg = CoderConfig.from_yaml(coder)
    if threads:
        cfg.threads = threads
    res = code_corpus(corpus, load_codebook(codebook), cfg, out, rotations=rotations, limit=limit, progress=progress)
    return summary_line(cfg.coder_id, res["doc_id"].n_unique(), rotations, Path(out), side_paths(out)["provenance"],
                        source=cfg.source)


def ensemble_coder(codings: Mapping[str, PathLike], provenance: Mapping[str, PathLike],
                   orders: Mapping[str, PathLike], coder: PathLike, out: PathLike) -> str:
    """The ensemble of ``coder`` (its YAML: members, combine) from its members' codings, provenance and
    label orders (``{member: path}``); writes its codings, orders and provenance; returns a summary line."""
    from llmcoder.coders.ensemble import EnsembleConfig, ensemble_codings

    cfg = EnsembleConfig.from_yaml(coder)
    res = ensemble_codings(codings, provenance, orders, cfg, out)
    agree = json.loads(Path(out).with_suffix(".json").read_text(encoding="utf-8"))["agreement"]
    return (f"{cfg.name}: {cfg.combine} of {', '.join(cfg.members)} over {res['doc_id'].n_unique()} documents -> "
            f"{out}; the members chose the same label(s) for {agree['n_all_agree']} of {agree['n_documents']}")


# -- verification ---------------------------------------------------------------------------------

def verification_sheets(corpus: PathLike, splits: PathLike, codings: Sequence[PathLike], codebook: PathLike,
                        out_dir: PathLike, *, study: str, settings: Mapping[str, Any],
                        sample: PathLike | None = None) -> Path:
    """Blank sheets for the human coders, covering the documents of the splits named in ``settings`` and,
    with ``sample`` (the inference sample drawn by :func:`inference_sample`), the sampled documents too."""
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import read_corpus
    from llmcoder.errors import InputError, Problem
    from llmcoder.verify import make_sheets, write_sheets
    from llmcoder.verify.proposals import ProposalPolicy, conformal_thresholds

    cb = load_codebook(codebook)
    all_docs = read_corpus(corpus).join(pl.read_parquet(splits).select("doc_id", "split"), on="doc_id")
    keep = pl.col("split").is_in(list(settings["splits"]))
    sampled: list[str] = []
    if sample is not None:
        sampled = _read_parquet(sample, "inference sample").filter(pl.col("labelled"))["doc_id"].cast(pl.Utf8).to_list()
        keep = keep | pl.col("doc_id").is_in(sampled)
    docs = all_docs.filter(keep).drop("split")
    all_codings = pl.concat([pl.read_parquet(p) for p in codings], how="diagonal_relaxed")
    codings_df = all_codings.filter(pl.col("doc_id").is_in(docs["doc_id"].implode()))
    from llmcoder.study import with_defaults

    settings = with_defaults("verify", settings)  # the keys a caller left out take the schema's defaults
    prop = settings["proposals"]
    policy = ProposalPolicy(policy=prop["policy"], k=prop["k"], mass=prop["mass"], coverage=prop["coverage"],
                            min_prob=settings["min_prob"])
    thresholds = None
    if policy.policy == "conformal":
        thresholds = conformal_thresholds(all_codings, _calibration_gold(all_docs, cb, prop["calibration"]),
                                          policy.coverage)
    sheets = make_sheets(docs, codings_df, cb, coders=list(settings["humans"]),
                         overlap=settings["overlap"], overlap_coders=settings["overlap_coders"],
                         policy=policy, thresholds=thresholds, route=settings["route"],
                         uncertain_below=settings["uncertain_below"], random_state=settings["seed"])
    if sampled:  # every sampled document needs a verified label: one without a proposal would have no row
        on_sheets = set(sheets.assignments["doc_id"].to_list())
        off = [d for d in sampled if d not in on_sheets]
        if off:
            raise InputError(str(sample), f"{len(off)} document(s) of the inference sample have no LLM proposal to "
                             "verify", [Problem(f"doc_id '{d}'") for d in off],
                             fix="code every document with the LLM coders (coding.limit: null)")
        sheets.settings["inference_sample"] = {"file": str(sample), "n_documents": len(sampled),
                                               "n_outside_splits": int(all_docs.filter(
                                                   pl.col("doc_id").is_in(sampled)
                                                   & ~pl.col("split").is_in(list(settings["splits"]))).height)}
    if settings["selection_share"]:  # the browser shows this share of each person's documents for selection
        if settings["mode"] != "web" or cb.task != "single":
            raise InputError("verify.selection_share", "selection mode is for verify.mode web and a single-label "
                             f"codebook (this study: mode {settings['mode']}, {cb.task}-label)",
                             fix="set verify.selection_share to 0, or verify.mode to web")
        sheets.settings["selection_share"] = float(settings["selection_share"])
    write_sheets(sheets, out_dir, study=study)
    return Path(out_dir) / "manifest.json"


def _calibration_gold(docs: pl.DataFrame, cb: Any, split: str) -> dict[str, str]:
    """Gold labels of the conformal calibration split (single-label); an error naming the key if none."""
    from llmcoder.errors import InputError

    if cb.task != "single":
        raise InputError("verify.proposals.policy", "conformal label sets are for single-label codebooks",
                         fix="use policy top_k or mass for a multi-label codebook")
    cal = docs.filter(pl.col("split") == split)
    if "label" not in cal.columns or cal["label"].drop_nulls().len() == 0:
        raise InputError("verify.proposals.calibration", f"the {split} split has no gold labels to calibrate on",
                         fix="give the corpus a gold label column (corpus.label) or use policy top_k or mass")
    return dict(cal.filter(pl.col("label").is_not_null()).select("doc_id", "label").iter_rows())


def simulated_verification(manifest: PathLike, corpus: PathLike, out_dir: PathLike, *, error_rate: float,
                           seed: int, codebook: PathLike | None = None) -> list[Path]:
    """Fill the blank sheets from the gold labels with seeded errors (for the demo; marked simulated)."""
    from llmcoder.corpus import read_corpus
    from llmcoder.verify import load_manifest, simulate_verification, write_sheets
    from llmcoder.verify.simulate import read_blank_sheets

    man = load_manifest(manifest)
    blank = read_blank_sheets(Path(manifest).parent, man)
    if codebook is not None:  # the label names the simulated verifier writes as right labels
        from llmcoder.codebook import load_codebook

        blank.codebook = load_codebook(codebook)
    filled = simulate_verification(blank, read_corpus(corpus), error_rate=error_rate, random_state=seed)
    return write_sheets(filled, out_dir, study=man["study"], formats=["xlsx"], manifest=False)


def ingest_verification(filled: Sequence[PathLike], manifest: PathLike, codebook: PathLike, out_dir: PathLike,
                        *, overlap_policy: str, adjudication: PathLike | None = None,
                        require_all: bool = True,
                        simulate_adjudication: Mapping[str, Any] | None = None,
                        timing: PathLike | None = None, corpus: PathLike | None = None) -> dict[str, Any]:
    """Validate the filled sheets and write verified labels, decision log, queue, rates, reliability
    (``require_all=False``: the sheets there are, the missing coders listed in the summary).
    ``timing`` is the ``timing.csv`` of a browser verification (``llmcoder verify export``): its seconds
    per decision go into the summary, and, where documents were shown for selection, the two modes
    compared (against the gold labels of ``corpus``, where it has them).

    ``simulate_adjudication`` (``{"corpus": ..., "error_rate": ..., "seed": ...}``, simulated
    verification only) has the adjudication queue decided from gold, as the demo's stand-in for people.
    """
    from llmcoder.verify import ingest

    result = ingest([Path(p) for p in filled], codebook=codebook, manifest=manifest,
                    adjudication=adjudication, overlap_policy=overlap_policy, require_all=require_all)
    if simulate_adjudication is not None and result.adjudication_sheet is not None and adjudication is None:
        result = _simulated_adjudication(result, filled, manifest, codebook, overlap_policy, **simulate_adjudication)
    if timing is not None:
        from llmcoder.verify.web import timing_summary

        gold = None
        if corpus is not None:
            from llmcoder.corpus import read_corpus

            docs = read_corpus(corpus)
            if "label" in docs.columns and docs.schema["label"] == pl.Utf8:  # single-label gold
                gold = {d: lab for d, lab in docs.select("doc_id", "label").iter_rows() if lab}
        result.summary["timing"] = timing_summary(timing, decisions=result.decisions, gold=gold)
    result.write(out_dir)
    return result.summary


def _simulated_adjudication(first: Any, filled: Sequence[PathLike], manifest: PathLike, codebook: PathLike,
                            overlap_policy: str, *, corpus: PathLike, error_rate: float, seed: int) -> Any:
    """The demo's adjudication: the queue of the first ingest decided from gold with seeded errors
    (marked simulated), then ingested like a person's adjudication sheet."""
    import tempfile

    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import read_corpus
    from llmcoder.verify import ingest, write_sheets
    from llmcoder.verify.simulate import simulate_adjudication

    cb = load_codebook(codebook)
    sheets = simulate_adjudication(first.adjudication_sheet, read_corpus(corpus), codebook=cb,
                                   error_rate=error_rate, random_state=seed)
    with tempfile.TemporaryDirectory(prefix="llmcoder-adjudication-") as tmp:
        path = write_sheets(sheets, Path(tmp) / "adjudication", study=str(first.study), formats=["xlsx"],
                            manifest=False)["adjudicator.xlsx"]
        result = ingest([Path(p) for p in filled], codebook=cb, manifest=manifest, adjudication=path,
                        overlap_policy=overlap_policy)  # type: ignore[arg-type]
    result.summary["adjudication"] = {"simulated": True, "error_rate": error_rate, "seed": seed,
                                      "n_queue_before": first.summary["n_adjudication_queue"]}
    return result


def import_verification(decisions: PathLike, corpus: PathLike, codebook: PathLike, out_dir: PathLike, *,
                        fmt: str, overlap_policy: str, study: str) -> dict[str, Any]:
    """A verification done outside llmcoder (e.g. the paper's own) as the study's verified labels,
    decision log, acceptance rates and reliability, compared with the corpus gold where there is one."""
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import read_corpus
    from llmcoder.errors import InputError, rows_problem
    from llmcoder.io import file_sha256
    from llmcoder.verify import verify_decisions
    from llmcoder.verify.adapters import compare_label_sets, import_decisions

    cb = load_codebook(codebook)
    dec, proposals = import_decisions(decisions, cb, fmt=fmt)
    docs = read_corpus(corpus)
    stray = dec.filter(~pl.col("doc_id").is_in(docs["doc_id"].implode()))
    if stray.height:
        raise InputError(str(decisions), f"{stray['doc_id'].n_unique()} document(s) are not in the corpus",
                         rows_problem(stray["row"].to_list(), "doc_id not in the corpus", "doc_id"),
                         fix=f"the decisions must name documents of the study's corpus ({corpus})")
    result = verify_decisions(
        dec, task=cb.task, proposals=proposals, overlap_policy=overlap_policy,  # type: ignore[arg-type]
        study=study, codebook=cb, texts=dict(docs.select("doc_id", "text").iter_rows()),
        summary_extra={"imported_from": str(decisions), "imported_sha256": file_sha256(decisions),
                       "import_format": fmt})
    gold_col = "labels" if "labels" in docs.columns else "label" if "label" in docs.columns else None
    if gold_col is not None:
        col = "labels" if cb.task == "multi" else "label"
        as_set = (lambda v: set(v or [])) if col == "labels" else (lambda v: {v} if v is not None else set())
        gold = {d: as_set(v) for d, v in docs.select("doc_id", gold_col).iter_rows()
                if gold_col == "labels" or v is not None}
        ver = {d: as_set(v) for d, v in result.verified.select("doc_id", col).iter_rows()}
        result.summary["vs_corpus_gold"] = compare_label_sets(ver, gold)
    result.write(out_dir)
    return result.summary


# -- fine-tuning and prediction ------------------------------------------------------------------

def finetuned_model(config: PathLike, corpus: PathLike, splits: PathLike, verified: PathLike | None,
                    out_dir: PathLike, *, size: float, seed: int, codebook: PathLike | None = None) -> dict[str, Any]:
    """Fine-tune the model of ``config`` (a YAML) on a nested training subset (``size``) with ``seed``,
    predict and score the test split; write ``out_dir`` (model, predictions, metrics); return the record.

    ``verified`` (``verify/ingest/verified.parquet``) trains on the people's labels instead of gold.
    ``codebook`` (the study's) replaces the config's own, so the labels are in the codebook's order.
    """
    from llmcoder.finetune.config import FinetuneConfig
    from llmcoder.jobs import train_and_predict

    job = FinetuneConfig.from_yaml(config, codebook=codebook)
    return train_and_predict(job, corpus, splits, verified, size=size, seed=seed, out_dir=out_dir)


def crossfit_models(config: PathLike, corpus: PathLike, splits: PathLike, verified: PathLike | None,
                    out_dir: PathLike, *, folds: int, seed: int, codebook: PathLike | None = None) -> dict[str, Any]:
    """Cross-fitted predictions of the fine-tuned model of ``config`` (``inference.crossfit``): ``folds``
    models, each trained without one fold of the labelled documents (:mod:`llmcoder.crossfit`)."""
    from llmcoder.crossfit import crossfit_predictions
    from llmcoder.finetune.config import FinetuneConfig

    job = FinetuneConfig.from_yaml(config, codebook=codebook)
    return crossfit_predictions(job, corpus, splits, verified, out_dir, folds=folds, seed=seed)


def corpus_predictions(model: PathLike, corpus: PathLike, out: PathLike, *, routed: PathLike | None = None,
                       route_share: float | None = None, route_threshold: float | None = None,
                       route_by: str = "max_prob", precision: str = "fp32", batch_size: int = 64,
                       chunk_rows: int = 50_000, doc_ids: Sequence[str] | None = None,
                       progress: bool = False) -> Path:
    """Code every document of ``corpus`` with a fine-tuned model (resumable); with ``routed``, write the
    least confident documents (``route_share`` or below ``route_threshold``) there for human review."""
    from llmcoder.predict import Routing, predict

    route = None
    if routed is not None:
        route = Routing(out=Path(routed), share=route_share, threshold=route_threshold, by=route_by)
    return predict(model, corpus, out, batch_size=batch_size, chunk_rows=chunk_rows, precision=precision,
                   doc_ids=doc_ids, route=route, progress=progress)


# -- evaluation -----------------------------------------------------------------------------------

def gold_table(corpus: PathLike, splits: PathLike, *, split: str = "test") -> pl.DataFrame:
    """Gold labels of one split in long format ``doc_id, label`` (one row per label if multi-label)."""
    from llmcoder.corpus import read_corpus
    from llmcoder.errors import InputError

    c = read_corpus(corpus)
    if "labels" not in c.columns and "label" not in c.columns:
        raise InputError(str(corpus), "the corpus has no gold labels to evaluate against",
                         fix="name the gold column in config.yaml (corpus.label or corpus.labels of the study), "
                             "or evaluate a study that has gold labels")
    s = _read_splits(splits)
    c = c.join(s.select("doc_id", "split"), on="doc_id").filter(pl.col("split") == split)
    if c.height == 0:
        have = ", ".join(sorted(s["split"].drop_nulls().unique().to_list())) or "none"
        raise InputError(str(splits), f"no document of the corpus is in the '{split}' split (splits: {have})",
                         fix="write the splits again from this corpus (`llmcoder split`, or rerun the split rule)")
    if "labels" in c.columns:
        return c.select("doc_id", pl.col("labels").alias("label")).explode("label")
    return c.filter(pl.col("label").is_not_null()).select("doc_id", "label")


def _read_splits(splits: PathLike) -> pl.DataFrame:
    """The splits table, with a message naming the file when it is missing or lacks its columns."""
    from llmcoder.errors import InputError

    p = Path(splits)
    if not p.is_file():
        raise InputError(str(p), "splits file not found", fix="write it with `llmcoder split` (or the split rule)")
    try:
        s = pl.read_parquet(p)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(p), f"not a readable Parquet file ({e})",
                         fix="write it again with `llmcoder split`") from e
    missing = [col for col in ("doc_id", "split") if col not in s.columns]
    if missing:
        raise InputError(str(p), f"column(s) {', '.join(missing)} missing (have: {', '.join(s.columns)})",
                         fix="give the splits table written by `llmcoder split`")
    return s.with_columns(pl.col("doc_id").cast(pl.Utf8))


def chosen_labels(scored: pl.DataFrame) -> pl.DataFrame:
    """Chosen labels (long ``doc_id, label``) of a scored table (``doc_id, label, chosen``); a document
    with no label chosen (multi-label: the empty set) keeps one row with a null label, so that it
    counts as coded, with no label, rather than as missing."""
    chosen = scored.filter(pl.col("chosen")).select("doc_id", "label")
    empty = (scored.select("doc_id").unique().join(chosen.select("doc_id").unique(), on="doc_id", how="anti")
             .with_columns(pl.lit(None, pl.Utf8).alias("label")))
    return pl.concat([chosen, empty]).sort("doc_id", "label", nulls_last=True)


def coder_predictions(codings: pl.DataFrame, *, rotation: int = 0) -> pl.DataFrame:
    """A coder's chosen labels (long ``doc_id, label``) under one label order."""
    return chosen_labels(codings.filter(pl.col("rotation") == rotation))


def evaluate_system(pred: pl.DataFrame, corpus: PathLike, splits: PathLike, codebook: PathLike, out_dir: PathLike,
                    *, system: str, n_boot: int, seed: int, split: str = "test",
                    coded: Sequence[str] | None = None, source: PathLike | None = None,
                    probs: pl.DataFrame | None = None) -> dict[str, Any]:
    """Score one system's labels on a split against gold; write metrics, per-class and confusion files.

    ``coded`` restricts the gold standard to the documents the system coded (an LLM coder run with
    ``coding.limit``); otherwise every gold document must have a prediction. ``source`` is the
    predictions file, named in messages. ``probs`` (long ``doc_id, label, prob, chosen``) adds the
    calibration scores and the reliability diagram's data (:func:`llmcoder.metrics.calibration`).
    The folder is written all or nothing.
    """
    from llmcoder.codebook import load_codebook
    from llmcoder.errors import InputError
    from llmcoder.metrics import EVALUATION_FILES, check_output_folder, evaluate, write_evaluation

    check_output_folder(out_dir, EVALUATION_FILES, option="out_dir", what="evaluation")
    cb = load_codebook(codebook)
    gold = gold_table(corpus, splits, split=split)
    if coded is not None:
        gold = gold.filter(pl.col("doc_id").is_in(pl.Series(list(coded)).implode()))
    pred = pred.filter(pl.col("doc_id").is_in(gold["doc_id"].unique().implode()))
    try:
        result = evaluate(gold, pred, labels=cb.ids, task=cb.task, n_boot=n_boot, random_state=seed, probs=probs)
    except InputError as e:  # name the study's files rather than "gold" and "pred"
        where = {"gold": f"{corpus} (gold labels of the {split} split)", "pred": str(source or system)}
        raise InputError(where.get(e.path, e.path), e.what, e.problems, e.fix) from None
    write_evaluation(result, out_dir, system=system, source=source)
    return result


def evaluate_coder(codings: PathLike, corpus: PathLike, splits: PathLike, codebook: PathLike, out_dir: PathLike,
                   *, system: str, n_boot: int, seed: int) -> dict[str, Any]:
    """Evaluate an LLM coder (rotation 0, the codebook's own label order) on the test split, with the
    calibration of its probabilities."""
    df = _read_scored(codings, ("doc_id", "label", "chosen", "rotation"))
    probs = df.filter(pl.col("rotation") == 0) if "prob" in df.columns else None
    return evaluate_system(coder_predictions(df), corpus, splits, codebook, out_dir, system=system, n_boot=n_boot,
                           seed=seed, coded=df["doc_id"].unique().to_list(), source=codings, probs=probs)


def evaluate_finetuned(predictions: PathLike, corpus: PathLike, splits: PathLike, codebook: PathLike,
                       out_dir: PathLike, *, system: str, n_boot: int, seed: int) -> dict[str, Any]:
    """Evaluate a fine-tuned model's test-split predictions (long ``doc_id, label, prob, chosen``), with
    the calibration of its probabilities."""
    df = _read_scored(predictions, ("doc_id", "label", "chosen"))
    return evaluate_system(chosen_labels(df), corpus, splits, codebook, out_dir, system=system, n_boot=n_boot,
                           seed=seed, source=predictions, probs=df if "prob" in df.columns else None)


def _read_scored(path: PathLike, columns: Sequence[str]) -> pl.DataFrame:
    """A coder's or model's long output, checked for the columns the evaluation needs."""
    from llmcoder.errors import InputError

    df = _read_parquet(path, "predictions")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(str(path), f"column(s) {', '.join(missing)} missing (have: {', '.join(df.columns)})",
                         fix="give an LLM coder's output (doc_id, coder_id, rotation, label, prob, chosen) or a "
                             "fine-tuned model's predictions (doc_id, label, prob, chosen)")
    return df


def write_learning_curve(records: Sequence[PathLike], out_csv: PathLike) -> pl.DataFrame:
    """Gather the fine-tuning jobs' test metrics into ``learning_curve.csv`` (long format)."""
    from llmcoder.finetune.curves import learning_curve
    from llmcoder.results import checked

    curve = learning_curve([Path(r) for r in records])
    write_csv(checked("learning_curve", curve), out_csv)
    return curve


# -- agreement and bias ---------------------------------------------------------------------------

def coders_vs_gold_reliability(codings: Mapping[str, PathLike], corpus: PathLike, splits: PathLike,
                               out_csv: PathLike) -> pl.DataFrame:
    """Agreement of each LLM coder with gold on the test split, and among the coders ("another coder").

    Writes one table with a ``comparison`` column: ``<coder> vs gold`` and ``LLM coders`` (all of them).
    """
    from llmcoder.errors import InputError
    from llmcoder.reliability import agreement_with_gold, reliability

    if not codings:
        raise InputError(str(out_csv), "no LLM coder output to compare with gold",
                         fix="list the study's LLM coders under 'coders' in config.yaml")
    gold = gold_table(corpus, splits)
    preds, tables = [], []
    for name, path in codings.items():
        p = coder_predictions(_read_scored(path, ("doc_id", "label", "chosen", "rotation")))
        p = p.filter(pl.col("doc_id").is_in(gold["doc_id"].implode()))
        preds.append(p.select("doc_id", pl.lit(name).alias("coder"), "label"))
        # the gold documents this coder coded (all of the test split, but with coding.limit), as in evaluate
        coded = gold.filter(pl.col("doc_id").is_in(p["doc_id"].implode()))
        tables.append(agreement_with_gold(preds[-1], coded.select("doc_id", "label")))
    if len(preds) > 1:
        tables.append(reliability(pl.concat(preds)).select(pl.lit("LLM coders").alias("comparison"), pl.all()))
    from llmcoder.results import checked

    table = checked("coders_vs_gold", pl.concat(tables, how="diagonal_relaxed"))
    write_csv(table, out_csv)
    return table


#: The files of the bias step; its folder is replaced as a whole, so a table a run has no data for
#: (e.g. positional.csv after the rotations went from 2 to 1) does not survive from an earlier run.
BIAS_FILES = ("positional.csv", "recall_asymmetry.csv", "strata.csv", "routing.csv", "provenance.json")


def bias_checks(codings: Mapping[str, PathLike], predictions: Mapping[str, PathLike], corpus: PathLike,
                splits: PathLike, codebook: PathLike, out_dir: PathLike, *, evaluations: Mapping[str, PathLike],
                orders: Mapping[str, PathLike], strata: Sequence[str], n_boot: int, seed: int,
                routed: Mapping[str, tuple[PathLike, PathLike]] | None = None) -> dict[str, Path]:
    """Positional bias (rotated codings), per-class recall asymmetry and per-stratum metrics, as CSV.

    ``codings`` and ``orders`` map each LLM coder to its output and its label orders
    (``coders/<coder>.parquet``, ``coders/<coder>_orders.parquet``); ``predictions`` maps every system
    (LLM coders and fine-tuned models) to its test-split labels, for the per-stratum metrics, and
    ``evaluations`` to its evaluation folder (``evaluation/<system>``), whose per-class scores the recall
    asymmetry reads rather than scoring again. ``routed`` maps the model that coded the corpus to its
    corpus predictions and its routed CSV (``predictions/<model>.parquet``, ``_routed.csv``): the test
    documents it routed to people are scored apart from the rest (``routing.csv``), which says whether
    routing sends people the documents the model gets wrong. Every table is computed first; the folder
    is then written all or nothing (a staged copy replaces it).
    """
    from llmcoder import bias
    from llmcoder.codebook import load_codebook
    from llmcoder.corpus import read_corpus
    from llmcoder.errors import InputError
    from llmcoder.io import staged_dir
    from llmcoder.metrics import check_output_folder, read_evaluation

    out = check_output_folder(out_dir, BIAS_FILES, option="out_dir", what="bias checks")
    cb = load_codebook(codebook)
    tables: dict[str, pl.DataFrame] = {}
    pos = []
    for name, path in codings.items():
        c = _read_scored(path, ("doc_id", "label", "chosen", "rotation"))
        orders_path = Path(orders[name])
        if c["rotation"].n_unique() > 1:
            try:
                res = bias.positional_bias(c, _read_parquet(orders_path, "label orders"))
            except InputError as e:  # name the files rather than "orders" and "codings"
                where = {"orders": str(orders_path), "codings": str(path)}.get(e.path, e.path)
                raise InputError(where, e.what, e.problems, e.fix) from None
            pos.append(res.select(pl.lit(name).alias("system"), pl.all()) if isinstance(res, pl.DataFrame)
                       else pl.DataFrame([{"system": name, **res}]))
    if pos:
        tables["positional"] = pl.concat(pos, how="diagonal_relaxed")
    corpus_df = read_corpus(corpus)
    gold = gold_table(corpus, splits)
    recall, strata_tables = [], []
    for system, pred_path in predictions.items():
        pred, coded = _system_predictions(pred_path)
        gold_s = gold.filter(pl.col("doc_id").is_in(coded.implode()))  # all of the test split but with coding.limit
        pred = pred.filter(pl.col("doc_id").is_in(gold_s["doc_id"].implode()))
        folder = Path(evaluations[system])
        result = read_evaluation(folder.parent if folder.name == "metrics.json" else folder)
        intervals = bias.recall_gap_intervals(gold_s, pred, labels=cb.ids, n_boot=n_boot, random_state=seed)
        recall.append(bias.recall_asymmetry(result, intervals=intervals)
                      .select(pl.lit(system).alias("system"), pl.all()))
        for stratum in strata:
            if stratum in corpus_df.columns:
                t = bias.stratum_metrics(gold_s, pred, corpus_df.select("doc_id", stratum), by=stratum,
                                         labels=cb.ids, task=cb.task, n_boot=n_boot, random_state=seed)
                strata_tables.append(t.select(pl.lit(system).alias("system"), pl.lit(stratum).alias("stratum"),
                                              pl.col(stratum).cast(pl.Utf8).alias("value"), pl.exclude(stratum)))
    routing_tables = []
    for system, (pred_path, routed_path) in (routed or {}).items():
        routing_tables.append(_routing_metrics(system, pred_path, routed_path, gold, labels=cb.ids, task=cb.task,
                                               n_boot=n_boot, seed=seed))
    if routing_tables:
        tables["routing"] = pl.concat(routing_tables, how="diagonal_relaxed")
    if recall:
        tables["recall_asymmetry"] = pl.concat(recall, how="diagonal_relaxed")
    if strata_tables:
        tables["strata"] = pl.concat(strata_tables, how="diagonal_relaxed")
    check_output_folder(out, BIAS_FILES, option="out_dir", what="bias checks", claim=True)
    from llmcoder.results import checked

    with staged_dir(out) as stage:
        for name, table in tables.items():
            write_csv(checked(f"bias_{name}", table), stage / f"{name}.csv")
        write_json(checked("bias_provenance", provenance(artifact="bias_checks", systems=sorted(predictions))),
                   stage / "provenance.json")
    return {name: Path(out_dir) / f"{name}.csv" for name in tables}


def _routing_metrics(system: str, predictions: PathLike, routed: PathLike, gold: pl.DataFrame, *,
                     labels: Sequence[str], task: str, n_boot: int, seed: int) -> pl.DataFrame:
    """Headline metrics of a model's corpus predictions on the test documents it routed to people and
    on those it did not (``routing``: routed / not routed), with bootstrap CIs."""
    from llmcoder import bias
    from llmcoder.errors import InputError

    pred, coded = _system_predictions(predictions)
    try:
        ids = pl.read_csv(routed, columns=["doc_id"], infer_schema=False)["doc_id"]
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(routed), f"the routed documents cannot be read ({type(e).__name__})",
                         fix="run the predict_corpus rule again") from None
    g = gold.filter(pl.col("doc_id").is_in(coded.implode()))
    test_ids = g["doc_id"].unique()
    groups = pl.DataFrame({"doc_id": test_ids}).with_columns(
        pl.when(pl.col("doc_id").is_in(ids.implode())).then(pl.lit("routed")).otherwise(pl.lit("not routed"))
        .alias("routing"))
    t = bias.stratum_metrics(g, pred.filter(pl.col("doc_id").is_in(test_ids.implode())), groups, by="routing",
                             labels=labels, task=task, n_boot=n_boot, random_state=seed)
    return t.select(pl.lit(system).alias("system"), pl.all())


# -- findings: downstream inference ---------------------------------------------------------------

INFERENCE_FILES = ("sample.parquet", "estimates.parquet", "estimates.csv", "summary.json")
INFERENCE_SAMPLE_FILES = ("sample.parquet", "summary.json")


def _inference_population(docs: pl.DataFrame, splits: PathLike, surrogate_kind: str) -> tuple[pl.DataFrame, str]:
    """The documents the estimates are about: the corpus for an LLM coder, the test split (outside its
    training data) for a fine-tuned model."""
    if surrogate_kind == "finetuned":
        test = _read_splits(splits).filter(pl.col("split") == "test").select("doc_id")
        return docs.join(test, on="doc_id", how="semi"), "test"
    if surrogate_kind == "llm_coder":
        return docs, "corpus"
    raise ValueError(f"surrogate_kind must be llm_coder or finetuned, not {surrogate_kind!r}")


def _inference_strata(cfg: Mapping[str, Any], docs: pl.DataFrame, strata: Sequence[str]) -> list[str]:
    """The corpus columns the shares are broken down by (``inference.strata``, else ``corpus.strata``)."""
    from llmcoder.errors import InputError

    chosen = list(cfg["strata"]) or list(strata)
    missing = [c for c in chosen if c not in docs.columns]
    if missing:
        raise InputError("inference.strata", f"column(s) {', '.join(missing)} not in the corpus",
                         fix=f"give columns of the corpus: {', '.join(c for c in docs.columns if c != 'text')}")
    return chosen


def _surrogate_probabilities(surrogate: PathLike, doc_ids: list[str], cb: Any, *, surrogate_name: str,
                             population: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The surrogate's output (rotation 0) and its probability of each label for ``doc_ids``, refusing a
    population document it did not code."""
    from llmcoder import inference
    from llmcoder.errors import InputError, Problem

    scored = _read_scored(surrogate, ("doc_id", "label", "prob", "chosen"))
    if "rotation" in scored.columns:
        scored = scored.filter(pl.col("rotation") == 0)
    coded = set(scored["doc_id"].to_list())
    lacking = [d for d in doc_ids if d not in coded]
    if lacking:
        raise InputError(str(surrogate), f"{len(lacking)} document(s) of the population ({population}) have no "
                         f"label from {surrogate_name}", [Problem(f"doc_id '{d}'") for d in lacking],
                         fix="code every document (coding.limit: null) or choose another inference.surrogate")
    prob_all, _ = inference.surrogate_arrays(scored, doc_ids, list(cb.ids), surrogate="prob", src=str(surrogate))
    return scored, prob_all


def _draw_inference_sample(docs: pl.DataFrame, cfg: Mapping[str, Any], strata: Sequence[str],
                           probs: Any | None) -> pl.DataFrame:
    """``doc_id, stratum, pi, labelled`` for every document of the population ``docs``, drawn by the study's
    design (``probs``: the surrogate's label probabilities, documents by labels, for the uncertainty design)."""
    import numpy as np

    from llmcoder import inference
    from llmcoder.errors import InputError

    doc_ids = docs["doc_id"].to_list()
    N, n, design = len(doc_ids), int(cfg["n"]), str(cfg["design"])
    if n > N:
        raise InputError("inference.n", f"{n} documents asked for a labelled sample of a population of {N}",
                         fix=f"set inference.n to at most {N}")
    stratum = np.full(N, "", dtype=object)
    if design == "stratified":
        if not strata:
            raise InputError("inference.design", "the stratified design needs a stratum column",
                             fix="name it in inference.strata (or corpus.strata); the first one is the design's")
        stratum = docs[strata[0]].cast(pl.Utf8).fill_null("(missing)").to_numpy().astype(object)
    uncertainty = None
    if design == "uncertainty":
        if probs is None:
            raise InputError("inference.design", "the uncertainty design weighs documents by the surrogate's "
                             "uncertainty, but a fine-tuned surrogate is trained on the verified labels, so it "
                             "cannot choose the documents people verify", fix="use design: uniform or stratified "
                             "with labels_from: verification, or an LLM coder as inference.surrogate")
        uncertainty = 1.0 - probs.max(axis=1)
    drawn = inference.draw_sample(doc_ids, n, design, int(cfg["seed"]),
                                  strata=stratum if design == "stratified" else None, uncertainty=uncertainty)
    return pl.DataFrame({"doc_id": doc_ids, "stratum": stratum.astype(str), "pi": drawn["pi"],
                         "labelled": drawn["labelled"]})


def inference_sample(corpus: PathLike, splits: PathLike, codebook: PathLike, out_dir: PathLike, *,
                     settings: Mapping[str, Any], surrogate_name: str, surrogate_kind: str,
                     surrogate: PathLike | None = None, strata: Sequence[str] = ()) -> pl.DataFrame:
    """Draw the inference stage's labelled sample before anyone labels it (``labels_from: verification``).

    Its documents go onto the verification sheets beside the splits' documents, and :func:`findings` takes
    their verified labels. ``surrogate`` (an LLM coder's codings) is needed only by the uncertainty design.
    Writes ``sample.parquet`` (``doc_id, stratum, pi, labelled`` for the whole population) and
    ``summary.json`` all or nothing; returns the sample.
    """
    import numpy as np

    from llmcoder.codebook import load_codebook
    from llmcoder.io import staged_dir, write_parquet
    from llmcoder.metrics import check_output_folder
    from llmcoder.results import checked
    from llmcoder.study import with_defaults

    cfg = with_defaults("inference", dict(settings))
    out = check_output_folder(out_dir, INFERENCE_SAMPLE_FILES, option="out_dir", what="inference sample")
    cb = load_codebook(codebook)
    docs, population = _inference_population(_read_parquet(corpus, "corpus"), splits, surrogate_kind)
    chosen_strata = _inference_strata(cfg, docs, strata)
    probs = None
    if surrogate is not None and str(cfg["design"]) == "uncertainty":
        doc_ids = docs["doc_id"].to_list()
        _, prob_all = _surrogate_probabilities(surrogate, doc_ids, cb, surrogate_name=surrogate_name,
                                               population=population)
        probs = np.column_stack([prob_all[lab] for lab in cb.ids])
    sample = _draw_inference_sample(docs, cfg, chosen_strata, probs)
    record = provenance(artifact="infer_sample", surrogate=surrogate_name, surrogate_kind=surrogate_kind,
                        population=population, n_population=docs.height, design=str(cfg["design"]),
                        n_sample=int(sample["labelled"].sum()), n_target=int(cfg["n"]), seed=int(cfg["seed"]),
                        strata=chosen_strata, labels_from=str(cfg["labels_from"]), simulated=False)
    check_output_folder(out, INFERENCE_SAMPLE_FILES, option="out_dir", what="inference sample", claim=True)
    with staged_dir(out) as stage:
        write_parquet(checked("inference_design", sample), stage / "sample.parquet")
        write_json(checked("inference_design_record", record), stage / "summary.json")
    return sample


def _crossfit_sample(crossfit: PathLike, splits: PathLike, doc_ids: list[str], cb: Any, *, values: str,
                     k: int) -> tuple[dict[str, Any], dict[str, Any], pl.DataFrame, list[set[str]], dict[str, Any]]:
    """The cross-fitted surrogate (out-of-fold for the labelled documents, the models' mean for the rest), each
    model's predictions, the sample (the fine-tuning's labelled documents, a uniform draw of the corpus: every
    ``pi`` is n / N), their labels, and the crossfit record. Refuses when some train or dev document has no
    label: the sample would no longer be a random draw (the documents left out are those people could not
    settle), and the estimates would be biased without a sign of it."""
    from llmcoder.crossfit import crossfit_arrays
    from llmcoder.errors import InputError, Problem

    folder = Path(crossfit)
    table = _read_parquet(folder / "folds.parquet", "cross-fitting folds")
    fit = _read_splits(splits).filter(pl.col("split").is_in(["train", "dev"]))["doc_id"].cast(pl.Utf8).to_list()
    unlabelled_fit = sorted(set(fit) - set(table["doc_id"].cast(pl.Utf8).to_list()))
    if unlabelled_fit:
        raise InputError(str(folder / "folds.parquet"), f"{len(unlabelled_fit)} train/dev document(s) have no "
                         "label, so the fine-tuning's labelled documents are not a random sample of the corpus",
                         [Problem(f"doc_id '{d}'") for d in unlabelled_fit],
                         fix="verify them (adjudicate the queue, verify/ingest/adjudication_queue.csv) and run "
                             "again, or set inference.crossfit: 0 and draw a sample for inference")
    preds = _read_parquet(folder / "predictions.parquet", "cross-fitted predictions")
    try:
        record = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(str(folder / "summary.json"), f"cannot be read ({type(e).__name__})",
                         fix="run the crossfit step again") from None
    if int(record.get("folds", 0)) != k:
        raise InputError(str(folder), f"{record.get('folds')} folds there, inference.crossfit asks for {k}",
                         fix="run the crossfit step again")
    yhat, F = crossfit_arrays(preds, doc_ids, list(cb.ids), str(folder / "predictions.parquet"), values=values)
    label_col = "labels" if cb.task == "multi" else "label"
    got = {d: (set(v or []) if cb.task == "multi" else ({v} if v is not None else set()))
           for d, v in table.select(pl.col("doc_id").cast(pl.Utf8), label_col).iter_rows()}
    outside = sorted(set(got) - set(doc_ids))
    if outside:
        raise InputError(str(folder / "folds.parquet"), f"{len(outside)} labelled document(s) are not in the corpus",
                         fix="run the crossfit step again on this corpus")
    labelled = [d in got for d in doc_ids]
    n = sum(labelled)
    drawn = pl.DataFrame({"doc_id": doc_ids, "stratum": [""] * len(doc_ids), "pi": [n / len(doc_ids)] * len(doc_ids),
                          "labelled": labelled})
    given = [got[d] for d, keep in zip(doc_ids, labelled, strict=True) if keep]
    return yhat, F, drawn, given, record


def _drawn_sample(design: PathLike, docs: pl.DataFrame, cfg: Mapping[str, Any], *, population: str,
                  surrogate_name: str) -> pl.DataFrame:
    """The sample :func:`inference_sample` drew, checked against the study's inference settings and the
    population now (a sample drawn under other settings, or from another corpus, is refused)."""
    from llmcoder.errors import InputError

    path = Path(design)
    sample = _read_parquet(path, "inference sample")
    rec_path = path.parent / "summary.json"
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(str(rec_path), f"the record of the drawn sample cannot be read ({type(e).__name__})",
                         fix="draw the sample again (the infer_sample rule, or stages.inference_sample)") from None
    now = {"design": str(cfg["design"]), "n_target": int(cfg["n"]), "seed": int(cfg["seed"]),
           "population": population, "surrogate": surrogate_name}
    changed = [f"{k}: {rec.get(k)!r} then, {v!r} now" for k, v in now.items() if rec.get(k) != v]
    same_docs = sorted(sample["doc_id"].cast(pl.Utf8).to_list()) == sorted(docs["doc_id"].to_list())
    if changed or not same_docs:
        why = "; ".join(changed) if changed else "its population's documents differ from the corpus's now"
        raise InputError(str(path), f"the labelled sample was drawn under other settings ({why})",
                         fix="draw it again (rerun infer_sample) and send its new documents to verification")
    order = pl.DataFrame({"doc_id": docs["doc_id"]})
    return order.join(sample.with_columns(pl.col("doc_id").cast(pl.Utf8)), on="doc_id", how="left")


def _verified_labels(verified: PathLike, sampled: list[str], cb: Any) -> tuple[list[set[str]], bool]:
    """The verified labels of the sampled documents (in their order) and whether any of them was simulated;
    refuses a sampled document that has no verified label yet, or a label outside the codebook."""
    from llmcoder.errors import InputError, Problem
    from llmcoder.jobs import read_verified

    table = read_verified(verified, cb.task)
    col = "labels" if cb.task == "multi" else "label"
    got = {d: set(v or []) if cb.task == "multi" else ({v} if v is not None else set())
           for d, v in table.select("doc_id", col).iter_rows()}
    lacking = [d for d in sampled if d not in got]
    if lacking:
        raise InputError(str(verified), f"{len(lacking)} document(s) of the labelled sample have no verified label",
                         [Problem(f"doc_id '{d}'") for d in lacking],
                         fix="finish verifying them: fill every sheet, and adjudicate the documents waiting in "
                             "verify/ingest/adjudication_queue.csv (verify/adjudicated.xlsx); the estimates need a "
                             "label for every sampled document")
    unknown = sorted({lab for d in sampled for lab in got[d] if lab not in cb.ids})
    if unknown:
        raise InputError(str(verified), f"verified label(s) {', '.join(unknown)} are not in the codebook",
                         fix="verify against the study's codebook")
    sources = dict(zip(table["doc_id"].to_list(), table["source"].to_list(), strict=True)) \
        if "source" in table.columns else {}
    simulated = any(str(sources.get(d) or "").startswith("simulated") for d in sampled)
    return [got[d] for d in sampled], simulated


def findings(surrogate: PathLike, corpus: PathLike, splits: PathLike, codebook: PathLike, out_dir: PathLike, *,
             settings: Mapping[str, Any], surrogate_name: str, surrogate_kind: str,
             strata: Sequence[str] = (), design: PathLike | None = None,
             verified: PathLike | None = None, crossfit: PathLike | None = None) -> pl.DataFrame:
    """Label shares and regressions from a surrogate's labels, corrected with a labelled sample.

    ``surrogate`` is an LLM coder's codings (``surrogate_kind="llm_coder"``: every corpus document is the
    population) or a fine-tuned model's corpus predictions (``"finetuned"``: the test split, the documents
    outside its training data, is the population). With ``labels_from: gold`` (``settings``: the study's
    ``inference`` block) the sample is drawn here with known inclusion probabilities and labelled from the
    corpus's gold labels; with ``labels_from: verification`` it is the sample :func:`inference_sample` drew
    (``design``), labelled by the people on the verification sheets (``verified``). With ``inference.crossfit: K``
    the labelled sample is the fine-tuned model's own labelled documents and ``crossfit`` the folder of
    :func:`llmcoder.crossfit.crossfit_predictions` (the whole corpus is the population). Writes
    ``sample.parquet``, ``estimates.parquet``/``.csv`` and ``summary.json`` all or nothing; returns the
    estimates.
    """
    import numpy as np

    from llmcoder import inference
    from llmcoder.codebook import load_codebook
    from llmcoder.errors import InputError, Problem
    from llmcoder.io import staged_dir, write_parquet
    from llmcoder.metrics import check_output_folder
    from llmcoder.results import checked
    from llmcoder.study import with_defaults

    cfg = with_defaults("inference", dict(settings))
    labels_from = str(cfg["labels_from"])
    out = check_output_folder(out_dir, INFERENCE_FILES, option="out_dir", what="inference")
    cb = load_codebook(codebook)
    docs = _read_parquet(corpus, "corpus")
    gold_col = "labels" if cb.task == "multi" else "label"
    K = int(cfg["crossfit"])
    if not K and labels_from == "gold" and gold_col not in docs.columns:
        raise InputError(str(corpus), f"no gold '{gold_col}' column: inference.labels_from: gold needs the "
                         "people's labels of the sampled documents", fix="give the corpus a label column "
                         "(corpus.label), or set inference.labels_from: verification to label the sample on "
                         "the verification sheets")
    if K and surrogate_kind != "finetuned":
        raise InputError("inference.crossfit", "cross-fitting trains the fine-tuned surrogate again without each "
                         "fold; an LLM coder is not trained on the corpus", fix="set inference.crossfit: 0 (an "
                         "LLM coder's population is the whole corpus already), or make predict.model the surrogate")
    if K and crossfit is None:
        raise InputError("inference.crossfit", "the cross-fitted predictions are missing",
                         fix="run the workflow (rule crossfit), or pass crossfit= (crossfit_predictions' folder)")
    if not K and labels_from == "verification" and (design is None or verified is None):
        raise InputError("inference.labels_from", "verification needs the drawn sample and the verified labels",
                         fix="run the workflow (rules infer_sample, verify_*, infer), or pass design= and verified=")
    docs, population = _inference_population(docs, splits, "llm_coder" if K else surrogate_kind)
    doc_ids = docs["doc_id"].to_list()
    N = len(doc_ids)
    labels = list(cfg["labels"]) or list(cb.ids)
    unknown = [lab for lab in labels if lab not in cb.ids]
    if unknown:
        raise InputError("inference.labels", f"unknown label(s) {', '.join(unknown)}",
                         fix=f"give labels of the codebook: {', '.join(cb.ids)}")
    strata = _inference_strata(cfg, docs, strata)
    values = str(cfg["surrogate_values"])
    folds: dict[str, Any] | None = None
    if K:
        yhat_all, folds, drawn, given, fit_record = _crossfit_sample(crossfit, splits, doc_ids, cb, values=values, k=K)
        labels_from = "verification" if fit_record.get("verified") else "gold"
        design_name = "crossfit"
    else:
        scored, prob_all = _surrogate_probabilities(surrogate, doc_ids, cb, surrogate_name=surrogate_name,
                                                    population=population)
        probs = np.column_stack([prob_all[lab] for lab in cb.ids])
        yhat_all = (prob_all if values == "probabilities" else
                    inference.surrogate_arrays(scored, doc_ids, list(cb.ids), surrogate="hard",
                                               src=str(surrogate))[0])
        design_name = str(cfg["design"])
        drawn = (_drawn_sample(design, docs, cfg, population=population, surrogate_name=surrogate_name)
                 if labels_from == "verification" else _draw_inference_sample(docs, cfg, strata, probs))
    labelled = drawn["labelled"].to_numpy()
    sample_idx = np.flatnonzero(labelled)
    pi = drawn["pi"].to_numpy()[sample_idx]
    if K:
        simulated = False
    elif labels_from == "verification":
        given, simulated = _verified_labels(verified, [doc_ids[i] for i in sample_idx], cb)
    else:
        gold = docs.get_column(gold_col)
        no_gold = [d for d, g, keep in zip(doc_ids, gold.to_list(), labelled, strict=True) if keep and g is None]
        if no_gold:
            raise InputError(str(corpus), f"{len(no_gold)} sampled document(s) have no gold label",
                             [Problem(f"doc_id '{d}'") for d in no_gold],
                             fix="labels_from: gold needs a gold label for every document of the population")
        given = [set(g) if cb.task == "multi" else {g} for g in gold.gather(sample_idx).to_list()]
        simulated = False
    formulas = list(cfg["formulas"])
    outcomes: dict[str, str] = {}
    for f in formulas:
        try:
            outcome = inference.parse_formula(f)[0]
        except ValueError as err:
            raise InputError("inference.formulas", str(err), fix='write e.g. \'label == "health" ~ party\'') from err
        if outcome in outcomes:  # estimates.csv tells regressions apart by their outcome label
            raise InputError("inference.formulas", f"two formulas for label '{outcome}' ('{outcomes[outcome]}' "
                             f"and '{f}')", fix="keep one regression per label")
        outcomes[outcome] = f
    need = list(dict.fromkeys([*labels, *outcomes]))
    bad = [lab for lab in need if lab not in cb.ids]
    if bad:
        raise InputError("inference.formulas", f"unknown label(s) {', '.join(bad)} as an outcome",
                         fix=f"write label == \"<id>\" with an id of the codebook: {', '.join(cb.ids)}")
    y = {lab: np.array([lab in g for g in given], dtype=float) for lab in need}
    methods = list(cfg["methods"])
    parts = [inference.estimate_prevalence(
        {lab: y[lab] for lab in labels}, {lab: yhat_all[lab] for lab in labels}, sample_idx, pi,
        strata={c: docs[c].cast(pl.Utf8).fill_null("(missing)").to_numpy() for c in strata},
        methods=methods, design=design_name, folds=None if folds is None else {lab: folds[lab] for lab in labels})]
    for formula in formulas:
        try:
            lab, X, terms = inference.design_matrix(docs, formula)
        except ValueError as err:
            raise InputError("inference.formulas", f"'{formula}': {err}",
                             fix="use columns listed in corpus.strata as covariates (the study's corpus keeps "
                                 "only those besides id, text and label), or add the column there") from err
        parts.append(inference.estimate_regression(y[lab], yhat_all[lab], X, sample_idx, pi, label=lab,
                                                   terms=terms, model=cfg["regression"], methods=methods,
                                                   design=design_name,
                                                   folds=None if folds is None else folds[lab]))
    estimates = pl.concat(parts, how="diagonal_relaxed")
    by_doc = {doc_ids[i]: sorted(g) for i, g in zip(sample_idx, given, strict=True)}
    if cb.task == "multi":
        human = pl.Series(gold_col, [by_doc.get(d) for d in doc_ids], dtype=pl.List(pl.Utf8))
    else:
        human = pl.Series(gold_col, [(by_doc[d] or [None])[0] if d in by_doc else None for d in doc_ids],
                          dtype=pl.Utf8)
    sample = drawn.select("doc_id", pl.col("stratum").cast(pl.Utf8), "pi", "labelled").with_columns(human)
    record = provenance(artifact="infer", surrogate=surrogate_name, surrogate_kind=surrogate_kind,
                        surrogate_values=values,
                        population=population, n_population=N, design=design_name,
                        n_sample=int(labelled.sum()), n_target=int(labelled.sum()) if K else int(cfg["n"]),
                        labels_from=labels_from, crossfit=K,
                        seed=int(cfg["seed"]), labels=labels, strata=strata, formulas=formulas,
                        regression=str(cfg["regression"]), methods=methods, ci_level=0.95, simulated=simulated)
    check_output_folder(out, INFERENCE_FILES, option="out_dir", what="inference", claim=True)
    with staged_dir(out) as stage:
        write_parquet(checked("inference_sample", sample), stage / "sample.parquet")
        write_parquet(checked("inference_estimates", estimates), stage / "estimates.parquet")
        write_csv(checked("inference_estimates_csv", estimates), stage / "estimates.csv")
        write_json(checked("inference_record", record), stage / "summary.json")
    return estimates


def _read_parquet(path: PathLike, what: str) -> pl.DataFrame:
    """A Parquet input of a step, with a message naming it when it is missing or unreadable."""
    from llmcoder.io import read_parquet_input

    return read_parquet_input(path, what)


def _system_predictions(path: PathLike) -> tuple[pl.DataFrame, pl.Series]:
    """Chosen labels (long ``doc_id, label``) of a coder output or a fine-tuned model's predictions, and
    the ids of the documents it coded."""
    df = _read_scored(path, ("doc_id", "label", "chosen"))
    coded = df["doc_id"].unique()
    if "rotation" in df.columns:
        return coder_predictions(df), coded
    return chosen_labels(df), coded
