"""Flight coverage of a sandbox, and seeded synthetic flights to complete it.

The vendored TravelPlanner flights file is partial (313 flights on 61 routes, the ones the 45 train
queries use). `coverage` says what is missing; `complete_flights` adds synthetic flights
(`synthetic = True`) so that new queries can be sampled and solved:

- candidate routes: ordered city pairs with a driving distance >= `min_km` (the official distance
  file covers the pairs TravelPlanner queries use; pairs it does not list get no flights);
- a seeded `route_fraction` of the unordered pairs is flown, both ways when both are listed; every
  drivable route that already has a real flight is flown too (whatever its distance);
- each flown route gets `per_day` flights on every date of the window that has no real flight on it.

Synthetic times/prices are plausible from the distance: air miles ~ 0.52 x road km (the ratio seen in
the real file), block time 30 min + 8 mi/min with noise, price ~ (40 + 0.28 $/mi) x lognormal noise.
Times ignore time zones and never pass midnight. Flight numbers are "F9" + 7 digits: 9 characters,
so they cannot collide with official numbers ("F" + 7 digits); a collision is still checked.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from imagine.domains.travelplanner.sandbox.tables import SCHEMA

SYNTHETIC_PREFIX = "F9"


class FlightsError(ValueError):
    """Flight completion asked for something it cannot do (too many rows, a number collision)."""


def date_window(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))
    if last < first:
        raise FlightsError(f"flight window ends ({last}) before it starts ({first})")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _drivable(distances: pl.DataFrame) -> pl.DataFrame:
    return (distances.filter(pl.col("distance_km").is_not_null())
            .unique(["origin", "dest"], keep="first", maintain_order=True)
            .select("origin", "dest", "distance_km"))


def coverage(tables: dict[str, pl.DataFrame], dates: list[str]) -> dict:
    """What the flights table covers, against the drivable pairs and a date window."""
    flights, drivable = tables["flights"], _drivable(tables["distances"])
    routes = flights.select("origin", "dest").unique()
    window = flights.filter(pl.col("date").is_in(dates))
    route_days = window.select("origin", "dest", "date").unique().height
    flown_cities = set(flights["origin"]) | set(flights["dest"])
    return {
        "flights": flights.height,
        "synthetic_flights": int(flights["synthetic"].sum()),
        "dates": {"first": flights["date"].min(), "last": flights["date"].max(),
                  "distinct": flights["date"].n_unique()},
        "window": {"first": dates[0], "last": dates[-1], "days": len(dates)},
        "routes_with_flights": routes.height,
        "drivable_pairs": drivable.height,
        "drivable_pairs_without_flight": drivable.join(routes, on=["origin", "dest"], how="anti").height,
        "drivable_route_days_in_window": drivable.height * len(dates),
        "route_days_with_flight_in_window": route_days,
        "cities_without_flight": sum(1 for c in tables["cities"]["city"] if c not in flown_cities),
    }


def _hhmm(minutes: np.ndarray) -> pl.Series:
    return pl.Series([f"{m // 60:02d}:{m % 60:02d}" for m in minutes.tolist()], dtype=pl.String)


def synthesize(legs: pl.DataFrame, *, per_day: int, seed: int, first_number: int = 0) -> pl.DataFrame:
    """`per_day` flights per row of `legs` (origin, dest, distance_km in road km, date), in SCHEMA."""
    n = legs.height * per_day
    if first_number + n > 10**7:
        raise FlightsError(f"{n} synthetic flights do not fit in {SYNTHETIC_PREFIX} + 7 digits")
    rng = np.random.default_rng(seed)
    leg = np.repeat(np.arange(legs.height), per_day)
    miles = np.maximum(50.0, np.round(legs["distance_km"].to_numpy()[leg] * 0.52))
    elapsed = np.clip(np.round(30 + miles / 8 + rng.normal(0, 8, n)), 25, 16 * 60).astype(np.int64)
    latest = 24 * 60 - 1 - elapsed  # arrive by 23:59 the same day
    dep = (5 * 60 + np.floor(rng.random(n) * np.maximum(1, latest - 5 * 60))).astype(np.int64)
    price = np.maximum(20, np.round((40 + 0.28 * miles) * rng.lognormal(0.0, 0.3, n))).astype(np.int64)
    index = pl.Series(leg)
    frame = pl.DataFrame({
        "flight_number": [f"{SYNTHETIC_PREFIX}{i:07d}" for i in range(first_number, first_number + n)],
        "price": price, "dep_time": _hhmm(dep), "arr_time": _hhmm(dep + elapsed),
        "elapsed": [f"{m // 60} hours {m % 60} minutes" for m in elapsed.tolist()],
        "date": legs["date"].gather(index), "origin": legs["origin"].gather(index),
        "dest": legs["dest"].gather(index), "distance": miles, "synthetic": np.ones(n, dtype=bool),
    }, schema_overrides={"flight_number": pl.String, "elapsed": pl.String})
    return frame.select(pl.col(c).cast(t) for c, t in SCHEMA["flights"].items())


def choose_routes(pairs: pl.DataFrame, *, fraction: float, seed: int) -> pl.DataFrame:
    """A seeded `fraction` of the unordered pairs in `pairs` (origin, dest, ...), kept in both directions
    where both are listed. Deterministic for the same pairs and seed, whatever their row order."""
    key = pl.concat_str(pl.min_horizontal("origin", "dest"), pl.lit("\t"), pl.max_horizontal("origin", "dest"))
    keys = pairs.select(key.alias("key")).unique().sort("key")["key"]
    chosen = keys.filter(pl.Series(np.random.default_rng(seed).random(len(keys)) < fraction))
    return pairs.filter(key.is_in(chosen.implode())).sort("origin", "dest")


def complete_flights(tables: dict[str, pl.DataFrame], *, start: str, end: str, min_km: float = 300,
                     route_fraction: float = 0.3, per_day: int = 1, seed: int = 0,
                     max_rows: int = 150_000) -> tuple[dict[str, pl.DataFrame], dict]:
    """Add synthetic flights on missing (route, date)s; returns new tables and a summary."""
    dates = date_window(start, end)
    flights = tables["flights"]
    drivable = _drivable(tables["distances"])
    candidates = drivable.filter(pl.col("distance_km") >= min_km)
    # Routes with a real flight are always flown (whatever their distance), on every date of the window.
    real_routes = drivable.join(flights.select("origin", "dest").unique(), on=["origin", "dest"], how="semi")
    routes = pl.concat([choose_routes(candidates, fraction=route_fraction, seed=seed), real_routes]
                       ).unique(["origin", "dest"]).sort("origin", "dest")
    # (route, date)s that already have a real flight keep only their real flights.
    grid = routes.join(pl.DataFrame({"date": dates}), how="cross")
    missing = grid.join(flights.select("origin", "dest", "date").unique(), on=["origin", "dest", "date"], how="anti")
    total = flights.height + missing.height * per_day
    if total > max_rows:
        raise FlightsError(
            f"flight completion would make {total} flights (> max_rows {max_rows}): lower "
            f"sandbox.flights.route_fraction / per_day, raise min_km, shorten the window, or raise max_rows; "
            f"for the full official database (~3.8M flights) set sandbox.flights.complete: false")
    added = synthesize(missing.sort("origin", "dest", "date"), per_day=per_day, seed=seed + 1)
    clash = added.join(flights, on="flight_number", how="semi")
    if clash.height:
        raise FlightsError(f"synthetic flight numbers collide with real ones, e.g. {clash['flight_number'][0]}")
    out = pl.concat([flights, added]).sort("date", "origin", "dest", "dep_time")
    summary = {"routes_flown": routes.height, "candidate_routes": candidates.height,
               "synthetic_flights_added": added.height, "params": {
                   "start": str(start), "end": str(end), "min_km": min_km, "route_fraction": route_fraction,
                   "per_day": per_day, "seed": seed, "max_rows": max_rows}}
    return {**tables, "flights": out}, summary
