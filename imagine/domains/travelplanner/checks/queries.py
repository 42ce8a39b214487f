"""Queries suite: the queries table (imagine.domains.travelplanner.queries.schema.COLUMNS) and the TravelPlanner rules of a query.

Checked: every column exists with its type; ids unique and non-null; split/source/level/constraint
values in their sets; `date` holds `days` consecutive ISO dates, each a real calendar date (no
2022-02-30); days and city count agree (3/1, 5/2, 7/3); the level matches the constraints (easy: 1
person, no local constraint; medium: exactly one of house rule / cuisine / room type; hard: three);
budget > 0; 1..8 people; non-empty query text; no text value longer than MAX_TEXT characters; min_cost
is not NaN or infinite; feasible rows carry a reference plan whose cost fits the budget; generated rows
are feasible (the solver certified them).
"""

from __future__ import annotations

import polars as pl

from imagine.checks import MAX_TEXT, expect_columns, expect_text_lengths, finite, flag, gx, validate
from imagine.domains.travelplanner.queries.schema import COLUMNS, LEVELS, ROOM_TYPE_VALUES, SOURCES, TRANSPORTATION_VALUES
from imagine.domains.travelplanner.sandbox.tables import CUISINES, HOUSE_RULES

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
SCALAR = {c: t for c, t in COLUMNS.items() if not isinstance(t, pl.List)}


def _who(text: str, *columns: str) -> pl.Expr:
    """A row's description in messages: its query_id, then `text` formatted with `columns`."""
    def shown(column):
        if isinstance(COLUMNS[column], pl.List):
            return pl.lit("[") + pl.col(column).list.join(", ") + pl.lit("]")
        return pl.col(column)
    return pl.format("{}: " + text, pl.col("query_id"), *[shown(c) for c in columns])


def suite(splits: list[str] | None = None) -> tuple[list, dict[str, pl.Expr]]:
    """(expectations, row rules) for a queries frame; `splits` restricts the split names when given."""
    E = gx.expectations
    n_constraints = sum(pl.col(c).is_not_null().cast(pl.Int64)
                        for c in ("house_rule", "cuisine", "room_type", "transportation"))
    date_len = pl.col("date").list.len()
    dates = pl.col("date").list.eval(pl.element().str.to_date("%Y-%m-%d", strict=False))
    real_dates = dates.list.eval(pl.element().is_not_null()).list.all()  # 2022-02-30 parses to null
    consecutive = dates.list.eval(pl.element().diff().dt.total_days().fill_null(1) == 1).list.all()
    level_ok = (
        ((pl.col("level") == "easy") & (n_constraints == 0) & (pl.col("people_number") == 1))
        | ((pl.col("level") == "medium") & (n_constraints == 1) & pl.col("transportation").is_null())
        | ((pl.col("level") == "hard") & (n_constraints == 3))
    )
    expectations = [
        *expect_columns(SCALAR),
        *[E.ExpectColumnToExist(column=c) for c, t in COLUMNS.items() if isinstance(t, pl.List)],
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in (
            "query_id", "split", "source", "idx", "org", "dest", "days", "visiting_city_number", "date",
            "people_number", "budget", "level", "query", "feasible")],
        E.ExpectColumnValuesToBeUnique(column="query_id"),
        E.ExpectColumnValuesToMatchRegex(column="query_id", regex=r"^[0-9a-f]{16}$"),
        E.ExpectColumnValuesToBeInSet(column="source", value_set=list(SOURCES)),
        E.ExpectColumnValuesToBeInSet(column="level", value_set=list(LEVELS)),
        E.ExpectColumnValuesToBeInSet(column="days", value_set=[3, 5, 7]),
        E.ExpectColumnValuesToBeInSet(column="visiting_city_number", value_set=[1, 2, 3]),
        E.ExpectColumnValuesToBeInSet(column="house_rule", value_set=list(HOUSE_RULES)),
        E.ExpectColumnValuesToBeInSet(column="room_type", value_set=list(ROOM_TYPE_VALUES)),
        E.ExpectColumnValuesToBeInSet(column="transportation", value_set=list(TRANSPORTATION_VALUES)),
        E.ExpectColumnValuesToBeBetween(column="people_number", min_value=1, max_value=8),
        E.ExpectColumnValuesToBeBetween(column="budget", min_value=0, strict_min=True),
        E.ExpectColumnValuesToBeBetween(column="idx", min_value=1),
        E.ExpectColumnValueLengthsToBeBetween(column="query", min_value=1, max_value=MAX_TEXT),
        *expect_text_lengths({c: t for c, t in SCALAR.items() if c != "query"}),
    ]
    if splits is not None:
        expectations.append(E.ExpectColumnValuesToBeInSet(column="split", value_set=list(splits)))
    rules = {
        "date_length_equals_days": flag(date_len == pl.col("days"),
                                        _who("{} dates for {} days", "date", "days")),
        "dates_iso": flag(pl.col("date").list.eval(pl.element().str.contains(ISO_DATE)).list.all(),
                          _who("dates {}", "date")),
        "dates_valid": flag(real_dates, _who("dates {} are not all calendar dates", "date")),
        "dates_consecutive": flag(consecutive, _who("dates {} are not consecutive", "date")),
        "days_match_city_count": flag(
            ((pl.col("days") == 3) & (pl.col("visiting_city_number") == 1))
            | ((pl.col("days") == 5) & (pl.col("visiting_city_number") == 2))
            | ((pl.col("days") == 7) & (pl.col("visiting_city_number") == 3)),
            _who("{} days with {} cities", "days", "visiting_city_number")),
        "level_matches_constraints": flag(
            level_ok, pl.format("{}: level {} with {} people and {} local constraint(s)", pl.col("query_id"),
                                pl.col("level"), pl.col("people_number"), n_constraints)),
        "cuisines_known": flag(
            pl.col("cuisine").is_null()
            | ((pl.col("cuisine").list.len() > 0)
               & pl.col("cuisine").list.eval(pl.element().is_in(list(CUISINES))).list.all()),
            _who("cuisine {}", "cuisine")),
        "feasible_has_plan_within_budget": flag(
            ~pl.col("feasible") | (pl.col("reference_plan").is_not_null()
                                   & (pl.col("min_cost") <= pl.col("budget"))),
            _who("feasible with plan cost {} and budget {}", "min_cost", "budget")),
        "min_cost_finite": finite("min_cost", pl.col("query_id")),
        "generated_is_certified": flag((pl.col("source") != "generated") | pl.col("feasible"),
                                       _who("generated but not feasible")),
    }
    return expectations, rules


def validate_queries(frame: pl.DataFrame, *, source: str, splits: list[str] | None = None) -> None:
    """Validate a queries frame; raises DataValidationError naming `source`, the column and expectation."""
    expectations, rules = suite(splits)
    validate(frame, expectations, dataset="queries", source=source, rules=rules)
