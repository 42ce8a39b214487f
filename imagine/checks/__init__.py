"""Great Expectations core: every dataset the pipeline writes is validated through `validate`.

A suite is a plain list of GX 1.x expectation objects (plus optional row rules for conditions GX
cannot state directly). `validate` runs them on one polars frame with a cached ephemeral GX context
and raises `DataValidationError` naming the source file, the dataset, the column, the expectation
type and kwargs, the failing count and sample bad values, one line per failed expectation. A row
rule's line names the columns its condition reads and the expectation it runs (`expect_column_values_to_be_null`
on its `rule:<name>` column). The stages that read a dataset validate it with the same suite first.
GX is handed only the rows that can fail (found with polars, see `_rows_for_gx`), so millions of
rows validate in seconds; the verdicts, counts and sample values are those of all rows.

    from imagine.checks import validate, expect_columns, flag, gx
    validate(frame, [*expect_columns(SCHEMA), gx.expectations.ExpectColumnValuesToNotBeNull(column="city")],
             dataset="cities", source="data/sandbox/cities.parquet",
             rules={"unknown_state": flag(pl.col("state").is_in(states), pl.col("state"))})

Great Expectations is imported lazily (about 3 s), so importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import polars as pl

SAMPLE_VALUES = 5  # bad values quoted per failed expectation
RULE_PREFIX = "rule:"  # row-rule columns are named "rule:<name>"
RULE_EXPECTATION = "expect_column_values_to_be_null"  # what a row rule runs on its "rule:<name>" column
MAX_TEXT = 1_000_000  # characters: any longer text value is corrupt or hostile (see `expect_text_lengths`)


class DataValidationError(ValueError):
    """A dataset failed its expectations; `failures` holds one dict per failed expectation."""

    def __init__(self, message: str, failures: list[dict] | None = None):
        super().__init__(message)
        self.failures = failures or []


class _GXModule:
    """`gx` proxy: `gx.expectations.X` imports great_expectations on first use only."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_gx(), name)


gx = _GXModule()


@lru_cache(maxsize=1)
def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations

    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return great_expectations


@lru_cache(maxsize=1)
def _batch_definition():
    """One ephemeral context, pandas data source and whole-frame batch definition per process."""
    great_expectations = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = great_expectations.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("imagine_frames")
    asset = source.add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


# polars dtype -> the dtype name GX reports for the pandas column `to_pandas_frame` makes of it.
def gx_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int64"
    if dtype.is_float():
        return "float64"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "str"
    raise TypeError(f"no GX type mapping for polars dtype {dtype}")


def to_pandas_frame(frame: pl.DataFrame):
    """polars -> pandas keeping integer and boolean columns exact even when they hold nulls."""
    pandas_frame = frame.to_pandas()
    for name, dtype in frame.schema.items():
        if dtype.is_integer():
            pandas_frame[name] = pandas_frame[name].astype("Int64")
        elif dtype == pl.Boolean:
            pandas_frame[name] = pandas_frame[name].astype("boolean")
    return pandas_frame


def expect_columns(schema: Mapping[str, pl.DataType]) -> list:
    """Expectations that every column of `schema` exists and holds the schema's type."""
    out = []
    for column, dtype in schema.items():
        out.append(gx.expectations.ExpectColumnToExist(column=column))
        out.append(gx.expectations.ExpectColumnValuesToBeOfType(column=column, type_=gx_type(dtype)))
    return out


def expect_text_lengths(schema: Mapping[str, pl.DataType], max_value: int = MAX_TEXT) -> list:
    """Expectations that no text value of `schema`'s String columns is longer than `max_value` characters."""
    return [gx.expectations.ExpectColumnValueLengthsToBeBetween(column=column, max_value=max_value)
            for column, dtype in schema.items() if dtype == pl.String]


def flag(ok: pl.Expr, shown: pl.Expr) -> pl.Expr:
    """Row rule: null where `ok` holds, else `shown` as text (what the error message quotes).

    The columns `ok` reads are what a failure message names as the rule's columns.
    """
    rule = pl.when(ok.fill_null(False)).then(pl.lit(None, pl.String)).otherwise(shown.cast(pl.String))
    try:
        rule._rule_columns = list(dict.fromkeys(ok.meta.root_names()))
    except AttributeError:  # an Expr that takes no attributes: the message names every column it reads
        pass
    return rule


def finite(column: str, who: pl.Expr | None = None) -> pl.Expr:
    """Row rule: a float column holds no NaN or infinity (null is left to the not-null expectations).

    GX sees polars' NaN as a missing value (pandas does), so no GX expectation can tell the two apart.
    """
    shown = pl.format("{}={}", pl.lit(column), pl.col(column))
    if who is not None:
        shown = pl.format("{}: {}", who, shown)
    return flag(pl.col(column).is_null() | pl.col(column).is_finite(), shown)


def _rule_columns(expr: pl.Expr) -> list[str]:
    columns = getattr(expr, "_rule_columns", None)
    if columns is None:
        try:
            columns = list(dict.fromkeys(expr.meta.root_names()))
        except Exception:  # noqa: BLE001 - a message detail, never a reason to crash
            columns = []
    return columns


def _columns_of(kwargs: dict) -> list[str]:
    columns = [kwargs["column"]] if kwargs.get("column") else []
    for key in ("column_list", "column_A", "column_B"):
        value = kwargs.get(key)
        if isinstance(value, str):
            columns.append(value)
        elif value:
            columns.extend(value)
    return columns


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """numpy/pandas scalars -> Python values; missing -> None (for readable messages)."""
    if hasattr(value, "item"):
        value = value.item()
    try:
        if value != value:  # NaN
            return None
    except (TypeError, ValueError):
        pass
    return None if type(value).__name__ in ("NAType", "NaTType") else value


def _describe(dataset: str, source: str, failure: dict) -> str:
    kwargs = ", ".join(f"{k}={_short(v)}" for k, v in failure["kwargs"].items() if k != "column")
    column = failure["column"]
    if column and column.startswith(RULE_PREFIX):
        name, on = column[len(RULE_PREFIX):], failure.get("rule_columns") or []
        where = (f"column {on[0]!r}: " if len(on) == 1
                 else f"columns {', '.join(repr(c) for c in on)}: " if on else "")
        line = f"{source}: {dataset}: {where}rule {name!r} failed ({RULE_EXPECTATION} on {column!r})"
    else:
        where = f"column {column!r}" if column else "table"
        line = f"{source}: {dataset}: {where}: {failure['expectation']}({kwargs}) failed"
    if failure.get("count") is not None:
        line += f": {failure['count']} of {failure['rows']} rows"
    if failure.get("observed") is not None:
        line += f": observed {_short(failure['observed'])}"
    if failure.get("samples"):
        line += f", e.g. {', '.join(_short(v, 40) for v in failure['samples'])}"
    if failure.get("error"):
        line += f": {failure['error']}"
    return line


# Expectation type -> the kwargs `_may_fail` reads. Any other type, or any other kwarg (`mostly`, a
# row condition), makes GX's answer depend on rows that pass: then GX sees every row.
_ROW_WISE = {
    "expect_column_to_exist": {"column"},
    "expect_column_values_to_be_of_type": {"column", "type_"},
    "expect_column_values_to_not_be_null": {"column"},
    "expect_column_values_to_be_null": {"column"},
    "expect_column_values_to_be_unique": {"column"},
    "expect_compound_columns_to_be_unique": {"column_list"},
    "expect_column_values_to_be_in_set": {"column", "value_set"},
    "expect_column_values_to_match_regex": {"column", "regex"},
    "expect_column_values_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_value_lengths_to_be_between": {"column", "min_value", "max_value", "strict_min", "strict_max"},
}
NOT_PRINTABLE_ASCII = "[^ -~]"  # where Python's re (GX) and polars' regex engine may disagree


def _missing(column: str, dtype: pl.DataType) -> pl.Expr:
    """What pandas, and so GX, calls missing: null, and NaN in a float column."""
    value = pl.col(column)
    return value.is_null() | value.is_nan() if dtype.is_float() else value.is_null()


def _exact(dtype: pl.DataType) -> bool:
    """Whether polars compares this dtype's values exactly as pandas does (no -0.0, NaN or casts)."""
    return dtype == pl.String or dtype.is_integer()


def _repeated(value: pl.Expr) -> pl.Expr:
    """Rows whose value may repeat: by hash, 2.5x faster on 3.8M strings; a collision only keeps a row."""
    return value.hash().is_duplicated()


def _outside(value: pl.Expr, kwargs: dict) -> pl.Expr | None:
    """`value` outside GX's [min_value, max_value] (strict_min / strict_max open an end); None when
    a bound is not a plain number."""
    inside = pl.lit(True)
    for bound, strict, above in (("min_value", "strict_min", True), ("max_value", "strict_max", False)):
        limit = kwargs.get(bound)
        if limit is None:
            continue
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            return None
        if above:
            inside &= value > limit if kwargs.get(strict) else value >= limit
        else:
            inside &= value < limit if kwargs.get(strict) else value <= limit
    return ~inside


def _may_fail(expectation, schema: Mapping[str, pl.DataType]) -> pl.Expr | None:
    """Rows GX could count as unexpected for `expectation` (a superset: when in doubt, every row), or
    None when its verdict depends on rows that pass too."""
    kind = expectation.expectation_type
    kwargs = {k: v for k, v in expectation.configuration.kwargs.items() if v is not None}
    if kind not in _ROW_WISE or set(kwargs) - _ROW_WISE[kind]:
        return None
    every_row = pl.lit(True)
    if kind == "expect_column_to_exist":  # missing columns never reach GX (see `validate`)
        return pl.lit(False)
    if kind == "expect_compound_columns_to_be_unique":
        columns = kwargs["column_list"]
        if not all(_exact(schema[c]) for c in columns):
            return every_row
        return _repeated(pl.struct(columns)) | pl.any_horizontal(_missing(c, schema[c]) for c in columns)
    column = kwargs["column"]
    dtype, value, missing = schema[column], pl.col(column), _missing(column, schema[column])
    if kind == "expect_column_values_to_be_of_type":
        # GX reads the column's dtype, or each value's type in an object column: a String column's
        # values are all str, so a matching type passes on any rows and a mismatch needs them all.
        try:
            matches = gx_type(dtype) == kwargs["type_"]
        except TypeError:
            matches = False
        return pl.lit(not matches)
    if kind == "expect_column_values_to_not_be_null":
        return missing
    if kind == "expect_column_values_to_be_null":
        return value.is_not_null()
    if kind == "expect_column_values_to_be_unique":
        return _repeated(value) | missing if _exact(dtype) else every_row
    if kind == "expect_column_values_to_be_in_set":
        values = kwargs["value_set"]
        kinds = str if dtype == pl.String else int if dtype.is_integer() else None
        if kinds is None or not all(isinstance(v, kinds) and not isinstance(v, bool) for v in values):
            return every_row
        return ~value.is_in(values) | missing
    if kind == "expect_column_values_to_be_between":
        outside = _outside(value, kwargs) if dtype.is_integer() or dtype.is_float() else None
        return every_row if outside is None else outside | missing
    if dtype != pl.String:
        return every_row  # GX reads other dtypes through str(): let it judge them all
    if kind == "expect_column_values_to_match_regex":
        return ~value.str.contains(kwargs["regex"]) | value.str.contains(NOT_PRINTABLE_ASCII) | missing
    outside = _outside(value.str.len_chars(), kwargs)  # expect_column_value_lengths_to_be_between
    return every_row if outside is None else outside | missing


def _rows_for_gx(frame: pl.DataFrame, expectations: list) -> pl.DataFrame:
    """The rows GX needs to give the verdicts, counts and sample values it would give on all of `frame`.

    Each expectation type of `_ROW_WISE` judges a row on its own values (uniqueness: on whether
    its value repeats) or only reads the schema, so GX answers the same on the rows that might
    fail, found here with polars and kept in order, plus the first row so no column is empty.
    Handing pandas all 3.8M flights instead took 13 s and 1.4 GiB. Any other expectation gets
    the whole frame.
    """
    masks = []
    for expectation in expectations:
        mask = _may_fail(expectation, frame.schema)
        if mask is None:
            return frame
        masks.append(mask.fill_null(True))
    try:
        return frame.filter(pl.any_horizontal(pl.int_range(pl.len()) == 0, *masks))
    except pl.exceptions.PolarsError:  # e.g. a regex polars cannot read: GX judges every row
        return frame


def validate(frame: pl.DataFrame, expectations: Iterable, *, dataset: str, source: str,
             rules: Mapping[str, pl.Expr] | None = None) -> None:
    """Run GX `expectations` (and row `rules`) on `frame`; raise DataValidationError on any failure.

    `rules` maps a rule name to a polars expression that is null on good rows and a readable
    description of the problem on bad ones (see `flag`); each becomes a column `rule:<name>` with
    an ExpectColumnValuesToBeNull expectation, so it is reported like any other.
    """
    expectations = list(expectations)
    columns = frame.columns
    failures: list[dict] = []
    rule_columns = {RULE_PREFIX + name: _rule_columns(expr) for name, expr in (rules or {}).items()}
    for name, expr in (rules or {}).items():
        try:
            frame = frame.with_columns(expr.cast(pl.String).alias(RULE_PREFIX + name))
        except Exception as exc:  # e.g. a column of the wrong type: report, do not crash
            failures.append({"column": RULE_PREFIX + name, "expectation": RULE_EXPECTATION, "kwargs": {},
                             "rule_columns": rule_columns[RULE_PREFIX + name],
                             "error": f"could not be evaluated: {str(exc).splitlines()[0]}"})
            continue
        expectations.append(gx.expectations.ExpectColumnValuesToBeNull(column=RULE_PREFIX + name))

    runnable = []
    reported: set[str] = set()
    for expectation in expectations:
        kwargs = {k: v for k, v in expectation.configuration.kwargs.items() if v is not None}
        missing = [c for c in _columns_of(kwargs) if c not in frame.columns]
        if missing:  # GX reports a missing column inconsistently; state it plainly, once per column
            if missing[0] in reported:
                continue
            reported.add(missing[0])
            failures.append({"column": missing[0], "expectation": expectation.expectation_type,
                             "kwargs": kwargs, "error": f"column missing (frame has {columns})"})
        else:
            runnable.append(expectation)

    if runnable:
        batch_definition = _batch_definition()  # creates the context the suite needs
        suite = _gx().ExpectationSuite(name=f"{dataset}_suite")
        for expectation in runnable:
            suite.add_expectation(expectation.copy(deep=True))
        rows = _rows_for_gx(frame, runnable)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": to_pandas_frame(rows)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                          "partial_unexpected_count": 20})
        for item in result.results:
            if item.success:
                continue
            config = item.expectation_config
            kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id" and v is not None}
            res = item.result or {}
            samples = []
            for value in res.get("partial_unexpected_list") or []:
                value = _plain(value)
                if value not in samples:
                    samples.append(value)
            error = None
            if item.exception_info and item.exception_info.get("raised_exception"):
                error = (item.exception_info.get("exception_message") or "raised an exception").splitlines()[0]
            columns = _columns_of(kwargs)
            failures.append({
                "column": columns[0] if len(columns) == 1 else (",".join(columns) or None),
                "rule_columns": rule_columns.get(columns[0]) if len(columns) == 1 else None,
                "expectation": config.type, "kwargs": kwargs, "count": res.get("unexpected_count"),
                "rows": frame.height, "observed": res.get("observed_value"),
                "samples": samples[:SAMPLE_VALUES], "error": error,
            })

    if failures:
        lines = [_describe(dataset, source, f) for f in failures]
        header = f"{source}: {dataset}: {len(failures)} expectation(s) failed"
        raise DataValidationError("\n".join([header, *("  " + line for line in lines)]), failures)


__all__ = ["MAX_TEXT", "DataValidationError", "expect_columns", "expect_text_lengths", "finite", "flag", "gx",
           "gx_type", "to_pandas_frame", "validate"]
