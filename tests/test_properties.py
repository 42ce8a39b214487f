"""Property-based tests (hypothesis, 10,000 generated inputs each): the parser, both evaluator modes and
the reward never raise on any model output, and keep their documented shapes and bounds."""

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, parse_output
from imagine.domains.travelplanner.evaluate import COMMONSENSE_CHECKS, HARD_CHECKS
from imagine.domains.travelplanner.plan import DAY_FIELDS
from imagine.train.rewards import Reward, RewardWeights

# 10,000 examples per test by default (derandomized: the same inputs every run, no example database);
# IMAGINE_PROPERTY_EXAMPLES lowers it for quick local iterations.
MANY = settings(max_examples=int(os.environ.get("IMAGINE_PROPERTY_EXAMPLES", 10_000)), deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# Real annotated plans and queries (loaded once; hypothesis draws indexes into them).
with open(__import__("tests.conftest", fromlist=["TRAVELPLANNER"]).TRAVELPLANNER / "train.jsonl",
          encoding="utf-8") as _handle:
    QUERIES = [json.loads(line) for line in _handle]
PLANS = [q["plan"] for q in QUERIES]
STRINGS = sorted({v for p in PLANS for d in p for v in d.values() if isinstance(v, str)})

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                        st.text(max_size=20), st.sampled_from(STRINGS))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from([*DAY_FIELDS, "x", "plan"]), inner, max_size=4)),
    max_leaves=8)


@st.composite
def mutated_plan(draw):
    """A real annotated plan, mutated: fields swapped in from other plans, dropped, set to random JSON,
    days duplicated/removed/reordered; or an arbitrary JSON value."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_value)
    plan = copy.deepcopy(PLANS[draw(st.integers(0, len(PLANS) - 1))])
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 5))
        if not plan:
            break
        i = draw(st.integers(0, len(plan) - 1))
        day = plan[i]
        if kind == 0 and isinstance(day, dict):     # recombine: a field from another plan's day
            other = PLANS[draw(st.integers(0, len(PLANS) - 1))]
            field = draw(st.sampled_from(DAY_FIELDS))
            day[field] = other[draw(st.integers(0, len(other) - 1))].get(field)
        elif kind == 1 and isinstance(day, dict):   # random JSON in a field
            day[draw(st.sampled_from([*DAY_FIELDS, "extra"]))] = draw(json_value)
        elif kind == 2 and isinstance(day, dict):   # a field removed
            day.pop(draw(st.sampled_from(DAY_FIELDS)), None)
        elif kind == 3:                             # a day repeated
            plan.insert(i, copy.deepcopy(day))
        elif kind == 4:                             # a day removed
            plan.pop(i)
        else:                                       # a day replaced by a random value
            plan[i] = draw(json_value)
    return plan


def _dump(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return "[]"


@st.composite
def completion(draw):
    """Arbitrary text, or a near-miss answer assembled from think / REFLECTION / fence / JSON pieces."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.text(max_size=200))
    pieces = [draw(st.sampled_from(["", "<think>", "<think>\n", " <think>", "x<think>"])),
              draw(st.text(max_size=30)),
              draw(st.sampled_from(["", REFLECTION_HEADER, "REFLECTION:", "REFLECTION(", "REFLECTION()"])),
              draw(st.sampled_from(["", "No errors.", "Errors exist.", draw(st.text(max_size=20))])),
              draw(st.sampled_from(["", CLOSING_LINE])),
              draw(st.sampled_from(["</think>", "</think>\n", "", "</think></think>", "<think>"]))]
    plan = _dump(draw(mutated_plan()))
    wrap = draw(st.sampled_from(["{}", "```json\n{}\n```", "```\n{}", "Here: {} done", '{{"plan": {}}}', "{}]",
                                 "[{}"]))
    body = wrap.format(plan) if draw(st.booleans()) else plan[:draw(st.integers(0, len(plan)))]
    return "\n".join(pieces) + body


@MANY
@given(st.one_of(st.text(), completion(), st.binary().map(lambda b: b.decode("latin-1")),
                 st.sampled_from([None, 3, b"x", ["<think>"]])))
def test_parse_output_never_raises(text):
    parsed = parse_output(text)
    assert parsed.ok == (parsed.plan is not None)
    if parsed.ok:
        assert isinstance(parsed.plan, list) and parsed.error is None
    else:
        assert parsed.error
    assert parsed.raw == (text if isinstance(text, str) else repr(text))


@pytest.mark.parametrize("mode", ["strict", "compat"])
def test_evaluator_never_raises(mode, scorers):
    scorer = scorers[mode]

    @MANY
    @given(st.integers(0, len(QUERIES) - 1), mutated_plan())
    def check(i, plan):
        query = {k: v for k, v in QUERIES[i].items() if k != "plan"}
        verdict = scorer.score(query, plan)
        assert tuple(verdict.commonsense) == COMMONSENSE_CHECKS and len(verdict.commonsense) == 8
        assert tuple(verdict.hard) == HARD_CHECKS and len(verdict.hard) == 5
        assert all(v is None or isinstance(v, bool) for v in verdict.hard.values())
        assert all(v is None or isinstance(v, bool) for v in verdict.commonsense.values())
        if verdict.final_pass:
            assert all(v is not False for v in (*verdict.commonsense.values(), *verdict.hard.values()))
        json.dumps(verdict.to_dict())

    check()


def test_reward_in_bounds_and_components_sum(scorers):
    reward = Reward(scorers["strict"], memo_size=16)
    low, high = reward.weights.bounds
    query_json = [json.dumps({k: v for k, v in q.items() if k != "plan"}) for q in QUERIES]

    @MANY
    @given(st.integers(0, len(QUERIES) - 1), completion())
    def check(i, text):
        parts = reward.parts(query_json[i], text)
        value = reward(None, [text], [query_json[i]])[0]
        components = [f(None, [text], [query_json[i]])[0] for f in reward.functions()]
        assert low <= value <= high
        assert sum(components) == pytest.approx(value) == pytest.approx(parts.total)
        assert parts.format in (0.0, RewardWeights().format_penalty)

    check()
