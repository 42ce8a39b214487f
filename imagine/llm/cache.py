"""Content-hash call cache: a rerun or a resumed run makes zero repeat calls.

One SQLite file (WAL mode) under `data/cache/`: each finished call is committed the moment its
output arrives, so a SIGKILL loses only calls still in flight, and several processes may share it
(SQLite serialises writers). Failed calls are not cached: a rerun retries them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from imagine.llm.base import Backend, Output, Request, Sampling, call_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    output TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    created REAL NOT NULL
)
"""


class CallCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get_many(self, keys: list[str]) -> dict[str, Output]:
        found: dict[str, Output] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                rows = self._db.execute(
                    f"SELECT key, output, tokens_in, tokens_out, latency_ms FROM calls "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                for key, text, tokens_in, tokens_out, latency in rows:
                    found[key] = Output(text, tokens_in, tokens_out, latency, cached=True)
        return found

    def put(self, key: str, backend: Backend, output: Output) -> None:
        if output.text is None:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, backend.name, backend.model, output.text, output.tokens_in, output.tokens_out,
                 output.latency_ms, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cached_generate(backend: Backend, requests: list[Request], sampling: Sampling, cache: CallCache | None,
                    on_output: Callable[[int, Output], None] | None = None) -> list[Output]:
    """`backend.generate` through the cache: hits are served from it, identical prompts are called
    once, and each finished call is stored as soon as the backend reports it."""
    keys = [call_key(backend, request, sampling) for request in requests]
    outputs: list[Output | None] = [None] * len(requests)
    hits = cache.get_many(keys) if cache is not None else {}
    first_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in hits:
            outputs[i] = hits[key]
            if on_output:
                on_output(i, outputs[i])
        else:
            first_of.setdefault(key, i)
    todo = list(first_of.values())
    if todo:
        def store(j: int, output: Output) -> None:
            i = todo[j]
            if cache is not None:
                cache.put(keys[i], backend, output)
            outputs[i] = output
            if on_output:
                on_output(i, output)

        results = backend.generate([requests[i] for i in todo], sampling, on_output=store)
        for j, output in enumerate(results):
            if outputs[todo[j]] is None:  # a backend that did not report through on_output
                store(j, output)
    for i, key in enumerate(keys):  # repeats of a prompt called once in this batch
        if outputs[i] is None:
            source = outputs[first_of[key]]
            outputs[i] = Output(source.text, source.tokens_in, source.tokens_out, 0.0, True, source.error)
            if on_output:
                on_output(i, outputs[i])
    return outputs
