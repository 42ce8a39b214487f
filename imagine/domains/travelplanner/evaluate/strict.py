"""`strict` mode: the same 8 + 5 checks with the official evaluator's defects fixed.

Used by the judges, the filter, the reward and our own evaluation, so a policy cannot learn the
exploits. Differences from `compat`: entities match exactly by (name, city) among all sandbox rows;
flights must fly that route on that day's date (and at the stated times); every entity's city is
compared whole with the day's cities; a 1-city trip must go to its destination; transport modes are
read case-insensitively with their variants (`Driving`, `self driving`, `cab`...), and unknown ones
are not in the sandbox; the plan needs exactly `days` days, each a dict of strings; a field of the
wrong type fails `is_not_absent` instead of crashing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter

from imagine.domains.travelplanner.evaluate.index import PARSE_MEMO, SandboxIndex, city_name, parse_entity
from imagine.domains.travelplanner.plan import DAY_NUMBER_KEYS, MEALS
from imagine.domains.travelplanner.sandbox import ROOM_TYPE_OK

_TRAVEL = re.compile(r"^\s*from\s+(.+?)\s+to\s+(.+?)\s*$", re.IGNORECASE | re.DOTALL)
_FLIGHT_NUMBER = re.compile(r"flight\s*number\s*:\s*([A-Za-z0-9]+)", re.IGNORECASE)
_ROUTE = re.compile(r"from\s+(.+?)\s+to\s+([^,]+)", re.IGNORECASE)
_DEPART = re.compile(r"departure\s+time\s*:\s*(\d{1,2}:\d{2})", re.IGNORECASE)
_ARRIVE = re.compile(r"arrival\s+time\s*:\s*(\d{1,2}:\d{2})", re.IGNORECASE)
_SELF_DRIVING = ("self-driving", "self driving", "selfdriving", "driving", "drive", "car")
_TAXI = ("taxi", "cab")
TEXT_FIELDS = ("current_city", "transportation", *MEALS, "attraction", "accommodation")


@dataclass(frozen=True, slots=True)
class Transport:
    mode: str | None  # 'flight' | 'self-driving' | 'taxi' | None (unknown)
    origin: str | None
    dest: str | None
    number: str | None = None
    dep_time: str | None = None
    arr_time: str | None = None


@lru_cache(maxsize=PARSE_MEMO)
def parse_transport(text: str) -> Transport:
    route = _ROUTE.search(text)
    origin, dest = (city_name(route.group(1)), city_name(route.group(2))) if route else (None, None)
    head = text.lower().split(",", 1)[0]  # the mode is named before the first comma
    if "flight" in head:
        number = _FLIGHT_NUMBER.search(text)
        depart, arrive = _DEPART.search(text), _ARRIVE.search(text)
        return Transport("flight", origin, dest, number.group(1) if number else None,
                         depart.group(1) if depart else None, arrive.group(1) if arrive else None)
    if any(word in head for word in _TAXI):
        return Transport("taxi", origin, dest)
    if any(word in head for word in _SELF_DRIVING):
        return Transport("self-driving", origin, dest)
    return Transport(None, origin, dest)


def _blank(value) -> bool:
    return value in ("", "-")


@lru_cache(maxsize=PARSE_MEMO)
def _current_city(text: str) -> tuple[tuple[str, ...], bool]:
    """current_city -> (its cities, whether it is a travel day 'from A to B')."""
    travel = _TRAVEL.match(text)
    return ((city_name(travel.group(1)), city_name(travel.group(2))), True) if travel else ((city_name(text),), False)


@lru_cache(maxsize=PARSE_MEMO)
def _attraction_list(text: str) -> tuple[str, ...]:
    return () if _blank(text) else tuple(p.strip() for p in text.split(";") if p.strip())


_FIELDS = itemgetter(*TEXT_FIELDS)
_TEXT = (str,) * len(TEXT_FIELDS)
_OFFICIAL_NUMBER, _LEADERBOARD_NUMBER = DAY_NUMBER_KEYS  # `days` wins when a day has both


@dataclass(slots=True)
class Day:
    """One day of a plan, read once; `problem` says why it is malformed (None when fine)."""

    index: int
    cities: tuple[str, ...]
    travel: bool
    problem: str | None
    meals: list[tuple[str, str]]  # (meal, text) for each meal filled in
    attractions: tuple[str, ...]
    stay: str | None
    transport: Transport | None
    filled: int  # fields other than current_city that are filled in

    @classmethod
    def read(cls, index: int, raw) -> "Day":
        if not isinstance(raw, dict):
            return cls(index, (), False, f"day {index + 1} is not an object", [], (), None, None, 0)
        try:
            values = _FIELDS(raw)
        except KeyError:  # a field is missing: the problem below names it
            values = tuple(map(raw.get, TEXT_FIELDS))
        problem = None
        if not all(map(isinstance, values, _TEXT)):
            wrong = [key for key, value in zip(TEXT_FIELDS, values) if not isinstance(value, str)]
            problem = f"day {index + 1} field(s) {wrong} missing or not text"
            values = [value if isinstance(value, str) else "-" for value in values]
        else:
            number = raw[_OFFICIAL_NUMBER] if _OFFICIAL_NUMBER in raw else raw.get(_LEADERBOARD_NUMBER)
            if number is not None and str(number).strip() != str(index + 1):
                problem = f"day {index + 1} is numbered {number!r}"
        current, transport, breakfast, lunch, dinner, attraction, stay = values
        meals = [(meal, text) for meal, text in zip(MEALS, (breakfast, lunch, dinner)) if text and text != "-"]
        transport = None if _blank(transport) else parse_transport(transport)
        stay = None if _blank(stay) else stay
        filled = (transport is not None) + len(meals) + (not _blank(attraction)) + (stay is not None)
        return cls(index, *_current_city(current), problem, meals, _attraction_list(attraction), stay, transport, filled)


@lru_cache(maxsize=PARSE_MEMO)
def _key(text: str) -> tuple[str, str] | str:
    """What makes two places the same place: name and city, case-insensitive."""
    entity = parse_entity(text)
    return (entity[0].casefold(), entity[1].casefold()) if entity else text.strip().casefold()


def _city_route(days: list[Day]) -> list[str]:
    route: list[str] = []
    for day in days:
        route += day.cities
    return route


def _valid_sequence(cities: list[str]) -> bool:
    """Each city between the ends is one block of >= 2 entries, never revisited."""
    blocks: list[tuple[str, int]] = []
    for city in cities:
        if blocks and blocks[-1][0] == city:
            blocks[-1] = (city, blocks[-1][1] + 1)
        else:
            blocks.append((city, 1))
    middle = blocks[1:-1]
    names = [city for city, _ in middle]
    return (len(cities) >= 3 and all(count >= 2 for _, count in middle)
            and len(set(names)) == len(names) and blocks[0][0] not in names)


# --- the 8 commonsense checks ---------------------------------------------------------------------


def reasonable_visiting_city(q, days: list[Day], ix: SandboxIndex):
    cities = _city_route(days)
    if not cities or cities[0] != q["org"]:
        return False, f"the trip must start from {q['org']}"
    if cities[-1] != q["org"]:
        return False, f"the trip must end in {q['org']}"
    if not _valid_sequence(cities):
        return False, "the city sequence is invalid"
    for city in cities:
        if city not in ix.city_state:
            return False, f"{city} is not a known city"
    for city in cities[1:-1]:
        if q["visiting_city_number"] == 1 and city != q["dest"]:
            return False, f"{city} is not the destination {q['dest']}"
        if q["visiting_city_number"] > 1 and ix.city_state[city] != q["dest"]:
            return False, f"{city} is not in {q['dest']}"
    return True, None


def _first_repeat(visits: list[tuple[Day, str, str]]):
    """(verdict, reason) for (day, label, text) visits: fails at the first place seen twice."""
    keys = [_key(text) for _, _, text in visits]
    if len(set(keys)) == len(keys):
        return True, None
    day, label, text = visits[next(i for i, key in enumerate(keys) if key in keys[:i])]
    return False, f"day {day.index + 1} {label} repeats {text!r}"


def valid_restaurants(q, days, ix):
    return _first_repeat([(day, meal, text) for day in days for meal, text in day.meals])


def valid_attractions(q, days, ix):
    return _first_repeat([(day, "attraction", text) for day in days for text in day.attractions])


def valid_accommodation(q, days, ix):
    runs: list[list] = []
    for day in days:
        key = _key(day.stay) if day.stay else None
        if runs and key is not None and runs[-1][0] == key:
            runs[-1][1] += 1
        else:
            runs.append([key, 1, day.stay])
    hotels = ix.entities["accommodations"]
    for key, nights, text in runs:
        row = hotels[text] if text else None
        if row is not None and nights < row["minimum_nights"]:
            return False, f"{text} needs at least {row['minimum_nights']} nights, got {nights}"
    return True, None


def valid_transportation(q, days, ix):
    if not days or days[0].transport is None:
        return False, "day 1 has no transportation"
    modes = {day.transport.mode for day in days if day.transport}
    if "self-driving" in modes and modes & {"flight", "taxi"}:
        return False, "self-driving conflicts with " + " and ".join(sorted(modes & {"flight", "taxi"}))
    return True, None


def valid_information_in_current_city(q, days, ix):
    for day in days:
        n = day.index + 1
        transport = day.transport
        if transport is not None:
            if not day.travel:
                return False, f"day {n} has transportation but is not a travel day"
            if (transport.origin, transport.dest) != day.cities:
                return False, f"day {n} transportation does not go from {day.cities[0]} to {day.cities[1]}"
        for meal, text in day.meals:
            entity = parse_entity(text)
            if entity is None or entity[1] not in day.cities:
                return False, f"day {n} {meal} {text!r} is not in {' or '.join(day.cities)}"
        for text in day.attractions:
            entity = parse_entity(text)
            if entity is None or entity[1] not in day.cities:
                return False, f"day {n} attraction {text!r} is not in {' or '.join(day.cities)}"
        if day.stay:
            entity = parse_entity(day.stay)
            if entity is None or entity[1] != day.cities[-1]:
                return False, f"day {n} accommodation {day.stay!r} is not in {day.cities[-1]}"
    return True, None


def valid_information_in_sandbox(q, days, ix):
    restaurants, attractions, hotels = (ix.entities[t] for t in ("restaurants", "attractions", "accommodations"))
    for day in days:
        n = day.index + 1
        transport = day.transport
        if transport is not None:
            if transport.mode == "flight":
                date = q["date"][day.index] if day.index < len(q["date"]) else None
                found = ix.flights.find(transport.number, transport.origin, transport.dest, date) if transport.number else None
                if found is None:
                    return False, f"day {n} flight {transport.number} from {transport.origin} to {transport.dest} on {date} is not in the sandbox"
                for stated, actual, label in ((transport.dep_time, found.dep_time, "departure"),
                                              (transport.arr_time, found.arr_time, "arrival")):
                    if stated is not None and stated.zfill(5) != actual:
                        return False, f"day {n} flight {found.number} {label} time is {actual}, not {stated}"
            elif transport.mode is None:
                return False, f"day {n} transportation mode is not flight, self-driving or taxi"
            elif ix.ground_cost(transport.origin, transport.dest, transport.mode) is None:
                return False, f"day {n} {transport.mode} from {transport.origin} to {transport.dest} is not in the sandbox"
        for meal, text in day.meals:
            if restaurants[text] is None:
                return False, f"day {n} {meal} {text!r} is not in the sandbox"
        for text in day.attractions:
            if attractions[text] is None:
                return False, f"day {n} attraction {text!r} is not in the sandbox"
        if day.stay and hotels[day.stay] is None:
            return False, f"day {n} accommodation {day.stay!r} is not in the sandbox"
    return True, None


def not_absent(q, days, ix, plan_length: int):
    if plan_length != q["days"]:
        return False, f"the plan has {plan_length} days, the trip {q['days']}"
    for day in days:
        if day.problem:
            return False, day.problem
    visited = set(_city_route(days)) - {q["org"]}
    if len(visited) != q["visiting_city_number"]:
        return False, f"the plan visits {len(visited)} cities, the query asks for {q['visiting_city_number']}"
    filled = 0
    for day in days:
        n = day.index + 1
        if day.travel and day.transport is None:
            return False, f"day {n} travels without transportation"
        if not day.travel and not day.attractions:
            return False, f"day {n} has no attraction"
        if not day.travel and len(day.meals) < 3:
            return False, f"day {n} misses a meal"
        if day.index != q["days"] - 1 and day.stay is None:
            return False, f"day {n} has no accommodation"
        filled += day.filled
    if filled / (6 * q["days"]) < 0.5:
        return False, "more than half of the information is absent"
    return True, None




# --- the 5 hard checks (only run on plans that are complete and in the sandbox) -------------------


def _stays(days, ix):
    hotels = ix.entities["accommodations"]
    return [(day, hotels[day.stay]) for day in days if day.stay]


def total_cost(q, days, ix) -> float:
    people, dates = q["people_number"], q["date"]
    restaurants, hotels = ix.entities["restaurants"], ix.entities["accommodations"]
    total = 0.0
    for day in days:
        transport = day.transport
        if transport is not None and transport.mode is not None:
            if transport.mode == "flight":
                date = dates[day.index] if day.index < len(dates) else None
                found = ix.flights.find(transport.number, transport.origin, transport.dest, date)
                total += found.price * people if found else 0
            else:
                per = 5 if transport.mode == "self-driving" else 4  # people per car / per taxi
                total += (ix.ground_cost(transport.origin, transport.dest, transport.mode) or 0) * math.ceil(people / per)
        for _, text in day.meals:
            total += restaurants[text]["average_cost"] * people
        if day.stay:
            row = hotels[day.stay]
            total += row["price"] * math.ceil(people / row["max_occupancy"])
    return total


def valid_room_rule(q, days, ix):
    rule = q["local_constraint"]["house rule"]
    if rule is None:
        return None, None
    for day, row in _stays(days, ix):
        if f"No {rule}" in (row["house_rules"] or ""):
            return False, f"day {day.index + 1} accommodation forbids {rule}"
    return True, None


@lru_cache(maxsize=PARSE_MEMO)
def _cuisines(text: str) -> frozenset[str]:
    """A restaurant's 'Chinese, Pizza, Cafe' as a set of names."""
    return frozenset(c.strip() for c in text.split(","))


def valid_cuisine(q, days, ix):
    wanted = q["local_constraint"]["cuisine"]
    if not wanted:
        return None, None
    served, restaurants = set(), ix.entities["restaurants"]
    for day in days:
        for _, text in day.meals:
            row = restaurants[text]
            if row["city"] != q["org"]:
                served |= _cuisines(row["cuisines"])
    missing = [c for c in wanted if c not in served]
    return (False, f"cuisine(s) {', '.join(missing)} not served") if missing else (True, None)


def valid_room_type(q, days, ix):
    wanted = q["local_constraint"]["room type"]
    if wanted is None:
        return None, None
    for day, row in _stays(days, ix):
        if not ROOM_TYPE_OK[wanted](row["room_type"]):
            return False, f"day {day.index + 1} accommodation is a {row['room_type']}, not a {wanted}"
    return True, None


def valid_transportation_constraint(q, days, ix):
    rule = q["local_constraint"]["transportation"]
    if rule is None:
        return None, None
    banned = {"no flight": "flight", "no self-driving": "self-driving"}.get(rule)
    for day in days:
        if day.transport is not None and day.transport.mode == banned:
            return False, f"day {day.index + 1} uses {banned} ({rule})"
    return True, None
