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


def suite() -> list:
    """The GX expectations of a queries file: columns and types, no nulls, ids unique, values in their
    sets and ranges, no text longer than MAX_TEXT_CHARS."""
    from imagine.checks import expect_columns, expect_text_lengths, gx

    E = gx.expectations
    scalar = {c: t for c, t in QUERY_SCHEMA.items() if not isinstance(t, pl.List)}
    return [
        *expect_columns(scalar),
        *[E.ExpectColumnToExist(column=c) for c, t in QUERY_SCHEMA.items() if isinstance(t, pl.List)],
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in QUERY_SCHEMA],
        E.ExpectColumnValuesToBeUnique(column="query_id"),
        E.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        E.ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS)),
        E.ExpectColumnValuesToBeBetween(column="n_cities", min_value=3, max_value=10),
        E.ExpectColumnValuesToBeBetween(column="n_solutions", min_value=1),
        *expect_text_lengths(scalar, MAX_TEXT_CHARS),
    ]


def validate_queries(frame: pl.DataFrame, source: str = "queries") -> None:
    """Raise ValueError naming `source` (the file), the row and the column of the first problem: the
    GX suite first (`suite`: schema, nulls, sets, ranges, unique ids, text lengths), then the
    constraints' consistency, the id, and that the golden plan passes every strict check."""
    from imagine.checks import validate
    from imagine.domains.trip.checker import Checker

    validate(frame, suite(), dataset="trip queries", source=source)
    checker = Checker("strict")
    for row, record in enumerate(frame.iter_rows(named=True)):
        def fail(column, message, row=row):
            _problem(source, row, column, message)

        cities, stays = record["cities"], record["stays"]
        if record["n_cities"] != len(cities):
            fail("n_cities", f"{record['n_cities']} with {len(cities)} cities listed")
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
