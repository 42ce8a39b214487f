"""The `openai` backend against a real OpenAI-compatible server on 127.0.0.1: llama-cpp-python's
server with the embedded SmolLM2-135M GGUF, reached directly or through `FaultProxy`, a small
threaded HTTP proxy that injects 500s, 429s, stalls, dropped connections and bad bodies on a
scripted schedule, and records what it saw (Authorization headers, simultaneous connections)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagine.llm.base import BackendError, Request, Sampling
from imagine.llm.openai_backend import OpenAIBackend, _retry_after, _safe_url
from imagine.llm.registry import build_backend

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2"
SHORT = Sampling(max_tokens=8, temperature=0.0, seed=0)
FAST_RETRY = dict(backoff_s=0.01, max_backoff_s=0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chat(text: str) -> Request:
    return Request(({"role": "user", "content": text},))


SIGILL_HINT = (
    "SIGILL: its llama.cpp library executes instructions this CPU traps (a native build uses every "
    "instruction the CPU advertises, AMX tiles included, and some AMX machines trap them). The test "
    "command builds a portable one (CMAKE_ARGS=\"-DGGML_NATIVE=OFF\"); a llama-cpp-python installed "
    "another way may not be: `pip cache remove llama_cpp_python && pip uninstall -y llama-cpp-python`, then "
    "rerun the README's test command")


class LlamaServer:
    """A `python -m llama_cpp.server` process serving the SmolLM2 GGUF on 127.0.0.1, with its log."""

    def __init__(self, gguf: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
                 "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1",
                 "--n_threads_batch", "1", "--verbose", "False"],
                stdout=sink, stderr=subprocess.STDOUT)

    def death(self) -> str | None:
        """Why the server is gone (SIGILL explained), or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        hint = f" ({SIGILL_HINT}; build features: {_llama_features()})" if code == -signal.SIGILL else ""
        return f"llama_cpp.server exited with {code}{hint}. Its log ends: {self.log.read_text()[-2000:]}"

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if (death := self.death()) is not None:
                pytest.fail(death)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/v1/models")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after {timeout_s:.0f} s: {self.log.read_text()[-2000:]}")
            time.sleep(0.25)

    def warm_up(self) -> None:
        """The first completion is slow; take it here so the timeout tests see a warm server. It is also
        the first request that runs the model's kernels, where a non-portable build dies."""
        try:
            warm = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            warm.request("POST", "/v1/chat/completions", json.dumps(
                {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}),
                {"Content-Type": "application/json"})
            status = warm.getresponse().status
        except OSError as exc:
            time.sleep(0.5)  # let a crashed process be reaped so its exit code is known
            pytest.fail(self.death() or f"llama_cpp.server dropped the warm-up request: {exc!r}")
        assert status == 200, f"warm-up chat completion answered {status}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _llama_features() -> str:
    """The CPU features the installed llama.cpp was compiled for, as it reports them."""
    try:
        import llama_cpp

        return llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except Exception as exc:  # noqa: BLE001 - only an explanation
        return f"unknown ({exc!r})"


@pytest.fixture(scope="session")
def llama_process(tmp_path_factory):
    from imagine.llm.gguf import fetch_gguf

    server = LlamaServer(fetch_gguf(ROOT / "models" / "download"), tmp_path_factory.mktemp("llama") / "server.log")
    try:
        server.wait_ready()
        server.warm_up()
        yield server
    finally:
        server.stop()


@pytest.fixture
def llama_server(llama_process):
    """The server's base URL; a test during which the server died fails with the reason (SIGILL explained)."""
    if (death := llama_process.death()) is not None:
        pytest.fail(death)
    yield llama_process.url
    time.sleep(0.05)
    if (death := llama_process.death()) is not None:
        pytest.fail(f"the server died during this test: {death}")


class FaultProxy:
    """Forwards POSTs to the llama server, but the next requests meet the scripted `faults` first
    (then `default`). Faults: pass, 500, 429 (Retry-After), 400echo (a 400 quoting the request's
    Authorization header), 401, stall (sleeps `stall_s` before answering), drop (closes without an
    answer), cut (announces the full body, sends half, closes), truncated (a 200 whose JSON is cut
    short), nonjson (a 200 HTML page)."""

    def __init__(self, upstream: str):
        self.upstream_port = int(upstream.split(":")[2].split("/")[0])
        self.faults: deque[str] = deque()
        self.default = "pass"
        self.delay_s = 0.0  # added before forwarding a `pass`
        self.stall_s = 6.0
        self.retry_after = "1"
        self.lock = threading.Lock()
        self.seen: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    fault = proxy.faults.popleft() if proxy.faults else proxy.default
                    proxy.seen.append({"fault": fault, "path": self.path,
                                       "authorization": self.headers.get("Authorization")})
                    proxy.inflight += 1
                    proxy.max_inflight = max(proxy.max_inflight, proxy.inflight)
                try:
                    proxy.serve(self, fault, body)
                except OSError:  # the client gave up (stall) or we closed on purpose
                    self.close_connection = True
                finally:
                    with proxy.lock:
                        proxy.inflight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def script(self, *faults: str, default: str = "pass") -> FaultProxy:
        self.faults.extend(faults)
        self.default = default
        return self

    @property
    def count(self) -> int:
        return len(self.seen)

    def forward(self, handler, body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=120)
        connection.request("POST", handler.path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    @staticmethod
    def answer(handler, status: int, body: bytes, content_type="application/json", headers=(),
               length: int | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    def serve(self, handler, fault: str, body: bytes) -> None:
        error = json.dumps({"error": {"message": f"injected {fault}"}}).encode()
        if fault == "pass":
            time.sleep(self.delay_s)
            status, upstream = self.forward(handler, body)
            self.answer(handler, status, upstream)
        elif fault == "500":
            self.answer(handler, 500, error)
        elif fault == "429":
            self.answer(handler, 429, error, headers=[("Retry-After", self.retry_after)])
        elif fault == "401":
            self.answer(handler, 401, error)
        elif fault == "400echo":
            self.answer(handler, 400, json.dumps({"error": f"bad request from {handler.headers.get('Authorization')}"}).encode())
        elif fault == "stall":
            time.sleep(self.stall_s)
            self.answer(handler, 500, error)
        elif fault == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "cut":
            status, upstream = self.forward(handler, body)
            handler.close_connection = True
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(upstream)))
            handler.end_headers()
            handler.wfile.write(upstream[: len(upstream) // 2])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "truncated":
            status, upstream = self.forward(handler, body)
            self.answer(handler, 200, upstream[: len(upstream) // 2])
        elif fault == "nonjson":
            self.answer(handler, 200, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        else:  # pragma: no cover - a typo in a test
            raise ValueError(fault)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(llama_server):
    fault_proxy = FaultProxy(llama_server)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def make_backend():
    made = []

    def make(base_url: str, **params) -> OpenAIBackend:
        backend = OpenAIBackend(model=MODEL, base_url=base_url, **{"timeout_s": 60, **params})
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


# ------------------------------------------------------------------------------- real server


def test_a_server_killed_by_sigill_on_a_request_is_explained(tmp_path):
    """A non-portable build dies on its first completion, not at start: the fixture must say why."""
    from imagine.llm.gguf import fetch_gguf

    server = LlamaServer(fetch_gguf(ROOT / "models" / "download"), tmp_path / "server.log")
    try:
        server.wait_ready()
        os.kill(server.process.pid, signal.SIGILL)  # what the CPU does to a trapped instruction
        with pytest.raises(pytest.fail.Exception, match="SIGILL: its llama.cpp library executes instructions"):
            server.warm_up()
    finally:
        server.stop()



def test_batch_returns_texts_token_counts_and_latency(llama_server, make_backend):
    backend = make_backend(llama_server, concurrency=2)
    requests = [_chat("Name a city in France."), _chat("What is 2 + 2?"),
                Request(({"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi."}))]
    reported = []
    outputs = backend.generate(requests, Sampling(max_tokens=12, temperature=0.0, seed=0),
                               on_output=lambda i, out: reported.append((i, out)))
    assert len(outputs) == 3
    for output in outputs:
        assert output.error is None and isinstance(output.text, str) and output.text.strip()
        assert output.tokens_in > 5 and 0 < output.tokens_out <= 12
        assert output.latency_ms > 0 and not output.cached
    assert sorted(i for i, _ in reported) == [0, 1, 2]
    assert all(outputs[i] is out for i, out in reported)
    assert backend.calls == 3 and backend.attempts == 3 and backend.failures == 0


def test_temperature_zero_and_seeded_sampling_are_deterministic(llama_server, make_backend):
    backend = make_backend(llama_server, concurrency=1)
    request = [_chat("Write one word about the sea.")]
    greedy = Sampling(max_tokens=12, temperature=0.0, seed=0)
    assert backend.generate(request, greedy)[0].text == backend.generate(request, greedy)[0].text
    seeded = Sampling(max_tokens=12, temperature=1.0, top_p=0.95, seed=1234)
    first, second = backend.generate(request * 2, seeded)
    assert first.error is None and first.text == second.text


def test_stop_sequences_reach_the_server(llama_server, make_backend):
    backend = make_backend(llama_server)
    request = [_chat("Name a city in France.")]
    free = backend.generate(request, Sampling(max_tokens=16, seed=0))[0]
    words = free.text.split()
    assert len(words) >= 3
    stop = words[2]
    stopped = backend.generate(request, Sampling(max_tokens=16, seed=0, stop=(stop,)))[0]
    assert stopped.error is None and stop not in stopped.text
    assert free.text.startswith(stopped.text.rstrip()) and stopped.tokens_out < free.tokens_out


def test_concurrency_bound_is_respected(proxy, make_backend):
    proxy.delay_s = 0.3
    backend = make_backend(proxy.url, concurrency=2)
    outputs = backend.generate([_chat(f"Say the number {i}.") for i in range(6)], SHORT)
    assert all(o.error is None for o in outputs)
    assert proxy.count == 6 and proxy.max_inflight == 2


def test_registry_builds_the_openai_backend(llama_server):
    backend = build_backend({"backend": "openai", "model": MODEL, "base_url": llama_server, "concurrency": 1})
    try:
        assert isinstance(backend, OpenAIBackend) and backend.concurrency == 1
        assert backend.generate([_chat("Hi")], SHORT)[0].error is None
    finally:
        backend.close()


# ------------------------------------------------------------------------------- injected faults


@pytest.mark.parametrize("fault", ["500", "429", "drop", "cut", "truncated", "nonjson", "stall"])
def test_each_fault_is_retried_then_succeeds(proxy, make_backend, fault):
    proxy.retry_after = "0"
    proxy.script(fault)
    backend = make_backend(proxy.url, max_retries=2, timeout_s=4.0 if fault == "stall" else 60, **FAST_RETRY)
    output = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert output.error is None and output.text
    assert [s["fault"] for s in proxy.seen] == [fault, "pass"]
    assert backend.attempts == 2 and backend.failures == 0


def test_a_run_of_mixed_faults_still_succeeds(proxy, make_backend):
    proxy.retry_after = "0"
    proxy.script("500", "drop", "cut", "truncated", "nonjson", "429", "stall")
    backend = make_backend(proxy.url, max_retries=7, timeout_s=4.0, **FAST_RETRY)
    output = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert output.error is None and output.text and output.tokens_out > 0
    assert proxy.count == 8 and backend.attempts == 8


def test_retry_after_is_honoured(proxy, make_backend):
    proxy.retry_after = "1"
    proxy.script("429")
    backend = make_backend(proxy.url, max_retries=1, backoff_s=0.01, max_backoff_s=5)
    began = time.monotonic()
    output = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert output.error is None and time.monotonic() - began >= 1.0
    assert output.latency_ms >= 1000  # latency counts the whole call, retries included


def test_backoff_grows_exponentially_with_jitter_and_a_cap(make_backend):
    backend = make_backend("http://127.0.0.1:1/v1", backoff_s=1.0, max_backoff_s=5.0)
    for retry, (low, high) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 4: (2.5, 5), 9: (2.5, 5)}.items():
        delays = [backend._backoff(retry, None) for _ in range(50)]
        assert all(low <= d <= high for d in delays) and len(set(delays)) > 1
    assert backend._backoff(1, 3.0) == 3.0 and backend._backoff(1, 60.0) == 5.0
    assert _retry_after("2") == 2.0 and _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_call_that_keeps_failing_becomes_an_error_output(proxy, make_backend):
    proxy.script(default="500")
    backend = make_backend(proxy.url, max_retries=3, max_failures=5, **FAST_RETRY)
    reported = []
    outputs = backend.generate([_chat("Say yes.")], SHORT, on_output=lambda i, o: reported.append(o))
    output = outputs[0]
    assert output.text is None and reported == [output]
    assert "failed after 4 attempt(s)" in output.error and "HTTP 500" in output.error
    assert f"{proxy.url}/chat/completions" in output.error and f"model {MODEL}" in output.error
    assert proxy.count == 4 and backend.failures == 1


def test_other_4xx_are_not_retried(proxy, make_backend):
    proxy.script("400echo")
    backend = make_backend(proxy.url, max_retries=3, **FAST_RETRY)
    output = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert output.text is None and "failed after 1 attempt(s)" in output.error and "HTTP 400" in output.error
    assert proxy.count == 1


def test_one_failed_call_does_not_stop_the_batch(proxy, make_backend):
    proxy.script("500", "500")  # with concurrency 1 the first call gets both and gives up
    backend = make_backend(proxy.url, concurrency=1, max_retries=1, max_failures=3, **FAST_RETRY)
    outputs = backend.generate([_chat("Say yes."), _chat("Say no."), _chat("Say maybe.")], SHORT)
    assert outputs[0].text is None and "failed after 2 attempt(s)" in outputs[0].error
    assert all(o.error is None and o.text for o in outputs[1:])


def test_exceeding_max_failures_raises_backend_error(proxy, make_backend):
    proxy.script(default="500")
    backend = make_backend(proxy.url, concurrency=1, max_retries=1, max_failures=1, **FAST_RETRY)
    reported = []
    with pytest.raises(BackendError, match=r"2 failed calls .* exceed max_failures=1"):
        backend.generate([_chat(f"Say {i}.") for i in range(5)], SHORT, on_output=lambda i, o: reported.append(i))
    assert sorted(reported) == [0, 1] and proxy.count == 4  # nothing started after the limit
    with pytest.raises(BackendError, match="gave up"):
        backend.generate([_chat("Say yes.")], SHORT)
    assert proxy.count == 4


def test_wrong_endpoint_or_key_raises_at_once(proxy, make_backend):
    proxy.script(default="401")
    backend = make_backend(proxy.url, concurrency=1, max_retries=3, max_failures=10, **FAST_RETRY)
    with pytest.raises(BackendError, match="HTTP 401"):
        backend.generate([_chat("a"), _chat("b"), _chat("c")], SHORT)
    assert proxy.count == 1


def test_unreachable_server_becomes_an_error_output(make_backend):
    backend = make_backend(f"http://127.0.0.1:{_free_port()}/v1", max_retries=2, **FAST_RETRY)
    output = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert output.text is None and "failed after 3 attempt(s)" in output.error and "ConnectError" in output.error


# ------------------------------------------------------------------------------- the API key


def test_api_key_comes_from_the_named_env_var_and_never_leaks(proxy, make_backend, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-0123456789"
    monkeypatch.setenv("IMAGINE_TEST_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-wrong-one")  # never read
    backend = make_backend(proxy.url, api_key_env="IMAGINE_TEST_KEY", max_retries=0, **FAST_RETRY)
    assert backend.generate([_chat("Say yes.")], SHORT)[0].error is None
    proxy.script("400echo")
    failed = backend.generate([_chat("Say yes.")], SHORT)[0]
    assert [s["authorization"] for s in proxy.seen] == [f"Bearer {secret}"] * 2
    assert "HTTP 400" in failed.error and "<secret>" in failed.error and secret not in failed.error
    assert "IMAGINE_TEST_KEY" in repr(backend)
    for text in (repr(backend), str(backend), repr(vars(backend)), repr(backend._client.headers)):
        assert secret not in text


def test_no_key_sends_no_authorization_header(proxy, make_backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-wrong-one")
    backend = make_backend(proxy.url)
    assert backend.generate([_chat("Say yes.")], SHORT)[0].error is None
    assert proxy.seen[0]["authorization"] is None


def test_missing_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("IMAGINE_ABSENT_KEY", raising=False)
    with pytest.raises(BackendError, match="IMAGINE_ABSENT_KEY"):
        OpenAIBackend(model=MODEL, base_url="http://127.0.0.1:1/v1", api_key_env="IMAGINE_ABSENT_KEY")


def test_bad_config_is_rejected():
    with pytest.raises(BackendError, match="base_url"):
        OpenAIBackend(model=MODEL, base_url="127.0.0.1:8000")
    with pytest.raises(BackendError, match="Authorization"):
        OpenAIBackend(model=MODEL, base_url="http://127.0.0.1:1/v1", headers={"authorization": "Bearer x"})
    with pytest.raises(TypeError):
        OpenAIBackend(model=MODEL, base_url="http://127.0.0.1:1/v1", api_key="sk-inline")  # keys never in params


def test_urls_in_messages_drop_credentials_and_query():
    assert _safe_url("https://user:pw@api.example.com:8443/v1/chat?key=abc") == "https://api.example.com:8443/v1/chat"


def test_traces_stage_with_a_fake_key_writes_it_nowhere(official_sandbox, tmp_path):
    """The traces stage with both judges on an `openai` endpoint that echoes the Authorization header
    back in its error bodies: the key is sent, yet no output file, cache row, metric or log line
    holds it (errors are recorded with the key redacted)."""
    import os

    import yaml

    from imagine.domains.travelplanner.queries import BuildConfig, build_queries
    from tests.conftest import ROOT, TRAVELPLANNER

    secret = "sk-fake-DO-NOT-LEAK-9f8e7d6c5b4a"
    proxy = FaultProxy("http://127.0.0.1:1/v1").script(default="400echo")
    try:
        frames, _ = build_queries(official_sandbox, BuildConfig.from_params(
            {"seed": 3, "counts": {"train": 3}, "import": []}))
        (tmp_path / "queries").mkdir()
        frames["train"].write_parquet(tmp_path / "queries" / "train.parquet")
        judge = {"backend": "openai", "model": MODEL, "base_url": proxy.url, "api_key_env": "IMAGINE_FAKE_KEY",
                 "max_retries": 1, "max_failures": 100, "max_tokens": 8, **FAST_RETRY}
        rules = {"backend": "rules"}
        params = {"traces": {"splits": ["train"], "queries": str(tmp_path / "queries"), "sandbox": str(TRAVELPLANNER),
                             "cache": str(tmp_path / "cache" / "calls.sqlite"), "seed": 0,
                             "roles": {"reasoner": rules, "judge": judge, "reflector": rules}}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / "traces.py"), "--params", str(tmp_path / "params.yaml"),
             "--out", str(tmp_path / "traces"), "--metrics", str(tmp_path / "reports" / "traces.json"),
             "--no-progress"],
            cwd=ROOT, env={**os.environ, "IMAGINE_FAKE_KEY": secret}, capture_output=True, text=True, timeout=300)
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    assert proxy.seen and all(s["authorization"] == f"Bearer {secret}" for s in proxy.seen)  # it was sent
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in done.stdout + done.stderr
    import polars as pl

    turns = pl.read_parquet(tmp_path / "traces" / "turns.parquet").filter(pl.col("role").str.starts_with("judge"))
    assert turns["error"].str.contains("<secret>").all()  # the echoed key was redacted, not dropped silently
