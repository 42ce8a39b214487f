"""The judges: exactly `Errors exist.` or `No errors.`, from the strict scorer's truth plus noise.

A judge misses a real error with `miss_rate`, raises a false alarm with `false_alarm_rate`, and
answers off-format with `format_error_rate` (parsed leniently, or unparseable).
"""

from __future__ import annotations

from imagine.domains.travelplanner.evaluate import normalize_query
from imagine.domains.travelplanner.prompts import JUDGE_ERRORS, JUDGE_OK
from imagine.llm.base import Sampling

JUDGE_NOISE = {
    "errors": ("Errors exist", "**Errors exist.**", "There are errors in the plan.",
               "After checking the hotel and the costs: errors exist."),
    "no_errors": ("No errors", "no errors.", "The plan has no errors.", "**No errors.**"),
    "unclear": ("The plan looks mostly reasonable, but I cannot be sure.", "Hard to say without more detail."),
}


class Judge:
    """The judges' role: `truth` (the strict verdict) and the noisy `_judge`."""

    # -- Judges ---------------------------------------------------------------------------------
    def truth(self, query: dict, reasoner_output: str | None) -> tuple[list | None, object]:
        """(plan, strict verdict) of a reasoner output; verdict None when there is no plan."""
        from imagine.answer import parse_output

        parsed = parse_output(reasoner_output or "")
        if not parsed.ok:
            return None, None
        return parsed.plan, self.scorer.score(query, parsed.plan)

    def _judge(self, context: dict, sampling: Sampling) -> str:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, f"judge_{context.get('judge', 1)}")
        _, verdict = self.truth(q, context.get("reasoner_output"))
        errors = verdict is None or not verdict.final_pass
        if errors:
            says = "no_errors" if rng.random() < self.miss_rate else "errors"
        else:
            says = "errors" if rng.random() < self.false_alarm_rate else "no_errors"
        if rng.random() < self.format_error_rate:
            pool = JUDGE_NOISE["unclear"] if rng.random() < 0.3 else JUDGE_NOISE[says]
            return rng.choice(pool)
        return JUDGE_ERRORS if says == "errors" else JUDGE_OK
