"""`openai` backend: any OpenAI-compatible chat-completions server (vLLM `serve`, SGLang,
llama.cpp's server, a hosted API).

It speaks HTTP through `httpx2` (the client the `openai` package itself is built on) rather than
through the `openai` SDK, so that every behaviour the pipeline relies on is explicit here:

- no hidden retries and no key read from `OPENAI_API_KEY` behind our back: the key comes only from
  the environment variable named by `api_key_env`, and never shows in errors, reprs or logs;
- one attempt counter per call, so "failed after N attempts" is exact;
- bodies that are cut short or are not JSON are retried like any transient fault;
- `Retry-After` is honoured.

Retries: an attempt that times out, loses its connection, gets 408/409/425/429/5xx, or gets a 200
whose body is truncated, not JSON or has no message, is retried up to `max_retries` times. Before
retry k (1-based) the call sleeps `min(max_backoff_s, backoff_s * 2**(k-1))` scaled by a random
factor in [0.5, 1] (jitter, so concurrent callers do not retry in lockstep), or the server's
`Retry-After` when that is longer (capped at `max_backoff_s`). Other 4xx answers are not retried;
401/403/404 mean the endpoint, key or model is wrong and raise `BackendError` at once. After the
last attempt the call becomes `Output(text=None, error=...)` naming the URL (without credentials
or query), the attempt count and each attempt's reason. Each failed call counts against the
backend's `max_failures`: the call that goes past it raises `BackendError` (no new calls start;
calls already in flight finish and are still reported through `on_output`, so the cache keeps them).

`trust_env=False` (the default) ignores HTTP(S)_PROXY and .netrc, so a local server is reached
directly and no credentials come from anywhere but `api_key_env`; set it true to go through a proxy.
`timeout_s` bounds each attempt's connect, write, and every read wait (httpx semantics).
`latency_ms` is the call's wall time including retries and backoff (what the run waited).
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from imagine.llm.base import Backend, BackendError, OnOutput, Output, Request, Sampling

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})  # and any other 5xx
FATAL_STATUSES = frozenset({401, 403, 404})
_SNIPPET = 200  # characters of an error body quoted in a message


class _Secret:
    """Holds the API key; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def _safe_url(url: str) -> str:
    """`url` without user:password@ and without the query string (either could hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class _Attempt(Exception):
    """One failed attempt: `reason` for the message, whether to retry, an optional server delay."""

    def __init__(self, reason: str, retry: bool, delay: float | None = None, fatal: bool = False):
        super().__init__(reason)
        self.reason, self.retry, self.delay, self.fatal = reason, retry, delay, fatal


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, base_url: str, api_key_env: str | None = None, concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 5, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, max_failures: int | None = 25, extra_body: dict | None = None,
                 max_tokens_field: str = "max_tokens", reasoning_as_think: bool = True,
                 headers: dict | None = None, trust_env: bool = False):
        try:
            import httpx2
        except ImportError as exc:  # pragma: no cover - the extra is part of `test`
            raise BackendError("the openai backend needs httpx2: pip install -e .[openai]") from exc
        if not model or not isinstance(model, str):
            raise BackendError(f"openai backend: `model` must be a non-empty string, got {model!r}")
        parts = urlsplit(str(base_url or ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(f"openai backend: `base_url` must be an http(s) URL, got {_safe_url(str(base_url))!r}")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0 or backoff_s < 0 or max_backoff_s < 0:
            raise BackendError("openai backend: need concurrency >= 1, max_retries >= 0, timeout_s > 0, "
                               "backoff_s >= 0 and max_backoff_s >= 0")
        if max_failures is not None and max_failures < 0:
            raise BackendError(f"openai backend: max_failures must be >= 0 or null, got {max_failures}")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise BackendError(f"openai backend: max_tokens_field must be max_tokens or max_completion_tokens, "
                               f"got {max_tokens_field!r}")
        self.model = model
        self.base_url = str(base_url).rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.safe_url = _safe_url(self.url)
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_failures = max_failures
        self.extra_body = dict(extra_body or {})
        self.max_tokens_field = max_tokens_field
        self.reasoning_as_think = reasoning_as_think

        self._key: _Secret | None = None
        if api_key_env:
            value = os.environ.get(api_key_env, "")
            if not value.strip():
                raise BackendError(f"openai backend: the environment variable {api_key_env} (named by "
                                   f"api_key_env) is not set or empty; export the API key there")
            self._key = _Secret(value.strip())
        self._headers = {"Content-Type": "application/json", **{str(k): str(v) for k, v in (headers or {}).items()}}
        if any(k.lower() == "authorization" for k in self._headers):
            raise BackendError("openai backend: pass the key through api_key_env, not an Authorization header")

        self._httpx = httpx2
        self._client = httpx2.Client(
            timeout=httpx2.Timeout(self.timeout_s),
            limits=httpx2.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            trust_env=bool(trust_env))
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-backend")
        self._lock = threading.Lock()
        self._stop = threading.Event()  # set once the backend gave up: no new attempts start
        self._fatal: str | None = None
        self.failures = 0  # failed calls in this backend's life
        self.calls = 0  # finished calls (ok or failed)
        self.attempts = 0  # HTTP attempts in this backend's life

    def __repr__(self) -> str:
        return (f"OpenAIBackend(model={self.model!r}, base_url={_safe_url(self.base_url)!r}, "
                f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency})")

    # ---------------------------------------------------------------- one call

    def _payload(self, request: Request, sampling: Sampling) -> dict:
        payload = {
            **self.extra_body,
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            self.max_tokens_field: sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            "n": 1,
            "stream": False,
        }
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        return payload

    def _redact(self, text: str) -> str:
        if self._key is not None and self._key.value:
            text = text.replace(self._key.value, "<secret>")
        return text

    def _attempt(self, payload: dict) -> tuple[str, int, int]:
        """One HTTP attempt: (text, tokens_in, tokens_out), or raises _Attempt."""
        httpx2 = self._httpx
        headers = dict(self._headers)
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.value}"
        try:
            response = self._client.post(self.url, json=payload, headers=headers)
        except httpx2.TimeoutException as exc:
            raise _Attempt(f"timeout ({type(exc).__name__} after {self.timeout_s:g}s)", retry=True) from None
        except httpx2.TransportError as exc:  # refused, reset, dropped mid-response, truncated body
            detail = self._redact(str(exc))[:_SNIPPET]
            raise _Attempt(f"connection error ({type(exc).__name__}: {detail})", retry=True) from None
        status = response.status_code
        if status != 200:
            snippet = self._redact(response.text[:_SNIPPET].replace("\n", " "))
            reason = f"HTTP {status}" + (f" ({snippet})" if snippet else "")
            if status in FATAL_STATUSES:
                raise _Attempt(reason, retry=False, fatal=True)
            retry = status in RETRY_STATUSES or status >= 500
            return_delay = _retry_after(response.headers.get("retry-after")) if retry else None
            raise _Attempt(reason, retry=retry, delay=return_delay)
        body = response.content
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _Attempt(f"HTTP 200 with a truncated or non-JSON body ({len(body)} bytes)", retry=True) from None
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise _Attempt("HTTP 200 with a JSON body that has no choices[0].message", retry=True) from None
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if content is None and not reasoning:
            raise _Attempt("HTTP 200 with an empty message (no content)", retry=True)
        text = content or ""
        if self.reasoning_as_think and isinstance(reasoning, str) and reasoning.strip():
            text = f"<think>\n{reasoning.strip()}\n</think>\n\n{text}"
        usage = data.get("usage") or {}
        return text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

    def _backoff(self, retry: int, server_delay: float | None) -> float:
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (retry - 1)) * random.uniform(0.5, 1.0)
        if server_delay is not None:
            delay = max(delay, min(server_delay, self.max_backoff_s))
        return delay

    def _call(self, request: Request, sampling: Sampling) -> Output:
        payload = self._payload(request, sampling)
        start = time.perf_counter()
        reasons: list[str] = []
        for attempt in range(1, self.max_retries + 2):
            if self._stop.is_set():
                reasons.append("stopped: the backend gave up")
                break
            with self._lock:
                self.attempts += 1
            try:
                text, tokens_in, tokens_out = self._attempt(payload)
            except _Attempt as failed:
                reasons.append(failed.reason)
                if failed.fatal:
                    self._give_up(f"POST {self.safe_url} answered {failed.reason}: check base_url, model "
                                  f"({self.model!r}) and the key in ${self.api_key_env or '(no api_key_env)'}")
                    break
                if not failed.retry or attempt > self.max_retries:
                    break
                if self._stop.wait(self._backoff(attempt, failed.delay)):
                    reasons.append("stopped: the backend gave up")
                    break
                continue
            latency = (time.perf_counter() - start) * 1000
            return Output(text, tokens_in, tokens_out, latency)
        latency = (time.perf_counter() - start) * 1000
        attempts = sum(1 for r in reasons if not r.startswith("stopped"))
        history = "; ".join(f"#{k}: {r}" for k, r in enumerate(reasons, 1))
        error = f"POST {self.safe_url} (model {self.model}) failed after {attempts} attempt(s): {history}"
        return Output(None, 0, 0, latency, error=self._redact(error))

    def _give_up(self, reason: str) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = reason
        self._stop.set()

    def _run(self, index: int, request: Request, sampling: Sampling, outputs: list, on_output: OnOutput | None):
        if self._stop.is_set():
            return
        output = self._call(request, sampling)
        with self._lock:
            self.calls += 1
            if output.error is not None and not self._stop.is_set():
                self.failures += 1
                if self.max_failures is not None and self.failures > self.max_failures and self._fatal is None:
                    self._fatal = (f"{self.failures} failed calls to {self.safe_url} exceed max_failures="
                                   f"{self.max_failures}; last: {output.error}")
                    self._stop.set()
        outputs[index] = output
        if on_output is not None:
            on_output(index, output)

    # ---------------------------------------------------------------- batch

    def generate(self, requests: list[Request], sampling: Sampling, on_output: OnOutput | None = None) -> list[Output]:
        self._check_alive()
        outputs: list[Output | None] = [None] * len(requests)
        futures = [self._pool.submit(self._run, i, request, sampling, outputs, on_output)
                   for i, request in enumerate(requests)]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                if self._stop.is_set() or any(not f.cancelled() and f.exception() for f in done):
                    break
        except BaseException:  # Ctrl-C: no new attempts; calls in flight still report
            self._give_up("interrupted")
            for future in futures:
                future.cancel()
            raise
        for future in futures:  # after a give-up or an on_output error: start nothing new ...
            future.cancel()
        wait(futures)  # ... and let calls in flight finish and report through on_output
        for future in futures:
            if not future.cancelled() and future.exception() is not None:
                raise future.exception()
        self._check_alive()
        return outputs  # type: ignore[return-value]

    def _check_alive(self) -> None:
        if self._fatal is not None:
            raise BackendError(f"openai backend gave up: {self._fatal}")

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
