"""The MAS teacher: rules backend, prompts, parsers, the round-by-round protocol and the GX suites."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from imagine.answer import parse_output
from imagine.checks import DataValidationError
from imagine.checks.traces import validate_traces, validate_turns
from imagine.llm import CallCache, Request, Sampling
from imagine.mas.parsing import ERRORS, NO_ERRORS, UNPARSEABLE, parse_reflection, parse_verdict
from imagine.domains.travelplanner.prompts import Caps, as_query, judge_messages, plan_of, reasoner_messages, reference_info
from imagine.mas.protocol import Protocol, role_configs
from imagine.domains.travelplanner.teacher import INTENDED_CHECK, MISTAKES, RulesBackend, words
from imagine.domain import get_domain
from imagine.mas.schema import TURNS, frame, traces_schema
from imagine.domains.travelplanner.queries import BuildConfig, build_queries
from imagine.domains.travelplanner.sandbox import ROOM_TYPES

TP = get_domain("travelplanner")
TRACES = traces_schema(TP)

NO_MISTAKES = {k: 0.0 for k in MISTAKES}
VOLATILE = ("latency_ms", "cached")  # differ between a fresh and a cached run by design


@pytest.fixture(scope="module")
def rows(official_sandbox):
    config = BuildConfig.from_params({"seed": 3, "counts": {"train": 45, "val": 15}, "import": []})
    frames, _ = build_queries(official_sandbox, config)
    return [row for split in ("train", "val") for row in frames[split].iter_rows(named=True)]


@pytest.fixture(scope="module")
def index(scorers):
    return scorers["strict"].index


def _reasoner_request(row, index):
    return Request(tuple(reasoner_messages(row, reference_info(row, index))),
                   {"role": "reasoner", "query": as_query(row), "reference_plan": row["reference_plan"]})


def _judge_request(row, index, text, k=1):
    return Request(tuple(judge_messages(row, reference_info(row, index), text)),
                   {"role": "judge", "judge": k, "query": as_query(row), "reasoner_output": text})


def _check(verdict, column):
    group, name = column.split("_", 1)
    return (verdict.commonsense if group == "cs" else verdict.hard)[name]


# -- rules teacher ---------------------------------------------------------------------------------

def test_rules_teacher_is_deterministic_and_independent_of_batch_order(rows, index):
    sampling = Sampling(seed=0)
    requests = [_reasoner_request(r, index) for r in rows]
    forward = [o.text for o in RulesBackend(sandbox=index).generate(requests, sampling)]
    backward = [o.text for o in RulesBackend(sandbox=index).generate(requests[::-1], sampling)][::-1]
    assert forward == backward
    other = [o.text for o in RulesBackend(sandbox=index, seed=1).generate(requests, sampling)]
    assert other != forward  # another seed injects other mistakes
    backend = RulesBackend(sandbox=index)
    assert backend.model.startswith("rules-teacher-v1+")
    assert RulesBackend(sandbox=index, miss_rate=0.5).model != backend.model  # rates are part of the cache key
    rewritten = type("RewrittenTeacher", (RulesBackend,), {"version": RulesBackend.version + 1})
    assert rewritten(sandbox=index).model != backend.model  # so is the teacher's version: no stale cached text


def test_reasoning_is_step_by_step_with_prices_and_tally(rows, index):
    backend = RulesBackend(sandbox=index, mistakes=NO_MISTAKES)
    output = backend.generate([_reasoner_request(rows[0], index)], Sampling())[0]
    parsed = parse_output(output.text)
    assert parsed.ok and parsed.reflection is None
    for step in ("Step 1, route", "Step 2, transportation", "Step 3, accommodation",
                 "Step 4, meals and attractions", "Step 5, check", "Running total"):
        assert step in parsed.reasoning
    assert re.search(r"\$\d", parsed.reasoning)
    assert output.tokens_out == words(output.text) and output.tokens_in > 100


def test_reasoning_names_the_chosen_hotel_last_and_no_restaurant_in_the_cuisine_summary(rows, index):
    """The student copies the plan from its reasoning: the hotel it takes is the last one named on its
    line, fenced by " | " like the reference list (names hold commas), and the cuisine summary repeats
    no restaurant name."""
    backend = RulesBackend(sandbox=index, mistakes=NO_MISTAKES)
    outputs = backend.generate([_reasoner_request(r, index) for r in rows], Sampling())
    rejected = summaries = 0
    for output in outputs:
        parsed = parse_output(output.text)
        hotels = {day["accommodation"].rsplit(", ", 1)[0] for day in parsed.plan if day["accommodation"] != "-"}
        restaurants = {day[m].rsplit(", ", 1)[0] for day in parsed.plan for m in ("breakfast", "lunch", "dinner")
                       if day[m] != "-"}
        # DOTALL: a few official hotel names hold a line break
        stays = re.findall(r"^- [^\n]*? nights? \(days \d+-\d+\): (.*?)I take (.*?) \| "
                           rf"(?:{'|'.join(map(re.escape, ROOM_TYPES))}) \| \$", parsed.reasoning, re.MULTILINE | re.DOTALL)
        assert {taken for _, taken in stays} == hotels
        rejected += sum(bool(before) for before, _ in stays)
        for line in re.findall(r"^Cuisines: .*$", parsed.reasoning, re.MULTILINE):
            summaries += 1
            assert not any(name in line for name in restaurants), line
    assert rejected and summaries  # both shapes were exercised


def test_each_meal_carries_its_restaurants_number_in_the_prompts_list(rows, index):
    """The meal schedule walks the prompt's numbered restaurant list: every meal of a plan without
    mistakes names its restaurant after that restaurant's number in its city's list."""
    backend = RulesBackend(sandbox=index, mistakes=NO_MISTAKES)
    requests = [_reasoner_request(r, index) for r in rows]
    for request, output in zip(requests, backend.generate(requests, Sampling())):
        prompt = request.messages[-1]["content"]
        parsed = parse_output(output.text)
        meals = [day[m] for day in parsed.plan for m in ("breakfast", "lunch", "dinner") if day[m] != "-"]
        numbered = re.findall(r"(?:breakfast|lunch|dinner) \[(\d+)\] (.*?) \(\$", parsed.reasoning)
        assert len(numbered) == len(meals)
        for (mark, name), meal in zip(numbered, meals):
            assert meal.rsplit(", ", 1)[0] == name
            city = meal.rsplit(", ", 1)[1]
            menu = prompt.split(f"Restaurants in {city} (", 1)[1].split("\nAttractions in ", 1)[0]
            assert f"\n- [{mark}] {name} | $" in menu, (mark, name)


def test_without_mistakes_every_plan_passes(rows, index, scorers):
    backend = RulesBackend(sandbox=index, mistakes=NO_MISTAKES)
    outputs = backend.generate([_reasoner_request(r, index) for r in rows], Sampling())
    for row, output in zip(rows, outputs):
        parsed = parse_output(output.text)
        assert parsed.ok, parsed.error
        assert scorers["strict"].score(as_query(row), parsed.plan).final_pass


@pytest.mark.parametrize("kind", MISTAKES)
def test_each_mistake_kind_fails_its_intended_check(kind, rows, index, scorers):
    backend = RulesBackend(sandbox=index, mistakes={**NO_MISTAKES, kind: 1.0})
    sampling = Sampling()
    applied = 0
    for row in rows:
        request = _reasoner_request(row, index)
        if backend.injected_errors(request, sampling) != [kind]:
            continue
        applied += 1
        parsed = parse_output(backend.respond(request, sampling))
        if kind == "malformed_json":
            assert not parsed.ok
            continue
        verdict = scorers["strict"].score(as_query(row), parsed.plan)
        assert _check(verdict, INTENDED_CHECK[kind]) is False, (kind, verdict.reasons)
        assert not verdict.final_pass
        reasoning = parsed.reasoning
        if kind == "repeated_restaurant":
            assert "again" in reasoning
        elif kind == "budget_overrun":  # it misread a price: its own tally says the plan fits
            assert "within the budget" in reasoning
        elif kind == "conflicting_transport":
            assert "cheapest option on each leg" in reasoning
        elif kind in ("min_nights_violation", "wrong_room_type", "house_rule_violation"):
            assert "fits everyone" in reasoning  # the hotel it never checked
    assert applied >= 3, f"{kind} applied to only {applied} queries"


def test_judges_miss_and_false_alarm_at_their_rates(rows, index):
    reasoner = RulesBackend(sandbox=index)  # default rates: about half the plans fail
    outputs = reasoner.generate([_reasoner_request(r, index) for r in rows], Sampling())
    judge = RulesBackend(sandbox=index, miss_rate=0.3, false_alarm_rate=0.1, format_error_rate=0.0)
    misses, failing, alarms, passing = 0, 0, 0, 0
    for seed in range(8):
        requests = [_judge_request(r, index, o.text) for r, o in zip(rows, outputs)]
        for row, output, answer in zip(rows, outputs, judge.generate(requests, Sampling(seed=seed))):
            assert answer.text in ("Errors exist.", "No errors.")
            plan, verdict = judge.truth(as_query(row), output.text)
            if verdict is None or not verdict.final_pass:
                failing += 1
                misses += answer.text == "No errors."
            else:
                passing += 1
                alarms += answer.text == "Errors exist."
    assert failing > 100 and passing > 100
    assert abs(misses / failing - 0.3) < 0.09
    assert abs(alarms / passing - 0.1) < 0.07


def test_reflector_names_errors_and_fixes_them(rows, index, scorers):
    reasoner = RulesBackend(sandbox=index, mistakes={**NO_MISTAKES, "min_nights_violation": 1.0,
                                                     "repeated_restaurant": 0.5})
    outputs = reasoner.generate([_reasoner_request(r, index) for r in rows], Sampling())
    failing = [(r, o.text) for r, o in zip(rows, outputs)
               if not scorers["strict"].score(as_query(r), parse_output(o.text).plan).final_pass]
    assert len(failing) >= 10

    def run(rate):
        reflector = RulesBackend(sandbox=index, fix_failure_rate=rate, format_error_rate=0.0)
        fixed = 0
        for row, text in failing:
            answer = reflector.respond(Request(({"role": "user", "content": "x"},), {
                "role": "reflector", "query": as_query(row), "reasoner_output": text,
                "reference_plan": row["reference_plan"]}), Sampling())
            reflection = parse_reflection(answer)
            assert reflection.plan is not None and reflection.error is None
            assert reflection.analysis.startswith("Errors found:\n1. ")
            assert "Minimum nights" in reflection.analysis or "Repeated restaurant" in reflection.analysis
            fixed += scorers["strict"].score(as_query(row), reflection.plan).final_pass
        return fixed / len(failing)

    assert run(0.0) == 1.0
    assert run(1.0) < 0.5  # a failing reflector leaves a wrong day in place


# -- parsers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Errors exist.", ERRORS), ("No errors.", NO_ERRORS), ("errors exist", ERRORS), ("**Errors exist.**", ERRORS),
    ("There are errors in the plan.", ERRORS), ("The plan contains an error.", ERRORS),
    ("No errors", NO_ERRORS), ("NO ERRORS!", NO_ERRORS), ("The plan has no errors.", NO_ERRORS),
    ("No errors exist.", NO_ERRORS), ("<think>maybe errors exist</think>\nNo errors.", NO_ERRORS),
    ("Looks fine to me, hard to say.", UNPARSEABLE), ("", UNPARSEABLE), (None, UNPARSEABLE),
    ("No errors. Errors exist.", UNPARSEABLE),
])
def test_judge_verdict_parser(text, expected):
    assert parse_verdict(text) == expected


def test_reflection_parser_formats():
    plan = [{"days": 1}]
    text = f"Errors found:\n1. x\nCorrected plan:\n```json\n{json.dumps(plan)}\n```"
    parsed = parse_reflection(text)
    assert parsed.plan == plan and parsed.analysis == "Errors found:\n1. x" and parsed.error is None
    bare = parse_reflection(f"Errors found: 1. y\ncorrected plan: {json.dumps(plan)}")
    assert bare.plan == plan and bare.analysis == "Errors found: 1. y"
    fenced = parse_reflection(f"Something is off.\n```json\n{json.dumps(plan)}\n```")
    assert fenced.plan == plan and fenced.analysis == "Something is off."
    missing = parse_reflection("Errors found:\n1. the hotel. I would change it.")
    assert missing.plan is None and "no" in missing.error and missing.analysis
    broken = parse_reflection('Corrected plan:\n```json\n[{"days": 1\n```')
    assert broken.plan is None and "JSON" in broken.error


# -- prompts ---------------------------------------------------------------------------------------

def test_reference_info_is_compact_and_holds_the_reference_plan(rows, index):
    for row in rows:
        text = reference_info(row, index, Caps())
        assert words(text) < 1100
        for day in plan_of(row["reference_plan"]):
            for key in ("breakfast", "lunch", "dinner", "accommodation"):
                if day[key] != "-":
                    assert day[key].rsplit(",", 1)[0] in text
        messages = reasoner_messages(row, text)
        assert [m["role"] for m in messages] == ["system", "user"] and row["query"] in messages[1]["content"]
    small = reference_info(rows[0], index, {"hotels": 0, "restaurants": 0, "attractions": 0, "flights_per_leg": 0})
    assert words(small) < words(reference_info(rows[0], index))
    with pytest.raises(ValueError, match="unknown key"):
        Caps.from_params({"hotel": 3})


def test_the_distilled_plan_spells_places_with_the_tokens_of_the_prompt_and_the_reasoning(rows, index):
    # A byte-level BPE splits a word after a quote differently from one after a space; the student
    # copies names token by token, so the plan writes each value after a space, as the prompt does.
    from imagine.answer import format_answer
    from tests.tiny_model import make_tokenizer

    tokenizer = make_tokenizer()

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    def contains(haystack, needle):
        return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))

    backend = RulesBackend(sandbox=index, mistakes=NO_MISTAKES)
    split_otherwise_after_a_quote = 0
    for row in rows[:6]:
        request = _reasoner_request(row, index)
        prompt = ids(request.messages[1]["content"])
        parsed = parse_output(backend.generate([request], Sampling())[0].text)
        completion = format_answer(parsed.reasoning, None, parsed.plan)
        reasoning, plan = ids(parsed.reasoning), ids(completion.split("</think>")[1])
        assert parse_output(completion).plan == parsed.plan
        for day in parsed.plan:
            for key in ("breakfast", "lunch", "dinner", "accommodation"):
                if day[key] != "-":
                    name = ids(" " + day[key].rsplit(",", 1)[0])
                    split_otherwise_after_a_quote += ids('"' + day[key])[1:len(name) + 1] != name
                    assert contains(plan, name) and contains(prompt, name) and contains(reasoning, name), key
    assert split_otherwise_after_a_quote  # the tokenizer does split some names differently after a quote


def test_role_configs_give_each_judge_its_own_seed():
    roles = role_configs({"reasoner": {"backend": "rules", "temperature": 0.5, "batch_size": 8},
                          "judge": {"backend": "rules", "max_tokens": 8}, "reflector": {"backend": "rules"}}, seed=10)
    assert roles["reasoner"].sampling.temperature == 0.5 and roles["reasoner"].batch_size == 8
    assert roles["judge_1"].sampling.seed == 11 and roles["judge_2"].sampling.seed == 12
    assert roles["judge_1"].spec == {"backend": "rules"}
    with pytest.raises(ValueError, match="unknown role"):
        role_configs({"reasoner": {"backend": "rules"}, "critic": {}, "reflector": {"backend": "rules"}})


# -- protocol --------------------------------------------------------------------------------------

ROLES = {"reasoner": {"backend": "rules", "batch_size": 7}, "judge": {"backend": "rules"},
         "reflector": {"backend": "rules"}}


@pytest.fixture(scope="module")
def protocol_run(rows, index, tmp_path_factory):
    cache_path = tmp_path_factory.mktemp("cache") / "calls.sqlite"
    cache = CallCache(cache_path)
    protocol = Protocol(role_configs(ROLES), TP, index, cache=cache, progress=False)
    first = protocol.run(rows[:20])
    second = protocol.run(rows[:20])
    cache.close()
    return first, second


def test_protocol_runs_rounds_and_reports(protocol_run):
    result, _ = protocol_run
    turns, traces = frame(result.turns, TURNS), frame(result.traces, TRACES)
    validate_turns(turns, source="turns")
    validate_traces(traces, source="traces", turns=turns)
    assert traces.height == 20
    counts = dict(turns.group_by("role").len().iter_rows())
    assert counts["reasoner"] == 20 and counts["judge_1"] == 20 and counts["judge_2"] == 20
    assert counts.get("reflector", 0) == traces["flagged"].sum()
    m = result.metrics
    assert m["queries"] == 20 and m["llm_calls"] == turns.height and m["cache_hits"] == 0
    for key in ("flag_rate", "judge_agreement", "lazy_reflection_rate", "teacher_final_pass_rate",
                "teacher_raw_pass_rate", "tokens", "seconds"):
        assert key in m
    assert set(m["teacher_final_pass_rate"]) == {"all", "easy", "medium", "hard"}
    # the reflector can only have helped: the raw pass rate is below the final one
    assert m["teacher_raw_pass_rate"]["all"] <= m["teacher_final_pass_rate"]["all"]
    injected = traces.filter(pl.col("injected_errors").list.len() > 0)
    assert injected.height > 0 and not injected["reasoner_pass"].any()


def test_rerun_makes_zero_calls_and_same_rows(protocol_run):
    first, second = protocol_run
    assert second.metrics["llm_calls"] == 0 and second.metrics["cache_hits"] == len(first.turns)
    assert frame(first.traces, TRACES).equals(frame(second.traces, TRACES))
    assert frame(first.turns, TURNS).drop(VOLATILE).equals(frame(second.turns, TURNS).drop(VOLATILE))


# -- GX suites reject corrupted tables ----------------------------------------------------------------

@pytest.mark.parametrize("table, corrupt, rule", [
    ("turns", lambda f: f.with_columns(pl.lit("critic").alias("role")), "role"),
    ("turns", lambda f: f.with_columns(pl.lit(None, pl.String).alias("verdict")), "verdict_iff_judge"),
    ("turns", lambda f: f.with_columns(pl.lit(9).alias("round")), "round"),
    ("turns", lambda f: f.drop("prompt_hash"), "prompt_hash"),
    ("traces", lambda f: f.with_columns(~pl.col("final_pass")), "final_pass_matches_checks"),
    ("traces", lambda f: f.with_columns(pl.lit(True).alias("lazy_reflection")), "lazy"),
    ("traces", lambda f: f.with_columns(~pl.col("reflected")), "reflect"),
    ("traces", lambda f: f.with_columns(pl.lit("maybe").alias("judge_1_verdict")), "judge_1_verdict"),
    ("traces", lambda f: pl.concat([f, f.head(1)]), "query_id"),
])
def test_gx_suites_reject_corrupted_tables(protocol_run, table, corrupt, rule):
    result, _ = protocol_run
    turns, traces = frame(result.turns, TURNS), frame(result.traces, TRACES)
    with pytest.raises(DataValidationError, match=rule):
        if table == "turns":
            validate_turns(corrupt(turns), source="turns.parquet")
        else:
            validate_traces(corrupt(traces), source="traces.parquet", turns=turns)


def test_traces_suite_checks_turns_agree(protocol_run):
    result, _ = protocol_run
    turns, traces = frame(result.turns, TURNS), frame(result.traces, TRACES)
    dropped = turns.filter(~((pl.col("role") == "judge_2") & (pl.col("query_id") == traces["query_id"][0])))
    with pytest.raises(DataValidationError, match="has_two_judge_turns"):
        validate_traces(traces, source="traces.parquet", turns=dropped)
