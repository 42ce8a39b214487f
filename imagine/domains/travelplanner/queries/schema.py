"""The queries table: its columns, stable ids, and conversion to and from TravelPlanner's query dicts.

One row per query. TravelPlanner's nested `local_constraint` dict is stored as four flat columns so
DuckDB and GX see plain columns (`SELECT * FROM queries WHERE room_type = 'shared room'`):

| column               | type        | meaning                                                       |
|----------------------|-------------|---------------------------------------------------------------|
| query_id             | str         | content hash of the defining fields (see `query_id`)          |
| split                | str         | train / val / test (or any split an import names)             |
| source               | str         | generated / travelplanner                                     |
| idx                  | int64       | 1-based position inside its split (TravelPlanner's `idx`)     |
| org, dest            | str         | origin city; destination city (1 city) or state (2-3 cities)  |
| days                 | int64       | 3, 5 or 7                                                     |
| visiting_city_number | int64       | 1, 2 or 3                                                     |
| date                 | list[str]   | ISO dates, one per day                                        |
| people_number        | int64       | 1..8                                                          |
| budget               | int64       | USD, whole trip                                               |
| level                | str         | easy / medium / hard                                          |
| house_rule           | str or null | parties, smoking, children under 10, visitors, pets           |
| cuisine              | list[str] or null | requested cuisines                                       |
| room_type            | str or null | entire room, private room, shared room, not shared room       |
| transportation       | str or null | no flight, no self-driving                                    |
| query                | str         | the natural-language request                                  |
| feasible             | bool        | a plan passing every strict check within budget is known      |
| reference_plan       | str or null | JSON list of day dicts: that plan (the solver's, else the annotated one) |
| min_cost             | float or null | strict cost of reference_plan                               |
| compat_pass          | bool or null | reference_plan also passes the official (compat) evaluator   |
| annotated_plan       | str or null | JSON plan shipped with an imported query (TravelPlanner train) |
"""

from __future__ import annotations

import hashlib
import json

import polars as pl

from imagine.domains.travelplanner.plan import LEVELS  # noqa: F401  (the level column's values, re-exported)

SOURCES = ("generated", "travelplanner")
CONSTRAINT_KEYS = {  # TravelPlanner key -> our column
    "house rule": "house_rule", "cuisine": "cuisine", "room type": "room_type", "transportation": "transportation",
}
ROOM_TYPE_VALUES = ("entire room", "private room", "shared room", "not shared room")
TRANSPORTATION_VALUES = ("no flight", "no self-driving")
DAYS_CITIES = {3: 1, 5: 2, 7: 3}

COLUMNS: dict[str, pl.DataType] = {
    "query_id": pl.String, "split": pl.String, "source": pl.String, "idx": pl.Int64,
    "org": pl.String, "dest": pl.String, "days": pl.Int64, "visiting_city_number": pl.Int64,
    "date": pl.List(pl.String), "people_number": pl.Int64, "budget": pl.Int64, "level": pl.String,
    "house_rule": pl.String, "cuisine": pl.List(pl.String), "room_type": pl.String,
    "transportation": pl.String, "query": pl.String, "feasible": pl.Boolean,
    "reference_plan": pl.String, "min_cost": pl.Float64, "compat_pass": pl.Boolean,
    "annotated_plan": pl.String,
}

TRAVELPLANNER_FIELDS = ("org", "dest", "days", "visiting_city_number", "date", "people_number",
                        "local_constraint", "budget", "query", "level")


def local_constraint(row: dict) -> dict:
    """TravelPlanner's `local_constraint` dict from a row's flat columns (absent = None)."""
    cuisine = row.get("cuisine")
    return {
        "house rule": row.get("house_rule"),
        "cuisine": list(cuisine) if cuisine is not None else None,
        "room type": row.get("room_type"),
        "transportation": row.get("transportation"),
    }


def flatten(query: dict) -> dict:
    """A TravelPlanner query dict (nested `local_constraint`) -> our flat constraint columns; rows
    that are already flat pass through."""
    if "local_constraint" not in query or any(c in query for c in CONSTRAINT_KEYS.values()):
        return query
    constraint = query.get("local_constraint") or {}
    return {**query, **{column: constraint.get(key) for key, column in CONSTRAINT_KEYS.items()}}


def constraint_count(row: dict) -> int:
    return sum(row.get(column) is not None for column in CONSTRAINT_KEYS.values())


def trip_key(row: dict) -> dict:
    """The fields that define a trip request, budget excluded: two queries equal here are duplicates
    for dedup (a generated query differing from a benchmark one only in budget still leaks it)."""
    cuisine = row.get("cuisine")
    return {
        "org": row["org"], "dest": row["dest"], "days": int(row["days"]),
        "visiting_city_number": int(row["visiting_city_number"]), "date": list(row["date"]),
        "people_number": int(row["people_number"]), "house_rule": row.get("house_rule"),
        "cuisine": sorted(cuisine) if cuisine is not None else None, "room_type": row.get("room_type"),
        "transportation": row.get("transportation"),
    }


def _digest(value: dict) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def trip_hash(row: dict) -> str:
    return _digest(trip_key(row))


def query_id(row: dict) -> str:
    """16 hex chars of sha256 over the trip fields plus budget (the task a model is asked to solve)."""
    return _digest({**trip_key(row), "budget": int(row["budget"])})


def to_travelplanner(row: dict) -> dict:
    """A table row -> the official query dict (`local_constraint` with TravelPlanner's key names)."""
    out = {
        "idx": row.get("idx"), "query_id": row.get("query_id"),
        "org": row["org"], "dest": row["dest"], "days": int(row["days"]),
        "visiting_city_number": int(row["visiting_city_number"]), "date": list(row["date"]),
        "people_number": int(row["people_number"]), "local_constraint": local_constraint(row),
        "budget": int(row["budget"]), "query": row["query"], "level": row["level"],
    }
    return {k: v for k, v in out.items() if v is not None or k in TRAVELPLANNER_FIELDS}


def frame(rows: list[dict]) -> pl.DataFrame:
    """Rows (dicts with any subset of COLUMNS) -> a frame with exactly COLUMNS, in order."""
    return pl.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], schema=COLUMNS)
