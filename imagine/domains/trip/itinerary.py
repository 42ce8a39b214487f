"""What a trip is: stays laid out on days, and one query's constraints in typed form.

A plan is a list of `Stay(city, first_day, last_day)` in visiting order. A flight day counts in both
cities: the next stay starts on the day the previous one ends, so N stays of lengths s_i cover
sum(s_i) - (N - 1) days. `TripQuery.of(row)` reads a queries-table row (or any dict with the same
fields; nested values may be lists, dicts or JSON text) into frozen, validated constraints.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple


class Stay(NamedTuple):
    city: str
    first_day: int
    last_day: int

    @property
    def days(self) -> int:
        return self.last_day - self.first_day + 1

    def to_dict(self) -> dict:
        return {"city": self.city, "first_day": self.first_day, "last_day": self.last_day}


@dataclass(frozen=True)
class Event:
    city: str
    kind: str  # a key of text.EVENT_PHRASES (phrasing only: not part of the constraint)
    first_day: int
    last_day: int

    def covered_by(self, stay: Stay) -> bool:
        return stay.first_day <= self.first_day and self.last_day <= stay.last_day

    def to_dict(self) -> dict:
        return {"city": self.city, "kind": self.kind, "first_day": self.first_day, "last_day": self.last_day}


def lay_out(order, stays: dict[str, int], start: int = 1) -> list[Stay]:
    """Stays for cities visited in `order`, each for its `stays[city]` days, flight days shared."""
    out, day = [], start
    for city in order:
        last = day + stays[city] - 1
        out.append(Stay(city, day, last))
        day = last
    return out


def total_days(lengths) -> int:
    lengths = list(lengths)
    return sum(lengths) - (len(lengths) - 1)


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _loads(value, what: str):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"trip query: {what} is not JSON ({exc.msg})") from None
    return value


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"trip query: {what} must be a whole number, got {value!r}")
    return int(value)


def query_id(days: int, stays: dict[str, int], events, connections) -> str:
    """16 hex chars of sha256 over the constraints (total days, stays, event windows, connections).
    The event kind and the wording are phrasing, not constraints: two queries equal here are one
    planning problem, however they are worded."""
    key = {
        "days": int(days),
        "stays": sorted([c, int(n)] for c, n in stays.items()),
        "events": sorted([e.city, e.first_day, e.last_day] for e in events),
        "connections": sorted(list(p) for p in connections),
    }
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TripQuery:
    """One query's constraints. `cities` keeps the order the query text names them."""

    days: int
    cities: tuple[str, ...]
    stays: dict[str, int]
    events: tuple[Event, ...]
    connections: frozenset[tuple[str, str]]  # (a, b) with a < b
    query_id: str | None = None
    golden: tuple[Stay, ...] | None = None

    def connected(self, a: str, b: str) -> bool:
        return pair(a, b) in self.connections

    def events_of(self, city: str) -> list[Event]:
        return [e for e in self.events if e.city == city]

    def compute_id(self) -> str:
        return query_id(self.days, self.stays, self.events, self.connections)

    @classmethod
    def of(cls, query) -> TripQuery:
        """A queries-table row (dict) -> TripQuery; a TripQuery passes through. Raises ValueError
        naming the field on malformed constraints (queries are trusted, validated data)."""
        if isinstance(query, TripQuery):
            return query
        if not isinstance(query, dict):
            raise ValueError(f"a trip query must be a dict, got {type(query).__name__}")
        for key in ("days", "cities", "stays", "connections"):
            if query.get(key) is None:
                raise ValueError(f"trip query: missing field {key!r}")
        cities = _loads(query["cities"], "cities")
        lengths = _loads(query["stays"], "stays")
        if not isinstance(cities, list) or not all(isinstance(c, str) and c for c in cities):
            raise ValueError("trip query: cities must be a list of city names")
        if len(set(cities)) != len(cities):
            raise ValueError("trip query: cities repeat a name")
        if isinstance(lengths, dict):
            lengths = [lengths.get(c) for c in cities]
        if not isinstance(lengths, list) or len(lengths) != len(cities):
            raise ValueError("trip query: stays must be a list aligned with cities")
        stays = {c: _int(n, f"stays[{i}]") for i, (c, n) in enumerate(zip(cities, lengths))}
        events = []
        for i, raw in enumerate(_loads(query.get("events") or [], "events")):
            if isinstance(raw, dict):
                city, kind, a, b = raw.get("city"), raw.get("kind") or "visit", raw.get("first_day"), raw.get("last_day")
            elif isinstance(raw, (list, tuple)) and len(raw) == 4:
                city, kind, a, b = raw
            else:
                raise ValueError(f"trip query: events[{i}] must be {{city, kind, first_day, last_day}}")
            if city not in stays:
                raise ValueError(f"trip query: events[{i}] city {city!r} is not one of the cities")
            events.append(Event(city, str(kind), _int(a, f"events[{i}].first_day"), _int(b, f"events[{i}].last_day")))
        connections = set()
        for i, raw in enumerate(_loads(query["connections"], "connections")):
            a, b = (raw.get("city_a"), raw.get("city_b")) if isinstance(raw, dict) else (tuple(raw) + (None, None))[:2]
            if a not in stays or b not in stays or a == b:
                raise ValueError(f"trip query: connections[{i}] ({a!r}, {b!r}) must join two different cities of the query")
            connections.add(pair(a, b))
        golden = None
        if query.get("golden_plan") is not None:
            raw = _loads(query["golden_plan"], "golden_plan")
            try:
                golden = tuple(Stay(str(s["city"]), _int(s["first_day"], "first_day"), _int(s["last_day"], "last_day"))
                               for s in raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"trip query: golden_plan must be a list of {{city, first_day, last_day}} ({exc})") from None
            if not golden:
                raise ValueError("trip query: golden_plan is empty")
        return cls(_int(query["days"], "days"), tuple(cities), stays, tuple(events), frozenset(connections),
                   query.get("query_id"), golden)
