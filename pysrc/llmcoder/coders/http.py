"""OpenAI-compatible structured output: JSON constrained to the codebook, with log-probabilities.

Works with vLLM, SGLang, llama.cpp's server, llama-cpp-python's server, Ollama and hosted APIs.
Requests are asynchronous (``httpx.AsyncClient``) under a concurrency cap, each with a timeout, and
retried with exponential back-off on 429, 5xx, connection errors and timeouts. The API key is read
from the environment variable named by ``http_api_key_env`` at request time and is never written to
an output, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmcoder.codebook import Codebook
from llmcoder.coders.config import CoderConfig
from llmcoder.coders.prompt import TEXT_MARK, build_http_messages

log = logging.getLogger("llmcoder.coders.http")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class HttpCoderError(RuntimeError):
    """A request failed for good (after retries, or with a status that retrying cannot fix).

    ``status`` is the last HTTP status (None when the server never answered), ``attempts`` how many
    requests were made, ``detail`` the last error (the API key redacted).
    """

    def __init__(self, message: str, *, url: str = "", status: int | None = None, attempts: int = 1,
                 detail: str = ""):
        super().__init__(message)
        self.url, self.status, self.attempts, self.detail = url, status, attempts, detail or message


@dataclass
class HttpState:
    order: list[str]
    codes: list[str]
    messages: list[dict[str, str]]
    response_format: dict[str, Any]


@dataclass
class HttpAnswer:
    probs: list[float]
    n_input_tokens: int
    n_output_tokens: int
    latency_s: float
    raw: str


def text_windows(text: str, cfg: CoderConfig) -> list[str]:
    """The windows a server is sent for one document with ``long_docs: chunk``: about ``max_doc_tokens``
    tokens each, counted as characters / 4 (the server's tokenizer is not at hand), cut at whitespace."""
    from llmcoder.chunking import char_windows

    if cfg.long_docs != "chunk":
        return [text]
    return char_windows(text, 4 * cfg.max_doc_tokens, 4 * cfg.chunk_overlap)


def json_schema(codes: Sequence[str], task: str) -> dict[str, Any]:
    """The JSON schema of an answer: ``{"label": <enum>}`` or ``{"labels": [<enum>, ...]}``."""
    if task == "single":
        return {"type": "object", "properties": {"label": {"type": "string", "enum": list(codes)}},
                "required": ["label"], "additionalProperties": False}
    return {"type": "object",
            "properties": {"labels": {"type": "array", "items": {"type": "string", "enum": list(codes)},
                                      "uniqueItems": True}},
            "required": ["labels"], "additionalProperties": False}


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def value_distribution(content: str, logprobs: list[dict[str, Any]] | None, codes: Sequence[str],
                       chosen: str) -> list[float]:
    """Probabilities over ``codes`` from the token log-probabilities of a single-label JSON answer.

    The token where the label value starts is found in the answer; its alternatives
    (``top_logprobs``) that spell a code (or the unique start of one) give that code's mass; the
    chosen code gets the probability of all its tokens. Codes the server never offered get 0; the
    result is normalised. Without log-probabilities the answer is one-hot.
    """
    onehot = [1.0 if c == chosen else 0.0 for c in codes]
    if not logprobs:
        return onehot
    key = content.find('"label"')
    start = content.find('"', content.find(":", key) + 1) + 1 if key >= 0 else -1
    if start <= 0:
        return onehot
    spans, pos = [], 0
    for t in logprobs:
        tok = t.get("token", "")
        spans.append((pos, pos + len(tok)))
        pos += len(tok)
    first = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
    if first is None:
        return onehot
    lead = content[spans[first][0]:start]
    mass = dict.fromkeys(codes, 0.0)
    for alt in logprobs[first].get("top_logprobs") or [{"token": logprobs[first]["token"],
                                                       "logprob": logprobs[first]["logprob"]}]:
        tok = alt.get("token", "")
        if not tok.startswith(lead):
            continue
        rest = tok[len(lead):]
        whole = rest.split('"')[0]
        hits = [c for c in codes if c == whole] if '"' in rest else []
        if not hits and whole:
            hits = [c for c in codes if c.startswith(whole)]
            hits = hits if len(hits) == 1 else []
        for c in hits:
            mass[c] = max(mass[c], math.exp(alt["logprob"]))
    end = start + len(chosen)
    lp = sum(t["logprob"] for (a, b), t in zip(spans, logprobs, strict=True) if a < end and b > start)
    if chosen in mass and mass[chosen] == 0.0:  # the chosen code was not among the alternatives
        mass[chosen] = math.exp(lp)
    tot = sum(mass.values())
    return [mass[c] / tot for c in codes] if tot > 0 else onehot


async def post_json(client: Any, url: str, body: dict[str, Any], *, key: str | None, timeout_s: float,
                    max_retries: int, backoff_s: float, backoff_max_s: float) -> dict[str, Any]:
    """POST ``body`` to ``url`` and return the JSON answer, retried with exponential back-off (or the
    server's Retry-After) on :data:`RETRY_STATUS`, connection errors and timeouts; any other failure, or
    the last retry's, is an :class:`HttpCoderError` (the API key ``key`` redacted from every message)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    last, status = "", None
    for attempt in range(max_retries + 1):
        retry_after = None
        try:
            r = await client.post(url, json=body, headers=headers, timeout=timeout_s)
            status = r.status_code
            if r.status_code == 200:
                try:
                    return r.json()
                except ValueError:
                    raise HttpCoderError(f"{url} answered HTTP 200 but not with JSON", url=url, status=200,
                                         attempts=attempt + 1,
                                         detail=f"HTTP 200, not JSON: {_redact(r.text[:200], key)!r}") from None
            last = f"HTTP {r.status_code}: {_redact(r.text[:300], key)}"
            if r.status_code not in RETRY_STATUS:
                raise HttpCoderError(f"{url} answered {last}", url=url, status=r.status_code,
                                     attempts=attempt + 1, detail=last)
            ra = r.headers.get("retry-after")
            retry_after = float(ra) if ra and ra.replace(".", "", 1).isdigit() else None
        except (httpx.TransportError, httpx.TimeoutException) as e:
            last, status = f"{type(e).__name__}: {_redact(str(e), key) or 'no answer'}", None
        if attempt == max_retries:
            break
        delay = retry_after if retry_after is not None else min(backoff_max_s, backoff_s * 2 ** attempt)
        log.warning("request to %s failed (%s); retry %d/%d in %.1fs", url, last, attempt + 1, max_retries, delay)
        await asyncio.sleep(delay)
    raise HttpCoderError(f"{url} failed after {max_retries} retries: {last}", url=url, status=status,
                         attempts=max_retries + 1, detail=last)


class HttpCoder:
    """Code texts through an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(self, cfg: CoderConfig, codebook: Codebook, *,
                 examples: Sequence[tuple[str, Sequence[str]]] = (), offline: bool = False):
        self.cfg, self.codebook, self.examples = cfg, codebook, list(examples)
        # offline: requests are written to a batch file or answers read from one, never sent (no key needed)
        if not offline and cfg.http_api_key_env and not os.environ.get(cfg.http_api_key_env):
            from llmcoder.errors import InputError

            raise InputError(cfg.source, f"{cfg.where('http_api_key_env')}: environment variable "
                                         f"{cfg.http_api_key_env} is not set",
                             fix=f"export {cfg.http_api_key_env}=<your key> before running llmcoder "
                                 "(http_api_key_env names the variable; the key itself never goes in a file)")

    def _key(self) -> str | None:
        return os.environ.get(self.cfg.http_api_key_env) if self.cfg.http_api_key_env else None

    def prepare(self, order: Sequence[str]) -> HttpState:
        msgs, codes = build_http_messages(self.cfg, self.codebook, order=order, examples=self.examples)
        schema = json_schema(codes, self.codebook.task)
        if self.cfg.http_response_format == "json_schema":
            rf = {"type": "json_schema", "json_schema": {"name": "coding", "strict": True, "schema": schema}}
        else:
            rf = {"type": "json_object", "schema": schema}
        return HttpState(list(order), codes, msgs, rf)

    def _body(self, state: HttpState, text: str) -> dict[str, Any]:
        msgs = [{"role": m["role"], "content": m["content"].replace(TEXT_MARK, text)} for m in state.messages]
        body: dict[str, Any] = {"model": self.cfg.model, "messages": msgs, "temperature": self.cfg.temperature,
                                "max_tokens": self.cfg.http_max_tokens, "response_format": state.response_format,
                                "seed": self.cfg.seed}
        if self.cfg.http_logprobs and self.codebook.task == "single":
            body["logprobs"] = True
            if self.cfg.http_top_logprobs:
                body["top_logprobs"] = self.cfg.http_top_logprobs
        return body

    async def _post(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:
        cfg = self.cfg
        return await post_json(client, cfg.http_base_url.rstrip("/") + "/chat/completions", body, key=self._key(),
                               timeout_s=cfg.http_timeout_s, max_retries=cfg.http_max_retries,
                               backoff_s=cfg.http_backoff_s, backoff_max_s=cfg.http_backoff_max_s)

    def _parse(self, state: HttpState, data: dict[str, Any], latency: float) -> HttpAnswer:
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
            n_in, n_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            url = self.cfg.http_base_url.rstrip("/") + "/chat/completions"
            snippet = json.dumps(data, default=str)[:200]
            raise HttpCoderError(f"{url} answered HTTP 200 but not with a chat completion: {snippet}", url=url,
                                 status=200, detail=f"HTTP 200, not a chat completion: {snippet}") from None
        K = len(state.codes)
        try:
            obj = json.loads(content)
        except json.JSONDecodeError:
            obj = None
        if self.codebook.task == "single":
            code = obj.get("label") if isinstance(obj, dict) else None
            if code not in state.codes:
                log.warning("answer is not a code of the codebook: %r", content[:200])
                return HttpAnswer([math.nan] * K, n_in, n_out, latency, content)
            lp = (choice.get("logprobs") or {}).get("content")
            return HttpAnswer(value_distribution(content, lp, state.codes, code), n_in, n_out, latency, content)
        codes = obj.get("labels") if isinstance(obj, dict) else None
        if not isinstance(codes, list):
            log.warning("answer is not a list of codes: %r", content[:200])
            return HttpAnswer([math.nan] * K, n_in, n_out, latency, content)
        return HttpAnswer([1.0 if c in codes else 0.0 for c in state.codes], n_in, n_out, latency, content)

    async def acode(self, state: HttpState, texts: Sequence[str]) -> list[HttpAnswer]:
        import httpx

        sem = asyncio.Semaphore(self.cfg.http_concurrency)
        limits = httpx.Limits(max_connections=self.cfg.http_concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=self.cfg.http_timeout_s) as client:
            async def one(text: str) -> HttpAnswer:
                async with sem:
                    t0 = time.perf_counter()
                    data = await self._post(client, self._body(state, text))
                    return self._parse(state, data, time.perf_counter() - t0)

            return list(await asyncio.gather(*(one(t) for t in texts)))

    def code_texts(self, state: HttpState, texts: Sequence[str]) -> list[HttpAnswer]:
        """Code a batch of texts (blocking; runs its own event loop)."""
        return asyncio.run(self.acode(state, texts))
