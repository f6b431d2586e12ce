"""The HTTP backend against a real OpenAI-compatible server on loopback (llama-cpp-python + SmolLM2)."""

from __future__ import annotations

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
