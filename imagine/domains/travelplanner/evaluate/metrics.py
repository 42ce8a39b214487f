"""TravelPlanner metrics over scored plans, overall and per level (DESIGN section 2)."""

from __future__ import annotations

from operator import add

from imagine.domains.travelplanner.evaluate.scorer import COMMONSENSE_CHECKS, LEVELS, Verdict, applicable_hard

# Per-plan tallies, summed per level: plans, delivered, commonsense checks passed, all commonsense
# passed, hard checks applicable, hard checks passed, all hard passed, final pass.
_TALLIES = 8


def _tally(query: dict, verdict: Verdict) -> tuple[int, ...]:
    applicable = applicable_hard(query)
    commonsense, hard = verdict.commonsense.values(), verdict.hard
    return (1, verdict.delivered, sum(v is True for v in commonsense),
            verdict.delivered and False not in commonsense,
            len(applicable), sum(hard.get(check) is True for check in applicable),
            all(hard.get(check) is not None for check in applicable) and False not in hard.values(),
            verdict.final_pass)


def _rates(totals: list[int]) -> dict:
    n, delivered, commonsense_passed, commonsense_all, hard_total, hard_passed, hard_all, final = totals
    if n == 0:
        return {"count": 0}
    return {
        "count": n,
        "delivery_rate": delivered / n,
        "commonsense_micro": commonsense_passed / (len(COMMONSENSE_CHECKS) * n),
        "commonsense_macro": commonsense_all / n,
        "hard_micro": hard_passed / hard_total,
        "hard_macro": hard_all / n,
        "final_pass_rate": final / n,
    }


def summarize(pairs: list[tuple[dict, Verdict]]) -> dict:
    """Metrics for (normalised query, verdict) pairs: overall, and under `per_level`."""
    per_level = {level: [0] * _TALLIES for level in LEVELS}
    for query, verdict in pairs:
        level = query["level"]
        per_level[level] = list(map(add, per_level[level], _tally(query, verdict)))
    overall = [sum(column) for column in zip(*per_level.values())]
    return {**_rates(overall), "per_level": {level: _rates(totals) for level, totals in per_level.items()}}
