"""Evals suite: one row per (model, mode, split, query, sample), as `imagine.evaluation.evals_schema` declares.

Every column with its type; keys non-null and unique; mode and level in their sets; a delivered plan
is a parsed one; `final_pass` agrees with the check columns (delivered, and no check failed) and
implies delivery; the reward lies in its documented range.
"""

from __future__ import annotations

import polars as pl

from imagine.checks import expect_columns, flag, gx, validate
from imagine.evaluation import evals_schema

KEYS = ["model", "mode", "split", "query_id", "sample"]


def validate_evals(frame: pl.DataFrame, *, source: str, reward_bounds: tuple[float, float] = (-1.0, 2.5),
                   domain=None) -> None:
    from imagine.domain import get_domain

    domain = domain or get_domain()
    E = gx.expectations
    who = pl.format("{} {} {} #{}", pl.col("model"), pl.col("mode"), pl.col("query_id"), pl.col("sample"))
    checks_ok = pl.all_horizontal([pl.col(c).fill_null(True) for c in (*domain.check_columns, *domain.compat_columns)])
    expectations = [
        *expect_columns(evals_schema(domain)),
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in (*KEYS, "idx", "level", "delivered", "final_pass",
                                                              "reward")],
        E.ExpectCompoundColumnsToBeUnique(column_list=KEYS),
        E.ExpectColumnValuesToBeInSet(column="mode", value_set=list(domain.modes)),
        E.ExpectColumnValuesToBeInSet(column="level", value_set=list(domain.levels)),
        E.ExpectColumnValuesToBeBetween(column="reward", min_value=reward_bounds[0], max_value=reward_bounds[1]),
        E.ExpectColumnValuesToBeBetween(column="tokens_out", min_value=0),
    ]
    rules = {
        "delivered_is_parsed": flag(~pl.col("delivered") | pl.col("plan").is_not_null(),
                                    pl.format("{} delivered without a parsed plan", who)),
        "final_pass_agrees": flag(pl.col("final_pass") == (pl.col("delivered") & checks_ok),
                                  pl.format("{}: final_pass {} disagrees with its checks", who, pl.col("final_pass"))),
    }
    validate(frame, expectations, dataset="evals", source=source, rules=rules)
