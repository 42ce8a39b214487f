"""Every prompt of the trip MAS, in one place.

- `reasoner_messages(query)`: the Reasoner's chat, and ALSO the student's prompt for SFT and GRPO.
  The query text states every constraint (stays, events, the direct flights), so no reference
  information is added.
- `judge_messages(query, reasoner_output)`: a Judge answers exactly `Errors exist.` or `No errors.`.
- `reflector_messages(query, reasoner_output, verdicts)`: the Reflector names each error and gives
  the corrected plan after the line `Corrected plan:` (REFLECTOR_FORMAT; read back by
  `reflector.parse_reflection`).

`query` is a queries-table row (or any dict with its `query` text).
"""

from __future__ import annotations

from imagine.mas.parsing import JUDGE_ERRORS, JUDGE_OK, reflector_format

ANSWER_FORMAT = """Give the trip as a JSON list of stays in visiting order, one object per city, with exactly these keys: [{"city": " Helsinki", "first_day": 1, "last_day": 5}, {"city": " Barcelona", "first_day": 5, "last_day": 9}, ...] (every city name after a space). Rules:
- The first stay starts on day 1 and the last one ends on the trip's final day.
- Each next stay starts on the day the previous one ends: you fly that day, and it counts for both cities.
- Visit every city exactly once, for exactly its number of days (last_day - first_day + 1).
- Fly only between cities listed as having a direct flight.
- Each event's days must fall inside that city's stay."""

REASONER_SYSTEM = ("You are a careful trip planner. Think step by step inside <think> </think>: list the cities "
                   "and their stays and check that they add up to the total (each flight day counts twice), pin "
                   "the cities with events to their days, choose an order that uses only direct flights, then "
                   "write each day range with the shared flight days and check everything again. Then output "
                   "only the JSON answer.")

JUDGE_SYSTEM = ("You are a strict judge of trip plans. Check the reasoning and the answer against the request: "
                "the trip runs from day 1 to the last day, each stay starts on the day the previous one ends, "
                "every city is visited exactly once for exactly its days, every flight is a listed direct flight, "
                "and every event falls inside its city's stay. Answer with exactly one line: "
                f"`{JUDGE_ERRORS}` or `{JUDGE_OK}`")

REFLECTOR_FORMAT = reflector_format("the city and the days", "list of stays")

REFLECTOR_SYSTEM = ("You are a meticulous reviewer of trip plans. The judges flagged the reasoning below. Find "
                    "every error (a wrong total, a gap or overlap between stays, a missing or repeated city, a wrong "
                    "stay length, a flight that is not direct, an event outside its city's stay), correct them and "
                    "give the whole corrected plan.")


def _text(query: dict) -> str:
    return str(query.get("query") or "").strip()


def reasoner_messages(query: dict) -> list[dict]:
    """The Reasoner's (and the student's) chat: the request and the answer format."""
    user = f"{_text(query)}\n\n{ANSWER_FORMAT}\n\nThink inside <think> </think>, then give only the JSON answer."
    return [{"role": "system", "content": REASONER_SYSTEM}, {"role": "user", "content": user}]


def judge_messages(query: dict, reasoner_output: str) -> list[dict]:
    user = (f"Request: {_text(query)}\n\nReasoning and answer to check:\n{reasoner_output}\n\n"
            f"Answer exactly `{JUDGE_ERRORS}` or `{JUDGE_OK}`")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def reflector_messages(query: dict, reasoner_output: str, verdicts: list[str]) -> list[dict]:
    said = "; ".join(f"judge {i + 1}: {v}" for i, v in enumerate(verdicts))
    user = (f"Request: {_text(query)}\n\nReasoning and answer under review:\n{reasoner_output}\n\n"
            f"Judges' verdicts: {said}\n\n{ANSWER_FORMAT}\n\n{REFLECTOR_FORMAT}")
    return [{"role": "system", "content": REFLECTOR_SYSTEM}, {"role": "user", "content": user}]
