"""Code a corpus at scale: batches, a checkpoint journal, resume after a crash, label-order rotations.

The documents of each rotation are sorted by length (longest first, ties by position) and cut into
batches of ``batch_size``; the composition depends only on the corpus, the prompt and the batch size,
so a rerun rebuilds exactly the same batches. Each finished batch is written to
``OUT.parquet.journal/part-<rotation>-<batch>.arrow`` (Arrow IPC, written to a temporary file,
fsynced, renamed), so a run killed at any moment (SIGKILL included) loses at most the batch in
flight. A rerun checks that the journal belongs to the same run, skips whole finished batches and
codes the rest. The journal is made when the first batch is coded: a run that codes nothing (bad
input, a server that never answers) leaves nothing behind.

Every input and the output destination are checked before the model loads. The three outputs are
written all or nothing: first complete into ``OUT.parquet.journal/staged/``, then a commit record
(``commit.json``) is written, then each file is renamed into place (the main Parquet last) and the
journal removed. A run killed during the renames leaves the commit record, and the next run for the
same output finishes those renames before anything else, so the three files never stay mixed.

Outputs, next to ``OUT.parquet``:

- ``OUT.parquet``: long format, one row per document x rotation x label: ``doc_id, coder_id,
  rotation, label, prob, chosen, n_input_tokens, n_output_tokens, latency_s``;
- ``OUT_orders.parquet``: ``coder_id, rotation, position, label``: the label order of each rotation;
- ``OUT.json`` (the contract's ``coders/<coder>.json``): provenance: model, GGUF sha256 or
  revision, prompt template and hash, settings, package versions, time, rotation orders, and how
  many documents were truncated to ``max_doc_tokens``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.coders.config import CoderConfig
from llmcoder.coders.prompt import rotation_order
from llmcoder.coders.scoring import length_batches
from llmcoder.errors import InputError, Problem, rows_problem
from llmcoder.io import ensure_writable, provenance, write_json, write_parquet

SCHEMA = {"doc_id": pl.Utf8, "coder_id": pl.Utf8, "rotation": pl.Int32, "label": pl.Utf8,
          "prob": pl.Float64, "chosen": pl.Boolean, "n_input_tokens": pl.Int64,
          "n_output_tokens": pl.Int64, "latency_s": pl.Float64}
CANONICAL_FIX = ("code the canonical corpus written by `llmcoder prepare` (results/<study>/corpus.parquet, "
                 "columns doc_id and text); `llmcoder validate FILE` checks a raw file first")
#: Inside the journal: the finished outputs before they are renamed into place, and the record saying so.
STAGED, COMMIT = "staged", "commit.json"


def side_paths(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Where the run writes: output, journal, orders table, provenance."""
    out = Path(out)
    stem = out.name[: -len(".parquet")] if out.name.endswith(".parquet") else out.name
    return {"out": out, "journal": out.with_name(out.name + ".journal"),
            "orders": out.with_name(stem + "_orders.parquet"),
            "provenance": out.with_name(stem + ".json")}


def check_outputs(paths: dict[str, Path]) -> None:
    """Check, before any slow work and without creating anything, that every output can be written."""
    out = paths["out"]
    if out.is_dir():
        raise InputError(str(out), "is a folder, but --out names the output Parquet file",
                         fix=f"pass a file path such as {out / 'coder.parquet'}")
    if not out.name.endswith(".parquet") or out.name == ".parquet":
        raise InputError(str(out), "the output of `llmcoder code` is a Parquet file; its name must end in .parquet",
                         fix=f"pass --out {out.with_name(out.stem + '.parquet')}")
    for key in ("orders", "provenance"):
        if paths[key].is_dir():
            raise InputError(str(paths[key]), "a folder stands where llmcoder writes this output file",
                             fix="move or rename that folder, or choose another --out")
    if paths["journal"].exists() and not paths["journal"].is_dir():
        raise InputError(str(paths["journal"]), "a file stands where llmcoder keeps its checkpoint folder",
                         fix="move or rename that file, or choose another --out")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(str(folder), f"is a file, but it stands where the output folder of {out} should be",
                         fix="move or rename that file, or choose another --out")
    ensure_writable(folder / out.name if folder != out.parent else out)


def load_docs(corpus: str | os.PathLike[str] | pl.DataFrame, *, limit: int | None = None) -> pl.DataFrame:
    """``doc_id`` and ``text`` of a canonical corpus (Parquet) or a CSV/JSONL with those columns, checked:
    every id present and unique, every text non-empty (rows as a spreadsheet shows them, header = row 1)."""
    if isinstance(corpus, pl.DataFrame):
        df, src = corpus, "<memory>"
    else:
        src = str(corpus)
        df = _read_corpus_file(Path(corpus))
    missing = [c for c in ("doc_id", "text") if c not in df.columns]
    if missing:
        raw = "id" in df.columns and "doc_id" not in df.columns
        hint = " (this looks like a raw corpus: prepare it first)" if raw else ""
        raise InputError(src, f"column(s) {', '.join(missing)} not found{hint}; the file has: "
                              f"{', '.join(df.columns) or 'no columns'}", fix=CANONICAL_FIX)
    try:
        df = df.select(pl.col("doc_id").cast(pl.Utf8), pl.col("text").cast(pl.Utf8))
    except pl.exceptions.PolarsError as e:
        raise InputError(src, f"columns doc_id and text must hold text ({_first_line(e)})",
                         fix=CANONICAL_FIX) from e
    ids, texts = df["doc_id"], df["text"]
    empty_id = (ids.is_null() | (ids.str.strip_chars() == "")).to_list()
    empty_text = (texts.is_null() | (texts.str.strip_chars() == "")).to_list()
    problems: list[Problem] = rows_problem([i + 2 for i, e in enumerate(empty_id) if e], "empty doc_id", "doc_id")
    first_seen: dict[str, int] = {}
    for i, d in enumerate(ids.to_list()):
        if d is None or empty_id[i]:
            continue
        if d in first_seen:
            problems.append(Problem(f"duplicate doc_id '{d}' (first at row {first_seen[d]})", row=i + 2,
                                    column="doc_id"))
        else:
            first_seen[d] = i + 2
    problems += rows_problem([i + 2 for i, e in enumerate(empty_text) if e], "empty or whitespace-only text",
                             "text")
    if problems:
        problems.sort(key=lambda pr: pr.row or 0)
        raise InputError(src, "documents that cannot be coded", problems,
                         fix="give every document a unique doc_id and a non-empty text; " + CANONICAL_FIX)
    if limit is not None:
        df = df.head(int(limit))
    return df


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def _read_corpus_file(p: Path) -> pl.DataFrame:
    src = str(p)
    if p.is_dir():
        raise InputError(src, "is a folder, not a corpus file", fix=CANONICAL_FIX)
    if not p.is_file():
        raise InputError(src, "corpus file not found",
                         fix="run `llmcoder prepare` first (it writes results/<study>/corpus.parquet), "
                             "or check the path (relative to the folder you run llmcoder from)")
    suf = p.suffix.lower()
    kinds = {".parquet": "Parquet", ".pq": "Parquet", ".csv": "CSV", ".tsv": "TSV", ".jsonl": "JSON Lines",
             ".ndjson": "JSON Lines"}
    if suf not in kinds:
        raise InputError(src, f"unknown corpus file type '{suf or '(none)'}'", fix=CANONICAL_FIX)
    try:
        if kinds[suf] == "Parquet":
            return pl.read_parquet(p)
        if kinds[suf] in ("CSV", "TSV"):
            return pl.read_csv(p, infer_schema=False, separator="\t" if suf == ".tsv" else ",")
        return pl.read_ndjson(p)
    except (pl.exceptions.PolarsError, ValueError, UnicodeDecodeError) as e:
        raise InputError(src, f"cannot be read as a {kinds[suf]} file ({_first_line(e)})", fix=CANONICAL_FIX) from e


def check_model(cfg: CoderConfig) -> None:
    """Check that a local coder's ``model`` (and ``tokenizer``) names something loadable, before loading it."""
    from llmcoder.coders.models import resolve_model

    keys = (["model"] if cfg.backend == "local" else []) + (["tokenizer"] if cfg.tokenizer else [])
    for key in keys:
        try:
            resolve_model(getattr(cfg, key))
        except InputError as e:
            cwd = f" (relative paths start in {Path.cwd()})" if not Path(getattr(cfg, key)).is_absolute() else ""
            raise InputError(cfg.source, f"{cfg.where(key)}: {e.what}{cwd}", e.problems, fix=e.fix) from e


def draw_coder_examples(cfg: CoderConfig, codebook: Codebook) -> list[tuple[str, list[str]]]:
    """The coder's few-shot examples, drawn before the model loads; a bad ``few_shot_source`` names the key."""
    from llmcoder.coders.prompt import draw_examples

    if not cfg.few_shot:
        return []
    src = str(cfg.few_shot_source)
    fix = ("point few_shot_source at a labelled training corpus (Parquet or CSV with columns text and label "
           "or labels), or write few_shot_source: codebook to use the codebook's own label examples")
    if src != "codebook":
        p = Path(src)
        if not p.is_file():
            raise InputError(cfg.source, f"{cfg.where('few_shot_source')}: file '{src}' not found "
                                         f"(relative paths start in {Path.cwd()})", fix=fix)
    try:
        return draw_examples(src, cfg.few_shot, cfg.few_shot_seed, codebook)
    except InputError as e:
        raise InputError(cfg.source, f"{cfg.where('few_shot_source')}: {e.path}: {e.what}", e.problems,
                         fix=e.fix or fix) from e
    except (pl.exceptions.PolarsError, ValueError, UnicodeDecodeError) as e:
        raise InputError(cfg.source, f"{cfg.where('few_shot_source')}: '{src}' cannot be read "
                                     f"({_first_line(e)})", fix=fix) from e


def _fingerprint(cfg: CoderConfig, codebook: Codebook, docs: pl.DataFrame, rotations: int,
                 orders: list[list[str]]) -> dict[str, Any]:
    h = hashlib.sha256()
    for d, t in zip(docs["doc_id"].to_list(), docs["text"].to_list(), strict=True):
        h.update(d.encode() + b"\x00" + t.encode() + b"\x01")
    fp = {"coder_id": cfg.coder_id, "codebook_sha256": codebook.sha256(), "corpus_sha256": h.hexdigest(),
          "n_docs": docs.height, "rotations": rotations, "batch_size": cfg.batch_size, "orders": orders}
    return json.loads(json.dumps(fp))  # as it reads back from run.json


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


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_small(text: str, path: Path) -> None:
    """Write a small file durably: temporary file, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _write_part(df: pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.write_ipc(tmp)
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def journal_state(journal: Path, fp: dict[str, Any]) -> str:
    """What an existing journal means for this run, without changing it.

    ``none`` (no journal), ``resume`` (same run: skip its batches), ``stale`` (a different run that
    coded nothing: safe to replace), ``commit`` (a finished run killed while renaming its outputs into
    place); a different run with coded batches is an :class:`InputError` (its work is not thrown away).
    """
    if not journal.is_dir():
        return "none"
    if (journal / COMMIT).is_file():
        return "commit"
    parts = sorted(journal.glob("part-*.arrow"))
    try:
        old = json.loads((journal / "run.json").read_text())
    except (OSError, ValueError):
        old = None
    if old == fp:
        return "resume"
    if not parts:
        return "stale"
    if not isinstance(old, dict):
        raise InputError(str(journal), f"the checkpoint holds {len(parts)} coded batches but its run.json is "
                                       "missing or damaged", fix=f"delete the folder {journal} and run again")
    diff = sorted(k for k in fp if old.get(k) != fp[k])
    why = {"coder_id": "the coder config (model, prompt or settings)", "codebook_sha256": "the codebook",
           "corpus_sha256": "the corpus or --limit", "n_docs": "the number of documents (--limit)",
           "rotations": "--rotations", "batch_size": "batch_size", "orders": "the label orders (seed)",
           "batch_results_sha256": "the batch results file (--batch-in)"}
    raise InputError(str(journal), f"this checkpoint holds {len(parts)} coded batches of a different run "
                                   f"(it differs in: {'; '.join(why.get(k, k) for k in diff)})",
                     fix=f"rerun with the same coder, codebook, corpus, --rotations and --limit to resume it, "
                         f"or delete the folder {journal} to start over")


def finish_commit(journal: Path) -> dict[str, Any]:
    """Rename the staged outputs of a finished run into place (again, after a kill) and remove the journal."""
    try:
        record = json.loads((journal / COMMIT).read_text())
        names = [str(n) for n in record["files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(str(journal / COMMIT), f"the commit record of a finished run is damaged ({e})",
                         fix=f"delete the folder {journal} and run again") from e
    for name in names:
        src = journal / STAGED / name
        if src.exists():  # not yet renamed by the run that was killed
            os.replace(src, journal.parent / name)
    _fsync_dir(journal.parent)
    shutil.rmtree(journal, ignore_errors=True)
    return record


def _open_journal(journal: Path, fp: dict[str, Any]) -> None:
    """Make the journal for this run when its first batch is coded (replacing a stale one that coded nothing)."""
    meta = journal / "run.json"
    if journal.is_dir() and meta.is_file():
        try:
            if json.loads(meta.read_text()) == fp:
                return
        except ValueError:
            pass
        shutil.rmtree(journal)
    journal.mkdir(parents=True, exist_ok=True)
    _write_small(json.dumps(fp, indent=1, sort_keys=True), meta)
    _fsync_dir(journal.parent)


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


def _kept(journal: Path, n_done: int, total: int) -> str:
    if n_done:
        return (f"{n_done} of {total} document codings are kept in {journal}; the same command resumes "
                "from there")
    return "nothing was coded and no file was written"


def _http_failure(e: Any, cfg: CoderConfig, journal: Path, n_done: int, total: int) -> InputError:
    """A request that failed for good, as a message naming the URL, what was tried and how to check the server."""
    base = cfg.http_base_url.rstrip("/")
    check = f"curl {base}/models" + (f" -H \"Authorization: Bearer ${cfg.http_api_key_env}\""
                                     if cfg.http_api_key_env else "")
    kept = _kept(journal, n_done, total)
    if e.status is None:
        what = (f"{cfg.where('http_base_url')}: the server at {base} did not answer: {e.attempts} attempt(s) "
                f"to POST {e.url} (timeout {cfg.http_timeout_s:g} s each, back-off from {cfg.http_backoff_s:g} s "
                f"doubling up to {cfg.http_backoff_max_s:g} s) all failed; last error: {e.detail}")
        fix = (f"start the server, or correct http_base_url in {cfg.source}; check that it answers with `{check}`, "
               f"then run the same command again ({kept})")
    elif e.status in (401, 403):
        what = (f"{cfg.where('http_api_key_env')}: the server at {base} refused the request "
                f"(HTTP {e.status}): {e.detail}")
        fix = (f"check the API key in the environment variable named by http_api_key_env "
               f"({cfg.http_api_key_env or 'none set'}); test it with `{check}`; then run again ({kept})")
    elif e.status == 404:
        what = f"{cfg.where('http_base_url')}: {e.url} answered HTTP 404 (not found): {e.detail}"
        fix = (f"check http_base_url (it usually ends in /v1) and model '{cfg.model}' (the served model name: "
               f"`{check}` lists them); then run again ({kept})")
    else:
        what = f"{cfg.where('http_base_url')}: {e.url} answered {e.detail} after {e.attempts} attempt(s)"
        fix = (f"check the server's log; HTTP 400 often means it does not support http_response_format "
               f"'{cfg.http_response_format}' (try json_object or json_schema) or the prompt is too long for "
               f"its context; then run again ({kept})")
    return InputError(cfg.source, what, fix=fix)


def _out_of_memory(cfg: CoderConfig, e: BaseException, journal: Path, n_done: int, total: int) -> InputError:
    return InputError(cfg.source, f"{cfg.where('batch_size')}: ran out of memory while coding a batch of "
                                  f"{cfg.batch_size} documents ({_first_line(e)})",
                      fix=f"lower batch_size or max_doc_tokens in {cfg.source} (the coder id does not change "
                          f"with batch_size, but a checkpoint does: {_kept(journal, n_done, total)})")


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
    fingerprint_extra: Mapping[str, Any] | None = None,
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
    fingerprint_extra : more of what makes this run (e.g. the batch results file it reads), so that a
        checkpoint of another run is never resumed by this one.

    Returns
    -------
    The long-format result table (also written to ``out``).
    """
    from llmcoder.coders.backends import make_backend
    from llmcoder.coders.http import HttpCoderError

    if rotations < 1:
        raise InputError("--rotations", f"is {rotations}; it must be >= 1", fix="use --rotations 1 or more")
    if limit is not None and limit < 1:
        raise InputError("--limit", f"is {limit}; it must be >= 1", fix="leave --limit out to code every document")
    # -- every check that needs no model, before anything slow or anything written --------------
    paths = side_paths(out)
    journal = paths["journal"]
    check_outputs(paths)
    docs = load_docs(corpus, limit=limit)
    if docs.height == 0:
        raise InputError(str(corpus), "no documents to code", fix="check the corpus and --limit")
    orders = [rotation_order(codebook, r, coder.seed) for r in range(rotations)]
    fp = _fingerprint(coder, codebook, docs, rotations, orders)
    if fingerprint_extra:
        fp = {**fp, **json.loads(json.dumps(dict(fingerprint_extra)))}
    jstate = journal_state(journal, fp)
    if backend is None:
        check_model(coder)
    examples = draw_coder_examples(coder, codebook) if backend is None else []
    if jstate == "commit":
        record = finish_commit(journal)
        if record.get("fingerprint") == fp:  # this very run had finished: its outputs are in place now
            print(f"finished writing the outputs of the previous, complete run -> {paths['out']}",
                  file=sys.stderr, flush=True)
            return pl.read_parquet(paths["out"])
        jstate = "none"
    # -- the model (slow) ----------------------------------------------------------------------
    if backend is None and coder.backend == "local":
        print(f"loading model {coder.model} ...", file=sys.stderr, flush=True)
    be = backend or make_backend(coder, codebook, examples=examples)
    texts = docs["text"].to_list()
    ids = docs["doc_id"].to_list()
    done = {p.name for p in journal.glob("part-*.arrow")} if jstate == "resume" else set()
    plans, prompts = [], {}
    for r, order in enumerate(orders):
        try:
            state = be.prepare(order)
        except ValueError as e:  # e.g. two labels share their answer token
            raise InputError(coder.source, f"{coder.where('options')}: {e}",
                             fix="use other option codes (options: letters or names)") from e
        prompts[r] = be.prompt_record(state)
        batches = length_batches(be.lengths(state, texts), coder.batch_size)
        plans.append((r, order, state, batches))
    truncation = be.truncation(plans[0][2], texts) if hasattr(be, "truncation") else None
    if truncation and (truncation["n_docs_truncated"] or truncation.get("n_docs_chunked")):
        print(f"note: {truncation_note(truncation, done=False, source=coder.source)}", file=sys.stderr, flush=True)
    total = docs.height * rotations
    initial = sum(len(b) for r, _, _, bs in plans for i, b in enumerate(bs)
                  if f"part-{r:04d}-{i:06d}.arrow" in done)
    if initial:
        for junk in journal.glob(".*.tmp"):  # a part being written when the run died
            junk.unlink(missing_ok=True)
        print(f"resuming from {journal}: {initial} of {total} document codings already done",
              file=sys.stderr, flush=True)
    bar = _progress(total, initial, progress)
    t_start = time.perf_counter()
    n_done = initial
    try:
        for r, order, state, batches in plans:
            for i, b in enumerate(batches):
                name = f"part-{r:04d}-{i:06d}.arrow"
                if name in done:
                    continue
                try:
                    if hasattr(be, "code_docs"):  # answers kept by document (a batch results file)
                        res = be.code_docs(state, [ids[j] for j in b], [texts[j] for j in b])
                    else:
                        res = be.code(state, [texts[j] for j in b])
                except HttpCoderError as e:
                    raise _http_failure(e, coder, journal, n_done, total) from None
                except MemoryError as e:
                    raise _out_of_memory(coder, e, journal, n_done, total) from None
                except RuntimeError as e:
                    if "out of memory" not in str(e).lower():
                        raise
                    raise _out_of_memory(coder, e, journal, n_done, total) from None
                part = _long_rows([ids[j] for j in b], coder.coder_id, r, order, codebook.ids, res,
                                  codebook.task, coder.multi_threshold)
                if jstate != "resume":
                    _open_journal(journal, fp)
                    jstate = "resume"
                _write_part(part, journal / name)
                n_done += len(b)
                bar.update(len(b))
                if on_batch:
                    on_batch(r, i)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start
    if hasattr(be, "finish"):  # e.g. what a batch results file held, into the provenance
        be.finish()
    result = _read_journal(journal, docs, codebook, rotations)
    orders_df = pl.DataFrame({
        "coder_id": [coder.coder_id] * (rotations * len(codebook.ids)),
        "rotation": [r for r in range(rotations) for _ in codebook.ids],
        "position": [p for _ in range(rotations) for p in range(len(codebook.ids))],
        "label": [lab for o in orders for lab in o],
    }, schema={"coder_id": pl.Utf8, "rotation": pl.Int32, "position": pl.Int32, "label": pl.Utf8})
    prov = _provenance(coder, codebook, be, fp, prompts, orders, elapsed, docs.height, rotations, truncation,
                       result)
    _commit(paths, orders_df, prov, result, fp)
    return result


def _read_journal(journal: Path, docs: pl.DataFrame, codebook: Codebook, rotations: int) -> pl.DataFrame:
    """All journaled batches as one table in canonical order, checked to hold every coding exactly once."""
    parts = sorted(journal.glob("part-*.arrow"))
    frames = []
    for p in parts:
        try:
            frames.append(pl.read_ipc(p))
        except (pl.exceptions.PolarsError, OSError, ValueError) as e:
            raise InputError(str(p), f"a checkpoint batch cannot be read ({_first_line(e)})",
                             fix="delete that file and run the same command again: that batch is coded again") from e
    result = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
    ids = docs["doc_id"].to_list()
    doc_pos = {d: i for i, d in enumerate(ids)}
    lab_pos = {lab: i for i, lab in enumerate(codebook.ids)}
    expected = docs.height * rotations * len(codebook.ids)
    consistent = (result.height == expected and result["doc_id"].is_in(ids).all()
                  and result["label"].is_in(codebook.ids).all()
                  and not result.select("doc_id", "rotation", "label").is_duplicated().any())
    if not consistent:
        raise InputError(str(journal), f"the checkpoint is inconsistent ({result.height} rows, expected {expected})",
                         fix=f"delete the folder {journal} and run the same command again")
    return (result.with_columns(pl.col("doc_id").replace_strict(doc_pos, return_dtype=pl.Int64).alias("_d"),
                                pl.col("label").replace_strict(lab_pos, return_dtype=pl.Int64).alias("_l"))
            .sort("rotation", "_d", "_l").drop("_d", "_l"))


def _commit(paths: dict[str, Path], orders_df: pl.DataFrame, prov: dict[str, Any], result: pl.DataFrame,
            fp: dict[str, Any]) -> None:
    """Write the three outputs all or nothing: staged in the journal, a commit record, then renamed into place."""
    journal = paths["journal"]
    staged = journal / STAGED
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    from llmcoder.results import checked

    write_parquet(checked("coder_orders", orders_df), staged / paths["orders"].name)
    write_json(checked("coder_provenance", prov), staged / paths["provenance"].name)
    write_parquet(checked("coder_codings", result), staged / paths["out"].name)
    for f in staged.iterdir():
        _fsync_file(f)
    _fsync_dir(staged)
    names = [paths["orders"].name, paths["provenance"].name, paths["out"].name]  # the main Parquet last
    _write_small(json.dumps({"files": names, "fingerprint": fp}, sort_keys=True), journal / COMMIT)
    finish_commit(journal)


def truncation_note(t: dict[str, Any], *, done: bool = True, source: str = "the coder config") -> str:
    """One sentence on the documents cut to ``max_doc_tokens`` or chunked (for the summary line and the log)."""
    unit = t.get("unit", "tokens")
    if t.get("long_docs") == "chunk":
        coded = "were coded" if done else "will be coded"
        return (f"{t['n_docs_chunked']} of {t['n_docs']} documents are longer than max_doc_tokens="
                f"{t['max_doc_tokens']} and {coded} in overlapping windows ({t['n_windows']} windows for "
                f"{t['n_docs']} documents, overlap {t['chunk_overlap']} {unit}, probabilities combined by "
                f"{t['chunk_aggregate']}; longest {t['longest_doc_tokens']} {unit})")
    cut = "were cut" if done else "will be cut"
    return (f"{t['n_docs_truncated']} of {t['n_docs']} documents are longer than max_doc_tokens="
            f"{t['max_doc_tokens']} and {cut} to their first {t['max_doc_tokens']} tokens "
            f"(longest {t['longest_doc_tokens']} tokens; {t['tokens_cut']} tokens left out in all; "
            f"raise max_doc_tokens in {source} to keep more)")


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
                orders: list[list[str]], elapsed: float, n_docs: int, rotations: int,
                truncation: dict[str, Any] | None, result: pl.DataFrame) -> dict[str, Any]:
    from llmcoder.coders.prompt import DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_MULTI
    from llmcoder.io import text_sha256

    template = cfg.template or (DEFAULT_TEMPLATE if codebook.task == "single" else DEFAULT_TEMPLATE_MULTI)
    unanswered = result.group_by("doc_id", "rotation").agg(pl.col("prob").is_nan().all().alias("bad"))
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
        truncation=truncation,
        n_codings_without_answer=int(unanswered["bad"].sum()),
        package_versions=_versions(),
        seconds_last_session=round(elapsed, 3),
    )


def summary_line(coder_id: str, n_docs: int, rotations: int, out: Path, provenance: Path, *,
                 source: str = "the coder config") -> str:
    """What a run did, in one line: documents x rotations, where, and what was truncated or left unanswered."""
    line = f"{coder_id}: coded {n_docs} documents x {rotations} rotation(s) -> {out}"
    try:
        prov = json.loads(provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return line
    trunc = prov.get("truncation") or {}
    if trunc.get("n_docs_truncated") or trunc.get("n_docs_chunked"):
        line += f"; {truncation_note(trunc, source=source)}"
    else:
        line += "; no document truncated" if trunc else ""
    missing = prov.get("n_codings_without_answer") or 0
    if missing:
        line += (f"; {missing} codings got no valid answer from the model (prob is NaN there; "
                 "see the log for the answers)")
    return line
