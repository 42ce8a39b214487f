"""Plan strings and model outputs: how plans are written, and how a model's answer is read back.

A plan is TravelPlanner's list of day dicts (DESIGN section 2). The `format_*` helpers write the
canonical strings every producer of plans uses (the solver, the rules teacher); `parse_output` reads
a model answer `<think>...REFLECTION...</think>{json plan}` and keeps failures as data.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

DAY_FIELDS = ("days", "current_city", "transportation", "breakfast", "attraction", "lunch", "dinner",
              "accommodation")
# Where a day holds its number: `days` in the official evaluation code (and in every plan we write),
# `day` in the leaderboard's submission format (TravelPlanner issue #20). Both are read.
DAY_NUMBER_KEYS = ("days", "day")
MEALS = ("breakfast", "lunch", "dinner")

REFLECTION_HEADER = "REFLECTION(Now, I need to reflect on whether there are any errors in my reasoning above):"
CLOSING_LINE = "The reflection is over, now IMMEDIATELY output the final answer!"


# ---------------------------------------------------------------------------------------------
# Writing plans


def entity(name: str, city: str) -> str:
    """'Name, City': how restaurants, hotels and attractions appear in a plan."""
    return f"{name}, {city}"


def attractions(names: list[str], city: str) -> str:
    """'A, City;B, City;' (trailing ';' as in TravelPlanner's annotated plans), or '-'."""
    return "".join(f"{entity(n, city)};" for n in names) or "-"


def flight(number: str, origin: str, dest: str, dep_time: str, arr_time: str) -> str:
    return f"Flight Number: {number}, from {origin} to {dest}, Departure Time: {dep_time}, Arrival Time: {arr_time}"


def ground(mode: str, origin: str, dest: str, duration: str, distance_text: str, cost: int) -> str:
    """mode is 'Self-driving' or 'Taxi'."""
    return f"{mode}, from {origin} to {dest}, duration: {duration}, distance: {distance_text}, cost: {cost}"


def ground_cost(mode: str, distance_km: float, people: int) -> int:
    """Total ground transport cost for the group: per car of 5 (driving) or taxi of 4."""
    if mode == "Self-driving":
        return int(distance_km * 0.05) * math.ceil(people / 5)
    return int(distance_km) * math.ceil(people / 4)


def format_answer(reasoning: str, reflection: str | None, plan: list) -> str:
    """The distilled assistant turn (DESIGN section 1): think block with the reasoning, the
    REFLECTION block (the reflector's correction, or "No errors."), the closing line, then the plan."""
    return (f"<think>\n{reasoning.strip()}\n{REFLECTION_HEADER}\n{(reflection or 'No errors.').strip()}\n"
            f"{CLOSING_LINE}\n</think>\n{json.dumps(plan, ensure_ascii=False)}")


# ---------------------------------------------------------------------------------------------
# Reading model outputs

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_REFLECTION = re.compile(r"REFLECTION\s*\(.*?\)\s*:?", re.DOTALL)


@dataclass
class ParsedOutput:
    """A model answer split into its parts. `plan is None` means a format failure; `error` says why."""

    raw: str
    reasoning: str | None = None
    reflection: str | None = None
    plan: list | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.plan is not None


def _json_plan(text: str) -> tuple[list | None, str | None]:
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text:
        return None, "no plan after </think>"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # Tolerate prose around the JSON: take the outermost [...] span.
        start, end = text.find("["), text.rfind("]")
        if start == -1 or end <= start:
            return None, f"plan is not JSON ({exc.msg} at char {exc.pos})"
        try:
            value = json.loads(text[start:end + 1])
        except json.JSONDecodeError as inner:
            return None, f"plan is not JSON ({inner.msg} at char {start + inner.pos})"
    if isinstance(value, dict) and isinstance(value.get("plan"), list):
        value = value["plan"]
    if not isinstance(value, list):
        return None, f"plan must be a JSON list of days, got {type(value).__name__}"
    return value, None


def parse_output(text) -> ParsedOutput:
    """Split `<think>reasoning [REFLECTION...] </think> plan-json` into parts; never raises."""
    if not isinstance(text, str):
        return ParsedOutput(raw=repr(text), error=f"output is {type(text).__name__}, not text")
    out = ParsedOutput(raw=text)
    think = _THINK.search(text)
    if think is None:
        out.error = "missing <think>...</think> block"
        return out
    if text[:think.start()].strip():
        out.error = "text before <think>"
        return out
    body = think.group(1)
    marker = _REFLECTION.search(body)
    if marker:
        out.reasoning = body[:marker.start()].strip()
        reflection = body[marker.end():]
        closing = reflection.find(CLOSING_LINE)
        out.reflection = (reflection[:closing] if closing != -1 else reflection).strip()
    else:
        out.reasoning = body.strip()
    out.plan, out.error = _json_plan(text[think.end():])
    return out
