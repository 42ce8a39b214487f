"""The trip answer: after the think block, a JSON list of stays in visiting order.

    [{"city": "Helsinki", "first_day": 1, "last_day": 5}, {"city": "Barcelona", "first_day": 5, "last_day": 9}]

`read_stays(value)` reads it leniently but safely: a fenced or bare list, or one wrapped in
{"stays": [...]} / {"plan": [...]} / {"itinerary": [...]}; items as dicts (day keys `first_day` /
`last_day`, or `start_day` / `end_day`, `start` / `end`) or as [city, first, last]; day numbers as
ints, integral floats or digit strings. City names are kept exactly as written (the checker, not the
reader, decides whether " helsinki" is Helsinki: it is not). Anything else is an error string,
never an exception.

`to_official_text` writes Natural Plan's free-text form of a plan; `from_official_text` reads free
text the way the official scorer does (see `official.py`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from imagine.answer import parse_output, unspaced
from imagine.domains.trip.itinerary import Stay
from imagine.domains.trip.official import flight_bounds

MAX_STAYS = 64
MAX_CITY_CHARS = 100
FIRST_KEYS = ("first_day", "start_day", "start")
LAST_KEYS = ("last_day", "end_day", "end")
WRAPPERS = ("stays", "plan", "itinerary")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def _day(value, where: str) -> tuple[int | None, str | None]:
    if isinstance(value, bool):
        return None, f"{where} must be a day number, got {value!r}"
    if isinstance(value, int):
        return value, None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return int(value), None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 9:
        return int(value.strip()), None
    shown = value if not isinstance(value, str) else value[:40]
    return None, f"{where} must be a day number, got {shown!r}"


def _first(item: dict, keys: tuple[str, ...]):
    for key in keys:
        if key in item:
            return key, item[key]
    return None, None


def read_stays(value) -> tuple[list[Stay] | None, str | None]:
    """A parsed JSON answer -> (stays, None), or (None, why it cannot be read)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None, "the answer is free text, not a JSON list of stays"
    if isinstance(value, dict):
        inner = next((value[k] for k in WRAPPERS if isinstance(value.get(k), list)), None)
        if inner is None:
            return None, "the answer is a JSON object without a list of stays"
        value = inner
    if not isinstance(value, list):
        return None, f"the answer must be a JSON list of stays, got {type(value).__name__}"
    if not value:
        return None, "the answer is an empty list: no stays"
    if len(value) > MAX_STAYS:
        return None, f"the answer has {len(value)} stays (at most {MAX_STAYS})"
    stays = []
    for i, item in enumerate(value, 1):
        if isinstance(item, (list, tuple)) and len(item) == 3:
            item = {"city": item[0], "first_day": item[1], "last_day": item[2]}
        if not isinstance(item, dict):
            return None, f"stay {i} must be an object {{city, first_day, last_day}}, got {type(item).__name__}"
        city = item.get("city")
        if not isinstance(city, str) or not city:
            return None, f"stay {i} has no city name"
        if len(city) > MAX_CITY_CHARS:
            return None, f"stay {i}: city name of {len(city)} characters"
        days = []
        for keys in (FIRST_KEYS, LAST_KEYS):
            key, raw = _first(item, keys)
            if key is None:
                return None, f"stay {i} ({city[:40]!r}) has no {keys[0]}"
            day, error = _day(raw, f"stay {i} {key}")
            if error:
                return None, error
            days.append(day)
        stays.append(Stay(city, days[0], days[1]))
    return stays, None


@dataclass
class ParsedAnswer:
    """A model output split into reasoning, reflection and stays; `stays is None` = format failure."""

    raw: str
    reasoning: str | None = None
    reflection: str | None = None
    stays: list[Stay] | None = None
    value: object = None  # the JSON value after </think>, as parsed (None if none)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.stays is not None


def parse_answer(text) -> ParsedAnswer:
    """`<think>...</think>` + JSON stays -> ParsedAnswer; never raises."""
    parsed = parse_output(text)
    out = ParsedAnswer(parsed.raw, parsed.reasoning, parsed.reflection, value=parsed.plan)
    if not parsed.ok:
        wrapped = _wrapped(text) if parsed.reasoning is not None else None
        if wrapped is None:
            out.error = parsed.error
            return out
        out.value = wrapped
    out.stays, out.error = read_stays(out.value)
    return out


def _wrapped(text: str) -> dict | None:
    """The JSON object after </think> when it wraps the stays ({"stays": [...]}, ...), else None."""
    tail = text.split("</think>", 1)[1].strip()
    fenced = _FENCE.match(tail)
    if fenced:
        tail = fenced.group(1).strip()
    try:
        value = json.loads(tail)
    except json.JSONDecodeError:
        return None
    return unspaced(value) if isinstance(value, dict) and any(isinstance(value.get(k), list) for k in WRAPPERS) else None


def to_official_text(stays, days: int | None = None) -> str:
    """Natural Plan's golden-plan text of a plan: a header naming the total, then per stay a
    "**Day a-b:**" line and, between stays, a "**Day n:** Fly from X to Y." line on the day the next
    stay starts. `days` is the query's total (default: the last stay's last day)."""
    stays = [s if isinstance(s, Stay) else Stay(s["city"], s["first_day"], s["last_day"]) for s in stays]
    total = days if days is not None else (stays[-1].last_day if stays else 0)
    lines = [f"Here is the trip plan for visiting the {len(stays)} European cities for {total} days:", ""]
    for i, stay in enumerate(stays):
        if i == 0:
            lines.append(f"**Day {stay.first_day}-{stay.last_day}:** Arriving in {stay.city} and visit "
                         f"{stay.city} for {stay.days} days.")
            continue
        lines.append(f"**Day {stay.first_day}:** Fly from {stays[i - 1].city} to {stay.city}.")
        lines.append(f"**Day {stay.first_day}-{stay.last_day}:** Visit {stay.city} for {stay.days} days.")
    return "\n".join(lines)


def from_official_text(text) -> list[Stay]:
    """Free text -> stays, read as the official scorer reads it (flights and the last day range
    only); [] when it reads no plan."""
    return [Stay(city, first, last) for city, first, last in flight_bounds(text)]
