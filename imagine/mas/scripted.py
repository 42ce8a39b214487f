"""The skeleton of a domain's scripted CPU teacher (the `rules` backend): rates, model name, dispatch.

A domain's teacher subclasses `ScriptedTeacher` and writes the three roles, each reading the
request's `context` (role, query, the reasoner's output, ...) plus, under `messages`, the chat it was
sent, so a role can reason over what its prompt shows, as an LLM in its place would:

    _reason(context, sampling) -> (text, injected mistake kinds)
    _judge(context, sampling) -> text
    _reflect(context, sampling) -> text

Everything is deterministic: each role's RNG is seeded from the teacher's seed, the sampling seed,
the query id and the role (`_rng`), so a batch's order never changes an answer. The model name
carries a digest of every rate, so a changed rate is a different model to the call cache.
"""

from __future__ import annotations

import hashlib
import json
import random
import time

from imagine.llm.base import Backend, Output, Request, Sampling


def words(text: str) -> int:
    """The scripted teacher's token count: whitespace-separated words."""
    return len(text.split())


class ScriptedTeacher(Backend):
    name = "rules"
    label = "rules backend"  # how errors name it
    known_mistakes: tuple[str, ...] = ()
    default_mistakes: dict[str, float] = {}
    # Part of the call cache's key: bump it when the teacher's text changes, or a rerun serves the old
    # text from the cache.
    version = 1

    def __init__(self, model: str, seed: int = 0, mistakes: dict | None = None, miss_rate: float = 0.3,
                 false_alarm_rate: float = 0.1, format_error_rate: float = 0.03, fix_failure_rate: float = 0.15,
                 latency_ms: float = 0.0, digest_extra: dict | None = None):
        unknown = set(mistakes or {}) - set(self.known_mistakes)
        if unknown:
            raise ValueError(f"{self.label}: unknown mistake kind(s) {sorted(unknown)}; "
                             f"known: {list(self.known_mistakes)}")
        self.mistakes = {**self.default_mistakes, **{k: float(v) for k, v in (mistakes or {}).items()}}
        rates = {**self.mistakes, "miss_rate": miss_rate, "false_alarm_rate": false_alarm_rate,
                 "format_error_rate": format_error_rate, "fix_failure_rate": fix_failure_rate}
        for key, value in rates.items():
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{self.label}: rate {key} must be in [0, 1], got {value}")
        self.seed = int(seed)
        self.miss_rate, self.false_alarm_rate = float(miss_rate), float(false_alarm_rate)
        self.format_error_rate, self.fix_failure_rate = float(format_error_rate), float(fix_failure_rate)
        self.latency_ms = float(latency_ms)
        config = {**(digest_extra or {}), "version": self.version, "seed": self.seed, "mistakes": self.mistakes, "miss_rate": self.miss_rate,
                  "false_alarm_rate": self.false_alarm_rate, "format_error_rate": self.format_error_rate,
                  "fix_failure_rate": self.fix_failure_rate}
        digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        self.base_model = model
        self.model = f"{model}+{digest}"

    # -- Backend interface ----------------------------------------------------------------------
    def generate(self, requests: list[Request], sampling: Sampling, on_output=None) -> list[Output]:
        outputs = []
        for i, request in enumerate(requests):
            started = time.perf_counter()
            try:
                text, error = self.respond(request, sampling), None
            except Exception as exc:  # one bad request must not stop the batch
                text, error = None, f"{type(exc).__name__}: {exc}"
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            tokens_in = sum(words(m["content"]) for m in request.messages)
            output = Output(text, tokens_in, words(text or ""), (time.perf_counter() - started) * 1000, False, error)
            outputs.append(output)
            if on_output:
                on_output(i, output)
        return outputs

    @staticmethod
    def _context(request: Request) -> dict:
        return {**(request.context or {}), "messages": request.messages}

    def respond(self, request: Request, sampling: Sampling) -> str:
        context = self._context(request)
        role = context.get("role")
        if role == "reasoner":
            return self._reason(context, sampling)[0]
        if role == "judge":
            return self._judge(context, sampling)
        if role == "reflector":
            return self._reflect(context, sampling)
        raise ValueError(f"the {self.label} reads request.context['role'] (reasoner/judge/reflector), got {role!r}")

    def injected_errors(self, request: Request, sampling: Sampling) -> list[str]:
        """The mistake kinds the reasoner injects for this request (recomputed, deterministic)."""
        return self._reason(self._context(request), sampling)[1]

    def _rng(self, sampling: Sampling, query: dict, role: str) -> random.Random:
        key = query.get("query_id") or hashlib.sha256(str(query.get("query")).encode()).hexdigest()
        digest = hashlib.sha256(f"{self.seed}|{sampling.seed}|{key}|{role}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    # -- the roles, per domain ------------------------------------------------------------------
    def _reason(self, context: dict, sampling: Sampling) -> tuple[str, list[str]]:
        raise NotImplementedError

    def _judge(self, context: dict, sampling: Sampling) -> str:
        raise NotImplementedError

    def _reflect(self, context: dict, sampling: Sampling) -> str:
        raise NotImplementedError
