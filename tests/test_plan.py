"""Reading model outputs: the plan is found or the failure is kept with the raw text."""

import json

import pytest

from imagine.answer import CLOSING_LINE, REFLECTION_HEADER, parse_output

PLAN = [{"days": 1, "current_city": "from A to B", "transportation": "-", "breakfast": "-",
         "attraction": "-", "lunch": "-", "dinner": "-", "accommodation": "-"}]


def _answer(reasoning="I pick flights.", reflection="No errors.", plan_text=None):
    plan_text = json.dumps(PLAN) if plan_text is None else plan_text
    return f"<think>\n{reasoning}\n{REFLECTION_HEADER}\n{reflection}\n{CLOSING_LINE}\n</think>\n{plan_text}"


def test_full_answer_is_split_into_parts():
    out = parse_output(_answer(reflection="Day 2 repeats a restaurant; I replace it."))
    assert out.ok and out.error is None
    assert out.plan == PLAN
    assert out.reasoning == "I pick flights."
    assert out.reflection == "Day 2 repeats a restaurant; I replace it."


@pytest.mark.parametrize("plan_text", [
    "```json\n" + json.dumps(PLAN) + "\n```",
    "```\n" + json.dumps(PLAN) + "\n```",
    "Here is the plan:\n" + json.dumps(PLAN, indent=2) + "\nEnjoy!",
    json.dumps({"plan": PLAN}),
])
def test_plan_tolerates_fences_prose_and_wrapping(plan_text):
    assert parse_output(_answer(plan_text=plan_text)).plan == PLAN


def test_answer_without_reflection_keeps_reasoning():
    out = parse_output("<think>just thinking</think>" + json.dumps(PLAN))
    assert out.ok and out.reflection is None and out.reasoning == "just thinking"


def test_empty_reflection_is_found_but_empty():
    out = parse_output(_answer(reflection=""))
    assert out.ok and out.reflection == ""


@pytest.mark.parametrize("text, error", [
    (json.dumps(PLAN), "missing <think>"),
    ("<think>unclosed " + json.dumps(PLAN), "missing <think>"),
    ("preamble <think>x</think>" + json.dumps(PLAN), "text before <think>"),
    ("<think>x</think>", "no plan after </think>"),
    ("<think>x</think>[{'days': 1}]", "not JSON"),
    ("<think>x</think>{\"days\": 1}", "JSON list of days"),
    (None, "not text"),
    (b"bytes", "not text"),
])
def test_failures_are_data_with_the_raw_text(text, error):
    out = parse_output(text)
    assert not out.ok and out.plan is None
    assert error in out.error
    assert out.raw == (text if isinstance(text, str) else repr(text))


def test_format_answer_round_trips_through_the_parser():
    from imagine.answer import format_answer

    text = format_answer("Step 1: pick a flight.", "Day 2 lunch repeated; replaced.", PLAN)
    out = parse_output(text)
    assert out.ok and out.plan == PLAN
    assert '"current_city": " ' in text  # text values are written after a space, read back without it
    assert out.reasoning == "Step 1: pick a flight." and out.reflection == "Day 2 lunch repeated; replaced."
    assert parse_output(format_answer("r", None, PLAN)).reflection == "No errors."


def test_plan_values_and_list_items_are_written_after_a_space_and_read_back_bare():
    """Names in the prompt follow a space, so the distilled plan writes each text value, and each item
    of a ';' list after the first, after one too (the tokens the student read); parsing removes them."""
    from imagine.answer import format_answer, parse_output

    plan = [{"days": 1, "current_city": "from A to B", "breakfast": "-", "lunch": "Cafe 6, B",
             "attraction": "Beacon Park, B;5 Wits, B;#1 Ghost Tour, B;"}]
    text = format_answer("reasoning", None, plan)
    assert '"lunch": " Cafe 6, B"' in text and '"breakfast": "-"' in text
    assert '"attraction": " Beacon Park, B; 5 Wits, B;#1 Ghost Tour, B;"' in text  # a word starts each spaced item
    assert parse_output(text).plan == plan
