"""The declared schema of TravelPlanner's own params: `sandbox`, `queries`, the `rules` teacher's keys
(traces.roles.*) and the reference-information caps (traces.reference). `imagine.params` checks them
with the same rules and one-line errors as every other section."""

from __future__ import annotations

from imagine.params import (PATH, RATE, SEED, Bool, Date, Int, List, Map, Num, Opt, Range, Section, Spec, Str, _show,
                            positive_weights)

CUISINE_COUNT = 7  # sandbox.tables.CUISINES
MAX_PEOPLE = 8
STYLES = ("request", "statement", "imperative")  # queries.text.STYLES
MISTAKES = ("repeated_restaurant", "wrong_city_restaurant", "budget_overrun", "min_nights_violation",
            "conflicting_transport", "invented_entity", "wrong_room_type", "house_rule_violation",
            "missing_day", "malformed_json")  # teacher.MISTAKES


def _max_multi_city(section: dict) -> str | None:
    states, multi = section.get("states", 12), section.get("multi_city_states", 8)
    if multi > states:
        return f".multi_city_states: expected at most states ({states}), got {multi}"
    return None


def _flight_window(section: dict) -> str | None:
    start, end = section.get("start", "2022-03-01"), section.get("end", "2022-03-31")
    if str(end) < str(start):
        return f".end: expected a date on or after start ({start}), got {_show(end)}"
    return None


SANDBOX = Section({
    "source": Str(("travelplanner", "synthetic")),
    "travelplanner_dir": PATH,
    "drop_orphans": Bool(),
    "flights": Section({
        "complete": Bool(), "start": Date(), "end": Date(), "min_km": Num(0), "route_fraction": RATE,
        "per_day": Int(1), "seed": SEED, "max_rows": Int(1),
    }, rules=[_flight_window], null_ok=True),
    "synthetic": Section({
        "seed": SEED, "states": Int(1), "cities_per_state": Range(Int(1), single=True),
        "multi_city_states": Int(1), "hotels_per_city": Range(Int(5), single=True),
        "restaurants_per_city": Range(Int(CUISINE_COUNT), single=True),
        "attractions_per_city": Range(Int(1), single=True), "unreachable_share": RATE, "island_state": Bool(),
        "route_fraction": RATE,
    }, rules=[_max_multi_city], null_ok=True),
})

_PEOPLE = Section({"medium": Range(Int(1, MAX_PEOPLE)), "hard": Range(Int(1, MAX_PEOPLE))},
                  required=("medium", "hard"))
_CUISINES = Section({"medium": Range(Int(1, CUISINE_COUNT)), "hard": Range(Int(1, CUISINE_COUNT))},
                    required=("medium", "hard"))


class _DaysKey(Spec):
    expected = "a trip length among 3, 5, 7"

    def ok(self, value):
        return str(value) in ("3", "5", "7") and not isinstance(value, bool)


QUERIES = Section({
    "seed": SEED,
    "sandbox": PATH,
    "counts": Map(Str(what="a split name"), Int(0)),
    "import": Opt(List(Section({"path": PATH, "split": Str(what="a split name")}, required=("path", "split")))),
    "levels": Map(Str(("easy", "medium", "hard")), Num(0), min_len=1),
    "days": Map(_DaysKey(), Num(0), min_len=1),
    "people": _PEOPLE,
    "cuisines": _CUISINES,
    "date_window": Opt(Range(Date())),
    "budget_slack": Range(Num(0), single=True),
    "budget_round": Int(1),
    "templates": Opt(List(Str(STYLES), min_len=1)),
    "attractions_per_day": Int(1),
    "candidate_cities": Int(1),
    "max_attempts": Int(1),
}, rules=[positive_weights("levels"), positive_weights("days")])

RULES = {"seed": SEED, "mistakes": Opt(Map(Str(MISTAKES), RATE)), "miss_rate": RATE, "false_alarm_rate": RATE,
         "format_error_rate": RATE, "fix_failure_rate": RATE, "latency_ms": Num(0)}
TRACES = {"reference": Section({"flights_per_leg": Int(0), "hotels": Int(0), "restaurants": Int(0),
                                "attractions": Int(0)}, null_ok=True)}
