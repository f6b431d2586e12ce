"""Code a whole corpus with a fine-tuned model, in bounded memory, resumably; route the doubtful.

:func:`predict` reads the corpus Parquet in chunks (``pyarrow.parquet.ParquetFile.iter_batches``:
a million documents are never loaded at once), sorts each chunk by text length so that batches pad
little, and writes the probability of every label in the coders' long format::

    doc_id, label, prob, chosen

Each finished chunk is written as its own part and recorded in a journal; a rerun after a crash
skips the chunks already done. The final file, its provenance and the routed CSV are made as pending
files, then committed together: a record listing them is written in one atomic step, and the renames
follow (a run killed between the two is finished by the next one), so a crash or a kill at any point
leaves the previous outputs whole.

:func:`route_uncertain` picks the least confident documents for human verification.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from llmcoder.errors import InputError, Problem
from llmcoder.io import atomic_path, file_sha256, provenance, write_csv, write_json

PRED_COLUMNS = ("doc_id", "label", "prob", "chosen")
_SLICE = 1024  # texts handed to the model at once (then split into batches); the progress step
_COMMIT_RECORD = "commit.json"  # in the parts folder: written once every output is ready
_PENDING = ".llmcoder-pending.csv"  # suffix of a routed CSV waiting for its commit


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("doc_id", pa.string()), ("label", pa.string()), ("prob", pa.float32()),
                      ("chosen", pa.bool_())])


def _fingerprint(artifact_dir: Path, corpus_path: Path, chunk_rows: int,
                 doc_ids: Collection[str] | None) -> str:
    h = hashlib.sha256()
    h.update(file_sha256(artifact_dir / "finetune.json").encode())
    st = corpus_path.stat()
    h.update(f"{corpus_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{chunk_rows}".encode())
    if doc_ids is not None:
        for d in sorted(doc_ids):
            h.update(d.encode() + b"\0")
    return h.hexdigest()[:16]


def _read_journal(path: Path, fingerprint: str) -> dict[int, int]:
    """Chunks already done under the same fingerprint, with their row counts (else: start afresh)."""
    if not path.is_file():
        return {}
    done: dict[int, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash
            continue
        if rec.get("fingerprint") != fingerprint:
            return {}
        done[int(rec["chunk"])] = int(rec["rows"])
    return done


def _long_table(doc_ids: list[str], labels: list[str], probs: np.ndarray, chosen: np.ndarray) -> Any:
    import pyarrow as pa

    n, k = probs.shape
    ids = pa.array(doc_ids, pa.string()).take(pa.array(np.repeat(np.arange(n), k)))
    return pa.table({
        "doc_id": ids,
        "label": pa.array(np.tile(np.asarray(labels, dtype=object), n), pa.string()),
        "prob": pa.array(probs.astype(np.float32).ravel()),
        "chosen": pa.array(chosen.ravel()),
    }, schema=_schema())


@dataclass(frozen=True)
class Routing:
    """Which documents :func:`predict` routes to human review (see :func:`route_uncertain`), and where.

    ``share`` routes that share of the least confident documents; ``threshold`` instead routes every
    document whose confidence (``by``) is below it. The routed CSV ``out`` is committed together with
    the predictions.
    """

    out: Path
    share: float | None = 0.15
    threshold: float | None = None
    by: str = "max_prob"


def check_routing(share: float | None, threshold: float | None, by: str, *,
                  names: dict[str, str] | None = None) -> None:
    """Check routing settings as a person typed them; raise :class:`InputError` naming the option."""
    spell = {"share": "--route-share", "threshold": "--route-threshold", "by": "--route-by", **(names or {})}
    if by not in ("max_prob", "margin", "closest"):
        raise InputError(spell["by"], f"'{by}' is not a confidence measure",
                         fix=f"give {spell['by']} max_prob, margin or closest (multi-label)")
    if threshold is not None and not 0 <= threshold <= 1:
        raise InputError(spell["threshold"], f"{threshold:g} is not a probability between 0 and 1",
                         fix=f"give {spell['threshold']} a confidence such as 0.6")
    if threshold is None and (share is None or not 0 <= share <= 1):
        hint = f" (did you mean {share / 100:g}?)" if share is not None and 1 < share <= 100 else ""
        raise InputError(spell["share"], f"{share} is not a share between 0 and 1{hint}",
                         fix=f"give {spell['share']} a share such as 0.15 (15% of the documents), "
                             f"or {spell['threshold']} instead")


def _clear_stale_pending(target: Path) -> None:
    """Remove pending copies of ``target`` that a killed run made but never committed."""
    for stale in target.parent.glob(glob.escape(f".{target.name}.") + "*" + _PENDING):
        stale.unlink(missing_ok=True)


def _finish_commit(parts: Path, journal: Path) -> bool:
    """Finish a commit that a kill interrupted (its record is in ``parts``); True if there was one.

    The record lists (pending file, target) pairs. Once it is written, the new outputs are decided:
    the renames are repeated here until done, so the outputs are never left half old, half new.
    """
    record = parts / _COMMIT_RECORD
    if not record.is_file():
        return False
    for src, dst in json.loads(record.read_text(encoding="utf-8"))["moves"]:
        if Path(src).exists():
            os.replace(src, dst)
    journal.unlink(missing_ok=True)
    shutil.rmtree(parts, ignore_errors=True)
    return True


def _commit(moves: list[tuple[Path, Path]], parts: Path, journal: Path) -> None:
    """Replace every target by its pending file: the record written atomically is the commit point."""
    write_json({"moves": [[str(src), str(dst)] for src, dst in moves]}, parts / _COMMIT_RECORD)
    _finish_commit(parts, journal)


def _wanted_ids(pf: Any, corpus: Path, doc_ids: Collection[str]) -> set[str]:
    """The requested documents, all of which must be in the corpus."""
    wanted = {str(d) for d in doc_ids}
    have = {str(x) for x in pf.read(columns=["doc_id"]).column(0).to_pylist()}
    absent = sorted(wanted - have)
    if absent:
        raise InputError(str(corpus), f"{len(absent)} requested document(s) are not in the corpus",
                         [Problem(f"doc_id '{d}'") for d in absent],
                         fix="give the splits written from this corpus (or the corpus the splits were made from)")
    return wanted


def predict(
    artifact_dir: str | os.PathLike[str],
    corpus_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    batch_size: int = 64,
    chunk_rows: int = 50_000,
    doc_ids: Collection[str] | None = None,
    precision: str = "fp32",
    predictor: Any = None,
    progress: bool = True,
    route: Routing | None = None,
    artifact_name: str | None = None,
) -> Path:
    """Write the probability of every label for every document of a corpus.

    Parameters
    ----------
    artifact_dir : directory written by :func:`llmcoder.finetune.train`.
    corpus_path : canonical corpus Parquet with ``doc_id`` and ``text``.
    out_path : Parquet to write: ``doc_id, label, prob, chosen`` (one row per document and label,
        labels in codebook order; ``chosen`` is the argmax for single-label, ``prob >= threshold``
        per label for multi-label).
    batch_size : texts per forward pass.
    chunk_rows : documents read, predicted and journaled at once (bounds memory).
    doc_ids : only these documents (e.g. the test split); default all.
    precision : ``fp32`` (exact) or ``bf16`` (autocast: faster on GPUs and CPUs with native bf16).
    predictor : an already loaded predictor (default: ``load_predictor(artifact_dir)``).
    progress : show a progress bar on stderr.
    route : also write the documents routed to human review (:class:`Routing`) as a CSV.
    artifact_name : the model path recorded in the provenance (default ``artifact_dir``; a job
        that reads its model from a staged folder records where the model will be).

    Returns
    -------
    ``out_path``; beside it ``<out_path stem>.json`` holds the provenance. Every input and output
    path is checked before the model loads. A rerun after an interruption skips the chunks recorded
    in ``<out_path>.journal``. The predictions, their provenance and the routed CSV are committed
    together: until the commit, the previous ones stay as they were.
    """
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    from llmcoder.finetune import load_predictor
    from llmcoder.finetune.common import choose, read_meta
    from llmcoder.metrics import check_output_file

    art, corpus, out = Path(artifact_dir), Path(corpus_path), Path(out_path)
    if not corpus.is_file():
        raise InputError(str(corpus), "corpus Parquet not found", fix="run `llmcoder prepare` first")
    for name, value in (("--batch-size", batch_size), ("--chunk-rows", chunk_rows)):
        if value < 1:
            raise InputError(name, f"{value} is not a positive number", fix=f"give {name} 1 or more")
    if precision not in ("fp32", "bf16"):
        raise InputError("--precision", f"'{precision}' is not a precision", fix="give --precision fp32 or bf16")
    check_output_file(out, option="--out", suffix=".parquet")
    prov_path = out.with_suffix(".json")
    targets = [out.absolute(), prov_path.absolute()]
    if route is not None:
        check_routing(route.share, route.threshold, route.by)
        check_output_file(route.out, option="--route-out", suffix=".csv")
        targets.append(Path(route.out).absolute())
    if corpus.absolute() in targets or art.absolute() in targets or len(set(targets)) < len(targets):
        raise InputError(str(out), "an output path is also an input or another output",
                         fix="give --out (and --route-out) new file names")
    read_meta(art)  # a folder that is not a fine-tuned model fails here, before anything is written
    try:
        pf = pq.ParquetFile(corpus)
    except Exception as e:
        raise InputError(str(corpus), f"not a readable Parquet file ({e})", fix="write it again") from e
    missing = [c for c in ("doc_id", "text") if c not in pf.schema_arrow.names]
    if missing:
        raise InputError(str(corpus), f"column(s) {missing} missing", fix="give a canonical corpus")
    wanted = None if doc_ids is None else _wanted_ids(pf, corpus, doc_ids)

    parts = out.with_name(out.name + ".parts")
    journal = out.with_name(out.name + ".journal")
    _finish_commit(parts, journal)  # a run killed while it committed: its outputs are made whole first
    model = predictor if predictor is not None else load_predictor(art, precision=precision)
    labels = list(model.labels)

    fp = _fingerprint(art, corpus, chunk_rows, wanted)
    done = _read_journal(journal, fp)
    if not done:
        shutil.rmtree(parts, ignore_errors=True)
        journal.unlink(missing_ok=True)
    parts.mkdir(parents=True, exist_ok=True)

    t_start = time.perf_counter()
    n_docs = 0
    total = pf.metadata.num_rows if wanted is None else len(wanted)
    bar = tqdm(total=total, unit="doc", disable=not progress, desc=f"predict {out.name}", leave=False)
    n_chunks = 0
    for chunk, rb in enumerate(pf.iter_batches(batch_size=chunk_rows, columns=["doc_id", "text"])):
        n_chunks = chunk + 1
        if chunk in done:
            bar.update(rb.num_rows if wanted is None else 0)
            n_docs += done[chunk]
            continue
        ids = [str(x) for x in rb.column(0).to_pylist()]
        texts = ["" if t is None else t for t in rb.column(1).to_pylist()]
        if wanted is not None:
            keep = [i for i, d in enumerate(ids) if d in wanted]
            ids, texts = [ids[i] for i in keep], [texts[i] for i in keep]
        del rb
        n_docs += len(ids)
        probs = np.zeros((len(ids), len(labels)), dtype=np.float32)
        order = np.argsort(model.lengths(texts), kind="stable")  # short texts batch together
        for s in range(0, len(order), _SLICE):
            idx = order[s:s + _SLICE]
            probs[idx] = model.predict_proba([texts[i] for i in idx], batch_size=batch_size)
            bar.update(len(idx))
        table = _long_table(ids, labels, probs, choose(probs, model.task, model.thresholds))
        part = parts / f"chunk-{chunk:06d}.parquet"
        with atomic_path(part, ".parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
        with open(journal, "a", encoding="utf-8") as f:
            f.write(json.dumps({"chunk": chunk, "rows": len(ids), "fingerprint": fp}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        del table, probs, texts, ids
    bar.close()

    # Every output is made as a pending file first; then one record commits them all.
    pending_out, pending_prov = parts / "predictions.parquet", parts / "provenance.json"
    with atomic_path(pending_out, ".parquet") as tmp:
        writer = pq.ParquetWriter(tmp, _schema(), compression="zstd")
        try:
            for chunk in range(n_chunks):
                writer.write_table(pq.read_table(parts / f"chunk-{chunk:06d}.parquet"))
        finally:
            writer.close()
    moves = [(pending_out, out), (pending_prov, prov_path)]
    routed_info: dict[str, Any] = {}
    if route is not None:
        routed = route_uncertain(pending_out, share=route.share, threshold=route.threshold,
                                 by=route.by)  # type: ignore[arg-type]
        route_out = Path(route.out)
        route_out.parent.mkdir(parents=True, exist_ok=True)
        _clear_stale_pending(route_out)
        fd, name = tempfile.mkstemp(prefix=f".{route_out.name}.", suffix=_PENDING, dir=route_out.parent)
        os.close(fd)
        write_csv(routed, name)
        moves.append((Path(name), route_out))
        routed_info = {"routed": str(route_out), "routed_docs": routed.height, "route_share": route.share,
                       "route_threshold": route.threshold, "route_by": route.by}
    write_json(provenance(stage="predict", artifact=artifact_name or str(art),
                          artifact_meta_sha256=file_sha256(art / "finetune.json"), corpus=str(corpus),
                          n_docs=n_docs, labels=labels, task=model.task,
                          thresholds=model.thresholds, precision=precision, batch_size=batch_size,
                          chunk_rows=chunk_rows, subset=wanted is not None,
                          seconds=round(time.perf_counter() - t_start, 2), **routed_info), pending_prov)
    _commit(moves, parts, journal)
    return out


def _doc_confidence(pred: pl.LazyFrame, by: str) -> pl.LazyFrame:
    """One row per document: its confidence and its chosen label(s) joined by ``|``."""
    chosen = pl.col("label").filter(pl.col("chosen")).sort().str.join("|")
    if by == "max_prob":
        conf = pl.col("prob").max()
    elif by == "margin":
        top = pl.col("prob").sort(descending=True)
        conf = top.first() - top.slice(1, 1).first().fill_null(0.0)
    else:  # multi-label: the label closest to its decision, as max(p, 1 - p)
        conf = pl.max_horizontal(pl.col("prob"), 1 - pl.col("prob")).min()
    return pred.group_by("doc_id").agg(confidence=conf.cast(pl.Float64), label=chosen)


def route_uncertain(
    predictions: pl.DataFrame | str | os.PathLike[str],
    *,
    share: float | None = 0.15,
    threshold: float | None = None,
    by: Literal["max_prob", "margin", "closest"] = "max_prob",
) -> pl.DataFrame:
    """Mark the least confident documents for human verification.

    Parameters
    ----------
    predictions : long predictions ``doc_id, label, prob, chosen`` (frame or Parquet path).
    share : route this share of the documents, the least confident first (ties by ``doc_id``).
    threshold : route instead every document whose confidence is below this; overrides ``share``.
    by : ``max_prob`` (highest label probability), ``margin`` (top minus second probability) or
        ``closest`` (multi-label: ``min over labels of max(p, 1 - p)``).

    Returns
    -------
    polars.DataFrame ``doc_id, label, confidence, rank, reason``: the routed documents, least
    confident first, ready for a verification sheet (``label`` is the model's proposal).

    Examples
    --------
    >>> import polars as pl
    >>> p = pl.DataFrame({"doc_id": ["a", "a", "b", "b"], "label": ["x", "y", "x", "y"],
    ...                   "prob": [0.9, 0.1, 0.55, 0.45], "chosen": [True, False, True, False]})
    >>> route_uncertain(p, share=0.5)["doc_id"].to_list()
    ['b']
    """
    check_routing(share, threshold, by, names={"share": "share", "threshold": "threshold", "by": "by"})
    lf = (pl.scan_parquet(predictions) if isinstance(predictions, (str, os.PathLike))
          else predictions.lazy())
    docs = _doc_confidence(lf, by).sort(["confidence", "doc_id"]).collect()
    if threshold is not None:
        routed = docs.filter(pl.col("confidence") < threshold)
        reason = f"{by} below {threshold:g}"
    else:
        k = int(round(share * docs.height))
        routed = docs.head(k)
        reason = f"{by} in the lowest {share:.0%}"
    return routed.with_columns(
        rank=pl.int_range(1, routed.height + 1, dtype=pl.Int64),
        reason=pl.format("{}: {} = {}", pl.lit(reason), pl.lit(by), pl.col("confidence").round(4)),
    ).select("doc_id", "label", "confidence", "rank", "reason")
