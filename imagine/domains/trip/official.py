"""Natural Plan's official Trip Planning scorer, as we read `evaluate_trip_planning.py` (our own code).

How the official script reads a free-text response, line by line (split on "\\n" only):

1. a line containing "European cities for N days" sets the trip's total to N (the golden plans open
   with "Here is the trip plan for visiting the 3 European cities for 14 days:");
2. the first "a-b" digit pair on a line is a day range; when its end equals that total, reading
   stops at once (so later alternative plans are ignored, and so is a flight on that same line);
3. a line matching `.*Day (\\d+).*from (\\w+) to (\\w+)` is a flight: with the greedy prefix it takes
   the LAST "Day N" that has a "from X to Y" after it, and the last "from X to Y" of the line;
   `\\w+` reads one word, so "San Francisco" is read as "San"; "Day" and "from" are case-sensitive.

The plan is then rebuilt from the flights alone: the cities are the first flight's origin followed by
every flight's destination (later flights' origins are never read), and the stay in city i runs from
flight day i to flight day i+1 (day 1 before the first flight, the end of the LAST day range read
after the last one), both days counted. The stated day ranges are otherwise ignored. No range, no
flight: an empty plan.

Exact match compares that plan with the golden (city, days) list position by position from the
start and stops at the first difference; it scores 1 only when every golden stay matched. Stays
after the golden plan's last one are never compared, so a plan with an extra city at the end still
scores 1. City names compare exactly (case-sensitive).
"""

from __future__ import annotations

import re

_TOTAL = re.compile(r"European cities for (\d+) days")
_RANGE = re.compile(r"\d+-\d+")
_FLIGHT = re.compile(r".*Day (\d+).*from (\w+) to (\w+)")


def parse_official(text) -> list[tuple[str, int]]:
    """The official reading of a response: [(city, days), ...] in order; [] when it reads no plan."""
    if not isinstance(text, str):
        return []
    total = None
    ranges: list[str] = []
    flights: list[tuple[str, str, str]] = []
    for line in text.split("\n"):
        stated = _TOTAL.search(line)
        if stated:
            total = int(stated.group(1))
        span = _RANGE.search(line)
        if span:
            ranges.append(span.group(0))
            if total is not None and int(span.group(0).split("-")[1]) == total:
                break
        flight = _FLIGHT.search(line)
        if flight:
            flights.append(flight.groups())
    if not ranges or not flights:
        return []
    cities = [flights[0][1]] + [dest for _, _, dest in flights]
    bounds = [1] + [int(day) for day, _, _ in flights] + [int(ranges[-1].split("-")[1])]
    return [(city, bounds[i + 1] - bounds[i] + 1) for i, city in enumerate(cities)]


def flight_bounds(text) -> list[tuple[str, int, int]]:
    """Like `parse_official`, with each stay's first and last day: [(city, first, last), ...]."""
    plan = parse_official(text)
    out, day = [], 1
    for city, days in plan:
        out.append((city, day, day + days - 1))
        day = day + days - 1
    return out


def exact_match(golden: list[tuple[str, int]], parsed: list[tuple[str, int]]) -> bool:
    """The official example score (True = 1.0): the golden stays must all match, from the first."""
    if not golden:
        raise ValueError("the golden plan is empty (the official script divides by its length)")
    matched = 0
    for (city, days), (got_city, got_days) in zip(golden, parsed):
        if city != got_city or days != got_days:
            break
        matched += 1
    return matched == len(golden)


def official_fields(stays) -> tuple[str, str]:
    """Natural Plan's golden fields of a plan: ("A**B**C", "5**5**6") (cities, durations)."""
    return "**".join(s.city for s in stays), "**".join(str(s.days) for s in stays)


def from_fields(cities: str, durations: str) -> list[tuple[str, int]]:
    """The golden (city, days) list the official script builds from those fields."""
    names = [c for c in cities.split("**") if c]
    days = [int(d) for d in durations.split("**") if d]
    return list(zip(names, days))
