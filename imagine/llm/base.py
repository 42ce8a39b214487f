"""One batched `generate(requests, sampling) -> outputs` interface for every LLM backend.

A `Request` is a chat (`messages`) plus optional structured `context` for backends that read
data rather than text (the `rules` teacher); text backends ignore `context`, and the cache key
never includes it (the messages already state everything the context holds).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from imagine.errors import UserError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Sampling:
    """How to sample one answer. `must_start_with`: the text every usable answer opens with (after
    leading whitespace). A backend may end an answer the moment it can no longer open so, since
    nothing after that can change its score; the transformers backend's lean decoder does, the other
    backends and engines run on to `max_tokens` or a stop string."""

    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    must_start_with: str = ""

    def __post_init__(self):
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        object.__setattr__(self, "stop", tuple(self.stop))


def cannot_start_with(text: str, opening: str) -> bool:
    """Whether `text`, however it goes on, can no longer open with `opening` (after leading whitespace)."""
    head = text.lstrip()
    return not (head.startswith(opening) or opening.startswith(head))


@dataclass(frozen=True)
class Request:
    messages: tuple[dict, ...]
    context: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self):
        messages = tuple(dict(m) for m in self.messages)
        for i, message in enumerate(messages):
            if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
                raise ValueError(f"message {i} must be {{'role': one of {ROLES}, 'content': str}}, got {message!r}")
        object.__setattr__(self, "messages", messages)

    def prompt_json(self) -> str:
        return json.dumps(list(self.messages), ensure_ascii=False, sort_keys=True)


@dataclass
class Output:
    text: str | None  # None when the call failed; `error` says why
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cached: bool = False
    error: str | None = None


OnOutput = Callable[[int, Output], None]


class BackendError(UserError, RuntimeError):
    """The backend cannot go on: bad config, a missing dependency or key, or more failed calls
    than its `max_failures` allows. Single failed calls are Outputs with `error`, not this."""


class Backend(ABC):
    """A model behind `generate`. Subclasses set `name` and `model`."""

    name: str = "backend"
    model: str = ""

    @abstractmethod
    def generate(self, requests: list[Request], sampling: Sampling, on_output: OnOutput | None = None) -> list[Output]:
        """One Output per request, in order. `on_output(i, output)` is called as each call finishes
        (from any thread), so callers can store it at once. A failed call is an Output with `error`,
        not an exception, unless the backend cannot work at all (bad config, aborting failure count)."""

    def close(self) -> None:
        """Release resources (threads, GPU memory); a no-op by default."""


def call_key(backend: Backend, request: Request, sampling: Sampling) -> str:
    """Content hash of one call: backend, model, prompt and sampling (seed included)."""
    payload = {"backend": backend.name, "model": backend.model, "messages": list(request.messages),
               "sampling": asdict(sampling)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
