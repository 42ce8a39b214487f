"""The Reflector: names each failing check, lists the corrections and gives the corrected plan.

It names each failing check with the scorer's reason, lists the corrections (field by field, against
the reference plan) and gives the corrected plan after `Corrected plan:`. With `fix_failure_rate` it
misses an error (one wrong day left unfixed, one error not named); with `format_error_rate` it
forgets the plan block.
"""

from __future__ import annotations

import copy
import json

from imagine.domains.travelplanner.evaluate import normalize_query
from imagine.domains.travelplanner.plan import MEALS
from imagine.domains.travelplanner.prompts import CORRECTED_PLAN, money
from imagine.domains.travelplanner.teacher.common import Shared
from imagine.domains.travelplanner.teacher.mistakes import CHECK_NAMES
from imagine.llm.base import Sampling
from imagine.mas.parsing import REFLECTOR_OK


class Reflector(Shared):
    """The Reflector's role: `_reflect`, its text, and the field-by-field corrections."""

    # -- Reflector ------------------------------------------------------------------------------
    def _reflect(self, context: dict, sampling: Sampling) -> str:
        q = normalize_query(context["query"])
        q["query_id"] = context["query"].get("query_id")
        rng = self._rng(sampling, q, "reflector")
        plan, verdict = self.truth(q, context.get("reasoner_output"))
        fail = rng.random() < self.fix_failure_rate
        drop_block = rng.random() < self.format_error_rate
        if plan is not None and verdict.final_pass:
            analysis = (f"{REFLECTOR_OK} I re-checked the route, transport, hotels (minimum nights, house rule, "
                        "room type), meals, attractions and the total cost; the plan stands.")
            return self._reflection_text(analysis, plan, drop_block)
        errors = []
        if plan is None:
            errors.append("The answer has no valid JSON plan after the reasoning.")
        else:
            for group in (verdict.commonsense, verdict.hard):
                for check, passed in group.items():
                    if passed is False:
                        errors.append(f"{CHECK_NAMES[check]}: {verdict.reasons.get(check, 'fails')}.")
        target = self._target(context, q)
        if target is None:
            analysis = "Errors found:\n" + "\n".join(f"{i}. {e}" for i, e in enumerate(errors, 1))
            analysis += "\nCorrections:\n- I could not find a valid alternative; the plan is kept."
            return self._reflection_text(analysis, plan or [], drop_block)
        corrected = target
        changes = self._changes(plan or [], target)
        if fail:
            # The reflector misses one error: the last one goes unnamed and one wrong day stays as it was.
            if len(errors) > 1:
                errors = errors[:-1]
            differing = [i for i in range(min(len(plan or []), len(target))) if (plan or [])[i] != target[i]]
            if plan is not None and len(plan) == len(target) and differing:
                keep = rng.choice(differing)
                corrected = copy.deepcopy(target)
                corrected[keep] = copy.deepcopy(plan[keep])
                changes = [c for c in changes if not c.startswith(f"- Day {keep + 1} ")]
            elif plan is not None and len(target) > 1:
                corrected = copy.deepcopy(target)[:-1]
                changes = changes[:-1]
        shown = changes[:12] + ([f"- ... and {len(changes) - 12} more changes."] if len(changes) > 12 else [])
        analysis = ("Errors found:\n" + "\n".join(f"{i}. {e}" for i, e in enumerate(errors, 1))
                    + "\nCorrections:\n" + ("\n".join(shown) if shown else "- Rewrite the plan."))
        return self._reflection_text(analysis, corrected, drop_block)

    def _reflection_text(self, analysis: str, plan: list, drop_block: bool) -> str:
        if drop_block:
            return analysis + "\nWith these changes the plan satisfies every requirement."
        return f"{analysis}\n{CORRECTED_PLAN}\n```json\n{json.dumps(plan, ensure_ascii=False)}\n```"

    def _changes(self, plan: list, target: list) -> list[str]:
        out = []
        if len(plan) != len(target):
            out.append(f"- The trip needs {len(target)} days, not {len(plan)}: rebuild the itinerary day by day.")
        for i, day in enumerate(target):
            old = plan[i] if i < len(plan) and isinstance(plan[i], dict) else {}
            for key in ("current_city", "transportation", *MEALS, "attraction", "accommodation"):
                before, after = old.get(key, "-"), day.get(key, "-")
                if before != after:
                    out.append(f"- Day {i + 1} {key}: {before!r} -> {after!r}{self._why(key, after)}.")
        return out

    def _why(self, key: str, text: str) -> str:
        if key in MEALS:
            row = self._row("restaurants", text)
            return f" ({money(row['average_cost'])}, {row['cuisines']})" if row else ""
        if key == "accommodation":
            row = self._row("accommodations", text)
            return (f" ({row['room_type']}, {money(row['price'])}/night, minimum {row['minimum_nights']} nights, "
                    f"rules: {row['house_rules'] or 'none'})") if row else ""
        return ""
