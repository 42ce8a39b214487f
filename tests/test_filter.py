"""The `filter` stage: drop reasons, the exact assistant layout, token budget, GX suites, and (when the
pipeline has run) the real filtered data re-scored with the strict scorer."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, parse_output
from imagine.checks import DataValidationError
from imagine.checks.filtered import validate_grpo, validate_sft
from imagine.filtering import (
    DROP_REASONS,
    FilterConfig,
    FilterError,
    build_sft,
    count_tokens,
    filter_traces,
    prompt_drift,
    reasoner_prompts,
)
from imagine.domain import get_domain
from imagine.domains.travelplanner.domain import CS_COLUMNS
from imagine.mas.schema import TURNS, traces_schema
from imagine.mas.schema import frame as schema_frame

TP = get_domain("travelplanner")
TRACES = traces_schema(TP)

ROOT = Path(__file__).resolve().parents[1]

PLAN = [{"days": 1, "current_city": "from Austin to Dallas", "transportation": "-", "breakfast": "-",
         "attraction": "-", "lunch": "-", "dinner": "-", "accommodation": "Inn, Dallas"}]
FIXED = [{**PLAN[0], "accommodation": "Better Inn, Dallas"}]
SYSTEM = "You are the Reasoner. Plan the trip."


def _messages(qid: str) -> str:
    return json.dumps([{"role": "system", "content": SYSTEM},
                       {"role": "user", "content": f"Query {qid}: plan a 3-day trip from Austin to Dallas."}])


def trace(qid: str, **overrides) -> dict:
    """One traces.parquet row (imagine.mas.schema.TRACES) for an unflagged, passing trace."""
    row = {
        "query_id": qid, "split": "train", "level": "easy", "days": 3, "people_number": 1,
        "query": f"query {qid}", "reasoner_output": f"<think>reasoning {qid}</think>{json.dumps(PLAN)}",
        "reasoning": f"Step 1: pick flights for {qid}.\nStep 2: pick hotels.",
        "reasoner_plan": json.dumps(PLAN), "reasoner_parse_error": None,
        "judge_1_verdict": "no_errors", "judge_2_verdict": "no_errors", "flagged": False, "reflected": False,
        "reflection": None, "reflector_parse_error": None, "final_plan": json.dumps(PLAN),
        "final_source": "reasoner", "reasoner_pass": True, "final_pass": True, "final_cost": 500.0,
        "reflector_fixed": None, **{column: True for column in CS_COLUMNS}, "hard_valid_cost": True,
        "lazy_reflection": False, "injected_errors": [], "tokens_in": 10, "tokens_out": 20,
    }
    row.update(overrides)
    return row


def reflected(qid: str, **overrides) -> dict:
    fields = dict(judge_1_verdict="errors", flagged=True, reflected=True, reasoner_pass=False,
                  reflection="The hotel Inn violates the minimum nights; use Better Inn instead.",
                  final_plan=json.dumps(FIXED), final_source="reflector", reflector_fixed=True,
                  injected_errors=["min_nights"])
    return trace(qid, **{**fields, **overrides})


def turns_for(rows: list[dict]) -> pl.DataFrame:
    """turns.parquet rows (imagine.mas.schema.TURNS): each query's reasoner and first judge call."""
    out = []
    for row in rows:
        common = {"query_id": row["query_id"], "split": row["split"], "backend": "rules", "model": "rules-test",
                  "tokens_in": 10, "tokens_out": 10, "latency_ms": 1.0, "cached": False}
        out.append({**common, "round": 1, "role": "reasoner", "prompt": _messages(row["query_id"]),
                    "output": row["reasoner_output"]})
        out.append({**common, "round": 2, "role": "judge_1", "output": "No errors.", "verdict": "no_errors",
                    "prompt": json.dumps([{"role": "user", "content": "judge"}])})
    return schema_frame(out, TURNS)


def traces_frame(rows: list[dict]) -> pl.DataFrame:
    return schema_frame(rows, TRACES)


def queries_frame(ids: list[str], split: str = "train") -> pl.DataFrame:
    return pl.DataFrame([{
        "query_id": qid, "split": split, "org": "Austin", "dest": "Dallas", "days": 3, "visiting_city_number": 1,
        "date": ["2022-03-01", "2022-03-02", "2022-03-03"], "people_number": 1, "budget": 900, "level": "easy",
        "house_rule": None, "cuisine": None, "room_type": None, "transportation": None, "query": f"query {qid}",
    } for qid in ids], schema_overrides={"house_rule": pl.String, "cuisine": pl.List(pl.String),
                                         "room_type": pl.String, "transportation": pl.String})


@pytest.fixture(scope="module")
def tokenizer():
    from tests.tiny_model import make_tokenizer

    return make_tokenizer()


def run(rows, config=FilterConfig(max_tokens=None), tokenizer=None, queries=None, turns=None):
    traces = traces_frame(rows)
    queries = queries if queries is not None else queries_frame([r["query_id"] for r in rows])
    return filter_traces(traces, turns if turns is not None else turns_for(rows), queries, config, TP, tokenizer)


# ------------------------------------------------------------------------------------- layout


def test_unflagged_trace_gets_no_errors_reflection_verbatim():
    result = run([trace("a")])
    assert result.sft.height == 1
    row = result.sft.row(0, named=True)
    assert row["prompt"] == json.loads(_messages("a"))  # the reasoner turn's prompt, verbatim
    assert [m["role"] for m in row["completion"]] == ["assistant"]
    text = row["completion"][0]["content"]
    assert text == (
        "<think>\nStep 1: pick flights for a.\nStep 2: pick hotels.\n"
        "REFLECTION(Now, I need to reflect on whether there are any errors in my reasoning above):\n"
        "No errors.\n"
        "The reflection is over, now IMMEDIATELY output the final answer!\n"
        "</think>\n"  # the plan's text values after a space, "-" bare (imagine.answer._spaced)
        '[{"days": 1, "current_city": " from Austin to Dallas", "transportation": "-", "breakfast": "-", '
        '"attraction": "-", "lunch": "-", "dinner": "-", "accommodation": " Inn, Dallas"}]'
    )
    assert row["reflected"] is False


def test_reflected_trace_gets_the_reflectors_analysis_and_the_corrected_plan():
    result = run([reflected("b")])
    text = result.sft["completion"][0][0]["content"]
    lines = text.split("\n")
    assert lines[0] == "<think>"
    assert REFLECTION_HEADER in lines and CLOSING_LINE in lines
    assert lines[lines.index(REFLECTION_HEADER) + 1] == \
        "The hotel Inn violates the minimum nights; use Better Inn instead."
    assert lines[lines.index(CLOSING_LINE) + 1] == "</think>"
    parsed = parse_output(text)
    assert parsed.plan == FIXED
    assert result.sft["reflected"].to_list() == [True]


# ------------------------------------------------------------------------------- drop reasons


def test_each_drop_reason_is_counted_and_nothing_is_lost():
    rows = [
        trace("keep"),
        reflected("keep_r"),
        trace("fail", final_pass=False, reasoner_pass=False),
        trace("noplan", final_plan=None, reasoner_parse_error="plan is not JSON", final_pass=False),
        trace("noreason", reasoning=""),
        reflected("refl_bad", reflector_parse_error="no plan after </think>"),
        reflected("refl_empty", reflection="  "),
        trace("lazy", lazy_reflection=True, reasoner_pass=False, final_pass=False),
        trace("marker", reasoning="I think </think> is done"),
        trace("keep", reasoning="another sample of the same query"),   # same (split, query_id)
        trace("noprompt"),
    ]
    turns = turns_for([r for r in rows if r["query_id"] != "noprompt"])
    result = run(rows, turns=turns)
    assert sorted(result.sft["query_id"].to_list()) == ["keep", "keep_r"]
    assert result.dropped == {
        "no_prompt": 1, "parse_error": 2, "reflector_parse_error": 2, "not_final_pass": 1, "no_reflection": 0,
        "lazy_reflection": 1, "format_error": 1, "too_long": 0, "duplicate": 1,
    }
    assert set(result.dropped) == set(DROP_REASONS)
    assert result.sft.height + sum(result.dropped.values()) == len(rows)
    metrics = result.metrics()
    assert metrics["traces"] == len(rows) and metrics["kept"] == 2
    assert metrics["examples"]["lazy_reflection"] == ["lazy"]


def test_require_reflection_and_lazy_counted_as_lazy_or_as_failing():
    lazy = trace("lazy", lazy_reflection=True, reasoner_pass=False, final_pass=False)
    rows = [trace("plain"), reflected("refl"), lazy]
    result = run(rows, FilterConfig(require_reflection=True, max_tokens=None))
    assert result.sft["query_id"].to_list() == ["refl"]
    assert result.dropped["no_reflection"] == 1 and result.dropped["lazy_reflection"] == 1
    kept = run(rows, FilterConfig(drop_lazy=False, max_tokens=None))
    assert kept.sft.height == 2  # a lazy trace's plan fails: without drop_lazy it is simply not_final_pass
    assert kept.dropped["lazy_reflection"] == 0 and kept.dropped["not_final_pass"] == 1


def test_duplicate_content_across_ids_and_dedupe_off():
    a, b = trace("a"), trace("b")
    turns = turns_for([a, b]).with_columns(
        pl.when(pl.col("role") == "reasoner").then(pl.lit(_messages("a"))).otherwise(pl.col("prompt")).alias("prompt"))
    b["reasoning"] = a["reasoning"]
    result = run([a, b], turns=turns)
    assert result.sft["query_id"].to_list() == ["a"] and result.dropped["duplicate"] == 1
    # Without dedupe the same (split, query_id) twice is kept twice, and the suite then refuses the file.
    again = run([trace("a"), trace("a")], FilterConfig(dedupe=False, max_tokens=None))
    assert again.sft.height == 2
    with pytest.raises(DataValidationError, match="expect_compound_columns_to_be_unique"):
        validate_sft(again.sft, source="sft.parquet")


def test_splits_param_and_prompt_matching_the_reasoner_output():
    rows = [trace("a"), trace("v", split="val")]
    turns = turns_for(rows)
    stale = {"query_id": "a", "split": "train", "round": 1, "role": "reasoner",
             "prompt": _messages("stale"), "output": "an older attempt"}
    turns = pl.concat([turns, schema_frame([stale], TURNS)])
    result = run(rows, FilterConfig(splits=("train",), max_tokens=None), turns=turns)
    assert result.sft["query_id"].to_list() == ["a"]
    assert result.sft["prompt"][0][1]["content"].startswith("Query a:")  # the turn whose output is the trace's


def test_too_long_uses_the_students_chat_template(tokenizer):
    rows = [trace("short"), trace("long", reasoning="Check the budget again. " * 200)]
    assert count_tokens(None, [[{"role": "user", "content": "hi there."}]]) == [3 + 4]  # approximate count
    full = run(rows, FilterConfig(max_tokens=None), tokenizer)
    tokens = dict(zip(full.sft["query_id"], full.sft["tokens"]))
    text = tokenizer.apply_chat_template(full.sft["prompt"][0].to_list() + full.sft["completion"][0].to_list(),
                                         tokenize=False)
    assert tokens["short"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    budget = (tokens["short"] + tokens["long"]) // 2
    result = run(rows, FilterConfig(max_tokens=budget), tokenizer)
    assert result.sft["query_id"].to_list() == ["short"]
    assert result.dropped["too_long"] == 1
    validate_sft(result.sft, source="sft.parquet", max_tokens=budget)


def test_bad_params_and_missing_columns():
    with pytest.raises(FilterError, match="grpo.source"):
        FilterConfig.from_params({"grpo": {"source": "everything"}})
    with pytest.raises(FilterError, match="unknown filter params"):
        FilterConfig.from_params({"max_token": 10})
    with pytest.raises(FilterError, match="final_pass"):
        build_sft(traces_frame([trace("a")]).drop("final_pass"), None, FilterConfig())
    config = FilterConfig.from_params({"require_reflection": True, "max_tokens": 512, "tokenizer": "models/base",
                                       "grpo": {"source": "kept_traces", "splits": ["train", "val"]}})
    assert config.require_reflection and config.max_tokens == 512 and config.grpo_splits == ("train", "val")


# ---------------------------------------------------------------------------------------- GRPO


def test_grpo_prompts_from_train_queries_and_kept_traces():
    rows = [trace("a"), trace("fail", final_pass=False)]
    queries = pl.concat([queries_frame(["a", "fail", "other"]), queries_frame(["t1"], split="test")])
    built = []

    def builder(row):
        built.append(row["query_id"])
        return json.loads(_messages(row["query_id"]))

    result = filter_traces(traces_frame(rows), turns_for(rows), queries, FilterConfig(max_tokens=None), TP,
                           prompt_builder=builder)
    assert sorted(result.grpo["query_id"]) == ["a", "fail", "other"]  # train split only
    assert built == ["other"]  # queries with a reasoner turn reuse its prompt verbatim
    assert result.grpo_built == 1 and result.metrics()["grpo"]["built_prompts"] == 1
    prompts = reasoner_prompts(turns_for(rows), traces_frame(rows))
    assert prompt_drift(prompts, queries, builder) == {"checked": 2, "mismatched": 0, "examples": []}
    drifted = prompt_drift(prompts, queries, lambda row: [{"role": "system", "content": "new"},
                                                          {"role": "user", "content": "prompt"}], limit=1)
    assert drifted == {"checked": 1, "mismatched": 1, "examples": ["a"]}
    row = result.grpo.filter(pl.col("query_id") == "a").row(0, named=True)
    assert row["prompt"] == json.loads(_messages("a"))
    query = json.loads(row["query_json"])
    assert set(query) == {"org", "dest", "days", "visiting_city_number", "date", "people_number", "budget", "level",
                          "local_constraint"}
    assert query["local_constraint"] == {"house rule": None, "cuisine": None, "room type": None,
                                         "transportation": None}
    validate_grpo(result.grpo, source="grpo_prompts.parquet", domain=TP)

    kept = filter_traces(traces_frame(rows), turns_for(rows), queries,
                         FilterConfig(max_tokens=None, grpo_source="kept_traces"), TP)
    assert kept.grpo["query_id"].to_list() == ["a"]
    no_builder = filter_traces(traces_frame(rows), turns_for(rows), queries, FilterConfig(max_tokens=None), TP)
    assert no_builder.grpo_dropped["no_prompt"] == 1  # "other": no turn and no prompt builder


# ------------------------------------------------------------------------------------ GX suites


def test_suites_accept_good_frames_and_reject_corruption(tmp_path):
    result = run([trace("a"), reflected("b")])
    validate_sft(result.sft, source="sft.parquet", max_tokens=10_000)
    path = tmp_path / "sft.parquet"
    result.sft.write_parquet(path)
    good = pl.read_parquet(path)
    validate_sft(good, source=str(path))

    def content(frame, text):
        return frame.with_columns(pl.col("completion").list.eval(
            pl.struct(pl.element().struct.field("role"), pl.lit(text).alias("content"))))

    bad_text = good["completion"][0][0]["content"].replace(CLOSING_LINE, "The reflection is over.")
    cases = {
        "assistant_layout": content(good, bad_text),
        "prompt_is_system_user": good.with_columns(pl.col("prompt").list.reverse()),
        "no_errors_iff_not_reflected": good.with_columns(pl.lit(True).alias("reflected")),
        "expect_column_values_to_be_between": good.with_columns(pl.lit(0, pl.Int64).alias("tokens")),
        "column .level.: expect_column_to_exist": good.drop("level"),
    }
    for expected, frame in cases.items():
        with pytest.raises(DataValidationError, match=expected):
            validate_sft(frame, source=str(path))

    grpo = result.grpo
    with pytest.raises(DataValidationError, match="query_json_valid"):
        validate_grpo(grpo.with_columns(pl.lit("{not json").alias("query_json")), source="g.parquet", domain=TP)
    with pytest.raises(DataValidationError, match="query_json_valid"):
        validate_grpo(grpo.with_columns(pl.lit(12345, pl.Int64).alias("budget")), source="g.parquet", domain=TP)
