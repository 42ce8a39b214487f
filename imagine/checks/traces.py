"""Turns and traces suites: the MAS protocol's two tables (imagine.mas.schema) and how they agree.

turns: every column with its type; ids, role, round, model and counters non-null; role / verdict in
their sets; the round matches the role; judges (and only judges) carry a verdict; a call has either
an output or an error; one turn per (query, role); token counts and latency >= 0; latency not NaN or
infinite; no text value longer than MAX_TEXT characters.

traces: every column with its type; unique query ids; verdicts, level and final_source in their sets;
`flagged` is "some judge did not say No errors"; the reflector ran exactly where flagged; a plan has
a source and an unparseable reasoner output has a reason; an unreflected query keeps the reasoner
plan; `final_pass` agrees with the check columns (a final plan, and no check failed; the domain's
always-scored groups, e.g. TravelPlanner's commonsense checks, never null); `lazy_reflection` is "judged, not flagged, reasoner
plan fails" (so it implies not flagged); `reflector_fixed` is null exactly when not reflected.
a domain's float verdict columns (TravelPlanner's final_cost) are not NaN or infinite; no text value longer than MAX_TEXT characters.
With `turns` given: every query has a reasoner turn, two judge turns when the reasoner produced
text, and a reflector turn exactly when `reflected`.
"""

from __future__ import annotations

import polars as pl

from imagine.checks import expect_columns, expect_text_lengths, finite, flag, gx, validate
from imagine.mas.schema import FINAL_SOURCES, ROLES, ROUNDS, TURNS, VERDICTS, traces_schema


def _scalar(schema):
    return {c: t for c, t in schema.items() if not isinstance(t, pl.List)}


def turns_suite() -> tuple[list, dict]:
    E = gx.expectations
    judge = pl.col("role").str.starts_with("judge_")
    round_ok = pl.lit(False)
    for role, number in ROUNDS.items():
        round_ok = round_ok | ((pl.col("role") == role) & (pl.col("round") == number))
    who = pl.format("{} {}", pl.col("query_id"), pl.col("role"))
    expectations = [
        *expect_columns(TURNS),
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in (
            "query_id", "split", "round", "role", "backend", "model", "prompt_hash", "prompt", "tokens_in",
            "tokens_out", "latency_ms", "cached")],
        E.ExpectColumnValuesToBeInSet(column="role", value_set=list(ROLES)),
        E.ExpectColumnValuesToBeInSet(column="verdict", value_set=list(VERDICTS)),
        E.ExpectColumnValuesToBeInSet(column="round", value_set=sorted(set(ROUNDS.values()))),
        E.ExpectCompoundColumnsToBeUnique(column_list=["query_id", "role"]),
        E.ExpectColumnValuesToMatchRegex(column="prompt_hash", regex=r"^[0-9a-f]{64}$"),
        *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in ("tokens_in", "tokens_out", "latency_ms")],
        *expect_text_lengths(TURNS),
    ]
    rules = {
        "round_matches_role": flag(round_ok, pl.format("{} in round {}", who, pl.col("round"))),
        "verdict_iff_judge": flag(judge == pl.col("verdict").is_not_null(),
                                  pl.format("{} has verdict {}", who, pl.col("verdict").fill_null("null"))),
        "output_or_error": flag(pl.col("output").is_null() == pl.col("error").is_not_null(),
                                pl.format("{}: output and error both set or both missing", who)),
        "latency_finite": finite("latency_ms", who),
    }
    return expectations, rules


def validate_turns(frame: pl.DataFrame, *, source: str) -> None:
    expectations, rules = turns_suite()
    validate(frame, expectations, dataset="turns", source=source, rules=rules)


def traces_suite(domain, with_turns: bool = False) -> tuple[list, dict]:
    E = gx.expectations
    schema = traces_schema(domain)
    who = pl.col("query_id")
    judged = pl.col("judge_1_verdict").is_not_null()
    flagged = judged & ((pl.col("judge_1_verdict") != "no_errors") | (pl.col("judge_2_verdict") != "no_errors"))
    no_check_fails = pl.all_horizontal([pl.col(c).fill_null(True) for c in domain.check_columns])
    always = [c for c, (group, _) in domain.check_columns.items() if group in domain.always_scored]
    expectations = [
        *expect_columns(_scalar(schema)),
        *[E.ExpectColumnToExist(column=c) for c, t in schema.items() if isinstance(t, pl.List)],
        *[E.ExpectColumnValuesToNotBeNull(column=c) for c in (
            "query_id", "split", "level", *domain.query_columns.get("traces", {}), "query", "flagged", "reflected",
            "reasoner_pass", "final_pass", "lazy_reflection", "injected_errors", "tokens_in", "tokens_out",
            *always)],
        E.ExpectColumnValuesToBeUnique(column="query_id"),
        E.ExpectColumnValuesToBeInSet(column="level", value_set=list(domain.levels)),
        E.ExpectColumnValuesToBeInSet(column="judge_1_verdict", value_set=list(VERDICTS)),
        E.ExpectColumnValuesToBeInSet(column="judge_2_verdict", value_set=list(VERDICTS)),
        E.ExpectColumnValuesToBeInSet(column="final_source", value_set=list(FINAL_SOURCES)),
        *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in ("tokens_in", "tokens_out")],
        *expect_text_lengths(_scalar(schema)),
    ]
    rules = {
        "judges_both_or_neither": flag(judged == pl.col("judge_2_verdict").is_not_null(),
                                       pl.format("{}: one judge verdict missing", who)),
        "flagged_from_verdicts": flag(pl.col("flagged") == flagged,
                                      pl.format("{}: flagged={} with verdicts {} / {}", who, pl.col("flagged"),
                                                pl.col("judge_1_verdict").fill_null("null"),
                                                pl.col("judge_2_verdict").fill_null("null"))),
        "reflected_iff_flagged": flag(pl.col("reflected") == pl.col("flagged"),
                                      pl.format("{}: reflected={} flagged={}", who, pl.col("reflected"),
                                                pl.col("flagged"))),
        "plan_has_source": flag(pl.col("final_plan").is_null() == pl.col("final_source").is_null(),
                                pl.format("{}: final_plan and final_source disagree", who)),
        "unparsed_reasoner_has_reason": flag(
            pl.col("reasoner_plan").is_null() == pl.col("reasoner_parse_error").is_not_null(),
            pl.format("{}: reasoner_plan / reasoner_parse_error disagree", who)),
        "reflector_source_needs_reflection": flag(
            (pl.col("final_source") != "reflector").fill_null(True) | pl.col("reflected"),
            pl.format("{}: final plan from a reflector that did not run", who)),
        "unreflected_keeps_reasoner_plan": flag(
            pl.col("reflected") | (pl.col("final_plan").eq_missing(pl.col("reasoner_plan"))),
            pl.format("{}: not reflected but the final plan differs from the reasoner's", who)),
        "final_pass_matches_checks": flag(pl.col("final_pass") == (pl.col("final_plan").is_not_null() & no_check_fails),
                                          pl.format("{}: final_pass={} disagrees with the check columns", who,
                                                    pl.col("final_pass"))),
        "lazy_reflection_definition": flag(
            pl.col("lazy_reflection") == (judged & ~pl.col("flagged") & ~pl.col("reasoner_pass")),
            pl.format("{}: lazy_reflection={} flagged={} reasoner_pass={}", who, pl.col("lazy_reflection"),
                      pl.col("flagged"), pl.col("reasoner_pass"))),
        "lazy_implies_not_flagged": flag(~(pl.col("lazy_reflection") & pl.col("flagged")),
                                         pl.format("{}: lazy but flagged", who)),
        "reflector_fixed_null_iff_not_reflected": flag(
            pl.col("reflector_fixed").is_null() == ~pl.col("reflected"),
            pl.format("{}: reflector_fixed={} reflected={}", who, pl.col("reflector_fixed").cast(pl.String)
                      .fill_null("null"), pl.col("reflected"))),
        "reflector_fixed_definition": flag(
            pl.col("reflector_fixed").is_null()
            | (pl.col("reflector_fixed") == (~pl.col("reasoner_pass") & pl.col("final_pass"))),
            pl.format("{}: reflector_fixed disagrees with reasoner_pass / final_pass", who)),
        **{f"{c}_finite": finite(c, who) for c, t in domain.trace_extra_columns.items() if t.is_float()},
    }
    if with_turns:
        rules |= {
            "has_reasoner_turn": flag(pl.col("_reasoner_turns") == 1,
                                      pl.format("{}: {} reasoner turns", who, pl.col("_reasoner_turns"))),
            "has_two_judge_turns": flag(
                pl.col("_judge_turns") == pl.when(pl.col("_reasoner_ok")).then(2).otherwise(0),
                pl.format("{}: {} judge turns", who, pl.col("_judge_turns"))),
            "reflector_turn_iff_reflected": flag(
                (pl.col("_reflector_turns") == 1) == pl.col("reflected"),
                pl.format("{}: {} reflector turns, reflected={}", who, pl.col("_reflector_turns"),
                          pl.col("reflected"))),
        }
    return expectations, rules


def _with_turn_counts(traces: pl.DataFrame, turns: pl.DataFrame) -> pl.DataFrame:
    counts = turns.group_by("query_id").agg(
        (pl.col("role") == "reasoner").sum().cast(pl.Int64).alias("_reasoner_turns"),
        pl.col("role").str.starts_with("judge_").sum().cast(pl.Int64).alias("_judge_turns"),
        (pl.col("role") == "reflector").sum().cast(pl.Int64).alias("_reflector_turns"),
        ((pl.col("role") == "reasoner") & pl.col("output").is_not_null()).any().alias("_reasoner_ok"),
    )
    joined = traces.join(counts, on="query_id", how="left")
    return joined.with_columns(pl.col(c).fill_null(0) for c in ("_reasoner_turns", "_judge_turns", "_reflector_turns")
                               ).with_columns(pl.col("_reasoner_ok").fill_null(False))


def validate_traces(frame: pl.DataFrame, *, source: str, turns: pl.DataFrame | None = None, domain=None) -> None:
    """Validate a traces frame of `domain` (default: the default domain) and, given `turns`, its
    agreement with them."""
    from imagine.domain import get_domain

    expectations, rules = traces_suite(domain or get_domain(), with_turns=turns is not None)
    if turns is not None and "query_id" in frame.columns:
        frame = _with_turn_counts(frame, turns)
    validate(frame, expectations, dataset="traces", source=source, rules=rules)
