"""The scripted Reflector's text, and reading any Reflector's answer back.

`reflection_text` names each failing strict check with the checker's reason, lists the corrections
(stay by stay, against the target plan) and gives the corrected plan after `Corrected plan:` in a
```json block. On a deliberate failure (`fail`) the last error goes unnamed and stays in the plan:
the target plan gets that check's mistake again (`mistakes.inject`), or, where that cannot be
made, the reasoner's plan is kept; either way the corrected plan fails the strict checker.

`parse_reflection(text)` reads the analysis (before the last `Corrected plan:`) and the stays
(the JSON after it, fenced or bare) with the protocol's reader; never raises.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from imagine.domains.trip.answer import read_stays
from imagine.domains.trip.checker import CHECKS
from imagine.domains.trip.itinerary import Stay, TripQuery
from imagine.domains.trip.mistakes import KIND_OF_CHECK, Beliefs, failing, inject
from imagine.mas.parsing import CORRECTED_PLAN, REFLECTOR_OK
from imagine.mas.parsing import parse_reflection as read_reflection

LABELS = {
    "total_days": "Total days", "contiguous_stays": "Flight days", "each_city_once": "Cities",
    "stay_lengths": "Stay lengths", "direct_flights": "Direct flights", "events": "Events",
}
NO_ERRORS = (f"{REFLECTOR_OK} I re-checked the total, the shared flight days, every city and its stay, "
             "the direct flights and the events; the plan stands.")


def _days(s: Stay) -> str:
    return f"day {s.first_day}" if s.first_day == s.last_day else f"days {s.first_day}-{s.last_day}"


def changes(plan: list[Stay], target: list[Stay]) -> list[str]:
    """The corrections that turn `plan` into `target`, stay by stay."""
    out = []
    if [s.city for s in plan] != [s.city for s in target]:
        out.append("- Visit in this order, each leg a direct flight: " + " -> ".join(s.city for s in target) + ".")
    mine: dict[str, list[Stay]] = {}
    for s in plan:
        mine.setdefault(s.city, []).append(s)
    for s in target:
        had = mine.get(s.city, [])
        if not had:
            out.append(f"- {s.city}: {_days(s)} ({s.days} days; it was missing).")
        elif had[0] != s or len(had) > 1:
            out.append(f"- {s.city}: {_days(s)} ({s.days} days; was {', '.join(_days(h) for h in had)}).")
    wanted = {s.city for s in target}
    for s in plan:
        if s.city not in wanted:
            out.append(f"- Drop {s.city} ({_days(s)}): it is not one of the cities.")
    return out


def _fails(q: TripQuery, plan: list[Stay] | None) -> bool:
    return plan is None or bool(failing(q, plan))


def reflection_text(q: TripQuery, plan: list[Stay] | None, parse_error: str | None, verdict,
                    target: list[Stay] | None, fail: bool, drop_block: bool, rng: random.Random) -> str:
    """The Reflector's answer for a reasoner plan (`plan` None: unreadable, `parse_error` says why)
    with its strict `verdict` (None when unreadable), correcting towards `target`."""
    if plan is not None and verdict is not None and verdict.final_pass:
        return _with_plan(NO_ERRORS, plan, drop_block)
    if plan is None:
        errors = [("format", f"The answer has no readable list of stays after the reasoning ({parse_error}).")]
    else:
        flat = {check: value for group in verdict.groups.values() for check, value in group.items()}
        errors = [(check, f"{LABELS[check]}: {verdict.reasons.get(check, 'fails')}.")
                  for check in CHECKS if flat.get(check) is False]
    if target is None:
        analysis = _numbered(errors) + "\nCorrections:\n- I could not find a valid plan; the plan is kept."
        return _with_plan(analysis, plan or [], drop_block)
    corrected = list(target)
    if fail:
        missed = errors[-1][0]
        if len(errors) > 1:
            errors = errors[:-1]
        corrected = _unfixed(q, plan, target, missed, rng)
    shown = changes(plan or [], corrected)
    analysis = _numbered(errors) + "\nCorrections:\n" + ("\n".join(shown) if shown else "- Rewrite the plan.")
    return _with_plan(analysis, corrected, drop_block)


def _unfixed(q: TripQuery, plan, target, missed: str, rng) -> list[Stay]:
    """A corrected plan that still has the `missed` error (so it fails the strict checker)."""
    kind = KIND_OF_CHECK.get(missed)
    if kind is not None:
        edited = inject(kind, q, list(target), Beliefs(), rng)
        if edited is not None and _fails(q, edited):
            return edited
    if plan is not None and _fails(q, plan):
        return list(plan)
    return list(target[:-1])  # a city left out: fails each_city_once and total_days


def _numbered(errors) -> str:
    return "Errors found:\n" + "\n".join(f"{i}. {text}" for i, (_, text) in enumerate(errors, 1))


def _with_plan(analysis: str, plan: list[Stay], drop_block: bool) -> str:
    if drop_block:
        return analysis + "\nWith these changes the plan satisfies every requirement."
    body = json.dumps([s.to_dict() for s in plan], ensure_ascii=False)
    return f"{analysis}\n{CORRECTED_PLAN}\n```json\n{body}\n```"


@dataclass
class Reflection:
    analysis: str | None
    stays: list[Stay] | None
    error: str | None = None


def parse_reflection(text) -> Reflection:
    """Analysis and corrected stays of a Reflector answer (the protocol's reader,
    `imagine.mas.parsing.parse_reflection`, then the stays read from its JSON list)."""
    generic = read_reflection(text)
    if generic.plan is None:
        return Reflection(generic.analysis, None, generic.error)
    stays, error = read_stays(generic.plan)
    return Reflection(generic.analysis, stays, error)
