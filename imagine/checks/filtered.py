"""Suites for the `filter` stage's outputs: data/filtered/sft.parquet and grpo_prompts.parquet.

sft: every column with its type; ids and levels valid; (split, query_id) unique; the prompt is
exactly [system, user] and the completion exactly one assistant message with non-empty text; the
assistant text is the DESIGN section 1 layout (starts with `<think>`, holds the REFLECTION header
line and the closing line verbatim, once each and in that order, then `</think>` and a JSON plan that
`imagine.answer.parse_output` reads); an unreflected sample's reflection is "No errors.", a reflected
one's is not; 1 <= tokens <= the token budget.

grpo_prompts: every column with its type; (split, query_id) unique; the prompt is [system, user];
query_json parses into a query the domain's checker accepts and agrees with the flat columns
(`Domain.record_problem`; TravelPlanner: its `date` holds `days` real calendar dates, no 2022-02-30),
plus the domain's own expectations on its columns.

Both: no text value and no message longer than MAX_TEXT characters. The sft and grpo training stages
validate their input with these suites (no token budget) before any work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, THINK_CLOSE, THINK_OPEN, parse_output
from imagine.checks import MAX_TEXT, expect_columns, expect_text_lengths, flag, gx, validate
from imagine.filtering import NO_ERRORS, SFT_COLUMNS, grpo_schema


def _scalar(schema: dict) -> dict:
    return {c: t for c, t in schema.items() if not isinstance(t, pl.List)}


def _roles(column: str) -> pl.Expr:
    return pl.col(column).list.eval(pl.element().struct.field("role").fill_null("<null>")).list.join(",")


def _contents_ok(column: str) -> pl.Expr:
    return pl.col(column).list.eval(
        pl.element().struct.field("content").fill_null("").str.strip_chars().str.len_chars() > 0).list.all()


def _longest(column: str) -> pl.Expr:
    """The length in characters of a message list's longest content (0 when none)."""
    return pl.col(column).list.eval(
        pl.element().struct.field("content").str.len_chars().fill_null(0)).list.max().fill_null(0)


def _messages_fit(*columns: str) -> pl.Expr:
    """Row rule: no message of `columns` is longer than MAX_TEXT characters."""
    ok = pl.all_horizontal([_longest(c) <= MAX_TEXT for c in columns])
    longest = pl.max_horizontal([_longest(c) for c in columns])
    return flag(ok, _who("a message of {} characters (at most {})", longest, pl.lit(MAX_TEXT)))


def _who(text: str, *exprs: pl.Expr) -> pl.Expr:
    return pl.format("{}: " + text, pl.col("query_id"), *exprs)


def _assistant_problem(text) -> str | None:
    """Why an assistant turn is not the DESIGN section 1 layout, or None."""
    if not isinstance(text, str):
        return "no assistant text"
    opening = THINK_OPEN + "\n"
    if not text.startswith(opening):
        return f"does not start with {opening!r}"
    for line in (REFLECTION_HEADER, CLOSING_LINE, THINK_CLOSE):
        if text.count(line) != 1:
            return f"{line[:30]!r} appears {text.count(line)} times"
    header, closing, think_end = (text.index(s) for s in (REFLECTION_HEADER, CLOSING_LINE, THINK_CLOSE))
    if not header < closing < think_end:
        return f"REFLECTION header, closing line and {THINK_CLOSE} out of order"
    if f"\n{REFLECTION_HEADER}\n" not in text or f"\n{CLOSING_LINE}\n{THINK_CLOSE}\n" not in text:
        return "REFLECTION header or closing line not on a line of its own"
    parsed = parse_output(text)
    if not parsed.ok:
        return f"plan does not parse: {parsed.error}"
    if not parsed.reasoning:
        return "empty reasoning"
    if not parsed.reflection:
        return "empty reflection"
    return None


def _reflection(text) -> str | None:
    return parse_output(text).reflection if isinstance(text, str) else None


def sft_suite(levels: Sequence[str] | None = None, max_tokens: int | None = None) -> tuple[list, dict[str, pl.Expr]]:
    """SFT samples' expectations; `levels` (the domain's) restricts the level values when given: training
    reads a sample's text only, so the sft stage checks the file without loading the domain."""
    E = gx.expectations
    assistant = pl.col("completion").list.first().struct.field("content")
    reflection = assistant.map_elements(_reflection, return_dtype=pl.String)
    expectations = [
        *expect_columns(_scalar(SFT_COLUMNS)),
        *[E.ExpectColumnToExist(column=c) for c in ("prompt", "completion")],
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in SFT_COLUMNS],
        E.ExpectCompoundColumnsToBeUnique(column_list=["split", "query_id"]),
        *([E.ExpectColumnValuesToBeInSet(column="level", value_set=list(levels))] if levels else []),
        E.ExpectColumnValuesToBeBetween(column="tokens", min_value=1, max_value=max_tokens),
        *expect_text_lengths(_scalar(SFT_COLUMNS)),
    ]
    rules = {
        "prompt_is_system_user": flag(_roles("prompt") == "system,user", _who("prompt roles [{}]", _roles("prompt"))),
        "completion_is_one_assistant_turn": flag(_roles("completion") == "assistant",
                                                 _who("completion roles [{}]", _roles("completion"))),
        "messages_not_empty": flag(_contents_ok("prompt") & _contents_ok("completion"),
                                   _who("an empty message")),
        "messages_fit": _messages_fit("prompt", "completion"),
        "assistant_layout": pl.format("{}: {}", pl.col("query_id"),
                                      assistant.map_elements(_assistant_problem, return_dtype=pl.String)),
        "no_errors_iff_not_reflected": flag(
            (reflection == NO_ERRORS) != pl.col("reflected"),
            _who("reflected={} with reflection {}", pl.col("reflected"), reflection.str.slice(0, 40))),
    }
    return expectations, rules


def _query_problem(domain, row: dict) -> str | None:
    try:
        record = json.loads(row["query_json"])
    except (TypeError, json.JSONDecodeError) as exc:
        return f"query_json does not parse: {exc}"
    if not isinstance(record, dict):
        return f"query_json is not an object: {str(record)[:60]!r}"
    return domain.record_problem(record, row)


def grpo_suite(domain, max_prompt_tokens: int | None = None) -> tuple[list, dict[str, pl.Expr]]:
    E = gx.expectations
    schema = grpo_schema(domain)
    fields = ["query_json", "level", *domain.query_columns.get("grpo_prompts", {})]
    problem = pl.struct(fields).map_elements(lambda row: _query_problem(domain, row), return_dtype=pl.String)
    expectations = [
        *expect_columns(_scalar(schema)),
        E.ExpectColumnToExist(column="prompt"),
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in schema],
        E.ExpectCompoundColumnsToBeUnique(column_list=["split", "query_id"]),
        E.ExpectColumnValuesToBeInSet(column="level", value_set=list(domain.levels)),
        *domain.grpo_expectations(),
        E.ExpectColumnValuesToBeBetween(column="prompt_tokens", min_value=1, max_value=max_prompt_tokens),
        *expect_text_lengths(_scalar(schema)),
    ]
    rules = {
        "prompt_is_system_user": flag(_roles("prompt") == "system,user", _who("prompt roles [{}]", _roles("prompt"))),
        "messages_not_empty": flag(_contents_ok("prompt"), _who("an empty message")),
        "messages_fit": _messages_fit("prompt"),
        "query_json_valid": pl.format("{}: {}", pl.col("query_id"), problem),
    }
    return expectations, rules


def validate_sft(frame: pl.DataFrame, *, source: str, max_tokens: int | None = None,
                 levels: Sequence[str] | None = None) -> None:
    expectations, rules = sft_suite(levels, max_tokens)
    validate(frame, expectations, dataset="sft", source=source, rules=rules)


def validate_grpo(frame: pl.DataFrame, *, source: str, domain, max_prompt_tokens: int | None = None) -> None:
    """`domain`: the imagine.domain.Domain whose checker reads the prompts' query_json."""
    expectations, rules = grpo_suite(domain, max_prompt_tokens)
    validate(frame, expectations, dataset="grpo_prompts", source=source, rules=rules)
