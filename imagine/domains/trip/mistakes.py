"""The Reasoner's realistic mistakes: each kind edits a plan so that exactly its check newly fails.

| kind                 | what the reasoner does                                         | check it breaks              |
|----------------------|----------------------------------------------------------------|------------------------------|
| missing_connection   | takes an order with a leg that has no direct flight (it believes the flight exists) | direct_flights |
| event_outside_window | takes an order that puts an event city on other days (it misreads the window) | events        |
| repeated_city        | reads one city as another it already visits, so that city comes twice | each_city_once         |
| wrong_stay_length    | misreads one city's stay and takes the difference from its neighbour | stay_lengths            |
| wrong_total          | forgets that one flight day counts for both cities (and misreads the total to match) | total_days (and contiguous_stays) |
| malformed_json       | the answer stops mid-JSON                                      | none: no readable answer     |

An injector tries candidate edits in a seeded random order and keeps the first one under which its
check newly fails, every check failing before still fails, and nothing else newly fails (only
`wrong_total` also breaks `contiguous_stays`: a forgotten shared day is a gap). Mistakes stack in the
order above; a kind that finds no such edit (or whose check already fails) is not applied, so the
recorded `injected` kinds are exactly the mistakes in the answer. Each records what the reasoner
believes in `Beliefs`, so the narration reasons as if the mistake were right.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from imagine.domains.trip.checker import strict_checks
from imagine.domains.trip.itinerary import Stay, TripQuery, pair

INTENDED_CHECK = {
    "missing_connection": "direct_flights",
    "event_outside_window": "events",
    "repeated_city": "each_city_once",
    "wrong_stay_length": "stay_lengths",
    "wrong_total": "total_days",
    "malformed_json": None,  # the output has no readable answer
}
ALSO_BREAKS = {"wrong_total": {"contiguous_stays"}}
MISTAKES = tuple(INTENDED_CHECK)
# Rates per attempt; a kind applies only where a clean edit exists (event_outside_window: about a
# quarter of queries, the others 85-100%), so the default Reasoner passes about 65% of queries.
DEFAULT_MISTAKES = {
    "missing_connection": 0.1, "event_outside_window": 0.3, "repeated_city": 0.05,
    "wrong_stay_length": 0.1, "wrong_total": 0.08, "malformed_json": 0.02,
}
# The mistake whose edit re-creates a failing check (the reflector's "missed" error).
KIND_OF_CHECK = {check: kind for kind, check in INTENDED_CHECK.items() if check}
KIND_OF_CHECK["contiguous_stays"] = "wrong_total"


@dataclass
class Beliefs:
    """What the reasoner believes where it differs from the request."""

    stays: dict[str, int] = field(default_factory=dict)        # city -> the stay it read
    squeezed: dict[str, int] = field(default_factory=dict)     # city -> days it gave it to fit the total
    flights: set[tuple[str, str]] = field(default_factory=set)  # direct flights it believes exist
    windows: dict[int, tuple[int, int]] = field(default_factory=dict)  # event index -> window it read
    renamed: dict[str, str] = field(default_factory=dict)      # query city -> the city it read instead
    gap_after: int | None = None                               # stay index after which it skipped the shared day
    total: int | None = None                                   # the total it read


def failing(q: TripQuery, plan: list[Stay]) -> set[str]:
    checks, _ = strict_checks(q, plan)
    return {name for name, value in checks.items() if value is False}


def relay(cities_days: list[tuple[str, int]], start: int) -> list[Stay]:
    out, day = [], start
    for city, days in cities_days:
        out.append(Stay(city, day, day + days - 1))
        day += days - 1
    return out


def moves(plan: list[Stay]) -> list[list[Stay]]:
    """Every plan with one stay moved to another position (days re-laid, lengths kept)."""
    items = [(s.city, s.days) for s in plan]
    out = []
    for i in range(len(items)):
        for j in range(len(items)):
            if i != j and j != i - 1:  # moving i to i-1 repeats the swap of i-1 to i
                order = items[:i] + items[i + 1:]
                order.insert(j, items[i])
                out.append(relay(order, plan[0].first_day))
    return out


def _renames(q: TripQuery, plan: list[Stay]) -> list[tuple[list[Stay], str, str]]:
    out = []
    for k, stay in enumerate(plan):
        for other in sorted({s.city for s in plan} - {stay.city}):
            edited = plan[:k] + [stay._replace(city=other)] + plan[k + 1:]
            out.append((edited, stay.city, other))
    return out


def _boundaries(plan: list[Stay]) -> list[tuple[list[Stay], int, int]]:
    out = []
    for i in range(len(plan) - 1):
        for delta in (1, -1):
            a, b = plan[i], plan[i + 1]
            if a.days + delta >= 1 and b.days - delta >= 1:
                edited = plan[:i] + [a._replace(last_day=a.last_day + delta), b._replace(first_day=b.first_day + delta)]
                out.append((edited + plan[i + 2:], i, delta))
    return out


def _gaps(plan: list[Stay]) -> list[tuple[list[Stay], int]]:
    out = []
    for i in range(len(plan) - 1):
        shifted = [s._replace(first_day=s.first_day + 1, last_day=s.last_day + 1) for s in plan[i + 1:]]
        out.append((plan[:i + 1] + shifted, i))
    return out


def _accept(kind: str, before: set[str], after: set[str]) -> bool:
    intended = INTENDED_CHECK[kind]
    allowed = {intended} | ALSO_BREAKS.get(kind, set())
    return intended in after and before <= after and (after - before) <= allowed


def inject(kind: str, q: TripQuery, plan: list[Stay], beliefs: Beliefs, rng: random.Random) -> list[Stay] | None:
    """The plan with mistake `kind` made (beliefs updated), or None when it cannot be made cleanly."""
    if kind == "malformed_json":
        raise ValueError("malformed_json edits the output text, not the plan")
    before = failing(q, plan)
    if INTENDED_CHECK[kind] in before:
        return None
    if kind in ("missing_connection", "event_outside_window"):
        candidates = [(p,) for p in moves(plan)]
    elif kind == "repeated_city":
        candidates = _renames(q, plan)
    elif kind == "wrong_stay_length":
        candidates = _boundaries(plan)
    elif kind == "wrong_total":
        candidates = _gaps(plan)
    else:
        raise ValueError(f"unknown mistake kind {kind!r}; known: {list(MISTAKES)}")
    rng.shuffle(candidates)
    for candidate in candidates:
        edited = candidate[0]
        if not _accept(kind, before, failing(q, edited)):
            continue
        _believe(kind, q, plan, candidate, beliefs, rng)
        return edited
    return None


def _believe(kind, q, plan, candidate, beliefs: Beliefs, rng):
    edited = candidate[0]
    if kind == "missing_connection":
        for a, b in itertools.pairwise(edited):
            if not q.connected(a.city, b.city):
                beliefs.flights.add(pair(a.city, b.city))
    elif kind == "event_outside_window":
        for i, e in enumerate(q.events):
            stay = next((s for s in edited if s.city == e.city), None)
            if stay is not None and not e.covered_by(stay):
                width = min(e.last_day - e.first_day, stay.days - 1)
                first = max(stay.first_day, min(e.first_day, stay.last_day - width))
                beliefs.windows[i] = (first, first + width)
    elif kind == "repeated_city":
        _, city, other = candidate
        beliefs.renamed[city] = other
    elif kind == "wrong_stay_length":
        _, i, _ = candidate
        misread, squeezed = (edited[i], edited[i + 1]) if rng.random() < 0.5 else (edited[i + 1], edited[i])
        beliefs.stays[misread.city] = misread.days
        beliefs.squeezed[squeezed.city] = squeezed.days
    elif kind == "wrong_total":
        _, i = candidate
        beliefs.gap_after = i
        beliefs.total = q.days + 1
