"""The `turns` and `traces` tables: the one statement of their columns (the filter and audit read this).

`turns`: one row per agent call (a cache hit is a row too, with `cached = true`).

| column      | type        | meaning                                                                 |
|-------------|-------------|-------------------------------------------------------------------------|
| query_id    | str         | the query (queries table id)                                            |
| split       | str         | its split                                                               |
| round       | int64       | 1 reasoner, 2 judges, 3 reflector                                       |
| role        | str         | reasoner / judge_1 / judge_2 / reflector                                |
| backend     | str         | backend name (rules, transformers, openai, vllm)                        |
| model       | str         | model name (the rules teacher's carries a digest of its rates)          |
| prompt_hash | str         | the call's content hash (cache key: backend, model, messages, sampling) |
| prompt      | str         | the chat messages as JSON                                               |
| output      | str or null | the model's text; null when the call failed                             |
| verdict     | str or null | judges: errors / no_errors / unparseable; null for other roles          |
| tokens_in   | int64       | prompt tokens (whitespace-separated words for the rules teacher)        |
| tokens_out  | int64       | output tokens (same convention)                                         |
| latency_ms  | float64     | time the call took (0 for a cache hit served now: see `cached`)         |
| cached      | bool        | served from the call cache                                              |
| error       | str or null | why the call failed                                                     |

`traces`: one row per query (`traces_schema(domain)`). Check columns are the domain's strict checker's
verdicts on the FINAL plan, one column per check as the domain names them (`Domain.check_columns`;
TravelPlanner: `cs_<check>` for its 8 commonsense and `hard_<check>` for its 5 hard checks; null: the
check does not apply, or was not scored). The domain also adds its query columns after `level`
(TravelPlanner: `days`, `people_number`) and its own verdict columns after `final_pass`
(TravelPlanner: `final_cost`).

| column                | type        | meaning                                                       |
|-----------------------|-------------|---------------------------------------------------------------|
| query_id, split, level| str         |                                                               |
| (domain query columns)|             | e.g. TravelPlanner's days, people_number                      |
| query                 | str         | the natural-language request                                  |
| reasoner_output       | str or null | raw reasoner text (null: the call failed)                     |
| reasoning             | str or null | the text inside <think>...</think>                            |
| reasoner_plan         | str or null | the reasoner's plan as JSON (null: unparseable)               |
| reasoner_parse_error  | str or null | why the reasoner output has no plan                           |
| judge_1_verdict       | str or null | errors / no_errors / unparseable (null: judge not run)        |
| judge_2_verdict       | str or null |                                                               |
| flagged               | bool        | either judge did not say `No errors.`                         |
| reflected             | bool        | a reflector call was made (exactly when flagged)              |
| reflection            | str or null | the reflector's error analysis (text before its plan)         |
| reflector_parse_error | str or null | why the reflector output gave no usable plan                  |
| final_plan            | str or null | JSON of the plan kept                                         |
| final_source          | str or null | reasoner / reflector (null: no plan at all)                   |
| reasoner_pass         | bool        | strict final_pass of the reasoner plan                        |
| (check columns)       | bool or null| strict checks of the final plan                               |
| final_pass            | bool        | strict final_pass of the final plan                           |
| (domain verdict cols) |             | e.g. TravelPlanner's final_cost (null: not priceable)         |
| reflector_fixed       | bool or null| reflected, reasoner plan failed, final plan passes (null: not reflected) |
| lazy_reflection       | bool        | both judges said No errors. but the reasoner plan fails       |
| injected_errors       | list[str]   | mistake kinds the rules reasoner injected (empty otherwise)   |
| tokens_in, tokens_out | int64       | summed over the query's calls                                 |
"""

from __future__ import annotations

import polars as pl

ROLES = ("reasoner", "judge_1", "judge_2", "reflector")
ROUNDS = {"reasoner": 1, "judge_1": 2, "judge_2": 2, "reflector": 3}
VERDICTS = ("errors", "no_errors", "unparseable")
FINAL_SOURCES = ("reasoner", "reflector")

TURNS: dict[str, pl.DataType] = {
    "query_id": pl.String, "split": pl.String, "round": pl.Int64, "role": pl.String, "backend": pl.String,
    "model": pl.String, "prompt_hash": pl.String, "prompt": pl.String, "output": pl.String,
    "verdict": pl.String, "tokens_in": pl.Int64, "tokens_out": pl.Int64, "latency_ms": pl.Float64,
    "cached": pl.Boolean, "error": pl.String,
}



def traces_schema(domain) -> dict[str, pl.DataType]:
    """The traces columns, in order, for `domain` (imagine.domain.Domain)."""
    return {
        "query_id": pl.String, "split": pl.String, "level": pl.String, **domain.query_columns.get("traces", {}),
        "query": pl.String,
        "reasoner_output": pl.String, "reasoning": pl.String, "reasoner_plan": pl.String,
        "reasoner_parse_error": pl.String,
        "judge_1_verdict": pl.String, "judge_2_verdict": pl.String, "flagged": pl.Boolean,
        "reflected": pl.Boolean, "reflection": pl.String, "reflector_parse_error": pl.String,
        "final_plan": pl.String, "final_source": pl.String, "reasoner_pass": pl.Boolean,
        **{column: pl.Boolean for column in domain.check_columns},
        "final_pass": pl.Boolean, **domain.trace_extra_columns, "reflector_fixed": pl.Boolean,
        "lazy_reflection": pl.Boolean, "injected_errors": pl.List(pl.String),
        "tokens_in": pl.Int64, "tokens_out": pl.Int64,
    }


def frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows -> a frame with exactly `schema`'s columns, in order."""
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)
