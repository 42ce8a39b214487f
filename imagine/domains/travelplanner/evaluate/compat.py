"""`compat` mode: the official TravelPlanner evaluator's verdicts, its known defects included.

Mirrors `evaluation/commonsense_constraint.py` and `evaluation/hard_constraint.py` of the official
repository (OSU-NLP-Group/TravelPlanner; functions named by their official names in `scorer.py`),
so numbers compare with published ones. The defects it keeps, each with a test in
tests/test_evaluate.py naming the official function it reproduces:
- entity names match by substring, among rows with no empty cell (the official loaders drop those);
- flight dates are not checked, only number and route (and the price is the number's first row);
- on a non-travel day the current-city check compares single characters of the city name (the
  official code iterates over a string where it meant a list), so it almost never fails;
- a 3-day trip's destination is not checked; transport modes are matched by substring, so
  `Driving` dodges the conflict check and the hard transport check is case-sensitive;
- a meal in the origin city makes the cuisine check skip the rest of that day;
- attractions are split on ';' and the last piece is dropped, so one without a trailing ';' is ignored;
- days beyond the trip's length are never read.
The five house rules (`parties` included) are all checked, as `is_valid_room_rule` does.
Where the official code raises (a misspelt flight string, a null field), or returns no verdict
that its `eval.py` then fails on (a repeated cuisine), the check fails here with the reason
`crashes the official evaluator`: one bad plan never stops a run.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from imagine.domains.travelplanner.evaluate.index import PARSE_MEMO, SandboxIndex
from imagine.domains.travelplanner.plan import MEALS
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK

CRASH = "crashes the official evaluator"  # the reason of a check the official code cannot finish
_FROM_TO = re.compile(r"from\s+(.+?)\s+to\s+([^,]+)")
_NOT_NEEDED = "You don't need to fill in the information for this or later days."
_NEEDED_IN_ORDER = ("transportation", *MEALS, "attraction", "accommodation")  # is_not_absent's order
_NEEDED = frozenset(_NEEDED_IN_ORDER)


@lru_cache(maxsize=PARSE_MEMO)
def from_to(text: str) -> tuple[str | None, str | None]:
    match = _FROM_TO.search(text)
    return (match.group(1), match.group(2)) if match else (None, None)


@lru_cache(maxsize=PARSE_MEMO)
def before_paren(text: str) -> str:
    """'Salt Lake City(Utah)' -> 'Salt Lake City': the text before the first '(' closed later on."""
    cut = text.find("(")
    if cut != -1 and ")" in text[cut:] and "\n" not in text[:cut]:
        return text[:cut]
    return text


@lru_cache(maxsize=PARSE_MEMO)
def name_city(text: str) -> tuple[str, str]:
    """'Name, City' split at the last comma; ('-', '-') when there is no usable comma."""
    head, comma, tail = text.rpartition(",")
    if not comma or not tail:
        return "-", "-"
    return head.rsplit("\n", 1)[-1].strip(), before_paren(tail.strip()).strip()


@lru_cache(maxsize=PARSE_MEMO)
def _leg(transport: str, current: str) -> tuple[str | None, str | None, str | None]:
    """(mode, origin, dest) of a day's transportation as the official sandbox and cost code read it.

    mode: 'flight' when it names a flight number, else 'self-driving', else 'taxi', else None (never
    looked up nor priced); the cities of 'from A to B' in it, else in current_city, else None."""
    lowered = transport.lower()
    mode = ("flight" if "flight number" in lowered else "self-driving" if "self-driving" in lowered
            else "taxi" if "taxi" in lowered else None)
    origin, dest = from_to(transport)
    if origin is None or dest is None:
        origin, dest = from_to(current)
    return mode, origin, dest


# `(value := day.get(key)) and value != "-"` below is the official `key in unit and unit[key] and
# unit[key] != '-'`: the field is there and filled in.


@lru_cache(maxsize=PARSE_MEMO)
def _attraction_pieces(text: str) -> tuple[str, ...]:
    """The official `split(';')[:-1]`: the piece after the last ';' is dropped."""
    return tuple(text.split(";")[:-1])


@lru_cache(maxsize=PARSE_MEMO)
def _mode(text: str) -> str | None:
    """The mode the official conflict check sees (taxi before self-driving before flight)."""
    lowered = text.lower()
    if "taxi" in lowered:
        return "taxi"
    if "self-driving" in lowered:
        return "self-driving"
    if "flight" in lowered:
        return "flight"
    return None


@lru_cache(maxsize=PARSE_MEMO)
def _flight_number(text: str) -> str:
    """The official `split('Flight Number: ')[1].split(',')[0]`: an IndexError for other spellings."""
    return text.split("Flight Number: ")[1].split(",")[0]


@lru_cache(maxsize=PARSE_MEMO)
def _travel_cities(text: str) -> tuple[str, ...]:
    """Cities named by a 'from A to B' current_city, else the single city."""
    if "from" in text:
        origin, dest = from_to(text)
        return before_paren(origin), before_paren(dest)
    return (before_paren(text),)


def _official(ix: SandboxIndex, table: str):
    """Plan 'Name, City' string -> the rows the official lookup finds (a memo kept on the index)."""
    return ix.memo("compat:" + table, lambda text: ix.containing(table, *name_city(text)))


@lru_cache(maxsize=PARSE_MEMO)
def _mentions(cities: tuple[str, ...] | str, text: str) -> bool:
    """Whether `text` contains one of `cities`; for a string, one of its characters."""
    return any(city in text for city in cities)


def _valid_sequence(cities: list[str]) -> bool:
    """Each city in the middle of the trip is visited as one block of >= 2 entries, never revisited."""
    if len(cities) < 3:
        return False
    seen: set[str] = set()
    last = len(cities) - 1
    i = 0
    while i <= last:
        city = cities[i]
        if city in seen and i not in (0, last):
            return False
        start = i
        while i <= last and cities[i] == city:
            i += 1
        if i - start == 1 and 0 < start < last:
            return False
        seen.add(city)
    return True


# --- the 8 commonsense checks: each returns (passed, reason) ------------------------------------


def _route(q, plan) -> tuple[list[str] | None, str | None]:
    """The cities of each day in order, or None and why when day 1 leaves from elsewhere."""
    cities: list[str] = []
    for i, day in enumerate(plan):
        pair = _travel_cities(day["current_city"])
        if i == 0 and len(pair) == 2 and pair[0] != q["org"]:
            return None, f"day 1 must leave from {q['org']}"
        cities += pair
    return cities, None


def reasonable_visiting_city(q, plan, ix: SandboxIndex):
    cities, problem = _route(q, plan)
    if cities is None:
        return False, problem
    if cities[0] != cities[-1]:
        return False, "the trip is not a closed loop"
    if not _valid_sequence(cities):
        return False, "the city sequence is invalid"
    for k, city in enumerate(cities):
        if city not in ix.city_state:
            return False, f"{city} is not a known city"
        if k not in (0, len(cities) - 1) and q["days"] > 3 and ix.city_state[city] != q["dest"]:
            return False, f"{city} is not in {q['dest']}"
    return True, None


def valid_restaurants(q, plan, ix):
    seen = []
    for i, day in enumerate(plan):
        for meal in MEALS:
            if (text := day.get(meal)) and text != "-":
                if text in seen:
                    return False, f"day {i + 1} {meal} repeats a restaurant"
                seen.append(text)
    return True, None


def valid_attractions(q, plan, ix):
    seen = []
    for i, day in enumerate(plan):
        if (text := day.get("attraction")) and text != "-":
            for attraction in _attraction_pieces(text):
                if attraction in seen:
                    return False, f"day {i + 1} repeats attraction {attraction!r}"
                seen.append(attraction)
    return True, None


def valid_accommodation(q, plan, ix):
    stays = []
    for day in plan:
        if "accommodation" not in day:
            return False, "no accommodation field"
        stays.append(day["accommodation"])
    runs: list[list] = []
    for stay in stays:
        if runs and runs[-1][0] == stay:
            runs[-1][1] += 1
        else:
            runs.append([stay, 1])
    hotels = _official(ix, "accommodations")
    for stay, nights in runs:
        if stay not in ("-", ""):
            rows = hotels[stay]
            if len(rows) == 1 and nights < rows[0]["minimum_nights"]:
                return False, f"{stay} needs at least {rows[0]['minimum_nights']} nights, got {nights}"
    return True, None


def valid_transportation(q, plan, ix):
    first = plan[0]["transportation"]
    if not first or first == "-":
        return False, "day 1 has no transportation"
    modes = [_mode(first)] + [_mode(text) for day in plan if (text := day.get("transportation")) and text != "-"]
    if "self-driving" in modes and ("flight" in modes or "taxi" in modes):
        return False, "conflicting transportation"
    return True, None


def valid_information_in_current_city(q, plan, ix):
    for i, day in enumerate(plan):
        current = day["current_city"]
        # The official code keeps a non-travel day's city as a string and loops over its characters.
        cities = _travel_cities(current) if "from" in current else before_paren(current)
        if (text := day.get("transportation")) and text != "-":
            for city in cities:
                if city not in text:
                    return False, f"day {i + 1} transportation is not in the current city"
        for meal in MEALS:
            if (text := day.get(meal)) and text != "-" and not _mentions(cities, text):
                return False, f"day {i + 1} {meal} is not in the current city"
        if (text := day.get("attraction")) and text != "-":
            for attraction in _attraction_pieces(text):
                if not _mentions(cities, attraction):
                    return False, f"day {i + 1} attraction is not in the current city"
        if (text := day.get("accommodation")) and text != "-" and cities[-1] not in text:
            return False, f"day {i + 1} accommodation is not in the current city"
    return True, None


def valid_information_in_sandbox(q, plan, ix):
    restaurants, attractions, hotels = (_official(ix, t) for t in ("restaurants", "attractions", "accommodations"))
    for i, day in enumerate(plan):
        transport = day["transportation"]
        if transport and transport != "-":
            mode, origin, dest = _leg(transport, day["current_city"])
            if mode == "flight":
                number = _flight_number(transport)
                if ix.flights.find(number, before_paren(origin), before_paren(dest)) is None:
                    return False, f"day {i + 1} flight {number} is not in the sandbox"
            elif mode is not None:
                # Unparseable cities: the official code looks up the route '-' to '-' (never found).
                origin, dest = (before_paren(origin), before_paren(dest)) if None not in (origin, dest) else ("-", "-")
                if ix.ground_cost(origin, dest, mode) is None:
                    return False, f"day {i + 1} {mode} is not in the sandbox"
        for meal in MEALS:
            if (text := day.get(meal)) and text != "-" and not restaurants[text]:
                return False, f"day {i + 1} {meal} is not in the sandbox"
        if (text := day.get("attraction")) and text != "-":
            for attraction in _attraction_pieces(text):
                if not attractions[attraction]:
                    return False, f"day {i + 1} attraction {attraction!r} is not in the sandbox"
        if (text := day.get("accommodation")) and text != "-" and not hotels[text]:
            return False, f"day {i + 1} accommodation is not in the sandbox"
    return True, None


def not_absent(q, plan, ix):
    days = q["days"]
    filled_days = sum(1 for day in plan if day != {} and day["current_city"] != _NOT_NEEDED)
    if filled_days != days:
        return False, f"the plan should have {days} days"
    cities, problem = _route(q, plan)
    if cities is None:
        return False, problem
    visited = set(cities) - {q["org"]}
    if len(visited) != q["visiting_city_number"]:
        return False, f"the plan should visit {q['visiting_city_number']} cities"
    filled = 0
    for i, day in enumerate(plan):
        if not _NEEDED <= day.keys():
            return False, f"day {i + 1} has no {next(key for key in _NEEDED_IN_ORDER if key not in day)}"
        current = day["current_city"]
        if ("from " in current or "to " in current) and day["transportation"] in ("", "-"):
            return False, f"day {i + 1} travels without transportation"
        if "from " not in current and " to " not in current and day["attraction"] in ("", "-"):
            return False, f"day {i + 1} has no attraction"
        if i != days - 1 and day["accommodation"] in ("", "-"):
            return False, f"day {i + 1} has no accommodation"
        if "from " not in current and (day["breakfast"] in ("", "-") or day["lunch"] in ("", "-")
                                       or day["dinner"] in ("", "-")):
            return False, f"day {i + 1} misses a meal"
        filled += len([value for value in day.values() if value and value != "-"])
    if filled / (6 * days) < 0.5:
        return False, "more than half of the information is absent"
    return True, None




# --- the 5 hard checks ----------------------------------------------------------------------------


def total_cost(q, plan, ix) -> float:
    people = q["people_number"]
    restaurants, hotels = _official(ix, "restaurants"), _official(ix, "accommodations")
    total = 0.0
    for day in plan:
        transport = day["transportation"]
        if transport and transport != "-":
            mode, origin, dest = _leg(transport, day["current_city"])
            if origin is None or dest is None:
                pass
            elif mode == "flight":
                flights = ix.flights.numbered(_flight_number(transport))
                if flights:
                    total += flights[0].price * people
            elif mode is not None:
                per = 5 if mode == "self-driving" else 4  # people per car / per taxi
                total += ix.ground_cost(before_paren(origin), before_paren(dest), mode) * math.ceil(people / per)
        for meal in MEALS:
            if day[meal] and day[meal] != "-":
                rows = restaurants[day[meal]]
                if rows:
                    total += rows[0]["average_cost"] * people
        if day["accommodation"] and day["accommodation"] != "-":
            rows = hotels[day["accommodation"]]
            if rows:
                total += rows[0]["price"] * math.ceil(people / rows[0]["max_occupancy"])
    return total


def valid_room_rule(q, plan, ix):
    rule = q["local_constraint"]["house rule"]
    if rule is None:
        return None, None
    hotels = _official(ix, "accommodations")
    for i, day in enumerate(plan):
        if day["accommodation"] and day["accommodation"] != "-":
            rows = hotels[day["accommodation"]]
            if rows and f"No {rule}" in str(rows[0]["house_rules"]):
                return False, f"day {i + 1} accommodation forbids {rule}"
    return True, None


@lru_cache(maxsize=PARSE_MEMO)
def _offered(asked: tuple[str, ...], cuisines: str) -> frozenset[str]:
    """The asked cuisines a restaurant's cuisines text names (by substring, as the official code)."""
    return frozenset(c for c in asked if c in cuisines)


def valid_cuisine(q, plan, ix):
    wanted = q["local_constraint"]["cuisine"]
    if not wanted:
        return None, None
    found, asked = set(), tuple(wanted)
    for day in plan:
        for meal in MEALS:
            if day[meal] and day[meal] != "-":
                name, city = name_city(day[meal])
                if city == q["org"]:
                    break  # the official code skips the rest of the day here
                rows = ix.containing("restaurants", name, city)
                if rows:
                    found |= _offered(asked, rows[0]["cuisines"])
    if len(found) == len(wanted):
        return True, None
    missing = [c for c in wanted if c not in found]
    if missing:
        return False, f"cuisine {missing[0]} is not served"
    # Every cuisine served, yet fewer than asked: a repeated one. The official function then falls
    # off its end and returns None, which its eval.py indexes and crashes on.
    return False, f"{CRASH} (is_valid_cuisine returns no verdict: the query repeats a cuisine)"


def valid_room_type(q, plan, ix):
    wanted = q["local_constraint"]["room type"]
    if wanted is None:
        return None, None
    hotels = _official(ix, "accommodations")
    for i, day in enumerate(plan):
        if day["accommodation"] and day["accommodation"] != "-":
            rows = hotels[day["accommodation"]]
            if rows and not ROOM_TYPE_OK[wanted](rows[0]["room_type"]):
                return False, f"day {i + 1} accommodation is not a {wanted}"
    return True, None


def valid_transportation_constraint(q, plan, ix):
    rule = q["local_constraint"]["transportation"]
    if rule is None:
        return None, None
    banned = {"no flight": "Flight", "no self-driving": "Self-driving"}.get(rule)
    for i, day in enumerate(plan):
        transport = day["transportation"]
        if transport and transport != "-" and banned and banned in transport:
            return False, f"day {i + 1} uses {banned.lower()} ({rule})"
    return True, None
