"""The trip checker: `Checker(mode).score(query, answer) -> Verdict`.

`answer` is the JSON value after the think block (read by `answer.read_stays`), or None when the
output could not be parsed (then `delivered` is False and every check fails).

strict (default): every constraint of ANY plan, one named check per constraint kind.

| group       | check            | passes when                                                            |
|-------------|------------------|------------------------------------------------------------------------|
| itinerary   | total_days       | the plan runs from day 1 to day D (earliest first day 1, latest last day D) |
| itinerary   | contiguous_stays | no stay ends before it starts, and each next stay starts on the day the previous one ends (the flight day counts in both cities): no gap, no overlap |
| itinerary   | each_city_once   | every city of the query appears exactly once, and no other city appears |
| constraints | stay_lengths     | every query city visited exactly once stays its required days (repeated or missing cities are each_city_once's) |
| constraints | direct_flights   | every two consecutive stays are a listed direct-flight connection      |
| constraints | events           | every event's window lies inside a stay in its city (None: the query has no events) |

The checks are independent where the constraints allow: a plan that is contiguous, starts on day 1
and has every city once at its length necessarily ends on day D, so a plan failing only total_days
is one shifted in time; extending the last stay fails total_days and stay_lengths together.

compat: the official Natural Plan verdict (see `official.py`): the answer written as the official
free text (`to_official_text`) and read back as the official script reads it, exact match against
the golden plan: {"official": {"exact_match": bool}}. A str answer is scored as the raw free-text
response, as the official script would read it. A valid plan other than the golden one scores 0.
"""

from __future__ import annotations

import itertools
from collections import Counter

from imagine.domains.trip.answer import read_stays, to_official_text
from imagine.domains.trip.itinerary import Stay, TripQuery, pair
from imagine.domains.trip.official import exact_match, parse_official
from imagine.domains.trip.text import event_name
from imagine.verdict import Verdict

GROUPS = {
    "itinerary": ("total_days", "contiguous_stays", "each_city_once"),
    "constraints": ("stay_lengths", "direct_flights", "events"),
}
CHECKS = tuple(check for checks in GROUPS.values() for check in checks)
COMPAT_GROUPS = {"official": ("exact_match",)}
MODES = ("strict", "compat")
MAX_LISTED = 3  # failures named per reason before "and k more"


def _name(city: str) -> str:
    return city if len(city) <= 40 else city[:37] + "..."


def _join(problems: list[str]) -> str:
    shown = problems[:MAX_LISTED]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


def _days(a: int, b: int) -> str:
    return f"day {a}" if a == b else f"days {a}-{b}"


def strict_checks(q: TripQuery, stays: list[Stay]) -> tuple[dict[str, bool | None], dict[str, str]]:
    """Every strict check of a readable plan: ({check: verdict}, {check: reason it failed})."""
    checks: dict[str, bool | None] = {}
    why: dict[str, str] = {}

    first = min(s.first_day for s in stays)
    last = max(s.last_day for s in stays)
    checks["total_days"] = first == 1 and last == q.days
    if not checks["total_days"]:
        why["total_days"] = (f"the plan runs from day {first} to day {last}; the {q.days}-day trip runs from "
                             f"day 1 to day {q.days}")

    problems = [f"{_name(s.city)} ends on day {s.last_day} before it starts on day {s.first_day}"
                for s in stays if s.last_day < s.first_day]
    for prev, nxt in itertools.pairwise(stays):
        if nxt.first_day > prev.last_day:
            lost = nxt.first_day - prev.last_day - 1
            problems.append(f"{_name(nxt.city)} starts on day {nxt.first_day}, not on day {prev.last_day} when "
                            f"{_name(prev.city)} ends (the flight day counts for both)"
                            + (f"; {_days(prev.last_day + 1, nxt.first_day - 1)} in no city" if lost else ""))
        elif nxt.first_day < prev.last_day:
            problems.append(f"{_name(nxt.city)} starts on day {nxt.first_day}, before {_name(prev.city)} ends on "
                            f"day {prev.last_day}: the stays overlap")
    checks["contiguous_stays"] = not problems
    if problems:
        why["contiguous_stays"] = _join(problems)

    seen = Counter(s.city for s in stays)
    problems = [f"{_name(c)} appears {n} times" for c, n in seen.items() if n > 1 and c in q.stays]
    problems += [f"{_name(c)} is missing" for c in q.cities if c not in seen]
    problems += [f"{_name(c)!r} is not a city of this query" for c in seen if c not in q.stays]
    checks["each_city_once"] = not problems
    if problems:
        why["each_city_once"] = _join(problems)

    judged = [s for s in stays if seen[s.city] == 1 and s.city in q.stays]
    problems = [f"{s.city} has {s.days} days ({_days(s.first_day, s.last_day)}), needs {q.stays[s.city]}"
                for s in judged if s.days != q.stays[s.city]]
    if not judged:
        problems = ["no city of the query is visited exactly once"]
    checks["stay_lengths"] = not problems
    if problems:
        why["stay_lengths"] = _join(problems)

    problems = [f"no direct flight between {_name(a.city)} and {_name(b.city)} (day {b.first_day})"
                for a, b in itertools.pairwise(stays) if pair(a.city, b.city) not in q.connections]
    checks["direct_flights"] = not problems
    if problems:
        why["direct_flights"] = _join(problems)

    if not q.events:
        checks["events"] = None
        why["events"] = "the query has no events"
    else:
        problems = []
        for e in q.events:
            own = [s for s in stays if s.city == e.city]
            if not own:
                problems.append(f"{e.city} is not visited, so the {event_name(e)} ({_days(e.first_day, e.last_day)}) is missed")
            elif not any(e.covered_by(s) for s in own):
                at = ", ".join(_days(s.first_day, s.last_day) for s in own)
                problems.append(f"the {event_name(e)} in {e.city} ({_days(e.first_day, e.last_day)}) is outside its stay ({at})")
        checks["events"] = not problems
        if problems:
            why["events"] = _join(problems)
    return checks, why


def _grouped(checks: dict) -> dict[str, dict]:
    return {group: {name: checks[name] for name in names} for group, names in GROUPS.items()}


class Checker:
    """The trip checker in one mode, in the generic shape (`groups`, `score`, `applicable`)."""

    def __init__(self, mode: str = "strict"):
        if mode not in MODES:
            raise ValueError(f"trip checker mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.groups = GROUPS if mode == "strict" else COMPAT_GROUPS

    def applicable(self, query) -> dict[str, tuple[str, ...]]:
        """The checks a query sets: every check, except `events` when it has none."""
        if self.mode == "compat":
            return dict(COMPAT_GROUPS)
        events = bool(TripQuery.of(query).events)
        return {group: tuple(c for c in checks if events or c != "events") for group, checks in GROUPS.items()}

    def score(self, query, answer) -> Verdict:
        q = TripQuery.of(query)
        return self._strict(q, answer) if self.mode == "strict" else self._compat(q, answer)

    def _strict(self, q: TripQuery, answer) -> Verdict:
        if answer is None:
            return self._undelivered(q, "no readable answer")
        stays, error = read_stays(answer)
        if error:
            return self._undelivered(q, error)
        checks, why = strict_checks(q, stays)
        return Verdict(_grouped(checks), True, why)

    def _undelivered(self, q: TripQuery, error: str) -> Verdict:
        checks = {name: False for name in CHECKS}
        why = {name: f"not scored: {error}" for name in CHECKS}
        if not q.events:
            checks["events"], why["events"] = None, "the query has no events"
        return Verdict(_grouped(checks), False, why, error)

    def _compat(self, q: TripQuery, answer) -> Verdict:
        if q.golden is None:
            raise ValueError("compat mode needs the query's golden_plan")
        golden = [(s.city, s.days) for s in q.golden]
        if isinstance(answer, str):
            text, error = answer, None
        elif answer is None:
            text, error = None, "no readable answer"
        else:
            stays, error = read_stays(answer)
            text = to_official_text(stays, q.days) if stays else None
        parsed = parse_official(text) if text is not None else []
        if error is None and not parsed:
            error = "the official parser reads no plan (it needs 'Day a-b' and 'Day n ... from X to Y' lines)"
        if error:
            return Verdict({"official": {"exact_match": False}}, False, {"exact_match": error}, error)
        matched = exact_match(golden, parsed)
        reasons = {}
        if not matched:
            at = next((i for i, (g, p) in enumerate(zip(golden, parsed)) if g != p), len(parsed))
            got = f"{parsed[at][0]} for {parsed[at][1]} days" if at < len(parsed) else "nothing"
            reasons["exact_match"] = (f"stay {at + 1} reads as {got}; the golden plan has "
                                      f"{golden[at][0]} for {golden[at][1]} days")
        return Verdict({"official": {"exact_match": matched}}, True, reasons)


def check_columns(verdict: Verdict) -> dict[str, bool | None]:
    """A strict verdict as trace columns: {"check_total_days": ..., ...}."""
    return {f"check_{name}": value for checks in verdict.groups.values() for name, value in checks.items()}
