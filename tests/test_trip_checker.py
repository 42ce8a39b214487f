"""Trip strict checker: each targeted mutation of a golden plan fails exactly its check; reasons name
the city and day; unreadable answers are not delivered; nothing an answer holds makes it raise."""

import itertools
import json
import random
import time

import pytest

from imagine.domains.trip.answer import parse_answer, read_stays
from imagine.domains.trip.checker import CHECKS, GROUPS, Checker, check_columns
from imagine.domains.trip.itinerary import Stay, TripQuery, lay_out
from imagine.domains.trip.queries import generate_queries
from imagine.domains.trip.world import make_world

STRICT = Checker("strict")


@pytest.fixture(scope="module")
def rows():
    frames, _ = generate_queries(make_world(48, 0.15, seed=0), {"seed": 3, "counts": {"train": 0, "val": 0, "test": 300}})
    return frames["test"].to_dicts()


def failed(verdict) -> set[str]:
    return {name for checks in verdict.groups.values() for name, value in checks.items() if value is False}


def score(row, stays):
    return STRICT.score(row, [s.to_dict() for s in stays])


def events_ok(q: TripQuery, plan) -> bool:
    where = {s.city: s for s in plan}
    return all(e.city in where and e.covered_by(where[e.city]) for e in q.events)


def flights_ok(q: TripQuery, plan) -> bool:
    return all(q.connected(a.city, b.city) for a, b in itertools.pairwise(plan))


def shorten_stay(q, golden):
    """One stay a day shorter, its successor a day longer (the total and every leg unchanged)."""
    for i in range(len(golden) - 1):
        a, b = golden[i], golden[i + 1]
        plan = golden[:i] + [a._replace(last_day=a.last_day - 1), b._replace(first_day=b.first_day - 1)] + golden[i + 2:]
        if events_ok(q, plan):
            return plan
    return None


def orders(q, golden, limit=3000):
    lengths = {s.city: s.days for s in golden}
    for order in itertools.islice(itertools.permutations([s.city for s in golden]), limit):
        yield lay_out(order, lengths)


def non_connected_leg(q, golden):
    return next((p for p in orders(q, golden) if not flights_ok(q, p) and events_ok(q, p)), None)


def event_outside_window(q, golden):
    return next((p for p in orders(q, golden) if flights_ok(q, p) and not events_ok(q, p)), None)


def repeat_city(q, golden):
    """The last city replaced by the one two stays before it (its legs are golden legs, reversed)."""
    if q.events_of(golden[-1].city):
        return None
    return golden[:-1] + [golden[-1]._replace(city=golden[-3].city)]


def extend_total(q, golden):
    """The whole trip one day later: day 2 to day D + 1 (lengths, order and legs unchanged)."""
    plan = [s._replace(first_day=s.first_day + 1, last_day=s.last_day + 1) for s in golden]
    return plan if events_ok(q, plan) else None


def overlap_then_gap(q, golden):
    """One stay a day early (overlapping its predecessor), the next back in place (a gap)."""
    for i in range(1, len(golden) - 1):
        plan = golden[:i] + [golden[i]._replace(first_day=golden[i].first_day - 1,
                                                last_day=golden[i].last_day - 1)] + golden[i + 1:]
        if events_ok(q, plan):
            return plan
    return None


MUTATIONS = {
    "stay_lengths": shorten_stay, "direct_flights": non_connected_leg, "events": event_outside_window,
    "each_city_once": repeat_city, "total_days": extend_total, "contiguous_stays": overlap_then_gap,
}


def test_golden_passes_every_check(rows):
    for row in rows:
        verdict = STRICT.score(row, json.loads(row["golden_plan"]))
        assert verdict.delivered and verdict.final_pass
        assert set(verdict.groups) == set(GROUPS)
        assert verdict.groups["constraints"]["events"] is (True if row["n_events"] else None)


@pytest.mark.parametrize("check", list(MUTATIONS))
def test_each_mutation_fails_exactly_its_check(rows, check):
    tested = 0
    for row in rows:
        q = TripQuery.of(row)
        plan = MUTATIONS[check](q, list(q.golden))
        if plan is None:
            continue
        verdict = score(row, plan)
        assert failed(verdict) == {check}, (row["query_id"], plan, verdict.reasons)
        assert verdict.delivered and not verdict.final_pass
        assert check in verdict.reasons and set(verdict.reasons) <= {check, "events"}
        tested += 1
    assert tested >= 40, f"only {tested} queries could take the {check} mutation"


def test_extending_the_last_stay_fails_total_and_length(rows):
    for row in rows[:50]:
        q = TripQuery.of(row)
        plan = list(q.golden[:-1]) + [q.golden[-1]._replace(last_day=q.days + 1)]
        assert failed(score(row, plan)) == {"total_days", "stay_lengths"}


def test_reasons_name_the_city_and_day():
    row = {"days": 14, "cities": ["Florence", "Helsinki", "Barcelona"], "stays": [6, 5, 5],
           "events": [{"city": "Florence", "kind": "friend", "first_day": 9, "last_day": 14}],
           "connections": [{"city_a": "Barcelona", "city_b": "Florence"}, {"city_a": "Barcelona", "city_b": "Helsinki"}]}
    ok = [Stay("Helsinki", 1, 5), Stay("Barcelona", 5, 9), Stay("Florence", 9, 14)]
    assert score(row, ok).final_pass
    v = score(row, [Stay("Helsinki", 1, 4), Stay("Barcelona", 4, 9), Stay("Florence", 9, 14)])
    assert v.reasons["stay_lengths"] == "Helsinki has 4 days (days 1-4), needs 5; Barcelona has 6 days (days 4-9), needs 5"
    v = score(row, [Stay("Barcelona", 1, 5), Stay("Helsinki", 5, 9), Stay("Florence", 9, 14)])
    assert v.reasons["direct_flights"] == "no direct flight between Helsinki and Florence (day 9)"
    v = score(row, [Stay("Florence", 1, 6), Stay("Barcelona", 6, 10), Stay("Helsinki", 10, 14)])
    assert v.reasons["events"] == "the meeting with a friend in Florence (days 9-14) is outside its stay (days 1-6)"
    v = score(row, [Stay("Helsinki", 1, 5), Stay("Barcelona", 6, 10), Stay("Florence", 10, 15)])
    assert v.reasons["contiguous_stays"] == ("Barcelona starts on day 6, not on day 5 when Helsinki ends "
                                             "(the flight day counts for both)")
    assert v.reasons["total_days"] == "the plan runs from day 1 to day 15; the 14-day trip runs from day 1 to day 14"
    v = score(row, [Stay("Helsinki", 1, 5), Stay("Barcelona", 3, 7), Stay("Florence", 9, 14)])
    assert v.reasons["contiguous_stays"] == ("Barcelona starts on day 3, before Helsinki ends on day 5: the stays "
                                             "overlap; Florence starts on day 9, not on day 7 when Barcelona ends "
                                             "(the flight day counts for both); day 8 in no city")
    v = score(row, [Stay("Helsinki", 1, 5), Stay("Barcelona", 5, 9), Stay("helsinki", 9, 14)])
    assert v.reasons["each_city_once"] == "Florence is missing; 'helsinki' is not a city of this query"
    assert v.reasons["events"] == "Florence is not visited, so the meeting with a friend (days 9-14) is missed"


def test_undelivered_answers():
    row = {"days": 4, "cities": ["Oslo", "Riga"], "stays": [2, 3], "connections": [["Oslo", "Riga"]]}
    for answer in (None, [], {}, "Day 1-2: Oslo", 3, [1, 2], [{"city": "Oslo"}], [{"first_day": 1, "last_day": 2}],
                   [{"city": "Oslo", "first_day": True, "last_day": 2}], [{"city": "Oslo", "first_day": "x", "last_day": 2}],
                   [{"city": "Oslo", "first_day": 1.5, "last_day": 2}], [{"city": "x" * 500, "first_day": 1, "last_day": 2}],
                   [{"city": "Oslo", "first_day": 1, "last_day": 2}] * 100):
        verdict = STRICT.score(row, answer)
        assert not verdict.delivered and not verdict.final_pass and verdict.error, answer
        assert all(v is False for k, v in check_columns(verdict).items() if k != "check_events")
        assert verdict.groups["constraints"]["events"] is None  # no events in this query


def test_lenient_reading():
    golden = [{"city": "Oslo", "first_day": 1, "last_day": 2}, {"city": "Riga", "first_day": 2, "last_day": 4}]
    row = {"days": 4, "cities": ["Oslo", "Riga"], "stays": [2, 3], "connections": [["Oslo", "Riga"]], "golden_plan": golden}
    forms = [golden, json.dumps(golden), {"stays": golden}, {"itinerary": golden}, [["Oslo", 1, 2], ["Riga", 2, 4]],
             [{"city": "Oslo", "start_day": "1", "end_day": 2.0}, {"city": "Riga", "start": 2, "end": " 4 "}]]
    for form in forms:
        assert STRICT.score(row, form).final_pass, form
    for text in ("<think>x</think>\n```json\n" + json.dumps(golden) + "\n```",
                 "<think>x</think>\nHere it is: " + json.dumps(golden) + " Enjoy!",
                 "<think>x</think>\n" + json.dumps({"plan": golden}), "<think>x</think>\n" + json.dumps({"stays": golden})):
        parsed = parse_answer(text)
        assert parsed.ok and [s.to_dict() for s in parsed.stays] == golden, text
    assert read_stays([{"city": " Oslo", "first_day": 1, "last_day": 2}])[0][0].city == " Oslo"  # names kept as written


def test_never_raises_on_any_answer(rows):
    rng = random.Random(0)
    atoms = [None, True, 0, -3, 10 ** 30, 1.5, float("nan"), "", "Oslo", "1", [], {}, "\u00e9" * 50]

    def value(depth=0):
        kind = rng.random()
        if depth > 2 or kind < 0.4:
            return rng.choice(atoms)
        if kind < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice(["city", "first_day", "last_day", "stays", "plan", "x"]): value(depth + 1)
                for _ in range(rng.randint(0, 4))}

    row = rows[0]
    compat = Checker("compat")
    for _ in range(2000):
        answer = value()
        STRICT.score(row, answer)
        compat.score(row, answer)
        parse_answer(f"<think>x</think>\n{json.dumps(answer, default=str)}")


def test_bad_mode_and_queries():
    with pytest.raises(ValueError, match="mode"):
        Checker("lenient")
    with pytest.raises(ValueError, match="missing field"):
        STRICT.score({"days": 3}, [])
    base = {"days": 4, "cities": ["Oslo", "Riga"], "stays": [2, 3], "connections": [["Oslo", "Riga"]]}
    for golden in ("[1, 2]", "[]", "{", [{"city": "Oslo"}]):
        with pytest.raises(ValueError, match="golden_plan"):
            Checker("compat").score({**base, "golden_plan": golden}, [])
    for bad in ({"cities": "Oslo"}, {"stays": [2]}, {"connections": [["Oslo", "Oslo"]]},
                {"events": [{"city": "Rome", "first_day": 1, "last_day": 1}]}, {"days": "4"}):
        with pytest.raises(ValueError, match="trip query"):
            STRICT.score({**base, **bad}, [])
    with pytest.raises(ValueError, match="compat mode needs"):
        Checker("compat").score({"days": 4, "cities": ["Oslo", "Riga"], "stays": [2, 3], "connections": []}, [])


def test_check_names():
    assert CHECKS == ("total_days", "contiguous_stays", "each_city_once", "stay_lengths", "direct_flights", "events")


def test_scoring_speed(rows):
    answers = [(row, json.loads(row["golden_plan"])) for row in rows]
    queries = [(TripQuery.of(row), answer) for row, answer in answers]
    for label, items in (("row dicts", answers), ("TripQuery", queries)):
        started = time.perf_counter()
        for _ in range(3):
            for q, answer in items:
                STRICT.score(q, answer)
        rate = 3 * len(items) / (time.perf_counter() - started)
        print(f"\ntrip strict scoring ({label}): {rate:.0f} answers/s")
