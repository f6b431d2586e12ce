"""Batch files: an HTTP coder's requests in the OpenAI batch format, sent file to file, answers read back.

Hosted batch APIs (at about half the price) and ``vllm run-batch`` take a JSONL file of requests and
return a JSONL file of answers. Three steps, each usable alone (an HPC job can work file to file):

* :func:`write_batch_requests` (``llmcoder code --batch-out FILE.jsonl``): one line per document and label
  order, ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``, the body exactly the
  request the live HTTP coder sends (prompt, JSON schema, log-probabilities); beside it
  ``FILE.jsonl.meta.json`` records what the requests were made from.
* :func:`run_batch` (``llmcoder batch run FILE.jsonl --server URL``): sends each line to any
  OpenAI-compatible server and writes the answers in the batch output format (``{"id", "custom_id",
  "response": {"status_code", "body"}, "error"}``); a killed run resumes from ``RESULTS.jsonl.part``.
* :class:`BatchResultsBackend` (``llmcoder code --batch-in RESULTS.jsonl``): reads the answers back into
  the same coder output as a live run (probabilities, provenance). A request without an answer, a failed
  answer, a duplicated or unknown line and a line that is not JSON are each counted and named, and the
  coding is left without an answer (NaN), never dropped or guessed.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from llmcoder.codebook import Codebook
from llmcoder.coders.backends import BatchResult, HttpBackend
from llmcoder.coders.config import CoderConfig
from llmcoder.errors import InputError
from llmcoder.io import file_sha256, write_json, write_text

__all__ = ["BATCH_URL", "BatchResultsBackend", "batch_report_line", "code_from_batch", "custom_id",
           "read_batch_requests", "run_batch", "write_batch_requests"]

#: The endpoint every request line names (the OpenAI batch format's ``url``).
BATCH_URL = "/v1/chat/completions"
META_SUFFIX = ".meta.json"
META_KIND = "llmcoder-batch-requests"
#: How many problem lines a report names (all are counted).
MAX_NAMED = 10


def custom_id(rotation: int, doc_id: str) -> str:
    """The line's id: label order and document (``r0:doc-17``)."""
    return f"r{rotation}:{doc_id}"


def _http_only(cfg: CoderConfig) -> None:
    if cfg.backend != "http":
        raise InputError(cfg.source, f"{cfg.where('backend')}: batch files are for HTTP coders, not backend "
                         f"'{cfg.backend}'", fix="set backend: http with http_base_url and model in the coder YAML")
    if cfg.long_docs == "chunk":  # one line per document: windows would need lines of their own
        raise InputError(cfg.source, f"{cfg.where('long_docs')}: batch files hold one request per document, so "
                         "they cannot code documents in windows (long_docs: chunk)",
                         fix="set long_docs: truncate for batch files, or code through the server with "
                             "`llmcoder code` (which sends each window)")


def _plan(corpus: str | os.PathLike[str] | pl.DataFrame, codebook: Codebook, cfg: CoderConfig, rotations: int,
          limit: int | None) -> tuple[pl.DataFrame, list[list[str]], dict[str, Any]]:
    """The documents, label orders and fingerprint of a run (those of :func:`llmcoder.coders.run.code_corpus`)."""
    from llmcoder.coders.prompt import rotation_order
    from llmcoder.coders.run import _fingerprint, load_docs

    if rotations < 1:
        raise InputError("--rotations", f"is {rotations}; it must be >= 1", fix="use --rotations 1 or more")
    docs = load_docs(corpus, limit=limit)
    if docs.height == 0:
        raise InputError(str(corpus), "no documents to code", fix="check the corpus and --limit")
    orders = [rotation_order(codebook, r, cfg.seed) for r in range(rotations)]
    return docs, orders, _fingerprint(cfg, codebook, docs, rotations, orders)


def write_batch_requests(corpus: str | os.PathLike[str] | pl.DataFrame, codebook: Codebook, cfg: CoderConfig,
                         out: str | os.PathLike[str], *, rotations: int = 1,
                         limit: int | None = None) -> dict[str, Any]:
    """Write the coder's requests as an OpenAI batch file ``out`` (and ``out.meta.json``); return the meta
    record (``n_requests``, the run's fingerprint, the file's sha256)."""
    from llmcoder.coders.run import draw_coder_examples

    _http_only(cfg)
    docs, orders, fp = _plan(corpus, codebook, cfg, rotations, limit)
    be = HttpBackend(cfg, codebook, examples=draw_coder_examples(cfg, codebook), offline=True)
    lines = []
    ids, texts = docs["doc_id"].to_list(), docs["text"].to_list()
    for r, order in enumerate(orders):
        state = be.prepare(order)
        for d, t in zip(ids, texts, strict=True):
            lines.append(json.dumps({"custom_id": custom_id(r, d), "method": "POST", "url": BATCH_URL,
                                     "body": be.client._body(state, t)}, ensure_ascii=False, sort_keys=True))
    path = write_text("\n".join(lines) + "\n", out)
    meta = {"kind": META_KIND, "version": 1, "coder_id": cfg.coder_id, "fingerprint": fp,
            "n_requests": len(lines), "requests_sha256": file_sha256(path)}
    write_json(meta, str(path) + META_SUFFIX)
    return meta


def read_batch_requests(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The request lines of a batch file, each checked against the batch format (an :class:`InputError`
    names the first bad line)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "batch request file not found", fix="write it with 'llmcoder code --batch-out'")
    out, seen = [], set()
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(str(p), f"line {n} is not JSON ({e.msg})", fix="write the file again") from None
            ok = (isinstance(req, dict) and isinstance(req.get("custom_id"), str) and req.get("method") == "POST"
                  and isinstance(req.get("url"), str) and req["url"].startswith("/")
                  and isinstance(req.get("body"), dict))
            if not ok:
                raise InputError(str(p), f"line {n} is not a batch request (custom_id, method POST, url, body)",
                                 fix="write the file again with 'llmcoder code --batch-out'")
            if req["custom_id"] in seen:
                raise InputError(str(p), f"line {n}: custom_id {req['custom_id']!r} is used twice",
                                 fix="every request needs its own custom_id")
            seen.add(req["custom_id"])
            out.append(req)
    return out


def _endpoint(server: str, url: str) -> str:
    """The full URL of a request line's ``url`` on ``server`` (its root, or its ``/v1`` base)."""
    base = server.rstrip("/")
    if base.endswith("/v1") and url.startswith("/v1/"):
        base = base[: -len("/v1")]
    return base + url


def _done_lines(part: Path) -> dict[str, dict[str, Any]]:
    """The answered lines of an interrupted run (a torn last line, cut by a kill, is left out)."""
    done: dict[str, dict[str, Any]] = {}
    if not part.is_file():
        return done
    for line in part.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and (rec.get("response") or {}).get("status_code") == 200:
            done[str(rec.get("custom_id"))] = rec
    return done


async def _run(reqs: Sequence[dict[str, Any]], server: str, part: Path, *, key: str | None, concurrency: int,
               timeout_s: float, max_retries: int, done: Mapping[str, Any]) -> None:
    import httpx

    from llmcoder.coders.http import HttpCoderError, post_json

    sem = asyncio.Semaphore(concurrency)
    todo = [r for r in reqs if r["custom_id"] not in done]
    with part.open("a", encoding="utf-8") as f:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), timeout=timeout_s) as client:
            async def one(i: int, req: dict[str, Any]) -> None:
                async with sem:
                    try:
                        body = await post_json(client, _endpoint(server, req["url"]), req["body"], key=key,
                                               timeout_s=timeout_s, max_retries=max_retries, backoff_s=1.0,
                                               backoff_max_s=30.0)
                        rec = {"id": f"batch_req_{i}", "custom_id": req["custom_id"], "error": None,
                               "response": {"status_code": 200, "request_id": str(body.get("id", "")), "body": body}}
                    except HttpCoderError as e:
                        rec = {"id": f"batch_req_{i}", "custom_id": req["custom_id"],
                               "response": None if e.status is None else {"status_code": e.status, "body": None},
                               "error": {"code": "http_error", "message": e.detail}}
                f.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
                f.flush()  # an answer is on disk before the next one is awaited: a kill loses at most the one in flight

            await asyncio.gather(*(one(i, r) for i, r in enumerate(todo)))


def run_batch(requests: str | os.PathLike[str], server: str, out: str | os.PathLike[str], *,
              api_key_env: str | None = None, concurrency: int = 4, timeout_s: float = 120.0,
              max_retries: int = 3) -> dict[str, Any]:
    """Send every request line of ``requests`` to ``server`` (an OpenAI-compatible server's root or ``/v1``
    URL) and write the answers to ``out`` in the batch output format, in the order of the requests.

    Answers go to ``out.part`` as they arrive; a rerun after a kill sends only the requests without a
    successful answer there (failed ones are tried again). Returns ``{"n_requests", "n_ok", "n_failed",
    "n_resumed", "out"}``."""
    reqs = read_batch_requests(requests)
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise InputError("--api-key-env", f"environment variable {api_key_env} is not set",
                             fix=f"export {api_key_env}=<your key> (the key itself never goes in a file)")
    out_p = Path(out)
    out_p.parent.mkdir(parents=True, exist_ok=True)
    part = out_p.with_name(out_p.name + ".part")
    done = _done_lines(part)
    if part.is_file():  # keep only the successful answers; the rest is sent again
        write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in done.values()), part)
    asyncio.run(_run(reqs, server, part, key=key, concurrency=concurrency, timeout_s=timeout_s,
                     max_retries=max_retries, done=done))
    got: dict[str, dict[str, Any]] = {}
    for line in part.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["custom_id"] not in got or (rec.get("response") or {}).get("status_code") == 200:
            got[rec["custom_id"]] = rec
    ordered = [got[r["custom_id"]] for r in reqs if r["custom_id"] in got]
    write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in ordered), out_p)
    part.unlink()
    meta = Path(str(requests) + META_SUFFIX)
    if meta.is_file():  # what the requests were made from travels with their answers (checked by --batch-in)
        write_text(meta.read_text(encoding="utf-8"), str(out_p) + META_SUFFIX)
    n_ok = sum((r.get("response") or {}).get("status_code") == 200 for r in ordered)
    return {"n_requests": len(reqs), "n_ok": n_ok, "n_failed": len(ordered) - n_ok, "n_resumed": len(done),
            "out": out_p}


def _read_results(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The successful answers by custom_id, and what was wrong with the other lines."""
    if not path.is_file():
        raise InputError(str(path), "batch results file not found",
                         fix="pass the answers of the batch (e.g. from 'llmcoder batch run')")
    ok: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    bad_lines: list[int] = []
    duplicated: list[str] = []
    n_lines = 0
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            n_lines += 1
            try:
                rec = json.loads(line)
                cid = rec["custom_id"]
                if not isinstance(cid, str):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                bad_lines.append(n)
                continue
            resp = rec.get("response") or {}
            if cid in ok or (cid in failed and resp.get("status_code") != 200):
                duplicated.append(cid)
                continue
            if resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
                if cid in failed:  # a failure, then an answer: the answer counts
                    del failed[cid]
                ok[cid] = resp["body"]
            else:
                err = rec.get("error") or {}
                failed[cid] = str(err.get("message") or f"status {resp.get('status_code')}")[:200]
    return ok, {"file": str(path), "sha256": file_sha256(path), "n_lines": n_lines, "bad_lines": bad_lines,
                "duplicated": duplicated, "failed": failed}


class BatchResultsBackend(HttpBackend):
    """The HTTP coder's answers read from a batch results file instead of a server: each document's
    answer parsed exactly as a live answer is, a missing or failed one left without an answer (NaN)."""

    def __init__(self, cfg: CoderConfig, codebook: Codebook, results: str | os.PathLike[str], *,
                 fingerprint: Mapping[str, Any], examples: Sequence[tuple[str, Sequence[str]]] = ()):
        _http_only(cfg)
        super().__init__(cfg, codebook, examples=examples, offline=True)
        path = Path(results)
        self.answers, self.report = _read_results(path)
        self._check_meta(path, fingerprint)
        self.used: set[str] = set()
        self.missing: list[str] = []
        self._rotation: dict[int, int] = {}
        self.info = {**self.info, "kind": "http-batch", "batch_results": self.report["file"],
                     "batch_results_sha256": self.report["sha256"]}

    def _check_meta(self, path: Path, fingerprint: Mapping[str, Any]) -> None:
        """Answers made for other requests are refused: the requests' meta record beside the results
        (``llmcoder batch run`` copies it there; copy it beside a hosted API's results) must carry this
        run's fingerprint."""
        meta_path = path.with_name(path.name + META_SUFFIX)
        if not meta_path.is_file():
            return
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(str(meta_path), "not JSON", fix="write the batch file again") from None
        if meta.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise InputError(str(meta_path), "these batch results answer requests made from another corpus, "
                             "codebook, coder or number of rotations",
                             fix="read them with the corpus, codebook, coder and --rotations of --batch-out")

    def prepare(self, order: Sequence[str]) -> Any:
        state = super().prepare(order)
        self._rotation[id(state)] = len(self._rotation)  # code_corpus prepares the orders in rotation order
        return state

    def code(self, state: Any, texts: Sequence[str]) -> BatchResult:  # pragma: no cover - code_docs is used
        raise RuntimeError("BatchResultsBackend answers by document: call code_docs")

    def code_docs(self, state: Any, doc_ids: Sequence[str], texts: Sequence[str]) -> BatchResult:
        """The answers of these documents under ``state``'s label order."""
        from llmcoder.coders.http import HttpAnswer

        r = self._rotation[id(state)]
        out = []
        for d in doc_ids:
            cid = custom_id(r, d)
            body = self.answers.get(cid)
            self.used.add(cid)
            if body is None:
                if cid not in self.report["failed"]:
                    self.missing.append(cid)
                out.append(HttpAnswer([math.nan] * len(state.codes), 0, 0, 0.0, ""))
            else:
                out.append(self.client._parse(state, body, 0.0))
        return BatchResult(np.array([a.probs for a in out]), [a.n_input_tokens for a in out],
                           [a.n_output_tokens for a in out], [a.latency_s for a in out])

    def finish(self) -> dict[str, Any]:
        """The report of the read (also recorded in the coder's provenance under ``model``): counts, and the
        first :data:`MAX_NAMED` ids of each kind of problem."""
        rep = self.report
        failed_used = sorted(c for c in rep["failed"] if c in self.used)
        unknown = sorted((set(self.answers) | set(rep["failed"])) - self.used)
        summary = {
            "n_lines": rep["n_lines"], "n_answered": len(self.used & set(self.answers)),
            "n_missing": len(self.missing), "n_failed": len(failed_used), "n_duplicated": len(rep["duplicated"]),
            "n_unknown": len(unknown), "n_not_json": len(rep["bad_lines"]),
            "missing": self.missing[:MAX_NAMED], "failed": {c: rep["failed"][c] for c in failed_used[:MAX_NAMED]},
            "duplicated": rep["duplicated"][:MAX_NAMED], "unknown": unknown[:MAX_NAMED],
            "not_json_lines": rep["bad_lines"][:MAX_NAMED],
        }
        self.info["batch"] = summary
        return summary


def batch_report_line(summary: Mapping[str, Any], path: str) -> str:
    """One line (or a few) on what a batch results file held and what was wrong with it."""
    s = summary
    line = f"{path}: {s['n_answered']} codings answered"
    problems = []
    for key, what in (("n_missing", "without an answer line"), ("n_failed", "answered with an error"),
                      ("n_duplicated", "duplicated lines (the first answer kept)"),
                      ("n_unknown", "lines for requests this run did not make (ignored)"),
                      ("n_not_json", "lines that are not JSON (ignored)")):
        if s[key]:
            named = {"n_missing": s["missing"], "n_failed": list(s["failed"]), "n_duplicated": s["duplicated"],
                     "n_unknown": s["unknown"], "n_not_json": [f"line {n}" for n in s["not_json_lines"]]}[key]
            problems.append(f"  {s[key]} {what}: {', '.join(map(str, named))}{' ...' if s[key] > len(named) else ''}")
    if s["n_missing"] or s["n_failed"]:
        problems.append("  the codings without an answer have NaN probabilities (counted in the provenance's "
                        "n_codings_without_answer); send those requests again and read the new results")
    return "\n".join([line + ("; problems:" if problems else ""), *problems])


def print_report(summary: Mapping[str, Any], path: str) -> None:
    print(batch_report_line(summary, path), file=sys.stderr, flush=True)


def code_from_batch(corpus: str | os.PathLike[str] | pl.DataFrame, codebook: Codebook, cfg: CoderConfig,
                    out: str | os.PathLike[str], results: str | os.PathLike[str], *, rotations: int = 1,
                    limit: int | None = None, progress: bool = False) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The coder output (as :func:`llmcoder.coders.run.code_corpus` writes it) from a batch results file;
    returns the codings and the read's report (:meth:`BatchResultsBackend.finish`)."""
    from llmcoder.coders.run import code_corpus, draw_coder_examples

    _http_only(cfg)
    docs, _, fp = _plan(corpus, codebook, cfg, rotations, limit)
    be = BatchResultsBackend(cfg, codebook, results, fingerprint=fp, examples=draw_coder_examples(cfg, codebook))
    expected = {custom_id(r, d) for r in range(rotations) for d in docs["doc_id"].to_list()}
    if not expected & (set(be.answers) | set(be.report["failed"])):
        raise InputError(str(results), f"none of the {len(expected)} requests of this run has a line in this file",
                         fix="read the results of the batch file that 'llmcoder code --batch-out' wrote for this "
                             "corpus, coder and --rotations")
    res = code_corpus(corpus, codebook, cfg, out, rotations=rotations, limit=limit, progress=progress, backend=be,
                      fingerprint_extra={"batch_results_sha256": be.report["sha256"]})
    return res, dict(be.info.get("batch") or {})
