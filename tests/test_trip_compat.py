"""Trip compat mode: the official Natural Plan exact-match verdict.

The hand-made responses below carry the verdict that Natural Plan's `evaluate_trip_planning.py`
gives them. We worked each out by tracing that script's logic as we read it (see
`imagine/domains/trip/official.py`) by hand, line by line: a "European cities for N days" line sets
the total; the first "a-b" on a line is a day range and reading stops at a range ending on the total;
a line matching `.*Day (\\d+).*from (\\w+) to (\\w+)` is a flight (the last "Day N" and the last
"from X to Y" of the line); the plan is the first flight's origin plus every flight's destination,
each stay running from one flight day to the next (day 1 first, the last range's end last); exact
match compares that (city, days) list with the golden one from the start, and only the golden
stays. The comment on each case is that trace. The query has two valid plans (Helsinki, Barcelona,
Florence is the golden one; Barcelona, Helsinki, Florence is the other), so a valid non-golden
plan scores 0 while the strict checker passes it.
"""

import json

import pytest

from imagine.domains.trip.answer import from_official_text, to_official_text
from imagine.domains.trip.checker import Checker
from imagine.domains.trip.itinerary import Stay, TripQuery
from imagine.domains.trip.official import exact_match, from_fields, official_fields, parse_official
from imagine.domains.trip.queries import generate_queries
from imagine.domains.trip.schema import to_natural_plan
from imagine.domains.trip.solver import solutions, solve
from imagine.domains.trip.world import make_world

GOLDEN = [Stay("Helsinki", 1, 5), Stay("Barcelona", 5, 9), Stay("Florence", 9, 14)]
QUERY = {
    "query_id": "handmade", "days": 14, "cities": ["Florence", "Helsinki", "Barcelona"], "stays": [6, 5, 5],
    "events": [{"city": "Florence", "kind": "friend", "first_day": 9, "last_day": 14}],
    "connections": [{"city_a": "Barcelona", "city_b": "Florence"}, {"city_a": "Barcelona", "city_b": "Helsinki"},
                    {"city_a": "Florence", "city_b": "Helsinki"}],
    "golden_plan": json.dumps([s.to_dict() for s in GOLDEN]),
}
HEADER = "Here is the trip plan for visiting the 3 European cities for 14 days:\n\n"
BODY = ("**Day 1-5:** Arriving in Helsinki and visit Helsinki for 5 days.\n"
        "**Day 5:** Fly from Helsinki to Barcelona.\n"
        "**Day 5-9:** Visit Barcelona for 5 days.\n"
        "**Day 9:** Fly from Barcelona to Florence.\n"
        "**Day 9-14:** Visit Florence for 6 days.")
ALTERNATIVE = ("\n\nAlternatively:\n**Day 1-5:** Visit Barcelona for 5 days.\n**Day 5:** Fly from Barcelona to Helsinki.\n"
               "**Day 5-9:** Visit Helsinki for 5 days.\n**Day 9:** Fly from Helsinki to Florence.\n"
               "**Day 9-14:** Visit Florence for 6 days.")
OTHER_VALID = ("**Day 1-5:** Arriving in Barcelona and visit Barcelona for 5 days.\n**Day 5:** Fly from Barcelona to "
               "Helsinki.\n**Day 5-9:** Visit Helsinki for 5 days.\n**Day 9:** Fly from Helsinki to Florence.\n"
               "**Day 9-14:** Visit Florence for 6 days.")

HANDMADE = [
    # flights on days 5 and 9, last range 9-14: Helsinki 5, Barcelona 5, Florence 6 = golden.
    ("golden", HEADER + BODY, True),
    # no total stated, so no early stop; the same flights and last range.
    ("golden_without_header", BODY, True),
    # the total is stated: reading stops at the first range ending on day 14, the alternative is never read.
    ("golden_then_alternative", HEADER + BODY + ALTERNATIVE, True),
    # no total: the alternative's flights are appended (days 5, 9, 5, 9); Florence runs from day 9 to day 5: -3 days.
    ("golden_then_alternative_no_header", BODY + ALTERNATIVE, False),
    # cities compare case-sensitively: "helsinki" is not "Helsinki".
    ("lowercase_cities", HEADER + BODY.replace("from Helsinki to Barcelona", "from helsinki to barcelona")
     .replace("from Barcelona to Florence", "from barcelona to florence"), False),
    # "From" is not "from": the first flight is not read, the plan starts in Barcelona (days 1-9).
    ("capital_from", HEADER + BODY.replace("Fly from Helsinki", "Flight From Helsinki"), False),
    # the stated ranges are ignored except the last one's end: flights on days 5 and 9 still give 5, 5, 6.
    ("wrong_ranges_right_flights", HEADER + BODY.replace("Day 1-5:", "Day 1-3:").replace("Day 5-9:", "Day 6-8:"), True),
    # no total, so the extra flight is read: Helsinki 5, Barcelona 5, Florence 6, Rome 3; only 3 golden stays compared.
    ("extra_city_at_the_end", BODY + "\n**Day 14:** Fly from Florence to Rome.\n**Day 14-16:** Visit Rome for 3 days.",
     True),
    # the last range read is 5-9, so Florence runs from day 9 to day 9: 1 day.
    ("missing_last_range", HEADER + BODY.rsplit("\n", 1)[0], False),
    # greedy prefix: the last "from X to Y" of the line is the flight (Helsinki to Barcelona).
    ("two_froms_on_a_line", HEADER + BODY.replace("Fly from Helsinki", "Take a taxi from the hotel to the airport, "
                                                  "then fly from Helsinki"), True),
    # both flights on one line: only the last "Day 9 ... from Barcelona to Florence" is read; Barcelona 9 days.
    ("two_flights_on_a_line", HEADER + BODY.replace("Barcelona.\n**Day 5-9:** Visit Barcelona for 5 days.\n**Day 9:**",
                                                    "Barcelona. **Day 9:**") + "\n**Day 5-9:** Barcelona", False),
    # "1 - 5" is not "\d+-\d+": no range at all, so no plan.
    ("spaced_ranges", HEADER + BODY.replace("-", " - "), False),
    # no total: the date's "2024-06" is the last range read, so Florence runs from day 9 to day 6.
    ("trailing_date", BODY + "\nBooked on 2024-06-01.", False),
    # a valid plan, but not the golden one.
    ("other_valid_plan", HEADER + OTHER_VALID, False),
    # later flights' origins are never read: "from Paris" still lands in Florence after Barcelona.
    ("wrong_second_origin", HEADER + BODY.replace("Fly from Barcelona to Florence", "Fly from Paris to Florence"), True),
    # day ranges but no flight lines: no plan.
    ("no_flight_lines", HEADER + "**Day 1-5:** Helsinki\n**Day 5-9:** Barcelona\n**Day 9-14:** Florence", False),
]


@pytest.mark.parametrize("name, text, expected", HANDMADE, ids=[case[0] for case in HANDMADE])
def test_handmade_responses_match_the_official_verdict(name, text, expected):
    verdict = Checker("compat").score(QUERY, text)
    assert verdict.groups == {"official": {"exact_match": expected}}
    assert verdict.final_pass is expected
    golden = from_fields(*official_fields(GOLDEN))
    assert exact_match(golden, parse_official(text)) is expected


def test_our_golden_text_is_natural_plans_layout():
    assert to_official_text(GOLDEN, 14) == HEADER + BODY
    assert from_official_text(HEADER + BODY) == GOLDEN
    assert official_fields(GOLDEN) == ("Helsinki**Barcelona**Florence", "5**5**6")


def test_valid_non_golden_plan_scores_zero_but_passes_strict():
    assert solve(QUERY, cap=10).n_solutions == 2
    other = [Stay("Barcelona", 1, 5), Stay("Helsinki", 5, 9), Stay("Florence", 9, 14)]
    answer = [s.to_dict() for s in other]
    assert Checker("strict").score(QUERY, answer).final_pass
    verdict = Checker("compat").score(QUERY, answer)
    assert verdict.delivered and not verdict.final_pass
    assert verdict.reasons["exact_match"] == "stay 1 reads as Barcelona for 5 days; the golden plan has Helsinki for 5 days"
    assert Checker("compat").score(QUERY, [s.to_dict() for s in GOLDEN]).final_pass


def test_compat_is_looser_than_strict_on_json_answers():
    strict, compat = Checker("strict"), Checker("compat")
    gapped = [Stay("Helsinki", 1, 3), Stay("Barcelona", 5, 9), Stay("Florence", 9, 14)]  # flight day 5 is all it reads
    extra = GOLDEN + [Stay("Rome", 14, 16)]                                              # stays after the golden ones
    for plan in (gapped, extra):
        answer = [s.to_dict() for s in plan]
        assert compat.score(QUERY, answer).final_pass and not strict.score(QUERY, answer).final_pass
    assert not compat.score(QUERY, None).delivered
    assert not compat.score(QUERY, []).delivered


@pytest.fixture(scope="module")
def rows():
    frames, _ = generate_queries(make_world(48, 0.15, seed=0), {"seed": 5, "counts": {"train": 0, "val": 0, "test": 300}})
    return frames["test"].to_dicts()


def test_generated_goldens_round_trip_and_pass_compat(rows):
    compat = Checker("compat")
    for row in rows:
        q = TripQuery.of(row)
        assert from_official_text(row["golden_text"]) == list(q.golden)
        assert compat.score(row, json.loads(row["golden_plan"])).final_pass
        assert compat.score(row, row["golden_text"]).final_pass
        record = to_natural_plan(row)
        assert exact_match(from_fields(record["cities"], record["durations"]), parse_official(record["golden_plan"]))


def test_every_other_valid_plan_scores_zero(rows):
    strict, compat = Checker("strict"), Checker("compat")
    tested = 0
    for row in rows:
        if row["n_solutions"] < 2:
            continue
        golden = json.loads(row["golden_plan"])
        for plan in solutions(row, limit=5):
            answer = [s.to_dict() for s in plan]
            if answer == golden:
                continue
            assert strict.score(row, answer).final_pass
            assert not compat.score(row, answer).final_pass
            tested += 1
    assert tested >= 50
