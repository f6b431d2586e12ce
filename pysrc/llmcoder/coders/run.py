"""Code a corpus at scale: batches, a checkpoint journal, resume after a crash, label-order rotations.

The documents of each rotation are sorted by length (longest first, ties by position) and cut into
batches of ``batch_size``; the composition depends only on the corpus, the prompt and the batch size,
so a rerun rebuilds exactly the same batches. Each finished batch is written to
``OUT.parquet.journal/part-<rotation>-<batch>.arrow`` (Arrow IPC, written to a temporary file,
fsynced, renamed), so a run killed at any moment (SIGKILL included) loses at most the batch in
flight. A rerun checks that the journal belongs to the same run, skips whole finished batches and
codes the rest; the final Parquet is written atomically and the journal removed.

Outputs, next to ``OUT.parquet``:

- ``OUT.parquet``: long format, one row per document x rotation x label: ``doc_id, coder_id,
  rotation, label, prob, chosen, n_input_tokens, n_output_tokens, latency_s``;
- ``OUT_orders.parquet``: ``coder_id, rotation, position, label``: the label order of each rotation;
- ``OUT.json`` (the contract's ``coders/<coder>.json``): provenance: model, GGUF sha256 or
  revision, prompt template and hash, settings, package versions, time, rotation orders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.coders.config import CoderConfig
from llmcoder.coders.prompt import rotation_order
from llmcoder.coders.scoring import length_batches
from llmcoder.errors import InputError
from llmcoder.io import provenance, write_json, write_parquet

SCHEMA = {"doc_id": pl.Utf8, "coder_id": pl.Utf8, "rotation": pl.Int32, "label": pl.Utf8,
          "prob": pl.Float64, "chosen": pl.Boolean, "n_input_tokens": pl.Int64,
          "n_output_tokens": pl.Int64, "latency_s": pl.Float64}


def side_paths(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Where the run writes: output, journal, orders table, provenance."""
    out = Path(out)
    stem = out.name[: -len(".parquet")] if out.name.endswith(".parquet") else out.name
    return {"out": out, "journal": out.with_name(out.name + ".journal"),
            "orders": out.with_name(stem + "_orders.parquet"),
            "provenance": out.with_name(stem + ".json")}


def load_docs(corpus: str | os.PathLike[str] | pl.DataFrame, *, limit: int | None = None) -> pl.DataFrame:
    """``doc_id`` and ``text`` of a canonical corpus (Parquet) or a CSV/JSONL with those columns."""
    if isinstance(corpus, pl.DataFrame):
        df, src = corpus, "<memory>"
    else:
        src = str(corpus)
        p = Path(corpus)
        if not p.is_file():
            raise InputError(src, "corpus file not found", fix="run `llmcoder prepare` first or check the path")
        suf = p.suffix.lower()
        if suf in (".parquet", ".pq"):
            df = pl.read_parquet(p)
        elif suf in (".csv", ".tsv"):
            df = pl.read_csv(p, infer_schema=False, separator="\t" if suf == ".tsv" else ",")
        elif suf in (".jsonl", ".ndjson"):
            df = pl.read_ndjson(p)
        else:
            raise InputError(src, f"unknown corpus file type '{suf}'", fix="use the prepared corpus .parquet")
    missing = [c for c in ("doc_id", "text") if c not in df.columns]
    if missing:
        raise InputError(src, f"column(s) {missing} not found (have: {', '.join(df.columns)})",
                         fix="code the canonical corpus written by `llmcoder prepare` (doc_id, text)")
    df = df.select(pl.col("doc_id").cast(pl.Utf8), pl.col("text").cast(pl.Utf8))
    if df["doc_id"].is_duplicated().any():
        raise InputError(src, "duplicate doc_id values", fix="prepare the corpus with `llmcoder prepare`")
    if limit is not None:
        df = df.head(int(limit))
    return df


def _fingerprint(cfg: CoderConfig, codebook: Codebook, docs: pl.DataFrame, rotations: int,
                 orders: list[list[str]]) -> dict[str, Any]:
    h = hashlib.sha256()
    for d, t in zip(docs["doc_id"].to_list(), docs["text"].to_list(), strict=True):
        h.update(d.encode() + b"\x00" + t.encode() + b"\x01")
    return {"coder_id": cfg.coder_id, "codebook_sha256": codebook.sha256(), "corpus_sha256": h.hexdigest(),
            "n_docs": docs.height, "rotations": rotations, "batch_size": cfg.batch_size, "orders": orders}


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_part(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.write_ipc(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _open_journal(journal: Path, fp: dict[str, Any]) -> None:
    meta = journal / "run.json"
    if meta.is_file():
        old = json.loads(meta.read_text())
        if old != json.loads(json.dumps(fp)):
            diff = sorted(k for k in fp if old.get(k) != json.loads(json.dumps(fp[k])))
            raise InputError(str(journal), f"the journal belongs to a different run (differs in: {', '.join(diff)})",
                             fix="delete the journal directory to start over, or rerun with the same inputs")
        for junk in journal.glob(".*.tmp"):  # a part being written when the run died
            junk.unlink(missing_ok=True)
        return
    journal.mkdir(parents=True, exist_ok=True)
    tmp = journal / f".run.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(fp, indent=1, sort_keys=True))
    os.replace(tmp, meta)
    _fsync_dir(journal)


def _long_rows(doc_ids: Sequence[str], coder_id: str, rotation: int, order: Sequence[str],
               canonical: Sequence[str], res: Any, task: str, threshold: float) -> pl.DataFrame:
    pos = {lab: i for i, lab in enumerate(order)}
    cols = [pos[lab] for lab in canonical]
    probs = np.asarray(res.probs, dtype=np.float64)[:, cols]  # canonical label order
    if task == "single":
        chosen = np.zeros_like(probs, dtype=bool)
        ok = ~np.isnan(probs).any(axis=1)
        chosen[np.where(ok)[0], np.nanargmax(np.where(ok[:, None], probs, 0), axis=1)[ok]] = True
    else:
        chosen = probs >= threshold
    B, K = probs.shape
    return pl.DataFrame({
        "doc_id": np.repeat(np.asarray(doc_ids, dtype=object), K).tolist(),
        "coder_id": [coder_id] * (B * K),
        "rotation": [rotation] * (B * K),
        "label": list(canonical) * B,
        "prob": probs.reshape(-1),
        "chosen": chosen.reshape(-1),
        "n_input_tokens": np.repeat(res.n_input_tokens, K).astype(np.int64),
        "n_output_tokens": np.repeat(res.n_output_tokens, K).astype(np.int64),
        "latency_s": np.repeat(res.latency_s, K).astype(np.float64),
    }, schema=SCHEMA)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="doc", desc="coding", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, smoothing=0.1)


def code_corpus(
    corpus: str | os.PathLike[str] | pl.DataFrame,
    codebook: Codebook,
    coder: CoderConfig,
    out: str | os.PathLike[str],
    *,
    rotations: int = 1,
    limit: int | None = None,
    progress: bool = True,
    backend: Any = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Code every document under ``rotations`` label orders; resume from the journal if there is one.

    Parameters
    ----------
    corpus : canonical corpus (path or data frame with ``doc_id``, ``text``).
    codebook : the label scheme.
    coder : the coder configuration.
    out : the output Parquet path (journal, orders and provenance are written beside it).
    rotations : number of label orders (0 = codebook order, the others seeded permutations).
    limit : code only the first ``limit`` documents.
    progress : show a progress bar (docs/s, ETA) on stderr.
    backend : an already built backend (tests, benchmarks); built from ``coder`` otherwise.
    on_batch : called with (rotation, batch index) after each batch is journaled.

    Returns
    -------
    The long-format result table (also written to ``out``).
    """
    if rotations < 1:
        raise InputError("--rotations", f"is {rotations}; it must be >= 1", fix="use --rotations 1 or more")
    from llmcoder.coders.backends import make_backend

    paths = side_paths(out)
    docs = load_docs(corpus, limit=limit)
    if docs.height == 0:
        raise InputError(str(corpus), "no documents to code", fix="check the corpus and --limit")
    orders = [rotation_order(codebook, r, coder.seed) for r in range(rotations)]
    fp = _fingerprint(coder, codebook, docs, rotations, orders)
    be = backend or make_backend(coder, codebook)
    _open_journal(paths["journal"], fp)
    texts = docs["text"].to_list()
    ids = docs["doc_id"].to_list()
    done = {p.name for p in paths["journal"].glob("part-*.arrow")}
    plans, prompts = [], {}
    for r, order in enumerate(orders):
        state = be.prepare(order)
        prompts[r] = be.prompt_record(state)
        batches = length_batches(be.lengths(state, texts), coder.batch_size)
        plans.append((r, order, state, batches))
    total = docs.height * rotations
    initial = sum(len(b) for r, _, _, bs in plans for i, b in enumerate(bs)
                  if f"part-{r:04d}-{i:06d}.arrow" in done)
    if initial:
        print(f"resuming from {paths['journal']}: {initial} of {total} document codings already done",
              file=sys.stderr, flush=True)
    bar = _progress(total, initial, progress)
    t_start = time.perf_counter()
    try:
        for r, order, state, batches in plans:
            for i, b in enumerate(batches):
                name = f"part-{r:04d}-{i:06d}.arrow"
                if name in done:
                    continue
                res = be.code(state, [texts[j] for j in b])
                part = _long_rows([ids[j] for j in b], coder.coder_id, r, order, codebook.ids, res,
                                  codebook.task, coder.multi_threshold)
                _write_part(part, paths["journal"] / name)
                bar.update(len(b))
                if on_batch:
                    on_batch(r, i)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start
    parts = sorted(paths["journal"].glob("part-*.arrow"))
    result = pl.concat([pl.read_ipc(p) for p in parts]) if parts else pl.DataFrame(schema=SCHEMA)
    doc_pos = {d: i for i, d in enumerate(ids)}
    lab_pos = {lab: i for i, lab in enumerate(codebook.ids)}
    result = (result.with_columns(pl.col("doc_id").replace_strict(doc_pos, return_dtype=pl.Int64).alias("_d"),
                                  pl.col("label").replace_strict(lab_pos, return_dtype=pl.Int64).alias("_l"))
              .sort("rotation", "_d", "_l").drop("_d", "_l"))
    expected = docs.height * rotations * len(codebook.ids)
    if result.height != expected or result.select("doc_id", "rotation", "label").is_duplicated().any():
        raise RuntimeError(f"journal {paths['journal']} is inconsistent ({result.height} rows, "
                           f"expected {expected}); delete it and run again")
    orders_df = pl.DataFrame({
        "coder_id": [coder.coder_id] * (rotations * len(codebook.ids)),
        "rotation": [r for r in range(rotations) for _ in codebook.ids],
        "position": [p for _ in range(rotations) for p in range(len(codebook.ids))],
        "label": [lab for o in orders for lab in o],
    }, schema={"coder_id": pl.Utf8, "rotation": pl.Int32, "position": pl.Int32, "label": pl.Utf8})
    write_parquet(orders_df, paths["orders"])
    write_json(_provenance(coder, codebook, be, fp, prompts, orders, elapsed, docs.height, rotations),
               paths["provenance"])
    write_parquet(result, paths["out"])
    shutil.rmtree(paths["journal"], ignore_errors=True)
    return result


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("llmcoder", "transformers", "torch", "gguf", "safetensors", "httpx", "polars", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _provenance(cfg: CoderConfig, codebook: Codebook, be: Any, fp: dict[str, Any], prompts: dict[int, Any],
                orders: list[list[str]], elapsed: float, n_docs: int, rotations: int) -> dict[str, Any]:
    from llmcoder.coders.prompt import DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_MULTI
    from llmcoder.io import text_sha256

    template = cfg.template or (DEFAULT_TEMPLATE if codebook.task == "single" else DEFAULT_TEMPLATE_MULTI)
    return provenance(
        step="code",
        coder_id=cfg.coder_id,
        coder=cfg.to_dict(),
        coder_identity=cfg.identity(),
        model=dict(be.info),
        prompt_template=template,
        prompt_template_sha256=text_sha256(template),
        prompts={str(r): p for r, p in prompts.items()},
        codebook={"name": codebook.name, "task": codebook.task, "sha256": codebook.sha256(),
                  "labels": codebook.ids},
        corpus_sha256=fp["corpus_sha256"],
        n_docs=n_docs,
        rotations=rotations,
        rotation_orders={str(r): o for r, o in enumerate(orders)},
        package_versions=_versions(),
        seconds_last_session=round(elapsed, 3),
    )
