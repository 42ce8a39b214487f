"""Sampling new TravelPlanner-like queries (budget and text are set later, from the solver's plan).

Trip shapes follow TravelPlanner: 3 days / 1 city (dest is a city), 5 days / 2 cities and 7 days /
3 cities (dest is a state with enough cities). Levels follow its train set: easy = 1 person and no
local constraint; medium = 2-8 people and exactly one of house rule / cuisine / room type (the
train set's medium cuisine requests name 2 cuisines); hard = three of the four local constraints
(transportation appears only here; the train set's hard cuisine requests name 4 cuisines). Every
knob is a params value (`SampleConfig`).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from imagine.domains.travelplanner.queries.schema import DAYS_CITIES, LEVELS, ROOM_TYPE_VALUES, TRANSPORTATION_VALUES
from imagine.domains.travelplanner.queries.solver import SolverIndex
from imagine.domains.travelplanner.sandbox import CUISINES, HOUSE_RULES

MEDIUM_CONSTRAINTS = ("house_rule", "cuisine", "room_type")
HARD_CONSTRAINTS = ("house_rule", "cuisine", "room_type", "transportation")


@dataclass
class SampleConfig:
    levels: dict = field(default_factory=lambda: {"easy": 1.0, "medium": 1.0, "hard": 1.0})
    days: dict = field(default_factory=lambda: {3: 1.0, 5: 1.0, 7: 1.0})
    people: dict = field(default_factory=lambda: {"medium": [2, 8], "hard": [2, 8]})
    cuisines: dict = field(default_factory=lambda: {"medium": [2, 2], "hard": [4, 4]})
    date_window: list | None = None  # [first, last] ISO dates; None: the sandbox flights' date range

    @classmethod
    def from_params(cls, params: dict) -> "SampleConfig":
        keys = ("levels", "days", "people", "cuisines", "date_window")
        config = cls(**{k: params[k] for k in keys if params.get(k) is not None})
        config.days = {int(k): float(v) for k, v in config.days.items()}
        unknown = set(config.days) - set(DAYS_CITIES)
        if unknown:
            raise ValueError(f"queries.days: trip lengths must be among {sorted(DAYS_CITIES)}, got {sorted(unknown)}")
        unknown = set(config.levels) - set(LEVELS)
        if unknown:
            raise ValueError(f"queries.levels: levels must be among {LEVELS}, got {sorted(unknown)}")
        for level in ("medium", "hard"):
            low, high = config.people[level]
            if not 1 <= low <= high <= 8:
                raise ValueError(f"queries.people.{level}: need 1 <= low <= high <= 8, got {[low, high]}")
            low, high = config.cuisines[level]
            if not 1 <= low <= high <= len(CUISINES):
                raise ValueError(f"queries.cuisines.{level}: need 1 <= low <= high <= {len(CUISINES)}")
        return config


class Sampler:
    """Draws query skeletons (no budget, no text) from one sandbox."""

    def __init__(self, index: SolverIndex, config: SampleConfig):
        self.index, self.config = index, config
        self.usable = sorted(c for c in index.city_state if index.usable(c))
        self.state_usable: dict[str, list[str]] = {}
        for city in self.usable:
            self.state_usable.setdefault(index.city_state[city], []).append(city)
        # Destinations are drawn among places linked to the origin both ways (a drivable route or a
        # flight on some date): TravelPlanner's queries are reachable too, and unlinked pairs would
        # only be sampled to be dropped. Date-specific gaps still drop a sample as "no_transport".
        links: dict[str, set] = {}
        for origin, dest in [*index.routes, *((o, d) for o, d, _ in index.flights)]:
            links.setdefault(origin, set()).add(dest)
        self.linked = {o: {d for d in ds if o in links.get(d, ())} for o, ds in links.items()}
        self.choices: dict[int, dict[str, list[str]]] = {}  # cities -> origin -> destinations
        for n in sorted({DAYS_CITIES[d] for d in config.days}):
            table = {}
            for org in sorted(index.city_state):
                linked = self.linked.get(org, set())
                if n == 1:
                    options = [c for c in self.usable if c in linked]
                else:
                    # a state with n cities, two of them linked to the origin (one to fly / drive
                    # into, another to leave from: the first and last city differ)
                    options = sorted(s for s, cities in self.state_usable.items()
                                     if len([c for c in cities if c != org]) >= n
                                     and len([c for c in cities if c in linked and c != org]) >= 2)
                if options:
                    table[org] = options
            if not table:
                raise ValueError(f"the sandbox has no origin with a reachable {n}-city destination")
            self.choices[n] = table
        self.origins = {n: sorted(t) for n, t in self.choices.items()}
        window = config.date_window or ([index.flight_dates[0], index.flight_dates[-1]] if index.flight_dates else None)
        if not window:
            raise ValueError("queries.date_window is not set and the sandbox has no flights to take it from")
        self.first, self.last = (dt.date.fromisoformat(d) for d in window)
        if (self.last - self.first).days + 1 < max(config.days):
            raise ValueError(f"queries.date_window {window} is shorter than the longest trip ({max(config.days)} days)")

    def _weighted(self, rng: random.Random, weights: dict):
        keys = list(weights)
        return rng.choices(keys, weights=[weights[k] for k in keys])[0]

    def quotas(self, count: int) -> dict[tuple[int, str], int]:
        """`count` split over (days, level) cells in proportion to the weights (largest remainder), so
        a split's mix is exact even though harder cells lose more samples to infeasibility."""
        total = sum(self.config.days.values()) * sum(self.config.levels.values())
        shares = {(d, lv): count * wd * wl / total for d, wd in self.config.days.items()
                  for lv, wl in self.config.levels.items()}
        out = {cell: int(share) for cell, share in shares.items()}
        for cell in sorted(shares, key=lambda c: (-(shares[c] - out[c]), c))[:count - sum(out.values())]:
            out[cell] += 1
        return out

    def sample(self, rng: random.Random, days: int | None = None, level: str | None = None) -> dict:
        days = days if days is not None else self._weighted(rng, self.config.days)
        n = DAYS_CITIES[days]
        level = level if level is not None else self._weighted(rng, self.config.levels)
        org = rng.choice(self.origins[n])
        dest = rng.choice(self.choices[n][org])
        start = self.first + dt.timedelta(days=rng.randrange((self.last - self.first).days - days + 2))
        dates = [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]
        query = {"org": org, "dest": dest, "days": days, "visiting_city_number": n, "date": dates,
                 "level": level, "people_number": 1, "house_rule": None, "cuisine": None, "room_type": None,
                 "transportation": None}
        if level == "easy":
            return query
        query["people_number"] = rng.randint(*self.config.people[level])
        chosen = [rng.choice(MEDIUM_CONSTRAINTS)] if level == "medium" else rng.sample(HARD_CONSTRAINTS, 3)
        for key in chosen:
            if key == "house_rule":
                query[key] = rng.choice(HOUSE_RULES)
            elif key == "room_type":
                query[key] = rng.choice(ROOM_TYPE_VALUES)
            elif key == "transportation":
                query[key] = rng.choice(TRANSPORTATION_VALUES)
            else:
                query[key] = rng.sample(CUISINES, rng.randint(*self.config.cuisines[level]))
        return query
