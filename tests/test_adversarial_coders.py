"""Adversarial suite of the LLM coders: bad coder YAMLs, bad ``llmcoder code`` arguments, servers that are
down or fail mid-run, and SIGKILL at each stage of a run with the smallest real model.

Every case of the table runs the real ``llmcoder`` console script and must end with exit status 2, a
message naming the file, the key or row and the fix, no traceback, and no file created, changed or removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from adversarial import CODEBOOK, Case, check, run_llmcoder, snapshot, write_files

from llmcoder.errors import InputError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parquet(data: dict[str, list[Any]]) -> Any:
    """File content for a case: a Parquet file with these columns."""
    return lambda p: pl.DataFrame(data).write_parquet(p)


CORPUS = _parquet({"doc_id": ["d1", "d2", "d3"],
                   "text": ["More nurses for hospitals", "New school buildings", "Cheaper electricity"]})
CODER = "name: smol\nmodel: smollm2-135m\nbatch_size: 2\nthreads: 1\ndevice: cpu\n"
DOWN_PORT = _free_port()  # nothing listens here
HTTP_DOWN = (f"name: remote\nmodel: served\nbackend: http\nhttp_base_url: http://127.0.0.1:{DOWN_PORT}/v1\n"
             "http_max_retries: 1\nhttp_backoff_s: 0.1\nhttp_timeout_s: 2\n")
BASE = {"corpus.parquet": CORPUS, "codebook.yaml": CODEBOOK}
RUN = "code corpus.parquet --codebook codebook.yaml --coder coder.yaml --out res/o.parquet --no-progress"


def _coder(text: str, **extra: Any) -> dict[str, Any]:
    return {**BASE, "coder.yaml": text, **extra}


def _other_journal(p: Path) -> None:
    """A checkpoint of another run (other coder) with one coded batch, where this run's journal goes."""
    p.mkdir(parents=True)
    (p / "run.json").write_text(json.dumps({"coder_id": "other-12345678", "n_docs": 3}))
    pl.DataFrame({"doc_id": ["d1"], "prob": [1.0]}).write_ipc(p / "part-0000-000000.arrow")


CASES = [
    # -- coder YAML: values --------------------------------------------------------------------
    Case("coder-threshold-word", RUN, _coder(CODER + "multi_threshold: high\n"),
         ("coder.yaml", "line 6: key 'multi_threshold'", "'high'", "between 0 and 1")),
    Case("coder-unknown-key-did-you-mean", RUN, _coder(CODER + "threshold: 0.3\n"),
         ("coder.yaml", "line 6: unknown key 'threshold'", "did you mean 'multi_threshold'", "known keys")),
    Case("coder-number-in-quotes", RUN, _coder("name: smol\nmodel: smollm2-135m\nbatch_size: '16'\n"),
         ("coder.yaml", "line 3: key 'batch_size'", "'16' is text", "without quotes")),
    Case("coder-fraction-for-whole-number", RUN, _coder(CODER + "max_doc_tokens: 256.5\n"),
         ("coder.yaml", "key 'max_doc_tokens'", "256.5", "whole number")),
    Case("coder-template-is-a-number", RUN, _coder(CODER + "template: 5\n"),
         ("coder.yaml", "key 'template'", "not text", "quotes")),
    Case("coder-template-without-text", RUN, _coder(CODER + "template: 'Topic? {labels}'\n"),
         ("coder.yaml", "key 'template'", "{text}", "exactly once")),
    Case("coder-bool-word", RUN, _coder(CODER + "use_chat_template: maybe\n"),
         ("coder.yaml", "key 'use_chat_template'", "'maybe'", "true or false")),
    Case("coder-choice-typo", RUN, _coder(CODER + "options: leters\n"),
         ("coder.yaml", "key 'options'", "'leters'", "did you mean 'letters'")),
    Case("coder-device-typo", RUN, _coder("name: smol\nmodel: smollm2-135m\ndevice: gpu\n"),
         ("coder.yaml", "key 'device'", "'gpu'", "cuda")),
    Case("coder-negative-seed", RUN, _coder(CODER + "seed: -1\n"),
         ("coder.yaml", "key 'seed'", "-1", ">= 0")),
    Case("coder-label-format-hides-code", RUN, _coder(CODER + "label_format: '{definition}'\n"),
         ("coder.yaml", "key 'label_format'", "{code}")),
    Case("coder-bad-name", RUN, _coder("name: my coder\nmodel: smollm2-135m\n"),
         ("coder.yaml", "line 1: key 'name'", "'my coder'", "no spaces")),
    Case("coder-calibrate-over-http", RUN, _coder(HTTP_DOWN + "calibrate: true\n"),
         ("coder.yaml", "key 'calibrate'", "local backend")),
    Case("coder-api-key-in-yaml", RUN, _coder(HTTP_DOWN + "http_api_key_env: 'sk-abc-123'\n"),
         ("coder.yaml", "key 'http_api_key_env'", "NAME of an environment variable")),
    Case("coder-url-without-scheme", RUN,
         _coder("name: r\nmodel: m\nbackend: http\nhttp_base_url: 127.0.0.1:8000/v1\n"),
         ("coder.yaml", "key 'http_base_url'", "http://")),
    # -- coder YAML: the file --------------------------------------------------------------------
    Case("coder-yaml-syntax", RUN, _coder("name: smol\nmodel: smollm2-135m\nbatch_size: 4\n  options: letters\n"),
         ("coder.yaml", "not valid YAML at line 4", "indentation")),
    Case("coder-repeated-key", RUN, _coder("name: smol\nmodel: smollm2-135m\nbatch_size: 4\nbatch_size: 8\n"),
         ("coder.yaml", "line 4: key 'batch_size' again", "first at line 3", "keep one")),
    Case("coder-is-a-list", RUN, _coder("- name: smol\n- model: smollm2-135m\n"),
         ("coder.yaml", "a list, not a mapping", "key: value")),
    Case("coder-empty-file", RUN, _coder(""), ("coder.yaml", "empty", "name:")),
    Case("coder-missing-model", RUN, _coder("name: smol\n"),
         ("coder.yaml", "key 'model' is required", "model: smollm2-135m")),
    Case("coder-not-utf8", RUN, _coder("name: caf\xe9\n".encode("latin-1")), ("coder.yaml", "UTF-8")),
    Case("coder-file-missing", RUN.replace("coder.yaml", "nope.yaml"), BASE,
         ("nope.yaml", "not found", "--coder")),
    Case("coder-is-a-folder", RUN.replace("coder.yaml", "coders"), {**BASE, "coders/x.yaml": CODER},
         ("coders", "is a folder", "--coder")),
    # -- coder YAML: what it points at -----------------------------------------------------------
    Case("coder-model-path-missing", RUN, _coder("name: smol\nmodel: ./models/nope.gguf\n"),
         ("coder.yaml", "line 2: key 'model'", "nope.gguf", "file not found", "built-in alias")),
    Case("coder-model-unknown-name", RUN, _coder("name: smol\nmodel: gpt-17-ultra\n"),
         ("coder.yaml", "key 'model'", "unknown model 'gpt-17-ultra'", "smollm2-135m")),
    Case("coder-model-unknown-estimate", RUN.replace("--out res/o.parquet", "--estimate"),
         _coder("name: smol\nmodel: ./nope.gguf\n"), ("coder.yaml", "key 'model'", "nope.gguf")),
    Case("coder-few-shot-source-missing", RUN, _coder(CODER + "few_shot: 2\nfew_shot_source: train.parquet\n"),
         ("coder.yaml", "key 'few_shot_source'", "train.parquet", "not found", "codebook")),
    Case("coder-few-shot-without-source", RUN, _coder(CODER + "few_shot: 2\n"),
         ("coder.yaml", "key 'few_shot_source'", "few_shot is 2")),
    Case("coder-api-key-variable-unset", RUN, _coder(HTTP_DOWN + "http_api_key_env: LLMCODER_NO_SUCH_KEY\n"),
         ("coder.yaml", "key 'http_api_key_env'", "LLMCODER_NO_SUCH_KEY is not set", "export")),
    # -- llmcoder code arguments -------------------------------------------------------------------
    Case("corpus-missing", RUN.replace("corpus.parquet", "missing.parquet", 1), _coder(CODER),
         ("missing.parquet", "not found", "llmcoder prepare")),
    Case("corpus-is-a-folder", RUN.replace("corpus.parquet", "data", 1), _coder(CODER, **{"data/a.csv": "x\n"}),
         ("data", "is a folder", "llmcoder prepare")),
    Case("corpus-raw-csv", RUN.replace("corpus.parquet", "raw.csv", 1),
         _coder(CODER, **{"raw.csv": "id,text,label\n1,Nurses,health\n"}),
         ("raw.csv", "doc_id", "raw corpus", "llmcoder prepare")),
    Case("corpus-csv-named-parquet", RUN, {**_coder(CODER), "corpus.parquet": "doc_id,text\nd1,a\n"},
         ("corpus.parquet", "cannot be read as a Parquet file", "llmcoder prepare")),
    Case("corpus-spreadsheet", RUN.replace("corpus.parquet", "corpus.xlsx", 1),
         _coder(CODER, **{"corpus.xlsx": b"PK\x03\x04"}), ("corpus.xlsx", "unknown corpus file type", "prepare")),
    Case("corpus-empty-text", RUN,
         {**_coder(CODER), "corpus.parquet": _parquet({"doc_id": ["d1", "d2"], "text": ["Nurses", "  "]})},
         ("corpus.parquet", "row 3", "column 'text'", "empty", "non-empty text")),
    Case("corpus-duplicate-and-missing-ids", RUN,
         {**_coder(CODER), "corpus.parquet": _parquet({"doc_id": ["d1", "d2", "d1", None],
                                                      "text": ["a", "b", "c", "d"]})},
         ("corpus.parquet", "row 4", "duplicate doc_id 'd1' (first at row 2)", "row 5", "empty doc_id", "unique")),
    Case("corpus-no-rows", RUN,
         {**_coder(CODER), "corpus.parquet": _parquet({"doc_id": [], "text": []})},
         ("corpus.parquet", "no documents", "--limit")),
    Case("codebook-missing", RUN.replace("codebook.yaml", "nope.yaml"), _coder(CODER),
         ("nope.yaml", "codebook file not found")),
    Case("codebook-is-the-coder-config", RUN.replace("codebook.yaml", "coder.yaml"), _coder(CODER),
         ("coder.yaml", "labels")),
    Case("checkpoint-of-another-run", RUN, _coder(CODER, **{"res/o.parquet.journal": _other_journal}),
         ("o.parquet.journal", "different run", "the coder config", "delete the folder")),
    Case("out-missing", RUN.replace(" --out res/o.parquet", ""), _coder(CODER), ("--out", "pass --out")),
    Case("out-file-blocks-folder", RUN.replace("res/o.parquet", "blocker/sub/o.parquet"),
         _coder(CODER, blocker="not a folder\n"), ("blocker", "is a file", "move or rename")),
    Case("out-is-a-folder", RUN.replace("res/o.parquet", "res"), _coder(CODER, **{"res/keep.txt": "x\n"}),
         ("res", "is a folder", "file path")),
    Case("out-not-parquet", RUN.replace("res/o.parquet", "res/o.csv"), _coder(CODER),
         ("res/o.csv", ".parquet", "res/o.parquet")),
    Case("out-provenance-is-a-folder", RUN, _coder(CODER, **{"res/o.json/x": "x\n"}),
         ("res/o.json", "a folder stands", "move or rename")),
    Case("rotations-zero", RUN + " --rotations 0", _coder(CODER), ("--rotations",)),
    Case("server-down", RUN, _coder(HTTP_DOWN),
         ("coder.yaml", "key 'http_base_url'", f"http://127.0.0.1:{DOWN_PORT}/v1", "2 attempt(s)",
          "timeout 2 s", f"curl http://127.0.0.1:{DOWN_PORT}/v1/models", "nothing was coded")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# -- the output destination is checked before the model loads ---------------------------------------

def test_unwritable_out_fails_before_any_model_load(tmp_path: Path) -> None:
    """A file standing where the output folder goes: exit 2 at once, no model log line before the message."""
    write_files(tmp_path, _coder(CODER, blocker="x\n"))
    t0 = time.perf_counter()
    res = run_llmcoder(RUN.replace("res/o.parquet", "blocker/o.parquet").split(), tmp_path)
    elapsed = time.perf_counter() - t0
    message = res.stderr + res.stdout
    assert res.returncode == 2, message
    assert "blocker" in message and "is a file" in message
    assert "loading model" not in message and "Loading weights" not in message, message
    assert elapsed < 30, f"{elapsed:.1f} s: the check should not wait for a model"


def test_permission_denied_is_found_before_the_backend_is_built(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An output folder that refuses writes (simulated: tests run as root) stops the run before the model."""
    import tempfile

    import llmcoder.coders.backends as backends
    from llmcoder.codebook import load_codebook
    from llmcoder.coders.config import CoderConfig
    from llmcoder.coders.run import code_corpus

    write_files(tmp_path, _coder(CODER))
    (tmp_path / "res").mkdir()
    cfg = CoderConfig.from_yaml(tmp_path / "coder.yaml")
    cb = load_codebook(tmp_path / "codebook.yaml")

    def refuse(*a: Any, **k: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(tmp_path / "res"))

    def no_model(*a: Any, **k: Any) -> Any:
        raise AssertionError("the backend (model) was built before the output was checked")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(backends, "make_backend", no_model)
    before = snapshot(tmp_path)
    with pytest.raises(InputError) as e:
        code_corpus(tmp_path / "corpus.parquet", cb, cfg, tmp_path / "res" / "o.parquet", progress=False)
    assert "cannot write" in str(e.value) and "res" in str(e.value) and "permissions" in str(e.value)
    assert snapshot(tmp_path) == before


# -- HTTP: a minimal OpenAI-compatible server on loopback ---------------------------------------------

class FakeServer:
    """Speaks the part of the OpenAI API the HTTP coder uses (``/v1/models``, ``/v1/chat/completions``).

    Answers ``{"label": code}`` by a keyword of the document; ``fail_after`` makes every request after
    the first N answer 503; ``mode`` ``garbage`` answers 200 with something that is not a completion.
    """

    def __init__(self, port: int, *, fail_after: int | None = None, mode: str = "ok"):
        self.port, self.fail_after, self.mode, self.requests = port, fail_after, mode, 0
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    def start(self) -> FakeServer:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:  # keep the test output quiet
                pass

            def _send(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "served", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with srv.lock:
                    srv.requests += 1
                    n = srv.requests
                if srv.fail_after is not None and n > srv.fail_after:
                    return self._send(503, {"error": "overloaded"})
                if srv.mode == "garbage":
                    return self._send(200, {"oops": True})
                doc = body["messages"][-1]["content"].rsplit("Text:\n", 1)[-1].lower()
                code = "A" if "hospital" in doc else "B" if "school" in doc else "C"
                content = "banana" if "banana" in doc else json.dumps({"label": code})
                self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}],
                                 "usage": {"prompt_tokens": 50, "completion_tokens": 5}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


HTTP_DOCS = {"doc_id": [f"d{i}" for i in range(6)],
             "text": ["Hospital beds", "School meals", "Power grid", "Hospital waits", "School fees", "Gas prices"]}


def _http_files(port: int, texts: list[str] | None = None) -> dict[str, Any]:
    coder = (f"name: remote\nmodel: served\nbackend: http\nhttp_base_url: http://127.0.0.1:{port}/v1\n"
             "http_max_retries: 0\nhttp_timeout_s: 5\nhttp_concurrency: 1\nbatch_size: 2\nhttp_logprobs: false\n")
    docs = {**HTTP_DOCS, "text": texts or HTTP_DOCS["text"]}
    return {"corpus.parquet": _parquet(docs), "codebook.yaml": CODEBOOK, "coder.yaml": coder}


def _content(path: Path) -> pl.DataFrame:
    """A codings table without its timings (the only column that differs between two equal runs)."""
    return pl.read_parquet(path).drop("latency_s")


def test_server_down_leaves_nothing_and_the_rerun_after_it_is_up_works(tmp_path: Path) -> None:
    port = _free_port()
    write_files(tmp_path, _http_files(port))
    before = snapshot(tmp_path)
    res = run_llmcoder(RUN.split(), tmp_path)
    message = res.stderr + res.stdout
    assert res.returncode == 2 and "Traceback" not in message, message
    assert f"http://127.0.0.1:{port}/v1" in message and "1 attempt(s)" in message and "curl" in message
    assert "nothing was coded" in message
    assert snapshot(tmp_path) == before  # no journal, no output folder
    srv = FakeServer(port).start()
    try:
        res = run_llmcoder(RUN.split(), tmp_path)
    finally:
        srv.stop()
    assert res.returncode == 0, res.stderr
    out = _content(tmp_path / "res" / "o.parquet")
    assert out.height == 6 * 3 and out.filter(pl.col("chosen"))["label"].to_list() == \
        ["health", "education", "energy", "health", "education", "energy"]
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == ["o.json", "o.parquet", "o_orders.parquet"]


def test_server_failing_mid_run_keeps_the_checkpoint_and_the_rerun_resumes(tmp_path: Path) -> None:
    port = _free_port()
    work, ref = tmp_path / "work", tmp_path / "ref"
    write_files(work, _http_files(port))
    write_files(ref, _http_files(port))
    srv = FakeServer(port, fail_after=2).start()  # the first batch (2 documents) is answered, then 503
    try:
        res = run_llmcoder(RUN.split(), work)
    finally:
        srv.stop()
    message = res.stderr + res.stdout
    assert res.returncode == 2 and "Traceback" not in message, message
    assert "HTTP 503" in message and "2 of 6 document codings are kept" in message and "resumes" in message
    journal = work / "res" / "o.parquet.journal"
    assert len(list(journal.glob("part-*.arrow"))) == 1 and not (work / "res" / "o.parquet").exists()
    srv = FakeServer(port).start()
    try:
        again = run_llmcoder(RUN.split(), work)
        clean = run_llmcoder(RUN.split(), ref)
    finally:
        srv.stop()
    assert again.returncode == 0 and clean.returncode == 0, again.stderr + clean.stderr
    assert "resuming from" in again.stderr and "2 of 6" in again.stderr
    assert not journal.exists()
    assert _content(work / "res" / "o.parquet").equals(_content(ref / "res" / "o.parquet"))


def test_server_answering_nonsense_is_an_error_and_bad_answers_are_counted(tmp_path: Path) -> None:
    port = _free_port()
    write_files(tmp_path, _http_files(port))
    before = snapshot(tmp_path)
    srv = FakeServer(port, mode="garbage").start()
    try:
        res = run_llmcoder(RUN.split(), tmp_path)
    finally:
        srv.stop()
    message = res.stderr + res.stdout
    assert res.returncode == 2 and "not a chat completion" in message and "Traceback" not in message, message
    assert snapshot(tmp_path) == before
    texts = [*HTTP_DOCS["text"][:5], "banana"]  # the server answers 'banana' (no code) for this one
    write_files(tmp_path, _http_files(port, texts))
    srv = FakeServer(port).start()
    try:
        res = run_llmcoder(RUN.split(), tmp_path)
    finally:
        srv.stop()
    assert res.returncode == 0, res.stderr
    assert "1 codings got no valid answer" in res.stderr
    prov = json.loads((tmp_path / "res" / "o.json").read_text())
    assert prov["n_codings_without_answer"] == 1 and prov["truncation"] is None


# -- SIGKILL at each stage of a run with the smallest real model ---------------------------------------

KILLER = """\
import os, signal, sys
from pathlib import Path

point, nth = os.environ["LLMCODER_TEST_KILL_AT"], int(os.environ.get("LLMCODER_TEST_KILL_NTH", "1"))
seen = [0]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def hit():
    seen[0] += 1
    return seen[0] >= nth


import llmcoder.coders.models as models
import llmcoder.coders.run as run

if point == "load":  # inside load_causal_lm, after the GGUF is found and before the weights load
    models.pick_device_dtype = lambda *a, **k: die()
elif point == "coded":  # right after the nth batch is journaled
    write_part = run._write_part
    def _part(df, path):
        write_part(df, path)
        if hit():
            die()
    run._write_part = _part
elif point == "staged":  # the outputs are staged complete, the commit record not yet written
    write_small = run._write_small
    def _small(text, path):
        if path.name == run.COMMIT:
            die()
        write_small(text, path)
    run._write_small = _small
elif point == "renaming":  # between the renames of the staged outputs into place
    replace = os.replace
    def _replace(src, dst, *a, **k):
        if Path(src).parent.name == run.STAGED and Path(dst).parent.name != run.STAGED and hit():
            die()
        return replace(src, dst, *a, **k)
    os.replace = _replace

from llmcoder.cli import main

sys.argv = ["llmcoder", *sys.argv[1:]]
main()
"""
KILL_CODER = "name: smolkill\nmodel: smollm2-135m\noptions: letters\nbatch_size: 2\nthreads: 1\ndevice: cpu\n" \
             "max_doc_tokens: 12\n"
LONG = " ".join(["The hospital board discussed waiting lists and nurse pay"] * 8)
KILL_DOCS = {"doc_id": [f"k{i}" for i in range(6)],
             "text": ["Hospital beds", "School meals", "Power grid", LONG, "School fees", "Gas prices"]}
KILL_RUN = ["code", "corpus.parquet", "--codebook", "codebook.yaml", "--coder", "coder.yaml", "--out",
            "res/smol.parquet", "--no-progress"]
OUTPUTS = ("smol.parquet", "smol_orders.parquet", "smol.json")


def _smollm2_or_skip() -> None:
    pytest.importorskip("transformers")
    from llmcoder.coders.models import ALIASES

    try:
        ALIASES["smollm2-135m"].locate()
    except InputError as e:
        pytest.skip(f"SmolLM2 not available: {e}")


def _hashes(folder: Path) -> dict[str, str]:
    """Every entry of the output folder (hidden ones and the journal too): name -> SHA-256 or 'dir'."""
    return {p.name: "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def _killed(work: Path, point: str, nth: int = 1) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "LLMCODER_TEST_KILL_AT": point,
           "LLMCODER_TEST_KILL_NTH": str(nth)}
    env.pop("LLMCODER_DEBUG", None)
    res = subprocess.run([sys.executable, str(work / "killer.py"), *KILL_RUN], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert res.returncode == -9, f"[{point}] not killed (exit {res.returncode}):\n{res.stderr[-3000:]}"
    return res


@pytest.mark.slow
def test_sigkill_at_each_stage_keeps_old_outputs_whole_and_the_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    """Old outputs (an earlier run with --limit 3) survive kills during model load, after two batches and
    after staging; a kill between the renames leaves every file whole and the commit record, which the
    next run finishes without loading the model; the result equals an uninterrupted run, bit for bit."""
    _smollm2_or_skip()
    files = {"corpus.parquet": _parquet(KILL_DOCS), "codebook.yaml": CODEBOOK, "coder.yaml": KILL_CODER,
             "killer.py": KILLER}
    work, ref = tmp_path / "work", tmp_path / "ref"
    write_files(work, files)
    write_files(ref, files)
    env = {"OMP_NUM_THREADS": "1"}
    old = run_llmcoder([*KILL_RUN, "--limit", "3"], work, env)
    assert old.returncode == 0, old.stderr[-3000:]
    clean = run_llmcoder(KILL_RUN, ref, env)
    assert clean.returncode == 0, clean.stderr[-3000:]
    # the long document is cut to max_doc_tokens, and the run says so (summary line and provenance)
    assert "1 of 6 documents are longer than max_doc_tokens=12 and were cut" in clean.stderr, clean.stderr
    trunc = json.loads((ref / "res" / "smol.json").read_text())["truncation"]
    assert trunc["n_docs_truncated"] == 1 and trunc["max_doc_tokens"] == 12 and trunc["longest_doc_tokens"] > 60
    assert trunc["tokens_cut"] == trunc["longest_doc_tokens"] - 12
    res_dir = work / "res"
    old_hashes = _hashes(res_dir)
    assert sorted(old_hashes) == sorted(OUTPUTS)

    for point, nth in (("load", 1), ("coded", 2), ("staged", 1)):
        _killed(work, point, nth)
        now = _hashes(res_dir)
        assert {k: now.get(k) for k in OUTPUTS} == old_hashes, f"[{point}] the old outputs changed"
        extra = set(now) - set(OUTPUTS)
        journal = res_dir / "smol.parquet.journal"
        if point == "load":
            assert not extra, f"[load] left {extra}"
        else:
            assert extra == {journal.name}, f"[{point}] left {extra}"
            n_parts = len(list(journal.glob("part-*.arrow")))
            assert n_parts == (2 if point == "coded" else 3), (point, n_parts)
    assert sorted(p.name for p in (journal / "staged").iterdir()) == sorted(OUTPUTS)

    _killed(work, "renaming", 2)  # the orders table is renamed into place, then the kill
    now = _hashes(res_dir)
    new_hashes = _hashes(ref / "res")
    assert now["smol_orders.parquet"] == new_hashes["smol_orders.parquet"]
    assert now["smol.parquet"] == old_hashes["smol.parquet"] and now["smol.json"] == old_hashes["smol.json"]
    assert (journal / "commit.json").is_file()

    final = run_llmcoder(KILL_RUN, work, env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert "finished writing the outputs of the previous, complete run" in final.stderr
    assert "loading model" not in final.stderr
    assert sorted(p.name for p in res_dir.iterdir()) == sorted(OUTPUTS)  # no journal, no temporary file
    assert _content(res_dir / "smol.parquet").equals(_content(ref / "res" / "smol.parquet"))
    assert _hashes(res_dir)["smol_orders.parquet"] == new_hashes["smol_orders.parquet"]
    prov = json.loads((res_dir / "smol.json").read_text())
    ref_prov = json.loads((ref / "res" / "smol.json").read_text())
    assert prov["coder_id"] == ref_prov["coder_id"] and prov["n_docs"] == 6 and prov["truncation"] == trunc


def test_a_run_killed_between_renames_is_finished_before_a_run_with_other_settings(tmp_path: Path) -> None:
    """The commit record of a killed run is honoured even when the next run differs (here: --limit 4): the
    three files are never left mixed, and the new run then codes and replaces them whole."""
    port = _free_port()
    write_files(tmp_path, {**_http_files(port), "killer.py": KILLER})
    srv = FakeServer(port).start()
    try:
        env = {**os.environ, "LLMCODER_TEST_KILL_AT": "renaming", "LLMCODER_TEST_KILL_NTH": "2"}
        env.pop("LLMCODER_DEBUG", None)
        killed = subprocess.run([sys.executable, "killer.py", *RUN.split()], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert killed.returncode == -9, killed.stderr[-3000:]
        res_dir = tmp_path / "res"
        assert sorted(p.name for p in res_dir.iterdir()) == ["o.parquet.journal", "o_orders.parquet"]
        again = run_llmcoder([*RUN.split(), "--limit", "4"], tmp_path)
    finally:
        srv.stop()
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in res_dir.iterdir()) == ["o.json", "o.parquet", "o_orders.parquet"]
    assert pl.read_parquet(res_dir / "o.parquet")["doc_id"].unique().sort().to_list() == ["d0", "d1", "d2", "d3"]
    assert json.loads((res_dir / "o.json").read_text())["n_docs"] == 4


def test_a_checkpoint_that_coded_nothing_is_replaced_without_asking(tmp_path: Path) -> None:
    """A journal of another run that holds no coded batch (killed before its first) loses nothing: it is
    replaced by this run's, where one with coded batches stops the run (table case checkpoint-of-another-run)."""
    port = _free_port()
    write_files(tmp_path, _http_files(port))
    journal = tmp_path / "res" / "o.parquet.journal"
    journal.mkdir(parents=True)
    (journal / "run.json").write_text(json.dumps({"coder_id": "other-12345678"}))
    srv = FakeServer(port).start()
    try:
        res = run_llmcoder(RUN.split(), tmp_path)
    finally:
        srv.stop()
    assert res.returncode == 0, res.stderr[-3000:]
    assert not journal.exists() and (tmp_path / "res" / "o.parquet").is_file()
