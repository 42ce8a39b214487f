"""The GRPO reward on hand-made completions: format failure, each component, reflection bonus/penalty."""

import copy
import json

import pytest

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, format_answer
from imagine.train.rewards import Reward


@pytest.fixture(scope="module")
def reward(scorers):
    return Reward(scorers["strict"])


@pytest.fixture(scope="module")
def train_one(train_queries):
    query = {k: v for k, v in train_queries[0].items() if k != "plan"}  # easy: only the budget applies
    return json.dumps(query), train_queries[0]["plan"]


def _score(reward, query_json, text):
    parts = reward.parts(query_json, [{"role": "assistant", "content": text}])
    assert reward(None, [text], [query_json]) == [pytest.approx(parts.total)]
    return parts


def test_passing_plan_with_reflection_scores_the_maximum(reward, train_one):
    query_json, plan = train_one
    parts = _score(reward, query_json, format_answer("I chose flights.", "Day 2 lunch repeated; fixed.", plan))
    assert (parts.format, parts.commonsense, parts.hard, parts.reflection) == (0.0, 1.0, 1.0, 0.5)
    assert parts.total == reward.weights.bounds[1] == 2.5


def test_no_errors_reflection_counts_as_a_reflection(reward, train_one):
    query_json, plan = train_one
    assert _score(reward, query_json, format_answer("r", None, plan)).reflection == 0.5  # "No errors."


@pytest.mark.parametrize("text", [
    "no think block at all",
    "<think>reasoning</think>",
    "<think>reasoning</think> the plan is below? no.",
    "<think>unclosed [1, 2]",
])
def test_format_failures_get_the_penalty_only(reward, train_one, text):
    parts = _score(reward, train_one[0], text)
    assert parts.total == -1.0 and (parts.commonsense, parts.hard, parts.reflection) == (0.0, 0.0, 0.0)


def test_plan_inside_the_think_block_is_a_format_failure(reward, train_one):
    query_json, plan = train_one
    assert _score(reward, query_json, f"<think>{json.dumps(plan)}</think>").total == -1.0


def test_missing_or_empty_reflection_is_penalised(reward, train_one):
    query_json, plan = train_one
    bare = f"<think>\nI chose flights.\n</think>\n{json.dumps(plan)}"
    assert _score(reward, query_json, bare).reflection == -0.5
    empty = f"<think>\nr\n{REFLECTION_HEADER}\n\n{CLOSING_LINE}\n</think>\n{json.dumps(plan)}"
    assert _score(reward, query_json, empty).reflection == -0.5
    assert _score(reward, query_json, empty).total == 1.5


def test_commonsense_component_counts_passed_checks(reward, train_one):
    query_json, plan = train_one
    broken = copy.deepcopy(plan)
    broken[1]["dinner"] = broken[1]["lunch"]  # one check fails: repeated restaurant
    parts = _score(reward, query_json, format_answer("r", None, broken))
    assert parts.commonsense == pytest.approx(7 / 8)
    assert parts.hard == 1.0


def test_hard_component_counts_applicable_checks(reward, train_one):
    query_json, plan = train_one
    query = json.loads(query_json)
    query["budget"] = 10  # the only applicable hard check fails
    parts = _score(reward, json.dumps(query), format_answer("r", None, plan))
    assert parts.commonsense == 1.0 and parts.hard == 0.0
    query["local_constraint"]["room type"] = "shared room"  # a second applicable check
    query["budget"] = 10**6
    parts = _score(reward, json.dumps(query), format_answer("r", None, plan))
    assert parts.hard in (0.5, 1.0)


def test_unscored_hard_checks_count_as_failed(reward, train_one):
    query_json, plan = train_one
    invented = copy.deepcopy(plan)
    invented[1]["lunch"] = "Nowhere Diner, Rockford"  # leaves the sandbox: hard checks are not scored
    parts = _score(reward, query_json, format_answer("r", None, invented))
    assert parts.hard == 0.0 and parts.commonsense == pytest.approx(7 / 8)


def test_a_plan_cut_to_its_first_leg_earns_no_vacuous_commonsense_credit(reward, scorers, train_one):
    """The exploit GRPO found at lr 2e-5: day 1's transport and nothing else. The official checks pass
    six of eight on it (no meals: no repeat, no stays: no minimum-nights breach, ...); strict scores
    none of those passes, so the cut plan earns less than the whole one with a repeated restaurant."""
    query_json, plan = train_one
    cut = [{**{k: "-" for k in plan[0]}, "days": 1, "current_city": plan[0]["current_city"],
            "transportation": plan[0]["transportation"]}]
    compat = scorers["compat"].score(json.loads(query_json), cut).commonsense
    assert sum(v is True for v in compat.values()) == 6
    parts = _score(reward, query_json, format_answer("r", None, cut))
    assert parts.commonsense == 0.0 and parts.hard == 0.0 and parts.total == 0.5
    repeated = copy.deepcopy(plan)
    repeated[1]["dinner"] = repeated[1]["lunch"]
    assert _score(reward, query_json, format_answer("r", None, repeated)).total > parts.total + 1


def test_components_sum_to_the_reward_and_are_named(reward, train_one):
    query_json, plan = train_one
    texts = [format_answer("r", "x", plan), "garbage", format_answer("r", None, plan[:2])]
    functions = reward.functions()
    assert [f.__name__ for f in functions] == ["reward_format", "reward_commonsense", "reward_hard", "reward_reflection"]
    sums = [sum(values) for values in zip(*(f(None, texts, query_json=[query_json] * 3) for f in functions))]
    assert sums == pytest.approx(reward(None, texts, [query_json] * 3))


def test_compat_scorer_is_refused(scorers):
    with pytest.raises(ValueError, match="strict"):
        Reward(scorers["compat"])
