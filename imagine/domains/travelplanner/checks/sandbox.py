"""Sandbox suite: the six normalised tables (imagine.domains.travelplanner.sandbox.tables.SCHEMA) and their cross-table rules.

What the real TravelPlanner data allows, and so what is checked:
- cities are unique; flight numbers are unique (the evaluator looks a flight up by number);
- distances have one row per (origin, dest) once `imagine.domains.travelplanner.sandbox.clean` has removed the official
  file's duplicate pairs; restaurant/hotel/attraction names are NOT unique per city (real data repeats
  some), so no key is enforced there;
- rows with `complete = True` have every field filled (that is what `complete` means);
- every city referenced by any table is in `cities`, unless `orphans_ok` (the official files reference
  43 cities missing from the city list; `clean.drop_orphans` removes those rows by default).
"""

from __future__ import annotations

import polars as pl

from imagine.checks import expect_columns, flag, gx, validate
from imagine.domains.travelplanner.sandbox.tables import HOUSE_RULES, ROOM_TYPES, SCHEMA, TABLES

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
# "No parties & No smoking": each part names one of HOUSE_RULES.
HOUSE_RULES_PATTERN = r"^No (?:{r})(?: & No (?:{r}))*$".format(r="|".join(HOUSE_RULES))


def _not_null(*columns: str) -> list:
    return [gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in columns]


def _between(column: str, low=None, high=None, *, strict_low: bool = False) -> object:
    return gx.expectations.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high,
                                                         strict_min=strict_low)


def _known(column: str, cities: list[str]) -> pl.Expr:
    return flag(pl.col(column).is_in(cities) | pl.col(column).is_null(), pl.col(column))


def _complete_rule(table: str) -> pl.Expr:
    """`complete` rows have no missing field: flag them with the names of the empty fields."""
    fields = [c for c in SCHEMA[table] if c != "complete"]
    empty = pl.concat_str([pl.when(pl.col(c).is_null()).then(pl.lit(c + " ")) for c in fields], ignore_nulls=True)
    return flag(~pl.col("complete") | pl.all_horizontal(pl.col(c).is_not_null() for c in fields),
                pl.lit("complete row with empty ") + empty.str.strip_chars())


def suites(cities: list[str], *, orphans_ok: bool = False) -> dict[str, tuple[list, dict[str, pl.Expr]]]:
    """table -> (expectations, row rules) for the sandbox whose city list is `cities`."""
    E = gx.expectations
    city_rules = lambda *cols: {} if orphans_ok else {f"{c}_in_cities": _known(c, cities) for c in cols}  # noqa: E731
    valid_date = pl.col("date").str.to_date("%Y-%m-%d", strict=False).is_not_null() | pl.col("date").is_null()
    different = flag(pl.col("origin") != pl.col("dest"), pl.col("origin") + " -> " + pl.col("dest"))
    return {
        "cities": (
            [*_not_null("city", "state"), E.ExpectColumnValuesToBeUnique(column="city"),
             E.ExpectTableRowCountToBeBetween(min_value=1)],
            {},
        ),
        "flights": (
            [*_not_null(*(c for c in SCHEMA["flights"])),
             E.ExpectColumnValuesToBeUnique(column="flight_number"),
             _between("price", 0, strict_low=True), _between("distance", 0, strict_low=True),
             E.ExpectColumnValuesToMatchRegex(column="dep_time", regex=HHMM),
             E.ExpectColumnValuesToMatchRegex(column="arr_time", regex=HHMM),
             E.ExpectColumnValuesToMatchRegex(column="date", regex=ISO_DATE),
             E.ExpectColumnValuesToMatchRegex(column="elapsed", regex=r"^\d+ hours \d+ minutes$")],
            {"valid_date": flag(valid_date, pl.col("date")), "origin_differs_from_dest": different,
             **city_rules("origin", "dest")},
        ),
        "distances": (
            [*_not_null("origin", "dest"),
             E.ExpectCompoundColumnsToBeUnique(column_list=["origin", "dest"]),
             _between("distance_km", 0, strict_low=True), _between("duration_min", 0)],
            {"origin_differs_from_dest": different,
             "distance_and_duration_both_or_neither": flag(
                 pl.col("distance_km").is_null() == pl.col("duration_min").is_null(),
                 pl.format("{} -> {}: distance {} duration {}", "origin", "dest", "distance_text", "duration")),
             **city_rules("origin", "dest")},
        ),
        "accommodations": (
            [*_not_null("room_type", "max_occupancy", "city", "complete"),
             E.ExpectColumnValuesToBeInSet(column="room_type", value_set=list(ROOM_TYPES)),
             _between("price", 0, strict_low=True), _between("minimum_nights", 1),
             _between("max_occupancy", 1), _between("review_rate", 0, 5),
             E.ExpectColumnValuesToMatchRegex(column="house_rules", regex=HOUSE_RULES_PATTERN)],
            {"complete_means_filled": _complete_rule("accommodations"), **city_rules("city")},
        ),
        "restaurants": (
            [*_not_null("name", "city", "cuisines", "complete"),
             _between("average_cost", 0, strict_low=True), _between("rating", 0, 5)],
            {"complete_means_filled": _complete_rule("restaurants"), **city_rules("city")},
        ),
        "attractions": (
            [*_not_null("name", "city", "complete"),
             _between("latitude", -90, 90), _between("longitude", -180, 180)],
            {"complete_means_filled": _complete_rule("attractions"), **city_rules("city")},
        ),
    }


def validate_sandbox(tables: dict[str, pl.DataFrame], source: str, *, orphans_ok: bool = False) -> None:
    """Validate all six tables; raise DataValidationError listing every failure of every table."""
    from imagine.checks import DataValidationError

    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise DataValidationError(f"{source}: sandbox: missing table(s) {missing}")
    cities = tables["cities"]
    city_list = cities["city"].drop_nulls().unique().to_list() if "city" in cities.columns else []
    errors: list[DataValidationError] = []
    for table, (expectations, rules) in suites(city_list, orphans_ok=orphans_ok).items():
        frame = tables[table]
        # Rules read columns; a missing column is already reported by expect_columns, so drop them.
        usable = {name: rule for name, rule in rules.items()
                  if set(rule.meta.root_names()) <= set(frame.columns)}
        try:
            validate(frame, [*expect_columns(SCHEMA[table]), *expectations], dataset=table,
                     source=f"{source}/{table}", rules=usable)
        except DataValidationError as exc:
            errors.append(exc)
    if errors:
        lines = [line for exc in errors for line in str(exc).splitlines()[1:]]
        raise DataValidationError(f"{source}: sandbox: {len(lines)} expectation(s) failed\n" + "\n".join(lines),
                                  [f for exc in errors for f in exc.failures])
