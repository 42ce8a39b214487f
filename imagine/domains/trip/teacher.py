"""`rules` for the trip domain: a deterministic, seeded CPU teacher behind the LLM `generate()`.

It reads each request's structured `context` and writes TEXT in exactly the formats an LLM must:

- every role: `role` (reasoner / judge / reflector) and `query` (a queries-table row: query_id,
  days, cities, stays, events, connections; `golden_plan` optional);
- Reasoner (`reference_plan` optional: JSON text or list of stays; default the query's
  `golden_plan`, else the solver's plan): `<think>\\nreasoning\\n</think>\\n` + the JSON stays. The
  reasoning (`narration.py`) walks the stays and the total, the events, the flights, the order and
  each day range; mistakes are injected per kind at the `mistakes` rates (`mistakes.py`) and the
  reasoning believes them. `malformed_json` cuts the answer mid-JSON.
- Judge (`judge`: 1 or 2, `reasoner_output`): exactly `Errors exist.` or `No errors.`; the truth is
  the strict checker's; a judge misses a real error with `miss_rate`, flags a passing plan with
  `false_alarm_rate`, and answers off-format with `format_error_rate`.
- Reflector (`reasoner_output`, `verdicts` (not read), `reference_plan` optional): names each error
  with the checker's reason and gives the corrected plan after `Corrected plan:` in a ```json block;
  fails to fix one error with `fix_failure_rate`, forgets the block with `format_error_rate`.

Every call draws from its own RNG seeded by sha256(seed, sampling seed, query id, role), so outputs
are deterministic per call and independent of batch order; the model name carries a digest of the
configuration, so a call cache never serves an output of a differently configured teacher. Tokens
are whitespace-separated words.
"""

from __future__ import annotations

import json

from imagine.domains.trip.answer import parse_answer, read_stays
from imagine.domains.trip.checker import Checker
from imagine.domains.trip.itinerary import TripQuery
from imagine.domains.trip.mistakes import DEFAULT_MISTAKES, MISTAKES, Beliefs, inject
from imagine.domains.trip.narration import narrate
from imagine.domains.trip.prompts import JUDGE_ERRORS, JUDGE_OK
from imagine.domains.trip.reflector import reflection_text
from imagine.domains.trip.solver import solve
from imagine.llm.base import Sampling
from imagine.mas.scripted import ScriptedTeacher, words

VERSION = "trip-rules-1"
JUDGE_NOISE = {
    "errors": ("Errors exist", "**Errors exist.**", "There are errors in the plan.",
               "After checking the flights and the days: errors exist."),
    "no_errors": ("No errors", "no errors.", "The plan has no errors.", "**No errors.**"),
    "unclear": ("The plan looks mostly reasonable, but I cannot be sure.", "Hard to say without more detail."),
}


class TripRulesBackend(ScriptedTeacher):
    SHARED = ()
    label = "trip rules backend"
    known_mistakes = MISTAKES
    default_mistakes = DEFAULT_MISTAKES

    def __init__(self, model: str = "trip-rules-teacher-v1", seed: int = 0, mistakes: dict | None = None,
                 miss_rate: float = 0.3, false_alarm_rate: float = 0.1, format_error_rate: float = 0.03,
                 fix_failure_rate: float = 0.15, latency_ms: float = 0.0):
        super().__init__(model, seed, mistakes, miss_rate, false_alarm_rate, format_error_rate, fix_failure_rate,
                         latency_ms, digest_extra={"version": VERSION})
        self.checker = Checker("strict")

    # -- helpers --------------------------------------------------------------------------------
    def target(self, context: dict, q: TripQuery):
        """The plan to aim for: the reference plan, else the query's golden plan, else the solver's."""
        for value in (context.get("reference_plan"), (context.get("query") or {}).get("golden_plan")):
            if value is not None:
                stays, _error = read_stays(value)
                if stays:
                    return stays
        return solve(q).stays

    def truth(self, query, reasoner_output: str | None):
        """(parsed answer, strict verdict) of a reasoner output; the verdict is None when unreadable."""
        parsed = parse_answer(reasoner_output or "")
        return parsed, (self.checker.score(query, [s.to_dict() for s in parsed.stays]) if parsed.ok else None)

    # -- Reasoner -------------------------------------------------------------------------------
    def _reason(self, context: dict, sampling: Sampling) -> tuple[str, list[str]]:
        query = context["query"]
        q = TripQuery.of(query)
        rng = self._rng(sampling, query, "reasoner")
        plan = self.target(context, q)
        if plan is None:
            return ("<think>\nI could not find an order of the cities that uses only direct flights and fits "
                    "every stay and event.\n</think>\n[]"), []
        beliefs, injected = Beliefs(), []
        for kind in MISTAKES:
            if kind == "malformed_json":
                continue
            if rng.random() < self.mistakes[kind]:
                edited = inject(kind, q, plan, beliefs, rng)
                if edited is not None:
                    plan = edited
                    injected.append(kind)
        body = json.dumps([s.to_dict() for s in plan], ensure_ascii=False)
        if rng.random() < self.mistakes["malformed_json"]:
            injected.append("malformed_json")
            body = body[: max(len(body) * 2 // 3, 1)]  # the answer stops mid-list
        return f"<think>\n{narrate(q, plan, beliefs)}\n</think>\n{body}", injected

    # -- Judges ---------------------------------------------------------------------------------
    def _judge(self, context: dict, sampling: Sampling) -> str:
        query = context["query"]
        rng = self._rng(sampling, query, f"judge_{context.get('judge', 1)}")
        _, verdict = self.truth(query, context.get("reasoner_output"))
        if verdict is None or not verdict.final_pass:
            says = "no_errors" if rng.random() < self.miss_rate else "errors"
        else:
            says = "errors" if rng.random() < self.false_alarm_rate else "no_errors"
        if rng.random() < self.format_error_rate:
            return rng.choice(JUDGE_NOISE["unclear"] if rng.random() < 0.3 else JUDGE_NOISE[says])
        return JUDGE_ERRORS if says == "errors" else JUDGE_OK

    # -- Reflector ------------------------------------------------------------------------------
    def _reflect(self, context: dict, sampling: Sampling) -> str:
        query = context["query"]
        q = TripQuery.of(query)
        rng = self._rng(sampling, query, "reflector")
        parsed, verdict = self.truth(query, context.get("reasoner_output"))
        fail = rng.random() < self.fix_failure_rate
        drop_block = rng.random() < self.format_error_rate
        target = self.target(context, q)
        return reflection_text(q, parsed.stays, parsed.error, verdict, target, fail, drop_block, rng)


__all__ = ["JUDGE_NOISE", "VERSION", "TripRulesBackend", "words"]
