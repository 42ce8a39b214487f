"""GX sees only the rows that can fail (`imagine.checks._rows_for_gx`): every failure it reports, with
its count of all rows and its sample values, is what GX reports when handed every row."""

from __future__ import annotations

import math

import polars as pl
import pytest

import imagine.checks as checks
from imagine.checks import DataValidationError, expect_columns, expect_text_lengths, flag, gx, validate
from imagine.domains.travelplanner.checks.sandbox import suites
from imagine.domains.travelplanner.sandbox.tables import SCHEMA

GOOD = {"flight_number": "F0000001", "price": 120, "dep_time": "08:05", "arr_time": "09:40",
        "elapsed": "1 hours 35 minutes", "date": "2022-03-04", "origin": "Austin", "dest": "Boston",
        "distance": 1500.0, "synthetic": False}
# Each bad flight breaks something; the regex cases include text where Python's re and polars'
# regex engine disagree (a trailing newline before `$`, non-ASCII digits), which GX must still judge.
BAD = [
    {"flight_number": None}, {"flight_number": "F0000003"}, {"flight_number": "F0000003"},  # null, repeated
    {"price": 0}, {"price": -5}, {"price": None}, {"distance": math.nan}, {"distance": math.inf},
    {"dep_time": "24:00"}, {"dep_time": "08:05\n"}, {"arr_time": "٠٨:٠٥"}, {"arr_time": "8:05"},
    {"elapsed": "1 hours 35 minutes "}, {"date": "2022-02-30"}, {"date": "04/03/2022"},
    {"origin": "Atlantis"}, {"dest": "Austin"}, {"synthetic": None},
]


def _flights(rows: int) -> pl.DataFrame:
    """`rows` good flights with the BAD ones spread among them."""
    good = [{**GOOD, "flight_number": f"F{i:07d}"} for i in range(rows)]
    step = rows // (len(BAD) + 1)
    for k, bad in enumerate(BAD):
        good[(k + 1) * step] = {**good[(k + 1) * step], **bad}
    return pl.DataFrame(good, schema=SCHEMA["flights"])


def _failures(frame, expectations, rules, *, every_row: bool, monkeypatch) -> list[dict]:
    with monkeypatch.context() as patch:
        if every_row:
            patch.setattr(checks, "_rows_for_gx", lambda whole, _: whole)
        try:
            validate(frame, expectations, dataset="flights", source="f.parquet", rules=rules)
        except DataValidationError as exc:
            return exc.failures
    return []


def test_flights_suite_reports_what_gx_reports_on_every_row(monkeypatch):
    frame = _flights(2_000)
    expectations, rules = suites(["Austin", "Boston"])["flights"]
    expectations = [*expect_columns(SCHEMA["flights"]), *expectations]
    reduced = _failures(frame, expectations, rules, every_row=False, monkeypatch=monkeypatch)
    assert reduced and reduced == _failures(frame, expectations, rules, every_row=True, monkeypatch=monkeypatch)
    failed = {(f["column"], f["expectation"]) for f in reduced}
    assert ("flight_number", "expect_column_values_to_be_unique") in failed
    assert ("distance", "expect_column_values_to_not_be_null") in failed  # NaN: missing to pandas
    assert ("arr_time", "expect_column_values_to_match_regex") in failed
    assert all(f["rows"] == 2_000 for f in reduced)
    assert len(checks._rows_for_gx(frame.with_columns(pl.lit(None, pl.String).alias("rule:x")), expectations)) < 40


@pytest.mark.parametrize("name, frame, expectations", [
    ("type mismatch: every row counted",
     pl.DataFrame({"price": ["1", "2", "3"]}), [gx.expectations.ExpectColumnValuesToBeOfType(column="price", type_="int64")]),
    ("in set, ints and text",
     pl.DataFrame({"days": [3, 4, 7, None], "level": ["easy", "hard", "expert", "hard"]}),
     [gx.expectations.ExpectColumnValuesToBeInSet(column="days", value_set=[3, 5, 7]),
      gx.expectations.ExpectColumnValuesToBeInSet(column="level", value_set=["easy", "hard"])]),
    ("text lengths and compound keys",
     pl.DataFrame({"a": ["x", "y", "x", "é" * 7], "b": [1, 2, 1, 2]}),
     [*expect_text_lengths({"a": pl.String}, max_value=6),
      gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["a", "b"])]),
    ("a rule and a between on a boolean column",
     pl.DataFrame({"ok": [True, False, None], "n": [1.5, -0.0, 9.0]}),
     [gx.expectations.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=5, strict_max=True),
      gx.expectations.ExpectColumnValuesToBeBetween(column="ok", min_value=0)]),
    ("NaN is missing to pandas",
     pl.DataFrame({"x": [1.0, math.nan, None, 2.0]}), [gx.expectations.ExpectColumnValuesToNotBeNull(column="x")]),
    ("mostly: GX needs the passing rows too (3 of 4 pass, 1 of 2 would not)",
     pl.DataFrame({"n": [1, 2, 3, -1]}), [gx.expectations.ExpectColumnValuesToBeBetween(column="n", min_value=0, mostly=0.7)]),
])
def test_other_expectations_report_what_gx_reports_on_every_row(name, frame, expectations, monkeypatch):
    rules = {"odd": flag(pl.col(frame.columns[-1]).is_not_null(), pl.col(frame.columns[-1]))}
    reduced = _failures(frame, expectations, rules, every_row=False, monkeypatch=monkeypatch)
    assert reduced == _failures(frame, expectations, rules, every_row=True, monkeypatch=monkeypatch), name
