"""Dict indexes over a Sandbox, built once, so scoring a plan is a handful of hash lookups.

Two lookups per entity table:
- `exact(table, name, city)`: the row with exactly that name in that city (strict mode);
- `containing(table, name, city)`: the rows in that city whose name contains `name`, in file order,
  among rows the official loader keeps (compat mode reproduces the official substring match).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from imagine.sandbox import Sandbox

_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def city_name(text: str) -> str:
    """'Salt Lake City(Utah)' -> 'Salt Lake City'."""
    return _PAREN.sub("", text).strip()


@lru_cache(maxsize=65536)
def parse_entity(text: str) -> tuple[str, str] | None:
    """'Name, City' -> (name, city), split at the last comma; None when not of that form."""
    head, comma, tail = text.rpartition(",")
    name, city = head.strip(), city_name(tail)
    return (name, city) if comma and name and city else None


@dataclass(frozen=True, slots=True)
class Flight:
    number: str
    origin: str
    dest: str
    date: str
    dep_time: str
    arr_time: str
    price: int


@dataclass(frozen=True, slots=True)
class Route:
    duration: str | None
    duration_min: int | None
    distance_text: str | None
    distance_km: float | None

    @property
    def drivable(self) -> bool:
        """A route the official evaluator prices: distance known and under a day's drive."""
        return (self.distance_km is not None and self.duration is not None
                and "day" not in self.duration)


ENTITY_TABLES = ("restaurants", "accommodations", "attractions")
# Fields a row needs before a plan may use it: a hotel without a price cannot be booked.
USABLE_IF_SET = {
    "restaurants": ("name", "average_cost", "cuisines"),
    "accommodations": ("name", "price", "minimum_nights", "max_occupancy", "room_type"),
    "attractions": ("name",),
}


def squash(name: str) -> str:
    """Whitespace-insensitive form of a name: some hotel names in the data end in a space."""
    return " ".join(name.split())


class SandboxIndex:
    def __init__(self, sandbox: Sandbox):
        self.city_state: dict[str, str] = dict(zip(sandbox["cities"]["city"], sandbox["cities"]["state"]))
        self.state_cities: dict[str, list[str]] = {}
        for city, state in self.city_state.items():
            self.state_cities.setdefault(state, []).append(city)

        self.flights: dict[str, list[Flight]] = {}
        for row in sandbox["flights"].iter_rows(named=True):
            self.flights.setdefault(row["flight_number"], []).append(Flight(
                row["flight_number"], row["origin"], row["dest"], row["date"], row["dep_time"],
                row["arr_time"], row["price"]))

        # The official loader keeps the first row of a duplicated pair: so do we.
        self.routes: dict[tuple[str, str], Route] = {}
        for row in sandbox["distances"].iter_rows(named=True):
            self.routes.setdefault((row["origin"], row["dest"]), Route(
                row["duration"], row["duration_min"], row["distance_text"], row["distance_km"]))

        self._exact: dict[str, dict[tuple[str, str], dict]] = {}
        self._by_city: dict[str, dict[str, list[dict]]] = {}
        for table in ENTITY_TABLES:
            exact: dict[tuple[str, str], dict] = {}
            by_city: dict[str, list[dict]] = {}
            for row in sandbox[table].iter_rows(named=True):
                if any(row[key] is None for key in USABLE_IF_SET[table]):
                    continue
                exact.setdefault((squash(row["name"]), row["city"]), row)
                if row["complete"]:
                    by_city.setdefault(row["city"], []).append(row)
            self._exact[table] = exact
            self._by_city[table] = by_city
        self._containing_cache: dict[tuple[str, str, str], tuple[dict, ...]] = {}
        self._entity_cache: dict[tuple[str, str], dict | None] = {}

    def exact(self, table: str, name: str, city: str) -> dict | None:
        return self._exact[table].get((squash(name), city))

    def entity(self, table: str, text: str) -> dict | None:
        """The row a plan's 'Name, City' string names exactly, or None (strict mode)."""
        key = (table, text)
        if key not in self._entity_cache:
            if len(self._entity_cache) > 500_000:  # bound memory on long runs of novel strings
                self._entity_cache.clear()
            parsed = parse_entity(text)
            self._entity_cache[key] = self.exact(table, *parsed) if parsed else None
        return self._entity_cache[key]

    def rows(self, table: str):
        """Every usable row of an entity table (what strict mode accepts)."""
        return self._exact[table].values()

    def containing(self, table: str, name: str, city: str) -> tuple[dict, ...]:
        key = (table, name, city)
        found = self._containing_cache.get(key)
        if found is None:
            found = tuple(row for row in self._by_city[table].get(city, ()) if name in row["name"])
            self._containing_cache[key] = found
        return found

    def flight(self, number: str, origin: str, dest: str, date: str | None = None) -> Flight | None:
        for candidate in self.flights.get(number, ()):
            if candidate.origin == origin and candidate.dest == dest and (date is None or candidate.date == date):
                return candidate
        return None

    def ground_cost(self, origin: str, dest: str, mode: str) -> int | None:
        """Cost of one car ('self-driving') or one taxi ('taxi') on a drivable route, else None."""
        route = self.routes.get((origin, dest))
        if route is None or not route.drivable:
            return None
        return int(route.distance_km * 0.05) if mode == "self-driving" else int(route.distance_km)
