"""Repairs the official TravelPlanner files need before they satisfy the sandbox suite.

- `drop_orphans`: the official hotel/restaurant/attraction/distance files name 43 cities that are not in
  the city list (so no query can reach them); their rows are dropped and counted.
- `dedupe_distances`: the official distance file lists some (origin, dest) pairs two or three times,
  sometimes with different values; we keep, per pair, the first row in file order: the official
  distance lookup (which does not drop empty rows) reads that one, empty or not.
Both return the repaired tables and a JSON-able summary for the manifest.
"""

from __future__ import annotations

import polars as pl

ENTITY_TABLES = ("accommodations", "restaurants", "attractions")


def drop_orphans(tables: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict]:
    cities = tables["cities"]["city"].unique().to_list()
    out, summary = dict(tables), {}
    for table in (*ENTITY_TABLES, "distances", "flights"):
        frame = tables[table]
        columns = ["city"] if table in ENTITY_TABLES else ["origin", "dest"]
        keep = pl.all_horizontal(pl.col(c).is_in(cities) for c in columns)
        dropped = frame.filter(~keep)
        if dropped.height:
            names = sorted({v for c in columns for v in dropped[c].to_list() if v not in cities})
            summary[table] = {"rows": dropped.height, "cities": names}
            out[table] = frame.filter(keep)
    return out, summary


def dedupe_distances(tables: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict]:
    frame = tables["distances"]
    kept = frame.unique(["origin", "dest"], keep="first", maintain_order=True)
    removed = frame.height - kept.height
    return {**tables, "distances": kept}, {"duplicate_rows_removed": removed}
