"""The one scorer: judges, filter, reward and evaluation all call `Scorer.score`.

`score(query, plan)` never raises on a plan: a malformed plan gets failing verdicts with reasons.
It does raise `QueryError` on a malformed query, since queries are our own validated data.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from imagine.domains.travelplanner.evaluate import compat, strict
from imagine.domains.travelplanner.evaluate.index import SandboxIndex
from imagine.domains.travelplanner.plan import LEVELS
from imagine.domains.travelplanner.sandbox import Sandbox

# Official check name -> the function implementing it, by that name, in `compat` and in `strict`.
COMMONSENSE = {
    "is_reasonable_visiting_city": "reasonable_visiting_city",
    "is_valid_restaurants": "valid_restaurants",
    "is_valid_attractions": "valid_attractions",
    "is_valid_accommodation": "valid_accommodation",
    "is_valid_transportation": "valid_transportation",
    "is_valid_information_in_current_city": "valid_information_in_current_city",
    "is_valid_information_in_sandbox": "valid_information_in_sandbox",
    "is_not_absent": "not_absent",
}
# valid_cost is `total_cost(...) <= budget`, decided here, where the cost is also reported.
HARD = {
    "valid_room_rule": "valid_room_rule",
    "valid_cuisine": "valid_cuisine",
    "valid_room_type": "valid_room_type",
    "valid_transportation": "valid_transportation_constraint",
}
COMMONSENSE_CHECKS = tuple(COMMONSENSE)
# The commonsense checks that judge what a plan holds. On an incomplete plan they pass vacuously (no
# meals: no repeated restaurant), and a policy learns to farm that: GRPO at lr 2e-5 turned the student
# into one-day plans with nothing in them, which earned as much reward as real attempts. So strict mode
# scores a pass of theirs only on a complete plan (is_not_absent), as it scores the hard checks only on
# complete, in-sandbox plans; a failure stays a failure. compat keeps the official vacuous passes.
CONTENT_CHECKS = ("is_valid_restaurants", "is_valid_attractions", "is_valid_accommodation",
                  "is_valid_transportation", "is_valid_information_in_current_city",
                  "is_valid_information_in_sandbox")
HARD_CHECKS = ("valid_cost", *HARD)
# Which query constraint makes each hard check apply (valid_cost always applies).
HARD_CONSTRAINT = {"valid_room_rule": "house rule", "valid_cuisine": "cuisine",
                   "valid_room_type": "room type", "valid_transportation": "transportation"}
MODES = ("compat", "strict")
_CONSTRAINT_VALUES = {
    "house rule": {"parties", "smoking", "children under 10", "visitors", "pets"},
    "room type": {"entire room", "private room", "shared room", "not shared room"},
    "transportation": {"no flight", "no self-driving"},
}


class QueryError(ValueError):
    """A query missing a field or holding a value of the wrong kind."""


class Query(dict):
    """A query `normalize_query` has checked; normalising it again returns it as it is."""


def normalize_query(query: dict) -> Query:
    """Check a TravelPlanner query dict and return it with `date`/`local_constraint` as Python values."""
    if type(query) is Query:
        return query
    if not isinstance(query, dict):
        raise QueryError(f"query must be an object, got {type(query).__name__}")
    q = Query(query)
    for key in ("org", "dest", "days", "visiting_city_number", "date", "people_number", "budget"):
        if q.get(key) is None:
            raise QueryError(f"query field {key!r} is missing")
    for key in ("date", "local_constraint"):
        if isinstance(q.get(key), str):  # the official CSV/HF release stores these as Python reprs
            try:
                q[key] = ast.literal_eval(q[key])
            except (ValueError, SyntaxError) as exc:
                raise QueryError(f"query field {key!r} cannot be read: {q[key]!r}") from exc
    for key in ("days", "visiting_city_number", "people_number"):
        if not isinstance(q[key], int) or isinstance(q[key], bool) or q[key] < 1:
            raise QueryError(f"query field {key!r} must be a positive integer, got {q[key]!r}")
    if not isinstance(q["budget"], (int, float)) or isinstance(q["budget"], bool):
        raise QueryError(f"query field 'budget' must be a number, got {q['budget']!r}")
    if not isinstance(q["date"], list) or not all(isinstance(d, str) for d in q["date"]):
        raise QueryError(f"query field 'date' must be a list of ISO dates, got {q['date']!r}")
    constraint = q.get("local_constraint") or {}
    if not isinstance(constraint, dict):
        raise QueryError(f"query field 'local_constraint' must be an object, got {constraint!r}")
    constraint = {key: constraint.get(key) for key in ("house rule", "cuisine", "room type", "transportation")}
    for key, allowed in _CONSTRAINT_VALUES.items():
        if constraint[key] is not None and constraint[key] not in allowed:
            raise QueryError(f"local_constraint {key!r} must be one of {sorted(allowed)}, got {constraint[key]!r}")
    if constraint["cuisine"] is not None and not (
            isinstance(constraint["cuisine"], list) and all(isinstance(c, str) for c in constraint["cuisine"])):
        raise QueryError(f"local_constraint 'cuisine' must be a list of names, got {constraint['cuisine']!r}")
    q["local_constraint"] = constraint
    if q.get("level") not in LEVELS:
        raise QueryError(f"query field 'level' must be one of {LEVELS}, got {q.get('level')!r}")
    return q


def applicable_hard(query: dict) -> list[str]:
    """The hard checks a query sets: budget always, each local constraint when present."""
    constraint = query["local_constraint"]
    return ["valid_cost"] + [check for check, key in HARD_CONSTRAINT.items() if constraint.get(key)]


def applicable(query: dict) -> dict[str, tuple[str, ...]]:
    """The checks a (normalised) query sets, by group: every commonsense check, and its hard ones."""
    return {"commonsense": COMMONSENSE_CHECKS, "hard": tuple(applicable_hard(query))}


@dataclass
class Verdict:
    """Every check's verdict for one plan. None: the check does not apply, or was not scored (a hard
    check: the plan is incomplete or leaves the sandbox; in strict mode, a content check that would pass
    an incomplete plan); `reasons` says which."""

    commonsense: dict[str, bool | None]
    hard: dict[str, bool | None]
    final_pass: bool
    delivered: bool
    reasons: dict[str, str] = field(default_factory=dict)
    cost: float | None = None
    error: str | None = None

    @property
    def groups(self) -> dict[str, dict[str, bool | None]]:
        """The checks in the generic shape (imagine.verdict): group -> check -> verdict."""
        return {"commonsense": self.commonsense, "hard": self.hard}

    def to_dict(self) -> dict:
        out = {"commonsense": self.commonsense, "hard": self.hard, "final_pass": self.final_pass,
               "delivered": self.delivered, "reasons": self.reasons, "cost": self.cost}
        if self.error:
            out["error"] = self.error
        return out


class Scorer:
    """The TravelPlanner checker in one mode (the generic shape: `groups`, `score`, `applicable`)."""

    groups = {"commonsense": COMMONSENSE_CHECKS, "hard": HARD_CHECKS}

    def __init__(self, sandbox: Sandbox | SandboxIndex, mode: str = "strict"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.index = sandbox if isinstance(sandbox, SandboxIndex) else SandboxIndex(sandbox)
        rules = strict if mode == "strict" else compat
        self._commonsense = [(name, getattr(rules, function)) for name, function in COMMONSENSE.items()]
        self._hard = [(name, getattr(rules, function)) for name, function in HARD.items()]
        self._total_cost = rules.total_cost

    def applicable(self, query: dict) -> dict[str, tuple[str, ...]]:
        return applicable(normalize_query(query))

    def score(self, query: dict, plan) -> Verdict:
        q = normalize_query(query)
        if not isinstance(plan, list) or not plan:
            error = "no plan delivered" if not plan else f"plan is a {type(plan).__name__}, not a list of days"
            return Verdict(dict.fromkeys(COMMONSENSE_CHECKS, False), dict.fromkeys(HARD_CHECKS),
                           False, False, {"plan": error}, None, error)
        window = plan[:q["days"]]
        if self.mode == "strict":
            subject = [strict.Day.read(i, day) for i, day in enumerate(window)]
            extra = {"is_not_absent": (len(plan),)}
        else:
            subject, extra = window, {}
        reasons: dict[str, str] = {}
        commonsense = self._run(self._commonsense, q, subject, reasons, extra)
        if self.mode == "strict" and not commonsense["is_not_absent"]:
            for name in CONTENT_CHECKS:
                if commonsense[name]:
                    commonsense[name] = None
                    reasons[name] = "not scored: the plan is incomplete (is_not_absent)"
        scored = bool(commonsense["is_not_absent"] and commonsense["is_valid_information_in_sandbox"])
        cost = None
        if scored:
            try:
                cost = float(self._total_cost(q, subject, self.index))
            except Exception as exc:
                reasons["valid_cost"] = self._failure(exc)
            hard = {"valid_cost": cost is not None and cost <= q["budget"]}
            if cost is not None and not hard["valid_cost"]:
                reasons["valid_cost"] = f"cost {cost:g} exceeds budget {q['budget']:g}"
            hard |= self._run(self._hard, q, subject, reasons, {})
        else:
            hard = dict.fromkeys(HARD_CHECKS)
            for name in applicable_hard(q):
                reasons[name] = "not scored: the plan is incomplete or leaves the sandbox"
        final = scored and False not in commonsense.values() and False not in hard.values()
        return Verdict(commonsense, hard, final, True, reasons, cost)

    def _run(self, checks, q, subject, reasons: dict, extra: dict) -> dict:
        """Each check's verdict; its reason, when it gives one, goes into `reasons`; `extra` holds
        more arguments by check name."""
        verdicts = {}
        for name, check in checks:
            try:
                passed, reason = check(q, subject, self.index, *extra.get(name, ()))
            except Exception as exc:  # a plan must never stop a run: the check fails with the cause
                passed, reason = False, self._failure(exc)
            if reason:
                reasons[name] = reason
            verdicts[name] = passed
        return verdicts

    def _failure(self, exc: Exception) -> str:
        if self.mode == "compat":
            return f"{compat.CRASH} ({type(exc).__name__}: {exc})"
        return f"cannot be checked ({type(exc).__name__}: {exc})"

    def cost(self, query: dict, plan) -> float | None:
        """The plan's total cost, or None when it is not priceable (incomplete or outside the sandbox).

        The budget may be missing: the query solver prices a plan before it sets the budget."""
        q = dict(query)
        if q.get("budget") is None:
            q["budget"] = float("inf")
        return self.score(q, plan).cost
