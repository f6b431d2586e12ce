"""The HTTP backend against a real OpenAI-compatible server on loopback (llama-cpp-python + SmolLM2)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder.codebook import Codebook, Label
from llmcoder.coders.config import CoderConfig

pytestmark = pytest.mark.slow

KEY_ENV = "LLMCODER_TEST_API_KEY"
KEY = "sk-test-9f3b2c7e1d5a"
CB = Codebook(labels=(Label("health", "Health", "Hospitals, doctors, medicines."),
                      Label("education", "Education", "Schools and universities."),
                      Label("energy", "Energy", "Power, gas, electricity.")))
DOCS = ["Waiting lists for hip surgery keep growing.", "New rules for university tuition fees.",
        "Electricity prices and the power grid.", "Hospital nurses strike.", "Teachers' pay."]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1, started and stopped by the test."""

    def __init__(self, gguf: str, port: int, log: Path):
        self.gguf, self.port, self.log, self.proc = gguf, port, log, None

    def start(self, wait: bool = True) -> None:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", self.gguf, "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "2048", "--logits_all", "true", "--n_threads", "1",
               "--api_key", KEY]
        self.stopped = False
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        if wait:
            self.wait()

    def wait(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/v1/models",
                             headers={"Authorization": f"Bearer {KEY}"}, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("llama-cpp server did not start")

    def stop(self) -> None:
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed")
    pytest.importorskip("httpx")
    from llmcoder.coders.models import ALIASES

    srv = Server(str(ALIASES["smollm2-135m"].locate()), _free_port(),
                 tmp_path_factory.mktemp("server") / "server.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _server_still_alive(request: pytest.FixtureRequest):
    """A server that died during a test (a crash, e.g. SIGILL in a llama.cpp CPU variant) fails that test
    with the server's own log, not with the client's connection errors."""
    yield
    if "server" not in request.fixturenames:
        return
    srv: Server = request.getfixturevalue("server")
    rc = srv.proc.poll() if srv.proc is not None else None
    if rc is not None and rc != 0 and not getattr(srv, "stopped", False):
        pytest.fail(f"the llama-cpp server died (exit {rc}); its log ends:\n{srv.log.read_text()[-3000:]}")


def _cfg(srv: Server, **kw) -> CoderConfig:
    return CoderConfig(name="smolhttp", model="smollm2", backend="http",
                       http_base_url=f"http://127.0.0.1:{srv.port}/v1", http_api_key_env=KEY_ENV,
                       http_response_format="json_object", http_concurrency=2, http_timeout_s=60,
                       batch_size=4, **kw)


def test_json_constrained_coding_with_logprobs(server: Server, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from llmcoder.coders.run import code_corpus

    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.DEBUG)
    docs = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(DOCS))], "text": DOCS})
    cfg = _cfg(server)
    out = tmp_path / "coders" / "smolhttp.parquet"
    res = code_corpus(docs.head(3), CB, cfg, out, rotations=2, progress=False)
    assert res.height == 3 * 2 * 3
    per = res.group_by("doc_id", "rotation").agg(pl.col("prob").sum(), pl.col("chosen").sum())
    np.testing.assert_allclose(per["prob"].to_numpy(), 1.0, atol=1e-9)
    assert (per["chosen"] == 1).all()
    assert (res["n_input_tokens"] > 50).all() and (res["n_output_tokens"] > 0).all()
    # log-probabilities make real distributions, not one-hot answers
    assert ((res["prob"] > 0) & (res["prob"] < 1)).any()
    prov = (tmp_path / "coders" / "smolhttp.json").read_text()
    assert json.loads(prov)["prompts"]["0"]["response_format"]["schema"]["properties"]["label"]["enum"] \
        == ["A", "B", "C"]
    for f in (tmp_path / "coders").iterdir():
        assert KEY.encode() not in f.read_bytes(), f
    assert KEY not in caplog.text


def test_long_documents_are_sent_in_windows_and_combined(server: Server, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """long_docs: chunk sends each window of about max_doc_tokens (characters / 4) as its own request and
    takes the maximum of each label over windows: the same as coding each window alone."""
    from llmcoder.chunking import aggregate
    from llmcoder.coders.http import HttpCoder, text_windows
    from llmcoder.coders.run import code_corpus

    monkeypatch.setenv(KEY_ENV, KEY)
    long = " ".join(DOCS[i % len(DOCS)] for i in range(12))
    docs = pl.DataFrame({"doc_id": ["long", "short"], "text": [long, DOCS[0]]})
    cfg = _cfg(server, max_doc_tokens=40, long_docs="chunk", chunk_overlap=5, chunk_aggregate="max")
    res = code_corpus(docs, CB, cfg, tmp_path / "c.parquet", progress=False)
    wins = text_windows(long, cfg)
    assert len(wins) >= 3 and all(len(w) <= 160 for w in wins)
    client = HttpCoder(cfg, CB)
    alone = np.array([a.probs for a in client.code_texts(client.prepare(CB.ids), wins)])
    want = aggregate(alone, [0] * len(wins), 1, "max", single_label=True)[0]
    got = res.filter(pl.col("doc_id") == "long").sort("label")
    order = np.argsort(CB.ids)
    np.testing.assert_allclose(got["prob"].to_numpy(), want[order], atol=1e-6)
    assert got["n_output_tokens"][0] > 0  # the windows' answers, summed
    tr = json.loads((tmp_path / "c.json").read_text())["truncation"]
    assert tr["n_docs_chunked"] == 1 and tr["n_windows"] == len(wins) + 1 and tr["unit"].startswith("tokens")


def test_bad_key_fails_without_echoing_it(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcoder.coders.http import HttpCoder, HttpCoderError

    wrong = "sk-wrong-0000"
    monkeypatch.setenv(KEY_ENV, wrong)
    hc = HttpCoder(_cfg(server), CB)
    with pytest.raises(HttpCoderError) as e:
        hc.code_texts(hc.prepare(CB.ids), DOCS[:1])
    assert "401" in str(e.value) and wrong not in str(e.value) and KEY not in str(e.value)


def test_requests_made_while_the_server_is_down_succeed_after_restart(
        server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    from llmcoder.coders.http import HttpCoder

    monkeypatch.setenv(KEY_ENV, KEY)
    caplog.set_level(logging.WARNING, logger="llmcoder.coders.http")
    hc = HttpCoder(_cfg(server, http_max_retries=10, http_backoff_s=0.25, http_backoff_max_s=2.0), CB)
    state = hc.prepare(CB.ids)
    server.stop()
    result: dict[str, object] = {}
    t = threading.Thread(target=lambda: result.update(ans=hc.code_texts(state, DOCS[:3])))
    t.start()
    time.sleep(1.5)  # requests are failing and backing off now
    server.start(wait=False)
    t.join(timeout=240)
    assert not t.is_alive()
    answers = result["ans"]
    assert len(answers) == 3 and all(abs(sum(a.probs) - 1) < 1e-9 for a in answers)
    assert "retry" in caplog.text and "ConnectError" in caplog.text
    out, err = capfd.readouterr()
    assert KEY not in caplog.text and KEY not in out and KEY not in err
    server.wait()


def test_missing_key_variable_is_a_clear_error(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmcoder.coders.http import HttpCoder
    from llmcoder.errors import InputError

    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(InputError, match=f"environment variable {KEY_ENV} is not set"):
        HttpCoder(_cfg(server), CB)
    assert os.environ.get(KEY_ENV) is None


def test_cli_with_the_server_down_exits_2_leaves_nothing_and_works_once_it_is_up(
        server: Server, tmp_path: Path) -> None:
    """`llmcoder code` against the real server stopped: exit 2 naming the URL, the attempts and a curl
    check, no checkpoint or output; the same command after the server is back codes everything."""
    from adversarial import CODEBOOK, run_llmcoder, snapshot

    base = f"http://127.0.0.1:{server.port}/v1"
    (tmp_path / "codebook.yaml").write_text(CODEBOOK)
    (tmp_path / "coder.yaml").write_text(
        f"name: smolhttp\nmodel: smollm2\nbackend: http\nhttp_base_url: {base}\nhttp_api_key_env: {KEY_ENV}\n"
        "http_response_format: json_object\nhttp_concurrency: 2\nbatch_size: 2\nhttp_timeout_s: 60\n"
        "http_max_retries: 1\nhttp_backoff_s: 0.1\n")
    pl.DataFrame({"doc_id": ["d0", "d1", "d2"], "text": DOCS[:3]}).write_parquet(tmp_path / "corpus.parquet")
    argv = ["code", "corpus.parquet", "--codebook", "codebook.yaml", "--coder", "coder.yaml", "--out",
            "coders/smolhttp.parquet", "--no-progress"]
    server.stop()
    try:
        before = snapshot(tmp_path)
        res = run_llmcoder(argv, tmp_path, {KEY_ENV: KEY})
        message = res.stderr + res.stdout
        assert res.returncode == 2 and "Traceback" not in message, message
        assert base in message and "2 attempt(s)" in message and f"curl {base}/models" in message
        assert "nothing was coded" in message and KEY not in message
        assert snapshot(tmp_path) == before
    finally:
        server.start()
    res = run_llmcoder(argv, tmp_path, {KEY_ENV: KEY})
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "coders").iterdir()) == [
        "smolhttp.json", "smolhttp.parquet", "smolhttp_orders.parquet"]
    assert pl.read_parquet(tmp_path / "coders" / "smolhttp.parquet").height == 3 * 3


def _batch_study(tmp: Path, port: int) -> list[str]:
    """Corpus, codebook and an HTTP coder YAML in ``tmp``; the argv of `llmcoder code` on them."""
    from adversarial import CODEBOOK

    (tmp / "codebook.yaml").write_text(CODEBOOK)
    (tmp / "coder.yaml").write_text(
        f"name: smolhttp\nmodel: smollm2\nbackend: http\nhttp_base_url: http://127.0.0.1:{port}/v1\n"
        f"http_api_key_env: {KEY_ENV}\nhttp_response_format: json_object\nhttp_concurrency: 2\nbatch_size: 2\n"
        "http_timeout_s: 60\n")
    pl.DataFrame({"doc_id": [f"d{i}" for i in range(4)], "text": DOCS[:4]}).write_parquet(tmp / "corpus.parquet")
    return ["code", "corpus.parquet", "--codebook", "codebook.yaml", "--coder", "coder.yaml", "--rotations", "2",
            "--no-progress"]


@pytest.fixture(scope="module")
def batch_run(server: Server, tmp_path_factory: pytest.TempPathFactory):
    """The round trip through the command line: requests written, sent by `llmcoder batch run` to the real
    server, answers read back; and the same coder run live against the same server."""
    from adversarial import run_llmcoder

    tmp = tmp_path_factory.mktemp("batch")
    argv = _batch_study(tmp, server.port)
    env = {KEY_ENV: KEY}
    steps = {
        "out": run_llmcoder([*argv, "--batch-out", "requests.jsonl"], tmp, env),
        "run": run_llmcoder(["batch", "run", "requests.jsonl", "--server", f"http://127.0.0.1:{server.port}",
                             "--out", "results.jsonl", "--api-key-env", KEY_ENV, "--concurrency", "2"], tmp, env),
        "in": run_llmcoder([*argv, "--batch-in", "results.jsonl", "--out", "batch/smolhttp.parquet"], tmp, env),
        "live": run_llmcoder([*argv, "--out", "live/smolhttp.parquet"], tmp, env),
    }
    for name, res in steps.items():
        assert res.returncode == 0, (name, res.stderr[-3000:])
    return tmp, steps


def test_batch_request_lines_follow_the_batch_format(batch_run) -> None:
    """Each line: custom_id (unique), method POST, url /v1/chat/completions, body = the live request (the
    JSON schema of the codebook, log-probabilities); no API key anywhere."""
    tmp, steps = batch_run
    lines = [json.loads(x) for x in (tmp / "requests.jsonl").read_text().splitlines()]
    assert len(lines) == 4 * 2 and "8 requests" in steps["out"].stderr
    for req in lines:
        assert set(req) == {"custom_id", "method", "url", "body"}
        assert req["method"] == "POST" and req["url"] == "/v1/chat/completions"
        body = req["body"]
        assert body["model"] == "smollm2" and body["messages"][-1]["role"] == "user"
        assert body["response_format"]["schema"]["properties"]["label"]["enum"] == ["A", "B", "C"]
        assert body["logprobs"] is True and body["temperature"] == 0
    assert sorted(r["custom_id"] for r in lines) == sorted(f"r{r}:d{i}" for r in range(2) for i in range(4))
    text = {r["custom_id"]: r["body"]["messages"][-1]["content"] for r in lines}
    assert all(DOCS[int(c.split(":d")[1])] in t for c, t in text.items())
    meta = json.loads((tmp / "requests.jsonl.meta.json").read_text())
    assert meta["n_requests"] == 8 and meta["fingerprint"]["rotations"] == 2
    for f in ("requests.jsonl", "requests.jsonl.meta.json", "results.jsonl"):
        assert KEY.encode() not in (tmp / f).read_bytes(), f
    results = [json.loads(x) for x in (tmp / "results.jsonl").read_text().splitlines()]
    assert [r["custom_id"] for r in results] == [r["custom_id"] for r in lines]  # in the order of the requests
    for r in results:
        assert set(r) == {"id", "custom_id", "response", "error"} and r["error"] is None
        assert r["response"]["status_code"] == 200 and r["response"]["body"]["choices"][0]["message"]["content"]


def test_batch_answers_equal_the_live_run(batch_run) -> None:
    tmp, steps = batch_run
    keys = ["doc_id", "rotation", "label"]
    batch = pl.read_parquet(tmp / "batch/smolhttp.parquet").sort(keys)
    live = pl.read_parquet(tmp / "live/smolhttp.parquet").sort(keys)
    assert batch.select(keys).equals(live.select(keys)) and batch.height == 4 * 2 * 3
    np.testing.assert_allclose(batch["prob"].to_numpy(), live["prob"].to_numpy(), atol=1e-6)
    assert batch["chosen"].equals(live["chosen"])
    assert ((batch["prob"] > 0) & (batch["prob"] < 1)).any()  # real distributions from the log-probabilities
    prov = json.loads((tmp / "batch/smolhttp.json").read_text())
    assert prov["model"]["kind"] == "http-batch" and prov["model"]["batch"]["n_answered"] == 8
    assert prov["model"]["batch_results_sha256"] == hashlib.sha256((tmp / "results.jsonl").read_bytes()).hexdigest()
    assert prov["n_codings_without_answer"] == 0
    assert "8 codings answered" in steps["in"].stderr and "problems" not in steps["in"].stderr


def test_batch_results_with_missing_failed_duplicated_lines_are_reported(batch_run) -> None:
    """A results file with a missing, a failed, a duplicated, an unknown and a broken line: each is counted
    and named, the two codings without an answer are NaN (and counted), nothing else changes."""
    from adversarial import run_llmcoder

    tmp, _ = batch_run
    lines = (tmp / "results.jsonl").read_text().splitlines()
    by_id = {json.loads(x)["custom_id"]: x for x in lines}
    bad = [by_id[c] for c in by_id if c not in ("r0:d1", "r0:d2")]  # r0:d1 missing
    bad.append(json.dumps({"id": "x", "custom_id": "r0:d2", "response": {"status_code": 500, "body": None},
                           "error": {"code": "server_error", "message": "boom"}}))
    bad += [by_id["r1:d0"], "{not json", json.dumps({**json.loads(by_id["r1:d3"]), "custom_id": "r7:zz"})]
    (tmp / "tampered.jsonl").write_text("\n".join(bad) + "\n")
    argv = _batch_study(tmp, 1)
    res = run_llmcoder([*argv, "--batch-in", "tampered.jsonl", "--out", "tampered/smolhttp.parquet"], tmp, {})
    said = res.stderr
    assert res.returncode == 0, said[-3000:]
    assert "6 codings answered; problems:" in said
    assert "1 without an answer line: r0:d1" in said and "1 answered with an error: r0:d2" in said
    assert "1 duplicated lines (the first answer kept): r1:d0" in said
    assert "1 lines for requests this run did not make (ignored): r7:zz" in said
    assert "1 lines that are not JSON (ignored): line 9" in said and "NaN probabilities" in said
    out = pl.read_parquet(tmp / "tampered/smolhttp.parquet")
    nan = out.filter(pl.col("prob").is_nan()).select("doc_id", "rotation").unique().sort("doc_id")
    assert nan.rows() == [("d1", 0), ("d2", 0)]
    good = pl.read_parquet(tmp / "batch/smolhttp.parquet")
    keys = ["doc_id", "rotation", "label"]
    assert out.filter(~pl.col("prob").is_nan()).sort(keys)["prob"].equals(
        good.join(nan, on=["doc_id", "rotation"], how="anti").sort(keys)["prob"])
    prov = json.loads((tmp / "tampered/smolhttp.json").read_text())
    assert prov["n_codings_without_answer"] == 2 and prov["model"]["batch"]["n_failed"] == 1


def test_batch_in_refuses_other_requests_and_mixed_options(batch_run) -> None:
    """Results of requests made for another run (here: another number of rotations) are refused; so is a
    file with none of this run's requests, and --batch-in with --batch-out."""
    from adversarial import run_llmcoder

    tmp, _ = batch_run
    argv = _batch_study(tmp, 1)
    one = [a if a != "2" else "1" for a in argv]  # --rotations 1
    (tmp / "copy.jsonl").write_text((tmp / "results.jsonl").read_text())
    (tmp / "copy.jsonl.meta.json").write_text((tmp / "requests.jsonl.meta.json").read_text())
    res = run_llmcoder([*one, "--batch-in", "copy.jsonl", "--out", "x/smolhttp.parquet"], tmp, {})
    assert res.returncode == 2 and "answer requests made from another corpus" in res.stderr, res.stderr
    (tmp / "none.jsonl").write_text(json.dumps({"custom_id": "r5:q", "response": {"status_code": 500}}) + "\n")
    res = run_llmcoder([*argv, "--batch-in", "none.jsonl", "--out", "x/smolhttp.parquet"], tmp, {})
    assert res.returncode == 2 and "none of the 8 requests of this run has a line" in res.stderr, res.stderr
    res = run_llmcoder([*argv, "--batch-in", "none.jsonl", "--batch-out", "r.jsonl"], tmp, {})
    assert res.returncode == 2 and "exclude each other" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp / "x").exists()


def test_batch_run_resumes_and_retries_only_what_is_missing(server: Server, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed `batch run` leaves RESULTS.part: the rerun sends only the requests without a successful
    answer there (a torn last line is one of them) and writes every answer in request order."""
    from llmcoder.coders.batch import run_batch, write_batch_requests
    from llmcoder.coders.config import CoderConfig as Cfg

    monkeypatch.setenv(KEY_ENV, KEY)
    docs = pl.DataFrame({"doc_id": ["a", "b", "c"], "text": DOCS[:3]})
    cfg = Cfg(name="smolhttp", model="smollm2", backend="http", http_base_url=f"http://127.0.0.1:{server.port}/v1",
              http_api_key_env=KEY_ENV, http_response_format="json_object")
    write_batch_requests(docs, CB, cfg, tmp_path / "req.jsonl")
    first = run_batch(tmp_path / "req.jsonl", f"http://127.0.0.1:{server.port}/v1", tmp_path / "res.jsonl",
                      api_key_env=KEY_ENV)
    assert first == {"n_requests": 3, "n_ok": 3, "n_failed": 0, "n_resumed": 0, "out": tmp_path / "res.jsonl"}
    lines = (tmp_path / "res.jsonl").read_text().splitlines()
    # as a kill would leave it: c answered, a failed, b torn mid-line
    failed = json.dumps({"id": "x", "custom_id": "r0:a", "response": None, "error": {"code": "http_error",
                                                                                    "message": "timeout"}})
    (tmp_path / "res2.jsonl.part").write_text(lines[2] + "\n" + failed + "\n" + lines[1][:40])
    again = run_batch(tmp_path / "req.jsonl", f"http://127.0.0.1:{server.port}", tmp_path / "res2.jsonl",
                      api_key_env=KEY_ENV)
    assert again["n_resumed"] == 1 and again["n_ok"] == 3 and not (tmp_path / "res2.jsonl.part").exists()
    got = [json.loads(x) for x in (tmp_path / "res2.jsonl").read_text().splitlines()]
    assert [g["custom_id"] for g in got] == ["r0:a", "r0:b", "r0:c"]
    assert got[2] == json.loads(lines[2])  # the answer of the interrupted run is kept as it was
