"""The trip world: European cities and an undirected direct-flight graph, seeded.

`make_world(n_cities, density, seed)` picks `n_cities` cities from CITIES, joins them with a random
spanning tree (so the graph is connected) and adds random extra pairs until `density` of all pairs
are connected. Saved as two Parquet tables in a folder:

- `cities.parquet`: city (str, one word of letters, so the official scorer's `(\\w+)` reads it
  whole), region (str, the country);
- `connections.parquet`: city_a, city_b (str, city_a < city_b, both in cities, no repeats).

`load_world(folder)` reads and validates them; `validate_world` raises ValueError naming the file,
column and row of the first problem.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from imagine.io import atomic_path

CITIES: tuple[tuple[str, str], ...] = (
    ("Amsterdam", "Netherlands"), ("Rotterdam", "Netherlands"), ("Athens", "Greece"), ("Santorini", "Greece"),
    ("Mykonos", "Greece"), ("Barcelona", "Spain"), ("Madrid", "Spain"), ("Seville", "Spain"), ("Valencia", "Spain"),
    ("Malaga", "Spain"), ("Bilbao", "Spain"), ("Granada", "Spain"), ("Belgrade", "Serbia"), ("Berlin", "Germany"),
    ("Munich", "Germany"), ("Frankfurt", "Germany"), ("Hamburg", "Germany"), ("Cologne", "Germany"),
    ("Stuttgart", "Germany"), ("Dusseldorf", "Germany"), ("Nuremberg", "Germany"), ("Bologna", "Italy"),
    ("Florence", "Italy"), ("Milan", "Italy"), ("Naples", "Italy"), ("Rome", "Italy"), ("Venice", "Italy"),
    ("Verona", "Italy"), ("Turin", "Italy"), ("Palermo", "Italy"), ("Pisa", "Italy"), ("Bordeaux", "France"),
    ("Lyon", "France"), ("Marseille", "France"), ("Nice", "France"), ("Paris", "France"), ("Toulouse", "France"),
    ("Bratislava", "Slovakia"), ("Brussels", "Belgium"), ("Antwerp", "Belgium"), ("Bucharest", "Romania"),
    ("Budapest", "Hungary"), ("Copenhagen", "Denmark"), ("Aarhus", "Denmark"), ("Dubrovnik", "Croatia"),
    ("Split", "Croatia"), ("Zagreb", "Croatia"), ("Dublin", "Ireland"), ("Edinburgh", "United Kingdom"),
    ("London", "United Kingdom"), ("Manchester", "United Kingdom"), ("Geneva", "Switzerland"),
    ("Zurich", "Switzerland"), ("Basel", "Switzerland"), ("Lucerne", "Switzerland"), ("Helsinki", "Finland"),
    ("Tampere", "Finland"), ("Istanbul", "Turkey"), ("Krakow", "Poland"), ("Warsaw", "Poland"), ("Gdansk", "Poland"),
    ("Lisbon", "Portugal"), ("Porto", "Portugal"), ("Ljubljana", "Slovenia"), ("Oslo", "Norway"),
    ("Bergen", "Norway"), ("Prague", "Czechia"), ("Brno", "Czechia"), ("Reykjavik", "Iceland"), ("Riga", "Latvia"),
    ("Salzburg", "Austria"), ("Vienna", "Austria"), ("Innsbruck", "Austria"), ("Graz", "Austria"),
    ("Sofia", "Bulgaria"), ("Stockholm", "Sweden"), ("Gothenburg", "Sweden"), ("Tallinn", "Estonia"),
    ("Vilnius", "Lithuania"), ("Valletta", "Malta"), ("Nicosia", "Cyprus"), ("Luxembourg", "Luxembourg"),
    ("Tirana", "Albania"), ("Sarajevo", "Bosnia and Herzegovina"), ("Skopje", "North Macedonia"),
)
CITY_NAME = re.compile(r"^[^\W\d_]+$")  # one word of letters
FILES = ("cities.parquet", "connections.parquet")
CITY_SCHEMA = {"city": pl.String, "region": pl.String}
CONNECTION_SCHEMA = {"city_a": pl.String, "city_b": pl.String}


@dataclass
class World:
    cities: pl.DataFrame       # city, region
    connections: pl.DataFrame  # city_a, city_b (city_a < city_b)
    _adjacency: dict | None = field(default=None, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return self.cities["city"].to_list()

    @property
    def adjacency(self) -> dict[str, frozenset[str]]:
        if self._adjacency is None:
            adj: dict[str, set[str]] = {c: set() for c in self.names}
            for a, b in self.connections.iter_rows():
                adj[a].add(b)
                adj[b].add(a)
            self._adjacency = {c: frozenset(n) for c, n in adj.items()}
        return self._adjacency

    def density(self) -> float:
        n = self.cities.height
        return self.connections.height / (n * (n - 1) / 2) if n > 1 else 0.0

    def save(self, folder: str | Path) -> None:
        """Write both tables into `folder`, replacing it in one rename."""
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            self.cities.write_parquet(tmp / "cities.parquet")
            self.connections.write_parquet(tmp / "connections.parquet")


def make_world(n_cities: int = 48, density: float = 0.15, seed: int = 0) -> World:
    """A connected flight graph over `n_cities` cities with about `density` of all pairs connected
    (at least the n - 1 edges of the spanning tree)."""
    if not 3 <= n_cities <= len(CITIES):
        raise ValueError(f"trip world: n_cities must be in [3, {len(CITIES)}], got {n_cities}")
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"trip world: density must be in [0, 1], got {density}")
    rng = random.Random(f"trip-world|{seed}")
    chosen = rng.sample(CITIES, n_cities)
    names = [c for c, _ in chosen]
    edges: set[tuple[str, str]] = set()
    order = names[:]
    rng.shuffle(order)
    for k in range(1, len(order)):  # a random tree: each city joins one placed before it
        a, b = order[k], order[rng.randrange(k)]
        edges.add((a, b) if a < b else (b, a))
    pairs = [(a, b) for i, a in enumerate(sorted(names)) for b in sorted(names)[i + 1:]]
    target = max(len(edges), round(density * len(pairs)))
    rest = [p for p in pairs if p not in edges]
    rng.shuffle(rest)
    edges.update(rest[:target - len(edges)])
    cities = pl.DataFrame(sorted(chosen), schema=CITY_SCHEMA, orient="row")
    connections = pl.DataFrame(sorted(edges), schema=CONNECTION_SCHEMA, orient="row")
    return World(cities, connections)


def _fail(file: str, column: str | None, row: int | None, message: str):
    where = file + (f" column {column}" if column else "") + (f" row {row}" if row is not None else "")
    raise ValueError(f"trip world: {where}: {message}")


def validate_world(cities: pl.DataFrame, connections: pl.DataFrame) -> None:
    """Raise ValueError naming file, column and row of the first problem; return None if valid. The GX
    suite first (columns, types, no nulls, unique city names and pairs), then the graph's rules."""
    from imagine.checks import expect_columns, gx, validate

    E = gx.expectations
    for file, frame, schema, unique in (
            ("cities.parquet", cities, CITY_SCHEMA, E.ExpectColumnValuesToBeUnique(column="city")),
            ("connections.parquet", connections, CONNECTION_SCHEMA,
             E.ExpectCompoundColumnsToBeUnique(column_list=["city_a", "city_b"]))):
        validate(frame, [*expect_columns(schema), *[E.ExpectColumnValuesToNotBeNull(column=c) for c in schema],
                         unique], dataset="trip world", source=file)
    if cities.height < 3:
        _fail("cities.parquet", None, None, f"{cities.height} cities, at least 3 needed")
    seen: dict[str, int] = {}
    for row, (city, region) in enumerate(cities.select("city", "region").iter_rows()):
        if not CITY_NAME.match(city):
            _fail("cities.parquet", "city", row, f"{city[:60]!r} is not one word of letters")
        if not region.strip():
            _fail("cities.parquet", "region", row, "empty region")
        seen[city] = row
    pairs: list[tuple[str, str]] = []
    for row, (a, b) in enumerate(connections.select("city_a", "city_b").iter_rows()):
        for column, city in (("city_a", a), ("city_b", b)):
            if city not in seen:
                _fail("connections.parquet", column, row, f"{city[:60]!r} is not a city of cities.parquet")
        if not a < b:
            _fail("connections.parquet", "city_b", row, f"city_a must sort before city_b, got {a!r}, {b!r}")
        pairs.append((a, b))
    adj: dict[str, list[str]] = {c: [] for c in seen}
    for a, b in pairs:
        adj[a].append(b)
        adj[b].append(a)
    start = next(iter(seen))
    reached, stack = {start}, [start]
    while stack:
        for nxt in adj[stack.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    if len(reached) != len(seen):
        lost = sorted(set(seen) - reached)
        _fail("connections.parquet", None, None,
              f"the flight graph is not connected: {len(lost)} cities unreachable from {start} (e.g. {lost[:3]})")


def load_world(folder: str | Path) -> World:
    folder = Path(folder)
    for name in FILES:
        if not (folder / name).is_file():
            raise ValueError(f"trip world: {folder / name} is missing")
    cities = pl.read_parquet(folder / "cities.parquet")
    connections = pl.read_parquet(folder / "connections.parquet")
    try:
        validate_world(cities, connections)
    except ValueError as exc:
        raise ValueError(f"{folder}: {exc}") from None
    return World(cities, connections)
