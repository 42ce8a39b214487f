"""The trip queries table: its columns, and a validator naming file, row and column.

| column           | type                                   | meaning                                          |
|------------------|----------------------------------------|--------------------------------------------------|
| query_id         | str                                    | content hash of the constraints (`itinerary.query_id`) |
| split            | str                                    | train / val / test                               |
| level            | str                                    | easy / medium / hard                             |
| n_cities         | int64                                  | cities to visit (3-10)                           |
| days             | int64                                  | total days D = sum(stays) - (n_cities - 1)       |
| cities           | list[str]                              | the cities, in the order the query text names them |
| stays            | list[int64]                            | required days per city, aligned with `cities`    |
| events           | list[struct{city, kind, first_day, last_day}] | fixed-day events: the window must lie inside the city's stay |
| n_events         | int64                                  | len(events)                                      |
| connections      | list[struct{city_a, city_b}]           | the direct flights shown (undirected, city_a < city_b) |
| n_connections    | int64                                  | len(connections)                                 |
| n_solutions      | int64                                  | valid itineraries, counted up to the solution cap |
| solutions_capped | bool                                   | n_solutions reached the cap                      |
| query            | str                                    | the natural-language request                     |
| golden_plan      | str                                    | JSON list of stays: the sampled, certified itinerary |
| golden_text      | str                                    | the same plan in Natural Plan's official free text |
"""

from __future__ import annotations

import json

import polars as pl

from imagine.domains.trip.itinerary import TripQuery, total_days

LEVELS = ("easy", "medium", "hard")
SPLITS = ("train", "val", "test")
MAX_TEXT_CHARS = 100_000
EVENT_TYPE = pl.Struct({"city": pl.String, "kind": pl.String, "first_day": pl.Int64, "last_day": pl.Int64})
CONNECTION_TYPE = pl.Struct({"city_a": pl.String, "city_b": pl.String})
QUERY_SCHEMA: dict[str, pl.DataType] = {
    "query_id": pl.String, "split": pl.String, "level": pl.String, "n_cities": pl.Int64, "days": pl.Int64,
    "cities": pl.List(pl.String), "stays": pl.List(pl.Int64), "events": pl.List(EVENT_TYPE), "n_events": pl.Int64,
    "connections": pl.List(CONNECTION_TYPE), "n_connections": pl.Int64, "n_solutions": pl.Int64,
    "solutions_capped": pl.Boolean, "query": pl.String, "golden_plan": pl.String, "golden_text": pl.String,
}


def _problem(source: str, row: int | None, column: str, message: str):
    where = f"{source}" + (f" row {row}" if row is not None else "") + f" column {column}"
    raise ValueError(f"trip queries: {where}: {message}")


def validate_queries(frame: pl.DataFrame, source: str = "queries") -> None:
    """Raise ValueError naming `source` (the file), the row and the column of the first problem:
    schema, nulls, values, the constraints' consistency, the id, and that the golden plan passes
    every strict check."""
    from imagine.domains.trip.checker import Checker

    for column, dtype in QUERY_SCHEMA.items():
        if column not in frame.columns:
            _problem(source, None, column, f"missing (columns: {frame.columns})")
        if frame.schema[column] != dtype:
            _problem(source, None, column, f"type {frame.schema[column]}, expected {dtype}")
        nulls = frame[column].is_null()
        if nulls.any():
            _problem(source, int(nulls.arg_max()), column, "null value")
    checker = Checker("strict")
    seen: dict[str, int] = {}
    for row, record in enumerate(frame.iter_rows(named=True)):
        def fail(column, message, row=row):
            _problem(source, row, column, message)

        for column in ("query", "golden_plan", "golden_text"):
            if len(record[column]) > MAX_TEXT_CHARS:
                fail(column, f"{len(record[column])} characters (at most {MAX_TEXT_CHARS})")
        if record["split"] not in SPLITS:
            fail("split", f"{record['split']!r} is not one of {SPLITS}")
        if record["level"] not in LEVELS:
            fail("level", f"{record['level']!r} is not one of {LEVELS}")
        if record["query_id"] in seen:
            fail("query_id", f"{record['query_id']!r} repeats row {seen[record['query_id']]}")
        seen[record["query_id"]] = row
        cities, stays = record["cities"], record["stays"]
        if not 1 <= len(cities) <= 10 or record["n_cities"] != len(cities):
            fail("n_cities", f"{record['n_cities']} with {len(cities)} cities listed (1-10 allowed)")
        if len(stays) != len(cities):
            fail("stays", f"{len(stays)} stays for {len(cities)} cities")
        if any(n < 1 for n in stays):
            fail("stays", f"every stay must be at least 1 day, got {stays}")
        if record["days"] != total_days(stays):
            fail("days", f"{record['days']} days, but the stays {stays} cover {total_days(stays)}")
        for column in ("events", "connections"):
            if record[f"n_{column}"] != len(record[column]):
                fail(f"n_{column}", f"{record[f'n_{column}']} with {len(record[column])} {column} listed")
        for i, e in enumerate(record["events"]):
            if not 1 <= e["first_day"] <= e["last_day"] <= record["days"]:
                fail("events", f"event {i} window day {e['first_day']}-{e['last_day']} is not inside days 1-{record['days']}")
        for i, c in enumerate(record["connections"]):
            if not c["city_a"] < c["city_b"]:
                fail("connections", f"connection {i}: city_a must sort before city_b, got {c}")
        if len({(c["city_a"], c["city_b"]) for c in record["connections"]}) != len(record["connections"]):
            fail("connections", "a connection is listed twice")
        if record["n_solutions"] < 1:
            fail("n_solutions", f"{record['n_solutions']}: a query must be solvable")
        try:
            q = TripQuery.of(record)
        except (ValueError, KeyError, TypeError) as exc:
            fail("golden_plan" if "golden" in str(exc) else "cities", str(exc))
        if q.compute_id() != record["query_id"]:
            fail("query_id", f"{record['query_id']!r} is not the hash of the constraints ({q.compute_id()!r})")
        verdict = checker.score(q, json.loads(record["golden_plan"]))
        if not verdict.final_pass:
            failed = {k: v for k, v in verdict.reasons.items() if k != "events" or verdict.groups["constraints"]["events"] is False}
            fail("golden_plan", f"the golden plan fails strict checks: {failed}")


def to_natural_plan(row: dict) -> dict:
    """One query in Natural Plan's data format (`cities`, `durations`, `golden_plan`, `prompt_0shot`),
    so its official script can score responses to our queries."""
    from imagine.domains.trip.official import official_fields

    q = TripQuery.of(row)
    cities, durations = official_fields(q.golden)
    return {"cities": cities, "durations": durations, "golden_plan": row["golden_text"], "prompt_0shot": row["query"]}
