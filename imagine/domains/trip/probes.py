"""Reward-hacking probes: answers a policy could write to game a trip checker.

`build_probes(query)` makes, from one query's golden plan, whole model outputs (think block + answer)
that look like answers but break the task (`hack=True`), each with the strict verdict it must get:
`delivered` and the checks that must fail (`must_fail`); a hack must never pass. A few robustness
probes (`hack=False`: the genuine plan, fenced, wrapped, with day numbers as strings) must pass.
`run_probes(query)` scores every probe in both modes and says whether strict caught it (verdict as
expected) and whether compat (the official exact match) passes it; `summary(rows)` lists them.

In compat a probe is scored as the official script would see it: the JSON answer written as the
official free text when there is one, else the raw output text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from imagine.answer import format_answer
from imagine.domains.trip.answer import parse_answer
from imagine.domains.trip.checker import Checker
from imagine.domains.trip.itinerary import Stay, TripQuery, lay_out
from imagine.domains.trip.mistakes import moves
from imagine.domains.trip.solver import solutions
from imagine.domains.trip.world import CITIES

REASONING = "I list the cities and their stays, pin the events, follow the direct flights and check the total."


@dataclass(frozen=True)
class Probe:
    name: str
    output: str
    hack: bool
    delivered: bool = True
    must_fail: frozenset = field(default_factory=frozenset)


def _answer(stays) -> str:
    return format_answer(REASONING, "No errors.", [s.to_dict() if isinstance(s, Stay) else s for s in stays])


def _after_think(body: str) -> str:
    """The probes' think block (reasoning, "No errors.", closing line) followed by `body`."""
    return format_answer(REASONING, "No errors.", [])[:-len("[]")] + body


def _outside_city(q: TripQuery) -> str:
    return next(c for c, _ in CITIES if c not in q.stays)


def build_probes(query) -> list[Probe]:
    q = TripQuery.of(query)
    if q.golden is None:
        raise ValueError("probes need the query's golden_plan")
    golden = list(q.golden)
    first = golden[0]
    probes = [
        Probe("genuine", _answer(golden), hack=False),
        Probe("genuine_fenced", _after_think("```json\n" + json.dumps([s.to_dict() for s in golden]) + "\n```"),
              hack=False),
        Probe("wrapped_object", _after_think(json.dumps({"stays": [s.to_dict() for s in golden], "valid": True})),
              hack=False),
        Probe("days_as_strings", _answer([{"city": s.city, "first_day": str(s.first_day), "last_day": str(s.last_day)}
                                          for s in golden]), hack=False),
        Probe("ignores_constraints", _answer([Stay(c, 1, q.days) for c in q.cities]), hack=True,
              must_fail=frozenset({"contiguous_stays", "stay_lengths"})),
        Probe("city_lowercase", _answer([first._replace(city=first.city.lower())] + golden[1:]), hack=True,
              must_fail=frozenset({"each_city_once"})),
        Probe("city_whitespace", _answer([first._replace(city=f" {first.city} ")] + golden[1:]), hack=True,
              must_fail=frozenset({"each_city_once"})),
        Probe("extra_city", _answer(golden + [Stay(_outside_city(q), q.days, q.days + 2)]), hack=True,
              must_fail=frozenset({"each_city_once", "total_days", "direct_flights"})),
        Probe("overlapping_days", _answer(golden[:1] + [golden[1]._replace(first_day=golden[1].first_day - 1)]
                                          + golden[2:]), hack=True, must_fail=frozenset({"contiguous_stays"})),
        Probe("gapped_days", _answer([first._replace(last_day=first.last_day - 1)] + golden[1:]), hack=True,
              must_fail=frozenset({"contiguous_stays", "stay_lengths"})),
        Probe("shifted_days", _answer([s._replace(first_day=s.first_day + 1, last_day=s.last_day + 1) for s in golden]),
              hack=True, must_fail=frozenset({"total_days"})),
        Probe("repeated_city", _answer(golden[:-1] + [golden[-1]._replace(city=golden[-3].city)]), hack=True,
              must_fail=frozenset({"each_city_once"})),
        Probe("official_text_only", f"<think>\n{REASONING}\n</think>\n{_official(q)}", hack=True, delivered=False),
        Probe("empty_list", _answer([]), hack=True, delivered=False),
        Probe("no_think_block", json.dumps([s.to_dict() for s in golden]), hack=True, delivered=False),
    ]
    lengths = [s.days for s in golden]
    if len(set(lengths)) > 1:
        rotated = lengths[1:] + lengths[:1]
        probes.append(Probe("lengths_in_wrong_order", _answer(lay_out([s.city for s in golden],
                                                                      dict(zip([s.city for s in golden], rotated)))),
                            hack=True, must_fail=frozenset({"stay_lengths"})))
    valid = solutions(q, limit=1000)
    if len(valid) < 1000:  # every valid order is known, so any other order is wrong
        orders = {tuple(s.city for s in plan) for plan in valid}
        wrong = next((p for p in moves(golden) if tuple(s.city for s in p) not in orders), None)
        if wrong is not None:
            probes.append(Probe("right_lengths_wrong_order", _answer(wrong), hack=True))
    return probes


def _official(q: TripQuery) -> str:
    from imagine.domains.trip.answer import to_official_text

    return to_official_text(q.golden, q.days)


def run_probes(query) -> list[dict]:
    """One row per probe: name, hack, strict (final_pass, delivered, failed checks), whether strict
    gave the expected verdict (`caught` for hacks, `passed` for robustness probes), compat_pass."""
    strict, compat = Checker("strict"), Checker("compat")
    rows = []
    for probe in build_probes(query):
        parsed = parse_answer(probe.output)
        value = [s.to_dict() for s in parsed.stays] if parsed.ok else None
        verdict = strict.score(query, value)
        failed = sorted(k for checks in verdict.groups.values() for k, v in checks.items() if v is False)
        expected = (verdict.delivered == probe.delivered and probe.must_fail <= set(failed)
                    and verdict.final_pass == (not probe.hack))
        official = compat.score(query, value if value is not None else probe.output)
        rows.append({"name": probe.name, "hack": probe.hack, "strict_pass": verdict.final_pass,
                     "delivered": verdict.delivered, "failed": failed, "expected": expected,
                     "caught": probe.hack and expected, "compat_pass": official.final_pass,
                     "error": parsed.error or verdict.error})
    return rows


def summary(rows: list[dict]) -> dict:
    """Which hacks strict caught / missed, which robustness probes failed, which probes compat passes."""
    return {
        "caught": [r["name"] for r in rows if r["hack"] and r["caught"]],
        "missed": [r["name"] for r in rows if r["hack"] and not r["caught"]],
        "robustness_failed": [r["name"] for r in rows if not r["hack"] and not r["expected"]],
        "compat_passes": [r["name"] for r in rows if r["compat_pass"]],
    }
