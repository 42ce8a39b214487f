"""The one index over a Sandbox: built once, shared by the scorers, the query solver, the prompts and
the rules teacher, so each reads the same rows the same way.

Built at once (what scoring needs, so `imagine eval` starts fast). Two lookups per entity table:
- `exact(table, name, city)`: the row with exactly that name in that city (strict mode);
- `containing(table, name, city)`: the rows in that city whose name contains `name`, in file order,
  among rows the official loader keeps (compat mode reproduces the official substring match).
Flights (`FlightTable`) stay a polars frame: the official database has ~3.8M of them, too many for
a Python object each, so a number is found by binary search and its rows are read on first use.
Routes: the first row of each (origin, dest) pair, and `ground_cost` on the drivable ones.

Built on first use (each view once per index, behind a lock):
- `listed(table, city)`, `flights_on(origin, dest, date)`, `route(origin, dest)`: what the reference
  information shows and the rules teacher picks from. Only rows the strict scorer resolves to
  themselves are listed (the first row of a (name, city) pair, with every field a booking needs), so
  whatever is shown or picked is priced and checked exactly as the scorer sees it;
- `unambiguous(table)`, `drivable()`: what the query solver may use (rows both lookups, exact and
  substring-in-city, resolve to themselves; drivable routes with a duration), with the cheapest
  flight of each route and date (`flights.cheapest()`). `queries.solver.SolverIndex` shapes them.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from imagine.domains.travelplanner.plan import vehicle_cost
from imagine.domains.travelplanner.sandbox import Sandbox

_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
PARSE_MEMO = 65536  # parsed strings kept per parsing helper: plans repeat the same entity and city strings
CACHE_LIMIT = 500_000  # entries per lookup memo: bounds memory on long runs of novel strings


def city_name(text: str) -> str:
    """'Salt Lake City(Utah)' -> 'Salt Lake City'."""
    return _PAREN.sub("", text).strip()


@lru_cache(maxsize=PARSE_MEMO)
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


# Sandbox columns of Flight's fields, in its order.
FLIGHT_COLUMNS = ("flight_number", "origin", "dest", "date", "dep_time", "arr_time", "price")
_KEY_BYTES = 8


def _number_key(number: str) -> int:
    """A flight number's first 8 UTF-8 bytes as a big-endian integer (zero-padded): equal numbers have
    equal keys, so a binary search over the keys finds every row of a number, and a few others."""
    return int.from_bytes(number.encode()[:_KEY_BYTES].ljust(_KEY_BYTES, b"\0"), "big")


class FlightTable:
    """The bookable flights, looked up by number in file order.

    Rows with an empty field are left out, as the official loader's `dropna()` leaves them out. The
    rows are sorted once by `_number_key` (stable, so one number's rows keep their file order); a
    lookup searches the keys, then reads and memoises the few rows it lands on.
    """

    def __init__(self, flights: pl.DataFrame):
        frame = flights.drop_nulls().select(FLIGHT_COLUMNS)
        keys = frame.select(
            pl.col("flight_number").str.pad_end(_KEY_BYTES, "\0").cast(pl.Binary).bin.head(_KEY_BYTES)
            .bin.reinterpret(dtype=pl.UInt64, endianness="big")).to_series().to_numpy()
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self._frame = frame
        self._numbered: dict[str, tuple[Flight, ...]] = {}

    def __len__(self) -> int:
        return self._frame.height

    def numbered(self, number: str) -> tuple[Flight, ...]:
        """Every flight with this number, in file order."""
        found = self._numbered.get(number)
        if found is None:
            key = np.uint64(_number_key(number))
            rows = self._order[self._keys.searchsorted(key, "left"):self._keys.searchsorted(key, "right")]
            found = tuple(Flight(*row) for row in map(self._frame.row, rows.tolist()) if row[0] == number)
            if len(self._numbered) > CACHE_LIMIT:
                self._numbered.clear()
            self._numbered[number] = found
        return found

    def find(self, number: str, origin: str, dest: str, date: str | None = None) -> Flight | None:
        """The first flight with this number on that route (and that date, when given)."""
        for candidate in self.numbered(number):
            if candidate.origin == origin and candidate.dest == dest and (date is None or candidate.date == date):
                return candidate
        return None

    def _unique(self) -> pl.DataFrame:
        return self._frame.unique(["flight_number", "origin", "dest", "date"], keep="first", maintain_order=True)

    def resolved(self) -> Iterator[Flight]:
        """Each flight `find` returns for its own number, route and date (the first of duplicates)."""
        return (Flight(*row) for row in self._unique().iter_rows())

    def cheapest(self) -> pl.DataFrame:
        """The cheapest of the `resolved` flights of each route and date (the first in file order among
        equally cheap ones), one row each, columns as FLIGHT_COLUMNS."""
        leg = ["origin", "dest", "date"]
        return (self._unique().filter(pl.col("price") == pl.col("price").min().over(leg))
                .unique(leg, keep="first", maintain_order=True))


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


def forbidden_rules(row: dict) -> set[str]:
    """House rules a hotel forbids: 'No parties & No pets' -> {'parties', 'pets'}."""
    return {part.strip()[3:].strip() for part in (row.get("house_rules") or "").split("&")
            if part.strip().startswith("No ")}


def rooms(row: dict, people: int) -> int:
    """Rooms of this hotel the group books (at least one guest per room, whatever the data says)."""
    return math.ceil(people / max(int(row["max_occupancy"]), 1))


def _plain(name: str) -> bool:
    """A name a plan can write as 'Name, City' and read back: not empty, no ';', no outer spaces."""
    return bool(name) and ";" not in name and name == name.strip()


# How `listed` sorts each table's rows of a city: cheapest first, then by name.
LISTED_ORDER = {
    "accommodations": lambda row: (row["price"], row["name"]),
    "restaurants": lambda row: (row["average_cost"], row["name"]),
    "attractions": lambda row: row["name"],
}


class Memo(dict):
    """A dict that computes a missing key's value with `compute` and keeps it, so a repeated
    lookup costs one dict access; emptied past CACHE_LIMIT entries."""

    def __init__(self, compute):
        super().__init__()
        self.compute = compute

    def __missing__(self, key):
        if len(self) > CACHE_LIMIT:
            self.clear()
        value = self[key] = self.compute(key)
        return value


class SandboxIndex:
    def __init__(self, sandbox: Sandbox):
        self.city_state: dict[str, str] = dict(zip(sandbox["cities"]["city"], sandbox["cities"]["state"]))
        self.state_cities: dict[str, list[str]] = {}
        for city, state in self.city_state.items():
            self.state_cities.setdefault(state, []).append(city)

        self.flights = FlightTable(sandbox["flights"])

        # The official loader keeps the first row of a duplicated pair: so do we.
        self.routes: dict[tuple[str, str], Route] = {}
        distances = sandbox["distances"].select("origin", "dest", "duration", "duration_min", "distance_text", "distance_km")
        for origin, dest, *route in distances.iter_rows():
            self.routes.setdefault((origin, dest), Route(*route))
        # (origin, dest) -> (cost of one car, cost of one taxi), for the routes the evaluator prices.
        self._ground = {pair: (vehicle_cost("self-driving", route.distance_km), vehicle_cost("taxi", route.distance_km))
                        for pair, route in self.routes.items() if route.drivable}

        self._exact: dict[str, dict[tuple[str, str], dict]] = {}
        self._by_city: dict[str, dict[str, list[dict]]] = {}
        self._all: dict[str, list[dict]] = {}  # every row, usable or not, in file order (for `unambiguous`)
        for table in ENTITY_TABLES:
            exact: dict[tuple[str, str], dict] = {}
            by_city: dict[str, list[dict]] = {}
            self._all[table] = every = sandbox[table].to_dicts()
            for row in every:
                if any(row[key] is None for key in USABLE_IF_SET[table]):
                    continue
                exact.setdefault((squash(row["name"]), row["city"]), row)
                if row["complete"]:
                    by_city.setdefault(row["city"], []).append(row)
            self._exact[table] = exact
            self._by_city[table] = by_city
        self._containing_cache: dict[tuple[str, str, str], tuple[dict, ...]] = {}
        # table -> plan 'Name, City' string -> the row it names exactly, or None (strict mode)
        self.entities = {table: Memo(lambda text, table=table: self._named(table, text)) for table in ENTITY_TABLES}
        self._memos: dict[str, Memo] = {}
        self._views: dict[str, object] = {}
        self._views_lock = threading.RLock()

    def exact(self, table: str, name: str, city: str) -> dict | None:
        return self._exact[table].get((squash(name), city))

    def _named(self, table: str, text: str) -> dict | None:
        parsed = parse_entity(text)
        return self.exact(table, *parsed) if parsed else None

    def entity(self, table: str, text: str) -> dict | None:
        """The row a plan's 'Name, City' string names exactly, or None (strict mode)."""
        return self.entities[table][text]

    def memo(self, name: str, compute) -> Memo:
        """The memo called `name`, made with `compute` on first use: a scoring mode keeps its own
        per-string lookups with the index they were computed from."""
        found = self._memos.get(name)
        if found is None:
            found = self._memos[name] = Memo(compute)
        return found

    def rows(self, table: str):
        """Every usable row of an entity table (what strict mode accepts)."""
        return self._exact[table].values()

    def containing(self, table: str, name: str, city: str) -> tuple[dict, ...]:
        key = (table, name, city)
        found = self._containing_cache.get(key)
        if found is None:
            found = tuple(row for row in self._by_city[table].get(city, ()) if name in row["name"])
            if len(self._containing_cache) > CACHE_LIMIT:
                self._containing_cache.clear()
            self._containing_cache[key] = found
        return found

    def ground_cost(self, origin: str, dest: str, mode: str) -> int | None:
        """Cost of one car ('self-driving') or one taxi ('taxi') on a drivable route, else None."""
        costs = self._ground.get((origin, dest))
        return None if costs is None else costs[mode != "self-driving"]

    # -- views built on first use ------------------------------------------------------------------
    def _view(self, name: str, build):
        found = self._views.get(name)
        if found is None:
            with self._views_lock:
                found = self._views.get(name)
                if found is None:
                    found = self._views[name] = build()
        return found

    def _build_listed(self) -> dict[str, dict[str, list[dict]]]:
        listed: dict[str, dict[str, list[dict]]] = {}
        for table in ENTITY_TABLES:
            by_city = listed[table] = {}
            for row in self.unambiguous(table):
                by_city.setdefault(row["city"], []).append(row)
            for city_rows in by_city.values():
                city_rows.sort(key=LISTED_ORDER[table])
        return listed

    def listed(self, table: str, city: str) -> Sequence[dict]:
        """The rows of an entity table in `city` that the prompts show and the rules teacher picks from:
        the `unambiguous` ones, which the query solver builds reference plans from, so every place a
        prompt offers is one the teacher might take (an incomplete row, such as a hotel without house
        rules, is never offered); hotels by price per night, restaurants by average cost, then by name;
        attractions by name. Do not modify it."""
        return self._view("listed", self._build_listed)[table].get(city, ())

    def _build_legs(self) -> dict[tuple[str, str, str], list[Flight]]:
        legs: dict[tuple[str, str, str], list[Flight]] = {}
        for f in self.flights.resolved():
            legs.setdefault((f.origin, f.dest, f.date), []).append(f)
        for flights in legs.values():
            flights.sort(key=lambda f: (f.price, f.dep_time, f.number))
        return legs

    def flights_on(self, origin: str, dest: str, date: str | None) -> list[Flight]:
        """The `resolved` flights of a route on a date, cheapest first (then by departure, number)."""
        return list(self._view("legs", self._build_legs).get((origin, dest, date), ()))

    def route(self, origin: str, dest: str) -> Route | None:
        """The route between two cities when it is drivable, else None."""
        route = self.routes.get((origin, dest))
        return route if route is not None and route.drivable else None

    def _build_unambiguous(self) -> dict[str, list[dict]]:
        out = {}
        for table in ENTITY_TABLES:
            every = self._all[table]
            first: dict[tuple[str, str], dict] = {}
            by_city: dict[str, list[dict]] = {}
            for row in every:
                first.setdefault((row["name"], row["city"]), row)
                if row["complete"]:
                    by_city.setdefault(row["city"], []).append(row)
            keep = out[table] = []
            for city, city_rows in by_city.items():
                names = [r["name"] for r in city_rows]
                for row in city_rows:
                    name = row["name"]
                    if not _plain(name) or first[(name, city)] is not row:
                        continue
                    if sum(name in other for other in names) != 1:
                        continue  # duplicated, or a substring of another name in the city
                    keep.append(row)
        return out

    def unambiguous(self, table: str) -> list[dict]:
        """The complete rows of an entity table that both lookups (exact, and substring-in-city as the
        official evaluator does) resolve to themselves: the first row of its (name, city) pair, a plain
        name, and no substring of another complete row's name in the city. By city, in file order."""
        return self._view("unambiguous", self._build_unambiguous)[table]

    def cheapest_flights(self) -> dict[tuple[str, str, str], Flight]:
        """(origin, dest, date) -> the cheapest flight that a lookup by number, route and date finds."""
        return self._view("cheapest", self.flights.cheapest)

    def drivable(self) -> dict[tuple[str, str], Route]:
        """The drivable routes that state a duration, by (origin, dest), in file order."""
        return self._view("drivable", lambda: {pair: route for pair, route in self.routes.items()
                                                 if route.drivable and route.duration})
