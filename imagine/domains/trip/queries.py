"""Certified trip queries: sample a valid itinerary first, derive the constraints, check with the solver.

For each query: a level (counts per split allocated by the level weights), N cities by a random
self-avoiding walk on the flight graph (the golden order), a stay of `stay` days each, k event
cities with a window inside that city's golden stay; the connections shown are every graph edge
among the query's cities (the golden legs and more). The solver then certifies that the query is
solvable and counts its valid itineraries up to `solution_cap` (`n_solutions`): with more than one,
a valid plan can differ from the golden one, which the official exact match scores 0.

Splits are generated test, val, train, each from its own seeded RNG, and a query whose id
(`itinerary.query_id`: the constraints, not the wording) was already made is rejected as a
duplicate, so splits never share a query and the test split does not change when train grows.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field

import polars as pl

from imagine.domains.trip.answer import to_official_text
from imagine.domains.trip.itinerary import Event, TripQuery, lay_out, pair
from imagine.domains.trip.schema import LEVELS, QUERY_SCHEMA, SPLITS
from imagine.domains.trip.solver import solve
from imagine.domains.trip.text import EVENT_KINDS, query_text
from imagine.domains.trip.world import World

DEFAULT_LEVELS = {
    "easy": {"weight": 0.4, "cities": [3, 4], "events": [0, 1]},
    "medium": {"weight": 0.35, "cities": [5, 6], "events": [1, 2]},
    "hard": {"weight": 0.25, "cities": [7, 10], "events": [2, 3]},
}
GENERATION_ORDER = ("test", "val", "train")


@dataclass(frozen=True)
class Level:
    name: str
    weight: float
    cities: tuple[int, int]
    events: tuple[int, int]


def _range(value, what: str, low: int) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError(f"trip queries: {what} must be [min, max] whole numbers, got {value!r}")
    lo, hi = value
    if not low <= lo <= hi:
        raise ValueError(f"trip queries: {what} must satisfy {low} <= min <= max, got {value!r}")
    return lo, hi


@dataclass(frozen=True)
class QueryParams:
    seed: int = 0
    counts: dict = field(default_factory=lambda: {"train": 400, "val": 50, "test": 100})
    levels: dict = field(default_factory=lambda: {k: Level(k, v["weight"], tuple(v["cities"]), tuple(v["events"]))
                                                  for k, v in DEFAULT_LEVELS.items()})
    stay: tuple[int, int] = (2, 7)
    solution_cap: int = 20
    max_attempts: int = 50  # sampling attempts per requested query before the split gives up

    @classmethod
    def from_params(cls, params: dict | None) -> QueryParams:
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"trip queries: unknown key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        counts = {**cls().counts, **dict(params.get("counts") or {})}
        for split, n in counts.items():
            if split not in SPLITS or not isinstance(n, int) or n < 0:
                raise ValueError(f"trip queries: counts must map {SPLITS} to whole numbers >= 0, got {split}: {n!r}")
        raw_levels = params.get("levels") or DEFAULT_LEVELS
        levels = {}
        for name, spec in raw_levels.items():
            if name not in LEVELS:
                raise ValueError(f"trip queries: unknown level {name!r}; known: {LEVELS}")
            spec = {**DEFAULT_LEVELS[name], **dict(spec)}
            extra = set(spec) - {"weight", "cities", "events"}
            if extra:
                raise ValueError(f"trip queries: levels.{name}: unknown key(s) {sorted(extra)}")
            weight = float(spec["weight"])
            if weight < 0:
                raise ValueError(f"trip queries: levels.{name}.weight must be >= 0, got {weight}")
            cities = _range(spec["cities"], f"levels.{name}.cities", 3)
            if cities[1] > 10:
                raise ValueError(f"trip queries: levels.{name}.cities at most 10, got {cities}")
            levels[name] = Level(name, weight, cities, _range(spec["events"], f"levels.{name}.events", 0))
        if not sum(level.weight for level in levels.values()) > 0:
            raise ValueError("trip queries: level weights must not all be 0")
        stay = _range(list(params.get("stay", cls.stay)), "stay", 1)
        cap = int(params.get("solution_cap", cls.solution_cap))
        attempts = int(params.get("max_attempts", cls.max_attempts))
        if cap < 1 or attempts < 1:
            raise ValueError("trip queries: solution_cap and max_attempts must be >= 1")
        return cls(int(params.get("seed", 0)), counts, levels, stay, cap, attempts)


def allocate(total: int, levels: dict[str, Level]) -> dict[str, int]:
    """Queries per level: `total` split by weight, largest remainders rounded up (exact sum)."""
    weight = sum(level.weight for level in levels.values())
    shares = {name: total * level.weight / weight for name, level in levels.items()}
    out = {name: int(share) for name, share in shares.items()}
    for name in sorted(shares, key=lambda n: (-(shares[n] - out[n]), n))[:total - sum(out.values())]:
        out[name] += 1
    return out


class _Sampler:
    def __init__(self, world: World, params: QueryParams):
        self.params = params
        self.names = sorted(world.names)
        self.neighbours = {c: sorted(n) for c, n in world.adjacency.items()}
        self.seen: set[str] = set()
        self.rejections: dict[str, int] = {"walk_dead_end": 0, "duplicate": 0, "unsolvable": 0}
        self.attempts = 0

    def walk(self, rng: random.Random, n: int) -> list[str] | None:
        path = [rng.choice(self.names)]
        visited = {path[0]}
        while len(path) < n:
            options = [c for c in self.neighbours[path[-1]] if c not in visited]
            if not options:
                return None
            path.append(rng.choice(options))
            visited.add(path[-1])
        return path

    def sample(self, rng: random.Random, level: Level, split: str) -> dict | None:
        self.attempts += 1
        n = rng.randint(*level.cities)
        path = self.walk(rng, n)
        if path is None:
            self.rejections["walk_dead_end"] += 1
            return None
        lengths = {c: rng.randint(*self.params.stay) for c in path}
        golden = lay_out(path, lengths)
        k = min(rng.randint(*level.events), n)
        event_cities = set(rng.sample(path, k))
        events = {}
        for stay in golden:
            if stay.city in event_cities:
                span = rng.randint(1, stay.days)
                first = rng.randint(stay.first_day, stay.last_day - span + 1)
                events[stay.city] = Event(stay.city, rng.choice(EVENT_KINDS), first, first + span - 1)
        cities = path[:]
        rng.shuffle(cities)
        member = set(cities)
        connections = frozenset(pair(a, b) for a in cities for b in self.neighbours[a] if b in member and a < b)
        q = TripQuery(golden[-1].last_day, tuple(cities), lengths,
                      tuple(events[c] for c in cities if c in events), connections)
        qid = q.compute_id()
        if qid in self.seen:
            self.rejections["duplicate"] += 1
            return None
        solution = solve(q, self.params.solution_cap)
        if solution.stays is None:  # cannot happen for a sampled itinerary; counted, never kept
            self.rejections["unsolvable"] += 1
            return None
        self.seen.add(qid)
        return {
            "query_id": qid, "split": split, "level": level.name, "n_cities": n, "days": q.days,
            "cities": list(cities), "stays": [lengths[c] for c in cities],
            "events": [e.to_dict() for e in q.events], "n_events": len(q.events),
            "connections": [{"city_a": a, "city_b": b} for a, b in sorted(connections)],
            "n_connections": len(connections), "n_solutions": solution.n_solutions,
            "solutions_capped": solution.capped, "query": query_text(q, rng),
            "golden_plan": json.dumps([s.to_dict() for s in golden], ensure_ascii=False),
            "golden_text": to_official_text(golden, q.days),
        }


def generate_queries(world: World, params: QueryParams | dict | None = None) -> tuple[dict[str, pl.DataFrame], dict]:
    """{split: queries frame (QUERY_SCHEMA)} and a report (counts, attempts, rejections, solution
    counts per level, time). Deterministic for a world and params; raises ValueError when a split
    needs more than `max_attempts` attempts per query."""
    params = params if isinstance(params, QueryParams) else QueryParams.from_params(params)
    started = time.perf_counter()
    sampler = _Sampler(world, params)
    frames, counts = {}, {}
    for split in GENERATION_ORDER:
        total = params.counts.get(split, 0)
        rng = random.Random(f"trip-queries|{params.seed}|{split}")
        plan = [name for name, n in allocate(total, params.levels).items() for _ in range(n)]
        rng.shuffle(plan)
        rows, budget = [], params.max_attempts * max(total, 1)
        start_attempts = sampler.attempts
        for name in plan:
            row = None
            while row is None:
                if sampler.attempts - start_attempts >= budget:
                    raise ValueError(f"trip queries: split {split} made {len(rows)} of {total} queries in {budget} "
                                     f"attempts (rejections: {sampler.rejections}); use a larger or denser world, "
                                     "fewer queries or smaller levels")
                row = sampler.sample(rng, params.levels[name], split)
            rows.append(row)
        frames[split] = pl.DataFrame(rows, schema=QUERY_SCHEMA) if rows else pl.DataFrame(schema=QUERY_SCHEMA)
        counts[split] = {name: sum(r["level"] == name for r in rows) for name in params.levels}
    seconds = time.perf_counter() - started
    made = sum(frame.height for frame in frames.values())
    solutions = {}
    everything = pl.concat([frames[s] for s in GENERATION_ORDER])
    for name in params.levels:
        part = everything.filter(pl.col("level") == name)
        if part.height:
            solutions[name] = {"mean": round(float(part["n_solutions"].mean()), 3),
                               "unique_share": round(float((part["n_solutions"] == 1).mean()), 4),
                               "capped_share": round(float(part["solutions_capped"].mean()), 4)}
    report = {
        "seed": params.seed, "solution_cap": params.solution_cap, "counts": counts, "queries": made,
        "attempts": sampler.attempts, "rejections": dict(sampler.rejections), "n_solutions": solutions,
        "world": {"cities": world.cities.height, "connections": world.connections.height,
                  "density": round(world.density(), 4)},
        "seconds": {"generate": round(seconds, 3)}, "queries_per_s": round(made / seconds, 1) if seconds > 0 else None,
    }
    return {split: frames[split] for split in SPLITS}, report
