"""Per-city views of a `SandboxIndex` that the prompts and the rules teacher need (built once per index).

Only rows the strict scorer resolves to themselves are listed (the first row of a (name, city) pair,
with every field a booking needs), so whatever the reference information shows or the teacher
picks is priced and checked exactly as the scorer sees it.
"""

from __future__ import annotations

import math
import threading

from imagine.domains.travelplanner.evaluate.index import SandboxIndex

_LOCK = threading.Lock()
_WORLDS: dict[int, tuple[SandboxIndex, "World"]] = {}


def forbidden_rules(row: dict) -> set[str]:
    """House rules a hotel forbids: 'No parties & No pets' -> {'parties', 'pets'}."""
    return {part.strip()[3:].strip() for part in (row.get("house_rules") or "").split("&")
            if part.strip().startswith("No ")}


def rooms(row: dict, people: int) -> int:
    return math.ceil(people / max(int(row["max_occupancy"]), 1))


class World:
    def __init__(self, index: SandboxIndex):
        self.index = index
        self.hotels: dict[str, list[dict]] = {}
        self.restaurants: dict[str, list[dict]] = {}
        self.attractions: dict[str, list[dict]] = {}
        for table, target in (("accommodations", self.hotels), ("restaurants", self.restaurants),
                              ("attractions", self.attractions)):
            for row in index.rows(table):
                name = row["name"]
                if not name or ";" in name or name != name.strip():
                    continue
                target.setdefault(row["city"], []).append(row)
        for rows in self.hotels.values():
            rows.sort(key=lambda r: (r["price"], r["name"]))
        for rows in self.restaurants.values():
            rows.sort(key=lambda r: (r["average_cost"], r["name"]))
        for rows in self.attractions.values():
            rows.sort(key=lambda r: r["name"])
        self.flights: dict[tuple[str, str, str], list] = {}
        for f in index.flights.resolved():
            self.flights.setdefault((f.origin, f.dest, f.date), []).append(f)
        for flights in self.flights.values():
            flights.sort(key=lambda f: (f.price, f.dep_time, f.number))

    @classmethod
    def of(cls, index: SandboxIndex) -> "World":
        with _LOCK:
            held = _WORLDS.get(id(index))
            if held is None or held[0] is not index:
                held = (index, cls(index))
                _WORLDS[id(index)] = held
            return held[1]

    def flights_on(self, origin: str, dest: str, date: str | None) -> list:
        return list(self.flights.get((origin, dest, date), ()))

    def route(self, origin: str, dest: str):
        route = self.index.routes.get((origin, dest))
        return route if route is not None and route.drivable else None
